"""Outcome counts per prompt: the input of every ranking figure, its queries and its bootstrap sums.

One aggregated query counts a study's pairwise answers per criterion, item,
canonical result and screen order. A second one maps items to their
prompt and systems. Each criterion's counts become a sparse matrix with one
row per prompt (`PromptCounts`), so no Python object is made per judgment
and the bootstrap can resample whole prompts.
"""

import logging
from dataclasses import dataclass

import numpy as np
from django.db.models import Count, F
from scipy import sparse

from annotate.models import Item, Study
from reports.pairwise import BOTH_BAD, CANONICAL_RESULTS, FIRST_WINS, SECOND_WINS, TIE, canonical_result
from reports.systems import System

logger = logging.getLogger(__name__)

RESULT_CODES = {FIRST_WINS: 0, SECOND_WINS: 1, TIE: 2, BOTH_BAD: 3}
# Each unordered pair (a, b), a before b in system order, has four columns:
# a beat b, b beat a, ties, both bad. Two position columns follow all pairs.
COLUMNS_PER_PAIR = 4
A_WON, B_WON, TIED, BOTH_WERE_BAD = range(COLUMNS_PER_PAIR)
# Bootstrap weights are built this many prompt draws at a time, which keeps
# the weight matrix near 32 MB whatever the number of prompts.
DRAWS_PER_CHUNK = 4_000_000


# Counts per prompt


@dataclass
class PromptCounts:
    """A criterion's outcome counts, one sparse row per prompt: the input of every ranking figure.

    `matrix[p, c]` counts the answers on prompt `prompt_ids[p]` in column c,
    laid out as described at COLUMNS_PER_PAIR; `pair_columns` gives the
    first column of each pair. `systems` fixes the system order.
    """

    systems: list[System]
    prompt_ids: np.ndarray
    matrix: sparse.csr_matrix

    @property
    def size(self) -> int:
        return len(self.systems)

    @property
    def pair_count(self) -> int:
        return self.size * (self.size - 1) // 2

    @property
    def judgments(self) -> int:
        """Number of answers counted, each comparing one pair once."""
        return int(self.matrix[:, : self.pair_count * COLUMNS_PER_PAIR].sum())


def pair_columns(size: int) -> np.ndarray:
    """Return an (size, size) array giving each pair's first column; -1 on the diagonal.

    Pairs are numbered row by row over the upper triangle, and the entry is
    the same for (a, b) and (b, a).
    """
    columns = np.full((size, size), -1, dtype=np.int64)
    upper_rows, upper_columns = np.triu_indices(size, 1)
    numbers = np.arange(upper_rows.size) * COLUMNS_PER_PAIR
    columns[upper_rows, upper_columns] = numbers
    columns[upper_columns, upper_rows] = numbers
    return columns


def build_prompt_counts(
    systems: list[System],
    prompt_ids: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    results: np.ndarray,
    first_on_left: np.ndarray,
    counts: np.ndarray,
) -> PromptCounts:
    """Build the per-prompt count matrix from grouped rows, one array per field.

    Row t records that `counts[t]` answers on prompt `prompt_ids[t]`, between
    the systems at indices `first[t]` and `second[t]` (the item's canonical
    order), had result code `results[t]` (RESULT_CODES), with the first
    response on the left when `first_on_left[t]`. Rows may repeat a key;
    their counts add up.
    """
    size = len(systems)
    first, second, results = (np.asarray(values, dtype=np.int64) for values in (first, second, results))
    first_on_left = np.asarray(first_on_left, dtype=bool)
    counts = np.asarray(counts, dtype=np.float64)
    if np.any(first == second):
        raise ValueError("A pairwise row compares a system with itself; each row needs two different systems.")

    unique_prompts, prompt_rows = np.unique(np.asarray(prompt_ids), return_inverse=True)
    pair_count = size * (size - 1) // 2
    first_is_a = first < second
    # Offset of the outcome column inside the pair's block of four.
    offset = np.select(
        [results == 0, results == 1, results == 2],
        [np.where(first_is_a, A_WON, B_WON), np.where(first_is_a, B_WON, A_WON), TIED],
        BOTH_WERE_BAD,
    )
    outcome_columns = pair_columns(size)[first, second] + offset

    decisive = results <= 1
    left_won = (results == 0) == first_on_left
    position_columns = pair_count * COLUMNS_PER_PAIR + np.where(left_won, 0, 1)

    rows = np.concatenate([prompt_rows, prompt_rows[decisive]])
    columns = np.concatenate([outcome_columns, position_columns[decisive]])
    values = np.concatenate([counts, counts[decisive]])
    shape = (unique_prompts.size, pair_count * COLUMNS_PER_PAIR + 2)
    matrix = sparse.coo_matrix((values, (rows, columns)), shape=shape).tocsr()
    return PromptCounts(systems, unique_prompts, matrix)


@dataclass
class OutcomeTables:
    """Totals unpacked from count columns; every array may carry leading round axes.

    wins[..., i, j]: answers where i beat j. ties and both_bad are symmetric.
    left_wins and right_wins count decisive answers by the winner's screen side.
    """

    wins: np.ndarray
    ties: np.ndarray
    both_bad: np.ndarray
    left_wins: np.ndarray
    right_wins: np.ndarray

    @property
    def scores(self) -> np.ndarray:
        """Wins with ties and "both bad" split in halves: the Bradley-Terry data."""
        return self.wins + (self.ties + self.both_bad) / 2

    @property
    def comparisons(self) -> np.ndarray:
        """Comparisons per system."""
        return (self.wins + self.wins.swapaxes(-1, -2) + self.ties + self.both_bad).sum(axis=-1)

    @property
    def win_rates(self) -> np.ndarray:
        """Win rate per system, NaN for a system without comparisons."""
        comparisons = self.comparisons
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.scores.sum(axis=-1) / np.where(comparisons > 0, comparisons, np.nan)


def outcome_tables(totals: np.ndarray, size: int) -> OutcomeTables:
    """Unpack count columns, shape (..., columns), into per-pair tables."""
    leading = totals.shape[:-1]
    upper_rows, upper_columns = np.triu_indices(size, 1)
    blocks = totals[..., : upper_rows.size * COLUMNS_PER_PAIR].reshape(*leading, upper_rows.size, COLUMNS_PER_PAIR)

    wins = np.zeros((*leading, size, size))
    wins[..., upper_rows, upper_columns] = blocks[..., A_WON]
    wins[..., upper_columns, upper_rows] = blocks[..., B_WON]
    ties = np.zeros((*leading, size, size))
    ties[..., upper_rows, upper_columns] = blocks[..., TIED]
    ties[..., upper_columns, upper_rows] = blocks[..., TIED]
    both_bad = np.zeros((*leading, size, size))
    both_bad[..., upper_rows, upper_columns] = blocks[..., BOTH_WERE_BAD]
    both_bad[..., upper_columns, upper_rows] = blocks[..., BOTH_WERE_BAD]
    return OutcomeTables(wins, ties, both_bad, totals[..., -2], totals[..., -1])


# Bootstrap


def bootstrap_totals(matrix: sparse.csr_matrix, rounds: int, seed: int) -> np.ndarray:
    """Sum the rows of prompts drawn with replacement, once per round: shape (rounds, columns).

    Round r draws len(prompts) row numbers from numpy's default generator
    seeded with [seed, r], so its draw does not depend on how rounds are
    batched. The rows drawn are summed as a weight vector (how often each
    prompt was drawn) times the matrix, a batch of rounds at a time.
    """
    prompts, columns = matrix.shape
    totals = np.zeros((rounds, columns))
    if prompts == 0:
        return totals
    transposed = matrix.T.tocsr()
    per_chunk = max(1, DRAWS_PER_CHUNK // prompts)
    for start in range(0, rounds, per_chunk):
        chunk = range(start, min(start + per_chunk, rounds))
        weights = np.empty((prompts, len(chunk)))
        for position, round_number in enumerate(chunk):
            draws = np.random.default_rng([seed, round_number]).integers(0, prompts, size=prompts)
            weights[:, position] = np.bincount(draws, minlength=prompts)
        totals[chunk.start : chunk.stop] = (transposed @ weights).T
    return totals


@dataclass
class JudgmentSequence:
    """Judgments in the order they were stored: system indices and the first system's score (1, 0.5 or 0)."""

    first: np.ndarray
    second: np.ndarray
    first_score: np.ndarray


def empty_prompt_counts(systems: list[System]) -> PromptCounts:
    empty = np.array([], dtype=np.int64)
    return build_prompt_counts(systems, empty, empty, empty, empty, empty.astype(bool), empty)


# Queries


@dataclass(frozen=True)
class ItemSystems:
    """An item's prompt and the indices of its two systems in canonical order."""

    prompt_id: int
    first: int
    second: int


def load_item_systems(study: Study, systems: list[System]) -> dict[int, ItemSystems]:
    """Map each item of `study` that compares two different known systems to its prompt and systems, in one query.

    Items without a second response (rating items and attention checks)
    are left out, so their answers are skipped when counted.
    """
    index_of = {system.run_id: index for index, system in enumerate(systems)}
    rows = (
        Item.objects.filter(study=study, second_response__isnull=False)
        .order_by()
        .values_list("pk", "prompt_id", "first_response__run_id", "second_response__run_id")
    )
    items = {}
    for item_id, prompt_id, first_run, second_run in rows:
        if first_run in index_of and second_run in index_of and first_run != second_run:
            items[item_id] = ItemSystems(prompt_id, index_of[first_run], index_of[second_run])
    return items


def load_prompt_counts(answers, systems: list[System], items: dict[int, ItemSystems]) -> dict[int, PromptCounts]:
    """Count `answers` per criterion, item, canonical result and screen order in one query.

    `items` comes from `load_item_systems`; grouping by item and looking its
    prompt and systems up here spares the query two joins per answer.
    Answers that are no outcome between the item's two responses (an
    attention check, or a winner outside the item) are skipped and logged.
    """
    # Tuples rather than dicts: a million judgments give some 400,000 rows.
    rows = (
        answers.values(
            "criterion_id",
            item_key=F("judgment__item_id"),
            result=canonical_result(),
            first_on_left=F("judgment__first_on_left"),
        )
        .annotate(count=Count("pk"))
        .values_list("criterion_id", "item_key", "result", "first_on_left", "count")
    )

    columns_by_criterion: dict[int, list[list]] = {}
    for criterion_id, item_id, result, first_on_left, count in rows:
        item = items.get(item_id)
        if item is None or result not in RESULT_CODES:
            logger.warning(
                "Skipped %s answers of criterion %s on item %s: result %r is not an outcome between two "
                "responses of the item",
                count,
                criterion_id,
                item_id,
                result,
            )
            continue
        columns = columns_by_criterion.setdefault(criterion_id, [[], [], [], [], [], []])
        columns[0].append(item.prompt_id)
        columns[1].append(item.first)
        columns[2].append(item.second)
        columns[3].append(RESULT_CODES[result])
        columns[4].append(first_on_left)
        columns[5].append(count)

    return {
        criterion_id: build_prompt_counts(systems, *(np.array(column) for column in columns))
        for criterion_id, columns in columns_by_criterion.items()
    }


def load_judgment_sequences(answers, items: dict[int, ItemSystems]) -> dict[int, JudgmentSequence]:
    """Read each criterion's outcomes in the order the judgments were stored, for online Elo.

    One query, read in chunks as tuples; ties in storage time fall back on
    the judgment's primary key. Answers skipped by `load_prompt_counts` are
    skipped here too.
    """
    first_scores = {FIRST_WINS: 1.0, SECOND_WINS: 0.0, TIE: 0.5, BOTH_BAD: 0.5}
    outcomes = (
        answers.annotate(result=canonical_result())
        .filter(result__in=CANONICAL_RESULTS)
        .order_by("judgment__created_at", "judgment_id")
        .values_list("criterion_id", "judgment__item_id", "result")
    )

    columns_by_criterion: dict[int, tuple[list, list, list]] = {}
    for criterion_id, item_id, result in outcomes.iterator(chunk_size=20_000):
        item = items.get(item_id)
        if item is None:
            continue
        first, second, scores = columns_by_criterion.setdefault(criterion_id, ([], [], []))
        first.append(item.first)
        second.append(item.second)
        scores.append(first_scores[result])

    return {
        criterion_id: JudgmentSequence(np.array(first), np.array(second), np.array(scores))
        for criterion_id, (first, second, scores) in columns_by_criterion.items()
    }
