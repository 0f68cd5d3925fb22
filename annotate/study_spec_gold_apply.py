"""Apply the checked `gold:` entries of a study spec (annotate.study_spec_gold) to a study.

The rules for gold answers are those of annotate.gold, as in the admin and
the API: mark_gold makes an item gold or changes its right answer, and
create_attention_check creates an attention check. Their InvalidGold
errors become spec problems that name the entry's line and field, and
every entry is tried, so all such problems are reported at once.

How entries map to items:
- A pairwise gold item is the study's item of that prompt with the two
  systems' responses, in either order. When the balanced sample did not
  build that pair, the item is created.
- A rating gold item is the item of that system's response to the prompt,
  created when missing.
- An attention check is the study's attention check on that prompt with the
  same text (and, pairwise, the same system). A changed text makes a new one.

Entries are applied before the study's items are built, so the build leaves
out gold pairs and fills the prompts around them. Applying the same file
again finds every item with the same answer and changes nothing.

An item that is gold but no longer described by any entry stays gold, with
a warning: it may have judgments, and an attention check cannot become a
regular item. The admin's gold page makes it regular again.
"""

import logging
import random
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q

from annotate.errors import InvalidGold
from annotate.gold import create_attention_check, default_attention_range, mark_gold, scored_criterion
from annotate.models import Item, Study, StudyKind
from annotate.study_spec import SpecProblem, StudySpec, StudySpecError
from annotate.study_spec_gold import GoldSpec
from generation.models import Response

logger = logging.getLogger(__name__)

# InvalidGold.field -> the key of a `gold:` entry it is about.
_ENTRY_KEYS = {
    "prompt": "prompt",
    "text": "attention_check",
    "system": "system",
    "outcome": "right",
    "winner": "right",
    "min_score": "scores.min",
    "max_score": "scores.max",
}

# How many unlisted gold items a warning names before it counts the rest.
_WARNING_NAMES = 10


@dataclass
class GoldChanges:
    """What applying the `gold:` entries did: items created, items marked gold or given a new answer, the rest."""

    created: int = 0
    marked: int = 0
    unchanged: int = 0
    # False for a draft: the entries were tried and rolled back, because a draft has no items yet.
    applied: bool = True
    warnings: list[str] = field(default_factory=list)


class _EntryError(Exception):
    """An entry that cannot be applied for a reason annotate.gold does not check; `key` is the entry's key."""

    def __init__(self, message: str, key: str):
        super().__init__(message)
        self.key = key


def apply_gold(study: Study, spec: StudySpec, *, trial: bool = False) -> GoldChanges:
    """Create or mark the gold items `spec.gold` describes; raise StudySpecError listing every entry at fault.

    Run inside the caller's transaction, which the error rolls back. With
    `trial` (a draft study), every entry is applied and then rolled back,
    so its problems are found now, and the entries take effect when the
    file opens the study.
    """
    changes = GoldChanges(applied=not trial)
    problems = []
    described = set()
    with transaction.atomic():
        # Orders this with other applies and opens of the study, so two runs
        # of the same file cannot both create the same attention check.
        Study.objects.select_for_update().filter(pk=study.pk).first()
        for entry in spec.gold:
            try:
                # A savepoint per entry: an item created for a rejected entry is undone.
                with transaction.atomic():
                    item, change = _apply_entry(study, entry)
            except InvalidGold as error:
                problems.append(_problem(entry, _ENTRY_KEYS.get(error.field, ""), str(error)))
                continue
            except _EntryError as error:
                problems.append(_problem(entry, error.key, str(error)))
                continue
            described.add(item.pk)
            setattr(changes, change, getattr(changes, change) + 1)
        if problems:
            raise StudySpecError(spec.path, problems)
        if trial:
            transaction.set_rollback(True)
        else:
            changes.warnings.extend(_unlisted_warning(study, described))

    if not trial:
        logger.info(
            "Gold entries of %s applied to study %s: %d created, %d marked, %d unchanged",
            spec.path,
            study.uuid,
            changes.created,
            changes.marked,
            changes.unchanged,
        )
    return changes


def _problem(entry: GoldSpec, key: str, message: str) -> SpecProblem:
    field_name = f"{entry.field}.{key}" if key else entry.field
    return SpecProblem(entry.lines.get(key, entry.line), field_name, message)


def _apply_entry(study: Study, entry: GoldSpec) -> tuple[Item, str]:
    """Apply one entry; return its item and which GoldChanges count it adds to."""
    if entry.is_attention_check:
        return _apply_attention_check(study, entry)
    if study.kind == StudyKind.PAIRWISE:
        return _apply_pair(study, entry)
    return _apply_rating(study, entry)


def _responses(entry: GoldSpec, key: str) -> dict[int, Response]:
    """Return {run id: response} of the entry's systems to its prompt; raise _EntryError if one has none."""
    responses = {
        response.run_id: response for response in Response.objects.filter(prompt=entry.prompt, run__in=entry.systems)
    }
    for run in entry.systems:
        if run.pk not in responses:
            raise _EntryError(
                f"system “{run.system_name}” has no response to prompt “{entry.prompt}”; "
                "choose another prompt, or generate or import that response first",
                key,
            )
    return responses


def _apply_pair(study: Study, entry: GoldSpec) -> tuple[Item, str]:
    responses = _responses(entry, "systems")
    first, second = (responses[run.pk] for run in entry.systems)
    item = (
        Item.objects.filter(study=study, prompt=entry.prompt, attention_text="")
        .filter(Q(first_response=first, second_response=second) | Q(first_response=second, second_response=first))
        .first()
    )
    winner = responses[entry.winner.pk] if entry.winner is not None else None
    if item is not None and item.is_gold and item.gold_outcome == entry.outcome:
        if item.gold_winner_id == (winner.pk if winner else None):
            return item, "unchanged"

    change = "marked"
    if item is None:
        item = Item.objects.create(
            study=study, prompt=entry.prompt, first_response=first, second_response=second, sort_key=random.random()
        )
        change = "created"
    return mark_gold(item, outcome=entry.outcome, winner=winner), change


def _apply_rating(study: Study, entry: GoldSpec) -> tuple[Item, str]:
    response = _responses(entry, "system")[entry.systems[0].pk]
    item = Item.objects.filter(study=study, first_response=response, second_response=None, attention_text="").first()
    if item is not None and item.is_gold and (item.gold_min_score, item.gold_max_score) == _range(entry):
        return item, "unchanged"

    change = "marked"
    if item is None:
        item = Item.objects.create(study=study, prompt=entry.prompt, first_response=response, sort_key=random.random())
        change = "created"
    return mark_gold(item, min_score=entry.min_score, max_score=entry.max_score), change


def _apply_attention_check(study: Study, entry: GoldSpec) -> tuple[Item, str]:
    existing = Item.objects.filter(study=study, prompt=entry.prompt, attention_text=entry.attention_text)
    if study.kind == StudyKind.PAIRWISE:
        existing = existing.filter(first_response__run=entry.systems[0])
    else:
        existing = existing.filter(first_response=None)
    item = existing.first()
    if item is None:
        system = entry.systems[0] if entry.systems else None
        item = create_attention_check(
            study,
            entry.prompt,
            entry.attention_text,
            system=system,
            min_score=entry.min_score,
            max_score=entry.max_score,
        )
        return item, "created"

    if study.kind == StudyKind.PAIRWISE:
        return item, "unchanged"
    wanted = _range(entry) if entry.min_score is not None else _default_range(study)
    if (item.gold_min_score, item.gold_max_score) == wanted:
        return item, "unchanged"
    return mark_gold(item, min_score=wanted[0], max_score=wanted[1]), "marked"


def _range(entry: GoldSpec) -> tuple[int | None, int | None]:
    return entry.min_score, entry.max_score


def _default_range(study: Study) -> tuple[int | None, int | None]:
    criterion = scored_criterion(study)
    return default_attention_range(criterion) if criterion is not None else (None, None)


def _unlisted_warning(study: Study, described: set[int]) -> list[str]:
    """Warn about the study's gold items that no entry describes: they stay gold."""
    unlisted = list(
        study.items.filter(is_gold=True)
        .exclude(pk__in=described)
        .select_related("prompt")
        .order_by("prompt__position", "pk")
    )
    if not unlisted:
        return []
    names = ", ".join(f"{item.uuid} (prompt “{item.prompt}”)" for item in unlisted[:_WARNING_NAMES])
    if len(unlisted) > _WARNING_NAMES:
        names += f" and {len(unlisted) - _WARNING_NAMES} more"
    return [
        f"{len(unlisted)} gold item(s) of the study are not in the file's `gold:` list and stay gold: {names}; "
        "make an item regular again on its gold page in the admin"
    ]
