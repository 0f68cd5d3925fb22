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

from annotate.models import Criterion, Outcome
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
    """Count the criterion's decisive judgments won by the longer answer, with a prompt-bootstrap interval."""
    answers = counted_answers(
        include_surplus=include_surplus,
        include_excluded=include_excluded,
        criterion=criterion,
        outcome=Outcome.WIN,
        winner__isnull=False,
    ).values_list(
        "judgment__item__prompt_id",
        "winner_id",
        "judgment__item__first_response_id",
        "judgment__item__first_response__text",
        "judgment__item__first_response__follow_up_texts",
        "judgment__item__second_response__text",
        "judgment__item__second_response__follow_up_texts",
    )
    per_prompt: dict[int, list[int]] = {}
    equal_length = 0
    for prompt_id, winner_id, first_id, first_text, first_follow_ups, second_text, second_follow_ups in answers:
        first_length = final_turn_length(first_text, first_follow_ups)
        second_length = final_turn_length(second_text, second_follow_ups)
        if first_length == second_length:
            equal_length += 1
            continue
        first_is_longer = first_length > second_length
        longer_won = first_is_longer == (winner_id == first_id)
        counts = per_prompt.setdefault(prompt_id, [0, 0])
        counts[0] += int(longer_won)
        counts[1] += 1

    table = np.array(list(per_prompt.values()), dtype=float).reshape(-1, 2)
    bias = LengthBias(
        longer_wins=int(table[:, 0].sum()),
        compared=int(table[:, 1].sum()),
        equal_length=equal_length,
        prompts=len(per_prompt),
        rounds=rounds,
        seed=seed,
        confidence=confidence,
    )
    if bias.prompts >= 2 and rounds > 0:
        bias.interval = _bootstrap_interval(table, rounds, seed, confidence)
    return bias


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
