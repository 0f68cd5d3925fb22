"""Django's username and password backend, with failed log-ins throttled.

Every password log-in goes through here: the log-in page, the admin's
log-in page and the API's token endpoint. humeval.login_throttle counts the
attempts.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from humeval import login_throttle
from humeval.prepared import prepared


class LoginThrottled(PermissionDenied):
    """Too many failed log-ins for this username or client address; the password was not checked."""


class ThrottledModelBackend(ModelBackend):
    def get_user(self, user_id):
        """Return the active user with `user_id`, or None, as ModelBackend does, with the query written out.

        Every signed-in request runs it. Through the ORM it took about 0.27
        ms of CPU, against about 0.12 ms in hand-written SQL (docs/benchmarks.md,
        "Annotation load").
        """
        user_model = get_user_model()
        sql = f"SELECT * FROM {user_model._meta.db_table} WHERE {user_model._meta.pk.column} = %s"
        user = next(iter(user_model._default_manager.raw(prepared(sql), [user_id])), None)
        if user is None:
            return None
        return user if self.user_can_authenticate(user) else None

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None

        attempt = login_throttle.begin_attempt(request, username)
        if attempt is None:
            # PermissionDenied makes django.contrib.auth.authenticate() stop
            # and return None without trying any other backend.
            raise LoginThrottled()

        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_throttle.record_failure(attempt)
        else:
            login_throttle.record_success(attempt)
        return user
