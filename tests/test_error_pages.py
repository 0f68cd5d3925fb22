"""The 404, 403 and 500 pages look like the site and speak the visitor's language."""

from django.test import RequestFactory
from django.utils import translation
from django.views import defaults


def test_unknown_page_is_a_site_page_in_english(client, db):
    response = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    text = response.content.decode()
    assert "Page not found" in text
    assert 'class="site-header"' in text


def test_unknown_page_in_chinese(client, db):
    response = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="zh-Hans")
    assert response.status_code == 404
    assert "找不到页面" in response.content.decode()


def test_server_error_page_renders_without_a_request_context(db):
    # Django renders 500.html with an empty context: the page must not need
    # the user, the messages or the request.
    with translation.override("en"):
        response = defaults.server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    text = response.content.decode()
    assert "Server error" in text
    assert "favicon.svg" in text


def test_pages_link_the_icon(client, db):
    response = client.get("/accounts/login/")
    assert 'rel="icon"' in response.content.decode()


def test_staff_without_studies_sees_where_to_manage(client, db):
    from tests.factories import make_user

    manager = make_user(staff=True)
    client.force_login(manager)
    text = client.get("/").content.decode()
    assert "/admin/annotate/study/" in text
    assert "/reports/" in text
