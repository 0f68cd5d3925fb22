"""Log-in forms that say when log-ins are throttled, for the site's log-in page and the admin's."""

import math

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from humeval import login_throttle


class ThrottleMessageMixin:
    """Replace the "wrong password" error with a "try again later" one while log-ins are refused."""

    def get_invalid_login_error(self):
        wait = login_throttle.seconds_until_allowed(self.request, self.cleaned_data.get("username"))
        if not wait:
            return super().get_invalid_login_error()
        minutes = math.ceil(wait / 60)
        message = ngettext(
            "Too many failed log-in attempts. Try again in %(minutes)d minute, or reset your password.",
            "Too many failed log-in attempts. Try again in %(minutes)d minutes, or reset your password.",
            minutes,
        ) % {"minutes": minutes}
        return forms.ValidationError(message, code="throttled")


class LoginForm(ThrottleMessageMixin, AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("Your username and password did not match. Please try again."),
    }


class AdminLoginForm(ThrottleMessageMixin, AdminAuthenticationForm):
    pass
