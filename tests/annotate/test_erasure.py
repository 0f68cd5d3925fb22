"""Erasing an annotator's personal data: the account loses what identifies it, the judgments and figures stay."""

import json

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotate.erasure import ErasureRefused, erase_annotator
from annotate.models import AuditAction, AuditEvent, Judgment
from annotate.pseudonyms import pseudonym
from tests.factories import make_user
from tests.people import EMAILS, NAMES, build_named_study

User = get_user_model()


@pytest.fixture
def named_study(db):
    return build_named_study()


@pytest.fixture
def site_admin(db):
    return make_user("erase-boss", superuser=True)


@pytest.fixture
def target(named_study):
    """The first annotator of the named study, logged in with a session and holding an API token."""
    person = named_study.people[0]
    session_client = APIClient()
    session_client.force_login(person)
    Token.objects.create(user=person)
    return person


def _report_snapshot(client, study) -> dict:
    """Every report page figure and download of `study`, as read by a site admin without names."""
    api = f"/api/v1/reports/{study.uuid}/"
    judgments = client.get(reverse("reports:judgments_csv", args=[study.uuid]))
    gold = client.get(reverse("reports:gold_judgments_csv", args=[study.uuid]))
    metadata = json.loads(client.get(reverse("reports:judgments_csv_metadata", args=[study.uuid])).content)
    metadata.pop("generated_at")
    return {
        "report": client.get(api).json(),
        "judgments_csv": b"".join(judgments.streaming_content),
        "gold_csv": b"".join(gold.streaming_content),
        "metadata": metadata,
    }


def _everything_shown(client, study) -> str:
    """The report page, every download and the API report, with names asked for, as one text."""
    urls = [
        reverse("reports:study", args=[study.uuid]),
        reverse("reports:judgments_csv", args=[study.uuid]),
        reverse("reports:judgments_csv_metadata", args=[study.uuid]),
        reverse("reports:gold_judgments_csv", args=[study.uuid]),
        reverse("reports:gold_judgments_csv_metadata", args=[study.uuid]),
        reverse("reports:rankings_json", args=[study.uuid]),
        reverse("admin:annotate_study_progress", args=[study.pk]),
        reverse("admin:annotate_study_quality", args=[study.pk]),
    ]
    texts = []
    for url in urls:
        response = client.get(url + "?names=show")
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        texts.append(body.decode("utf-8"))
    api = APIClient()
    api.force_authenticate(client.session_user)
    texts.append(api.get(f"/api/v1/reports/{study.uuid}/?names=true").content.decode("utf-8"))
    return "\n".join(texts)


@pytest.fixture
def admin_client(client, site_admin):
    client.force_login(site_admin)
    client.session_user = site_admin
    return client


def test_erasure_blanks_account(target):
    judgments_before = list(Judgment.objects.filter(annotator=target).values_list("pk", "rationale"))

    result = erase_annotator(target)

    target.refresh_from_db()
    assert result.changed
    assert target.username == pseudonym(target.pk) == result.pseudonym
    assert (target.email, target.first_name, target.last_name) == ("", "", "")
    assert not target.is_active
    assert not target.has_usable_password()
    assert not Token.objects.filter(user=target).exists()
    assert result.tokens_deleted == 1
    assert result.sessions_deleted == 1
    assert not [s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(target.pk)]
    # Judgments and their rationales stay, under the same account.
    assert list(Judgment.objects.filter(annotator=target).values_list("pk", "rationale")) == judgments_before


def test_erasure_keeps_every_figure(admin_client, named_study, target):
    before = _report_snapshot(admin_client, named_study.study)

    erase_annotator(target)

    assert _report_snapshot(admin_client, named_study.study) == before


def test_nothing_shows_old_name_after_erasure(admin_client, named_study, target):
    assert NAMES[0] in _everything_shown(admin_client, named_study.study)

    erase_annotator(target)

    shown = _everything_shown(admin_client, named_study.study)
    assert NAMES[0].lower() not in shown.lower()
    assert EMAILS[0] not in shown
    assert pseudonym(target.pk) in shown
    # The other annotator was not erased, and a site admin still sees their name.
    assert NAMES[1] in shown


def test_erasure_is_idempotent(target):
    erase_annotator(target)
    target.refresh_from_db()
    password = target.password

    again = erase_annotator(target)

    target.refresh_from_db()
    assert not again.changed
    assert target.password == password
    assert AuditEvent.objects.filter(action=AuditAction.ERASED).count() == 1


def test_erasure_recorded_under_pseudonym(site_admin, target):
    erase_annotator(target, actor=site_admin)

    event = AuditEvent.objects.get(action=AuditAction.ERASED)
    assert event.actor == site_admin
    assert event.object_type == "auth.user"
    assert event.object_id == str(target.pk)
    assert event.object_repr == pseudonym(target.pk)
    assert NAMES[0] not in json.dumps(event.details)


def test_erasure_rewrites_admin_history(site_admin, target):
    LogEntry.objects.create(
        user=site_admin,
        content_type=ContentType.objects.get_for_model(User),
        object_id=str(target.pk),
        object_repr=NAMES[0],
        action_flag=ADDITION,
        change_message="Added.",
    )

    erase_annotator(target)

    assert not LogEntry.objects.filter(object_repr__icontains=NAMES[0]).exists()


def test_erasure_refuses_site_admin(site_admin):
    with pytest.raises(ErasureRefused, match="site admin"):
        erase_annotator(site_admin)

    site_admin.refresh_from_db()
    assert site_admin.username == "erase-boss"


def test_erased_account_cannot_log_in(client, target):
    target.set_password("known-password")
    target.save()

    erase_annotator(target)

    assert not client.login(username=pseudonym(target.pk), password="known-password")
    assert not client.login(username=NAMES[0], password="known-password")


# The command


def test_command_with_yes(target, capsys):
    call_command("erase_annotator", NAMES[0], "--yes")

    target.refresh_from_db()
    assert target.username == pseudonym(target.pk)
    assert "Erased account" in capsys.readouterr().out


def test_command_again_says_already_erased(target, capsys):
    call_command("erase_annotator", NAMES[0], "--yes")
    capsys.readouterr()

    call_command("erase_annotator", pseudonym(target.pk), "--yes")

    assert "already erased" in capsys.readouterr().out


def test_command_unknown_username(db):
    with pytest.raises(CommandError, match="No account has the username “nobody-here”"):
        call_command("erase_annotator", "nobody-here", "--yes")


def test_command_asks_for_confirmation(target, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "no")

    with pytest.raises(CommandError, match="Nothing was erased"):
        call_command("erase_annotator", NAMES[0])

    target.refresh_from_db()
    assert target.username == NAMES[0]


def test_command_confirmed(target, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")

    call_command("erase_annotator", NAMES[0])

    target.refresh_from_db()
    assert target.username == pseudonym(target.pk)


def test_command_without_terminal_needs_yes(target, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)

    with pytest.raises(CommandError, match="--yes"):
        call_command("erase_annotator", NAMES[0])


def test_command_refuses_site_admin(site_admin):
    with pytest.raises(CommandError, match="site admin"):
        call_command("erase_annotator", "erase-boss", "--yes")


# The admin action


def _changelist_post(client, data):
    return client.post(reverse("admin:auth_user_changelist"), data)


def test_admin_action_confirms_then_erases(admin_client, target):
    selection = {"action": "erase_selected", "_selected_action": [target.pk]}

    confirmation = _changelist_post(admin_client, selection)
    target.refresh_from_db()
    assert confirmation.status_code == 200
    assert pseudonym(target.pk) in confirmation.content.decode()
    assert target.username == NAMES[0]

    done = _changelist_post(admin_client, {**selection, "confirmed": "yes"})

    target.refresh_from_db()
    assert done.status_code == 302
    assert target.username == pseudonym(target.pk)
    assert AuditEvent.objects.get(action=AuditAction.ERASED).actor.username == "erase-boss"


def test_admin_action_hidden_from_staff(client, target):
    staff = make_user("plain-staff", staff=True)
    staff.user_permissions.add(*_user_permissions())
    client.force_login(staff)

    page = client.get(reverse("admin:auth_user_changelist"))
    post = _changelist_post(client, {"action": "erase_selected", "_selected_action": [target.pk], "confirmed": "yes"})

    assert page.status_code == 200
    assert "erase_selected" not in page.content.decode()
    target.refresh_from_db()
    assert post.status_code in (200, 302)
    assert target.username == NAMES[0]


def _user_permissions():
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(content_type=ContentType.objects.get_for_model(User))
