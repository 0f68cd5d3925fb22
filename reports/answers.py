"""The judgments and criterion answers that a report counts.

Every report figure reads its data through `counted_judgments` or
`counted_answers`, so the rules live here only:
- judgments on gold items never count, because gold items measure the
  annotators, not the systems, and may be judged by everyone;
- judgments of annotators a manager excluded (AnnotatorStatus.is_excluded)
  are left out unless `include_excluded`;
- surplus judgments are left out unless `include_surplus`.
"""

from django.db.models import Exists, OuterRef, Q, QuerySet

from annotate.models import AnnotatorStatus, CriterionAnswer, Judgment, Study, StudyKind


def excluded_annotator(judgment_path: str = "") -> Exists:
    """Build a condition: the judgment at `judgment_path` ("" or "judgment__") is by an excluded annotator."""
    return Exists(
        AnnotatorStatus.objects.filter(
            study=OuterRef(f"{judgment_path}item__study"),
            annotator=OuterRef(f"{judgment_path}annotator"),
            is_excluded=True,
        )
    )


def _counted(judgment_path: str, include_surplus: bool, include_excluded: bool) -> Q:
    counted = Q(**{f"{judgment_path}item__is_gold": False})
    if not include_surplus:
        counted &= Q(**{f"{judgment_path}is_surplus": False})
    if not include_excluded:
        counted &= ~Q(excluded_annotator(judgment_path))
    return counted


def counted_judgments(*, include_surplus: bool, include_excluded: bool = False, **filters) -> QuerySet[Judgment]:
    """Return the judgments matching `filters` that reports count (see the module docstring)."""
    return Judgment.objects.filter(_counted("", include_surplus, include_excluded), **filters).order_by()


def counted_answers(*, include_surplus: bool, include_excluded: bool = False, **filters) -> QuerySet[CriterionAnswer]:
    """Return the criterion answers matching `filters` that reports count (see the module docstring).

    Surplus judgments arrived after their item already had its overlap of
    judgments; reports leave them out by default so that every item weighs
    the same.
    """
    counted = _counted("judgment__", include_surplus, include_excluded)
    return CriterionAnswer.objects.filter(counted, **filters).order_by()


def require_kind(study: Study, kind: StudyKind) -> None:
    """Raise ValueError unless `study` is of `kind`."""
    if study.kind != kind:
        raise ValueError(f"Study {study.uuid} is a {study.kind} study, expected a {kind} study.")
