"""Signing up through a study's link in a Chinese browser, through to the first task."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from annotate.invitations import signup_path, turn_on_signup
from annotate.models import Assignment
from tests.browser import pages

pytestmark = [pytest.mark.browser]

USERNAME = "新标注员"
PASSWORD = "a-long-pass-phrase-42"


@pytest.mark.timeout(30)
def test_chinese_signup_reaches_first_task(open_session, evaluation, live_server):
    study = evaluation.pairwise
    turn_on_signup(study)
    session = open_session(locale="zh-Hans")
    page = session.page

    page.goto(live_server.url + signup_path(study))
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("h1")).to_have_text(f"加入“{study.name}”")
    body = page.inner_text("body")
    for string in ("用户名", "密码", "创建我的账号"):
        assert string in body, f"{string!r} missing from the Chinese sign-up page"
    assert "Create my account" not in body

    # A weak password is rejected with Django's own Chinese message, and nothing is created.
    page.fill("#id_username", USERNAME)
    page.fill("#id_password1", "12345678")
    page.fill("#id_password2", "12345678")
    with page.expect_navigation():
        page.get_by_role("button", name="创建我的账号").click()
    expect(page.locator("#id_password2_errors")).to_contain_text("这个密码太常见了")
    assert not get_user_model().objects.filter(username=USERNAME).exists()

    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="创建我的账号").click()

    pages.assignment_uuid(page)  # on a task page
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_role("button", name="提交并继续")).to_be_visible()
    user = get_user_model().objects.get(username=USERNAME)
    assert study.annotators.filter(pk=user.pk).exists()
    assert Assignment.objects.filter(annotator=user, item__study=study).count() == 1
    assert session.page_errors == []
    assert session.outside_requests() == []
    assert pages.inline_script_problems(page) == []
