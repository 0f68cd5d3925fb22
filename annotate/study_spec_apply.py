"""Create or update a study from a checked spec (annotate.study_spec), all or nothing.

Creating: keys the file leaves out take the model's defaults. Updating
(`update=True`, a study of that name exists): only the keys the file sets
change; write `null` to clear `pairs_per_prompt` or
`qualification.min_accuracy`. Once the study has items, an update may not
change what those items were built from or what their answers mean
(annotate.study_changes contains the rules it shares with the admin):

- `kind` and `prompt_set` stay as they are;
- `categories` may only widen (add categories, or become empty for all);
- `systems` may gain runs, and the new pairs get their items at once, but
  none may be removed;
- `criteria` keep their names and scales; questions, descriptions, labels
  and order may change;
- `pairs_per_prompt` may rise or become empty (every pair), never fall;
- `annotators` may gain accounts; those the file leaves out stay, with a
  warning, because they may have joined through the sign-up link;
- `status` may not go back to draft.

A status other than draft builds the items: open_study for a study never
opened, build_items for one that was. Then the status is set as written.
The `gold:` entries are applied just before the build
(annotate.study_spec_gold_apply describes how); a draft has no items, so
there they are only tried and rolled back.
"""

import logging
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from annotate.audit import record_event
from annotate.errors import StudyNotReady
from annotate.items import build_items, open_study
from annotate.models import AuditAction, Criterion, Study, StudyKind, StudyStatus
from annotate.study_changes import unsafe_changes
from annotate.study_spec import SpecProblem, StudySpec, StudySpecError
from annotate.study_spec_gold_apply import GoldChanges, apply_gold

logger = logging.getLogger(__name__)

# Spec attribute -> Study field, for the plain fields an update copies when given.
_PLAIN_FIELDS = {
    "kind": "kind",
    "prompt_set": "prompt_set",
    "categories": "categories",
    "instructions": "instructions",
    "overlap": "overlap",
    "lease_minutes": "lease_minutes",
    "pairs_per_prompt": "pairs_per_prompt",
    "gold_rate": "gold_rate",
}


# Spec attributes whose changes annotate.study_changes checks against existing items.
_CHECKED_CHANGES = ("kind", "prompt_set", "categories", "systems", "pairs_per_prompt")


@dataclass
class AppliedSpec:
    """What applying a spec did (or, with `dry_run`, would do)."""

    study: Study
    created: bool
    items_created: int
    new_accounts: list = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Set when the file has a `gold:` list (annotate.study_spec_gold_apply).
    gold: GoldChanges | None = None


def apply_study_spec(
    spec: StudySpec, *, update: bool = False, open_now: bool = False, dry_run: bool = False
) -> AppliedSpec:
    """Create the study `spec` describes, or update the study of that name with `update`.

    `open_now` sets the status to open whatever the file sets, unless the
    file requests paused or closed (an error). With `dry_run` everything
    runs and is then rolled back, so the result tells what would happen.
    Raises StudySpecError, writing nothing, on any problem.
    """
    existing = Study.objects.filter(name=spec.name).first()
    problems = []
    if existing is not None and not update:
        problems.append(
            SpecProblem(
                spec.lines.get("name"),
                "name",
                f"a study named “{spec.name}” exists; run with --update to change it, or choose another name",
            )
        )
    status = _target_status(spec, existing, open_now, problems)
    if existing is not None and update:
        problems.extend(_update_problems(existing, spec, status))
    if problems:
        raise StudySpecError(spec.path, problems)

    old_status = existing.status if existing is not None else None
    try:
        with transaction.atomic():
            result = _write(spec, existing, status)
            # Inside the transaction, so a dry run leaves no audit entry either.
            _record_events(result, old_status, spec)
            result.warnings.extend(_warnings(result.study))
            if dry_run:
                transaction.set_rollback(True)
                return result
    except IntegrityError:
        # Another process created a study of this name, or an account of a
        # listed username, between the checks and the write.
        raise StudySpecError(
            spec.path,
            [SpecProblem(spec.lines.get("name"), "name", "the study or an account was created meanwhile; run again")],
        ) from None

    logger.info(
        "%s study %s from %s: %d new items",
        "Created" if result.created else "Updated",
        result.study.uuid,
        spec.path,
        result.items_created,
    )
    return result


def _record_events(result: AppliedSpec, old_status: str | None, spec: StudySpec) -> None:
    """Record in the audit log that the spec created or changed the study, and opened it if it did."""
    details = {"via": "create_study", "file": str(spec.path)}
    record_event(None, AuditAction.CREATED if result.created else AuditAction.CHANGED, result.study, details)
    if result.study.status == StudyStatus.OPEN and old_status in (None, StudyStatus.DRAFT):
        record_event(None, AuditAction.OPENED, result.study, {**details, "items_created": result.items_created})


def _target_status(spec: StudySpec, existing: Study | None, open_now: bool, problems: list) -> str:
    if open_now:
        if "status" in spec.given and spec.status not in (StudyStatus.DRAFT, StudyStatus.OPEN):
            problems.append(
                SpecProblem(
                    spec.lines["status"],
                    "status",
                    f"the file asks for {spec.status}, which conflicts with --open; change one of them",
                )
            )
        return StudyStatus.OPEN
    if "status" in spec.given:
        return spec.status
    return existing.status if existing is not None else StudyStatus.DRAFT


def _update_problems(study: Study, spec: StudySpec, status: str) -> list[SpecProblem]:
    """List the changes `spec` requests of `study` that its existing items forbid."""
    if not study.items.exists():
        return []
    changes = {key: getattr(spec, key) for key in _CHECKED_CHANGES if key in spec.given}
    problems = [
        SpecProblem(spec.lines.get(key), key, message)
        for key, message in unsafe_changes(study, status=status, **changes).items()
    ]
    if "criteria" in spec.given:
        problems.extend(_criteria_problems(study, spec))
    return problems


def _criteria_problems(study: Study, spec: StudySpec) -> list[SpecProblem]:
    problems = []
    current = {criterion.name: criterion for criterion in study.criteria.all()}
    requested = {criterion.name: criterion for criterion in spec.criteria}
    line = spec.lines.get("criteria")
    added = sorted(set(requested) - set(current))
    removed = sorted(set(current) - set(requested))
    if added or removed:
        changes = []
        if added:
            changes.append(f"new: {', '.join(added)}")
        if removed:
            changes.append(f"missing: {', '.join(removed)}")
        problems.append(
            SpecProblem(
                line,
                "criteria",
                f"the study has items, so its criteria keep their names ({'; '.join(changes)}); "
                "only questions, descriptions, labels and order may change",
            )
        )
    for name in sorted(set(requested) & set(current)):
        old, new = current[name], requested[name]
        if study.kind == StudyKind.RATING and (old.scale_min, old.scale_max) != (new.scale_min, new.scale_max):
            problems.append(
                SpecProblem(
                    new.line,
                    "criteria.scale",
                    f"the study has items, so criterion “{name}” keeps its scale "
                    f"{old.scale_min} to {old.scale_max}; write that scale",
                )
            )
    return problems


def _write(spec: StudySpec, existing: Study | None, status: str) -> AppliedSpec:
    """Write the study, its systems, criteria and annotators, then set its status; raise StudySpecError on failure."""
    created = existing is None
    study = existing or Study(name=spec.name)
    opened_before = not created and study.items.exists()
    for attribute, model_field in _PLAIN_FIELDS.items():
        if created or attribute in spec.given:
            setattr(study, model_field, getattr(spec, attribute))
    if created or "qualification" in spec.given:
        study.qualification_min_accuracy = spec.qualification_min_accuracy
        study.qualification_min_gold = spec.qualification_min_gold
    if created:
        study.status = StudyStatus.DRAFT
    study.save()

    if created or "systems" in spec.given:
        if opened_before:
            study.systems.add(*spec.systems)
        else:
            study.systems.set(spec.systems)
    if created or "criteria" in spec.given:
        _write_criteria(study, spec)
    new_accounts = [get_user_model().objects.create_user(username) for username in spec.missing_annotators]
    warnings = []
    if created or "annotators" in spec.given:
        users = get_user_model().objects.filter(**{f"{get_user_model().USERNAME_FIELD}__in": spec.annotators})
        if opened_before:
            warnings.extend(_kept_annotators_warning(study, users))
            study.annotators.add(*users)
        else:
            study.annotators.set(users)
    if "managers" in spec.given:
        # The file lists every manager: one it leaves out stops managing the study.
        study.managers.set(get_user_model().objects.filter(**{f"{get_user_model().USERNAME_FIELD}__in": spec.managers}))

    gold = None
    if "gold" in spec.given:
        # Before the build, so the balanced sample fills each prompt around its gold pairs.
        gold = apply_gold(study, spec, trial=status == StudyStatus.DRAFT)
        warnings.extend(gold.warnings)
    items_created = _set_status(study, spec, status, opened_before)
    return AppliedSpec(
        study=study,
        created=created,
        items_created=items_created,
        new_accounts=new_accounts,
        warnings=warnings,
        gold=gold,
    )


def _kept_annotators_warning(study: Study, listed_users) -> list[str]:
    """Warn about annotators of an opened study that the file leaves out: an update keeps them.

    They may have joined through the sign-up link or the admin, and may
    hold a lease or judgments, so a file written before they joined must
    not take their study away.
    """
    unlisted = sorted(
        study.annotators.exclude(pk__in=listed_users.values("pk")).values_list(
            get_user_model().USERNAME_FIELD, flat=True
        )
    )
    if not unlisted:
        return []
    names = ", ".join(unlisted[:20]) + (f" and {len(unlisted) - 20} more" if len(unlisted) > 20 else "")
    return [
        f"the study has items, so annotators missing from the file stay in it: {names}; "
        "remove an annotator in the admin, or pause or exclude them on the quality page"
    ]


def _write_criteria(study: Study, spec: StudySpec) -> None:
    """Create, update and delete criteria to match the spec; deletes happen only before items exist."""
    current = {criterion.name: criterion for criterion in study.criteria.all()}
    requested = {criterion.name for criterion in spec.criteria}
    for criterion in current.values():
        if criterion.name not in requested:
            criterion.delete()
    for position, spec_criterion in enumerate(spec.criteria):
        criterion = current.get(spec_criterion.name) or Criterion(study=study, name=spec_criterion.name)
        criterion.position = position
        criterion.question = spec_criterion.question
        criterion.description = spec_criterion.description
        criterion.scale_min = spec_criterion.scale_min
        criterion.scale_max = spec_criterion.scale_max
        criterion.low_label = spec_criterion.low_label
        criterion.high_label = spec_criterion.high_label
        criterion.save()


def _set_status(study: Study, spec: StudySpec, status: str, opened_before: bool) -> int:
    """Build items unless the study stays a draft, set `status`, and return the number of new items."""
    if status == StudyStatus.DRAFT:
        Study.objects.filter(pk=study.pk).update(status=status)
        study.status = status
        return 0
    try:
        if opened_before:
            created = build_items(study)
        else:
            created = open_study(study)
    except StudyNotReady as exc:
        field_name = "status" if "status" in spec.given else "--open"
        raise StudySpecError(
            spec.path, [SpecProblem(spec.lines.get("status"), field_name, f"the study cannot open: {exc}")]
        ) from None
    Study.objects.filter(pk=study.pk).update(status=status)
    study.status = status
    return created


def _warnings(study: Study) -> list[str]:
    annotators = study.annotators.count()
    if annotators < study.overlap:
        return [
            f"overlap is {study.overlap} but the study has {annotators} annotator(s), so no item can get "
            f"{study.overlap} judgments until more join; add annotators or lower the overlap"
        ]
    return []
