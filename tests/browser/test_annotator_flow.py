"""The whole path in a browser: an annotator judges, a manager reads the report and the CSV."""

import csv
import io
import os
from collections import Counter
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from annotate.models import Assignment, Judgment, Outcome
from annotate.pseudonyms import pseudonym
from tests.browser import content, pages

pytestmark = [pytest.mark.browser]

# Set to a folder to save a screenshot of the pairwise task page and of the
# pairwise report there, for a person to look at the layout.
SCREENSHOT_DIR = os.environ.get("HUMEVAL_SCREENSHOT_DIR", "")

SYSTEM_NAME_BY_TAG = {system.tag: f"{system.model_name} {system.label}".strip() for system in content.SYSTEMS}


def _save_screenshot(page, name):
    if not SCREENSHOT_DIR:
        return
    folder = Path(SCREENSHOT_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)


def _canonical_winner(assignment, screen_choice):
    """Return the response that the choice names, from the item's canonical order and the stored screen order."""
    item = assignment.item
    left, right = (
        (item.first_response, item.second_response)
        if assignment.first_on_left
        else (item.second_response, item.first_response)
    )
    return left if screen_choice == "A" else right


def _expected_pairwise_counts(tasks, criterion):
    """Count wins, ties, losses and comparisons per system tag from the choices made on screen."""
    counts = {system.tag: Counter() for system in content.SYSTEMS}
    for task in tasks:
        left, right = task["tags"]
        choice = task["choices"][criterion]
        for tag in (left, right):
            counts[tag]["Comparisons"] += 1
        if choice == "tie":
            counts[left]["Ties"] += 1
            counts[right]["Ties"] += 1
        else:
            winner, loser = (left, right) if choice == "A" else (right, left)
            counts[winner]["Wins"] += 1
            counts[loser]["Losses"] += 1
    return counts


def _download_csv(page, link_name):
    with page.expect_download() as download_info:
        page.get_by_role("link", name=link_name).click()
    download = download_info.value
    raw = Path(download.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "CSV should start with a UTF-8 byte order mark"
    return download.suggested_filename, list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


@pytest.mark.timeout(90)
def test_judge_then_report_and_csv(open_session, evaluation, live_server, alternating_order):
    pairwise, rating = evaluation.pairwise, evaluation.rating
    annotator = open_session()
    page = annotator.page

    # Log in through the form and land on the studies list.
    pages.log_in(page, live_server.url, evaluation.annotator.username)
    assert page.url == live_server.url + reverse("annotate:home")
    expect(page.locator(".study-card h2")).to_have_text([rating.name, pairwise.name])
    pairwise_card = page.locator(".study-card").filter(has_text=pairwise.name)
    expect(pairwise_card).to_contain_text("0 done, 9 tasks left for you")

    # Start leads to the study's instructions first, and their Start to the first task.
    with page.expect_navigation():
        pairwise_card.get_by_role("link", name="Start").click()
    expect(page.locator(".instructions-text")).to_contain_text("Pick the more helpful answer.")
    with page.expect_navigation():
        page.locator("main").get_by_role("link", name="Start").click()
    expect(page.locator("h1")).to_have_text(pairwise.name)
    expect(page.locator(".answers-pair").first.locator(".answer")).to_have_count(2)
    expect(page.locator(".task-progress")).to_contain_text("0 of 9 done")
    _save_screenshot(page, "pairwise-task.png")

    # Task 1: click the radios, then the submit button.
    tasks = []
    first = {"assignment": pages.assignment_uuid(page), "tags": pages.answer_tags(page)}
    first["choices"] = {"helpfulness": "A", "accuracy": "B"}
    pages.criterion_fieldset(page, 0).get_by_label("A is better").check()
    pages.criterion_fieldset(page, 1).get_by_label("B is better").check()
    assert pages.checked_values(page) == ["A", "B"]
    pages.submit_and_wait(page)
    tasks.append(first)

    assert pages.TASK_PATH.search(page.url), f"expected the next task after a submit, got {page.url}"
    assert pages.assignment_uuid(page) != first["assignment"]
    expect(page.locator(".task-progress")).to_contain_text("1 of 9 done")

    # Task 2: the keys the shortcut list shows for "B is better" and "Tie",
    # then the Ctrl+Enter shortcut.
    keys = pages.shortcut_keys(page)
    assert keys["B is better"] == "2"
    assert keys["Tie"] == "3"
    second = {"assignment": pages.assignment_uuid(page), "tags": pages.answer_tags(page)}
    second["choices"] = {"helpfulness": "B", "accuracy": "tie"}
    page.keyboard.press(keys["B is better"])
    page.keyboard.press(keys["Tie"])
    assert pages.checked_values(page) == ["B", "tie"]
    pages.submit_and_wait(page, keyboard=True)
    tasks.append(second)

    assert pages.TASK_PATH.search(page.url), f"expected a third task, got {page.url}"
    expect(page.locator(".task-progress")).to_contain_text("2 of 9 done")

    # A rating task, one score per criterion.
    with page.expect_navigation():
        page.get_by_role("link", name="My studies").click()
    with page.expect_navigation():
        page.locator(".study-card").filter(has_text=rating.name).get_by_role("link", name="Start").click()
    with page.expect_navigation():
        page.locator("main").get_by_role("link", name="Start").click()
    expect(page.locator("h1")).to_have_text(rating.name)
    rating_assignment = pages.assignment_uuid(page)
    (rated_tag,) = pages.answer_tags(page)
    pages.criterion_fieldset(page, 0).get_by_label("4", exact=True).check()
    pages.criterion_fieldset(page, 1).get_by_label("2", exact=True).check()
    pages.submit_and_wait(page)
    expect(page.locator(".task-progress")).to_contain_text("1 of 6 done")
    assert annotator.page_errors == []

    # The database holds the judgments, pairwise winners in canonical form.
    assert Judgment.objects.filter(annotator=evaluation.annotator).count() == 3
    assert {Assignment.objects.get(uuid=task["assignment"]).first_on_left for task in tasks} == {False, True}
    for task in tasks:
        assignment = Assignment.objects.select_related("item__first_response__run__model").get(uuid=task["assignment"])
        judgment = assignment.judgment
        assert judgment.first_on_left == assignment.first_on_left
        screen_order = [assignment.item.first_response, assignment.item.second_response]
        if not assignment.first_on_left:
            screen_order.reverse()
        assert [content.run_tag(response.run) for response in screen_order] == task["tags"]

        answers = {answer.criterion.name: answer for answer in judgment.answers.select_related("criterion")}
        for criterion, choice in task["choices"].items():
            answer = answers[criterion]
            if choice == "tie":
                assert answer.outcome == Outcome.TIE
                assert answer.winner is None
            else:
                assert answer.outcome == Outcome.WIN
                assert answer.winner == _canonical_winner(assignment, choice)

    rating_judgment = Judgment.objects.get(assignment__uuid=rating_assignment)
    scores = {answer.criterion.name: answer.score for answer in rating_judgment.answers.select_related("criterion")}
    assert scores == {"fluency": 4, "correctness": 2}
    assert content.run_tag(rating_judgment.item.first_response.run) == rated_tag

    # A manager sees the counts on the report page.
    manager = open_session()
    report = manager.page
    pages.log_in(report, live_server.url, evaluation.staff.username)
    report.goto(live_server.url + reverse("reports:study", kwargs={"study_uuid": pairwise.uuid}))
    facts = pages.report_facts(report)
    assert facts["Judgments"] == "2, of which 0 surplus"
    assert facts["Annotators"] == "1"
    assert facts["Items judged"] == "2 of 9"
    for criterion in content.PAIRWISE_CRITERIA:
        table = pages.report_table(report, criterion)
        expected = _expected_pairwise_counts(tasks, criterion)
        assert set(table) == set(SYSTEM_NAME_BY_TAG.values())
        for tag, counts in expected.items():
            row = table[SYSTEM_NAME_BY_TAG[tag]]
            for column in ("Wins", "Ties", "Losses", "Comparisons"):
                assert row[column] == str(counts[column]), f"{criterion}, {tag}, {column}: {row}"
    _save_screenshot(report, "pairwise-report.png")

    # The CSV download names the systems.
    filename, rows = _download_csv(report, "Download all judgments as CSV")
    assert filename.endswith(".csv")
    assert len(rows) == len(tasks) * len(content.PAIRWISE_CRITERIA)
    rows_by_key = {(row["item_uuid"], row["criterion"]): row for row in rows}
    for task in tasks:
        item_uuid = str(Assignment.objects.get(uuid=task["assignment"]).item.uuid)
        for criterion, choice in task["choices"].items():
            row = rows_by_key[(item_uuid, criterion)]
            # Exports name annotators by pseudonym unless a site admin asks for names.
            assert row["annotator"] == pseudonym(evaluation.annotator.pk)
            assert [row["system_a"], row["system_b"]] == [SYSTEM_NAME_BY_TAG[tag] for tag in task["tags"]]
            if choice == "tie":
                assert row["outcome"] == "tie"
                assert row["winner_system"] == ""
            else:
                winner_tag = task["tags"][0 if choice == "A" else 1]
                assert row["outcome"] == "win"
                assert row["winner_system"] == SYSTEM_NAME_BY_TAG[winner_tag]

    # The rating report and its CSV show the scores.
    report.goto(live_server.url + reverse("reports:study", kwargs={"study_uuid": rating.uuid}))
    assert pages.report_facts(report)["Judgments"] == "1, of which 0 surplus"
    fluency = pages.report_table(report, "fluency")[SYSTEM_NAME_BY_TAG[rated_tag]]
    assert fluency["Mean score"] == "4.00"
    assert fluency["Scores"] == "1"
    _, rating_rows = _download_csv(report, "Download all judgments as CSV")
    assert {(row["criterion"], row["system"], row["score"]) for row in rating_rows} == {
        ("fluency", SYSTEM_NAME_BY_TAG[rated_tag], "4"),
        ("correctness", SYSTEM_NAME_BY_TAG[rated_tag], "2"),
    }
    assert manager.page_errors == []
    assert annotator.outside_requests() + manager.outside_requests() == []
