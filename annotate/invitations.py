"""Bring annotators into a study: a pasted list of accounts, or a sign-up link.

New accounts made from a pasted list get no password. The admin hands each
new annotator a "set your password" link instead, made with Django's
password-reset tokens, so the admin never sees or sends a password that
stays valid. Such a link works once (the token covers the password hash,
which changes when it is used) and only for PASSWORD_RESET_TIMEOUT
seconds (3 days by default).

The sign-up link is `/signup/<token>/` with the study's `signup_token`; an
empty token turns the link off.
"""

import logging
import re
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from annotate.errors import InvalidInvitation
from annotate.models import Study

logger = logging.getLogger(__name__)

# One paste is validated and saved in one request and one transaction.
MAX_INVITATION_LINES = 1000

# A line contains a username, optionally followed by an e-mail address. Commas,
# semicolons, tabs and spaces all separate the two, so a column pasted from
# a spreadsheet works.
_SEPARATORS = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class InvitationLine:
    number: int
    username: str
    email: str


@dataclass(frozen=True)
class InvitedAnnotator:
    """The outcome for one pasted line.

    `set_password_path` is the path of a fresh "set your password" link, or
    "" when the account already has a password (or the admin may not make
    one).
    """

    line: int
    username: str
    email: str
    is_new_account: bool
    was_member: bool
    set_password_path: str


def parse_invitation_lines(text: str) -> list[InvitationLine]:
    """Split a pasted list into lines of a username and an optional e-mail address.

    Blank lines are skipped. Raises InvalidInvitation with one message per
    bad line: a malformed username or e-mail address, extra text, a username
    that repeats an earlier line, or more than MAX_INVITATION_LINES lines.
    """
    username_field = get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD)
    lines, errors = [], []
    first_line_of = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        parts = [part for part in _SEPARATORS.split(raw.strip()) if part]
        if not parts:
            continue
        if len(parts) > 2:
            errors.append(
                _("Line %(line)d: write a username and at most one e-mail address; found “%(text)s”.")
                % {"line": number, "text": raw.strip()}
            )
            continue

        username = get_user_model().normalize_username(parts[0])
        email = parts[1] if len(parts) == 2 else ""
        try:
            username_field.clean(username, None)
        except ValidationError as error:
            errors.append(
                _("Line %(line)d: “%(username)s” is not a valid username. %(reason)s")
                % {"line": number, "username": username, "reason": " ".join(error.messages)}
            )
            continue
        if email:
            try:
                validate_email(email)
            except ValidationError:
                errors.append(
                    _("Line %(line)d: “%(email)s” is not a valid e-mail address.") % {"line": number, "email": email}
                )
                continue

        key = username.lower()
        if key in first_line_of:
            errors.append(
                _("Line %(line)d: “%(username)s” is already on line %(first)d.")
                % {"line": number, "username": username, "first": first_line_of[key]}
            )
            continue
        first_line_of[key] = number
        lines.append(InvitationLine(number=number, username=username, email=email))

    if len(lines) > MAX_INVITATION_LINES:
        errors.append(
            _("The list has %(count)d usernames; paste at most %(max)d at a time.")
            % {"count": len(lines), "max": MAX_INVITATION_LINES}
        )
    if not lines and not errors:
        errors.append(_("The list is empty; write one username per line."))
    if errors:
        raise InvalidInvitation(errors)
    return lines


def add_annotators(study: Study, text: str, *, can_create_accounts: bool) -> list[InvitedAnnotator]:
    """Add every account the pasted `text` names to `study`, creating the missing ones.

    All or nothing: when any line is bad, InvalidInvitation lists every bad
    line and nothing changes.

    1. Parse the lines (parse_invitation_lines).
    2. Match each username to an existing account, exactly. A username that
       differs from an account's only in letter case, an e-mail address that
       differs from the account's, or a new account when
       `can_create_accounts` is False, is an error.
    3. In one transaction, create the new accounts without a usable password
       and add every account to the study.
    4. Make a "set your password" link for each new account, and for each
       existing one that has never had a password or logged in.
    """
    lines = parse_invitation_lines(text)
    existing = _accounts_by_lower_name([line.username for line in lines])
    errors = []
    for line in lines:
        error = _line_error(line, existing, can_create_accounts)
        if error:
            errors.append(error)
    if errors:
        raise InvalidInvitation(errors)

    members = set(study.annotators.filter(pk__in=[user.pk for user in existing.values()]).values_list("pk", flat=True))
    try:
        with transaction.atomic():
            accounts = {}
            for line in lines:
                account = existing.get(line.username.lower())
                if account is None:
                    account = get_user_model().objects.create_user(line.username, email=line.email)
                accounts[line.number] = account
            study.annotators.add(*accounts.values())
    except IntegrityError as error:
        # Two admins pasted the same new username at once; the unique
        # username constraint kept one, and this whole list rolled back.
        raise InvalidInvitation(
            [_("An account with one of these usernames was created meanwhile; nothing was changed. Submit again.")]
        ) from error

    results = [_invited(line, accounts[line.number], existing, members, can_create_accounts) for line in lines]
    logger.info(
        "Added %d annotators to study %s: %d new accounts",
        len(results),
        study.uuid,
        sum(result.is_new_account for result in results),
    )
    return results


def _accounts_by_lower_name(usernames: list[str]) -> dict:
    """Return {lower-case username: account} for the accounts whose name matches one of `usernames` in any case."""
    lowered = {username.lower() for username in usernames}
    # NOTE: SQLite's lower() folds ASCII letters only, so on SQLite a name
    # differing from an account's only in a non-ASCII letter's case is not found here.
    accounts = get_user_model().objects.annotate(lower_name=Lower("username")).filter(lower_name__in=lowered)
    return {account.get_username().lower(): account for account in accounts}


def _line_error(line: InvitationLine, existing: dict, can_create_accounts: bool) -> str:
    account = existing.get(line.username.lower())
    if account is None:
        if can_create_accounts:
            return ""
        return _(
            "Line %(line)d: there is no account named “%(username)s”, and you may not create accounts. "
            "Ask a site admin to create it, or remove the line."
        ) % {"line": line.number, "username": line.username}
    if account.get_username() != line.username:
        return _(
            "Line %(line)d: an account named “%(existing)s” exists. Write the username exactly as that account "
            "spells it, or choose another."
        ) % {"line": line.number, "existing": account.get_username()}
    if line.email and account.email and account.email.lower() != line.email.lower():
        return _(
            "Line %(line)d: the account “%(username)s” has a different e-mail address. Check that it is the "
            "person you mean, and leave the e-mail out to add it as it is."
        ) % {"line": line.number, "username": line.username}
    return ""


def _invited(line, account, existing, members, can_create_accounts) -> InvitedAnnotator:
    is_new = line.username.lower() not in existing
    never_used = not account.has_usable_password() and account.last_login is None
    offer_link = is_new or (can_create_accounts and never_used)
    return InvitedAnnotator(
        line=line.number,
        username=account.get_username(),
        email=account.email,
        is_new_account=is_new,
        was_member=account.pk in members,
        set_password_path=set_password_path(account) if offer_link else "",
    )


def set_password_path(account) -> str:
    """Return the path of a one-time "set your password" link for `account` (Django's password reset)."""
    return reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(account.pk)),
            "token": default_token_generator.make_token(account),
        },
    )


def turn_on_signup(study: Study) -> bool:
    """Give `study` a sign-up token unless it has one; return True when a new token was made.

    An existing token is kept, so a link already handed out keeps working.
    """
    token = secrets.token_urlsafe(32)
    changed = Study.objects.filter(pk=study.pk, signup_token="").update(signup_token=token)
    study.refresh_from_db(fields=["signup_token"])
    if changed:
        logger.info("Turned on the sign-up link of study %s", study.uuid)
    return bool(changed)


def turn_off_signup(study: Study) -> bool:
    """Clear the sign-up token of `study`; return True when the link was on."""
    changed = Study.objects.filter(pk=study.pk).exclude(signup_token="").update(signup_token="")
    study.signup_token = ""
    if changed:
        logger.info("Turned off the sign-up link of study %s", study.uuid)
    return bool(changed)


def signup_path(study: Study) -> str:
    """Return the path of the study's sign-up link, or "" when the link is off."""
    if not study.signup_token:
        return ""
    return reverse("annotate:signup", kwargs={"token": study.signup_token})


def join_study(study: Study, user) -> bool:
    """Add `user` to the annotators of `study`; return False when they were one already."""
    if study.annotators.filter(pk=user.pk).exists():
        return False
    study.annotators.add(user)
    logger.info("User %s joined study %s through its sign-up link", user.pk, study.uuid)
    return True


def create_account_and_join(study: Study, signup_form) -> object:
    """Save the account of a valid sign-up form and add it to `study`, in one transaction.

    Raises IntegrityError when the username was taken after the form was
    validated; the view turns that into a form error.
    """
    with transaction.atomic():
        user = signup_form.save()
        study.annotators.add(user)
    logger.info("User %s signed up for study %s", user.pk, study.uuid)
    return user
