"""Length bias of a pairwise criterion: how often the longer answer won a decisive judgment.

Length is the number of characters (Unicode code points) of the answer the
annotator read last: the answer to the prompt's final turn, which is the
last follow-up answer of a multi-turn prompt and the answer text otherwise.
Decisive judgments pick a winner. Those whose two answers have the same
length have no longer answer, so they are counted apart and left out of
the share. Without length bias the share is near one half.
"""

from dataclasses import dataclass

import numpy as np
from django.db.models.functions import Length

from annotate.models import Criterion, Item, Study
from generation.models import Response
from reports.answer_table import FIRST_WINS_CODE, SECOND_WINS_CODE, StudyAnswers, load_study_answers
from reports.grouping import unique_ids
from reports.ranking import DEFAULT_CONFIDENCE, DEFAULT_ROUNDS, DEFAULT_SEED, Interval, percentile_interval


@dataclass
class LengthBias:
    """Decisive judgments of one criterion counted by whether the longer answer won.

    `compared` counts decisive judgments whose answers differ in length,
    `longer_wins` those among them won by the longer answer and
    `equal_length` the decisive judgments left out because both answers
    have the same length. The interval is a percentile bootstrap over
    prompts, None below two prompts.
    """

    longer_wins: int
    compared: int
    equal_length: int
    prompts: int
    interval: Interval | None = None
    rounds: int = DEFAULT_ROUNDS
    seed: int = DEFAULT_SEED
    confidence: float = DEFAULT_CONFIDENCE

    @property
    def longer_share(self) -> float | None:
        return self.longer_wins / self.compared if self.compared else None


def final_turn_length(text: str, follow_up_texts: list[str] | None) -> int:
    """Return the number of characters of the answer to the prompt's final turn."""
    if follow_up_texts:
        return len(follow_up_texts[-1])
    return len(text)


def criterion_length_bias(
    criterion: Criterion,
    *,
    include_surplus: bool = False,
    include_excluded: bool = False,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
    table: StudyAnswers | None = None,
) -> LengthBias:
    """Count the criterion's decisive judgments won by the longer answer, with a prompt-bootstrap interval.

    1. Take the counted answers of the criterion that name one of the
       item's two responses as the winner, from `table` (the study's
       answers as `load_study_answers` read them, read here when not given).
    2. Read the final-turn lengths of the items' responses in one query.
    3. Sum per prompt in numpy: longer answer won, compared.
    """
    table = table or load_study_answers(criterion.study)
    answers = table.answers
    position = [candidate.pk for candidate in table.criteria].index(criterion.pk)
    decisive = np.isin(answers.result, (FIRST_WINS_CODE, SECOND_WINS_CODE)) & (answers.criterion == position)
    decisive &= table.counted_answers(include_surplus=include_surplus, include_excluded=include_excluded)
    item = table.judgments.item[answers.judgment[decisive]]
    first_won = answers.result[decisive] == FIRST_WINS_CODE

    first_length, second_length = _item_lengths(table)
    first_length, second_length = first_length[item], second_length[item]
    equal = first_length == second_length
    longer_won = (first_length > second_length) == first_won

    # One row per prompt, in prompt id order: (longer answer won, compared).
    prompts, rows = unique_ids(table.items.prompt_ids[item[~equal]], return_inverse=True)
    per_prompt = np.zeros((prompts.size, 2))
    per_prompt[:, 0] = np.bincount(rows, weights=longer_won[~equal], minlength=prompts.size)
    per_prompt[:, 1] = np.bincount(rows, minlength=prompts.size)
    bias = LengthBias(
        longer_wins=int(per_prompt[:, 0].sum()),
        compared=int(per_prompt[:, 1].sum()),
        equal_length=int(equal.sum()),
        prompts=int(prompts.size),
        rounds=rounds,
        seed=seed,
        confidence=confidence,
    )
    if bias.prompts >= 2 and rounds > 0:
        bias.interval = _bootstrap_interval(per_prompt, rounds, seed, confidence)
    return bias


def _item_lengths(table: StudyAnswers) -> tuple[np.ndarray, np.ndarray]:
    """Return the final-turn lengths of each item's first and second response, by row of `table.items`; 0 for none.

    Read once per table, because the report needs them for every pairwise criterion.
    """
    if "item lengths" not in table.derived:
        table.derived["item lengths"] = _read_item_lengths(table)
    return table.derived["item lengths"]


def _read_item_lengths(table: StudyAnswers) -> tuple[np.ndarray, np.ndarray]:
    items = table.items
    lengths = _final_turn_lengths(table.study, np.concatenate([items.first_run_ids, items.second_run_ids]))
    # A response of another prompt than its item's is left out above, so it is read by id.
    item_responses = unique_ids(np.concatenate([items.first_response_ids, items.second_response_ids]))
    missing = [
        response_id for response_id in item_responses.tolist() if response_id != 0 and response_id not in lengths
    ]
    for start in range(0, len(missing), 500):
        lengths.update(_response_lengths(Response.objects.filter(pk__in=missing[start : start + 500])))

    response_ids = np.array([0, *lengths], dtype=np.int64)
    response_lengths = np.array([0, *lengths.values()], dtype=np.int64)
    order = np.argsort(response_ids)
    response_ids, response_lengths = response_ids[order], response_lengths[order]

    def length_of(ids: np.ndarray) -> np.ndarray:
        rows = np.minimum(np.searchsorted(response_ids, ids), response_ids.size - 1)
        return np.where(response_ids[rows] == ids, response_lengths[rows], 0)

    return length_of(items.first_response_ids), length_of(items.second_response_ids)


def _final_turn_lengths(study: Study, run_ids: np.ndarray) -> dict[int, int]:
    """Return {response id: characters of its final-turn answer} for the responses of `run_ids` to the study's prompts.

    The items' responses are found through their runs, an indexed list of a
    few ids, and their prompts, because a test against the study's items
    for each response took five times as long. Run id 0 (no response) is
    ignored.
    """
    runs = unique_ids(run_ids[run_ids != 0]).tolist()
    prompts = Item.objects.filter(study=study).values("prompt_id")
    lengths: dict[int, int] = {}
    # A batch of runs per query keeps under SQLite's limit on query parameters.
    for start in range(0, len(runs), 500):
        lengths.update(
            _response_lengths(Response.objects.filter(run_id__in=runs[start : start + 500], prompt__in=prompts))
        )
    return lengths


def _response_lengths(responses) -> dict[int, int]:
    """Return {response id: characters of its final-turn answer} for a queryset of responses.

    SQL measures the answer text, so only follow-up answers leave the
    database, and only from the responses that have some.
    """
    responses = responses.order_by()
    lengths = dict(responses.values_list("pk", Length("text")))
    for response_id, follow_ups in responses.exclude(follow_up_texts=[]).values_list("pk", "follow_up_texts"):
        lengths[response_id] = final_turn_length("", follow_ups)
    return lengths


def _bootstrap_interval(table: np.ndarray, rounds: int, seed: int, confidence: float) -> Interval:
    """Draw prompts with replacement `rounds` times and take percentiles of the longer answer's share.

    `table` has one row per prompt: (longer wins, compared judgments). Every
    row has at least one compared judgment, so no round divides by zero.
    """
    rng = np.random.default_rng(seed)
    prompts = len(table)
    drawn = rng.integers(0, prompts, size=(rounds, prompts))
    # How often each round drew each prompt, counted in one pass over all
    # rounds, then summed by a product: a third of the time of gathering
    # the drawn rows. The sums are of whole numbers, so they are exact.
    offsets = np.arange(rounds)[:, np.newaxis] * prompts
    counts = np.bincount((drawn + offsets).ravel(), minlength=rounds * prompts).reshape(rounds, prompts)
    totals = counts @ table
    shares = totals[:, 0] / totals[:, 1]
    lower, upper = percentile_interval(shares, confidence)
    return Interval(float(lower), float(upper))
