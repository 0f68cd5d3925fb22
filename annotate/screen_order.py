"""Choose the left/right order of a new assignment, balanced per item and per pair.

An annotator shown one system on the left more often may favour it for its
position alone. The order is therefore balanced, not drawn per
assignment:

1. Per item: among the item's counted assignments (submitted, or leased and
   not expired), the next one takes the side shown less often, so the two
   counts never differ by more than 1. At a tie, it repeats the item's
   start, the order of its earliest counted assignment, so the orders
   alternate.
2. Per pair of systems: an item's first counted assignment sets its start.
   The start puts on the left the system of the pair that the other items'
   starts put there less often, so with an odd overlap (where the start
   gets one assignment more) the pair's left counts also end within 1. When
   the pair's starts are even, the start is drawn at random, so the order
   stays unpredictable.

Limits: an assignment that expires unsubmitted, or is skipped, stops
counting, so the next one may repeat its side. Two items of one pair whose
first leases race may both take the same start, leaving that pair 2 apart.
Rating items and attention checks (one model response) use step 1 only,
with a random start.
"""

import random
from datetime import datetime

from django.db import connection

from annotate.models import Assignment, AssignmentStatus, Item
from generation.models import Response

_ASSIGNMENT = Assignment._meta.db_table
_ITEM = Item._meta.db_table
_RESPONSE = Response._meta.db_table

# The SQL below is written by hand because the ORM took more CPU to build
# these queries than the database took to run them, on every new lease
# (see annotate.lease_sql). It runs unchanged on SQLite and PostgreSQL.

# Whether an assignment `alias` counts: submitted, or leased and not
# expired. Parameters: submitted, leased, now.
_COUNTED = "({alias}.status = %s OR ({alias}.status = %s AND {alias}.expires_at > %s))"

# An item's start: the order of its earliest counted assignment, NULL when
# it has none. The outer query names the item `{item}`.
_START = f"""(
    SELECT earliest.first_on_left FROM {_ASSIGNMENT} earliest
     WHERE earliest.item_id = {{item}}.id AND {_COUNTED.format(alias="earliest")}
     ORDER BY earliest.leased_at, earliest.id
     LIMIT 1
)"""

# One item's counted assignments: how many show its first response on the
# left, how many there are, and the item's start.
_ITEM_TALLY = f"""
SELECT COUNT(counted.id) FILTER (WHERE counted.first_on_left = %s),
       COUNT(counted.id),
       {_START.format(item="item")}
  FROM {_ITEM} item
  LEFT JOIN {_ASSIGNMENT} counted
    ON counted.item_id = item.id AND {_COUNTED.format(alias="counted")}
 WHERE item.id = %s
 GROUP BY item.id
"""

# The other items of the study that compare the same two runs (in either
# canonical order), counted by start: "same way" starts put this item's
# first run on the left. Parameters: first run (start true), second run
# (start false), first run (start false), second run (start true), the
# counted-assignment parameters, study, gold flag, item, the two runs
# twice in both orders.
_PAIR_TALLY = f"""
SELECT COUNT(*) FILTER (WHERE (first_run = %s AND start = %s) OR (first_run = %s AND start = %s)),
       COUNT(*) FILTER (WHERE (first_run = %s AND start = %s) OR (first_run = %s AND start = %s))
  FROM (
    SELECT first_response.run_id AS first_run, {_START.format(item="sibling")} AS start
      FROM {_ITEM} sibling
      JOIN {_RESPONSE} first_response ON first_response.id = sibling.first_response_id
      JOIN {_RESPONSE} second_response ON second_response.id = sibling.second_response_id
     WHERE sibling.study_id = %s AND sibling.is_gold = %s AND sibling.id <> %s
       AND ((first_response.run_id = %s AND second_response.run_id = %s)
         OR (first_response.run_id = %s AND second_response.run_id = %s))
  ) siblings
"""


def choose_first_on_left(item: Item, now: datetime, rng: random.Random) -> bool:
    """Return whether a new assignment of `item` shows its first response on the left.

    Balance per item holds when the caller locks the item's row first, as
    annotate.assignment does for regular items; gold items are leased
    without that lock. `rng` draws the start when nothing else decides it; it needs
    a `random()` method returning a float in [0, 1).
    """
    with connection.cursor() as cursor:
        cursor.execute(_ITEM_TALLY, [True, *_counted_parameters(now), *_counted_parameters(now), item.pk])
        left, total, start = cursor.fetchone()
    right = total - left
    if left != right:
        return left < right
    if start is None:
        # The item's first counted assignment: it has no start yet.
        return _pair_start(item, now, rng)
    return bool(start)


def _counted_parameters(now: datetime) -> list:
    return [AssignmentStatus.SUBMITTED, AssignmentStatus.LEASED, connection.ops.adapt_datetimefield_value(now)]


def _pair_start(item: Item, now: datetime, rng: random.Random) -> bool:
    """Pick the start of `item` that evens out the starts of its pair's other items."""
    if item.first_response_id is None or item.second_response_id is None:
        return rng.random() < 0.5

    # One query for both runs, without loading the responses' texts.
    runs = dict(
        Response.objects.filter(pk__in=[item.first_response_id, item.second_response_id]).values_list("pk", "run_id")
    )
    first_run = runs[item.first_response_id]
    second_run = runs[item.second_response_id]
    parameters = [
        *(first_run, True, second_run, False),
        *(first_run, False, second_run, True),
        *_counted_parameters(now),
        *(item.study_id, item.is_gold, item.pk),
        *(first_run, second_run, second_run, first_run),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_PAIR_TALLY, parameters)
        same_way, other_way = cursor.fetchone()
    if same_way != other_way:
        return same_way < other_way
    return rng.random() < 0.5
