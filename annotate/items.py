"""Validate a study and build its items when it opens."""

import logging
import random
from itertools import combinations

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from annotate.errors import StudyNotReady
from annotate.models import Item, Study, StudyKind, StudyStatus
from generation.models import GenerationRun, Response

logger = logging.getLogger(__name__)


def open_study(study: Study, seed: int | None = None) -> int:
    """Validate `study`, build the items it lacks and set its status to open.

    Returns the number of items created, which is 0 when the study was opened
    before and its systems and responses have not changed since. Raises
    StudyNotReady, changing nothing, when the study is misconfigured or no
    item can be built. `seed` fixes the random order and sort keys; by default
    it derives from the study's UUID, so a rebuild draws the same numbers.

    1. Lock the study row so two concurrent opens cannot both build items.
    2. Check the systems and criteria.
    3. Build every item not already present, in one bulk insert.
    4. Set the status to open.
    """
    rng = random.Random(study.uuid.int if seed is None else seed)
    with transaction.atomic():
        locked = Study.objects.select_for_update().get(pk=study.pk)
        systems = list(locked.systems.select_related("model", "prompt_set").order_by("pk"))
        validate_study(locked, systems)

        existing = _existing_response_sets(locked)
        if locked.kind == StudyKind.PAIRWISE:
            new_items = _pairwise_items(locked, systems, existing, rng)
        else:
            new_items = _rating_items(locked, systems, existing, rng)
        if not new_items and not existing:
            raise StudyNotReady(
                _(
                    "Study “%(study)s” has no item to judge: its systems have no responses "
                    "to share yet. Run or import the generation first."
                )
                % {"study": locked.name}
            )
        Item.objects.bulk_create(new_items)

        locked.status = StudyStatus.OPEN
        locked.save(update_fields=["status"])

    study.status = locked.status
    logger.info(
        "Opened study %s: %d new items, %d already present",
        study.uuid,
        len(new_items),
        len(existing),
    )
    return len(new_items)


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


def _existing_response_sets(study: Study) -> set[frozenset[int]]:
    """Return the response ids of each existing item, unordered, to skip on rebuild."""
    pairs = study.items.values_list("first_response_id", "second_response_id")
    return {frozenset(pk for pk in pair if pk is not None) for pair in pairs}


def _responses_by_run(systems: list[GenerationRun]) -> dict[int, dict[int, int]]:
    """Map run id to {prompt id: response id}."""
    by_run = {run.pk: {} for run in systems}
    rows = Response.objects.filter(run__in=systems).values_list("pk", "run_id", "prompt_id")
    for response_id, run_id, prompt_id in rows:
        by_run[run_id][prompt_id] = response_id
    return by_run


def _pairwise_items(study, systems, existing, rng) -> list[Item]:
    """Build one item per pair of systems and per prompt both have answered."""
    by_run = _responses_by_run(systems)
    items = []
    for run_a, run_b in combinations(systems, 2):
        answers_a, answers_b = by_run[run_a.pk], by_run[run_b.pk]
        shared_prompts = sorted(answers_a.keys() & answers_b.keys())
        orders = _balanced_orders(len(shared_prompts), rng)
        for prompt_id, a_first in zip(shared_prompts, orders, strict=True):
            pair = (answers_a[prompt_id], answers_b[prompt_id])
            if frozenset(pair) in existing:
                continue
            first, second = pair if a_first else pair[::-1]
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


def _balanced_orders(count: int, rng: random.Random) -> list[bool]:
    """Return `count` flags, half of them True, in random order.

    A coin flip per item could leave a pair of systems with few shared prompts
    far from an even split. An exact half keeps each system first about half
    the time, and an odd count gives its extra flag to a random side.
    """
    trues = count // 2 + (count % 2 if rng.random() < 0.5 else 0)
    flags = [True] * trues + [False] * (count - trues)
    rng.shuffle(flags)
    return flags


def _rating_items(study, systems, existing, rng) -> list[Item]:
    """Build one item per response of every system."""
    by_run = _responses_by_run(systems)
    items = []
    for run in systems:
        for prompt_id, response_id in sorted(by_run[run.pk].items()):
            if frozenset([response_id]) in existing:
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
