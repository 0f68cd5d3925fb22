"""Security headers, the Content-Security-Policy first, on pages, API responses, static files and errors."""

import pytest
from django.test import Client, override_settings

from humeval.csp import ContentSecurityPolicyMiddleware
from tests.factories import make_user

pytestmark = pytest.mark.django_db

EXPECTED_DIRECTIVES = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
}


def _assert_security_headers(response):
    policy = response.headers.get("Content-Security-Policy")
    assert policy is not None, f"no Content-Security-Policy on {response.status_code} {response.get('Content-Type')}"
    directives = {part.strip() for part in policy.split(";")}
    assert directives == EXPECTED_DIRECTIVES
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_policy_header_text():
    assert ContentSecurityPolicyMiddleware.header == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/accounts/login/", 200),
        ("/accounts/password_reset/", 200),
        ("/admin/login/", 200),
        ("/api/docs/", 200),
        ("/api/schema/", 200),
        ("/static/css/humeval.css", 200),
        ("/", 302),
        ("/no-such-page/", 404),
        ("/api/v1/no-such-endpoint/", 404),
        ("/api/v1/runs/", 401),
    ],
)
def test_anonymous_responses_have_headers(path, status):
    response = Client().get(path)

    assert response.status_code == status
    _assert_security_headers(response)


def test_logged_in_pages_and_api_have_headers():
    staff = make_user("header-admin", staff=True, superuser=True)
    client = Client()
    client.force_login(staff)

    for path in ("/", "/reports/", "/admin/", "/admin/annotate/study/", "/api/v1/runs/", "/api/v1/studies/"):
        response = client.get(path)
        assert response.status_code == 200, path
        _assert_security_headers(response)


def test_csrf_failure_has_headers():
    client = Client(enforce_csrf_checks=True)

    response = client.post("/accounts/login/", {"username": "x", "password": "y"})

    assert response.status_code == 403
    _assert_security_headers(response)


def test_unknown_host_has_headers():
    response = Client().get("/accounts/login/", HTTP_HOST="evil.example.com")

    assert response.status_code == 400
    _assert_security_headers(response)


@override_settings(ROOT_URLCONF="tests.security.urls")
def test_server_error_page_has_headers():
    client = Client(raise_request_exception=False)

    response = client.get("/test-only/broken/")

    assert response.status_code == 500
    _assert_security_headers(response)


def test_wrong_method_has_headers():
    response = Client().delete("/accounts/login/")

    assert response.status_code == 405
    _assert_security_headers(response)


def test_token_endpoint_has_headers():
    response = Client().post("/api/v1/auth/token/", {"username": "nobody", "password": "wrong"})

    assert response.status_code == 400
    _assert_security_headers(response)
