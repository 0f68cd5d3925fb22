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

from django.db.models import Count, OuterRef, Q, Subquery

from annotate.models import Assignment, AssignmentStatus, Item


def choose_first_on_left(item: Item, now: datetime, rng: random.Random) -> bool:
    """Return whether a new assignment of `item` shows its first response on the left.

    Balance per item holds when the caller locks the item's row first, as
    annotate.assignment does for regular items; gold items are leased
    without that lock. `rng` draws the start when nothing else decides it; it needs
    a `random()` method returning a float in [0, 1).
    """
    counted = _counted_assignments(now).filter(item=item)
    tally = counted.aggregate(left=Count("pk", filter=Q(first_on_left=True)), total=Count("pk"))
    left, right = tally["left"], tally["total"] - tally["left"]
    if left != right:
        return left < right

    start = counted.order_by("leased_at", "pk").values_list("first_on_left", flat=True).first()
    if start is not None:
        return start
    return _pair_start(item, now, rng)


def _counted_assignments(now: datetime):
    return Assignment.objects.filter(
        Q(status=AssignmentStatus.SUBMITTED) | Q(status=AssignmentStatus.LEASED, expires_at__gt=now)
    )


def _pair_start(item: Item, now: datetime, rng: random.Random) -> bool:
    """Pick the start of `item` that evens out the starts of its pair's other items."""
    if item.first_response_id is None or item.second_response_id is None:
        return rng.random() < 0.5

    first_run = item.first_response.run_id
    second_run = item.second_response.run_id
    siblings = (
        Item.objects.filter(study_id=item.study_id, is_gold=item.is_gold)
        .filter(
            Q(first_response__run_id=first_run, second_response__run_id=second_run)
            | Q(first_response__run_id=second_run, second_response__run_id=first_run)
        )
        .exclude(pk=item.pk)
    )
    start = Subquery(
        _counted_assignments(now).filter(item=OuterRef("pk")).order_by("leased_at", "pk").values("first_on_left")[:1]
    )
    # "Same way" starts put this item's first system on the left.
    tally = siblings.annotate(start=start).aggregate(
        same_way=Count(
            "pk",
            filter=Q(first_response__run_id=first_run, start=True) | Q(first_response__run_id=second_run, start=False),
        ),
        other_way=Count(
            "pk",
            filter=Q(first_response__run_id=first_run, start=False) | Q(first_response__run_id=second_run, start=True),
        ),
    )
    if tally["same_way"] != tally["other_way"]:
        return tally["same_way"] < tally["other_way"]
    return rng.random() < 0.5
