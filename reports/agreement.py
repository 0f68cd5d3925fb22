"""Agreement between annotators: per criterion, over the whole study and per annotator.

Figures, each given with the items and judgments it rests on:
- Krippendorff's alpha from the `krippendorff` package at the level the
  study kind needs: nominal for pairwise choices, ordinal for Likert
  scores, interval or ratio on request. The level is always passed,
  because the package defaults to interval. A percentile bootstrap over
  items gives its confidence interval (reports.agreement_statistics).
- Percent agreement: the share of agreeing pairs among all pairs of
  judgments on the same item, pooled over items, with a bootstrap interval.
  Pairwise studies also get it "without ties": judgments whose outcome is
  a tie or "both bad" are left out, and the pairs are those among the
  remaining judgments.
- Fleiss' kappa on the items with the most common number of judgments.
  It treats values as categories, so scores too are nominal there.
- Cohen's kappa when exactly two annotators judged a criterion, on the
  items both judged: unweighted for pairwise choices, with quadratic
  weights on the score difference for ratings.
- Per annotator, agreement with the others: of all pairs made of one of
  their judgments and another annotator's judgment on the same item and
  criterion, the share that agree.

Over the whole study, each criterion of an item is one unit, and the
bootstrap draws items with all their criteria. Rating criteria with
different scales are not pooled.

Input: the study's answers as numpy arrays, read once per report
(reports.answer_table). From them come the units × values count matrix
passed to the package as `value_counts`, each annotator's pairs with the
others, and, where a criterion has exactly two annotators, the values they
gave the same items. No Python object is made per judgment.

A pairwise judgment's value is its result relative to the item's canonical
order (first wins, second wins, tie, both bad), never the screen position.
So two annotators who prefer the same response agree even when one saw it
on the left and the other on the right.
"""

import math
from collections import Counter
from dataclasses import asdict, dataclass, replace
from importlib import metadata

import krippendorff
import numpy as np
from django.contrib.auth import get_user_model
from django.utils import translation
from django.utils.translation import gettext

from annotate.models import Criterion, Study, StudyKind
from annotate.progress import median_time_on_task
from annotate.pseudonyms import NamedAnnotator
from annotate.quality import AnnotatorQuality, annotator_quality
from reports import agreement_statistics as statistics
from reports.agreement_statistics import INTERVAL, LEVELS, NOMINAL, ORDINAL
from reports.answer_table import NO_RESULT, NO_SCORE, StudyAnswers, load_study_answers
from reports.grouping import unique_ids
from reports.pairwise import CANONICAL_RESULTS
from reports.ranking import DEFAULT_CONFIDENCE, DEFAULT_ROUNDS, DEFAULT_SEED, Interval, percentile_interval

# Pairwise values are the canonical results coded 0 to 3 in this order;
# the first two are the decisive ones.
PAIRWISE_CODES = {result: code for code, result in enumerate(CANONICAL_RESULTS)}
DECISIVE_CODES = (0, 1)
RESAMPLED_UNIT = "item"


# Results


@dataclass(frozen=True)
class BootstrapMethod:
    """Bootstrap settings of the intervals: rounds, seed, confidence level and the unit drawn with replacement."""

    rounds: int
    seed: int
    confidence: float
    resampled_unit: str = RESAMPLED_UNIT


@dataclass
class FleissKappa:
    """Fleiss' kappa on the `items` with exactly `judgments_per_item` judgments.

    `items_left_out` counts the items with two or more judgments but another count.
    """

    value: float | None
    items: int
    judgments_per_item: int | None
    items_left_out: int
    reason: str = ""


@dataclass
class CohenKappa:
    """Cohen's kappa between the only two annotators of a criterion, on the `items` both judged."""

    value: float | None
    items: int
    weighting: str
    annotators: tuple[NamedAnnotator, NamedAnnotator]
    reason: str = ""


@dataclass
class AgreementResult:
    """Agreement on one criterion, or over all criteria when `criterion` is None, and the data it rests on.

    `items` and `judgments` count only items with two or more judgments on
    the criterion, because only those contain pairs of judgments to
    compare. Over all criteria, each item and criterion is one unit:
    `units` counts those with two or more judgments, `items` the items
    they belong to, and `judgments` their answers, one per judgment and
    criterion. Per criterion, `units` equals `items`. When alpha is undefined, `alpha` is None and
    `reason` gives the cause in the active language; `interval_reason` does
    the same for the intervals. The `decisive_` figures leave ties and
    "both bad" out and exist for pairwise studies only.
    """

    criterion: Criterion | None
    level: str
    alpha: float | None
    percent_agreement: float | None
    items: int
    judgments: int
    reason: str = ""
    pairwise: bool = False
    units: int = 0
    alpha_interval: Interval | None = None
    percent_agreement_interval: Interval | None = None
    interval_reason: str = ""
    undefined_rounds: int = 0
    decisive_percent_agreement: float | None = None
    decisive_items: int = 0
    decisive_judgments: int = 0
    fleiss: FleissKappa | None = None
    cohen: CohenKappa | None = None
    method: BootstrapMethod | None = None


@dataclass
class AnnotatorAgreement:
    """One annotator's pairs with other annotators' judgments on the same item and criterion, over all criteria.

    `compared_judgments` counts their answers on items someone else judged too.
    """

    user_id: int
    agreeing_pairs: int = 0
    pairs: int = 0
    compared_judgments: int = 0

    @property
    def share(self) -> float | None:
        return self.agreeing_pairs / self.pairs if self.pairs else None


@dataclass
class StudyAgreement:
    """Agreement over all criteria, per criterion in criterion order, and per annotator (by user id)."""

    overall: AgreementResult
    criteria: list[AgreementResult]
    annotators: dict[int, AnnotatorAgreement]
    method: BootstrapMethod


@dataclass(frozen=True)
class AnnotatorFigures(AnnotatorQuality):
    """An annotator's quality row plus their agreement with the others and their median time per task.

    The agreement follows the report's options for surplus judgments and
    excluded annotators. `median_seconds` covers all their judgments in the
    study that have a time on task, gold items included.
    """

    agreeing_pairs: int = 0
    pairs: int = 0
    compared_judgments: int = 0
    median_seconds: float | None = None

    @property
    def agreement(self) -> float | None:
        return self.agreeing_pairs / self.pairs if self.pairs else None


# Entry points


def study_agreement_report(
    study: Study,
    *,
    include_surplus: bool = False,
    include_excluded: bool = False,
    level: str | None = None,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
    table: StudyAnswers | None = None,
) -> StudyAgreement:
    """Compute every agreement figure of a study: over all criteria, per criterion and per annotator.

    `table` is the study's answers as `load_study_answers` read them; it is
    read here when not given.
    """
    criteria = list(study.criteria.order_by("position", "pk"))
    return _study_agreement(
        table or load_study_answers(study),
        criteria,
        include_surplus,
        include_excluded,
        _level(study, level),
        bootstrap_method(rounds, seed, confidence),
    )


def study_agreement(study: Study, **options) -> list[AgreementResult]:
    """Compute agreement on every criterion of a study, in criterion order; options as study_agreement_report."""
    return study_agreement_report(study, **options).criteria


def criterion_agreement(
    criterion: Criterion,
    *,
    include_surplus: bool = False,
    include_excluded: bool = False,
    level: str | None = None,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> AgreementResult:
    """Compute agreement on one criterion at `level`, by default the one the study kind needs."""
    study = criterion.study
    report = _study_agreement(
        load_study_answers(study),
        [criterion],
        include_surplus,
        include_excluded,
        _level(study, level),
        bootstrap_method(rounds, seed, confidence),
    )
    return report.criteria[0]


def agreement_from_value_counts(
    value_counts: np.ndarray,
    values: np.ndarray,
    *,
    level: str,
    pairwise: bool = False,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> AgreementResult:
    """Compute the agreement figures on an items × values count matrix, without a database.

    `values` are the sorted values the columns stand for; pairwise values
    are the codes of PAIRWISE_CODES. Cohen's kappa needs to know who gave
    which value, so it is not computed here. Benchmarks and notebooks use
    this to run the report's computation on counts made elsewhere.
    """
    if level not in LEVELS:
        raise ValueError(f"Unknown level of measurement {level!r}. Use one of {', '.join(LEVELS)}.")
    counts = np.asarray(value_counts, dtype=np.int64)
    data = _Counts(np.arange(counts.shape[0]), np.asarray(values), counts[:, np.newaxis, :])
    method = bootstrap_method(rounds, seed, confidence)
    return _agreement(None, data, [0], level, pairwise, None, method)


def annotator_figures(
    study: Study, agreement: StudyAgreement, table: StudyAnswers | None = None
) -> list[AnnotatorFigures]:
    """Return the study's annotator quality rows with each one's agreement and median time per task added.

    With `table`, the judgment counts and median times come from its
    arrays instead of two queries over every judgment of the study.
    """
    if table is None:
        medians = median_time_on_task(study)
        qualities = annotator_quality(study)
    else:
        medians = table.median_seconds()
        qualities = annotator_quality(study, regular_counts=table.regular_judgments_per_annotator())
    rows = []
    for quality in qualities:
        peers = agreement.annotators.get(quality.user_id, AnnotatorAgreement(quality.user_id))
        rows.append(
            AnnotatorFigures(
                **asdict(quality),
                agreeing_pairs=peers.agreeing_pairs,
                pairs=peers.pairs,
                compared_judgments=peers.compared_judgments,
                median_seconds=medians.get(quality.user_id),
            )
        )
    return rows


def resolve_level(study: Study, text: str) -> tuple[str | None, str]:
    """Read a level of measurement from the report page's options: (level or None for the default, error).

    Rating studies accept ordinal (the default) and interval; pairwise
    studies only nominal. Anything else gives an error message in the
    active language and the default level.
    """
    if not text:
        return None, ""
    allowed = allowed_levels(study)
    if text in allowed:
        return text, ""
    error = gettext("Unknown level of measurement “%(level)s”: use one of %(allowed)s. The default level is shown.")
    return None, error % {"level": text, "allowed": ", ".join(allowed)}


def allowed_levels(study: Study) -> tuple[str, ...]:
    """Return the levels of measurement a report of `study` may ask for, the default first."""
    return (NOMINAL,) if study.kind == StudyKind.PAIRWISE else (ORDINAL, INTERVAL)


def _level(study: Study, level: str | None) -> str:
    """Return the level of measurement to use, rejecting one that does not fit the study."""
    if level is None:
        return NOMINAL if study.kind == StudyKind.PAIRWISE else ORDINAL
    if level not in LEVELS:
        raise ValueError(f"Unknown level of measurement {level!r}. Use one of {', '.join(LEVELS)}.")
    if study.kind == StudyKind.PAIRWISE and level != NOMINAL:
        raise ValueError(f"Pairwise choices have no order, so use level {NOMINAL!r}, not {level!r}.")
    return level


def bootstrap_method(
    rounds: int, seed: int, confidence: float, resampled_unit: str = RESAMPLED_UNIT
) -> BootstrapMethod:
    """Check the bootstrap options and return them as a BootstrapMethod; ValueError names a bad one."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise ValueError(f"Bootstrap rounds must be a whole number of at least 0, not {rounds!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"The bootstrap seed must be a whole number of at least 0, not {seed!r}.")
    if not 0 < confidence < 1:
        raise ValueError(f"The confidence level must lie between 0 and 1, not {confidence!r}.")
    return BootstrapMethod(rounds, seed, confidence, resampled_unit)


# Queries


@dataclass
class _Counts:
    """Judgments per item, criterion and value: counts[i, c, v] for items[i], criteria[c] and values[v].

    `items` numbers the items; from a StudyAnswers table, by their rows there.
    """

    items: np.ndarray
    values: np.ndarray
    counts: np.ndarray


def _study_agreement(
    table: StudyAnswers,
    criteria: list[Criterion],
    include_surplus: bool,
    include_excluded: bool,
    level: str,
    method: BootstrapMethod,
) -> StudyAgreement:
    """Compute every figure from the study's answers.

    1. Count judgments per item, criterion and value into one array.
    2. Count each annotator's pairs with the others per criterion; this
       also shows which criteria have exactly two annotators.
    3. For those criteria, count the pairs of values the two gave per item
       (Cohen's kappa).
    4. Compute the figures per criterion and over all criteria.
    """
    pairwise = table.study.kind == StudyKind.PAIRWISE
    valued = _valued_answers(table, criteria, include_surplus, include_excluded, pairwise)
    counts, item_rows, value_columns = _count_values(valued, len(criteria), pairwise)
    peer_rows = _annotator_pair_rows(valued, counts, item_rows, value_columns, criteria)
    annotators_per_criterion: dict[int, set[int]] = {}
    for criterion_id, annotator_id, *_pairs in peer_rows:
        annotators_per_criterion.setdefault(criterion_id, set()).add(annotator_id)
    confusions, names = _count_confusions(valued, criteria, annotators_per_criterion)

    weighting = statistics.UNWEIGHTED if level == NOMINAL else statistics.QUADRATIC
    results = []
    for position, criterion in enumerate(criteria):
        cohen = _cohen(confusions.get(criterion.pk), weighting, names.get(criterion.pk))
        results.append(_agreement(criterion, counts, [position], level, pairwise, cohen, method))

    if len(results) == 1:
        # With one criterion the pooled figures are that criterion's own.
        overall = replace(results[0], criterion=None)
    else:
        study_annotators = set().union(*annotators_per_criterion.values())
        overall = _overall(
            criteria, counts, confusions, names, len(study_annotators), level, pairwise, weighting, method
        )
    return StudyAgreement(overall, results, _pooled_annotators(peer_rows), method)


@dataclass
class _Valued:
    """The counted answers that carry a value, one entry each.

    `item` is a row of the table's items, `criterion` a position in the
    criteria asked for, and `value` the canonical result code (pairwise)
    or the score.
    """

    item: np.ndarray
    criterion: np.ndarray
    value: np.ndarray
    annotator: np.ndarray


def _valued_answers(
    table: StudyAnswers, criteria: list[Criterion], include_surplus: bool, include_excluded: bool, pairwise: bool
) -> _Valued:
    answers = table.answers
    positions = table.criterion_positions(criteria)[answers.criterion]
    if pairwise:
        values, has_value = answers.result, answers.result != NO_RESULT
    else:
        values, has_value = answers.score, answers.score != NO_SCORE
    keep = table.counted_answers(include_surplus=include_surplus, include_excluded=include_excluded)
    keep &= has_value & (positions >= 0)
    judgments = answers.judgment[keep]
    return _Valued(
        item=table.judgments.item[judgments],
        criterion=positions[keep],
        value=values[keep],
        annotator=table.judgments.annotator_ids[judgments],
    )


def _count_values(valued: _Valued, criterion_count: int, pairwise: bool) -> tuple[_Counts, np.ndarray, np.ndarray]:
    """Count judgments per item, criterion and value into an (items, criteria, values) array.

    Also returns, per answer, its row in that array and its value's column.
    """
    items, item_rows = unique_ids(valued.item, return_inverse=True)
    domain = np.arange(len(CANONICAL_RESULTS)) if pairwise else np.unique(valued.value)
    value_columns = np.searchsorted(domain, valued.value)
    shape = (items.size, criterion_count, domain.size)
    flat = np.ravel_multi_index((item_rows, valued.criterion, value_columns), shape)
    counts = np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape)
    return _Counts(items, domain, counts), item_rows, value_columns


def _annotator_pair_rows(
    valued: _Valued, data: _Counts, item_rows: np.ndarray, value_columns: np.ndarray, criteria: list[Criterion]
) -> list[tuple[int, int, int, int, int]]:
    """Count each annotator's pairs with other judgments on the same item, per criterion.

    Returns rows (criterion id, annotator id, agreeing pairs, pairs,
    answers on items with another judgment). For an answer on an item with
    m answers, n of them with its value, the pairs are m - 1 and the
    agreeing pairs n - 1.
    """
    if not valued.item.size:
        return []
    same_value = data.counts[item_rows, valued.criterion, value_columns]
    same_item = data.counts.sum(axis=2)[item_rows, valued.criterion]
    annotators, annotator_rows = unique_ids(valued.annotator, return_inverse=True)
    groups = valued.criterion * annotators.size + annotator_rows
    size = len(criteria) * annotators.size
    answered = np.bincount(groups, minlength=size)
    agreeing = np.bincount(groups, weights=same_value - 1, minlength=size)
    pairs = np.bincount(groups, weights=same_item - 1, minlength=size)
    compared = np.bincount(groups, weights=same_item > 1, minlength=size)
    return [
        (criteria[group // annotators.size].pk, int(annotators[group % annotators.size]))
        + (int(agreeing[group]), int(pairs[group]), int(compared[group]))
        for group in np.flatnonzero(answered)
    ]


def _pooled_annotators(peer_rows: list[tuple[int, int, int, int, int]]) -> dict[int, AnnotatorAgreement]:
    pooled: dict[int, AnnotatorAgreement] = {}
    for _criterion_id, annotator_id, agreeing, pairs, compared in peer_rows:
        row = pooled.setdefault(annotator_id, AnnotatorAgreement(annotator_id))
        row.agreeing_pairs += agreeing
        row.pairs += pairs
        row.compared_judgments += compared
    return pooled


def _count_confusions(
    valued: _Valued, criteria: list[Criterion], annotators_per_criterion: dict[int, set[int]]
) -> tuple[dict[int, Counter], dict[int, tuple[NamedAnnotator, NamedAnnotator]]]:
    """Count, for criteria with exactly two annotators, the pairs of values they gave the same item.

    Returns {criterion id: Counter((first's value, second's value))} and
    the two annotators per criterion; the first annotator has the lower
    user id. Pairwise values are the codes of PAIRWISE_CODES.
    """
    two_annotators = {
        criterion_id: tuple(sorted(annotators))
        for criterion_id, annotators in annotators_per_criterion.items()
        if len(annotators) == 2
    }
    if not two_annotators:
        return {}, {}

    confusions: dict[int, Counter] = {}
    for position, criterion in enumerate(criteria):
        if criterion.pk not in two_annotators:
            continue
        first, second = two_annotators[criterion.pk]
        on_criterion = valued.criterion == position
        first_answers = on_criterion & (valued.annotator == first)
        second_answers = on_criterion & (valued.annotator == second)
        _shared, first_rows, second_rows = np.intersect1d(
            valued.item[first_answers], valued.item[second_answers], return_indices=True
        )
        pairs = zip(
            valued.value[first_answers][first_rows].tolist(),
            valued.value[second_answers][second_rows].tolist(),
            strict=True,
        )
        confusions[criterion.pk] = Counter(pairs)

    user_ids = {user_id for pair in two_annotators.values() for user_id in pair}
    username_field = get_user_model().USERNAME_FIELD
    usernames = dict(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", username_field))
    names = {
        criterion_id: (NamedAnnotator(first, usernames[first]), NamedAnnotator(second, usernames[second]))
        for criterion_id, (first, second) in two_annotators.items()
    }
    return confusions, names


# Figures


def _agreement(
    criterion: Criterion | None,
    data: _Counts,
    positions: list[int],
    level: str,
    pairwise: bool,
    cohen: CohenKappa | None,
    method: BootstrapMethod,
) -> AgreementResult:
    """Compute the figures on the criteria at `positions` of `data`, each item and criterion being one unit.

    1. Keep the units with two or more judgments, because the others
       contain no pair to compare, and the items that have such a unit.
    2. Return a reason instead of alpha when no unit is left or when all
       remaining judgments share one value. krippendorff 0.9.0 raises
       ValueError on both. With one value the disagreement expected by
       chance is zero, so alpha would be 0 / 0.
    3. Call the package on the units × values matrix of the values that
       occur, ordered by value.
    4. Bootstrap alpha and percent agreement over the items.
    """
    result = AgreementResult(criterion, level, None, None, 0, 0, pairwise=pairwise, cohen=cohen, method=method)
    counts = data.counts[:, positions, :]
    unit_totals = counts.sum(axis=2)
    pairable = unit_totals >= 2
    if not pairable.any():
        result.reason = _no_pairs_reason(int(unit_totals.sum()))
        return result

    # Units with one judgment hold no pair; zeroing them keeps the patterns few.
    counts = counts * pairable[:, :, np.newaxis]
    counts = counts[pairable.any(axis=1)]
    used = counts.sum(axis=(0, 1)) > 0
    values = data.values[used]
    counts = counts[:, :, used]
    unit_counts = counts.reshape(-1, values.size)
    unit_counts = unit_counts[unit_counts.sum(axis=1) >= 2]

    result.items = counts.shape[0]
    result.units = unit_counts.shape[0]
    result.judgments = int(unit_counts.sum())
    agreeing, pairs = statistics.percent_agreement_counts(unit_counts)
    result.percent_agreement = agreeing / pairs
    if pairwise:
        _add_decisive(result, unit_counts, values)
    result.fleiss = _fleiss(unit_counts)

    if values.size < 2:
        result.reason = gettext(
            "Not enough data: every judgment on items with two or more annotators gives the "
            "same answer, so the disagreement expected by chance is zero and alpha is undefined."
        )
    else:
        # Nominal distances only test values for equality, so column numbers
        # suffice. The interval and ratio levels need the scores as the domain.
        # The ordinal level uses ranks only, but gets the scores for clarity.
        domain = None if level == NOMINAL else values
        try:
            result.alpha = float(
                krippendorff.alpha(value_counts=unit_counts, value_domain=domain, level_of_measurement=level)
            )
        except ValueError as error:
            result.reason = gettext("Alpha could not be computed: %(error)s") % {"error": error}

    _add_intervals(result, counts, values, level, method)
    return result


def _no_pairs_reason(judgments: int) -> str:
    if not judgments:
        return gettext("Not enough data: there are no judgments yet.")
    return gettext("Not enough data: no item has judgments from two annotators yet.")


def _add_decisive(result: AgreementResult, unit_counts: np.ndarray, values: np.ndarray) -> None:
    """Set percent agreement without ties: tie and "both bad" judgments left out, pairs among the rest."""
    decisive = unit_counts[:, np.isin(values, DECISIVE_CODES)]
    decisive = decisive[decisive.sum(axis=1) >= 2]
    result.decisive_items = decisive.shape[0]
    result.decisive_judgments = int(decisive.sum())
    if result.decisive_items:
        agreeing, pairs = statistics.percent_agreement_counts(decisive)
        result.decisive_percent_agreement = agreeing / pairs


def _fleiss(unit_counts: np.ndarray) -> FleissKappa:
    figures = statistics.fleiss_kappa(unit_counts)
    reason = ""
    if figures.kappa is None:
        reason = gettext(
            "Fleiss’ kappa is undefined: every judgment it counts gives the same answer, "
            "so the agreement expected by chance is 1."
        )
    return FleissKappa(figures.kappa, figures.units, figures.judgments_per_unit, figures.units_left_out, reason)


def _cohen(
    confusion: Counter | None, weighting: str, names: tuple[NamedAnnotator, NamedAnnotator] | None
) -> CohenKappa | None:
    """Compute Cohen's kappa from a confusion Counter; None when the criterion has not exactly two annotators."""
    if confusion is None or names is None:
        return None
    items = confusion.total()
    if not items:
        reason = gettext("Cohen’s kappa is undefined: the two annotators judged no item in common.")
        return CohenKappa(None, 0, weighting, names, reason)
    values = sorted({value for pair in confusion for value in pair})
    matrix = np.array([[confusion[(first, second)] for second in values] for first in values])
    kappa = statistics.cohen_kappa(matrix, values, weighting)
    reason = ""
    if kappa is None:
        reason = gettext(
            "Cohen’s kappa is undefined: both annotators gave one and the same answer on every item they share."
        )
    return CohenKappa(kappa, items, weighting, names, reason)


def _add_intervals(
    result: AgreementResult, counts: np.ndarray, values: np.ndarray, level: str, method: BootstrapMethod
) -> None:
    """Bootstrap alpha and percent agreement over items and set their percentile intervals.

    Rounds where alpha is undefined (the drawn items hold one value only)
    are counted. When they outnumber the rounds one tail of the interval
    leaves out, the interval would depend on how they were treated, so
    none is given.
    """
    if method.rounds == 0:
        result.interval_reason = gettext("No bootstrap rounds were run, so there are no intervals.")
        return
    patterns = statistics.group_patterns(counts)
    draws = statistics.draw_pattern_counts(patterns, method.rounds, method.seed)

    percents = statistics.bootstrap_percent_agreement(patterns, draws)
    result.percent_agreement_interval = Interval(*map(float, percentile_interval(percents, method.confidence)))
    if result.alpha is None:
        return

    alphas = statistics.bootstrap_alpha(patterns, values, level, draws)
    result.undefined_rounds = int(np.isnan(alphas).sum())
    tail_rounds = math.floor(method.rounds * (1 - method.confidence) / 2)
    if result.undefined_rounds > tail_rounds:
        result.interval_reason = gettext(
            "No interval for alpha: in %(count)s of %(rounds)s bootstrap rounds the items drawn gave every "
            "judgment the same value, so alpha was undefined there, more than the %(tail)s rounds each tail "
            "of the interval leaves out."
        ) % {"count": result.undefined_rounds, "rounds": method.rounds, "tail": tail_rounds}
        return
    result.alpha_interval = Interval(*map(float, percentile_interval(alphas, method.confidence)))


def _overall(
    criteria: list[Criterion],
    data: _Counts,
    confusions: dict[int, Counter],
    names: dict[int, tuple[NamedAnnotator, NamedAnnotator]],
    annotators: int,
    level: str,
    pairwise: bool,
    weighting: str,
    method: BootstrapMethod,
) -> AgreementResult:
    """Compute the figures over all criteria, or give the reason why rating scales cannot be pooled."""
    scales = {(criterion.scale_min, criterion.scale_max) for criterion in criteria}
    if not pairwise and len(scales) > 1:
        result = AgreementResult(None, level, None, None, 0, 0, method=method)
        result.reason = gettext(
            "No figure over all criteria: their rating scales differ, so their scores cannot be pooled. "
            "See each criterion below."
        )
        return result

    # Over all criteria, Cohen's kappa needs a study with exactly two annotators.
    cohen = None
    if annotators == 2 and confusions:
        pooled = Counter()
        for confusion in confusions.values():
            pooled.update(confusion)
        cohen = _cohen(pooled, weighting, next(iter(names.values())))
    return _agreement(None, data, list(range(len(criteria))), level, pairwise, cohen, method)


# Export


def agreement_metadata(study: Study, **options) -> dict:
    """Compute and describe the agreement figures for an export's meta.json, in English whatever the active language.

    `options` are those of study_agreement_report. Annotators are named
    as `annotate.pseudonyms.annotator_label` names them.
    """
    with translation.override("en"):
        report = study_agreement_report(study, **options)
        annotators = annotator_figures(study, report)
        return {
            "method": {
                "alpha": (
                    f"Krippendorff's alpha from the krippendorff package {_package_version('krippendorff')}, "
                    f"level of measurement {report.overall.level}"
                ),
                "intervals": (
                    "percentile bootstrap over items: each round draws as many items as there are, with "
                    "replacement, and recomputes alpha and percent agreement from their coincidence matrices; "
                    "rounds where alpha is undefined are counted in undefined_rounds and left out"
                ),
                "rounds": report.method.rounds,
                "seed": report.method.seed,
                "confidence": report.method.confidence,
                "resampled_unit": report.method.resampled_unit,
                "percent_agreement": "agreeing pairs / pairs of judgments on the same item, pooled over items",
                "percent_agreement_without_ties": (
                    "pairwise only: tie and both_bad judgments left out, pairs among the remaining judgments"
                ),
                "fleiss_kappa": (
                    "Fleiss' kappa on the items with the most common number of judgments (the larger on a tie); "
                    "items with another number are left out; every value is a category"
                ),
                "cohen_kappa": (
                    "only when exactly two annotators judged; on the items both judged; unweighted for nominal "
                    "data, else quadratic weights (squared score difference)"
                ),
                "over_all_criteria": (
                    "each item and criterion is one unit, the bootstrap draws items with all their criteria; "
                    "not computed for rating criteria with different scales"
                ),
                "annotator_agreement": (
                    "of all pairs made of one of the annotator's judgments and another annotator's judgment on "
                    "the same item and criterion, the share that agree, over all criteria"
                ),
                "counted": (
                    "gold items never count; surplus judgments and judgments of excluded annotators are left out; "
                    "rating scores outside their criterion's scale are left out"
                ),
            },
            "over_all_criteria": _result_metadata(report.overall),
            "criteria": [_result_metadata(result) for result in report.criteria],
            "annotators": [
                {
                    "annotator": row.annotator,
                    "judgments": row.judgments,
                    "agreeing_pairs": row.agreeing_pairs,
                    "pairs": row.pairs,
                    "agreement": row.agreement,
                    "median_seconds_per_task": row.median_seconds,
                    "gold_judgments": row.gold_judgments,
                    "gold_accuracy": row.gold_accuracy,
                }
                for row in sorted(annotators, key=lambda row: row.annotator)
            ],
        }


def _result_metadata(result: AgreementResult) -> dict:
    described = {
        "criterion": result.criterion.name if result.criterion else None,
        "level": result.level,
        "alpha": result.alpha,
        "alpha_interval": _bounds(result.alpha_interval),
        "reason": result.reason or None,
        "interval_reason": result.interval_reason or None,
        "undefined_rounds": result.undefined_rounds,
        "items": result.items,
        "units": result.units,
        "judgments": result.judgments,
        "percent_agreement": result.percent_agreement,
        "percent_agreement_interval": _bounds(result.percent_agreement_interval),
    }
    if result.pairwise:
        described.update(
            percent_agreement_without_ties=result.decisive_percent_agreement,
            decisive_units=result.decisive_items,
            decisive_judgments=result.decisive_judgments,
        )
    if result.fleiss:
        described["fleiss_kappa"] = {
            "value": result.fleiss.value,
            "units": result.fleiss.items,
            "judgments_per_unit": result.fleiss.judgments_per_item,
            "units_left_out": result.fleiss.items_left_out,
            "reason": result.fleiss.reason or None,
        }
    if result.cohen:
        described["cohen_kappa"] = {
            "value": result.cohen.value,
            "units": result.cohen.items,
            "weighting": result.cohen.weighting,
            "annotators": [str(annotator) for annotator in result.cohen.annotators],
            "reason": result.cohen.reason or None,
        }
    return described


def _bounds(interval: Interval | None) -> list[float] | None:
    return [interval.lower, interval.upper] if interval else None


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"
