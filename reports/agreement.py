"""Agreement between annotators per criterion: Krippendorff's alpha and percent agreement.

Alpha comes from the `krippendorff` package. The level of measurement is
always passed, because the package defaults to interval. Pairwise choices
are nominal, Likert scores ordinal, and interval is used only on request.
The reliability data is passed
as value counts, a units × values matrix built from one aggregated query
(judgments counted per item and value), so no per-judgment objects are made.

A pairwise judgment's value is its result relative to the item's canonical
order (first wins, second wins, tie, both bad), never the screen position.
So two annotators who prefer the same response agree even when one saw it
on the left and the other on the right.
"""

from collections import Counter
from dataclasses import dataclass

import krippendorff
import numpy as np
from django.db.models import Count, F
from django.utils.translation import gettext

from annotate.models import Criterion, Study, StudyKind
from reports.answers import counted_answers
from reports.pairwise import CANONICAL_RESULTS, canonical_result

NOMINAL = "nominal"
ORDINAL = "ordinal"
INTERVAL = "interval"
RATIO = "ratio"
LEVELS = (NOMINAL, ORDINAL, INTERVAL, RATIO)


@dataclass
class AgreementResult:
    """Agreement on one criterion and the data it rests on.

    `items` and `judgments` count only items with two or more judgments,
    because only those contain pairs of judgments to compare. When alpha is
    undefined, `alpha` is None and `reason` gives the cause in the active
    language.
    """

    criterion: Criterion
    level: str
    alpha: float | None
    percent_agreement: float | None
    items: int
    judgments: int
    reason: str = ""


def criterion_agreement(
    criterion: Criterion, *, include_surplus: bool = False, include_excluded: bool = False, level: str | None = None
) -> AgreementResult:
    """Compute agreement on one criterion at `level`, by default the one the study kind needs."""
    chosen_level = _level(criterion.study, level)
    answers = counted_answers(include_surplus=include_surplus, include_excluded=include_excluded, criterion=criterion)
    counts = _value_counts_by_criterion(answers, criterion.study.kind)
    return _agreement(criterion, counts.get(criterion.pk, {}), chosen_level)


def study_agreement(
    study: Study, *, include_surplus: bool = False, include_excluded: bool = False, level: str | None = None
) -> list[AgreementResult]:
    """Compute agreement on every criterion of a study, in criterion order, from one query."""
    chosen_level = _level(study, level)
    answers = counted_answers(
        include_surplus=include_surplus, include_excluded=include_excluded, criterion__study=study
    )
    counts = _value_counts_by_criterion(answers, study.kind)
    return [
        _agreement(criterion, counts.get(criterion.pk, {}), chosen_level)
        for criterion in study.criteria.order_by("position", "pk")
    ]


def _level(study: Study, level: str | None) -> str:
    """Return the level of measurement to use, rejecting one that does not fit the study."""
    if level is None:
        return NOMINAL if study.kind == StudyKind.PAIRWISE else ORDINAL
    if level not in LEVELS:
        raise ValueError(f"Unknown level of measurement {level!r}. Use one of {', '.join(LEVELS)}.")
    if study.kind == StudyKind.PAIRWISE and level != NOMINAL:
        raise ValueError(f"Pairwise choices have no order, so use level {NOMINAL!r}, not {level!r}.")
    return level


def _value_counts_by_criterion(answers, kind: str) -> dict[int, dict[int, Counter]]:
    """Count judgments per criterion, item and value: {criterion id: {item id: Counter}}."""
    if kind == StudyKind.PAIRWISE:
        answers = answers.annotate(value=canonical_result()).filter(value__in=CANONICAL_RESULTS)
    else:
        answers = answers.filter(score__isnull=False).annotate(value=F("score"))
    rows = answers.values("criterion_id", "value", item_id=F("judgment__item_id")).annotate(count=Count("pk"))

    counts: dict[int, dict[int, Counter]] = {}
    for row in rows:
        items = counts.setdefault(row["criterion_id"], {})
        items.setdefault(row["item_id"], Counter())[row["value"]] = row["count"]
    return counts


def _agreement(criterion: Criterion, counts_by_item: dict[int, Counter], level: str) -> AgreementResult:
    """Compute alpha and percent agreement from value counts per item.

    1. Keep items with two or more judgments, because the others contain no
       pair to compare.
    2. Return a reason instead of alpha when no item is left or when all
       remaining judgments share one value. krippendorff 0.9.0 raises
       ValueError on both. With one value the disagreement expected by
       chance is zero, so alpha would be 0 / 0.
    3. Build the units × values matrix over the values that occur, ordered
       by value for ordinal and interval levels, and call the package.
    """
    units = [counter for counter in counts_by_item.values() if counter.total() >= 2]
    judgments = sum(counter.total() for counter in units)
    result = AgreementResult(criterion, level, None, None, items=len(units), judgments=judgments)
    if not units:
        result.reason = _no_pairs_reason(counts_by_item)
        return result

    result.percent_agreement = percent_agreement(units)
    values = sorted({value for counter in units for value in counter})
    if len(values) < 2:
        result.reason = gettext(
            "Not enough data: every judgment on items with two or more annotators gives the "
            "same answer, so the disagreement expected by chance is zero and alpha is undefined."
        )
        return result

    matrix = np.array([[counter[value] for value in values] for counter in units])
    # Nominal distances only test values for equality, so column numbers
    # suffice. The interval and ratio levels need the scores as the domain.
    # The ordinal level uses ranks only, but gets the scores for clarity.
    domain = None if level == NOMINAL else values
    try:
        result.alpha = float(krippendorff.alpha(value_counts=matrix, value_domain=domain, level_of_measurement=level))
    except ValueError as error:
        result.reason = gettext("Alpha could not be computed: %(error)s") % {"error": error}
    return result


def _no_pairs_reason(counts_by_item: dict[int, Counter]) -> str:
    if not counts_by_item:
        return gettext("Not enough data: there are no judgments yet.")
    return gettext("Not enough data: no item has judgments from two annotators yet.")


def percent_agreement(units: list[Counter]) -> float:
    """Return the share of agreeing pairs among all pairs of judgments on the same item.

    Pairs are pooled over items, so an item with n judgments weighs
    n * (n - 1) / 2 pairs.
    """
    agreeing = sum(count * (count - 1) // 2 for counter in units for count in counter.values())
    pairs = sum(counter.total() * (counter.total() - 1) // 2 for counter in units)
    return agreeing / pairs
