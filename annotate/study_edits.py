"""Save a study's design as the REST API receives it: plain fields, systems and criteria, all or nothing.

The caller checks the request first, with annotate.study_changes for what
existing items forbid, so this module only writes. A new study is a draft;
its status changes only through annotate.items.open_study and
annotate.lifecycle. Systems added to a study that was opened before get
their items at once (annotate.items.add_systems), as in the admin.
"""

import logging
from dataclasses import dataclass

from django.db import transaction

from annotate.items import add_systems
from annotate.models import Criterion, Study
from generation.models import GenerationRun

logger = logging.getLogger(__name__)

# Criterion fields a request may set; the position comes from the list order.
CRITERION_FIELDS = ("name", "question", "description", "scale_min", "scale_max", "low_label", "high_label")


@dataclass(frozen=True)
class SavedStudy:
    study: Study
    created: bool
    items_created: int


def save_study_design(
    study: Study,
    fields: dict,
    *,
    systems: list[GenerationRun] | None = None,
    criteria: list[dict] | None = None,
) -> SavedStudy:
    """Write `fields` onto `study` (new or existing), then its systems and criteria when given.

    `systems` is the full new list of runs. A study without items takes the
    list as it is; one with items only gains the runs it lacks, and their
    items are built. `criteria` is the full new list of criteria as dicts of
    CRITERION_FIELDS, matched to the current ones by name; criteria left
    out are deleted. Raises StudyNotReady (from building items), or
    IntegrityError when another request took the name meanwhile; either
    way nothing is written.
    """
    created = study.pk is None
    with transaction.atomic():
        opened_before = not created and study.items.exists()
        for name, value in fields.items():
            setattr(study, name, value)
        study.save()

        # Criteria first: building items for new systems needs them.
        if criteria is not None:
            _write_criteria(study, criteria)
        items_created = 0
        if systems is not None:
            if opened_before:
                current = set(study.systems.values_list("pk", flat=True))
                new_runs = [run for run in systems if run.pk not in current]
                if new_runs:
                    items_created = add_systems(study, new_runs)
            else:
                study.systems.set(systems)

    logger.info("%s study %s: %d new items", "Created" if created else "Updated", study.uuid, items_created)
    return SavedStudy(study=study, created=created, items_created=items_created)


def _write_criteria(study: Study, criteria: list[dict]) -> None:
    """Make the study's criteria match `criteria`: update by name, create the new ones, delete the rest."""
    current = {criterion.name: criterion for criterion in study.criteria.all()}
    requested = {entry["name"] for entry in criteria}
    for criterion in current.values():
        if criterion.name not in requested:
            criterion.delete()
    for position, entry in enumerate(criteria):
        criterion = current.get(entry["name"]) or Criterion(study=study)
        for field in CRITERION_FIELDS:
            setattr(criterion, field, entry[field])
        criterion.position = position
        criterion.save()
