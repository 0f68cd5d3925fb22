"""Rules for the changes a study's existing items allow.

Items are built from the study's kind, prompt set, categories, systems and
pairs per prompt, and are never deleted once built, so a change that would
leave items outside the study's new design is refused. Widening is fine:
more categories, more systems, more pairs per prompt, or every pair. Nor
may a study with items go back to draft. The
admin form, `manage.py create_study --update` and the REST API ask this
module.
"""

from django.utils.translation import gettext as _

from annotate.models import Study, StudyKind, StudyStatus

# Marks an argument the caller does not change.
UNCHANGED = object()


def unsafe_changes(
    study: Study,
    *,
    kind=UNCHANGED,
    prompt_set=UNCHANGED,
    categories=UNCHANGED,
    systems=UNCHANGED,
    pairs_per_prompt=UNCHANGED,
    status=UNCHANGED,
) -> dict[str, str]:
    """Return {field name: message} for each requested change that `study`'s items forbid.

    Pass only the fields being changed; `systems` is the full new list of
    runs. A study without items may change anything, so it gets {}.
    """
    if study.pk is None or not study.items.exists():
        return {}
    problems = {}

    if kind is not UNCHANGED and kind and kind != study.kind:
        problems["kind"] = _(
            "The study has items, so its kind stays %(kind)s. Create a new study for another kind."
        ) % {"kind": study.get_kind_display()}
    if prompt_set is not UNCHANGED and prompt_set is not None and prompt_set.pk != study.prompt_set_id:
        problems["prompt_set"] = _(
            "The study has items, so its prompt set stays “%(set)s”. Create a new study for another prompt set."
        ) % {"set": study.prompt_set.name}
    if categories is not UNCHANGED:
        message = _category_problem(study, categories)
        if message:
            problems["categories"] = message
    if systems is not UNCHANGED:
        kept = {run.pk for run in systems}
        removed = sorted(run.system_name for run in study.systems.select_related("model") if run.pk not in kept)
        if removed:
            problems["systems"] = _("The study has items, so no system can be removed. Put back: %(systems)s.") % {
                "systems": ", ".join(removed)
            }
    if pairs_per_prompt is not UNCHANGED and study.kind == StudyKind.PAIRWISE:
        message = _pairs_problem(study.pairs_per_prompt, pairs_per_prompt)
        if message:
            problems["pairs_per_prompt"] = message
    if status is not UNCHANGED and status == StudyStatus.DRAFT and study.status != StudyStatus.DRAFT:
        problems["status"] = _("The study has items, so it cannot go back to draft. Pause or close it instead.")
    return problems


def _category_problem(study: Study, categories) -> str:
    if not categories:
        return ""
    if not study.categories:
        return _("The study has items from every category, so it cannot be limited to some now. Select no category.")
    dropped = sorted(set(study.categories) - set(categories))
    if dropped:
        return _("The study has items, so categories can only be added. Keep: %(categories)s.") % {
            "categories": ", ".join(dropped)
        }
    return ""


def _pairs_problem(old: int | None, new: int | None) -> str:
    if new is None:
        return ""
    if old is None:
        return _(
            "The study has items for every pair of systems on every prompt, so it cannot be limited to fewer "
            "pairs now. Leave the number empty."
        )
    if new < old:
        return _(
            "The study has items for %(old)d pairs per prompt, so the number cannot fall. Write %(old)d or more."
        ) % {"old": old}
    return ""


def unsafe_criterion_changes(study: Study, criteria: list[dict]) -> list[tuple[str, str]]:
    """Return (field path, message) for each change to the criteria that `study`'s items forbid.

    `criteria` is the full new list of criteria, each a dict with `name`,
    `scale_min` and `scale_max`, matched to the current criteria by name.
    Stored answers refer to a criterion and its scale. So once items exist,
    no criterion may be added, removed or rescaled, while its question,
    description, labels and position may still change. Paths name the
    list, `criteria`, or one entry's field, such as `criteria[1].scale_min`.
    """
    if study.pk is None or not study.items.exists():
        return []
    current = {criterion.name: criterion for criterion in study.criteria.all()}
    requested = [entry["name"] for entry in criteria]
    problems = []

    added = [name for name in requested if name not in current]
    if added:
        problems.append(
            (
                "criteria",
                _("The study has items, so no criterion can be added: %(names)s.") % {"names": ", ".join(added)},
            )
        )
    removed = sorted(set(current) - set(requested))
    if removed:
        problems.append(
            (
                "criteria",
                _("The study has items, so no criterion can be removed. Put back: %(names)s.")
                % {"names": ", ".join(removed)},
            )
        )
    for index, entry in enumerate(criteria):
        old = current.get(entry["name"])
        if old is None:
            continue
        for field in ("scale_min", "scale_max"):
            if entry[field] != getattr(old, field):
                problems.append(
                    (
                        f"criteria[{index}].{field}",
                        _("The study has items, so criterion “%(criterion)s” keeps its scale %(low)d to %(high)d.")
                        % {"criterion": old.name, "low": old.scale_min, "high": old.scale_max},
                    )
                )
    return problems
