"""Validate a study and build its items when it opens.

Which items a study gets:
- Rating: one item per response of every system, on the study's prompts.
- Pairwise, `pairs_per_prompt` empty: every pair of systems on every prompt
  both systems answered. A pair whose systems share fewer answered prompts
  gets fewer items; nothing else makes up for missing answers.
- Pairwise, `pairs_per_prompt` set: a balanced sample, chosen by
  annotate.pairing. Every pair of systems gets a number of items within 1 of
  every other pair's, a prompt never contains the same pair twice, and each
  system appears about equally often per prompt. A prompt some systems did
  not answer draws from the pairs of those that did; a pair left behind by
  missing answers gets extra items on other prompts its systems answered,
  so the spread stays within 1 unless too few such prompts exist.

The study's prompts are those of its prompt set, or only those of its
`categories` when that list is not empty.

In each pair, which system's response is the item's `first_response` (the
canonical order, not the screen order) is split evenly: the two counts
differ by at most 1, counting the pair's items from earlier builds too.

Building is incremental. Opening again, or adding systems to an opened
study (add_systems), creates only the items missing and never changes or
deletes an existing item, so judged items stay as they are. With
`pairs_per_prompt`, the prompts already holding that many pairs get no fill
again; the new systems' pairs are caught up instead, on prompts both systems
answered, until each is within 1 of the most judged pair. Such prompts then
hold more than `pairs_per_prompt` pairs, and the total grows by about
(new pairs) x (items per old pair).

Gold items count toward neither balance, because reports leave them out,
but a new item never repeats the two responses of a gold item.
"""

import logging
import random
from collections import Counter, defaultdict

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from annotate.errors import StudyNotReady
from annotate.models import Item, Study, StudyKind, StudyStatus
from annotate.pairing import all_pair_slots, make_pair, sample_pair_slots
from generation.models import GenerationRun, PromptSet, Response

logger = logging.getLogger(__name__)


def open_study(study: Study, seed: int | None = None) -> int:
    """Validate `study`, build the items it lacks and set its status to open.

    Returns the number of items created, which is 0 when the study was opened
    before and its systems and responses have not changed since. Raises
    StudyNotReady, changing nothing, when the study is misconfigured or no
    item can be built. `seed` fixes the random choices (pairs, orders, sort
    keys); by default they derive from the study's UUID and its item count,
    so a rebuild of the same state draws the same numbers.

    1. Lock the study row so two concurrent opens cannot both build items.
    2. Check the systems, criteria and categories.
    3. Build every item not already present, in one bulk insert.
    4. Set the status to open.
    """
    with transaction.atomic():
        locked = Study.objects.select_for_update().get(pk=study.pk)
        created, existing = _build_locked(locked, seed)
        locked.status = StudyStatus.OPEN
        locked.save(update_fields=["status"])

    study.status = locked.status
    logger.info("Opened study %s: %d new items, %d already present", study.uuid, created, existing)
    return created


def build_items(study: Study, seed: int | None = None) -> int:
    """Build the items `study` lacks, leaving its status alone; return how many were created.

    For a study that was opened before and is open, paused or closed now.
    Raises StudyNotReady as open_study does.
    """
    with transaction.atomic():
        locked = Study.objects.select_for_update().get(pk=study.pk)
        created, existing = _build_locked(locked, seed)

    logger.info("Built items of study %s: %d new, %d already present", study.uuid, created, existing)
    return created


def add_systems(study: Study, runs: list[GenerationRun], seed: int | None = None) -> int:
    """Add `runs` to the study's systems and return the number of items built for them.

    A draft study only gains the systems; its items are built when it opens.
    A study opened before (open, paused or closed) gets the new pairs' items
    (pairwise) or the new responses' items (rating) at once, without changing
    existing items; the module docstring describes how balance is kept. Raises
    StudyNotReady, adding nothing, when a run answers another prompt set.
    """
    with transaction.atomic():
        study.systems.add(*runs)
        if study.status == StudyStatus.DRAFT:
            return 0
        return build_items(study, seed)


def count_new_items(study: Study) -> int:
    """Return how many items opening `study` now would create, without writing anything.

    Raises StudyNotReady when the study could not open as configured.
    """
    systems = list(study.systems.select_related("model", "prompt_set").order_by("pk"))
    validate_study(study, systems)
    if study.kind == StudyKind.PAIRWISE:
        # Counting slots skips building Item objects, which is most of the cost.
        by_run = _responses_by_run(study, systems)
        new_slots, _first_counts = _pairwise_slots(study, by_run, _study_rng(study, None))
        return len(new_slots)
    return len(_rating_items(study, systems, _study_rng(study, None)))


def _build_locked(study: Study, seed: int | None) -> tuple[int, int]:
    """Validate the locked `study` and insert its missing items; return (created, already present)."""
    systems = list(study.systems.select_related("model", "prompt_set").order_by("pk"))
    validate_study(study, systems)

    existing = study.items.count()
    new_items = _new_items(study, systems, _study_rng(study, seed))
    if not new_items and not existing:
        raise StudyNotReady(
            _(
                "Study “%(study)s” has no item to judge: its systems have no responses "
                "to share yet. Run or import the generation first."
            )
            % {"study": study.name}
        )
    Item.objects.bulk_create(new_items)
    return len(new_items), existing


def _study_rng(study: Study, seed: int | None) -> random.Random:
    # The item count is part of the default seed, so the items of a later
    # build do not repeat the sort keys of the first.
    if seed is not None:
        return random.Random(seed)
    return random.Random(f"{study.uuid.int}:{study.items.count()}")


def _new_items(study: Study, systems: list[GenerationRun], rng: random.Random) -> list[Item]:
    if study.kind == StudyKind.PAIRWISE:
        return _pairwise_items(study, systems, rng)
    return _rating_items(study, systems, rng)


def validate_study(study: Study, systems: list[GenerationRun]) -> None:
    """Raise StudyNotReady unless the systems and criteria allow building items."""
    minimum = 2 if study.kind == StudyKind.PAIRWISE else 1
    if len(systems) < minimum:
        raise StudyNotReady(
            ngettext(
                "Study “%(study)s” needs at least %(minimum)d system; it has %(count)d.",
                "Study “%(study)s” needs at least %(minimum)d systems; it has %(count)d.",
                minimum,
            )
            % {"study": study.name, "minimum": minimum, "count": len(systems)}
        )

    for run in systems:
        if run.prompt_set_id != study.prompt_set_id:
            raise StudyNotReady(
                _(
                    "System “%(system)s” answers prompt set “%(run_set)s”, "
                    "but study “%(study)s” uses prompt set “%(study_set)s”."
                )
                % {
                    "system": run.system_name,
                    "run_set": run.prompt_set.name,
                    "study": study.name,
                    "study_set": study.prompt_set.name,
                }
            )

    if not study.criteria.exists():
        raise StudyNotReady(
            _("Study “%(study)s” has no criteria; add at least one question for annotators.") % {"study": study.name}
        )

    unknown = unknown_categories(study.prompt_set, study.categories)
    if unknown:
        raise StudyNotReady(
            _(
                "Study “%(study)s” selects categories that prompt set “%(set)s” does not use: %(unknown)s. "
                "Its categories are: %(known)s."
            )
            % {
                "study": study.name,
                "set": study.prompt_set.name,
                "unknown": ", ".join(map(str, unknown)),
                "known": ", ".join(prompt_set_categories(study.prompt_set)) or _("none"),
            }
        )


def prompt_set_categories(prompt_set: PromptSet) -> list[str]:
    """Return the categories the prompts of `prompt_set` use, sorted, without the empty one."""
    categories = prompt_set.prompts.exclude(category="").values_list("category", flat=True).distinct()
    return sorted(set(categories))


def unknown_categories(prompt_set: PromptSet, categories) -> list:
    """Return the entries of `categories` that no prompt of `prompt_set` has, in their given order."""
    known = set(prompt_set_categories(prompt_set))
    return [category for category in categories or [] if not isinstance(category, str) or category not in known]


def _responses_by_run(study: Study, systems: list[GenerationRun]) -> dict[int, dict[int, int]]:
    """Map run id to {prompt id: response id}, for the study's prompts only."""
    by_run = {run.pk: {} for run in systems}
    responses = Response.objects.filter(run__in=systems)
    if study.categories:
        responses = responses.filter(prompt__category__in=study.categories)
    for response_id, run_id, prompt_id in responses.values_list("pk", "run_id", "prompt_id"):
        by_run[run_id][prompt_id] = response_id
    return by_run


def _pairwise_items(study: Study, systems: list[GenerationRun], rng: random.Random) -> list[Item]:
    """Build the missing pairwise items: every pair, or the balanced sample; see the module docstring."""
    by_run = _responses_by_run(study, systems)
    new_slots, first_counts = _pairwise_slots(study, by_run, rng)

    prompts_by_pair = defaultdict(list)
    for prompt_id, pair in new_slots:
        prompts_by_pair[pair].append(prompt_id)

    items = []
    for pair in sorted(prompts_by_pair):
        prompts = sorted(prompts_by_pair[pair])
        orders = _balanced_orders(len(prompts), rng, first_counts[pair, pair[0]], first_counts[pair, pair[1]])
        for prompt_id, lower_first in zip(prompts, orders, strict=True):
            lower, higher = by_run[pair[0]][prompt_id], by_run[pair[1]][prompt_id]
            first, second = (lower, higher) if lower_first else (higher, lower)
            items.append(
                Item(
                    study=study,
                    prompt_id=prompt_id,
                    first_response_id=first,
                    second_response_id=second,
                    sort_key=rng.random(),
                )
            )
    return items


def _pairwise_slots(study: Study, by_run: dict[int, dict[int, int]], rng: random.Random):
    """Return the new (prompt, pair) slots and the Counter of existing first responses per pair and run."""
    eligible = defaultdict(list)
    for run_id, answers in by_run.items():
        for prompt_id in answers:
            eligible[prompt_id].append(run_id)

    regular_slots, blocked_slots, first_counts = _existing_pairwise(study, set(by_run))
    if study.pairs_per_prompt is None:
        taken = set(regular_slots) | blocked_slots
        new_slots = [slot for slot in all_pair_slots(eligible) if slot not in taken]
    else:
        new_slots = sample_pair_slots(
            eligible, study.pairs_per_prompt, rng, existing=regular_slots, blocked=blocked_slots
        )
    return new_slots, first_counts


def _existing_pairwise(study: Study, system_ids: set[int]):
    """Read the study's pairwise items with two responses from current systems.

    Returns the (prompt, pair) slots of regular items, the slots of gold
    items (a new item there would repeat their two responses), and a
    Counter of (pair, run id of the first response) over regular items.
    """
    rows = study.items.filter(first_response__isnull=False, second_response__isnull=False).values_list(
        "prompt_id", "first_response__run_id", "second_response__run_id", "is_gold"
    )
    regular, blocked, first_counts = [], set(), Counter()
    for prompt_id, first_run, second_run, is_gold in rows:
        if first_run not in system_ids or second_run not in system_ids:
            continue
        pair = make_pair(first_run, second_run)
        if is_gold:
            blocked.add((prompt_id, pair))
        else:
            regular.append((prompt_id, pair))
            first_counts[pair, first_run] += 1
    return regular, blocked, first_counts


def _balanced_orders(count: int, rng: random.Random, lower_already: int = 0, higher_already: int = 0) -> list[bool]:
    """Return `count` flags in random order, True where the pair's lower system goes first.

    The pair already has `lower_already` items with its lower system first
    and `higher_already` with the higher one. The number of True flags
    brings the totals as close to an even split as `count` allows, and an
    odd total gives its extra item to a random side. A coin flip per item
    could leave a pair with few items far from even.
    """
    total = count + lower_already + higher_already
    target_lower = total // 2 + (total % 2 if rng.random() < 0.5 else 0)
    trues = min(max(target_lower - lower_already, 0), count)
    flags = [True] * trues + [False] * (count - trues)
    rng.shuffle(flags)
    return flags


def _rating_items(study: Study, systems: list[GenerationRun], rng: random.Random) -> list[Item]:
    """Build one item per response of every system that has no item yet."""
    by_run = _responses_by_run(study, systems)
    existing = set(
        study.items.filter(second_response__isnull=True, first_response__isnull=False).values_list(
            "first_response_id", flat=True
        )
    )
    items = []
    for run in systems:
        for prompt_id, response_id in sorted(by_run[run.pk].items()):
            if response_id in existing:
                continue
            items.append(
                Item(
                    study=study,
                    prompt_id=prompt_id,
                    first_response_id=response_id,
                    sort_key=rng.random(),
                )
            )
    return items
