"""Scores of a rating study per system and criterion: mean, median, spread and distribution, with intervals.

Input: the study's answers read once into numpy (reports.answer_table),
counted per criterion, system (generation run), prompt and score value. The counts go into a sparse matrix with one
row per prompt and one column per criterion, system and score value, so no
Python object is made per judgment, and every figure is read off column
totals: the mean and standard deviation from sums, the median from
cumulative counts, the distribution as the counts themselves.

Intervals are percentile bootstrap intervals. Each round draws as many
prompts as have scores, with replacement, and sums their rows
(reports.prompt_counts.bootstrap_totals, the draw the ranking uses too).
Prompts are drawn rather than single scores because the scores one prompt
gets share its difficulty and topic, so they move together. Drawing scores
one by one would give too narrow intervals. Round r draws from numpy's
default generator seeded with (seed, r), so a seed gives the same figures
with the same numpy version. All criteria and systems share each round's
draw.

The median of an even number of scores is the mean of the two middle ones,
so it may end in .5.

A stored score outside its criterion's scale counts in no figure, because
reports.answer_table leaves it out when it reads the answers.
`CriterionRatings.out_of_scale_scores` counts such scores among the
answers that the options and the active breakdown count.
"""

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from annotate.models import Criterion, Study, StudyKind
from reports.agreement import BootstrapMethod, bootstrap_method
from reports.answer_table import NO_SCORE, StudyAnswers, load_study_answers
from reports.answers import require_kind
from reports.grouping import unique_ids
from reports.prompt_counts import bootstrap_totals
from reports.ranking import DEFAULT_CONFIDENCE, DEFAULT_ROUNDS, DEFAULT_SEED, Interval, percentile_interval
from reports.systems import System, load_systems

RESAMPLED_UNIT = "prompt"


@dataclass(frozen=True)
class ScoreCount:
    """How many answers gave `score`, and their share of the system's answers on the criterion."""

    score: int
    count: int
    share: float | None


@dataclass
class SystemRating:
    """One system's scores on one criterion.

    `empty_rounds` counts bootstrap rounds whose drawn prompts held no
    score of this system; the intervals leave them out, and are None when
    they outnumber the rounds one tail of an interval leaves out.
    """

    system: System
    count: int = 0
    mean: float | None = None
    # Sample standard deviation (n - 1 in the denominator); None below two scores.
    std_dev: float | None = None
    median: float | None = None
    prompts: int = 0
    mean_interval: Interval | None = None
    median_interval: Interval | None = None
    empty_rounds: int = 0
    distribution: list[ScoreCount] = field(default_factory=list)


@dataclass
class CriterionRatings:
    """Scores per system for one criterion, best mean first.

    `scores` are the values the distribution columns stand for: the
    criterion's scale, plus any score outside it when the scale changed
    while the report was being computed (see `_Layout`). `prompts` counts
    the prompts with a score on this criterion. `out_of_scale_scores` counts the answers left out of every
    figure because their stored score lies outside the scale, among the
    answers these options and the active breakdown count.
    """

    criterion: Criterion
    include_surplus: bool
    systems: list[SystemRating] = field(default_factory=list)
    scores: list[int] = field(default_factory=list)
    prompts: int = 0
    method: BootstrapMethod | None = None
    out_of_scale_scores: int = 0

    @property
    def answers(self) -> int:
        return sum(rating.count for rating in self.systems)


def study_ratings(
    study: Study,
    *,
    include_surplus: bool = False,
    include_excluded: bool = False,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
    table: StudyAnswers | None = None,
) -> list[CriterionRatings]:
    """Compute mean, median, standard deviation and distribution of scores per system and criterion.

    1. Count scores per criterion, system, prompt and score from `table`
       (the study's answers as `load_study_answers` read them, read here
       when not given), into a prompts × (criterion, system, score) matrix.
    2. Read every point figure off the column totals.
    3. Draw prompts with replacement `rounds` times and take percentile
       intervals of the mean and median.
    4. Sort each criterion's rows by mean, best first; systems without
       scores go last.
    """
    require_kind(study, StudyKind.RATING)
    method = bootstrap_method(rounds, seed, confidence, RESAMPLED_UNIT)
    criteria = list(study.criteria.order_by("position", "pk"))
    systems = list(load_systems(study).values())
    table = table or load_study_answers(study)
    rows = _score_rows(table, include_surplus, include_excluded)
    out_of_scale = _out_of_scale_counts(table, criteria, include_surplus, include_excluded)
    layout = _Layout(criteria, systems, rows)
    matrix = layout.matrix(rows)
    totals = np.asarray(matrix.sum(axis=0)).ravel()
    samples = bootstrap_totals(matrix, rounds, seed) if rounds else None
    system_prompts = layout.prompts_per_group(matrix, layout.system_groups)
    criterion_prompts = layout.prompts_per_group(matrix, layout.criterion_groups)

    summaries = []
    for position, criterion in enumerate(criteria):
        scores = layout.scores[position]
        ratings = []
        for index, system in enumerate(systems):
            columns = layout.columns(position, index)
            rating = _rating(system, totals[columns], scores)
            rating.prompts = int(system_prompts[position * len(systems) + index])
            if samples is not None and rating.count:
                _add_intervals(rating, samples[:, columns], scores, method)
            ratings.append(rating)
        ratings.sort(key=lambda rating: (rating.mean is None, -(rating.mean or 0.0), rating.system.name))
        summaries.append(
            CriterionRatings(
                criterion,
                include_surplus,
                ratings,
                scores.tolist(),
                int(criterion_prompts[position]),
                method,
                out_of_scale_scores=int(out_of_scale[position]),
            )
        )
    return summaries


def _score_rows(table: StudyAnswers, include_surplus: bool, include_excluded: bool) -> list[tuple]:
    """Count the counted scores per criterion, system, prompt and score.

    Returns rows (criterion id, run id, prompt id, score, count).
    """
    answers = table.answers
    keep = table.counted_answers(include_surplus=include_surplus, include_excluded=include_excluded)
    keep &= answers.score != NO_SCORE
    item = table.judgments.item[answers.judgment[keep]]
    criterion_ids = np.array([criterion.pk for criterion in table.criteria], dtype=np.int64)
    keys = np.column_stack(
        (
            criterion_ids[answers.criterion[keep]],
            table.items.first_run_ids[item],
            table.items.prompt_ids[item],
            answers.score[keep],
        )
    )
    if not keys.size:
        return []
    groups, counts = np.unique(keys, axis=0, return_counts=True)
    return [(*row, count) for row, count in zip(groups.tolist(), counts.tolist(), strict=True)]


def _out_of_scale_counts(
    table: StudyAnswers, criteria: list[Criterion], include_surplus: bool, include_excluded: bool
) -> np.ndarray:
    """Count, per criterion in `criteria`, the counted answers whose score lies outside the criterion's scale."""
    answers = table.answers
    positions = table.criterion_positions(criteria)[answers.criterion]
    left_out = table.counted_answers(include_surplus=include_surplus, include_excluded=include_excluded)
    left_out &= answers.out_of_scale & (positions >= 0)
    return np.bincount(positions[left_out], minlength=len(criteria))


class _Layout:
    """Column layout of the count matrix: one block per criterion, in it one run of score columns per system.

    A criterion's score columns cover its scale plus any other score in
    the rows, which occurs only when the scale changed between the read of
    the answers and the read of `criteria`. Rows of systems that are no
    longer part of the study are left out, as are rows of criteria not
    asked for.
    """

    def __init__(self, criteria: list[Criterion], systems: list[System], rows: list[tuple]):
        self.criterion_positions = {criterion.pk: position for position, criterion in enumerate(criteria)}
        self.system_positions = {system.run_id: position for position, system in enumerate(systems)}
        observed: dict[int, set[int]] = {criterion.pk: set() for criterion in criteria}
        for criterion_id, _run_id, _prompt_id, score, _count in rows:
            if criterion_id in observed:
                observed[criterion_id].add(score)
        self.scores = [np.array(sorted(set(criterion.scale) | observed[criterion.pk])) for criterion in criteria]

        self.system_count = len(systems)
        widths = [scores.size * self.system_count for scores in self.scores]
        self.offsets = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
        self.width = int(self.offsets[-1])
        # Group numbers per column: criterion × system, and criterion alone.
        self.system_groups = np.zeros(self.width, dtype=np.int64)
        self.criterion_groups = np.zeros(self.width, dtype=np.int64)
        for position in range(len(self.scores)):
            for index in range(self.system_count):
                self.system_groups[self.columns(position, index)] = position * self.system_count + index
            self.criterion_groups[self.offsets[position] : self.offsets[position + 1]] = position

    def columns(self, position: int, system_index: int) -> np.ndarray:
        """Return the score columns of one system on the criterion at `position`."""
        size = self.scores[position].size
        start = self.offsets[position] + system_index * size
        return np.arange(start, start + size)

    def matrix(self, rows: list[tuple]) -> sparse.csr_matrix:
        """Build the prompts × columns count matrix from the grouped rows."""
        known_rows = [row for row in rows if row[0] in self.criterion_positions and row[1] in self.system_positions]
        if not known_rows:
            return sparse.csr_matrix((0, self.width))
        criterion_ids, run_ids, prompt_ids, scores, counts = zip(*known_rows, strict=True)
        positions = np.array([self.criterion_positions[key] for key in criterion_ids], dtype=np.int64)
        system_indices = np.array([self.system_positions[key] for key in run_ids], dtype=np.int64)
        scores = np.array(scores, dtype=np.int64)
        prompts, prompt_rows = unique_ids(np.array(prompt_ids, dtype=np.int64), return_inverse=True)

        sizes = np.array([criterion_scores.size for criterion_scores in self.scores], dtype=np.int64)
        columns = self.offsets[positions] + system_indices * sizes[positions]
        for position, criterion_scores in enumerate(self.scores):
            rows_here = positions == position
            columns[rows_here] += np.searchsorted(criterion_scores, scores[rows_here])
        values = np.array(counts, dtype=np.float64)
        return sparse.coo_matrix((values, (prompt_rows, columns)), shape=(prompts.size, self.width)).tocsr()

    def prompts_per_group(self, matrix: sparse.csr_matrix, groups: np.ndarray) -> np.ndarray:
        """Count, per group of columns, the prompts with at least one score in it."""
        group_count = int(groups.max()) + 1 if groups.size else 0
        indicator = sparse.csr_matrix(
            (np.ones(self.width), (np.arange(self.width), groups)), shape=(self.width, group_count)
        )
        return np.asarray(((matrix @ indicator) > 0).sum(axis=0)).ravel()


def _rating(system: System, counts: np.ndarray, scores: np.ndarray) -> SystemRating:
    """Compute the point figures from one system's score counts on one criterion."""
    counts = [int(count) for count in counts]
    count = sum(counts)
    distribution = [
        ScoreCount(int(score), score_count, score_count / count if count else None)
        for score, score_count in zip(scores, counts, strict=True)
    ]
    if not count:
        return SystemRating(system, distribution=distribution)
    total = sum(int(score) * score_count for score, score_count in zip(scores, counts, strict=True))
    total_of_squares = sum(int(score) ** 2 * score_count for score, score_count in zip(scores, counts, strict=True))
    std_dev = None
    if count >= 2:
        # Integer sums keep the variance exact until the one division.
        std_dev = math.sqrt((count * total_of_squares - total * total) / (count * (count - 1)))
    median = float(median_from_counts(np.array(counts, dtype=np.float64), scores))
    return SystemRating(
        system, count=count, mean=total / count, std_dev=std_dev, median=median, distribution=distribution
    )


def median_from_counts(counts: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Return the median score from counts per score, shape (..., V) to (...); NaN where there is no score.

    With n scores in order, the median is the mean of the scores at
    0-based positions (n - 1) // 2 and n // 2, the same one when n is odd.
    A position p falls in the first score column whose cumulative count
    exceeds p.
    """
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=-1)
    cumulative = np.cumsum(counts, axis=-1)
    lower = np.argmax(cumulative > ((totals - 1) // 2)[..., np.newaxis], axis=-1)
    upper = np.argmax(cumulative > (totals // 2)[..., np.newaxis], axis=-1)
    scores = np.asarray(scores, dtype=np.float64)
    return np.where(totals > 0, (scores[lower] + scores[upper]) / 2, np.nan)


def _add_intervals(rating: SystemRating, samples: np.ndarray, scores: np.ndarray, method: BootstrapMethod) -> None:
    """Set percentile intervals of the mean and median from bootstrap counts per round: shape (rounds, V)."""
    totals = samples.sum(axis=1)
    rating.empty_rounds = int((totals == 0).sum())
    tail_rounds = math.floor(method.rounds * (1 - method.confidence) / 2)
    if rating.empty_rounds > tail_rounds:
        return
    with np.errstate(divide="ignore", invalid="ignore"):
        means = np.where(totals > 0, samples @ scores.astype(np.float64) / totals, np.nan)
    medians = median_from_counts(samples, scores)
    rating.mean_interval = Interval(*map(float, percentile_interval(means, method.confidence)))
    rating.median_interval = Interval(*map(float, percentile_interval(medians, method.confidence)))


def ratings_metadata(summaries: list[CriterionRatings]) -> dict:
    """Describe the rating figures for an export's meta.json."""
    method = summaries[0].method if summaries else None
    return {
        "method": {
            "mean": "arithmetic mean of the scores",
            "median": "middle score; the mean of the two middle scores for an even count",
            "std_dev": "sample standard deviation (n - 1 in the denominator)",
            "intervals": (
                "percentile bootstrap over prompts: each round draws as many prompts as have scores, with "
                "replacement, so the scores of one prompt move together; no interval when more rounds than "
                "one tail leaves out held no score of the system"
            ),
            "rounds": method.rounds if method else None,
            "seed": method.seed if method else None,
            "confidence": method.confidence if method else None,
            "resampled_unit": RESAMPLED_UNIT,
            "counted": (
                "gold items never count; surplus judgments and judgments of excluded annotators are left out; "
                "scores outside their criterion's scale are left out and counted in out_of_scale_scores"
            ),
        },
        "criteria": [
            {
                "criterion": summary.criterion.name,
                "scale_min": summary.criterion.scale_min,
                "scale_max": summary.criterion.scale_max,
                "prompts": summary.prompts,
                "out_of_scale_scores": summary.out_of_scale_scores,
                "systems": [_rating_metadata(rating) for rating in summary.systems],
            }
            for summary in summaries
        ],
    }


def _rating_metadata(rating: SystemRating) -> dict:
    return {
        "system": rating.system.name,
        "scores": rating.count,
        "prompts": rating.prompts,
        "mean": rating.mean,
        "mean_interval": [rating.mean_interval.lower, rating.mean_interval.upper] if rating.mean_interval else None,
        "median": rating.median,
        "median_interval": (
            [rating.median_interval.lower, rating.median_interval.upper] if rating.median_interval else None
        ),
        "std_dev": rating.std_dev,
        "empty_rounds": rating.empty_rounds,
        "distribution": {str(cell.score): cell.count for cell in rating.distribution},
    }
