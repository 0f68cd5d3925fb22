"""Password reset by e-mail: the whole flow with Django's locmem e-mail backend."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import translation

from humeval import password_reset
from tests.factories import make_user

pytestmark = pytest.mark.django_db

RESET_LINK = re.compile(r"http://testserver(/accounts/reset/[^/\s]+/[^/\s]+/)")
NEW_PASSWORD = "a-new-passphrase-for-reset"


def _request_reset(client, email):
    return client.post("/accounts/password_reset/", {"email": email})


def test_login_page_links_to_reset():
    response = Client().get("/accounts/login/")

    assert 'href="/accounts/password_reset/"' in response.text


def test_reset_form_uses_site_layout():
    response = Client().get("/accounts/password_reset/")

    assert response.status_code == 200
    assert 'class="site-header"' in response.text
    assert "Reset your password" in response.text
    assert "Django administration" not in response.text


def test_whole_reset_flow():
    user = make_user("olga")
    user.email = "olga@example.org"
    user.save()
    client = Client()

    requested = _request_reset(client, "olga@example.org")

    assert requested.status_code == 302
    assert requested["Location"] == "/accounts/password_reset/done/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["olga@example.org"]
    assert message.subject == "Set a new password for humeval on testserver"
    assert "“olga”" in message.body
    link = RESET_LINK.search(message.body)
    assert link, message.body
    assert "<" not in message.body

    # Django swaps the token in the link for a session value and redirects.
    opened = client.get(link.group(1), follow=True)
    assert opened.status_code == 200
    assert "Set your password" in opened.text
    assert 'class="site-header"' in opened.text
    form_path = opened.redirect_chain[-1][0]

    saved = client.post(form_path, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert saved.status_code == 302
    assert saved["Location"] == "/accounts/reset/done/"
    assert "You can log in now" in client.get(saved["Location"]).text

    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert Client().login(username="olga", password=NEW_PASSWORD)
    assert not Client().login(username="olga", password="pw-for-tests")

    # The link works once.
    reused = Client().get(link.group(1), follow=True)
    assert "This link has already been used or has expired" in reused.text
    assert 'href="/accounts/password_reset/"' in reused.text


def test_weak_new_password_rejected():
    user = make_user("pavel")
    user.email = "pavel@example.org"
    user.save()
    client = Client()
    _request_reset(client, "pavel@example.org")
    link = RESET_LINK.search(mail.outbox[0].body).group(1)
    form_path = client.get(link, follow=True).redirect_chain[-1][0]

    response = client.post(form_path, {"new_password1": "12345678", "new_password2": "12345678"})

    assert response.status_code == 200
    assert "This password is too common." in response.text
    user.refresh_from_db()
    assert user.check_password("pw-for-tests")


def _without_csrf_token(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def test_unknown_address_looks_the_same():
    """The response for an address without an account is the same page as for one with an account."""
    user = make_user("quinn")
    user.email = "quinn@example.org"
    user.save()

    known = _request_reset(Client(), "quinn@example.org")
    unknown = _request_reset(Client(), "nobody@example.org")
    known_page = Client().get(known["Location"])
    unknown_page = Client().get(unknown["Location"])

    assert len(mail.outbox) == 1
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert _without_csrf_token(known_page.text) == _without_csrf_token(unknown_page.text)
    assert "If an account has this e-mail address" in known_page.text


def test_no_mail_for_account_without_password_or_inactive():
    """Django sends no link to inactive accounts or to accounts with an unusable password."""
    inactive = make_user("rita")
    inactive.email = "rita@example.org"
    inactive.is_active = False
    inactive.save()
    invited = get_user_model().objects.create_user("sam", email="sam@example.org")

    _request_reset(Client(), "rita@example.org")
    _request_reset(Client(), "sam@example.org")

    assert invited.has_usable_password() is False
    assert mail.outbox == []


def test_invalid_address_gets_field_error():
    response = _request_reset(Client(), "not an address")

    assert response.status_code == 200
    assert "Enter a valid email address." in response.text
    assert mail.outbox == []


def test_reset_mail_in_page_language():
    """The e-mail is written in the language of the page the request came from."""
    user = make_user("tao")
    user.email = "tao@example.org"
    user.save()
    client = Client()
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})

    _request_reset(client, "tao@example.org")

    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert RESET_LINK.search(body)
    with translation.override("zh-hans"):
        assert translation.gettext("Open this link to choose the new password. It works once.") in body


LIMITED = "Too many password reset requests"


def test_reset_mails_limited_per_address(clock):
    user = make_user("uri")
    user.email = "uri@example.org"
    user.save()
    client = Client()

    for _ in range(password_reset.LIMIT_PER_EMAIL):
        assert _request_reset(client, "uri@example.org").status_code == 302
    refused = _request_reset(client, "uri@example.org")

    assert refused.status_code == 200
    assert LIMITED in refused.text
    assert len(mail.outbox) == password_reset.LIMIT_PER_EMAIL

    clock.advance(password_reset.WINDOW_SECONDS)
    assert _request_reset(client, "uri@example.org").status_code == 302
    assert len(mail.outbox) == password_reset.LIMIT_PER_EMAIL + 1


def test_reset_limit_same_for_unknown_address(clock):
    """An address without an account reaches the limit after as many requests, so the limit reveals nothing."""
    client = Client()

    statuses = [_request_reset(client, "ghost@example.org").status_code for _ in range(password_reset.LIMIT_PER_EMAIL)]
    refused = _request_reset(client, "ghost@example.org")

    assert statuses == [302] * password_reset.LIMIT_PER_EMAIL
    assert LIMITED in refused.text


def test_reset_limit_per_client_address(clock):
    client = Client(REMOTE_ADDR="203.0.113.20")
    other_client = Client(REMOTE_ADDR="203.0.113.21")

    for number in range(password_reset.LIMIT_PER_CLIENT_ADDRESS):
        assert _request_reset(client, f"person-{number}@example.org").status_code == 302
    refused = _request_reset(client, "one-more@example.org")

    assert LIMITED in refused.text
    assert _request_reset(other_client, "one-more@example.org").status_code == 302
