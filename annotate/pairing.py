"""Choose which pairs of systems each prompt gets in a pairwise study.

These are pure functions over integer ids (prompts, systems), so the
balance can be tested and measured without a database. `annotate.items`
turns the chosen (prompt, pair) slots into items.

The balanced sample, used when a study sets `pairs_per_prompt`:

1. Fill. Prompts are visited in a fixed order, those with the fewest
   answering systems first, because they have the least choice. Each prompt
   gets pairs until it has `pairs_per_prompt` of them (or every pair its
   systems allow). Only pairs with the fewest items so far may be picked,
   which keeps every pair's count within 1 of every other's while all
   systems answer every prompt. Among those, the pick favours pairs whose
   systems appear least on that prompt, so each system is judged about
   equally often per prompt, and a prompt never gets the same pair twice.
2. Catch up. A pair can fall behind: one of its systems lacks an answer
   to some prompts, or it joined the study after the first build. Every pair
   more than 1 below the highest count gets extra items, on prompts both of
   its systems answered, until it is within 1 or no such prompt is left.
   Such a prompt then holds more than `pairs_per_prompt` pairs.

Ties are broken with the caller's random generator, so the same seed and
the same inputs give the same sample.
"""

import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from itertools import combinations

# (lower system id, higher system id)
Pair = tuple[int, int]
# (prompt id, pair)
Slot = tuple[int, Pair]

# Greedy attempts per prompt while none reaches the even share. When every
# system answers every prompt, the first attempt (in round-robin order) is
# as even as any retry. With missing answers, random retries matter: in a
# simulation with 4 to 12 systems and one answer missing per three prompts,
# 12 attempts left 90 prompts above the even share where 1 attempt left 153.
PICK_ATTEMPTS = 12


def make_pair(first: int, second: int) -> Pair:
    """Return the pair of two system ids in canonical (ascending) order."""
    return (first, second) if first < second else (second, first)


def all_pair_slots(eligible: dict[int, list[int]]) -> list[Slot]:
    """Return every pair of answering systems on every prompt, in a fixed order."""
    slots = []
    for prompt_id in sorted(eligible):
        for pair in combinations(sorted(eligible[prompt_id]), 2):
            slots.append((prompt_id, pair))
    return slots


def sample_pair_slots(
    eligible: dict[int, list[int]],
    pairs_per_prompt: int,
    rng: random.Random,
    existing: Iterable[Slot] = (),
    blocked: Iterable[Slot] = (),
) -> list[Slot]:
    """Return the new (prompt, pair) slots of a balanced sample; see the module docstring.

    `eligible` maps each prompt to the systems that answered it. `existing`
    lists the slots that already have an item; they count toward the balance
    and are never returned again. `blocked` lists slots that must not get an
    item and do not count (a gold item built from the same two responses).
    """
    if pairs_per_prompt < 1:
        raise ValueError("pairs_per_prompt must be at least 1")
    state = _SampleState(eligible, existing, blocked)
    state.schedule = round_robin_positions(state.systems, rng)

    new_slots = []
    for prompt_id in sorted(eligible, key=lambda prompt: (len(eligible[prompt]), prompt)):
        needed = pairs_per_prompt - len(state.pairs_on[prompt_id])
        if needed <= 0:
            continue
        for pair in _pick_for_prompt(state, prompt_id, needed, rng):
            state.add(prompt_id, pair)
            new_slots.append((prompt_id, pair))

    new_slots.extend(_catch_up(state, rng))
    return new_slots


class _SampleState:
    """Pair counts, the pairs on each prompt and the systems' appearances per prompt."""

    def __init__(self, eligible, existing, blocked):
        self.eligible = {prompt: sorted(systems) for prompt, systems in eligible.items()}
        self.systems = sorted({system for systems in eligible.values() for system in systems})
        self.counts = Counter({pair: 0 for pair in combinations(self.systems, 2)})
        self.pairs_on = defaultdict(set)
        self.appearances = defaultdict(Counter)
        self.blocked = set(blocked)
        for prompt_id, pair in existing:
            self.add(prompt_id, pair)
        self.schedule = {}

    def add(self, prompt_id: int, pair: Pair) -> None:
        self.counts[pair] += 1
        self.pairs_on[prompt_id].add(pair)
        self.appearances[prompt_id].update(pair)

    def is_open(self, prompt_id: int, pair: Pair) -> bool:
        return pair not in self.pairs_on[prompt_id] and (prompt_id, pair) not in self.blocked

    def open_pairs(self, prompt_id: int) -> list[Pair]:
        systems = self.eligible.get(prompt_id, [])
        return [pair for pair in combinations(systems, 2) if self.is_open(prompt_id, pair)]


def _pick_for_prompt(state: _SampleState, prompt_id: int, needed: int, rng: random.Random) -> list[Pair]:
    """Pick up to `needed` open pairs for one prompt, the most even of a few greedy attempts.

    A pick is more even when the system appearing most often on the prompt
    appears fewer times, then when the appearances have the smaller sum of
    squares. An attempt that reaches the even share (every system at most
    ceil(2 x pairs / systems) times) is taken at once.
    """
    candidates = state.open_pairs(prompt_id)
    needed = min(needed, len(candidates))
    if needed == 0:
        return []
    total_pairs = len(state.pairs_on[prompt_id]) + needed
    even_share = math.ceil(2 * total_pairs / len(state.eligible[prompt_id]))

    best_pick, best_score = None, None
    for attempt in range(PICK_ATTEMPTS):
        pick, appearances = _greedy_pick(state, prompt_id, candidates, needed, rng, attempt)
        score = (max(appearances.values()), sum(n * n for n in appearances.values()))
        if best_score is None or score < best_score:
            best_pick, best_score = pick, score
        if score[0] <= even_share:
            break
    return best_pick


def _greedy_pick(state, prompt_id, candidates, needed, rng, attempt) -> tuple[list[Pair], Counter]:
    """Pick pairs one at a time from those with the fewest items, least-used systems first.

    Picking only from the lowest count keeps all counts within 1 of each
    other: a pair is raised only while no open pair has a lower count. The
    first attempt breaks the remaining ties by the round-robin schedule,
    later attempts at random.
    """
    if attempt == 0:
        rank = state.schedule
    else:
        shuffled = list(candidates)
        rng.shuffle(shuffled)
        rank = {pair: position for position, pair in enumerate(shuffled)}
    counts = Counter({pair: state.counts[pair] for pair in candidates})
    appearances = Counter(state.appearances[prompt_id])
    remaining = list(candidates)
    pick = []
    for _ in range(needed):
        lowest = min(counts[pair] for pair in remaining)
        tier = [pair for pair in remaining if counts[pair] == lowest]
        chosen = min(
            tier,
            key=lambda pair: (
                max(appearances[pair[0]], appearances[pair[1]]),
                appearances[pair[0]] + appearances[pair[1]],
                rank[pair],
            ),
        )
        remaining.remove(chosen)
        counts[chosen] += 1
        appearances.update(chosen)
        pick.append(chosen)
    return pick, appearances


def round_robin_positions(systems: list[int], rng: random.Random) -> dict[Pair, int]:
    """Number every pair of `systems` by its place in a random round-robin schedule.

    The circle method splits all pairs into rounds in which no system plays
    twice (one system sits out each round when the count is odd). Taking
    pairs in this order fills a prompt with disjoint pairs whenever
    `pairs_per_prompt` divides a round or is a whole number of rounds.
    The systems are shuffled first, so the schedule differs per seed.
    """
    players = list(systems)
    rng.shuffle(players)
    if len(players) % 2:
        players.append(None)
    positions = {}
    for _round in range(len(players) - 1):
        half = len(players) // 2
        for first, second in zip(players[:half], reversed(players[half:]), strict=True):
            if first is not None and second is not None:
                positions[make_pair(first, second)] = len(positions)
        # Keep the first player in place and rotate the others by one.
        players = [players[0], players[-1], *players[1:-1]]
    return positions


def _catch_up(state: _SampleState, rng: random.Random) -> list[Slot]:
    """Give pairs more than 1 below the highest count extra items where their systems allow."""
    if not state.counts:
        return []
    target = max(state.counts.values()) - 1
    answered = defaultdict(set)
    for prompt_id, systems in state.eligible.items():
        for system in systems:
            answered[system].add(prompt_id)

    new_slots = []
    stuck = set()
    while True:
        behind = [pair for pair, count in state.counts.items() if count < target and pair not in stuck]
        if not behind:
            return new_slots
        lowest = min(state.counts[pair] for pair in behind)
        pair = rng.choice(sorted(pair for pair in behind if state.counts[pair] == lowest))
        prompts = sorted(
            prompt_id for prompt_id in answered[pair[0]] & answered[pair[1]] if state.is_open(prompt_id, pair)
        )
        if not prompts:
            stuck.add(pair)
            continue
        # The least loaded prompt, then the one where these systems appear least.
        prompt_id = min(
            prompts,
            key=lambda prompt: (
                len(state.pairs_on[prompt]),
                max(state.appearances[prompt][pair[0]], state.appearances[prompt][pair[1]]),
                rng.random(),
            ),
        )
        state.add(prompt_id, pair)
        new_slots.append((prompt_id, pair))
