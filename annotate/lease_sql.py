"""Hand-written SQL for the queries that run on every next task, task page and submit.

Django's ORM spends more CPU building these queries, with their correlated
subqueries, than the database spends running them. Compiling the pick query
took about 3 ms of CPU, and running it on a study of 500 items well under
1 ms (figures and machine in docs/benchmarks.md, "Annotation load"). Each
query reads the items' counted judgments (annotate.judgment_count) instead
of counting judgments, and tests/annotate covers them on SQLite and
PostgreSQL.

The SQL runs unchanged on both databases. Booleans are compared with
parameters, because SQLite stores them as 0 and 1; datetimes go through the
backend's own adapter; only PostgreSQL takes row locks.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection

from annotate.models import AnnotatorStatus, Assignment, AssignmentStatus, Criterion, Item, Judgment, Study
from annotate.screen_order import ITEM_TALLY_COLUMNS, Tally, tally_parameters
from annotate.sql_rows import fetch_instances, select_list
from humeval.prepared import prepared

_ITEM = Item._meta.db_table
_ASSIGNMENT = Assignment._meta.db_table
_JUDGMENT = Judgment._meta.db_table
_ANNOTATOR_STATUS = AnnotatorStatus._meta.db_table
_USER = get_user_model()._meta.db_table
# Columns are named, not `*`, because PostgreSQL rejects a prepared
# statement (humeval.prepared) whose `*` would now expand to other columns,
# as after a migration that adds one.
_ITEM_COLUMNS = select_list(Item, "item")

# Unexpired leases that annotators other than the picker hold on the item
# named `item`. Parameters: see _lease_parameters.
_OTHERS_LEASES = f"""(SELECT COUNT(*) FROM {_ASSIGNMENT} leased
      WHERE leased.item_id = item.id AND leased.status = %s
        AND leased.expires_at > %s AND leased.annotator_id <> %s)"""

# An item's load as counted for one annotator: its counted judgments (kept
# in the item row, see annotate.judgment_count) plus the unexpired leases
# that others hold on it.
_LOAD = f"(item.counted_judgments + {_OTHERS_LEASES})"

# The annotator's expired lease on a regular item that still has room, if
# any: that item comes before every other (see
# annotate.assignment.next_assignment). Any lease of theirs in the study is
# expired at this point, because the caller has returned an unexpired one.
_PICK_OWN_EXPIRED = f"""
SELECT {_ITEM_COLUMNS}
  FROM {_ITEM} item
  JOIN {_ASSIGNMENT} own ON own.item_id = item.id
 WHERE own.annotator_id = %s AND own.status = %s
   AND item.study_id = %s AND item.is_gold = %s
   AND {_LOAD} < %s
   {{passed_over}}
 ORDER BY item.counted_judgments DESC, item.sort_key, item.id
 LIMIT 1
 {{lock}}
"""

# The best item the annotator has no assignment on: the most counted
# judgments below the overlap first (closest to completion), then sort_key.
# The index item_pick_order has this order, so the database walks it from
# the first item with room and stops at the first that qualifies, instead
# of counting every item's judgments and sorting them.
_PICK_NEW = f"""
SELECT {_ITEM_COLUMNS}
  FROM {_ITEM} item
 WHERE item.study_id = %s AND item.is_gold = %s AND item.counted_judgments < %s
   AND NOT EXISTS (SELECT 1 FROM {_ASSIGNMENT} own
                    WHERE own.item_id = item.id AND own.annotator_id = %s)
   AND {_LOAD} < %s
   {{passed_over}}
 ORDER BY item.counted_judgments DESC, item.sort_key, item.id
 LIMIT 1
 {{lock}}
"""

# The item's load, and its tally for the left/right order of a new
# assignment (annotate.screen_order), read together under the item's lock.
_ITEM_LOAD_AND_TALLY = f"SELECT {_LOAD}, {ITEM_TALLY_COLUMNS} FROM {_ITEM} item WHERE item.id = %s"

# What the task page counts for one annotator (see StudyCounts), as one
# statement of independent counts that an index serves each. It counts the
# annotator's judgments, the regular items with room, those of them the
# annotator has finished (judged or skipped), the gold items and the gold
# items they have finished. It also reads their latest judgment.
_STUDY_COUNTS = f"""
SELECT
  (SELECT COUNT(*) FROM {_JUDGMENT} mine
     JOIN {_ITEM} item ON item.id = mine.item_id
    WHERE item.study_id = %s AND mine.annotator_id = %s),
  (SELECT COUNT(*) FROM {_ITEM} item
    WHERE item.study_id = %s AND item.is_gold = %s AND item.counted_judgments < %s),
  (SELECT COUNT(*) FROM {_ASSIGNMENT} finished
     JOIN {_ITEM} item ON item.id = finished.item_id
    WHERE item.study_id = %s AND finished.annotator_id = %s AND finished.status IN (%s, %s)
      AND item.is_gold = %s AND item.counted_judgments < %s),
  (SELECT COUNT(*) FROM {_ITEM} item WHERE item.study_id = %s AND item.is_gold = %s),
  (SELECT COUNT(*) FROM {_ASSIGNMENT} finished
     JOIN {_ITEM} item ON item.id = finished.item_id
    WHERE item.study_id = %s AND finished.annotator_id = %s AND finished.status IN (%s, %s)
      AND item.is_gold = %s),
  (SELECT latest.uuid FROM {_JUDGMENT} latest
     JOIN {_ITEM} item ON item.id = latest.item_id
    WHERE item.study_id = %s AND latest.annotator_id = %s
    ORDER BY latest.created_at DESC, latest.id DESC
    LIMIT 1)
"""


_ANNOTATOR_STATE = f"""
SELECT EXISTS (SELECT 1 FROM {_ANNOTATOR_STATUS} status
                WHERE status.study_id = %s AND status.annotator_id = %s AND status.is_paused = %s),
       (SELECT current.id FROM {_ASSIGNMENT} current
          JOIN {_ITEM} item ON item.id = current.item_id
         WHERE item.study_id = %s AND current.annotator_id = %s
           AND current.status = %s AND current.expires_at > %s
         ORDER BY current.leased_at DESC
         LIMIT 1),
       EXISTS (SELECT 1 FROM {_ASSIGNMENT} expired
                 JOIN {_ITEM} item ON item.id = expired.item_id
                WHERE item.study_id = %s AND expired.annotator_id = %s
                  AND expired.status = %s AND expired.expires_at <= %s)
"""

_LOCK_USER = f"SELECT id FROM {_USER} WHERE id = %s FOR NO KEY UPDATE"

# The submit's reads and writes (annotate.assignment.submit_judgment). The
# lock clauses are left out where the database has no row locks (SQLite).
_ANNOTATOR_EXCLUDED = f"""SELECT is_excluded FROM {_ANNOTATOR_STATUS}
 WHERE study_id = %s AND annotator_id = %s ORDER BY id LIMIT 1 {{lock}}"""
_ITEM_BY_ID = f"SELECT {_ITEM_COLUMNS} FROM {_ITEM} item WHERE item.id = %s {{lock}}"
_HAS_JUDGMENT = f"SELECT EXISTS (SELECT 1 FROM {_JUDGMENT} WHERE assignment_id = %s)"
_COUNT_JUDGMENT = f"UPDATE {_ITEM} SET counted_judgments = counted_judgments + 1 WHERE id = %s"
_SET_ASSIGNMENT_STATUS = f"UPDATE {_ASSIGNMENT} SET status = %s WHERE id = %s"

# The model orders criteria by position only, so id breaks ties, the same way each time.
_STUDY_CRITERIA = f"""SELECT {select_list(Criterion, "criterion")} FROM {Criterion._meta.db_table} criterion
 WHERE criterion.study_id = %s ORDER BY criterion.position, criterion.id"""


def _prepared_unless(passed_over: list[int], sql: str) -> str:
    """Return `sql` prepared (humeval.prepared) unless it leaves out items, which makes its text vary in length.

    A pick that passes over items is rare (a concurrent lease filled the
    item first), and a prepared statement per length would pile up on the
    connection.
    """
    return sql if passed_over else prepared(sql)


def _lease_parameters(annotator_id: int, now: datetime) -> list:
    return [AssignmentStatus.LEASED, connection.ops.adapt_datetimefield_value(now), annotator_id]


def pick_item(
    study: Study,
    annotator_id: int,
    now: datetime,
    passed_over: list[int],
    skip_locked: bool,
    has_expired_lease: bool = True,
) -> Item | None:
    """Return the best item to lease to the annotator, locked on PostgreSQL, or None when there is none.

    A regular item whose lease of theirs expired comes first, if it still
    has room: they may still have its page open. `has_expired_lease` False
    says they hold no expired lease in the study (see annotator_state),
    which saves the query that looks for one. Then the regular item with
    the most counted judgments below the overlap that they hold no
    assignment on (a submitted or skipped one means they are done with it),
    then sort_key. An item counts as having room while its counted
    judgments plus the unexpired leases others hold stay below the overlap.

    The item carries `own_expired` (True when it is the annotator's expired
    lease). `passed_over` lists item ids to leave out. SQLite takes no row
    locks: its IMMEDIATE transactions already hold the database's write lock.

    With `skip_locked`, an item another transaction has locked is passed by
    and the query never waits. A skipping scan may still leave locked some
    rows that a submit changed meanwhile and that no longer qualify
    (PostgreSQL keeps the lock on a row that fails its recheck), so the
    caller runs it in a savepoint and rolls that back when nothing is found.

    Without `skip_locked`, the best item is found without locking, and then
    that one row is locked, waiting for it. Locking while scanning would
    wait on one row while holding locks on rows that failed their recheck
    before it, and two pickers doing that deadlock. The caller checks the
    item's load again once it holds the lock.
    """
    passed_over_sql = ""
    if passed_over:
        passed_over_sql = f"AND item.id NOT IN ({', '.join(['%s'] * len(passed_over))})"
    lock_sql = ""
    waits_for_one_row = connection.features.has_select_for_update and not skip_locked
    if connection.features.has_select_for_update and skip_locked:
        lock_sql = "FOR UPDATE OF item SKIP LOCKED"
    leases = _lease_parameters(annotator_id, now)

    item = None
    if has_expired_lease:
        own_parameters = [annotator_id, AssignmentStatus.LEASED, study.pk, False, *leases, study.overlap, *passed_over]
        sql = _PICK_OWN_EXPIRED.format(passed_over=passed_over_sql, lock=lock_sql)
        item = next(iter(fetch_instances(Item, _prepared_unless(passed_over, sql), own_parameters)), None)
    own_expired = item is not None
    if item is None:
        new_parameters = [study.pk, False, study.overlap, annotator_id, *leases, study.overlap, *passed_over]
        sql = _PICK_NEW.format(passed_over=passed_over_sql, lock=lock_sql)
        item = next(iter(fetch_instances(Item, _prepared_unless(passed_over, sql), new_parameters)), None)
    if item is None:
        return None
    if waits_for_one_row:
        item = Item.objects.select_for_update().get(pk=item.pk)
    item.own_expired = own_expired
    return item


class AnnotatorState(NamedTuple):
    """An annotator's state in one study, as the next-task pick needs it."""

    paused: bool
    current_lease_id: int | None
    has_expired_lease: bool


def lock_annotator(annotator_id: int) -> None:
    """Lock the annotator's user row until the transaction ends.

    Only PostgreSQL takes the row lock. On SQLite, the IMMEDIATE transaction
    already holds the database's write lock.
    """
    if connection.features.has_select_for_update:
        with connection.cursor() as cursor:
            cursor.execute(prepared(_LOCK_USER), [annotator_id])


def annotator_state(study: Study, annotator_id: int, now: datetime) -> AnnotatorState:
    """Read whether the annotator is paused in `study`, their unexpired lease, and whether they hold an expired one."""
    adapted_now = connection.ops.adapt_datetimefield_value(now)
    parameters = [
        *(study.pk, annotator_id, True),
        *(study.pk, annotator_id, AssignmentStatus.LEASED, adapted_now),
        *(study.pk, annotator_id, AssignmentStatus.LEASED, adapted_now),
    ]
    with connection.cursor() as cursor:
        cursor.execute(prepared(_ANNOTATOR_STATE), parameters)
        paused, current_id, has_expired = cursor.fetchone()
    return AnnotatorState(bool(paused), current_id, bool(has_expired))


def item_load_and_tally(item_id: int, annotator_id: int, now: datetime) -> tuple[int, Tally]:
    """Return the item's load as counted for the annotator, and its left/right tally (annotate.screen_order).

    The load is the item's counted judgments plus others' unexpired leases.
    """
    parameters = [*_lease_parameters(annotator_id, now), *tally_parameters(now), item_id]
    with connection.cursor() as cursor:
        cursor.execute(prepared(_ITEM_LOAD_AND_TALLY), parameters)
        load, *tally = cursor.fetchone()
    return load, Tally(*tally)


@dataclass(frozen=True)
class StudyCounts:
    """What the task page counts for one annotator in one study.

    `done` is the annotator's judgments in the study, gold ones included.
    `left` counts what they may still be given. That is the regular items
    with room that they have neither judged nor skipped. While there are
    such items and the gold rate is above zero, it adds the gold items they
    have neither judged nor skipped. Gold counts in both, so that a submit
    changes "done of total" the same way whether the item was gold or not. `items_left` counts every regular item below
    the overlap. `last_judgment_uuid` is their latest judgment's UUID, or None.
    """

    done: int
    left: int
    items_left: int
    last_judgment_uuid: uuid.UUID | None


def study_counts(study: Study, annotator_id: int) -> StudyCounts:
    """Count the annotator's work in `study` and the items left (see StudyCounts), in one query."""
    finished = [AssignmentStatus.SUBMITTED, AssignmentStatus.SKIPPED]
    parameters = [
        *(study.pk, annotator_id),
        *(study.pk, False, study.overlap),
        *(study.pk, annotator_id, *finished, False, study.overlap),
        *(study.pk, True),
        *(study.pk, annotator_id, *finished, True),
        *(study.pk, annotator_id),
    ]
    with connection.cursor() as cursor:
        cursor.execute(prepared(_STUDY_COUNTS), parameters)
        done, items_left, regular_finished, gold_total, gold_finished, last_uuid = cursor.fetchone()
    regular_left = items_left - regular_finished
    # annotate.assignment serves gold only at a rate above zero and while
    # regular work is left, so outside those the gold not yet given is not
    # left either.
    gold_left = gold_total - gold_finished if study.gold_rate > 0 and regular_left > 0 else 0
    left = regular_left + gold_left
    # SQLite returns the UUID as 32 hex digits, psycopg2 as a string with dashes.
    if last_uuid is not None and not isinstance(last_uuid, uuid.UUID):
        last_uuid = uuid.UUID(last_uuid)
    return StudyCounts(done=done, left=left, items_left=items_left, last_judgment_uuid=last_uuid)


def lock_annotator_status(study_id: int, annotator_id: int) -> bool:
    """Lock the annotator's status row in the study, if any, and return whether they are excluded."""
    lock = "FOR NO KEY UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(prepared(_ANNOTATOR_EXCLUDED.format(lock=lock)), [study_id, annotator_id])
        row = cursor.fetchone()
    return bool(row and row[0])


def lock_item(item_id: int) -> Item:
    """Return the item, its row locked until the transaction ends (PostgreSQL); raise Item.DoesNotExist."""
    lock = "FOR UPDATE" if connection.features.has_select_for_update else ""
    item = next(iter(fetch_instances(Item, prepared(_ITEM_BY_ID.format(lock=lock)), [item_id])), None)
    if item is None:
        raise Item.DoesNotExist(f"No item with id {item_id}.")
    return item


def has_judgment(assignment_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(prepared(_HAS_JUDGMENT), [assignment_id])
        return bool(cursor.fetchone()[0])


def count_judgment(item_id: int) -> None:
    """Add one to the item's counted judgments (annotate.judgment_count)."""
    with connection.cursor() as cursor:
        cursor.execute(prepared(_COUNT_JUDGMENT), [item_id])


def set_assignment_status(assignment_id: int, status: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(prepared(_SET_ASSIGNMENT_STATUS), [status, assignment_id])


def study_criteria(study: Study) -> list[Criterion]:
    """Return the study's criteria in their order on the task page; the task page and the submit both read them."""
    return fetch_instances(Criterion, prepared(_STUDY_CRITERIA), [study.pk])
