"""Annotator pages in a browser never reveal which model wrote an answer."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.browser import content, pages

pytestmark = [pytest.mark.browser]


class PageAudit:
    """Collects the rendered HTML, visible text, title and URL of each page visited."""

    def __init__(self, page, forbidden):
        self.page = page
        self.forbidden = forbidden
        self.visited = []
        self.leaks = []

    def check(self, label):
        page = self.page
        page.wait_for_load_state("load")
        sources = {
            "html": page.content(),
            "text": page.inner_text("body"),
            "title": page.title(),
            "url": page.url,
        }
        for kind, text in sources.items():
            for leak in content.leaks_in(text, self.forbidden):
                self.leaks.append(f"{label} ({page.url}): {leak!r} in the page {kind}")
        self.visited.append(label)


def _judge_every_task(page, audit, study, keys):
    """Answer each task with `keys` and Ctrl+Enter until the done page, auditing every page."""
    tasks = 0
    # The form is also on a page re-rendered after an invalid submit, whose
    # URL ends in submit/, so look for it rather than matching the URL.
    while page.locator("#judgment-form").count():
        tasks += 1
        expected_answers = 2 if study.kind == "pairwise" else 1
        assert len(pages.answer_tags(page)) == expected_answers, f"task {tasks} shows no answers: {page.url}"
        audit.check(f"{study.kind} task {tasks}")
        for key in keys:
            page.keyboard.press(key)
        pages.submit_and_wait(page, keyboard=True)
    expect(page.locator("h1")).to_have_text("Nothing left, thank you!")
    audit.check(f"{study.kind} done page")
    return tasks


@pytest.mark.timeout(90)
def test_annotator_pages_blind(open_session, evaluation, live_server):
    forbidden = content.forbidden_strings()
    assert {"zyxqor-alpha", "fremtaquo/vemtrak-beta-chat", "sampled-t0.7", "quorplex"} <= forbidden
    session = open_session()
    page = session.page
    audit = PageAudit(page, forbidden)

    page.goto(live_server.url + reverse("login"))
    audit.check("login page")
    pages.log_in(page, live_server.url, evaluation.annotator.username)
    audit.check("studies list")

    # Pairwise: an invalid submit first (the browser's own validation turned
    # off, so the server re-renders the form), then every task.
    with page.expect_navigation():
        page.locator(".study-card").filter(has_text=evaluation.pairwise.name).get_by_role("link").click()
    audit.check("pairwise instructions")
    with page.expect_navigation():
        page.locator("main").get_by_role("link", name="Start").click()
    first_task_url = page.url
    audit.check("pairwise first task")
    page.eval_on_selector("#judgment-form", "form => { form.noValidate = true; }")
    pages.submit_and_wait(page)
    expect(page.locator(".error-summary")).to_be_visible()
    audit.check("pairwise task re-rendered with errors")
    pairwise_tasks = _judge_every_task(page, audit, evaluation.pairwise, ["1", "3"])
    assert pairwise_tasks == 9

    # The last judgment, opened again to be changed.
    with page.expect_navigation():
        page.get_by_role("link", name="Change my last answer").click()
    expect(page.get_by_role("button", name="Save my changed answer")).to_be_visible()
    audit.check("pairwise last answer reopened")

    # A task already submitted redirects with a message.
    page.goto(first_task_url)
    expect(page.locator(".messages")).to_contain_text("You have already submitted that task.")
    audit.check("submitted task revisited")

    with page.expect_navigation():
        page.get_by_role("link", name="Back to my studies").click()
    audit.check("studies list after pairwise")
    with page.expect_navigation():
        page.locator(".study-card").filter(has_text=evaluation.rating.name).get_by_role("link").click()
    audit.check("rating instructions")
    with page.expect_navigation():
        page.locator("main").get_by_role("link", name="Start").click()
    rating_tasks = _judge_every_task(page, audit, evaluation.rating, ["4", "2"])
    assert rating_tasks == 6

    assert len(audit.visited) == 11 + pairwise_tasks + rating_tasks
    assert audit.leaks == []
    assert session.requests, "no request was recorded"
    request_leaks = [
        f"{request.method} {request.url}: {leak!r}"
        for request in session.requests
        for leak in content.leaks_in(request.url + " " + request.post_data, forbidden)
    ]
    assert request_leaks == []
    assert session.page_errors == []
