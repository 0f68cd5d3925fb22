"""Return 503 instead of 500 when SQLite's write lock stays taken longer than the busy timeout.

In the embedded set-up (a SQLite file, `manage.py runserver`) every
transaction begins IMMEDIATE, so a writer waits for the database's single
write lock for up to the connection's `timeout` (humeval/settings.py), and
then SQLite raises SQLITE_BUSY, "database is locked". Under heavy load that
is a transient state, not a server fault. Pages get a 503 that says nothing
was saved and to try again; the API gets the same as JSON with a
Retry-After header. Every other OperationalError goes on to Django's
ordinary 500 handling.

Nothing partial is stored because each view writes inside one atomic block
(annotate.assignment, annotate.revision, annotate.skipping), which rolls
back as the error leaves it, before this middleware sees the error.
SessionMiddleware does not save the session of a response of 500 or above.
Only errors raised by a view reach process_exception. SessionMiddleware
saves a changed session (a sign-in, for one) after the view, and Django
turns any database error of that save into SessionInterrupted, a 400
saying the session was deleted by another request. `bad_request`, the
site's 400 handler (humeval/urls.py), gives the 503 instead when the
busy lock caused it. A busy error in any other middleware still gives
Django's 500 page.
"""

import logging
import sqlite3

from django.contrib.sessions.exceptions import SessionInterrupted
from django.db import OperationalError, connection
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext
from django.views import defaults

logger = logging.getLogger(__name__)

# Seconds a client is asked to wait before it sends the request again: a few
# times the length of a typical write, not a measured figure.
RETRY_AFTER_SECONDS = 5

# Methods that ask for a page and, by HTTP's rules, change nothing; other
# methods carry something to save.
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


def is_database_locked(error: BaseException) -> bool:
    """Return whether `error` is SQLite's SQLITE_BUSY ("database is locked") as Django raises it."""
    if not isinstance(error, OperationalError):
        return False
    cause = error.__cause__
    if not isinstance(cause, sqlite3.OperationalError):
        return False
    # sqlite_errorcode contains the extended code (such as SQLITE_BUSY_SNAPSHOT);
    # its low byte is the primary code.
    code = getattr(cause, "sqlite_errorcode", None)
    if code is None:
        return str(cause) == "database is locked"
    return code & 0xFF == sqlite3.SQLITE_BUSY


class DatabaseBusyMiddleware:
    """Turn a view's SQLite "database is locked" error into a 503 page, or a JSON 503 under /api/."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_database_locked(exception):
            return None
        return busy_response(request, "a view")


def bad_request(request, exception):
    """Show Django's 400 page, or the busy 503 when SQLite's lock made the session save fail after the view."""
    if isinstance(exception, SessionInterrupted) and _raised_by_database_lock(exception):
        return busy_response(request, "the session save")
    return defaults.bad_request(request, exception)


def _raised_by_database_lock(error: BaseException) -> bool:
    """Return whether `error` was raised while handling SQLite's busy error, however many errors lie between."""
    seen = set()
    while error is not None and id(error) not in seen:
        if is_database_locked(error):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def busy_response(request, where: str) -> HttpResponse:
    """Log the busy lock and return the 503 for `request`: JSON under /api/, a page elsewhere."""
    logger.warning(
        "Database busy in %s: returned 503 to %s %s after waiting %s s for SQLite's write lock",
        where,
        request.method,
        request.path,
        connection.settings_dict.get("OPTIONS", {}).get("timeout", "the default"),
    )
    if request.path_info.startswith("/api/"):
        response = _api_response()
    else:
        response = _page_response(request)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    # The warning above is the log line of this response. Without the
    # flag, django.utils.log.log_response (Django 5.2) would log every
    # 5xx response again at ERROR. The flag is private to Django.
    response._has_been_logged = True
    return response


def _api_response() -> JsonResponse:
    # The shape of every API error body (humeval.api).
    message = gettext("The server is busy, so the request changed nothing. Send it again in %(seconds)d seconds.") % {
        "seconds": RETRY_AFTER_SECONDS
    }
    body = {"detail": message, "errors": [{"field": None, "message": message, "code": "database_busy"}]}
    return JsonResponse(body, status=503)


def _page_response(request) -> HttpResponse:
    # Rendered without a request context, like 500.html: the user and
    # the messages would need the database again.
    context = {
        "was_saving": request.method not in _SAFE_METHODS,
        "was_signing_in": request.path_info == reverse("login"),
    }
    if not context["was_saving"]:
        context["retry_url"] = request.get_full_path()
    return HttpResponse(render_to_string("503.html", context), status=503)
