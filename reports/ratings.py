"""Mean scores of a rating study, per system and criterion."""

import math
from dataclasses import dataclass, field

from django.db.models import BigIntegerField, Count, F, Sum
from django.db.models.functions import Cast

from annotate.models import Criterion, Study, StudyKind
from reports.answers import counted_answers, require_kind
from reports.systems import System, load_systems


@dataclass
class SystemRating:
    """One system's scores on one criterion."""

    system: System
    count: int = 0
    mean: float | None = None
    # Sample standard deviation (n - 1 in the denominator); None below two scores.
    std_dev: float | None = None


@dataclass
class CriterionRatings:
    """Scores per system for one criterion, best mean first."""

    criterion: Criterion
    include_surplus: bool
    systems: list[SystemRating] = field(default_factory=list)

    @property
    def answers(self) -> int:
        return sum(rating.count for rating in self.systems)


def study_ratings(
    study: Study, *, include_surplus: bool = False, include_excluded: bool = False
) -> list[CriterionRatings]:
    """Compute mean, count and standard deviation of scores per system and criterion.

    1. Count and sum scores and their squares per criterion and run in one query.
    2. Give every system of the study a row per criterion, empty when it has no scores.
    3. Sort each criterion's rows by mean, best first; systems without scores go last.
    """
    require_kind(study, StudyKind.RATING)
    answers = counted_answers(
        include_surplus=include_surplus, include_excluded=include_excluded, criterion__study=study, score__isnull=False
    )
    # Integer sums instead of Avg and StdDev: Django's SQLite STDDEV_SAMP
    # raises below two values where PostgreSQL returns NULL. The cast keeps
    # PostgreSQL from squaring in smallint, which overflows above 181.
    score = Cast("score", BigIntegerField())
    rows = answers.values("criterion_id", run_id=F("judgment__item__first_response__run_id")).annotate(
        count=Count("pk"), total=Sum("score"), total_of_squares=Sum(score * score)
    )
    by_key = {(row["criterion_id"], row["run_id"]): row for row in rows}

    systems = load_systems(study)
    summaries = []
    for criterion in study.criteria.order_by("position", "pk"):
        ratings = [_rating(system, by_key.get((criterion.pk, system.run_id))) for system in systems.values()]
        ratings.sort(key=lambda rating: (rating.mean is None, -(rating.mean or 0.0), rating.system.name))
        summaries.append(CriterionRatings(criterion, include_surplus, ratings))
    return summaries


def _rating(system: System, row: dict | None) -> SystemRating:
    if row is None:
        return SystemRating(system)
    count, total = row["count"], row["total"]
    std_dev = None
    if count >= 2:
        variance = (count * row["total_of_squares"] - total * total) / (count * (count - 1))
        std_dev = math.sqrt(variance)
    return SystemRating(system, count=count, mean=total / count, std_dev=std_dev)
