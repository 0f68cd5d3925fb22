"""The criterion answers that a report counts."""

from django.db.models import QuerySet

from annotate.models import CriterionAnswer, Study, StudyKind


def counted_answers(*, include_surplus: bool, **filters) -> QuerySet[CriterionAnswer]:
    """Return criterion answers matching `filters`, without surplus judgments unless asked.

    Surplus judgments arrived after their item already had its overlap of
    judgments; reports leave them out by default so that every item weighs
    the same.
    """
    answers = CriterionAnswer.objects.filter(**filters)
    if not include_surplus:
        answers = answers.filter(judgment__is_surplus=False)
    return answers.order_by()


def require_kind(study: Study, kind: StudyKind) -> None:
    """Raise ValueError unless `study` is of `kind`."""
    if study.kind != kind:
        raise ValueError(f"Study {study.uuid} is a {study.kind} study, expected a {kind} study.")
