"""The password reset request page: Django's view, with a limit on reset e-mails.

Without a limit, anyone could fill a person's inbox with reset e-mails.
Requests are counted per e-mail address and per client address in buckets
of an hour, whether or not an account has the address, so reaching the
limit reveals nothing about which addresses have accounts.
"""

import hashlib
import logging

from django.contrib.auth import views as auth_views
from django.utils.translation import gettext_lazy as _

from humeval import login_throttle

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 3600
LIMIT_PER_EMAIL = 3
LIMIT_PER_CLIENT_ADDRESS = 10


def _count_request(scope: str, identity: str) -> int:
    bucket = int(login_throttle.clock() // WINDOW_SECONDS)
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]
    return login_throttle.increment(f"password-reset:{scope}:{digest}:{bucket}", WINDOW_SECONDS + 60)


def request_allowed(request, email: str) -> bool:
    """Count one reset request for `email` and the client's address; return False past either limit."""
    allowed = _count_request("email", email.casefold()) <= LIMIT_PER_EMAIL
    address = login_throttle.client_address(request)
    if address and _count_request("address", address) > LIMIT_PER_CLIENT_ADDRESS:
        allowed = False
    if not allowed:
        logger.warning("Password reset request from address %s rejected: over the hourly limit", address)
    return allowed


class PasswordResetView(auth_views.PasswordResetView):
    email_template_name = "registration/password_reset_email.txt"

    def form_valid(self, form):
        if not request_allowed(self.request, form.cleaned_data["email"]):
            form.add_error(None, _("Too many password reset requests. Try again in an hour."))
            return self.form_invalid(form)
        return super().form_valid(form)
