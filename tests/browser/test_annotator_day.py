"""Skipping with a reason by keyboard alone, changing the last answer, and a content warning before a task."""

import os
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from annotate.models import Assignment, AssignmentStatus, ContentWarning, Judgment, Outcome, SkipReason
from tests.browser import pages

pytestmark = [pytest.mark.browser]

# Markup in the warning must show as text; run as HTML, it would set window.__pwned.
WARNING_TEXT = 'Some prompts describe self-harm. <img src=x onerror="window.__pwned=3">'

# Set to a folder to save screenshots of the skip box, the changed-answer
# page and the content warning there, for a person to look at the layout.
SCREENSHOT_DIR = os.environ.get("HUMEVAL_SCREENSHOT_DIR", "")


def _save_screenshot(page, name):
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / name), full_page=True)


def _open_next_task(page, live_server, study):
    page.goto(live_server.url + reverse("annotate:next_task", kwargs={"study_uuid": study.uuid}))


def _assignment_uuid(page) -> str:
    """Return the assignment UUID of the task page that is open, with or without its query string."""
    return page.url.split("?")[0].rstrip("/").split("/")[-1]


def _is_open(page, selector) -> bool:
    return page.locator(selector).evaluate("details => details.open")


@pytest.mark.timeout(60)
def test_keyboard_only_skip_with_reason(open_session, evaluation, live_server):
    session = open_session()
    page = session.page
    pages.log_in(page, live_server.url, evaluation.annotator.username)
    _open_next_task(page, live_server, evaluation.pairwise)
    skipped_uuid = pages.assignment_uuid(page)

    keys = pages.shortcut_keys(page)
    assert keys["Skip this task"] == "S"
    assert keys["Show or hide the instructions"] == "I"

    # The instructions open on the first task; I hides them and shows them again.
    assert _is_open(page, "#instructions")
    page.keyboard.press("i")
    assert not _is_open(page, "#instructions")
    page.keyboard.press("i")
    assert _is_open(page, "#instructions")

    # S opens the skip box with the focus on the first reason; Down picks the next one.
    assert not _is_open(page, "#skip-task")
    page.keyboard.press("s")
    assert _is_open(page, "#skip-task")
    assert page.evaluate("document.activeElement.value") == SkipReason.CANNOT_JUDGE
    page.keyboard.press("ArrowDown")
    expect(page.locator('input[name="skip-reason"][value="broken"]')).to_be_checked()

    # Letters and digits typed in the note stay there and answer no question.
    page.keyboard.press("Tab")
    page.keyboard.type("Answer 2 stops mid-sentence; S and I are typed here.")
    assert pages.checked_values(page) == ["", ""]
    assert _is_open(page, "#skip-task")
    _save_screenshot(page, "skip-box.png")

    with page.expect_navigation():
        page.keyboard.press("Control+Enter")

    expect(page.locator(".messages")).to_contain_text("You skipped that task. It will not be offered to you again.")
    assert pages.assignment_uuid(page) != skipped_uuid
    skipped = Assignment.objects.get(uuid=skipped_uuid)
    assert skipped.status == AssignmentStatus.SKIPPED
    assert skipped.skip_reason == SkipReason.BROKEN
    assert skipped.skip_note == "Answer 2 stops mid-sentence; S and I are typed here."
    assert not Judgment.objects.exists()
    assert session.page_errors == []


@pytest.mark.timeout(60)
def test_escape_closes_skip_box(open_session, evaluation, live_server):
    session = open_session()
    page = session.page
    pages.log_in(page, live_server.url, evaluation.annotator.username)
    _open_next_task(page, live_server, evaluation.pairwise)

    page.keyboard.press("s")
    page.keyboard.press("Escape")

    assert not _is_open(page, "#skip-task")
    # Number keys answer the questions again once the box is closed.
    page.keyboard.press("1")
    assert pages.checked_values(page) == ["A", ""]
    assert Assignment.objects.get().status == AssignmentStatus.LEASED


@pytest.mark.timeout(60)
def test_change_last_answer(open_session, evaluation, live_server, alternating_order):
    session = open_session()
    page = session.page
    pages.log_in(page, live_server.url, evaluation.annotator.username)
    _open_next_task(page, live_server, evaluation.pairwise)
    first_uuid = pages.assignment_uuid(page)
    first_tags = pages.answer_tags(page)
    expect(page.get_by_role("link", name="Change my last answer")).to_have_count(0)

    page.keyboard.press("1")
    page.keyboard.press("2")
    pages.submit_and_wait(page, keyboard=True)
    second_uuid = pages.assignment_uuid(page)
    assert second_uuid != first_uuid
    assert pages.shortcut_keys(page)["Change my last answer"] == "Z"

    # Z opens the last judgment, filled in, with the answers where they were.
    with page.expect_navigation():
        page.keyboard.press("z")
    expect(page.locator(".revision-note")).to_contain_text("You are changing your last answer.")
    assert pages.answer_tags(page) == first_tags
    assert pages.checked_values(page) == ["A", "B"]
    _save_screenshot(page, "change-last-answer.png")

    # Every criterion has an answer, so a digit changes the first one's.
    page.keyboard.press("3")
    assert pages.checked_values(page)[1] == "B"
    assert pages.criterion_fieldset(page, 0).get_by_label("Tie").is_checked()
    page.fill("#id_rationale", "On second thought, a tie.")
    with page.expect_navigation():
        page.get_by_role("button", name="Save my changed answer").click()

    # Back on the task leased before going back.
    expect(page.locator(".messages")).to_contain_text("Your changed answer was saved.")
    assert pages.assignment_uuid(page) == second_uuid

    judgment = Judgment.objects.get(assignment__uuid=first_uuid)
    assert judgment.revised_at is not None
    assert judgment.rationale == "On second thought, a tie."
    answers = {answer.criterion.name: answer for answer in judgment.answers.select_related("criterion")}
    assert answers["helpfulness"].outcome == Outcome.TIE
    right_response = judgment.assignment.shown_responses()[1]
    assert answers["accuracy"].outcome == Outcome.WIN
    assert answers["accuracy"].winner == right_response
    assert Judgment.objects.count() == 1
    assert Assignment.objects.get(uuid=second_uuid).status == AssignmentStatus.LEASED
    assert session.page_errors == []


@pytest.fixture
def warned_study(evaluation):
    """Give every prompt of the pairwise study a category that carries a content warning."""
    prompt_set = evaluation.pairwise.prompt_set
    prompt_set.prompts.update(category="sensitive")
    ContentWarning.objects.create(prompt_set=prompt_set, category="sensitive", text=WARNING_TEXT)
    return evaluation.pairwise


@pytest.mark.timeout(60)
def test_content_warning_before_task(open_session, evaluation, warned_study, live_server):
    session = open_session()
    page = session.page
    pages.log_in(page, live_server.url, evaluation.annotator.username)
    _open_next_task(page, live_server, warned_study)

    # The warning, as plain text, and nothing of the item yet.
    expect(page.locator("h1")).to_have_text("Content warning")
    expect(page.locator(".warning-text")).to_have_text(WARNING_TEXT)
    expect(page.locator(".answer")).to_have_count(0)
    expect(page.locator("#judgment-form")).to_have_count(0)
    assert "Reply " not in page.content()
    assert page.evaluate("window.__pwned") is None
    expect(page.locator('input[name="skip-reason"][value="uncomfortable"]')).to_be_checked()
    _save_screenshot(page, "content-warning.png")
    warned_uuid = pages.assignment_uuid(page)

    with page.expect_navigation():
        page.get_by_role("link", name="Show the task").click()
    assert page.url.endswith("/?show=1")
    assert _assignment_uuid(page) == warned_uuid
    expect(page.locator(".answers-pair").first.locator(".answer")).to_have_count(2)
    expect(page.locator(".content-warning-note")).to_contain_text("Some prompts describe self-harm.")
    assert page.evaluate("window.__pwned") is None
    assert session.page_errors == []


@pytest.mark.timeout(60)
def test_skip_from_content_warning(open_session, evaluation, warned_study, live_server):
    session = open_session()
    page = session.page
    pages.log_in(page, live_server.url, evaluation.annotator.username)
    _open_next_task(page, live_server, warned_study)
    warned_uuid = pages.assignment_uuid(page)

    with page.expect_navigation():
        page.get_by_role("button", name="Skip this task").click()

    # The next item has a warning too, so the page is the next warning.
    expect(page.locator(".messages")).to_contain_text("You skipped that task.")
    expect(page.locator("h1")).to_have_text("Content warning")
    assert pages.assignment_uuid(page) != warned_uuid
    skipped = Assignment.objects.get(uuid=warned_uuid)
    assert skipped.status == AssignmentStatus.SKIPPED
    assert skipped.skip_reason == SkipReason.UNCOMFORTABLE
