"""Outcome counts per prompt: the input of every ranking figure, and its bootstrap sums.

The study's answers, read once into numpy (reports.answer_table), are
counted per criterion, prompt, pair of systems, canonical result and
screen order. Each criterion's counts become a sparse matrix with one row
per prompt (`PromptCounts`), so no Python object is made per judgment and
the bootstrap can resample whole prompts.
"""

import logging
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from reports.answer_table import NO_RESULT, StudyAnswers
from reports.grouping import unique_ids
from reports.pairwise import BOTH_BAD, FIRST_WINS, SECOND_WINS, TIE
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
# A prompt matrix of up to this many cells (32 MB), at least 1 in
# DENSE_SHARE of them filled, is multiplied as a dense array. At 2,000
# prompts and 762 columns, 1,000 rounds took 0.065 s of CPU as a dense
# array at any filling. As a sparse one they took 0.034 s at 0.9% filled
# and 0.127 s at 20%, so the two cross near 8% (2-core Intel Xeon, one
# BLAS thread).
DENSE_CELLS = 4_000_000
DENSE_SHARE = 12


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

    unique_prompts, prompt_rows = unique_ids(np.asarray(prompt_ids), return_inverse=True)
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
    # The counts are whole numbers and their sums stay below 2**53, so both
    # products give exactly the same totals.
    cells = prompts * columns
    dense = matrix.toarray() if cells <= DENSE_CELLS and matrix.nnz * DENSE_SHARE >= cells else None
    transposed = matrix.T.tocsr() if dense is None else None
    per_chunk = max(1, DRAWS_PER_CHUNK // prompts)
    for start in range(0, rounds, per_chunk):
        chunk = range(start, min(start + per_chunk, rounds))
        weights = np.empty((len(chunk), prompts))
        for position, round_number in enumerate(chunk):
            draws = np.random.default_rng([seed, round_number]).integers(0, prompts, size=prompts)
            weights[position] = np.bincount(draws, minlength=prompts)
        if dense is not None:
            totals[chunk.start : chunk.stop] = weights @ dense
        else:
            totals[chunk.start : chunk.stop] = (transposed @ weights.T).T
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


# From the answer table


@dataclass
class PairwiseOutcomes:
    """A table's counted pairwise outcomes in judgment order, read once for counts and online Elo alike.

    Per outcome: the criterion's position in `table.criteria`, the item's
    row in `table.items`, the result code and the screen order. `pairs`
    maps item rows to the indices of their two systems in `systems`.
    """

    table: StudyAnswers
    systems: list[System]
    pairs: "_ItemPairs"
    criterion: np.ndarray
    item: np.ndarray
    result: np.ndarray
    first_on_left: np.ndarray


def pairwise_outcomes(
    table: StudyAnswers, systems: list[System], *, include_surplus: bool, include_excluded: bool
) -> PairwiseOutcomes:
    """Select the counted answers of `table` that are outcomes between two different systems of `systems`.

    The others (an attention check, a winner outside the item, a system no
    longer in the study) are skipped and logged.
    """
    pairs = _ItemPairs(table, systems)
    answers = table.answers
    counted = table.counted_answers(include_surplus=include_surplus, include_excluded=include_excluded)
    item = table.judgments.item[answers.judgment]
    valid = pairs.compares[item] & (answers.result != NO_RESULT)
    skipped = int((counted & ~valid).sum())
    if skipped:
        logger.warning(
            "Skipped %s counted answers of study %s that are no outcome between two responses of their item "
            "(attention checks, a winner outside the item, or a system no longer in the study)",
            skipped,
            table.study.pk,
        )
    keep = counted & valid
    return PairwiseOutcomes(
        table=table,
        systems=systems,
        pairs=pairs,
        criterion=answers.criterion[keep],
        item=item[keep],
        result=answers.result[keep],
        first_on_left=table.judgments.first_on_left[answers.judgment[keep]],
    )


def prompt_counts_from_outcomes(outcomes: PairwiseOutcomes) -> dict[int, PromptCounts]:
    """Count the outcomes per prompt for each criterion, keyed by criterion id.

    The outcomes are first counted per item, result and screen order with
    one `bincount`, which keeps the arrays built from them small.
    """
    table, pairs = outcomes.table, outcomes.pairs
    counts = {}
    for position, criterion in enumerate(table.criteria):
        on_criterion = outcomes.criterion == position
        if not on_criterion.any():
            continue
        keys = (outcomes.item[on_criterion].astype(np.int64) * 4 + outcomes.result[on_criterion]) * 2
        keys += outcomes.first_on_left[on_criterion]
        per_key = np.bincount(keys, minlength=table.items.ids.size * 8)
        present = np.flatnonzero(per_key)
        item, result, first_on_left = present // 8, present // 2 % 4, present % 2
        counts[criterion.pk] = build_prompt_counts(
            outcomes.systems,
            table.items.prompt_ids[item],
            pairs.first[item],
            pairs.second[item],
            result,
            first_on_left.astype(bool),
            per_key[present],
        )
    return counts


def judgment_sequences_from_outcomes(outcomes: PairwiseOutcomes) -> dict[int, JudgmentSequence]:
    """Return each criterion's outcomes in the order the judgments were stored (by id), for online Elo."""
    first_scores = np.array([1.0, 0.0, 0.5, 0.5])  # by result code: first wins, second wins, tie, both bad
    sequences = {}
    for position, criterion in enumerate(outcomes.table.criteria):
        on_criterion = outcomes.criterion == position
        if on_criterion.any():
            item = outcomes.item[on_criterion]
            sequences[criterion.pk] = JudgmentSequence(
                outcomes.pairs.first[item],
                outcomes.pairs.second[item],
                first_scores[outcomes.result[on_criterion]],
            )
    return sequences


class _ItemPairs:
    """Each item's two systems as indices into `systems`, by row of the table's items.

    `compares` marks the items whose two responses come from two different
    systems of `systems`; the indices of the other items are meaningless.
    """

    def __init__(self, table: StudyAnswers, systems: list[System]):
        run_ids = np.array([system.run_id for system in systems], dtype=np.int64)
        first_runs, second_runs = table.items.first_run_ids, table.items.second_run_ids
        self.first, first_known = _system_indices(run_ids, first_runs)
        self.second, second_known = _system_indices(run_ids, second_runs)
        self.compares = first_known & second_known & (first_runs != second_runs)


def _system_indices(run_ids: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the index in `run_ids` of each wanted run id, and a mask of the ids found there."""
    if not run_ids.size:
        return np.zeros(wanted.size, dtype=np.int64), np.zeros(wanted.size, dtype=bool)
    order = np.argsort(run_ids)
    positions = np.minimum(np.searchsorted(run_ids[order], wanted), run_ids.size - 1)
    indices = order[positions]
    return indices, run_ids[indices] == wanted
