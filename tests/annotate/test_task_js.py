"""static/js/task.js in a real browser: keyboard shortcuts and time on task."""

import os

import pytest
from django.conf import settings
from django.urls import reverse

from annotate.items import open_study
from annotate.models import Judgment, StudyKind
from tests.factories import make_prompt_set, make_run, make_study, make_user
from tests.services import require_chromium

# Playwright's sync API runs an event loop in the test thread, which Django's
# ORM would otherwise refuse to share.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_page():
    chromium = require_chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield browser.new_page()
        browser.close()


def _log_in(page, client, live_server, user):
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}])


def _open_next_task(page, live_server, study):
    page.goto(live_server.url + reverse("annotate:next_task", kwargs={"study_uuid": study.uuid}))
    page.wait_for_selector("#judgment-form")


def test_pairwise_keys_and_ctrl_enter(browser_page, client, live_server):
    prompt_set = make_prompt_set(prompts=["Only prompt"])
    annotator = make_user()
    study = make_study(
        [make_run(prompt_set), make_run(prompt_set)],
        criteria=("helpfulness", "accuracy"),
        annotators=[annotator],
    )
    open_study(study)
    _log_in(browser_page, client, live_server, annotator)
    _open_next_task(browser_page, live_server, study)

    browser_page.wait_for_timeout(1200)
    browser_page.keyboard.press("2")
    browser_page.keyboard.press("4")
    checked = browser_page.eval_on_selector_all(
        "input[type=radio]:checked", "radios => radios.map(radio => radio.value)"
    )
    with browser_page.expect_navigation():
        browser_page.keyboard.press("Control+Enter")

    assert checked == ["B", "both_bad"]
    judgment = Judgment.objects.get(annotator=annotator)
    answers = {a.criterion.name: a for a in judgment.answers.select_related("criterion")}
    shown_right = judgment.assignment.shown_responses()[1]
    assert answers["helpfulness"].winner_id == shown_right.pk
    assert answers["accuracy"].outcome == "both_bad"
    assert judgment.time_on_task_seconds >= 1.0
    assert "Nothing left, thank you!" in browser_page.content()


def test_rating_digit_picks_score(browser_page, client, live_server):
    prompt_set = make_prompt_set(prompts=["Only prompt"])
    annotator = make_user()
    study = make_study([make_run(prompt_set)], kind=StudyKind.RATING, annotators=[annotator])
    open_study(study)
    _log_in(browser_page, client, live_server, annotator)
    _open_next_task(browser_page, live_server, study)

    browser_page.keyboard.press("4")
    with browser_page.expect_navigation():
        browser_page.keyboard.press("Control+Enter")

    assert Judgment.objects.get(annotator=annotator).answers.get().score == 4


def test_digits_ignored_in_rationale(browser_page, client, live_server):
    prompt_set = make_prompt_set(prompts=["Only prompt"])
    annotator = make_user()
    study = make_study([make_run(prompt_set)], kind=StudyKind.RATING, annotators=[annotator])
    open_study(study)
    _log_in(browser_page, client, live_server, annotator)
    _open_next_task(browser_page, live_server, study)

    browser_page.click("textarea[name=rationale]")
    browser_page.keyboard.type("3 reasons")

    assert browser_page.eval_on_selector_all("input[type=radio]:checked", "radios => radios.length") == 0
    assert browser_page.input_value("textarea[name=rationale]") == "3 reasons"
