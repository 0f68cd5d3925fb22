"""Keep `Item.counted_judgments`, the count the next-task query reads.

An item's counted judgments are its judgments that are not surplus and
whose annotator is not excluded from the study. `annotate.assignment` adds
one under the item's row lock when it stores such a judgment. Anything that
changes the count any other way (excluding an annotator, turning a gold item
back into a regular one) calls `recount` instead, which counts afresh.
"""

from django.db import transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from annotate.models import AnnotatorStatus, Item, Judgment


def counted_judgments_expression() -> Coalesce:
    """Build the SQL that counts an item's judgments toward the overlap (the item is OuterRef("pk"))."""
    excluded = AnnotatorStatus.objects.filter(
        study=OuterRef("item__study"), annotator=OuterRef("annotator"), is_excluded=True
    )
    counted = (
        Judgment.objects.filter(item=OuterRef("pk"), is_surplus=False)
        .exclude(Exists(excluded))
        .order_by()
        .values("item")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def recount(items: QuerySet[Item]) -> int:
    """Count the judgments of `items` afresh and store the counts; return how many items were updated.

    The items are locked first, so a submit on one of them waits until the
    new count is stored, and the count then includes every judgment
    committed before the lock was granted.
    """
    with transaction.atomic():
        # Locked in id order, as every other multi-item lock would be, so two
        # recounts cannot deadlock.
        list(items.select_for_update().order_by("pk").values_list("pk", flat=True))
        return Item.objects.filter(pk__in=items.values("pk")).update(counted_judgments=counted_judgments_expression())
