"""SQLite's "database is locked" becomes a 503 that says nothing was saved (humeval.database_busy).

The tests run on the suite's SQLite file: a second connection holds the
write lock while the request runs with a busy timeout of a fifth of a
second, so the request's transaction fails to begin exactly as it would
under heavy load.
"""

import logging
import sqlite3
from contextlib import contextmanager

import pytest
from django.db import OperationalError, connection, transaction
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from rest_framework.test import APIClient

from annotate.assignment import next_assignment
from annotate.models import Assignment, AssignmentStatus, Judgment
from humeval.database_busy import RETRY_AFTER_SECONDS, DatabaseBusyMiddleware, is_database_locked

pytestmark = pytest.mark.django_db(transaction=True)

BUSY_TIMEOUT_SECONDS = 0.2


@pytest.fixture
def short_busy_timeout():
    """Reconnect with a busy timeout of BUSY_TIMEOUT_SECONDS instead of the settings' 20 s."""
    if connection.vendor != "sqlite":
        pytest.skip("tests SQLite's busy timeout; PostgreSQL waits on row locks instead")
    options = connection.settings_dict["OPTIONS"]
    saved = options.get("timeout")
    options["timeout"] = BUSY_TIMEOUT_SECONDS
    connection.close()
    yield
    options["timeout"] = saved
    connection.close()


@contextmanager
def write_lock_held():
    """Hold the database's write lock from a second connection, as a long write of another request would."""
    blocker = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        yield
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()


def _submit_url(assignment):
    kwargs = {"study_uuid": assignment.item.study.uuid, "assignment_uuid": assignment.uuid}
    return reverse("annotate:submit", kwargs=kwargs)


def _answers(study):
    return {f"criterion-{criterion.uuid.hex}": "A" for criterion in study.criteria.all()}


def test_locked_submit_gives_503_page(client, pairwise_study, annotator, short_busy_timeout, caplog):
    assignment = next_assignment(pairwise_study, annotator)
    client.force_login(annotator)
    url = _submit_url(assignment)

    with caplog.at_level(logging.WARNING), write_lock_held():
        response = client.post(url, _answers(pairwise_study))

    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "The server is busy, so your answer was not saved." in response.text
    assert not Judgment.objects.exists()
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.LEASED
    warnings = [record for record in caplog.records if record.name == "humeval.database_busy"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert url in warnings[0].getMessage()
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []

    again = client.post(url, _answers(pairwise_study))

    assert again.status_code == 302
    assert Judgment.objects.filter(assignment=assignment).count() == 1


def test_locked_next_task_offers_retry(client, pairwise_study, annotator, short_busy_timeout):
    client.force_login(annotator)
    url = reverse("annotate:next_task", kwargs={"study_uuid": pairwise_study.uuid})

    with write_lock_held():
        response = client.get(url)

    assert response.status_code == 503
    assert "The server is busy, so this page could not be shown." in response.text
    assert f'href="{url}"' in response.text
    assert not Assignment.objects.exists()


def test_locked_api_submit_gives_json_503(pairwise_study, annotator, short_busy_timeout):
    assignment = next_assignment(pairwise_study, annotator)
    api = APIClient()
    api.force_login(annotator)
    url = f"/api/v1/annotate/studies/{pairwise_study.uuid}/tasks/{assignment.uuid}/submit/"
    answers = {criterion.name: "A" for criterion in pairwise_study.criteria.all()}

    with write_lock_held():
        response = api.post(url, {"answers": answers}, format="json")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    body = response.json()
    assert body["detail"].startswith("The server is busy, so the request changed nothing.")
    assert body["errors"] == [{"field": None, "message": body["detail"], "code": "database_busy"}]
    assert not Judgment.objects.exists()


def test_other_operational_error_passes_through(db):
    # A real OperationalError of the database in use that is not SQLITE_BUSY.
    statement = "SELECT * FROM no_such_table"
    if connection.vendor == "postgresql":
        statement = "SET LOCAL statement_timeout = '10ms'; SELECT pg_sleep(1)"
    with pytest.raises(OperationalError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    middleware = DatabaseBusyMiddleware(lambda request: None)

    assert not is_database_locked(caught.value)
    assert middleware.process_exception(RequestFactory().post("/"), caught.value) is None


def test_locked_error_recognised(short_busy_timeout):
    connection.ensure_connection()
    with write_lock_held(), pytest.raises(OperationalError) as caught, transaction.atomic():
        pass

    assert str(caught.value) == "database is locked"
    assert is_database_locked(caught.value)


def _request_with_changed_session(path):
    """Return a POST to `path` whose stored session has just been changed, as signing in changes it."""
    from importlib import import_module

    from django.conf import settings

    request = RequestFactory().post(path)
    request.session = import_module(settings.SESSION_ENGINE).SessionStore()
    request.session.create()
    request.session["_auth_user_id"] = "1"
    return request


def test_locked_session_save_gives_503(short_busy_timeout, caplog):
    from django.contrib.sessions.exceptions import SessionInterrupted
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.urls import get_resolver

    request = _request_with_changed_session(reverse("login"))
    middleware = SessionMiddleware(lambda request: None)
    with write_lock_held(), pytest.raises(SessionInterrupted) as raised:
        middleware.process_response(request, HttpResponse("signed in"))
    handler = get_resolver().resolve_error_handler(400)

    with caplog.at_level(logging.WARNING):
        response = handler(request, raised.value)

    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "you are not signed in" in response.content.decode()
    warnings = [record for record in caplog.records if record.name == "humeval.database_busy"]
    assert len(warnings) == 1
    assert "session save" in warnings[0].getMessage()


def test_deleted_session_still_gives_400(short_busy_timeout):
    from django.contrib.sessions.exceptions import SessionInterrupted
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.urls import get_resolver

    request = _request_with_changed_session("/")
    # Another request logged out meanwhile: the row is gone, so the save has nothing to update.
    request.session.delete(request.session.session_key)
    middleware = SessionMiddleware(lambda request: None)
    with pytest.raises(SessionInterrupted) as raised:
        middleware.process_response(request, HttpResponse("ok"))

    response = get_resolver().resolve_error_handler(400)(request, raised.value)

    assert response.status_code == 400


def test_locked_sign_in_gives_503(client, annotator, short_busy_timeout):
    annotator.set_password("correct horse battery staple")
    annotator.save()

    with write_lock_held():
        response = client.post(
            reverse("login"), {"username": annotator.username, "password": "correct horse battery staple"}
        )

    assert response.status_code == 503
    assert "you are not signed in" in response.text
    assert "_auth_user_id" not in client.session
