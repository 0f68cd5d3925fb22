"""Model output in a real browser: hostile Markdown stays text, code and Chinese render as written.

The answers and one prompt carry script tags, event handler attributes,
javascript: links and remote images (see tests.browser.content). If any of
them became live markup, it would set `window.__pwned`, open a dialog or
request a host other than 127.0.0.1.
"""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.browser import content, pages

pytestmark = [pytest.mark.browser]

_ACTIVE_MARKUP_IN_ANSWERS = """() => {
  const found = [];
  for (const element of document.querySelectorAll(".prompt *, .answer *")) {
    const tag = element.tagName.toLowerCase();
    if (["script", "img", "iframe", "svg", "object", "embed", "style", "link"].includes(tag)) {
      found.push(tag);
    }
    if (tag === "a" && !/^(https?:|mailto:)/i.test(element.getAttribute("href") || "")) {
      found.push("a href=" + element.getAttribute("href"));
    }
  }
  return found;
}"""


def _assert_hostile_output_inert(session, where):
    page = session.page
    page.wait_for_load_state("networkidle")

    assert page.evaluate("typeof window.__pwned") == "undefined", where
    assert session.dialogs == [], where
    assert session.outside_requests() == [], where
    assert session.page_errors == [], where
    assert page.evaluate(_ACTIVE_MARKUP_IN_ANSWERS) == [], where

    answers = page.locator(".turn").first.locator(".answer .markdown")
    for index in range(answers.count()):
        answer = answers.nth(index)
        # The code block is a <pre><code> element with the code intact.
        code = answer.locator("pre > code")
        expect(code).to_have_count(1)
        assert code.inner_text().strip() == content.CODE, where
        # Chinese text is shown as written.
        expect(answer.get_by_text(content.CJK_SENTENCE, exact=True)).to_be_visible()
        # The hostile Markdown is shown as its source text.
        text = answer.inner_text()
        for snippet in content.HOSTILE_MARKDOWN:
            assert snippet in text, f"{where}: {snippet!r} is not shown as text"

    # Clicking where the javascript: link would be runs nothing.
    answers.first.get_by_text("[link](javascript:window.__pwned=1)").click()
    assert page.evaluate("typeof window.__pwned") == "undefined", where


@pytest.mark.timeout(60)
def test_hostile_answers_stay_inert(open_session, evaluation, live_server):
    session = open_session()
    page = session.page
    pages.log_in(page, live_server.url, evaluation.annotator.username)

    page.goto(live_server.url + reverse("annotate:next_task", kwargs={"study_uuid": evaluation.pairwise.uuid}))
    expect(page.locator(".answers-pair .answer")).to_have_count(2)
    _assert_hostile_output_inert(session, "pairwise task")

    # The prompt with hostile HTML, reached by judging until it comes up.
    seen_prompts = set()
    while page.locator("#judgment-form").count():
        prompt_text = page.locator(".prompt").first.inner_text().strip()
        seen_prompts.add(prompt_text)
        if prompt_text == content.PROMPTS[2]:
            _assert_hostile_output_inert(session, "pairwise task with the hostile prompt")
        if prompt_text == content.PROMPTS[1]:
            expect(page.locator(".prompt").first).to_have_attribute("lang", "zh-Hans")
        page.keyboard.press("3")
        page.keyboard.press("3")
        pages.submit_and_wait(page, keyboard=True)
    assert seen_prompts == set(content.PROMPTS)

    page.goto(live_server.url + reverse("annotate:next_task", kwargs={"study_uuid": evaluation.rating.uuid}))
    expect(page.locator(".answers .answer")).to_have_count(1)
    _assert_hostile_output_inert(session, "rating task")

    # The same answers on the page re-rendered after an invalid submit.
    page.eval_on_selector("#judgment-form", "form => { form.noValidate = true; }")
    pages.submit_and_wait(page)
    expect(page.locator(".error-summary")).to_be_visible()
    _assert_hostile_output_inert(session, "rating task re-rendered with errors")


def _pages_to_audit(session, evaluation, live_server):
    """Yield (label, page) for every annotator page kind and the report pages, in visiting order."""
    page = session.page
    page.goto(live_server.url + reverse("login"))
    yield "login page", page
    pages.log_in(page, live_server.url, evaluation.annotator.username)
    yield "studies list", page

    page.goto(live_server.url + reverse("annotate:next_task", kwargs={"study_uuid": evaluation.pairwise.uuid}))
    yield "pairwise task", page
    page.goto(live_server.url + reverse("annotate:next_task", kwargs={"study_uuid": evaluation.rating.uuid}))
    yield "rating task", page
    page.eval_on_selector("#judgment-form", "form => { form.noValidate = true; }")
    pages.submit_and_wait(page)
    yield "rating task re-rendered with errors", page
    while page.locator("#judgment-form").count():
        page.keyboard.press("5")
        page.keyboard.press("5")
        pages.submit_and_wait(page, keyboard=True)
    yield "done page", page

    pages.log_in(page, live_server.url, evaluation.staff.username)
    page.goto(live_server.url + reverse("reports:index"))
    yield "reports index", page
    page.goto(live_server.url + reverse("reports:study", kwargs={"study_uuid": evaluation.pairwise.uuid}))
    yield "pairwise report", page
    page.goto(live_server.url + reverse("reports:study", kwargs={"study_uuid": evaluation.rating.uuid}))
    yield "rating report", page


@pytest.mark.timeout(60)
def test_pages_have_no_inline_script(open_session, evaluation, live_server):
    session = open_session()
    problems = {}
    audited = []
    for label, page in _pages_to_audit(session, evaluation, live_server):
        audited.append(label)
        found = pages.inline_script_problems(page)
        if found:
            problems[label] = found
        for source in pages.script_sources(page):
            assert source.startswith(live_server.url + "/static/"), f"{label} loads script {source}"
        if label.endswith("task"):
            assert pages.script_sources(page) == [live_server.url + "/static/js/task.js"], label

    assert len(audited) == 9
    assert problems == {}
