"""The Swagger UI page of the REST API in Chromium: it loads from this server only and can call the API."""

import pytest

from generation.models import PromptSet
from tests.browser import pages
from tests.factories import make_prompt_set, make_run, make_user

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


def test_api_docs_run_a_request(open_session, live_server, transactional_db):
    """A logged-in site admin opens /api/docs/, lists runs and creates a prompt set through "Try it out"."""
    staff = make_user("docs-admin", superuser=True)
    run = make_run(make_prompt_set(name="docs-prompts"), model_name="Vorlaxi-Docs")
    session = open_session()
    page = session.page
    pages.log_in(page, live_server.url, staff.username)

    page.goto(live_server.url + "/api/docs/")
    operation = page.locator(".opblock-get", has=page.locator('.opblock-summary-path[data-path="/api/v1/runs/"]'))
    operation.locator(".opblock-summary").click()
    operation.locator(".try-out__btn").click()
    operation.locator(".execute").click()

    status = operation.locator(".live-responses-table tbody .response-col_status")
    assert status.inner_text().strip() == "200"
    body = operation.locator(".live-responses-table tbody .microlight").first.inner_text()
    assert str(run.uuid) in body

    # A POST with the session cookie needs the CSRF header, which the page adds.
    create = page.locator(".opblock-post", has=page.locator('.opblock-summary-path[data-path="/api/v1/prompt-sets/"]'))
    create.locator(".opblock-summary").click()
    create.locator(".try-out__btn").click()
    create.locator("textarea.body-param__text").fill('{"name": "made-in-swagger", "description": "CJK: 提示"}')
    create.locator(".execute").click()
    assert create.locator(".live-responses-table tbody .response-col_status").inner_text().strip() == "201"
    assert PromptSet.objects.get(name="made-in-swagger").description == "CJK: 提示"

    assert session.outside_requests() == []
    assert session.page_errors == []
