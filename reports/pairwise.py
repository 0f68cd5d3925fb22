"""Win, tie and loss counts of a pairwise study, per criterion.

The counts come from one aggregated query, grouped by criterion, by the
item's two systems in canonical order and by the canonical result, so the
work per report does not grow with one Python object per judgment.

Win rate follows the Chatbot Arena convention: a tie and a "both bad" answer
each give both sides half a win, so

    win rate = (wins + (ties + both_bad) / 2) / comparisons

`ties` and `both_bad` are still counted apart, because "both bad" says
something about quality that a tie does not.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db.models import Case, CharField, Count, F, Value, When

from annotate.models import Criterion, Outcome, Study, StudyKind
from reports.answers import counted_answers, require_kind
from reports.systems import System, load_systems

if TYPE_CHECKING:
    from reports.ranking import Ranking

logger = logging.getLogger(__name__)

# An answer's result relative to its item's canonical order.
FIRST_WINS = "first_wins"
SECOND_WINS = "second_wins"
TIE = Outcome.TIE.value
BOTH_BAD = Outcome.BOTH_BAD.value
CANONICAL_RESULTS = (FIRST_WINS, SECOND_WINS, TIE, BOTH_BAD)


def canonical_result() -> Case:
    """Return a query expression for an answer's result relative to its item.

    The winner is compared with the item's responses, never with the screen
    position, so the left/right order an annotator saw cannot leak into the
    counts. A winner that is neither response of the item leaves the stored
    outcome ("win"), which callers skip as unknown.
    """
    return Case(
        When(outcome=Outcome.WIN, winner=F("judgment__item__first_response"), then=Value(FIRST_WINS)),
        When(
            outcome=Outcome.WIN,
            winner=F("judgment__item__second_response"),
            then=Value(SECOND_WINS),
        ),
        default=F("outcome"),
        output_field=CharField(),
    )


@dataclass
class PairCounts:
    """Outcomes between two systems over all items that pair them, in either order."""

    system_a: System
    system_b: System
    wins_a: int = 0
    wins_b: int = 0
    ties: int = 0
    both_bad: int = 0

    @property
    def comparisons(self) -> int:
        return self.wins_a + self.wins_b + self.ties + self.both_bad

    def add(self, result: str, count: int, first_is_a: bool) -> None:
        """Add `count` answers with canonical `result` from an item whose first system is A or B."""
        if result == TIE:
            self.ties += count
        elif result == BOTH_BAD:
            self.both_bad += count
        elif (result == FIRST_WINS) == first_is_a:
            self.wins_a += count
        else:
            self.wins_b += count


@dataclass
class SystemRecord:
    """One system's outcomes against all others on one criterion."""

    system: System
    wins: int = 0
    losses: int = 0
    ties: int = 0
    both_bad: int = 0

    @property
    def comparisons(self) -> int:
        return self.wins + self.losses + self.ties + self.both_bad

    @property
    def win_rate(self) -> float | None:
        """(wins + (ties + both_bad) / 2) / comparisons, or None without comparisons."""
        if not self.comparisons:
            return None
        return (self.wins + (self.ties + self.both_bad) / 2) / self.comparisons


@dataclass
class MatrixCell:
    """The row system's outcomes against the column system."""

    wins: int
    losses: int
    ties: int
    both_bad: int

    @property
    def comparisons(self) -> int:
        return self.wins + self.losses + self.ties + self.both_bad


@dataclass
class MatrixRow:
    system: System
    cells: list[MatrixCell | None]


@dataclass
class PairwiseSummary:
    """Counts per system and per pair for one criterion of a pairwise study."""

    criterion: Criterion
    include_surplus: bool
    systems: list[SystemRecord] = field(default_factory=list)
    pairs: list[PairCounts] = field(default_factory=list)

    @property
    def answers(self) -> int:
        """Number of judgments counted: each answer compares one pair once."""
        return sum(pair.comparisons for pair in self.pairs)

    def matrix(self) -> list[MatrixRow]:
        """Return the pair counts as a square matrix in ranking order.

        A cell is None on the diagonal and for pairs never compared.
        """
        by_pair = {}
        for pair in self.pairs:
            by_pair[pair.system_a, pair.system_b] = MatrixCell(pair.wins_a, pair.wins_b, pair.ties, pair.both_bad)
            by_pair[pair.system_b, pair.system_a] = MatrixCell(pair.wins_b, pair.wins_a, pair.ties, pair.both_bad)
        order = [record.system for record in self.systems]
        return [MatrixRow(row, [by_pair.get((row, column)) for column in order]) for row in order]


def pairwise_summary(
    criterion: Criterion, *, include_surplus: bool = False, include_excluded: bool = False
) -> PairwiseSummary:
    """Count outcomes per pair of systems and per system for one criterion."""
    study = criterion.study
    require_kind(study, StudyKind.PAIRWISE)
    answers = counted_answers(include_surplus=include_surplus, include_excluded=include_excluded, criterion=criterion)
    return _summarise(criterion, _grouped_rows(answers), load_systems(study), include_surplus)


def study_pairwise_summaries(
    study: Study, *, include_surplus: bool = False, include_excluded: bool = False
) -> list[PairwiseSummary]:
    """Count outcomes for every criterion of a pairwise study, in criterion order."""
    require_kind(study, StudyKind.PAIRWISE)
    answers = counted_answers(
        include_surplus=include_surplus, include_excluded=include_excluded, criterion__study=study
    )
    rows_by_criterion = {}
    for row in _grouped_rows(answers):
        rows_by_criterion.setdefault(row["criterion_id"], []).append(row)

    systems = load_systems(study)
    return [
        _summarise(criterion, rows_by_criterion.get(criterion.pk, []), systems, include_surplus)
        for criterion in study.criteria.order_by("position", "pk")
    ]


def _grouped_rows(answers) -> list[dict]:
    """Count answers per criterion, canonical pair of runs and canonical result."""
    return list(
        answers.values(
            "criterion_id",
            first_run=F("judgment__item__first_response__run_id"),
            second_run=F("judgment__item__second_response__run_id"),
            result=canonical_result(),
        ).annotate(count=Count("pk"))
    )


def _summarise(
    criterion: Criterion, rows: Iterable[dict], systems: dict[int, System], include_surplus: bool
) -> PairwiseSummary:
    """Build a summary from grouped rows.

    1. Fold the two canonical orders of each pair of systems into one
       unordered pair, with A the system whose name sorts first.
    2. Add each pair's counts to both of its systems (`_summary_from_pairs`).
    3. Sort systems by win rate, best first; systems never compared go last.
    """
    pairs: dict[tuple[int, int], PairCounts] = {}
    for row in rows:
        if row["result"] not in CANONICAL_RESULTS or row["second_run"] is None:
            logger.warning(
                "Skipped %s answers of criterion %s: result %r on runs %s and %s "
                "is not an outcome between two responses of the item",
                row["count"],
                criterion.pk,
                row["result"],
                row["first_run"],
                row["second_run"],
            )
            continue
        first, second = systems[row["first_run"]], systems[row["second_run"]]
        a, b = sorted((first, second), key=lambda system: (system.name, system.run_id))
        pair = pairs.setdefault((a.run_id, b.run_id), PairCounts(a, b))
        pair.add(row["result"], row["count"], first_is_a=first == a)
    return _summary_from_pairs(criterion, pairs, systems, include_surplus)


def summary_from_ranking(criterion: Criterion, ranking: "Ranking", include_surplus: bool) -> PairwiseSummary:
    """Build a criterion's summary from its ranking, which contains the same counts, without another query.

    The ranking must have been computed with the same options and breakdown
    as the summary would be.
    """
    systems = {record.system.run_id: record.system for record in ranking.systems}
    pairs: dict[tuple[int, int], PairCounts] = {}
    for record in ranking.pairs:
        a, b = sorted((record.system, record.opponent), key=lambda system: (system.name, system.run_id))
        if record.system == a:
            pairs[a.run_id, b.run_id] = PairCounts(a, b, record.wins, record.losses, record.ties, record.both_bad)
    return _summary_from_pairs(criterion, pairs, systems, include_surplus)


def _summary_from_pairs(
    criterion: Criterion,
    pairs: dict[tuple[int, int], PairCounts],
    systems: dict[int, System],
    include_surplus: bool,
) -> PairwiseSummary:
    records = {system.run_id: SystemRecord(system) for system in systems.values()}
    for pair in pairs.values():
        _add_pair(records[pair.system_a.run_id], pair.wins_a, pair.wins_b, pair)
        _add_pair(records[pair.system_b.run_id], pair.wins_b, pair.wins_a, pair)

    ranked = sorted(records.values(), key=_ranking_key)
    ordered_pairs = sorted(pairs.values(), key=lambda pair: (pair.system_a.name, pair.system_b.name))
    return PairwiseSummary(criterion, include_surplus, ranked, ordered_pairs)


def _add_pair(record: SystemRecord, wins: int, losses: int, pair: PairCounts) -> None:
    record.wins += wins
    record.losses += losses
    record.ties += pair.ties
    record.both_bad += pair.both_bad


def _ranking_key(record: SystemRecord):
    rate = record.win_rate
    return (rate is None, -(rate or 0.0), record.system.name)
