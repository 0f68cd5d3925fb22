"""Figures on how far a study has come, for the admin's progress page.

Every figure is counted by the database: a handful of aggregate queries per
study, whatever the number of judgments, and at most two rows per annotator
for the median time on task.

Gold items sit outside the overlap count, so they are counted apart: "items"
and "complete" cover the regular items only, and gold judgments are shown
beside the others instead of inside them.
"""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Count, F, IntegerField, Max, OuterRef, Q, Subquery, Sum, Value, Window
from django.db.models.functions import Coalesce, Greatest, RowNumber
from django.utils import timezone

from annotate.models import Assignment, AssignmentStatus, Item, Judgment, Study
from annotate.pseudonyms import annotator_label


@dataclass(frozen=True)
class AnnotatorProgress:
    """One annotator's work in a study.

    `current_lease_expires_at` is the expiry of their unexpired lease, or None.
    `last_activity` is the latest lease, submit or revision of theirs in the
    study, or None when they have not started. `median_seconds` is the median
    time on task over their judgments that have one.
    """

    user_id: int
    username: str
    is_member: bool
    judgments: int
    gold_judgments: int
    surplus_judgments: int
    skips: int
    current_lease_expires_at: datetime | None
    last_activity: datetime | None
    median_seconds: float | None

    @property
    def annotator(self) -> str:
        """The name the page shows: a pseudonym, or the account name inside `annotator_names_shown()`."""
        return annotator_label(self.user_id, self.username)


@dataclass(frozen=True)
class StudyProgress:
    """A study's progress at `measured_at`.

    `items` and `items_complete` count regular items only; an item is
    complete once its non-surplus judgments reach the overlap. `judgments`
    counts every stored judgment, surplus and gold ones included, while
    `surplus_judgments` counts surplus judgments on regular items only.
    `judgments_needed` sums, over regular items, the judgments each still
    lacks to reach the overlap (none for an item above it, which happens
    when the overlap was lowered). `leases_outstanding` are unexpired leases; `leases_expired` are leases
    that ran out without a submit or a skip.
    """

    measured_at: datetime
    overlap: int
    items: int
    items_complete: int
    gold_items: int
    judgments: int
    surplus_judgments: int
    gold_judgments: int
    skips: int
    judgments_needed: int
    leases_outstanding: int
    leases_expired: int
    annotators: list[AnnotatorProgress]

    @property
    def items_open(self) -> int:
        return self.items - self.items_complete

    @property
    def counted_judgments(self) -> int:
        """Judgments that count toward the overlap: regular and not surplus."""
        return self.judgments - self.surplus_judgments - self.gold_judgments

    @property
    def percent_complete(self) -> float:
        """Share of the regular items' judgment slots that are filled, from 0 to 100."""
        slots = self.items * self.overlap
        if not slots:
            return 0.0
        return 100.0 * (slots - self.judgments_needed) / slots


def study_progress(study: Study, now: datetime | None = None) -> StudyProgress:
    """Count the items, judgments, skips and leases of `study` at `now`, overall and per annotator."""
    now = now or timezone.now()
    items = _item_counts(study)
    judgments = Judgment.objects.filter(item__study=study).aggregate(
        total=Count("pk"),
        # Surplus on regular items only, so that total - surplus - gold is
        # exactly the judgments that count toward the overlap.
        surplus=Count("pk", filter=Q(is_surplus=True, item__is_gold=False)),
        gold=Count("pk", filter=Q(item__is_gold=True)),
    )
    leases = Assignment.objects.filter(item__study=study).aggregate(
        skips=Count("pk", filter=Q(status=AssignmentStatus.SKIPPED)),
        outstanding=Count("pk", filter=Q(status=AssignmentStatus.LEASED, expires_at__gt=now)),
        expired=Count("pk", filter=Q(status=AssignmentStatus.LEASED, expires_at__lte=now)),
    )
    return StudyProgress(
        measured_at=now,
        overlap=study.overlap,
        items=items["regular"],
        items_complete=items["complete"],
        gold_items=items["gold"],
        judgments=judgments["total"],
        surplus_judgments=judgments["surplus"],
        gold_judgments=judgments["gold"],
        judgments_needed=items["needed"],
        skips=leases["skips"],
        leases_outstanding=leases["outstanding"],
        leases_expired=leases["expired"],
        annotators=annotator_progress_rows(study, now),
    )


def _item_counts(study: Study) -> dict[str, int]:
    # A subquery, not a join with Count, so the outer aggregate can sum over it.
    counted = (
        Judgment.objects.filter(item=OuterRef("pk"), is_surplus=False)
        .order_by()
        .values("item")
        .annotate(n=Count("pk"))
        .values("n")
    )
    regular = (
        Item.objects.filter(study=study, is_gold=False)
        .annotate(counted=Coalesce(Subquery(counted, output_field=IntegerField()), Value(0)))
        .aggregate(
            complete=Count("pk", filter=Q(counted__gte=study.overlap)),
            needed=Coalesce(Sum(Greatest(Value(study.overlap) - F("counted"), Value(0))), Value(0)),
        )
    )
    totals = Item.objects.filter(study=study).aggregate(
        regular=Count("pk", filter=Q(is_gold=False)), gold=Count("pk", filter=Q(is_gold=True))
    )
    return {**regular, **totals}


def annotator_progress_rows(study: Study, now: datetime) -> list[AnnotatorProgress]:
    """Return a row for every member of `study` and everyone else who worked in it, by username.

    Someone removed from the study keeps a row while their leases or
    judgments remain, marked as no longer a member.
    """
    judged = {
        row["annotator"]: row
        for row in Judgment.objects.filter(item__study=study)
        .values("annotator")
        .order_by()
        .annotate(
            total=Count("pk"),
            gold=Count("pk", filter=Q(item__is_gold=True)),
            surplus=Count("pk", filter=Q(is_surplus=True, item__is_gold=False)),
            last_submit=Max("created_at"),
            last_revision=Max("revised_at"),
        )
    }
    assigned = {
        row["annotator"]: row
        for row in Assignment.objects.filter(item__study=study)
        .values("annotator")
        .order_by()
        .annotate(
            skips=Count("pk", filter=Q(status=AssignmentStatus.SKIPPED)),
            last_lease=Max("leased_at"),
            lease_expires=Max("expires_at", filter=Q(status=AssignmentStatus.LEASED, expires_at__gt=now)),
        )
    }
    medians = median_time_on_task(study)
    members = set(study.annotators.values_list("pk", flat=True))

    user_ids = members | set(judged) | set(assigned)
    users = get_user_model().objects.filter(pk__in=user_ids).order_by("username").values_list("pk", "username")
    rows = []
    for user_id, username in users:
        judgment_row = judged.get(user_id, {})
        assignment_row = assigned.get(user_id, {})
        rows.append(
            AnnotatorProgress(
                user_id=user_id,
                username=username,
                is_member=user_id in members,
                judgments=judgment_row.get("total", 0),
                gold_judgments=judgment_row.get("gold", 0),
                surplus_judgments=judgment_row.get("surplus", 0),
                skips=assignment_row.get("skips", 0),
                current_lease_expires_at=assignment_row.get("lease_expires"),
                last_activity=_latest(
                    judgment_row.get("last_submit"),
                    judgment_row.get("last_revision"),
                    assignment_row.get("last_lease"),
                ),
                median_seconds=medians.get(user_id),
            )
        )
    return rows


def _latest(*moments: datetime | None) -> datetime | None:
    known = [moment for moment in moments if moment is not None]
    return max(known) if known else None


def median_time_on_task(study: Study) -> dict[int, float]:
    """Return {annotator id: median time on task in seconds} over their judgments in `study`.

    Each annotator's times are numbered in order by a window function, and
    only the middle one (odd count) or the middle two (even count) leave
    the database, so the work stays in SQL on SQLite and PostgreSQL alike.
    Judgments without a time on task are left out.
    """
    ranked = (
        Judgment.objects.filter(item__study=study, time_on_task_seconds__isnull=False)
        .annotate(
            position=Window(
                RowNumber(), partition_by=[F("annotator")], order_by=[F("time_on_task_seconds").asc(), F("pk").asc()]
            ),
            count=Window(Count("pk"), partition_by=[F("annotator")]),
        )
        # Integer division: for a count n the middle positions are
        # (n + 1) / 2 and (n + 2) / 2, the same one when n is odd.
        .filter(position__gte=(F("count") + 1) / 2, position__lte=(F("count") + 2) / 2)
        .order_by()
        .values_list("annotator", "time_on_task_seconds")
    )
    middles: dict[int, list[float]] = {}
    for annotator_id, seconds in ranked:
        middles.setdefault(annotator_id, []).append(seconds)
    return {annotator_id: sum(values) / len(values) for annotator_id, values in middles.items()}
