"""Hand-written SQL for the queries that run on every next task and task page.

Django's ORM spends more CPU building these queries, with their correlated
subqueries, than the database spends running them. Compiling the pick query
took about 3 ms of CPU, and running it on a study of 500 items well under
1 ms (figures and machine in docs/benchmarks.md, "Annotation load"). Each
function returns what the ORM query it replaced returned, and tests/annotate
covers them on SQLite and PostgreSQL.

The SQL runs unchanged on both databases. Booleans are compared with
parameters, because SQLite stores them as 0 and 1; datetimes go through the
backend's own adapter; only PostgreSQL takes row locks.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from annotate.models import AnnotatorStatus, Assignment, AssignmentStatus, Item, Judgment, Study

_ITEM = Item._meta.db_table
_ASSIGNMENT = Assignment._meta.db_table
_JUDGMENT = Judgment._meta.db_table
_ANNOTATOR_STATUS = AnnotatorStatus._meta.db_table

# An item's load as counted for one annotator: its non-surplus judgments plus
# the unexpired leases that other annotators hold on it. The outer query
# names the item `item`. Parameters: see _load_parameters.
_LOAD = f"""(
    (SELECT COUNT(*) FROM {_JUDGMENT} judged
      WHERE judged.item_id = item.id AND judged.is_surplus = %s)
  + (SELECT COUNT(*) FROM {_ASSIGNMENT} leased
      WHERE leased.item_id = item.id AND leased.status = %s
        AND leased.expires_at > %s AND leased.annotator_id <> %s)
)"""

# The candidates for a new lease, best first (see
# annotate.assignment.next_assignment): items of the study that the
# annotator has neither submitted nor skipped and whose load is below the
# overlap. An item whose lease of theirs expired comes first, then the
# highest load, then sort_key. Any assignment of theirs on a candidate is an
# expired lease: the caller has returned an unexpired one already, and the
# query leaves out submitted and skipped ones. `own_expired` is true when
# such an assignment exists, so the caller need not look for one.
_PICK = f"""
SELECT item.*,
       EXISTS (SELECT 1 FROM {_ASSIGNMENT} own
                WHERE own.item_id = item.id AND own.annotator_id = %s) AS own_expired,
       {_LOAD} AS item_load
  FROM {_ITEM} item
 WHERE item.study_id = %s AND item.is_gold = %s
   AND NOT EXISTS (SELECT 1 FROM {_ASSIGNMENT} finished
                    WHERE finished.item_id = item.id AND finished.annotator_id = %s
                      AND finished.status IN (%s, %s))
   AND {_LOAD} < %s
   {{passed_over}}
 ORDER BY own_expired DESC, item_load DESC, item.sort_key, item.id
 LIMIT 1
 {{lock}}
"""

_ITEM_LOAD = f"SELECT {_LOAD} FROM {_ITEM} item WHERE item.id = %s"

# Per item of the study: whether the annotator judged it, whether they
# skipped it, and whether it still wants judgments (a regular item below
# the overlap). The outer query counts them, and adds the UUID of the
# annotator's latest judgment in the study.
_STUDY_COUNTS = f"""
SELECT COUNT(*) FILTER (WHERE judged_by_annotator),
       COUNT(*) FILTER (WHERE wants_judgments AND NOT judged_by_annotator AND NOT skipped_by_annotator),
       COUNT(*) FILTER (WHERE wants_judgments),
       (SELECT latest.uuid FROM {_JUDGMENT} latest
          JOIN {_ITEM} latest_item ON latest_item.id = latest.item_id
         WHERE latest_item.study_id = %s AND latest.annotator_id = %s
         ORDER BY latest.created_at DESC, latest.id DESC
         LIMIT 1)
  FROM (
    SELECT EXISTS (SELECT 1 FROM {_JUDGMENT} mine
                    WHERE mine.item_id = item.id AND mine.annotator_id = %s) AS judged_by_annotator,
           EXISTS (SELECT 1 FROM {_ASSIGNMENT} skipped
                    WHERE skipped.item_id = item.id AND skipped.annotator_id = %s
                      AND skipped.status = %s) AS skipped_by_annotator,
           item.is_gold = %s
             AND (SELECT COUNT(*) FROM {_JUDGMENT} judged
                   WHERE judged.item_id = item.id AND judged.is_surplus = %s) < %s AS wants_judgments
      FROM {_ITEM} item
     WHERE item.study_id = %s
  ) per_item
"""


_ANNOTATOR_STATE = f"""
SELECT EXISTS (SELECT 1 FROM {_ANNOTATOR_STATUS} status
                WHERE status.study_id = %s AND status.annotator_id = %s AND status.is_paused = %s),
       (SELECT current.id FROM {_ASSIGNMENT} current
          JOIN {_ITEM} item ON item.id = current.item_id
         WHERE item.study_id = %s AND current.annotator_id = %s
           AND current.status = %s AND current.expires_at > %s
         ORDER BY current.leased_at DESC
         LIMIT 1)
"""


def _load_parameters(annotator_id: int, now: datetime) -> list:
    return [False, AssignmentStatus.LEASED, connection.ops.adapt_datetimefield_value(now), annotator_id]


def pick_item(study: Study, annotator_id: int, now: datetime, passed_over: list[int], skip_locked: bool) -> Item | None:
    """Return the best item to lease to the annotator, locked on PostgreSQL, or None when there is none.

    The item carries `own_expired` (True when the annotator holds an
    expired lease on it) and `item_load`. `passed_over` lists item ids to
    leave out. With `skip_locked`, an item another transaction has locked is
    passed by; without it, the query waits for the lock. SQLite takes no row
    locks: its IMMEDIATE transactions already hold the database's write lock.
    """
    load = _load_parameters(annotator_id, now)
    parameters = [
        annotator_id,
        *load,
        study.pk,
        False,
        annotator_id,
        AssignmentStatus.SUBMITTED,
        AssignmentStatus.SKIPPED,
        *load,
        study.overlap,
    ]
    passed_over_sql = ""
    if passed_over:
        passed_over_sql = f"AND item.id NOT IN ({', '.join(['%s'] * len(passed_over))})"
        parameters.extend(passed_over)
    lock_sql = ""
    if connection.features.has_select_for_update:
        lock_sql = "FOR UPDATE OF item SKIP LOCKED" if skip_locked else "FOR UPDATE OF item"

    sql = _PICK.format(passed_over=passed_over_sql, lock=lock_sql)
    item = next(iter(Item.objects.raw(sql, parameters)), None)
    if item is not None:
        item.own_expired = bool(item.own_expired)
    return item


def annotator_state(study: Study, annotator_id: int, now: datetime) -> tuple[bool, int | None]:
    """Return whether the annotator's work on `study` is paused, and the id of their unexpired lease there."""
    parameters = [
        study.pk,
        annotator_id,
        True,
        study.pk,
        annotator_id,
        AssignmentStatus.LEASED,
        connection.ops.adapt_datetimefield_value(now),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_ANNOTATOR_STATE, parameters)
        paused, current_id = cursor.fetchone()
    return bool(paused), current_id


def item_load(item_id: int, annotator_id: int, now: datetime) -> int:
    """Return the item's load as counted for the annotator: non-surplus judgments plus others' unexpired leases."""
    with connection.cursor() as cursor:
        cursor.execute(_ITEM_LOAD, [*_load_parameters(annotator_id, now), item_id])
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class StudyCounts:
    """What the task page counts for one annotator in one study.

    `done` is the annotator's judgments in the study, gold ones included.
    `left` counts the regular items below the overlap that they have
    neither judged nor skipped; `items_left` counts every regular item below
    the overlap. `last_judgment_uuid` is their latest judgment's UUID, or None.
    """

    done: int
    left: int
    items_left: int
    last_judgment_uuid: uuid.UUID | None


def study_counts(study: Study, annotator_id: int) -> StudyCounts:
    """Count the annotator's work in `study` and the items left, in one pass over the study's items.

    `done` counts the items the annotator judged, which equals their
    judgments in the study because an annotator has at most one assignment,
    so one judgment, per item.
    """
    parameters = [
        study.pk,
        annotator_id,
        annotator_id,
        annotator_id,
        AssignmentStatus.SKIPPED,
        False,
        False,
        study.overlap,
        study.pk,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_STUDY_COUNTS, parameters)
        done, left, items_left, last_uuid = cursor.fetchone()
    # SQLite returns the UUID as 32 hex digits, psycopg2 as a string with dashes.
    if last_uuid is not None and not isinstance(last_uuid, uuid.UUID):
        last_uuid = uuid.UUID(last_uuid)
    return StudyCounts(done=done, left=left, items_left=items_left, last_judgment_uuid=last_uuid)
