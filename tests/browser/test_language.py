"""The annotator's pages in Chinese: from the browser's language, or from the switch in the header."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from annotate.models import Judgment
from tests.browser import content, pages

pytestmark = [pytest.mark.browser]

CHINESE_TASK_STRINGS = ("提示词", "回答 A", "回答 B", "A 更好", "B 更好", "都不好", "提交并继续", "键盘快捷键")
ENGLISH_TASK_STRINGS = ("Answer A", "A is better", "Submit and continue", "Keyboard shortcuts")


def _assert_chinese_task_page(page):
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    text = page.inner_text("body")
    for string in CHINESE_TASK_STRINGS:
        assert string in text, f"{string!r} missing from the Chinese task page"
    for string in ENGLISH_TASK_STRINGS:
        assert string not in text, f"{string!r} left in English on the Chinese task page"
    # Model output is shown as stored, whatever the interface language.
    assert content.CJK_SENTENCE in text
    assert content.CODE_FIRST_LINE in text


@pytest.mark.timeout(30)
def test_chinese_browser_locale(open_session, evaluation, live_server):
    session = open_session(locale="zh-CN")
    page = session.page

    page.goto(live_server.url + reverse("login"))
    expect(page.locator("h1")).to_have_text("登录")
    pages.log_in(page, live_server.url, evaluation.annotator.username)
    expect(page.locator("h1")).to_have_text("我的评测")

    page.goto(live_server.url + reverse("annotate:next_task", kwargs={"study_uuid": evaluation.pairwise.uuid}))
    _assert_chinese_task_page(page)
    assert pages.shortcut_keys(page)["A 更好"] == "1"

    # The Chinese page works the same: keys, then Ctrl+Enter.
    page.keyboard.press("1")
    page.keyboard.press("4")
    pages.submit_and_wait(page, keyboard=True)
    assert Judgment.objects.filter(annotator=evaluation.annotator).count() == 1
    _assert_chinese_task_page(page)
    assert session.page_errors == []


@pytest.mark.timeout(30)
def test_language_switch_on_task_page(open_session, evaluation, live_server):
    session = open_session(locale="en-US")
    page = session.page
    pages.log_in(page, live_server.url, evaluation.annotator.username)
    page.goto(live_server.url + reverse("annotate:next_task", kwargs={"study_uuid": evaluation.pairwise.uuid}))
    task_url = page.url
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="Submit and continue")).to_be_visible()

    with page.expect_navigation():
        page.get_by_role("button", name="中文").click()
    assert page.url == task_url
    _assert_chinese_task_page(page)

    with page.expect_navigation():
        page.get_by_role("button", name="English").click()
    assert page.url == task_url
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="Submit and continue")).to_be_visible()


@pytest.mark.timeout(30)
def test_language_switch_after_invalid_submit(open_session, evaluation, live_server):
    session = open_session(locale="en-US")
    page = session.page
    pages.log_in(page, live_server.url, evaluation.annotator.username)
    page.goto(live_server.url + reverse("annotate:next_task", kwargs={"study_uuid": evaluation.pairwise.uuid}))
    page.eval_on_selector("#judgment-form", "form => { form.noValidate = true; }")
    pages.submit_and_wait(page)
    expect(page.get_by_role("alert")).to_be_visible()
    session.documents.clear()

    page.get_by_role("button", name="中文").click()
    page.wait_for_load_state("load")

    statuses = [status for status, _url in session.documents]
    assert statuses and statuses[-1] == 200, f"the language switch ended on {session.documents}"
    _assert_chinese_task_page(page)
