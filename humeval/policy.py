"""Who may do what: the authorisation policy as one table of (role, action, object kind, scope).

Views, the admin, the REST API and the authorisation matrix test all read
`POLICY`; nothing else decides access. Fetching objects scoped to a user
goes through `scope_filter` (and the helpers in annotate.access built on
it), so a user sees only the rows the table grants.

Roles, as a user holds them (one user may hold several):

- site admin: a superuser. Every action on every kind of object.
- study manager: a staff user. Reads and manages only the studies that list
  them in `Study.managers`, with those studies' items, gold answers,
  assignments, judgments, annotators, progress pages, reports and exports.
  A staff user who creates a study becomes one of its managers.
- annotator: any signed-in user. Takes tasks only in studies they belong to
  (`Study.annotators`) and sees or changes only their own judgments.
- anonymous: nobody signed in. Public pages only (sign-in, sign-up links,
  password reset, the API schema).

Shared generation objects: models, prompt sets with their prompts and
content warnings, generation runs with their responses, and benchmark
results belong to no study, and several studies may use one run. Study
managers register models, import prompts, start runs and import responses
and benchmark results, so they may view, create and change every such
object. Deleting one is for site admins only, because another manager's
study may depend on it. Deleting a study, which deletes its judgments, is
also for site admins only.

Accounts: managers add existing accounts to their studies, or turn on a
study's sign-up link so that annotators make their own. Creating accounts
while adding annotators, changing users, groups and API tokens, and reading
the audit log are for site admins only.
"""

from dataclasses import dataclass
from enum import StrEnum

from django.db.models import Q


class Role(StrEnum):
    SITE_ADMIN = "site admin"
    MANAGER = "study manager"
    ANNOTATOR = "annotator"
    ANONYMOUS = "anonymous"


class Action(StrEnum):
    VIEW = "view"
    CREATE = "create"
    CHANGE = "change"
    DELETE = "delete"
    # Take a task, submit or skip it, and read or revise one's own judgment.
    ANNOTATE = "annotate"


class Kind(StrEnum):
    """The kinds of object the policy grants actions on."""

    STUDY = "study"  # a study with its criteria, status, sign-up link and progress
    ITEM = "item"  # items of a study, their gold answers and attention checks
    ASSIGNMENT = "assignment"  # leases of items to annotators
    JUDGMENT = "judgment"  # judgments with their criterion answers
    ANNOTATOR = "annotator"  # a study's annotators: membership, exclusion, pause, quality figures
    REPORT = "report"  # report pages, report API and every CSV or JSON export of a study
    GENERATION = "generation"  # models, prompt sets, prompts, runs, responses, benchmarks, content warnings
    ANNOTATOR_ACCOUNT = "annotator account"  # accounts created while adding annotators to a study
    ACCOUNT = "account"  # users, groups and API tokens
    AUDIT_LOG = "audit log"
    PUBLIC = "public page"  # sign-in, sign-up, password reset, language switch, API schema


class Scope(StrEnum):
    """The objects of a kind that a rule covers."""

    ALL = "all"
    MANAGED = "managed"  # objects of studies that list the user in `managers`
    MEMBER = "member"  # objects of studies that list the user in `annotators`
    OWN = "own"  # the user's own objects in studies they belong to


@dataclass(frozen=True)
class Rule:
    role: Role
    action: Action
    kind: Kind
    scope: Scope


_STUDY_KINDS = (Kind.STUDY, Kind.ITEM, Kind.ASSIGNMENT, Kind.JUDGMENT, Kind.ANNOTATOR, Kind.REPORT)
_ALL_ACTIONS = (Action.VIEW, Action.CREATE, Action.CHANGE, Action.DELETE)


def _rules(role: Role, actions, kinds, scope: Scope) -> list[Rule]:
    return [Rule(role, action, kind, scope) for kind in kinds for action in actions]


POLICY: tuple[Rule, ...] = tuple(
    [
        # Site admins: everything, everywhere.
        *_rules(Role.SITE_ADMIN, _ALL_ACTIONS, _STUDY_KINDS, Scope.ALL),
        *_rules(Role.SITE_ADMIN, _ALL_ACTIONS, (Kind.GENERATION, Kind.ACCOUNT, Kind.AUDIT_LOG), Scope.ALL),
        Rule(Role.SITE_ADMIN, Action.CREATE, Kind.ANNOTATOR_ACCOUNT, Scope.ALL),
        # Study managers: their own studies and what belongs to them.
        Rule(Role.MANAGER, Action.CREATE, Kind.STUDY, Scope.ALL),
        *_rules(Role.MANAGER, (Action.VIEW, Action.CHANGE), (Kind.STUDY, Kind.ITEM, Kind.ASSIGNMENT), Scope.MANAGED),
        Rule(Role.MANAGER, Action.VIEW, Kind.JUDGMENT, Scope.MANAGED),
        *_rules(Role.MANAGER, _ALL_ACTIONS, (Kind.ANNOTATOR,), Scope.MANAGED),
        Rule(Role.MANAGER, Action.VIEW, Kind.REPORT, Scope.MANAGED),
        *_rules(Role.MANAGER, (Action.VIEW, Action.CREATE, Action.CHANGE), (Kind.GENERATION,), Scope.ALL),
        # Annotators (every signed-in user, staff included): tasks of their studies, their own judgments.
        Rule(Role.ANNOTATOR, Action.ANNOTATE, Kind.STUDY, Scope.MEMBER),
        Rule(Role.ANNOTATOR, Action.ANNOTATE, Kind.ASSIGNMENT, Scope.OWN),
        Rule(Role.ANNOTATOR, Action.ANNOTATE, Kind.JUDGMENT, Scope.OWN),
        # Public pages, for everyone.
        *[Rule(role, Action.VIEW, Kind.PUBLIC, Scope.ALL) for role in Role],
    ]
)

# The path from each study-bound kind to its study, and the field that names the owner.
STUDY_PATH = {
    Kind.STUDY: "pk",
    Kind.ITEM: "study",
    Kind.ASSIGNMENT: "item__study",
    Kind.JUDGMENT: "item__study",
    Kind.ANNOTATOR: "study",
    Kind.REPORT: "pk",
}
OWNER_PATH = {Kind.ASSIGNMENT: "annotator", Kind.JUDGMENT: "annotator"}


def roles_of(user) -> frozenset[Role]:
    """Return every role `user` holds: anonymous alone, or annotator plus manager (staff) and site admin."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset({Role.ANONYMOUS})
    roles = {Role.ANNOTATOR}
    if user.is_staff:
        roles.add(Role.MANAGER)
    if user.is_superuser:
        roles.add(Role.SITE_ADMIN)
    return frozenset(roles)


def scopes_for(user, action: Action, kind: Kind) -> frozenset[Scope]:
    """Return the scopes in which the table lets `user` take `action` on objects of `kind`."""
    roles = roles_of(user)
    return frozenset(
        rule.scope for rule in POLICY if rule.role in roles and rule.action == action and rule.kind == kind
    )


def allows(user, action: Action, kind: Kind) -> bool:
    """Tell whether `user` may take `action` on at least some objects of `kind`.

    For lists and create forms, which name no object. An object in a list
    must still pass `scope_filter`.
    """
    return bool(scopes_for(user, action, kind))


def scope_filter(user, action: Action, kind: Kind, study_path: str | None = None) -> Q | None:
    """Return a filter for the objects of `kind` on which `user` may take `action`.

    None means every object. A filter that matches nothing is returned when
    the table grants nothing, so callers can always apply the result.
    `study_path` overrides the kind's path to its study: "pk" filters the
    studies themselves, such as the studies whose items a user may change.
    An own-objects rule then keeps the studies the user belongs to.
    """
    scopes = scopes_for(user, action, kind)
    if Scope.ALL in scopes:
        return None
    study_path = study_path or STUDY_PATH.get(kind)
    condition = Q(pk__in=[])
    if study_path is None:
        return condition
    if Scope.MANAGED in scopes:
        condition |= Q(**{f"{study_path}__in": user.managed_studies.values("pk")})
    if Scope.MEMBER in scopes:
        condition |= Q(**{f"{study_path}__in": user.annotated_studies.values("pk")})
    if Scope.OWN in scopes:
        own = Q(**{f"{study_path}__in": user.annotated_studies.values("pk")})
        if kind in OWNER_PATH and study_path == STUDY_PATH[kind]:
            own &= Q(**{OWNER_PATH[kind]: user})
        condition |= own
    return condition


def scope(queryset, user, action: Action, kind: Kind):
    """Return `queryset` narrowed to the objects of `kind` on which `user` may take `action`."""
    condition = scope_filter(user, action, kind)
    return queryset if condition is None else queryset.filter(condition)
