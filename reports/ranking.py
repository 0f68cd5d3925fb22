"""Rankings of a pairwise study: Bradley-Terry ratings, win rates, online Elo and position bias.

Figures per criterion, each with a percentile bootstrap confidence interval:
- Bradley-Terry ratings fitted by maximum likelihood (reports.bradley_terry),
  on the Elo scale, anchored at the geometric mean strength or at a chosen
  system, which is then rated 1000;
- win rate per system, (wins + (ties + both_bad) / 2) / comparisons;
- rank from interval overlap: a system's rank is 1 plus the number of
  systems whose interval lies wholly above its own, that is whose lower
  bound exceeds its upper bound. This is the convention of the Chatbot
  Arena leaderboard, and systems whose intervals overlap may share a rank;
- position bias: the share of decisive judgments (a win, not a tie or
  "both bad") won by the answer shown on the left.
Beside them: win, tie, loss and "both bad" counts per ordered pair, the win
probability each pair's ratings predict, and online Elo for comparison.

A tie and a "both bad" answer each count as half a win for both sides in
win rates and ratings; "both bad" is also counted apart.

Input: the study's answers read once into numpy (reports.answer_table),
counted per criterion, prompt, pair of systems, canonical result and
screen order (`prompt_counts_from_outcomes`), so no Python object is made per
judgment. The counts of each criterion go into a sparse matrix with one
row per prompt (`PromptCounts`).

Bootstrap: each round draws as many prompts as the criterion has, with
replacement, sums their rows and refits. Prompts are drawn rather than
judgments because the judgments of one prompt share its difficulty and
topic, so they move together; drawing judgments one by one would give too
narrow intervals. Round r draws from a generator seeded with (seed, r), so a
seed gives the same figures on every run and machine with the same numpy.

Online Elo runs the classic Elo update over the judgments in the order they
were stored (by id), every system starting at 1000, with K = ONLINE_ELO_K. Unlike the
fitted ratings, it depends on that order, and the last judgments weigh most.
K = 4 is a small step: with K = 32, as in chess, the last few dozen
judgments would move the ratings far more than the rest.
"""

import logging
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from django.utils.translation import gettext

from annotate.models import Criterion, Study, StudyKind
from generation.models import GenerationRun
from reports import bradley_terry
from reports.answer_table import StudyAnswers, load_study_answers
from reports.answers import require_kind
from reports.prompt_counts import (
    JudgmentSequence,
    OutcomeTables,
    PromptCounts,
    bootstrap_totals,
    empty_prompt_counts,
    judgment_sequences_from_outcomes,
    outcome_tables,
    pairwise_outcomes,
    prompt_counts_from_outcomes,
)
from reports.systems import System, load_systems

logger = logging.getLogger(__name__)

DEFAULT_ROUNDS = 1000
DEFAULT_SEED = 0
DEFAULT_CONFIDENCE = 0.95
ONLINE_ELO_K = 4.0
RESAMPLED_UNIT = "prompt"


# Bootstrap


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the lower and upper percentile bounds along axis 0, ignoring NaN.

    Bounds interpolate linearly between order statistics (numpy's default).
    """
    tail = 100 * (1 - confidence) / 2
    with warnings.catch_warnings():
        # A column of NaN only (a system without comparisons in any round) gives NaN bounds.
        warnings.simplefilter("ignore", RuntimeWarning)
        lower, upper = np.nanpercentile(samples, [tail, 100 - tail], axis=0)
    return lower, upper


def rank_with_ties(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Rank systems from intervals: 1 plus the number of systems whose lower bound exceeds one's upper bound."""
    return 1 + (lower[None, :] > upper[:, None]).sum(axis=1)


# Results


@dataclass(frozen=True)
class Interval:
    lower: float
    upper: float


@dataclass
class SystemRanking:
    """One system's figures on one criterion. Figures are None where the data does not define them."""

    system: System
    wins: int
    losses: int
    ties: int
    both_bad: int
    rank: int | None = None
    rating: float | None = None
    rating_interval: Interval | None = None
    win_rate: float | None = None
    win_rate_interval: Interval | None = None
    online_elo: float | None = None

    @property
    def comparisons(self) -> int:
        return self.wins + self.losses + self.ties + self.both_bad


@dataclass
class PairRecord:
    """The outcomes of `system` against `opponent`, and the share of points their ratings predict for it."""

    system: System
    opponent: System
    wins: int
    losses: int
    ties: int
    both_bad: int
    predicted_win_probability: float | None = None

    @property
    def comparisons(self) -> int:
        return self.wins + self.losses + self.ties + self.both_bad


@dataclass
class PositionBias:
    """Decisive answers by the winner's screen side, with an interval on the left share."""

    left_wins: int
    right_wins: int
    interval: Interval | None = None

    @property
    def decisive(self) -> int:
        return self.left_wins + self.right_wins

    @property
    def left_share(self) -> float | None:
        return self.left_wins / self.decisive if self.decisive else None


@dataclass
class RankingMethod:
    """How the figures were computed, for the report's method note and the export's metadata.

    `unidentified_rounds` counts bootstrap rounds whose resampled answers
    give no finite rating; `unconverged_rounds` counts rounds with finite
    ratings whose fit stopped at the iteration cap.
    """

    rounds: int
    seed: int
    confidence: float
    anchor: System | None
    k_factor: float
    resampled_unit: str = RESAMPLED_UNIT
    virtual_ties: float = bradley_terry.VIRTUAL_TIES
    unidentified_rounds: int = 0
    unconverged_rounds: int = 0


@dataclass
class Ranking:
    """Ranking figures of one criterion. Systems come best first; systems without comparisons last.

    `ratings_reason` explains missing ratings and `intervals_reason` missing
    rating intervals and ranks. Both are "" when the figures are given.
    `win_probability[i][j]` is the probability, predicted from the ratings,
    that `systems[i]` beats `systems[j]`, a tie counting half.
    """

    method: RankingMethod
    judgments: int
    prompts: int
    systems: list[SystemRanking]
    pairs: list[PairRecord]
    position_bias: PositionBias
    ratings_reason: str = ""
    intervals_reason: str = ""
    criterion: Criterion | None = None
    include_surplus: bool = False
    include_excluded: bool = False
    win_probability: list[list[float | None]] = field(default_factory=list)

    def win_probability_rows(self) -> list[tuple[SystemRanking, list[float | None]]]:
        """Pair each row of `win_probability` with its system's record."""
        return list(zip(self.systems, self.win_probability, strict=True))


# Ranking from counts


def rank_prompt_counts(
    counts: PromptCounts,
    *,
    sequence: JudgmentSequence | None = None,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
    anchor_run_id: int | None = None,
    k_factor: float = ONLINE_ELO_K,
) -> Ranking:
    """Compute every ranking figure from per-prompt counts.

    1. Total the counts; the systems with comparisons are the ones fitted.
    2. Fit the ratings and check that the data gives them a finite value.
    3. Resample prompts `rounds` times and recompute ratings, win rates and
       the left share; intervals are their percentiles.
    4. Rank from the rating intervals, and run online Elo over `sequence`.
    """
    _check_options(rounds, confidence, anchor_run_id, counts.systems)
    anchor_system = next((system for system in counts.systems if system.run_id == anchor_run_id), None)
    method = RankingMethod(rounds, seed, confidence, anchor_system, k_factor)

    tables = outcome_tables(np.asarray(counts.matrix.sum(axis=0)).ravel(), counts.size)
    fitted = np.flatnonzero(tables.comparisons > 0)
    anchor = _anchor_position(fitted, counts.systems, anchor_run_id)
    ratings, ratings_reason = _point_ratings(tables, fitted, anchor, counts.systems)

    samples = outcome_tables(bootstrap_totals(counts.matrix, rounds, seed), counts.size) if rounds else None
    rating_bounds, ranks, intervals_reason = None, None, ""
    if ratings is not None:
        rating_bounds, ranks, intervals_reason = _rating_intervals(samples, fitted, anchor, method)

    systems = _system_rankings(counts.systems, tables, fitted, ratings, rating_bounds, ranks, samples, confidence)
    if sequence is not None and fitted.size:
        _add_online_elo(systems, sequence, fitted, anchor, k_factor)
    systems.sort(key=_ranking_order)

    return Ranking(
        method=method,
        judgments=counts.judgments,
        prompts=counts.matrix.shape[0],
        systems=systems,
        pairs=_pair_records(counts.systems, tables, fitted, ratings),
        position_bias=_position_bias(tables, samples, confidence),
        ratings_reason=ratings_reason,
        intervals_reason=intervals_reason,
        win_probability=_win_probability_matrix(systems),
    )


def _check_options(rounds: int, confidence: float, anchor_run_id: int | None, systems: list[System]) -> None:
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise ValueError(f"Bootstrap rounds must be a whole number of at least 0, not {rounds!r}.")
    if not 0 < confidence < 1:
        raise ValueError(f"Confidence must lie strictly between 0 and 1, such as 0.95, not {confidence!r}.")
    if anchor_run_id is not None and all(system.run_id != anchor_run_id for system in systems):
        raise ValueError(f"The anchor run {anchor_run_id} is not a system of this study; pick one of its systems.")


def _anchor_position(fitted: np.ndarray, systems: list[System], anchor_run_id: int | None) -> int | None:
    """Return the anchor's position among the fitted systems, -1 when it has no comparisons, None without one."""
    if anchor_run_id is None:
        return None
    for position, index in enumerate(fitted):
        if systems[index].run_id == anchor_run_id:
            return position
    return -1


def _point_ratings(
    tables: OutcomeTables, fitted: np.ndarray, anchor: int | None, systems: list[System]
) -> tuple[np.ndarray | None, str]:
    """Fit the ratings of the `fitted` systems, or return None and the reason they are undefined."""
    if fitted.size < 2:
        return None, gettext("Not enough data: ratings need comparisons between at least two systems.")
    if anchor == -1:
        return None, gettext("The anchor system has no comparisons on this criterion, so no rating can refer to it.")

    scores = tables.scores[np.ix_(fitted, fitted)]
    if not bradley_terry.identified(scores):
        return None, _unidentified_reason(scores, [systems[index] for index in fitted])

    log_strengths, converged = bradley_terry.fit_log_strengths(scores)
    if not converged:
        logger.error("Bradley-Terry fit did not converge on %s systems", fitted.size)
        return None, gettext("The rating fit did not converge, so no ratings are shown.")
    return bradley_terry.elo_ratings(log_strengths, anchor), ""


def _unidentified_reason(scores: np.ndarray, systems: list[System]) -> str:
    connected, unbeaten = bradley_terry.unidentified_groups(scores)
    if connected:
        groups = "; ".join(", ".join(systems[index].name for index in group) for group in connected)
        return gettext(
            "Ratings are undefined: some systems were never compared with the others, directly or through "
            "other systems, so their ratings cannot be placed on one scale. Groups: %(groups)s."
        ) % {"groups": groups}
    names = "; ".join(", ".join(systems[index].name for index in group) for group in unbeaten)
    return gettext(
        "Ratings are undefined: %(systems)s won every comparison with the other systems, so the fit would "
        "place them infinitely far above. Ratings appear once each group loses or ties at least once."
    ) % {"systems": names}


def _rating_intervals(
    samples: OutcomeTables | None, fitted: np.ndarray, anchor: int | None, method: RankingMethod
) -> tuple[tuple[np.ndarray, np.ndarray] | None, np.ndarray | None, str]:
    """Refit every bootstrap round to bound the ratings of the fitted systems and rank them.

    A round whose resample gives no finite rating still gets a fit (very
    large gaps, see reports.bradley_terry). Such rounds fall in the tails
    that the percentile interval cuts off, so up to that many leave the
    bounds alone. With more, the bounds would rest on them, so none are
    given.

    Returns the bounds on the scale of `anchor`, the ranks, and a reason
    when there are none. Ranks come from intervals anchored at the
    geometric mean whatever `anchor` is, because an anchored system's
    interval shrinks to a point and would change who overlaps whom.
    """
    if samples is None:
        return None, None, gettext("No bootstrap rounds were run, so there are no intervals or ranks.")

    scores = samples.scores[:, fitted][:, :, fitted]
    finite = bradley_terry.identified(scores)
    log_strengths, converged = bradley_terry.fit_log_strengths(scores)
    method.unidentified_rounds = int((~finite).sum())
    method.unconverged_rounds = int((finite & ~converged).sum())
    if method.unconverged_rounds:
        logger.warning("Bradley-Terry fit did not converge in %s bootstrap rounds", method.unconverged_rounds)

    tail_rounds = math.floor(method.rounds * (1 - method.confidence) / 2)
    if method.unidentified_rounds + method.unconverged_rounds > tail_rounds:
        return (
            None,
            None,
            gettext(
                "No intervals or ranks: in %(count)s of %(rounds)s bootstrap rounds the resampled judgments gave "
                "no finite rating, more than the %(tail)s rounds each tail of the interval leaves out. "
                "More judgments will fix this."
            )
            % {
                "count": method.unidentified_rounds + method.unconverged_rounds,
                "rounds": method.rounds,
                "tail": tail_rounds,
            },
        )

    bounds = percentile_interval(bradley_terry.elo_ratings(log_strengths, anchor), method.confidence)
    ranks = rank_with_ties(*percentile_interval(bradley_terry.elo_ratings(log_strengths), method.confidence))
    return bounds, ranks, ""


def _system_rankings(
    systems: list[System],
    tables: OutcomeTables,
    fitted: np.ndarray,
    ratings: np.ndarray | None,
    rating_bounds: tuple[np.ndarray, np.ndarray] | None,
    ranks: np.ndarray | None,
    samples: OutcomeTables | None,
    confidence: float,
) -> list[SystemRanking]:
    wins = tables.wins.sum(axis=1)
    losses = tables.wins.sum(axis=0)
    ties = tables.ties.sum(axis=1)
    both_bad = tables.both_bad.sum(axis=1)
    win_rates = tables.win_rates
    rate_bounds = percentile_interval(samples.win_rates, confidence) if samples is not None else None

    records = [
        SystemRanking(system, int(wins[index]), int(losses[index]), int(ties[index]), int(both_bad[index]))
        for index, system in enumerate(systems)
    ]
    for index, record in enumerate(records):
        if not np.isnan(win_rates[index]):
            record.win_rate = float(win_rates[index])
        if rate_bounds is not None and not np.isnan(rate_bounds[0][index]):
            record.win_rate_interval = Interval(float(rate_bounds[0][index]), float(rate_bounds[1][index]))

    if ratings is not None:
        for position, index in enumerate(fitted):
            record = records[index]
            record.rating = float(ratings[position])
            if rating_bounds is not None:
                record.rating_interval = Interval(float(rating_bounds[0][position]), float(rating_bounds[1][position]))
                record.rank = int(ranks[position])
    return records


def _add_online_elo(
    records: list[SystemRanking], sequence: JudgmentSequence, fitted: np.ndarray, anchor: int | None, k_factor: float
) -> None:
    """Set online Elo on the fitted systems, shifted so the anchor, if any, is at 1000.

    Every update moves two ratings by opposite amounts, so without an anchor
    the mean over the systems with comparisons stays 1000, as for the fit.
    """
    ratings = bradley_terry.online_elo(
        sequence.first, sequence.second, sequence.first_score, len(records), k_factor=k_factor
    )
    if anchor is not None and anchor >= 0:
        ratings = ratings - ratings[fitted[anchor]] + bradley_terry.ELO_BASE_RATING
    for index in fitted:
        records[index].online_elo = float(ratings[index])


def _ranking_order(record: SystemRanking):
    """Sort by rank, then rating, then win rate, best first; missing figures go last, names break ties."""
    return (
        record.rank if record.rank is not None else math.inf,
        -record.rating if record.rating is not None else math.inf,
        -record.win_rate if record.win_rate is not None else math.inf,
        record.system.name,
        record.system.run_id,
    )


def _pair_records(
    systems: list[System], tables: OutcomeTables, fitted: np.ndarray, ratings: np.ndarray | None
) -> list[PairRecord]:
    """List every ordered pair with comparisons, with the predicted win probability when ratings exist."""
    probability = None
    if ratings is not None:
        full = np.full(len(systems), np.nan)
        full[fitted] = ratings
        probability = bradley_terry.predicted_win_probability(full)

    records = []
    for row, system in enumerate(systems):
        for column, opponent in enumerate(systems):
            ties, both_bad = int(tables.ties[row, column]), int(tables.both_bad[row, column])
            wins, losses = int(tables.wins[row, column]), int(tables.wins[column, row])
            if row == column or wins + losses + ties + both_bad == 0:
                continue
            predicted = float(probability[row, column]) if probability is not None else None
            records.append(PairRecord(system, opponent, wins, losses, ties, both_bad, predicted))
    return records


def _win_probability_matrix(records: list[SystemRanking]) -> list[list[float | None]]:
    """Return P(row beats column), a tie counting half, in the order of `records`.

    A cell is None on the diagonal and where either system has no rating.
    """
    ratings = np.array([record.rating if record.rating is not None else np.nan for record in records])
    probability = bradley_terry.predicted_win_probability(ratings)
    return [
        [
            None if row == column or np.isnan(probability[row, column]) else float(probability[row, column])
            for column in range(len(records))
        ]
        for row in range(len(records))
    ]


def _position_bias(tables: OutcomeTables, samples: OutcomeTables | None, confidence: float) -> PositionBias:
    bias = PositionBias(int(tables.left_wins), int(tables.right_wins))
    if samples is not None and bias.decisive:
        decisive = samples.left_wins + samples.right_wins
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = samples.left_wins / np.where(decisive > 0, decisive, np.nan)
        lower, upper = percentile_interval(shares, confidence)
        bias.interval = Interval(float(lower), float(upper))
    return bias


# Queries


def study_rankings(
    study: Study,
    *,
    include_surplus: bool = False,
    include_excluded: bool = False,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
    anchor_run_id: int | None = None,
    k_factor: float = ONLINE_ELO_K,
    with_online_elo: bool = True,
    table: StudyAnswers | None = None,
) -> list[Ranking]:
    """Rank the systems of a pairwise study on every criterion, in criterion order.

    `table` is the study's answers as `load_study_answers` read them; it is
    read here when not given.
    """
    require_kind(study, StudyKind.PAIRWISE)
    table = table or load_study_answers(study)
    counted = {"include_surplus": include_surplus, "include_excluded": include_excluded}
    systems = ordered_systems(study)
    outcomes = pairwise_outcomes(table, systems, **counted)
    counts = prompt_counts_from_outcomes(outcomes)
    sequences = judgment_sequences_from_outcomes(outcomes) if with_online_elo else {}

    rankings = []
    for criterion in table.criteria:
        ranking = rank_prompt_counts(
            counts.get(criterion.pk) or empty_prompt_counts(systems),
            sequence=sequences.get(criterion.pk),
            rounds=rounds,
            seed=seed,
            confidence=confidence,
            anchor_run_id=anchor_run_id,
            k_factor=k_factor,
        )
        ranking.criterion = criterion
        ranking.include_surplus = include_surplus
        ranking.include_excluded = include_excluded
        rankings.append(ranking)
    return rankings


def anchor_choices(study: Study) -> list[tuple[str, str]]:
    """Return (run UUID, system name) for each system of the study, by name: the anchors a manager may pick."""
    return [(run_uuid, name) for _run_id, run_uuid, name in _systems_with_uuids(study)]


def resolve_anchor(study: Study, value: str) -> tuple[int | None, str]:
    """Return the run id of the anchor named by `value`, a run UUID from `anchor_choices`.

    An empty value means the geometric mean and gives (None, ""). A value
    that names no system of the study gives (None, message), so the report
    falls back on the geometric mean and says why.
    """
    if not value:
        return None, ""
    for run_id, run_uuid, _name in _systems_with_uuids(study):
        if run_uuid == value.strip().lower():
            return run_id, ""
    return None, gettext(
        "The anchor %(value)s is not a system of this study, so 1000 is the geometric mean strength instead."
    ) % {"value": value}


def _systems_with_uuids(study: Study) -> list[tuple[int, str, str]]:
    systems = ordered_systems(study)
    uuids = dict(GenerationRun.objects.filter(pk__in=[system.run_id for system in systems]).values_list("pk", "uuid"))
    return [(system.run_id, str(uuids[system.run_id]), system.name) for system in systems]


def ordered_systems(study: Study) -> list[System]:
    """Return the study's systems sorted by name, then run id: the index order of every array here."""
    return sorted(load_systems(study).values(), key=lambda system: (system.name, system.run_id))
