"""Erase an annotator's personal data while their judgments stay, under their pseudonym.

After erasure the account still exists, because judgments point at it and
every report figure must stay the same, but it no longer identifies the
person:

- the username becomes the annotator's pseudonym (annotate.pseudonyms),
  the name reports and exports already show, so files written before and
  after erasure still join on it;
- the e-mail address, first name and last name are blanked;
- the password is made unusable and the account inactive (and no longer
  staff), so nobody can log in as it again, and its API tokens and open
  sessions are deleted;
- the admin's history entries and audit events about the account show
  the pseudonym instead of the old username.

Kept on purpose: judgments with their rationales, times on task and
flags, skips, leases and the study memberships. Rationales are free text
and could name their writer, but they are study data: an analysis that
drops them would change what the study measured. A site admin who finds
one that identifies its writer should edit it by hand. The join and login
dates stay too; they are not personal data on their own.

Erasure is idempotent: running it again on an erased account changes
nothing and records nothing. Each erasure that changed something is
recorded in the audit log under the pseudonym, never the old username.
"""

import logging
from dataclasses import dataclass

from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from annotate.audit import record_event
from annotate.models import AuditAction, AuditEvent
from annotate.pseudonyms import pseudonym

logger = logging.getLogger(__name__)


class ErasureRefused(Exception):
    """Raised when an account cannot be erased; the message gives the reason and the next step."""


@dataclass(frozen=True)
class ErasureResult:
    """Outcome of one erasure. `changed` is False when the account had been erased before."""

    pseudonym: str
    changed: bool
    sessions_deleted: int
    tokens_deleted: int


def find_account(name: str):
    """Return the account whose username is `name`; raise ErasureRefused if there is none.

    An erased account's username is its pseudonym, so the name that exports
    show finds it too, and erasure can be run on it again.
    """
    user_model = get_user_model()
    account = user_model.objects.filter(**{user_model.USERNAME_FIELD: name}).first()
    if account is not None:
        return account
    raise ErasureRefused(_("No account has the username “%(name)s”. Check the spelling.") % {"name": name})


def erase_annotator(user, actor=None) -> ErasureResult:
    """Erase the personal data of `user`, keeping their judgments; record it as done by `actor`.

    1. Refuse a site admin (superuser), who must lose that status first,
       so nobody erases the last admin by mistake.
    2. In one transaction: rename the account to its pseudonym, blank
       e-mail and names, make the password unusable, deactivate it,
       delete its tokens and sessions, and rewrite the admin history and
       audit entries about it.
    3. Record the erasure in the audit log when anything changed.
    """
    if user.is_superuser:
        raise ErasureRefused(
            _("“%(name)s” is a site admin. Remove the site admin status first, then erase the account.")
            % {"name": user.get_username()}
        )
    new_name = pseudonym(user.pk)
    user_model = get_user_model()
    taken = user_model.objects.filter(**{user_model.USERNAME_FIELD: new_name}).exclude(pk=user.pk).exists()
    if taken:
        raise ErasureRefused(
            _("Another account is already named “%(name)s”. Rename that account, then erase again.")
            % {"name": new_name}
        )

    with transaction.atomic():
        # Lock the row: two admins erasing at once must not both count as the change.
        user = user_model.objects.select_for_update().get(pk=user.pk)
        changed = _blank_account(user, new_name)
        sessions = _delete_sessions(user.pk)
        tokens, _deleted_by_kind = Token.objects.filter(user=user).delete()
        _rewrite_history(user, new_name)
        if changed or sessions or tokens:
            record_event(
                actor,
                AuditAction.ERASED,
                user,
                {"sessions_deleted": sessions, "tokens_deleted": tokens},
            )

    logger.info("Erased the personal data of user %s (changed: %s)", user.pk, changed)
    return ErasureResult(new_name, changed, sessions, tokens)


def _blank_account(user, new_name: str) -> bool:
    """Overwrite the account's identifying fields and save it; return False, saving nothing, if already erased."""
    erased = (
        user.get_username() == new_name
        and not (user.email or user.first_name or user.last_name)
        and not user.is_active
        and not user.is_staff
        and not user.has_usable_password()
    )
    if erased:
        return False

    setattr(user, user.USERNAME_FIELD, new_name)
    user.email = ""
    user.first_name = ""
    user.last_name = ""
    user.is_active = False
    user.is_staff = False
    user.set_unusable_password()
    user.save()
    return True


def _delete_sessions(user_id: int) -> int:
    """Delete the user's unexpired database sessions and return how many there were.

    Sessions store the user id inside their encoded data, so each one is
    decoded. That reads every unexpired session once, which is acceptable
    for an occasional admin task.
    """
    doomed = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.get_decoded().get("_auth_user_id") == str(user_id):
            doomed.append(session.pk)
    deleted, _deleted_by_kind = Session.objects.filter(pk__in=doomed).delete()
    return deleted


def _rewrite_history(user, new_name: str) -> None:
    """Replace the old username in the admin's history and the audit log with the pseudonym."""
    content_type = ContentType.objects.get_for_model(user)
    LogEntry.objects.filter(content_type=content_type, object_id=str(user.pk)).update(object_repr=new_name)
    AuditEvent.objects.filter(object_type=user._meta.label_lower, object_id=str(user.pk)).update(object_repr=new_name)
