"""Pseudonyms for annotators in reports and exports.

Reports and exports name each annotator by a pseudonym such as
`annotator-3f9a1c2b7d`, so a file handed to an analyst carries no account
name. The pseudonym is an HMAC-SHA256 of the user id under a key derived
from SECRET_KEY (Django's `salted_hmac`), so it is:

- stable: the same person gets the same pseudonym in every report, export
  and session, and files from different days can be joined on it;
- different per installation, because each has its own SECRET_KEY;
- not reversible without the key. Rotating SECRET_KEY changes every
  pseudonym, so files written before and after no longer join.

Ten hex digits (40 bits) keep the chance that two of 10,000 annotators
share a pseudonym below 1 in 10,000.

A site admin (an active superuser) may ask for account names instead: the
report page's "Show account names" link (`?names=show`), `names=true` on
the API, or `manage.py export --names`. Anyone else who requests them gets
pseudonyms without an error. The page offers the link to site admins only,
and every export's sidecar states which kind of name it contains.

Code that builds a report runs inside `annotator_names_shown(...)` and
reads names through `annotator_label`, or the `annotator` property of a
report row, so the choice is made once per request. Rows keep the account
name internally, which lets a cached report serve both choices.
"""

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.utils.crypto import salted_hmac

PREFIX = "annotator-"
DIGITS = 10
# Changing the salt changes every pseudonym, like rotating SECRET_KEY.
_SALT = "humeval.annotate.pseudonyms.annotator"

# The query option of pages and downloads, as in `?names=show`.
NAMES_OPTION = "names"
SHOW_NAMES = "show"

_names_shown: ContextVar[bool] = ContextVar("annotator_names_shown", default=False)


def pseudonym(user_id: int) -> str:
    """Return the stable pseudonym of the user with primary key `user_id`."""
    digest = salted_hmac(_SALT, str(user_id), algorithm="sha256").hexdigest()
    return PREFIX + digest[:DIGITS]


def may_see_names(user) -> bool:
    """Tell whether `user` may ask for annotators' account names: only active site admins (superusers) may."""
    return bool(user is not None and user.is_active and user.is_superuser)


def names_for(user, requested: bool) -> bool:
    """Return True when `user` asked for account names and may see them; a request from anyone else is ignored."""
    return bool(requested) and may_see_names(user)


def names_requested(request) -> bool:
    """Return True when the request carries `?names=show` and its user is a site admin."""
    return names_for(request.user, request.GET.get(NAMES_OPTION) == SHOW_NAMES)


def with_annotator_naming(view):
    """Decorate a view so it runs inside `annotator_names_shown(names_requested(request))`.

    A TemplateResponse (the admin's) is rendered inside the block, because
    it would otherwise render after the view returns, with pseudonyms.
    A streamed file is written after the view returns too, so a view that
    streams must read `names_are_shown()` itself and pass it on.
    """

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        with annotator_names_shown(names_requested(request)):
            response = view(request, *args, **kwargs)
            if callable(getattr(response, "render", None)) and not getattr(response, "is_rendered", True):
                response.render()
        return response

    return wrapped


@contextmanager
def annotator_names_shown(shown: bool = True) -> Iterator[None]:
    """Name annotators by account name (`shown`) or by pseudonym inside the block."""
    token = _names_shown.set(shown)
    try:
        yield
    finally:
        _names_shown.reset(token)


def names_are_shown() -> bool:
    """Tell whether the enclosing `annotator_names_shown` block shows account names; False outside any block."""
    return _names_shown.get()


def annotator_label(user_id: int, username: str) -> str:
    """Return the name reports show for an annotator: the pseudonym, or the account name inside a names block."""
    return username if names_are_shown() else pseudonym(user_id)


class AnnotatorLabels:
    """Annotator names for one export, with each pseudonym computed once.

    An export's rows repeat a few hundred annotators up to millions of
    times, so each HMAC is computed once per annotator, not once per row.
    The choice is fixed when the export starts (`names`), because a
    streamed file is written after the view that started it has returned.
    """

    def __init__(self, names: bool):
        self.names = names
        self._pseudonyms: dict[int, str] = {}

    def label(self, user_id: int, username: str) -> str:
        """Return the account name when names were asked for, else the pseudonym of `user_id`."""
        if self.names:
            return username
        known = self._pseudonyms.get(user_id)
        if known is None:
            known = self._pseudonyms[user_id] = pseudonym(user_id)
        return known


@dataclass(frozen=True)
class NamedAnnotator:
    """An annotator in a computed figure, shown as `annotator_label` gives when it is turned into text.

    Figures such as Cohen's kappa name the two annotators they compare.
    Keeping the id and the account name, and choosing between pseudonym
    and name only when the figure is shown, lets one computed report
    serve a site admin who asked for names and everyone else.
    """

    user_id: int
    username: str

    def __str__(self) -> str:
        return annotator_label(self.user_id, self.username)


def naming_description(names: bool) -> str:
    """Describe, in English for a sidecar file, which kind of name the `annotator` column holds."""
    if names:
        return "account usernames, as requested by a site admin"
    return f"stable pseudonyms ({PREFIX} followed by {DIGITS} hex digits of an HMAC of the user id)"
