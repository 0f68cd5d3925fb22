"""Choose the left/right order of a new assignment, balanced per item and per pair.

An annotator shown one system on the left more often may favour it for its
position alone. The order is therefore balanced, not drawn per
assignment:

1. Per item: among the item's counted assignments (submitted, or leased and
   not expired), the next one takes the side shown less often, so the two
   counts never differ by more than 1. At a tie, it repeats the item's
   start, the order of its earliest counted assignment, so the orders
   alternate.
2. Per pair of systems: an item's first counted assignment shows its
   canonical first response on the left. annotate.items builds each pair's
   items with the canonical order drawn so that each system of the pair
   comes first in half of them (within 1) and the draw is random, so the
   starts of a pair are balanced and unpredictable without counting the
   pair's other items on each lease. Once a study is fully judged, with an
   odd overlap (where the start gets one assignment more) the pair's left
   counts end within 1. Partway through, they are as balanced as the items
   started so far, which are a random subset of the pair's items.

Limits: an assignment that expires unsubmitted, or is skipped, stops
counting, so the next one may repeat its side. Rating items and attention
checks (one model response) use step 1 only, with a random start.
"""

import random
from datetime import datetime
from typing import NamedTuple

from django.db import connection

from annotate.models import Assignment, AssignmentStatus, Item
from humeval.prepared import prepared

_ASSIGNMENT = Assignment._meta.db_table
_ITEM = Item._meta.db_table

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


# The same tally as _ITEM_TALLY, as three select-list expressions for an
# outer query that names the item `item`. A query that the caller runs
# anyway reads them too (annotate.lease_sql.item_load_and_tally). Their
# parameters come from tally_parameters.
ITEM_TALLY_COLUMNS = f"""
       (SELECT COUNT(*) FROM {_ASSIGNMENT} counted
         WHERE counted.item_id = item.id AND {_COUNTED.format(alias="counted")} AND counted.first_on_left = %s),
       (SELECT COUNT(*) FROM {_ASSIGNMENT} counted
         WHERE counted.item_id = item.id AND {_COUNTED.format(alias="counted")}),
       {_START.format(item="item")}"""


class Tally(NamedTuple):
    """An item's counted assignments: how many show its first response on the left, how many in all, its start."""

    left: int
    total: int
    start: bool | None


def tally_parameters(now: datetime) -> list:
    """Return the parameters of ITEM_TALLY_COLUMNS, in order."""
    return [*_counted_parameters(now), True, *_counted_parameters(now), *_counted_parameters(now)]


def choose_first_on_left(item: Item, now: datetime, rng: random.Random, tally: Tally | None = None) -> bool:
    """Return whether a new assignment of `item` shows its first response on the left.

    Balance per item holds when the caller locks the item's row first, as
    annotate.assignment does for regular items; gold items are leased
    without that lock. `rng` draws the start when nothing else decides it; it needs
    a `random()` method returning a float in [0, 1). `tally` is the item's
    tally when the caller has read it under that lock; None reads it here.
    """
    if tally is None:
        with connection.cursor() as cursor:
            parameters = [True, *_counted_parameters(now), *_counted_parameters(now), item.pk]
            cursor.execute(prepared(_ITEM_TALLY), parameters)
            tally = Tally(*cursor.fetchone())
    left, total, start = tally
    right = total - left
    if left != right:
        return left < right
    if start is None:
        # The item's first counted assignment: it has no start yet.
        if item.first_response_id is not None and item.second_response_id is not None:
            return True
        return rng.random() < 0.5
    return bool(start)


def _counted_parameters(now: datetime) -> list:
    return [AssignmentStatus.SUBMITTED, AssignmentStatus.LEASED, connection.ops.adapt_datetimefield_value(now)]
