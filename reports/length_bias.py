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
from django.db.models import Count, F, Q
from django.db.models.functions import Length

from annotate.models import Criterion, Item, Outcome
from generation.models import Response
from reports.answers import counted_answers
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
) -> LengthBias:
    """Count the criterion's decisive judgments won by the longer answer, with a prompt-bootstrap interval.

    1. Count decisive answers per item and winning response in one grouped
       query, so no Python object is made per judgment.
    2. Read the items' prompts and responses, and the responses' final-turn
       lengths, in two more queries.
    3. Sum the counts per prompt in numpy: longer answer won, compared.
    """
    wins = counted_answers(
        include_surplus=include_surplus,
        include_excluded=include_excluded,
        criterion=criterion,
        outcome=Outcome.WIN,
        winner__isnull=False,
    )
    grouped = list(
        wins.values("winner_id", item_key=F("judgment__item_id"))
        .annotate(count=Count("pk"))
        .values_list("item_key", "winner_id", "count")
    )
    pairwise_items = Item.objects.filter(study=criterion.study_id, second_response__isnull=False)
    items = {
        item_id: (prompt_id, first_id, second_id)
        for item_id, prompt_id, first_id, second_id in pairwise_items.values_list(
            "pk", "prompt_id", "first_response_id", "second_response_id"
        )
    }
    lengths = _final_turn_lengths(pairwise_items)

    prompt_ids, longer_won, counts, equal_length = [], [], [], 0
    for item_id, winner_id, count in grouped:
        if item_id not in items:
            continue
        prompt_id, first_id, second_id = items[item_id]
        first_length, second_length = lengths[first_id], lengths[second_id]
        if first_length == second_length:
            equal_length += count
            continue
        prompt_ids.append(prompt_id)
        longer_won.append((first_length > second_length) == (winner_id == first_id))
        counts.append(count)

    # One row per prompt, in prompt id order: (longer answer won, compared).
    prompts, rows = np.unique(np.array(prompt_ids, dtype=np.int64), return_inverse=True)
    counts = np.array(counts, dtype=float)
    table = np.zeros((prompts.size, 2))
    np.add.at(table, (rows, 0), counts * np.array(longer_won, dtype=bool))
    np.add.at(table, (rows, 1), counts)
    bias = LengthBias(
        longer_wins=int(table[:, 0].sum()),
        compared=int(table[:, 1].sum()),
        equal_length=equal_length,
        prompts=int(prompts.size),
        rounds=rounds,
        seed=seed,
        confidence=confidence,
    )
    if bias.prompts >= 2 and rounds > 0:
        bias.interval = _bootstrap_interval(table, rounds, seed, confidence)
    return bias


def _final_turn_lengths(items) -> dict[int, int]:
    """Return {response id: characters of its final-turn answer} for the responses of `items`.

    SQL measures the answer text, so only follow-up answers leave the database.
    """
    responses = Response.objects.filter(
        Q(pk__in=items.values("first_response_id")) | Q(pk__in=items.values("second_response_id"))
    )
    rows = responses.values_list("pk", Length("text"), "follow_up_texts")
    return {
        response_id: final_turn_length("", follow_ups) if follow_ups else text_length
        for response_id, text_length, follow_ups in rows
    }


def _bootstrap_interval(table: np.ndarray, rounds: int, seed: int, confidence: float) -> Interval:
    """Draw prompts with replacement `rounds` times and take percentiles of the longer answer's share.

    `table` has one row per prompt: (longer wins, compared judgments). Every
    row has at least one compared judgment, so no round divides by zero.
    """
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(table), size=(rounds, len(table)))
    totals = table[drawn].sum(axis=1)
    shares = totals[:, 0] / totals[:, 1]
    lower, upper = percentile_interval(shares, confidence)
    return Interval(float(lower), float(upper))
