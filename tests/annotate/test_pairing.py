"""The balanced pair sample, on plain ids (no database)."""

import math
import random
from collections import Counter
from itertools import combinations

import pytest

from annotate.pairing import all_pair_slots, make_pair, round_robin_positions, sample_pair_slots


def _eligible(systems, prompts):
    return {prompt: list(range(1, systems + 1)) for prompt in range(100, 100 + prompts)}


def _pair_counts(slots, systems):
    counts = Counter(pair for _prompt, pair in slots)
    return [counts[pair] for pair in combinations(sorted(systems), 2)]


SHAPES = [
    # (systems, prompts, pairs per prompt)
    (3, 7, 1),
    (3, 10, 2),
    (4, 9, 1),
    (4, 10, 2),
    (4, 11, 3),
    (5, 12, 2),
    (6, 20, 3),
    (8, 15, 5),
    (12, 10, 6),
    (12, 30, 4),
    (12, 5, 11),
]


@pytest.mark.parametrize("systems, prompts, per_prompt", SHAPES)
def test_pair_counts_within_one(systems, prompts, per_prompt):
    slots = sample_pair_slots(_eligible(systems, prompts), per_prompt, random.Random(1))

    counts = _pair_counts(slots, range(1, systems + 1))
    assert max(counts) - min(counts) <= 1
    assert sum(counts) == prompts * per_prompt


@pytest.mark.parametrize("systems, prompts, per_prompt", SHAPES)
def test_no_pair_twice_on_prompt(systems, prompts, per_prompt):
    slots = sample_pair_slots(_eligible(systems, prompts), per_prompt, random.Random(2))

    assert len(set(slots)) == len(slots)
    per_prompt_counts = Counter(prompt for prompt, _pair in slots)
    assert set(per_prompt_counts.values()) == {per_prompt}


@pytest.mark.parametrize(
    "systems, per_prompt",
    # pairs_per_prompt divides a round of the schedule, or is whole rounds.
    [(4, 2), (5, 2), (6, 3), (8, 4), (12, 2), (12, 3), (12, 6)],
)
def test_systems_even_per_prompt(systems, per_prompt):
    eligible = _eligible(systems, 25)
    slots = sample_pair_slots(eligible, per_prompt, random.Random(3))

    even_share = math.ceil(2 * per_prompt / systems)
    for prompt in eligible:
        appearances = Counter(system for slot_prompt, pair in slots if slot_prompt == prompt for system in pair)
        assert max(appearances.values()) <= even_share, (prompt, appearances)


def test_more_pairs_than_exist_takes_all():
    slots = sample_pair_slots(_eligible(3, 4), 10, random.Random(0))

    assert sorted(slots) == sorted(all_pair_slots(_eligible(3, 4)))


def test_same_seed_same_sample():
    first = sample_pair_slots(_eligible(6, 12), 2, random.Random(42))
    again = sample_pair_slots(_eligible(6, 12), 2, random.Random(42))
    other = sample_pair_slots(_eligible(6, 12), 2, random.Random(43))

    assert first == again
    assert first != other


def test_missing_answers_caught_up():
    eligible = _eligible(4, 12)
    # System 4 did not answer three prompts.
    for prompt in (100, 105, 111):
        eligible[prompt].remove(4)

    slots = sample_pair_slots(eligible, 2, random.Random(5))

    for prompt, pair in slots:
        assert set(pair) <= set(eligible[prompt])
    counts = _pair_counts(slots, range(1, 5))
    assert max(counts) - min(counts) <= 1


def test_missing_answers_beyond_repair():
    eligible = _eligible(4, 10)
    # System 4 answered a single prompt, so its pairs can have one item each.
    for prompt in range(101, 110):
        eligible[prompt].remove(4)

    slots = sample_pair_slots(eligible, 2, random.Random(6))

    counts = Counter(pair for _prompt, pair in slots)
    for other in (1, 2, 3):
        assert counts[make_pair(other, 4)] == 1
    # The pairs without system 4 still balance among themselves.
    rest = [counts[pair] for pair in combinations([1, 2, 3], 2)]
    assert max(rest) - min(rest) <= 1


def test_new_system_catches_up_without_touching_existing():
    first = sample_pair_slots(_eligible(4, 10), 2, random.Random(7))
    grown = {prompt: [*systems, 5] for prompt, systems in _eligible(4, 10).items()}

    added = sample_pair_slots(grown, 2, random.Random(8), existing=first)

    assert not set(added) & set(first)
    assert all(5 in pair for _prompt, pair in added)
    counts = _pair_counts(first + added, range(1, 6))
    assert max(counts) - min(counts) <= 1


def test_blocked_slots_avoided_and_not_counted():
    eligible = _eligible(3, 6)
    blocked = [(100, (1, 2)), (101, (1, 2))]

    slots = sample_pair_slots(eligible, 1, random.Random(9), blocked=blocked)

    assert not set(slots) & set(blocked)
    counts = _pair_counts(slots, range(1, 4))
    assert max(counts) - min(counts) <= 1


def test_round_robin_rounds_are_disjoint():
    for systems in (4, 5, 12):
        positions = round_robin_positions(list(range(systems)), random.Random(systems))
        ordered = sorted(positions, key=positions.get)
        round_size = systems // 2
        assert len(ordered) == systems * (systems - 1) // 2
        for start in range(0, len(ordered), round_size):
            members = [system for pair in ordered[start : start + round_size] for system in pair]
            assert len(members) == len(set(members))


def test_rejects_zero_pairs_per_prompt():
    with pytest.raises(ValueError):
        sample_pair_slots(_eligible(3, 3), 0, random.Random(0))
