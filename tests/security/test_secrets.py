"""Passwords, tokens and keys stay out of logs, error pages and error bodies."""

import logging
import re

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client, override_settings
from rest_framework.authtoken.models import Token

from tests.factories import make_user

pytestmark = pytest.mark.django_db

SECRET_PASSWORD = "Sentinel-Passw0rd-7d41c"
DATABASE_PASSWORD = "Sentinel-Db-Password-52e9"


@pytest.fixture
def all_logs(caplog):
    """Capture every log record of every logger, DEBUG included."""
    caplog.set_level(logging.DEBUG)
    return caplog


def _assert_no_secret(text: str, *secrets: str) -> None:
    for secret in (SECRET_PASSWORD, settings.SECRET_KEY, *secrets):
        assert secret not in text


def test_bad_logins_keep_password_out_of_logs(all_logs, clock):
    make_user("uma", staff=True)
    client = Client()

    responses = []
    for _ in range(settings.LOGIN_FAILURE_LIMIT + 1):
        responses.append(client.post("/accounts/login/", {"username": "uma", "password": SECRET_PASSWORD}))
        responses.append(client.post("/admin/login/", {"username": "uma", "password": SECRET_PASSWORD}))
        responses.append(client.post("/api/v1/auth/token/", {"username": "uma", "password": SECRET_PASSWORD}))

    # The throttle's warning was logged, so the capture works.
    assert "reached the limit" in all_logs.text
    _assert_no_secret(all_logs.text)
    for response in responses:
        _assert_no_secret(response.content.decode())


def test_password_typed_as_username_not_logged(all_logs, clock):
    """People sometimes type their password into the username field; the throttle logs only a hash."""
    client = Client()

    for _ in range(settings.LOGIN_FAILURE_LIMIT + 1):
        client.post("/accounts/login/", {"username": SECRET_PASSWORD, "password": "x"})

    assert "reached the limit" in all_logs.text
    assert "username sha256:" in all_logs.text
    _assert_no_secret(all_logs.text)


def test_reset_confirm_keeps_password_out_of_logs(all_logs):
    user = make_user("vera")
    user.email = "vera@example.org"
    user.save()
    client = Client()
    client.post("/accounts/password_reset/", {"email": "vera@example.org"})
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form_path = client.get(link, follow=True).redirect_chain[-1][0]

    response = client.post(form_path, {"new_password1": SECRET_PASSWORD, "new_password2": SECRET_PASSWORD + "x"})

    assert response.status_code == 200
    _assert_no_secret(all_logs.text)
    _assert_no_secret(response.content.decode())


@override_settings(DEBUG=True)
def test_sql_log_keeps_token_out(all_logs):
    """With DEBUG on, Django logs each SQL query with its parameters, the token lookup among them."""
    staff = make_user("walt", staff=True)
    token = Token.objects.create(user=staff)

    response = Client().get("/api/v1/runs/", HTTP_AUTHORIZATION=f"Token {token.key}")

    assert response.status_code == 200
    assert token.key not in all_logs.text


@pytest.fixture
def broken_token_view(monkeypatch):
    """Make the token endpoint fail after the password was checked, as a bug would."""

    def fail(*args, **kwargs):
        raise RuntimeError("token table unavailable")

    monkeypatch.setattr(Token.objects, "get_or_create", fail)


@override_settings(DEBUG=True)
def test_debug_error_page_hides_secrets(broken_token_view, all_logs):
    make_user("xena", password=SECRET_PASSWORD)
    client = Client(raise_request_exception=False)
    runserver_environment = {
        "DATABASE_URL": f"postgres://humeval:{DATABASE_PASSWORD}@db:5432/humeval",
        "CELERY_BROKER_URL": f"redis://:{DATABASE_PASSWORD}@redis:6379/0",
    }

    response = client.post(
        "/api/v1/auth/token/", {"username": "xena", "password": SECRET_PASSWORD}, **runserver_environment
    )

    page = response.content.decode()
    assert response.status_code == 500
    assert "token table unavailable" in page
    assert "********" in page
    _assert_no_secret(page, DATABASE_PASSWORD)
    _assert_no_secret(all_logs.text, DATABASE_PASSWORD)


def test_production_error_page_hides_secrets(broken_token_view, all_logs):
    make_user("yuri", password=SECRET_PASSWORD)
    client = Client(raise_request_exception=False)

    response = client.post("/api/v1/auth/token/", {"username": "yuri", "password": SECRET_PASSWORD})

    assert response.status_code == 500
    assert "token table unavailable" not in response.content.decode()
    assert "token table unavailable" in all_logs.text
    _assert_no_secret(response.content.decode())
    _assert_no_secret(all_logs.text)
