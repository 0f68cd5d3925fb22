"""Fetch annotate objects scoped to the requesting user, as the table in humeval.policy grants them.

Every view, admin page and API endpoint fetches through these helpers, so
a study the user may not see, or another annotator's assignment, is a 404
and never a 403 that would confirm it exists. There is one helper per kind
of object: `studies_for` and `get_study_for` for studies (and, with
`kind`, for what belongs to a study), `items_for`, `assignments_for` and
`judgments_for`, and the annotator's own-task helpers below.
"""

import functools
import uuid
from dataclasses import dataclass

from django.db import connection
from django.http import Http404
from django.shortcuts import get_object_or_404

from annotate.content_warnings import content_warning_for
from annotate.models import Assignment, ContentWarning, Item, Judgment, Study, StudyStatus
from annotate.sql_rows import fetch_instances, instances_from_row, select_list
from generation.models import Prompt, Response
from humeval.policy import Action, Kind, Scope, scope, scope_filter, scopes_for
from humeval.prepared import prepared

# The annotator's lookups below run on every next task, task page and
# submit. Through the ORM, the study's took about 0.7 ms of CPU and the
# assignment's about 1.3 ms, against 0.1 to 0.3 ms for the same lookups in
# hand-written SQL (benchmarks/annotation_cpu.py, docs/benchmarks.md). The
# SQL covers only the scope the policy grants annotators: the studies that
# list them, and their own assignments there. For any other scope the
# policy returns, the ORM path runs, so humeval.policy still decides.
_MEMBERS = Study.annotators.through._meta.db_table

_STUDY_OF_MEMBER = f"""
SELECT {select_list(Study, "study")} FROM {Study._meta.db_table} study
 WHERE study.uuid = %s
   AND EXISTS (SELECT 1 FROM {_MEMBERS} member WHERE member.study_id = study.id AND member.user_id = %s)
"""


@functools.cache
def _own_assignment_sql() -> str:
    return f"""
SELECT {select_list(Assignment, "assignment")}, {select_list(Item, "item")}, {select_list(Prompt, "prompt")}
  FROM {Assignment._meta.db_table} assignment
  JOIN {Item._meta.db_table} item ON item.id = assignment.item_id
  JOIN {Prompt._meta.db_table} prompt ON prompt.id = item.prompt_id
 WHERE assignment.uuid = %s AND item.study_id = %s AND assignment.annotator_id = %s
   AND EXISTS (SELECT 1 FROM {_MEMBERS} member WHERE member.study_id = item.study_id AND member.user_id = %s)
"""


# The row models of _own_task_sql, in its column order.
_TASK_MODELS = [Study, Assignment, Item, Prompt, Response, Response, ContentWarning]


@functools.cache
def _own_task_sql() -> str:
    # The query also reads the item's responses and the content warning of
    # the prompt's category (annotate.content_warnings). A unique constraint
    # allows at most one warning per prompt set and category. PostgreSQL plans this
    # join once per connection, as a prepared statement (humeval.prepared).
    # NOTE: with HUMEVAL_PREPARED_STATEMENTS=0 it is planned on every
    # request, and planning a smaller join of five tables cost PostgreSQL
    # 15 about 1.5 ms of CPU each time.
    return f"""
SELECT {select_list(Study, "study")}, {select_list(Assignment, "assignment")}, {select_list(Item, "item")},
       {select_list(Prompt, "prompt")}, {select_list(Response, "first_response")},
       {select_list(Response, "second_response")}, {select_list(ContentWarning, "warning")}
  FROM {Assignment._meta.db_table} assignment
  JOIN {Item._meta.db_table} item ON item.id = assignment.item_id
  JOIN {Study._meta.db_table} study ON study.id = item.study_id
  JOIN {Prompt._meta.db_table} prompt ON prompt.id = item.prompt_id
  LEFT JOIN {Response._meta.db_table} first_response ON first_response.id = item.first_response_id
  LEFT JOIN {Response._meta.db_table} second_response ON second_response.id = item.second_response_id
  LEFT JOIN {ContentWarning._meta.db_table} warning
    ON warning.prompt_set_id = prompt.prompt_set_id AND warning.category = prompt.category AND prompt.category <> ''
 WHERE assignment.uuid = %s AND study.uuid = %s AND assignment.annotator_id = %s
   AND EXISTS (SELECT 1 FROM {_MEMBERS} member WHERE member.study_id = study.id AND member.user_id = %s)
"""


def studies_for(user, action: Action, kind: Kind = Kind.STUDY):
    """Return the studies in which `user` may take `action` on objects of `kind` (the study itself by default).

    With kind=Kind.ITEM, for example, these are the studies whose items the
    user may act on; the API's nested URLs fetch their study this way.
    """
    condition = scope_filter(user, action, kind, study_path="pk")
    return Study.objects.all() if condition is None else Study.objects.filter(condition)


def get_study_for(user, study_uuid, action: Action, kind: Kind = Kind.STUDY) -> Study:
    """Return the study with `study_uuid` if `user` may take `action` on its objects of `kind`, else raise Http404."""
    return get_object_or_404(studies_for(user, action, kind), uuid=study_uuid)


def items_for(user, action: Action):
    """Return the items `user` may take `action` on."""
    return scope(Item.objects.all(), user, action, Kind.ITEM)


def assignments_for(user, action: Action):
    """Return the assignments `user` may take `action` on."""
    return scope(Assignment.objects.all(), user, action, Kind.ASSIGNMENT)


def judgments_for(user, action: Action):
    """Return the judgments `user` may take `action` on."""
    return scope(Judgment.objects.all(), user, action, Kind.JUDGMENT)


def get_study_for_annotator(user, study_uuid) -> Study:
    """Return the study with `study_uuid` if `user` is one of its annotators, else raise Http404."""
    if not isinstance(study_uuid, uuid.UUID) or scopes_for(user, Action.ANNOTATE, Kind.STUDY) != {Scope.MEMBER}:
        return get_study_for(user, study_uuid, Action.ANNOTATE)
    parameters = [_uuid_parameter(Study, study_uuid), user.pk]
    study = next(iter(fetch_instances(Study, prepared(_STUDY_OF_MEMBER), parameters)), None)
    if study is None:
        raise Http404("No Study matches the given query.")
    return study


def get_assignment_for_annotator(user, study: Study, assignment_uuid) -> Assignment:
    """Return `user`'s assignment with `assignment_uuid` in `study`, else raise Http404.

    The assignment comes with its item, the item's prompt and responses,
    and `study` set as the item's study.
    """
    if isinstance(assignment_uuid, uuid.UUID) and scopes_for(user, Action.ANNOTATE, Kind.ASSIGNMENT) == {Scope.OWN}:
        assignment = _own_assignment(user, study, assignment_uuid)
    else:
        assignments = Assignment.objects.select_related("item__prompt").filter(item__study=study)
        assignments = scope(assignments, user, Action.ANNOTATE, Kind.ASSIGNMENT)
        assignment = get_object_or_404(assignments, uuid=assignment_uuid)
    # The item's study is `study` (the filter requires it), so it is set here
    # instead of being joined in again on every task page and submit.
    assignment.item.study = study
    _load_responses(assignment.item)
    return assignment


@dataclass(frozen=True)
class Task:
    """An annotator's assignment with its study and the content warning of its prompt's category, if any."""

    study: Study
    assignment: Assignment
    warning: ContentWarning | None


def get_task_for_annotator(user, study_uuid, assignment_uuid) -> Task:
    """Return the study with `study_uuid`, `user`'s assignment with `assignment_uuid` in it, and its content warning.

    Raises Http404 when either is not found or not the user's. The same
    as get_study_for_annotator, get_assignment_for_annotator and
    annotate.content_warnings.content_warning_for in turn, in one query
    instead of three for the policy's usual annotator scopes. The task
    page, the submit and the skip run it on every request.
    """
    usual_scopes = (
        isinstance(study_uuid, uuid.UUID)
        and isinstance(assignment_uuid, uuid.UUID)
        and scopes_for(user, Action.ANNOTATE, Kind.STUDY) == {Scope.MEMBER}
        and scopes_for(user, Action.ANNOTATE, Kind.ASSIGNMENT) == {Scope.OWN}
    )
    if not usual_scopes:
        study = get_study_for_annotator(user, study_uuid)
        assignment = get_assignment_for_annotator(user, study, assignment_uuid)
        return Task(study, assignment, content_warning_for(assignment.item))

    parameters = [
        _uuid_parameter(Assignment, assignment_uuid),
        _uuid_parameter(Study, study_uuid),
        user.pk,
        user.pk,
    ]
    with connection.cursor() as cursor:
        cursor.execute(prepared(_own_task_sql()), parameters)
        row = cursor.fetchone()
    if row is None:
        raise Http404("No Assignment matches the given query.")
    study, assignment, item, prompt, first, second, warning = instances_from_row(_TASK_MODELS, row)
    item.prompt = prompt
    item.study = study
    assignment.item = item
    # A LEFT JOIN that found no row gives NULL in each of its columns.
    if item.first_response_id is not None:
        item.first_response = first
    if item.second_response_id is not None:
        item.second_response = second
    return Task(study, assignment, warning if warning.pk is not None else None)


def _own_assignment(user, study: Study, assignment_uuid: uuid.UUID) -> Assignment:
    """Return the assignment with its item and prompt, in hand-written SQL, for the policy's own-assignments scope."""
    parameters = [_uuid_parameter(Assignment, assignment_uuid), study.pk, user.pk, user.pk]
    with connection.cursor() as cursor:
        cursor.execute(prepared(_own_assignment_sql()), parameters)
        row = cursor.fetchone()
    if row is None:
        raise Http404("No Assignment matches the given query.")
    assignment, item, prompt = instances_from_row([Assignment, Item, Prompt], row)
    item.prompt = prompt
    assignment.item = item
    return assignment


def _uuid_parameter(model, value: uuid.UUID):
    """Return `value` as the database stores `model.uuid`: a UUID on PostgreSQL, 32 hex digits on SQLite."""
    return model._meta.get_field("uuid").get_db_prep_value(value, connection)


def _load_responses(item: Item) -> None:
    """Load the item's one or two responses in one query and set them on it.

    get_task_for_annotator reads them in its own query instead; this serves
    get_assignment_for_annotator.
    """
    ids = [pk for pk in (item.first_response_id, item.second_response_id) if pk is not None]
    if not ids:
        return
    sql = prepared(_responses_sql(len(ids)))
    responses = {response.pk: response for response in fetch_instances(Response, sql, ids)}
    if item.first_response_id is not None:
        item.first_response = responses[item.first_response_id]
    if item.second_response_id is not None:
        item.second_response = responses[item.second_response_id]


@functools.cache
def _responses_sql(count: int) -> str:
    """Return the SQL that reads `count` responses by id (an item has one or two)."""
    placeholders = ", ".join(["%s"] * count)
    columns = select_list(Response, "response")
    return f"SELECT {columns} FROM {Response._meta.db_table} response WHERE response.id IN ({placeholders})"


def get_judgment_for_annotator(user, study: Study, judgment_uuid) -> Judgment:
    """Return `user`'s judgment with `judgment_uuid` in `study`, else raise Http404."""
    judgments = Judgment.objects.select_related(
        "item__study",
        "assignment__item__prompt",
        "assignment__item__first_response",
        "assignment__item__second_response",
    ).filter(item__study=study)
    judgments = scope(judgments, user, Action.ANNOTATE, Kind.JUDGMENT)
    return get_object_or_404(judgments, uuid=judgment_uuid)


def get_study_for_signup(token: str) -> Study:
    """Return the study whose sign-up link has `token`, else raise Http404.

    A turned-off link (empty token) and a closed study both give 404, so
    nobody joins a study that takes no more annotators.
    """
    studies = Study.objects.exclude(signup_token="").exclude(status=StudyStatus.CLOSED)
    return get_object_or_404(studies, signup_token=token)
