"""Authorisation matrix: every URL of the site against every role, with wrong methods and bad ids.

The test walks the whole URL configuration (pages, admin, REST API) and
fails on a URL pattern that has no row in `ROWS` or `ADMIN_MODELS`, so a new
endpoint must say who may use it before it can ship.

Each row names the policy action and object kind a request takes (from
humeval.policy) and the object its URL names. The expected outcome for each
persona comes from the policy table:

- allowed: any answer but 401, 403, 404, 405 or a server error;
- denied on a URL that names an object: the same answer as for an id that
  does not exist (404; the admin's change and history pages redirect with a
  "does not exist" message instead);
- denied on a collection (a list or create URL): 403;
- anonymous: the sign-in page, or 401 from the API.

Each request runs in a transaction that is rolled back afterwards, so a
write allowed for one persona does not change what the next one sees.
"""

import copy
import uuid
from dataclasses import dataclass, field

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.authtoken.models import Token, TokenProxy

from annotate.access import studies_for
from annotate.assignment import next_assignment, submit_judgment
from annotate.invitations import turn_on_signup
from annotate.items import open_study
from annotate.models import (
    AnnotatorStatus,
    Assignment,
    AssignmentStatus,
    AuditAction,
    AuditEvent,
    ContentWarning,
    Item,
    Judgment,
    Study,
)
from generation.models import BenchmarkResult, BenchmarkRun, GenerationRun, LanguageModel, Prompt, PromptSet, Response
from humeval.policy import Action, Kind, allows, scope
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = pytest.mark.django_db

PERSONAS = ["site_admin", "manager", "other_manager", "annotator", "other_annotator", "anonymous"]
STAFF = ["site_admin", "manager", "other_manager"]
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

# Outcomes that are not "allowed": the expectation names one of these.
LOGIN = "login"  # a page redirects to the sign-in page; the API answers 401
ADMIN_LOGIN = "admin login"  # the admin redirects to its own sign-in page
MISSING = "missing"  # 404
ADMIN_MISSING = "admin missing"  # the admin's "does not exist" redirect to its index
FORBIDDEN = "forbidden"  # 403
ALLOWED = "allowed"
REDIRECT = "redirect"  # any redirect, for URLs that only forward


@dataclass(frozen=True)
class Row:
    """Who may use one URL pattern: the policy kind, the action per HTTP method, and the object the URL names.

    `target` is None for a collection URL (a list, a create form), else the
    fixture attribute of the object whose scope decides (a study, an item,
    an assignment, a judgment). `params` builds the URL's keyword arguments
    from the fixture. `kind=None` marks a URL outside the table; `fixed`
    then gives each persona's outcome.
    """

    methods: dict
    kind: Kind | None = None
    target: str | None = None
    params: object = None
    missing: str = MISSING
    fixed: dict = field(default_factory=dict)
    area: str = "page"  # "page", "api" or "admin": how anonymous users are turned away


def _study(f):
    return {"study_uuid": f.study.uuid}


def _table_export(f):
    return {"study_uuid": f.study.uuid, "what": "agreement", "file_format": "csv"}


def _study_as_uuid(f):
    return {"uuid": f.study.uuid}


def _api_table_export(f):
    return {"uuid": f.study.uuid, "table": "judgments", "file_format": "jsonl"}


def _item(f):
    return {"study_uuid": f.study.uuid, "uuid": f.item.uuid}


def _annotator(f):
    return {"study_uuid": f.study.uuid, "username": f.users["annotator"].username}


def _task(f):
    return {"study_uuid": f.study.uuid, "uuid": f.leased.uuid}


def _task_page(f):
    return {"study_uuid": f.study.uuid, "assignment_uuid": f.leased.uuid}


def _judgment(f):
    return {"study_uuid": f.study.uuid, "uuid": f.judgment.uuid}


def _judgment_page(f):
    return {"study_uuid": f.study.uuid, "judgment_uuid": f.judgment.uuid}


def _model(f):
    return {"uuid": f.model.uuid}


def _prompt_set(f):
    return {"uuid": f.prompt_set.uuid}


def _run(f):
    return {"uuid": f.run.uuid}


def _token(f):
    return {"token": f.study.signup_token}


V, C, U, ANN = Action.VIEW, Action.CREATE, Action.CHANGE, Action.ANNOTATE
SIGNED_IN = {"anonymous": LOGIN}  # any signed-in user, from the table's public rows


def _api(methods, kind=None, target=None, params=None, **kwargs):
    return Row(methods, kind, target, params, area="api", **kwargs)


ROWS = {
    # Public pages: sign-in, password reset, language, sign-up links.
    "login": Row({"GET": V, "POST": V}, Kind.PUBLIC),
    "logout": Row({"POST": V}, Kind.PUBLIC),
    "password_change": Row({"GET": V, "POST": V}, fixed=SIGNED_IN),
    "password_change_done": Row({"GET": V}, fixed=SIGNED_IN),
    "password_reset": Row({"GET": V, "POST": V}, Kind.PUBLIC),
    "password_reset_done": Row({"GET": V}, Kind.PUBLIC),
    "password_reset_confirm": Row({"GET": V}, Kind.PUBLIC, params=lambda f: {"uidb64": "MQ", "token": "x-y"}),
    "password_reset_complete": Row({"GET": V}, Kind.PUBLIC),
    "set_language": Row({"POST": V}, Kind.PUBLIC),
    "annotate:signup": Row({"GET": V, "POST": V}, Kind.PUBLIC, params=_token),
    "annotate:signup_join": Row({"POST": V}, Kind.PUBLIC, params=_token),
    # Annotator pages.
    "annotate:home": Row({"GET": V}, fixed=SIGNED_IN),
    "annotate:instructions": Row({"GET": ANN}, Kind.STUDY, "study", _study),
    "annotate:next_task": Row({"GET": ANN}, Kind.STUDY, "study", _study),
    "annotate:task": Row({"GET": ANN}, Kind.ASSIGNMENT, "leased", _task_page),
    "annotate:submit": Row({"POST": ANN}, Kind.ASSIGNMENT, "leased", _task_page),
    "annotate:skip": Row({"POST": ANN}, Kind.ASSIGNMENT, "leased", _task_page),
    "annotate:revise": Row({"GET": ANN}, Kind.JUDGMENT, "judgment", _judgment_page),
    "annotate:submit_revision": Row({"POST": ANN}, Kind.JUDGMENT, "judgment", _judgment_page),
    # Report pages and downloads.
    "reports:index": Row({"GET": V}, Kind.REPORT),
    # The combined report names its studies in the query string, so its URLs are collections here;
    # tests/reports/test_combined.py checks the studies each persona may combine.
    **{
        f"reports:{name}": Row({"GET": V}, Kind.REPORT)
        for name in ("combined", "combined_csv", "combined_csv_metadata")
    },
    **{
        f"reports:{name}": Row({"GET": V}, Kind.REPORT, "study", _study)
        for name in (
            "study",
            "judgments_csv",
            "judgments_csv_metadata",
            "gold_judgments_csv",
            "gold_judgments_csv_metadata",
            "rankings_csv",
            "rankings_csv_metadata",
            "rankings_json",
            "benchmarks_csv",
            "benchmarks_csv_metadata",
        )
    },
    **{
        f"reports:{name}": Row({"GET": V}, Kind.REPORT, "study", _table_export)
        for name in ("table_download", "table_metadata")
    },
    "reports:table_download": Row(
        {"GET": V}, Kind.REPORT, "study", lambda f: {**_study(f), "what": "judgments", "file_format": "csv"}
    ),
    "reports:table_metadata": Row(
        {"GET": V}, Kind.REPORT, "study", lambda f: {**_study(f), "what": "judgments", "file_format": "csv"}
    ),
    # REST API: shared generation objects.
    "api:api-root": _api({"GET": V}, fixed=SIGNED_IN),
    "api:schema": _api({"GET": V}, Kind.PUBLIC),
    "api:docs": _api({"GET": V}, Kind.PUBLIC),
    "api:token": _api({"POST": V}, Kind.PUBLIC),
    "api:model-list": _api({"GET": V, "POST": C}, Kind.GENERATION),
    "api:model-detail": _api({"GET": V, "PUT": U, "PATCH": U}, Kind.GENERATION, params=_model),
    "api:prompt-set-list": _api({"GET": V, "POST": C}, Kind.GENERATION),
    "api:prompt-set-detail": _api({"GET": V}, Kind.GENERATION, params=_prompt_set),
    "api:prompt-set-import": _api({"POST": C}, Kind.GENERATION, params=_prompt_set),
    "api:prompt-set-prompts": _api({"GET": V}, Kind.GENERATION, params=_prompt_set),
    "api:run-list": _api({"GET": V, "POST": C}, Kind.GENERATION),
    "api:run-import-responses": _api({"POST": C}, Kind.GENERATION),
    "api:run-detail": _api({"GET": V}, Kind.GENERATION, params=_run),
    "api:run-responses": _api({"GET": V}, Kind.GENERATION, params=_run),
    "api:run-start": _api({"POST": C}, Kind.GENERATION, params=_run),
    "api:benchmark-result-list": _api({"GET": V}, Kind.GENERATION),
    # REST API: the study manager's side.
    "api:study-list": _api({"GET": V, "POST": C}, Kind.STUDY),
    "api:study-detail": _api({"GET": V, "PUT": U, "PATCH": U}, Kind.STUDY, "study", _study_as_uuid),
    "api:study-open": _api({"POST": U}, Kind.STUDY, "study", _study_as_uuid),
    "api:study-pause": _api({"POST": U}, Kind.STUDY, "study", _study_as_uuid),
    "api:study-close": _api({"POST": U}, Kind.STUDY, "study", _study_as_uuid),
    "api:study-reopen": _api({"POST": U}, Kind.STUDY, "study", _study_as_uuid),
    "api:study-progress": _api({"GET": V}, Kind.STUDY, "study", _study_as_uuid),
    "api:study-signup-link": _api({"POST": U, "DELETE": U}, Kind.STUDY, "study", _study_as_uuid),
    "api:study-item-list": _api({"GET": V}, Kind.ITEM, "study", _study),
    "api:study-item-attention-checks": _api({"POST": U}, Kind.ITEM, "study", _study),
    "api:study-item-detail": _api({"GET": V}, Kind.ITEM, "item", _item),
    "api:study-item-gold": _api({"POST": U, "DELETE": U}, Kind.ITEM, "item", _item),
    "api:study-annotator-list": _api({"GET": V, "POST": U}, Kind.ANNOTATOR, "study", _study),
    "api:study-annotator-detail": _api({"GET": V, "DELETE": U}, Kind.ANNOTATOR, "study", _annotator),
    **{
        f"api:study-annotator-{change}": _api({"POST": U}, Kind.ANNOTATOR, "study", _annotator)
        for change in ("exclude", "include", "pause", "resume")
    },
    # REST API: the annotator's side.
    "api:annotate-study-list": _api({"GET": ANN}, Kind.STUDY),
    "api:annotate-study-detail": _api({"GET": ANN}, Kind.STUDY, "study", _study_as_uuid),
    "api:annotate-study-next": _api({"POST": ANN}, Kind.STUDY, "study", _study_as_uuid),
    "api:annotate-study-progress": _api({"GET": ANN}, Kind.STUDY, "study", _study_as_uuid),
    "api:annotate-task-detail": _api({"GET": ANN}, Kind.ASSIGNMENT, "leased", _task),
    "api:annotate-task-submit": _api({"POST": ANN}, Kind.ASSIGNMENT, "leased", _task),
    "api:annotate-task-skip": _api({"POST": ANN}, Kind.ASSIGNMENT, "leased", _task),
    "api:annotate-judgment-detail": _api({"GET": ANN}, Kind.JUDGMENT, "judgment", _judgment),
    "api:annotate-judgment-revise": _api({"POST": ANN}, Kind.JUDGMENT, "judgment", _judgment),
    # REST API: reports.
    "api:report-list": _api({"GET": V}, Kind.REPORT),
    **{
        f"api:report-{name}": _api({"GET": V}, Kind.REPORT)
        for name in ("combined", "combined-csv", "combined-csv-metadata")
    },
    **{
        f"api:report-{name}": _api({"GET": V}, Kind.REPORT, "study", _study_as_uuid)
        for name in (
            "detail",
            "judgments-csv",
            "judgments-csv-metadata",
            "gold-judgments-csv",
            "gold-judgments-csv-metadata",
            "rankings",
            "rankings-csv",
            "rankings-csv-metadata",
            "archive",
        )
    },
    **{
        f"api:report-{name}": _api({"GET": V}, Kind.REPORT, "study", _api_table_export)
        for name in ("export", "export-metadata")
    },
    "api:not-found": _api(
        {"GET": V}, params=lambda f: {}, fixed={persona: MISSING for persona in PERSONAS}, missing=MISSING
    ),
    # Admin pages that are not a model's.
    "admin:index": Row({"GET": V}, Kind.STUDY, fixed={"annotator": ADMIN_LOGIN, "other_annotator": ADMIN_LOGIN}),
    "admin:login": Row({"GET": V, "POST": V}, Kind.PUBLIC),
    "admin:logout": Row({"POST": V}, Kind.PUBLIC),
    "admin:password_change": Row({"GET": V, "POST": V}, area="admin", fixed={}),
    "admin:password_change_done": Row({"GET": V}, area="admin", fixed={}),
    "admin:jsi18n": Row({"GET": V}, area="admin", fixed={}),
    # No admin declares autocomplete fields, so the endpoint refuses every request.
    "admin:autocomplete": Row({"GET": V}, area="admin", fixed=dict.fromkeys(STAFF, FORBIDDEN)),
    # A study has no public page, so "view on site" finds nothing for anyone.
    "admin:view_on_site": Row(
        {"GET": V},
        area="admin",
        params=lambda f: {"content_type_id": f.study_content_type.pk, "object_id": f.study.pk},
        fixed=dict.fromkeys(STAFF, MISSING),
    ),
    "admin:app_list": Row({"GET": V}, Kind.STUDY, params=lambda f: {"app_label": "annotate"}, area="admin"),
    "admin/(?P<url>.*)$": Row({"GET": V}, area="admin", fixed=dict.fromkeys(STAFF, MISSING)),
    # Admin tools of studies, items and runs.
    "admin:annotate_study_progress": Row({"GET": V}, Kind.STUDY, "study", lambda f: {"object_id": f.study.pk}),
    "admin:annotate_study_add_annotators": Row(
        {"GET": U, "POST": U}, Kind.STUDY, "study", lambda f: {"object_id": f.study.pk}
    ),
    "admin:annotate_study_attention_check": Row(
        {"GET": U, "POST": U}, Kind.STUDY, "study", lambda f: {"object_id": f.study.pk}
    ),
    "admin:annotate_study_quality": Row({"GET": V}, Kind.STUDY, "study", lambda f: {"object_id": f.study.pk}),
    **{
        f"admin:annotate_study_{change}_annotator": Row(
            {"POST": U},
            Kind.STUDY,
            "study",
            lambda f: {"object_id": f.study.pk, "user_id": f.users["annotator"].pk},
        )
        for change in ("exclude", "include", "pause", "resume")
    },
    "admin:annotate_item_gold": Row({"GET": U, "POST": U}, Kind.ITEM, "item", lambda f: {"object_id": f.item.pk}),
    "admin:annotate_item_remove_gold": Row({"POST": U}, Kind.ITEM, "item", lambda f: {"object_id": f.item.pk}),
    "admin:auth_user_password_change": Row(
        {"GET": V, "POST": V},
        params=lambda f: {"id": f.user.pk},
        fixed={"site_admin": ALLOWED, "manager": FORBIDDEN, "other_manager": FORBIDDEN},
    ),
    "admin:generation_promptset_import": Row({"GET": C, "POST": C}, Kind.GENERATION),
    "admin:generation_generationrun_import": Row({"GET": C, "POST": C}, Kind.GENERATION),
    "admin:generation_generationrun_progress": Row(
        {"GET": V}, Kind.GENERATION, params=lambda f: {"object_id": f.run.pk}
    ),
}
for name, row in list(ROWS.items()):
    if name.startswith("admin"):
        ROWS[name] = Row(row.methods, row.kind, row.target, row.params, row.missing, row.fixed, area="admin")

# The admin's standard pages, per registered model: its kind and the fixture object its object pages show.
# `read_only` lists the pages that the model's admin refuses to everyone, because the records must not be
# edited by hand (see the admin classes).
ADMIN_MODELS = {
    Study: (Kind.STUDY, "study", ()),
    Item: (Kind.ITEM, "item", ("add", "change", "delete")),
    Assignment: (Kind.ASSIGNMENT, "leased", ("add", "change", "delete")),
    Judgment: (Kind.JUDGMENT, "judgment", ("add", "change", "delete")),
    AnnotatorStatus: (Kind.ANNOTATOR, "annotator_status", ()),
    ContentWarning: (Kind.GENERATION, "content_warning", ()),
    LanguageModel: (Kind.GENERATION, "model", ()),
    PromptSet: (Kind.GENERATION, "prompt_set", ()),
    Prompt: (Kind.GENERATION, "prompt", ()),
    GenerationRun: (Kind.GENERATION, "run", ()),
    Response: (Kind.GENERATION, "response", ("add", "change")),
    BenchmarkResult: (Kind.GENERATION, "benchmark_result", ("add", "change", "delete")),
    BenchmarkRun: (Kind.GENERATION, "benchmark_run", ("add", "change", "delete")),
}
# Users, groups, API tokens and the audit log: site admins only. The audit log is read-only for everyone.
ACCOUNT_MODELS = {
    "auth.user": ("user", ()),
    "auth.group": ("group", ()),
    "authtoken.tokenproxy": ("token", ()),
    "annotate.auditevent": ("audit_event", ("add", "change", "delete")),
}

ADMIN_PAGES = {
    # page: (URL name suffix, action, whether it names an object, action per HTTP method)
    # A change list POST runs an admin action, which checks its own permission; without one it only lists.
    "changelist": ("changelist", V, False, {"GET": V, "POST": V}),
    "add": ("add", C, False, {"GET": C, "POST": C}),
    "history": ("history", V, True, {"GET": V}),
    "delete": ("delete", Action.DELETE, True, {"GET": Action.DELETE, "POST": Action.DELETE}),
    "change": ("change", V, True, {"GET": V, "POST": U}),
}


def _walk(patterns, prefix="", namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            if pattern.name:
                yield (f"{namespace}:{pattern.name}" if namespace else pattern.name), route, pattern
            else:
                yield route, route, pattern


def all_url_patterns() -> list[tuple[str, str, URLPattern]]:
    """Return (key, route, pattern) for every URL pattern of the site; the key is the name, or the route."""
    return list(_walk(get_resolver().url_patterns))


def _admin_row(key: str):
    """Return the matrix row of one of the admin's standard model pages, or None when `key` is not one."""
    for model in admin.site._registry:
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}_"
        if not key.startswith(prefix):
            continue
        page = key.removeprefix(prefix)
        if page not in ADMIN_PAGES:
            return None
        label = model._meta.label_lower
        if label in ACCOUNT_MODELS:
            return _account_admin_row(page, *ACCOUNT_MODELS[label])
        if model not in ADMIN_MODELS:
            return None
        kind, target, read_only = ADMIN_MODELS[model]
        _suffix, _action, names_object, methods = ADMIN_PAGES[page]
        params = (lambda f, target=target: {"object_id": getattr(f, target).pk}) if names_object else None
        fixed = {}
        if page in read_only:
            # Staff get 403 for every write, and for the add and delete pages themselves.
            refused = ("POST",) if page == "change" else tuple(methods)
            fixed = {(persona, method): FORBIDDEN for persona in STAFF for method in refused}
        return Row(
            methods,
            kind,
            target if names_object else None,
            params,
            missing=ADMIN_MISSING if page in ("change", "history", "delete") else MISSING,
            fixed=fixed,
            area="admin",
        )
    return None


def _account_admin_row(page: str, target: str, read_only: tuple) -> Row:
    _suffix, _action, names_object, methods = ADMIN_PAGES[page]
    staff = {"site_admin": ALLOWED, "manager": FORBIDDEN, "other_manager": FORBIDDEN}
    if page in read_only:
        refused = ("POST",) if page == "change" else tuple(methods)
        staff.update({("site_admin", method): FORBIDDEN for method in refused})
    params = (lambda f: {"object_id": getattr(f, target).pk}) if names_object else None
    return Row(methods, params=params, fixed=staff, area="admin")


def _redirect_row(route: str) -> Row | None:
    """The admin's "<object_id>/" URLs only forward to the change page, for every id, so they reveal nothing."""
    if route.startswith("admin/") and route.endswith("/<path:object_id>/"):
        staff = dict.fromkeys(STAFF, REDIRECT)
        return Row({"GET": V}, params=lambda f: {"object_id": f.study.pk}, fixed=staff, area="admin")
    return None


def row_for(key: str, route: str) -> Row | None:
    return ROWS.get(key) or _admin_row(key) or _redirect_row(route)


# Fixture


class Fixture:
    """One open pairwise study with a manager and an annotator, and a second study with its own two."""

    def __init__(self):
        self.users = {
            "site_admin": make_user("matrix-admin", superuser=True),
            "manager": make_user("matrix-manager", staff=True),
            "other_manager": make_user("matrix-other-manager", staff=True),
            "annotator": make_user("matrix-annotator"),
            "other_annotator": make_user("matrix-other-annotator"),
        }
        self.prompt_set = make_prompt_set("matrix-set")
        self.run = make_run(self.prompt_set, model_name="Qzvrant-A")
        second = make_run(self.prompt_set, model_name="Qzvrant-B")
        self.model = self.run.model
        self.study = make_study([self.run, second], annotators=[self.users["annotator"]], overlap=2)
        self.study.managers.add(self.users["manager"])
        self.other_study = make_study([self.run, second], annotators=[self.users["other_annotator"]])
        self.other_study.managers.add(self.users["other_manager"])
        for study in (self.study, self.other_study):
            open_study(study, seed=1)
            turn_on_signup(study)
            study.refresh_from_db()

        annotator = self.users["annotator"]
        judged = next_assignment(self.study, annotator)
        self.judgment = submit_judgment(judged, {"overall": "A"}, rationale="fine")
        self.leased = next_assignment(self.study, annotator)
        assert self.leased.status == AssignmentStatus.LEASED
        self.item = self.leased.item
        self.annotator_status = AnnotatorStatus.objects.create(study=self.study, annotator=annotator)
        self.prompt = Prompt.objects.filter(prompt_set=self.prompt_set).first()
        self.response = Response.objects.filter(run=self.run).first()
        self.content_warning = ContentWarning.objects.create(
            prompt_set=self.prompt_set, category="writing", text="Strong language."
        )
        self.benchmark_result = BenchmarkResult.objects.create(
            model=self.model, task="arc_easy", shots=0, metric="acc", value=0.5, source="harness"
        )
        self.benchmark_run = BenchmarkRun.objects.create(model=self.model, tasks=["arc_easy"])
        self.user = self.users["other_annotator"]
        self.group = Group.objects.create(name="matrix-group")
        self.study_content_type = ContentType.objects.get_for_model(Study)
        self.audit_event = AuditEvent.objects.create(action=AuditAction.CREATED, object_type="study")
        self.token = TokenProxy.objects.get(pk=Token.objects.create(user=self.users["annotator"]).pk)

        self.clients = {"anonymous": Client()}
        for persona, user in self.users.items():
            client = Client()
            client.force_login(user)
            self.clients[persona] = client


@pytest.fixture
def world():
    return Fixture()


# Expectations


def expected(row: Row, method: str, persona: str, world: Fixture) -> str:
    """Return the outcome the policy table gives `persona` for one request."""
    if (persona, method) in row.fixed:
        return row.fixed[(persona, method)]
    if persona in row.fixed:
        return row.fixed[persona]
    if row.kind == Kind.PUBLIC:
        return ALLOWED
    user = world.users.get(persona)
    if persona == "anonymous":
        return ADMIN_LOGIN if row.area == "admin" else LOGIN
    if row.area == "admin" and not user.is_staff:
        return ADMIN_LOGIN
    if row.kind is None:
        # Outside the table: every signed-in user who gets this far is allowed.
        return ALLOWED
    action = row.methods[method]
    if row.target is None:
        return ALLOWED if allows(user, action, row.kind) else FORBIDDEN
    if row.area == "admin" and not allows(user, action, row.kind):
        return FORBIDDEN
    return ALLOWED if _in_scope(user, action, row.kind, getattr(world, row.target)) else row.missing


def _in_scope(user, action: Action, kind: Kind, target) -> bool:
    if isinstance(target, Study):
        return studies_for(user, action, kind).filter(pk=target.pk).exists()
    return scope(type(target).objects.filter(pk=target.pk), user, action, kind).exists()


def outcome_of(response, row: Row) -> str:
    """Classify a response as one of the outcomes above."""
    status = response.status_code
    location = response.headers.get("Location", "")
    if status in (301, 302, 303, 307, 308):
        if "/admin/login/" in location:
            return ADMIN_LOGIN
        if "/accounts/login/" in location:
            return LOGIN
        if row.area == "admin" and location.rstrip("/").endswith("/admin"):
            return ADMIN_MISSING
        return REDIRECT
    if status == 401:
        return LOGIN
    if status == 403:
        return FORBIDDEN
    if status == 404:
        return MISSING
    if status == 405:
        return "method not allowed"
    if status >= 500:
        return f"server error {status}"
    return ALLOWED


def matches(wanted: str, got: str, row: Row) -> bool:
    if wanted == ALLOWED and row.kind == Kind.PUBLIC:
        # Sign-in and sign-out pages send a user on, often to a sign-in page or the admin's index.
        return got in (ALLOWED, REDIRECT, LOGIN, ADMIN_LOGIN, ADMIN_MISSING)
    if wanted == ALLOWED:
        # An allowed request may still redirect (a form that saved, a task page sending on to the next task).
        return got in (ALLOWED, REDIRECT)
    if wanted == REDIRECT:
        return got in (REDIRECT, ADMIN_MISSING)
    return wanted == got


def send(client, method: str, url: str):
    """Send one request in a transaction that is rolled back, so that a write leaves nothing behind.

    The client's cookies are put back too, so that signing out (or in) on
    one URL does not change who sends the next request.
    """
    cache.clear()  # otherwise the anonymous API rate limit returns 429 partway through
    cookies = copy.deepcopy(client.cookies)
    with transaction.atomic():
        options = {"content_type": "application/json"} if method in ("PUT", "PATCH") else {}
        response = getattr(client, method.lower())(url, **options)
        if response.streaming:
            b"".join(response.streaming_content)
        transaction.set_rollback(True)
    client.cookies = cookies
    return response


def url_for(key: str, route: str, row: Row, world: Fixture) -> str:
    """Build the URL of a pattern with the fixture's ids."""
    if key == "api:not-found":
        return "/api/v1/no-such-endpoint/"
    if key == "admin/(?P<url>.*)$":
        return "/admin/no-such-page/"
    kwargs = row.params(world) if row.params else {}
    if key == route:
        # An unnamed pattern: fill in its converters by hand.
        url = "/" + route
        for name, value in kwargs.items():
            url = url.replace(f"<path:{name}>", str(value))
        return url
    return reverse(key, kwargs=kwargs)


AREAS = ["page", "api", "admin"]


def rows_in(area: str):
    """Yield (key, route, pattern, row) for every URL pattern of one area that has a row."""
    for key, route, pattern in all_url_patterns():
        row = row_for(key, route)
        if row is not None and row.area == area:
            yield key, route, pattern, row


def test_every_url_has_a_row():
    missing = [f"{key} ({route})" for key, route, _pattern in all_url_patterns() if row_for(key, route) is None]

    assert missing == [], "URL patterns without a row in the authorisation matrix: " + ", ".join(missing)


def test_every_api_method_has_a_row():
    """A viewset route's methods must match its row, so a new method on a known URL needs a row too."""
    mismatched = []
    for key, route, pattern in all_url_patterns():
        actions = getattr(pattern.callback, "actions", None)
        row = row_for(key, route)
        if actions is None or row is None:
            continue
        served = {method.upper() for method in actions} - {"HEAD", "OPTIONS"}
        if served != set(row.methods):
            mismatched.append(f"{key}: serves {sorted(served)}, row has {sorted(row.methods)}")

    assert not mismatched, "\n".join(mismatched)


@pytest.mark.parametrize("area", AREAS)
def test_every_url_against_every_persona(world, area):
    failures = []
    for key, route, _pattern, row in rows_in(area):
        url = url_for(key, route, row, world)
        for method in row.methods:
            for persona in PERSONAS:
                wanted = expected(row, method, persona, world)
                got = outcome_of(send(world.clients[persona], method, url), row)
                if not matches(wanted, got, row):
                    failures.append(f"{key}: {method} {url} as {persona}: expected {wanted}, got {got}")

    assert not failures, "\n".join(failures)


def _project_view(key: str, pattern) -> bool:
    """Tell whether a URL is served by this project's own view, not one of Django's (auth, admin, i18n).

    Django's views answer some methods they do not list (its admin reads
    any method but POST as GET, its form views take PUT as POST), so only
    the project's views are held to refusing them.
    """
    module = getattr(pattern.callback, "__module__", "") or ""
    return key in ROWS and not module.startswith("django.")


@pytest.mark.parametrize("area", AREAS)
def test_every_url_with_wrong_methods(world, area):
    """A method the row does not list never crashes, and on this project's views never succeeds."""
    failures = []
    for key, route, pattern, row in rows_in(area):
        url = url_for(key, route, row, world)
        strict = _project_view(key, pattern) and row.kind != Kind.PUBLIC
        for method in ALL_METHODS:
            if method in row.methods:
                continue
            for persona in ("site_admin", "manager", "anonymous"):
                got = outcome_of(send(world.clients[persona], method, url), row)
                refused = not (strict and persona != "anonymous" and got in (ALLOWED, REDIRECT))
                if got.startswith("server error") or not refused:
                    failures.append(f"{key}: {method} {url} as {persona}: got {got}")

    assert not failures, "\n".join(failures)


def _id_in_url(row: Row, world: Fixture) -> str | None:
    """Return the id that picks the URL's object: the last UUID, or the admin's object id; None without one."""
    kwargs = row.params(world) if row.params else {}
    if "object_id" in kwargs:
        return f"/{kwargs['object_id']}/"
    uuids = [str(value) for value in kwargs.values() if isinstance(value, uuid.UUID)]
    return uuids[-1] if uuids else None


@pytest.mark.parametrize("area", AREAS)
def test_every_url_with_bad_ids(world, area):
    """An unknown or malformed id gets the same answer as an object the user may not see."""
    failures = []
    checked = 0
    for key, route, _pattern, row in rows_in(area):
        known = _id_in_url(row, world)
        if known is None or row.fixed:
            continue
        url = url_for(key, route, row, world)
        unknown = "/987654321/" if area == "admin" else str(uuid.uuid4())
        malformed = "/not-a-number/" if area == "admin" else "not-a-uuid"
        for method in row.methods:
            for persona in ("site_admin", "manager"):
                if expected(row, method, persona, world) != ALLOWED:
                    continue
                for bad in (unknown, malformed):
                    bad_url = url.replace(known, bad, 1)
                    got = outcome_of(send(world.clients[persona], method, bad_url), row)
                    checked += 1
                    # A malformed UUID does not match the URL pattern, so Django answers 404 before any view.
                    wanted = MISSING if bad == malformed and area != "admin" else row.missing
                    if got != wanted:
                        failures.append(f"{key}: {method} {bad_url} as {persona}: expected {wanted}, got {got}")

    assert checked > 0
    assert not failures, "\n".join(failures)


def test_table_grants_what_the_roles_say():
    """Spot checks of the table itself, written out by hand so that a wrong row cannot pass unnoticed."""
    fixture = Fixture()
    users = fixture.users

    assert studies_for(users["manager"], Action.VIEW, Kind.REPORT).get() == fixture.study
    assert studies_for(users["other_manager"], Action.VIEW, Kind.REPORT).get() == fixture.other_study
    assert studies_for(users["site_admin"], Action.VIEW, Kind.REPORT).count() == 2
    assert not studies_for(users["annotator"], Action.VIEW, Kind.REPORT).exists()
    assert studies_for(users["annotator"], Action.ANNOTATE).get() == fixture.study
    assert not studies_for(users["site_admin"], Action.ANNOTATE).exists()
    assert allows(users["manager"], Action.CREATE, Kind.GENERATION)
    assert not allows(users["manager"], Action.DELETE, Kind.GENERATION)
    assert not allows(users["manager"], Action.DELETE, Kind.STUDY)
    assert not allows(users["manager"], Action.CREATE, Kind.ANNOTATOR_ACCOUNT)
    assert not allows(users["annotator"], Action.VIEW, Kind.STUDY)
    own = scope(Judgment.objects.all(), users["annotator"], Action.ANNOTATE, Kind.JUDGMENT)
    assert list(own) == [fixture.judgment]
    assert not scope(Judgment.objects.all(), users["other_annotator"], Action.ANNOTATE, Kind.JUDGMENT).exists()


def test_report_page_per_persona(world):
    """The report page per persona, written out by hand rather than derived from the table."""
    url = reverse("reports:study", kwargs={"study_uuid": world.study.uuid})
    statuses = {persona: world.clients[persona].get(url).status_code for persona in PERSONAS}

    assert statuses["site_admin"] == 200
    assert statuses["manager"] == 200
    assert statuses["other_manager"] == 404
    assert statuses["annotator"] == 404
    assert statuses["other_annotator"] == 404
    assert statuses["anonymous"] == 302


def test_manager_lists_only_own_studies(world):
    studies = world.clients["manager"].get("/api/v1/studies/").json()["results"]
    reports = world.clients["manager"].get("/api/v1/reports/").json()["results"]
    admin_list = world.clients["manager"].get("/admin/annotate/study/").text

    assert [study["uuid"] for study in studies] == [str(world.study.uuid)]
    assert [report["uuid"] for report in reports] == [str(world.study.uuid)]
    assert world.study.name in admin_list
    assert world.other_study.name not in admin_list


def test_manager_admin_judgments_only_own_study(world):
    page = world.clients["other_manager"].get("/admin/annotate/judgment/")

    assert page.status_code == 200
    assert str(world.judgment.uuid) not in page.text
    assert world.study.name not in page.text


def test_study_created_through_api_is_managed_by_creator(world):
    client = world.clients["other_manager"]
    body = {
        "name": "made-by-manager",
        "kind": "pairwise",
        "prompt_set": str(world.prompt_set.uuid),
        "systems": [str(world.run.uuid)],
        "criteria": [{"name": "overall", "question": "Which is better?"}],
    }

    response = client.post("/api/v1/studies/", body, content_type="application/json")

    assert response.status_code == 201, response.content
    study = Study.objects.get(name="made-by-manager")
    assert list(study.managers.all()) == [world.users["other_manager"]]
    assert client.get(f"/api/v1/studies/{study.uuid}/").status_code == 200
    assert world.clients["manager"].get(f"/api/v1/studies/{study.uuid}/").status_code == 404


def test_api_url_without_trailing_slash_redirects(world):
    client = world.clients["manager"]

    response = client.get("/api/v1/studies?page_size=5")
    write = client.post("/api/v1/studies")

    assert response.status_code == 301
    assert response.headers["Location"] == "/api/v1/studies/?page_size=5"
    assert write.status_code == 404
    assert "/api/v1/studies/" in write.json()["detail"]
