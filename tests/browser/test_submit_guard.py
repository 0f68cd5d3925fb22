"""Submitting twice from the browser (double click, or Back and submit again) stores one judgment."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from annotate.models import Judgment
from tests.browser import pages

pytestmark = [pytest.mark.browser]


def _submit_posts(session):
    return [request for request in session.requests if request.method == "POST" and request.url.endswith("/submit/")]


@pytest.mark.timeout(30)
def test_double_click_posts_once(open_session, evaluation, live_server):
    session = open_session()
    page = session.page
    pages.log_in(page, live_server.url, evaluation.annotator.username)
    page.goto(live_server.url + reverse("annotate:next_task", kwargs={"study_uuid": evaluation.pairwise.uuid}))
    first_assignment = pages.assignment_uuid(page)
    page.keyboard.press("1")
    page.keyboard.press("2")

    with page.expect_navigation():
        page.get_by_role("button", name="Submit and continue").dblclick()

    assert len(_submit_posts(session)) == 1
    assert Judgment.objects.filter(annotator=evaluation.annotator).count() == 1
    assert pages.assignment_uuid(page) != first_assignment


@pytest.mark.timeout(30)
def test_back_then_submit_again_harmless(open_session, evaluation, live_server):
    session = open_session()
    page = session.page
    pages.log_in(page, live_server.url, evaluation.annotator.username)
    page.goto(live_server.url + reverse("annotate:next_task", kwargs={"study_uuid": evaluation.rating.uuid}))
    first_assignment = pages.assignment_uuid(page)
    page.keyboard.press("5")
    page.keyboard.press("5")
    pages.submit_and_wait(page, keyboard=True)
    second_assignment = pages.assignment_uuid(page)

    # NOTE: Headless Chromium 156 with these fixtures (request routing on)
    # reloads the page on Back, so the back-forward cache branch below has
    # not run yet. It stays for browsers that restore the page.
    page.go_back()
    page.wait_for_load_state("load")
    if pages.assignment_uuid(page) == first_assignment:
        # Restored from the back-forward cache: the form must be usable again,
        # and submitting it again leads on to the next task.
        expect(page.get_by_role("button", name="Submit and continue")).to_be_enabled()
        page.keyboard.press("1")
        page.keyboard.press("1")
        pages.submit_and_wait(page, keyboard=True)
    else:
        # Loaded again from the server, which redirects to the current task.
        expect(page.locator(".messages")).to_contain_text("You have already submitted that task.")

    assert session.documents[-1][0] == 200, session.documents
    assert pages.assignment_uuid(page) == second_assignment
    judgments = Judgment.objects.filter(annotator=evaluation.annotator)
    assert judgments.count() == 1
    scores = sorted(judgments.get().answers.values_list("score", flat=True))
    assert scores == [5, 5], "the second submit must not change the stored judgment"
    assert str(judgments.get().assignment.uuid) == first_assignment
