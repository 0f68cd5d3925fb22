"""The judgments and criterion answers that a report counts.

The rules are written here as the queries `counted_judgments` and
`counted_answers`, which the study lists and the pairwise summaries use.
The report's figures apply the same rules as masks over arrays
(reports.answer_table), and a test checks that both select the same
answers:
- judgments on gold items never count, because gold items measure the
  annotators, not the systems, and may be judged by everyone;
- judgments of annotators a manager excluded (AnnotatorStatus.is_excluded)
  are left out unless `include_excluded`;
- surplus judgments are left out unless `include_surplus`;
- inside a `limited_to(breakdown)` block, only judgments on prompts of the
  breakdown's category and language count, and the judgments of the
  annotator it leaves out do not.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Breakdown:
    """The part of a study's judgments a report is limited to. A field left as None limits nothing.

    `category` and `language` select prompts by their exact field values;
    `left_out_annotator_id` is the user id of one annotator whose judgments
    are left out.
    """

    category: str | None = None
    language: str | None = None
    left_out_annotator_id: int | None = None


WHOLE_STUDY = Breakdown()
# None stands for WHOLE_STUDY: ContextVar defaults should not be objects built at import.
_active_breakdown: ContextVar[Breakdown | None] = ContextVar("report_breakdown", default=None)


def active_breakdown() -> Breakdown:
    """Return the breakdown of the enclosing `limited_to` block, or WHOLE_STUDY outside one."""
    return _active_breakdown.get() or WHOLE_STUDY


@contextmanager
def limited_to(breakdown: Breakdown) -> Iterator[None]:
    """Limit every report figure computed inside the block to `breakdown`.

    A context variable carries the breakdown to `counted_judgments` and
    `counted_answers`, so the statistics modules need no extra parameter
    and cannot forget to apply it.
    """
    token = _active_breakdown.set(breakdown)
    try:
        yield
    finally:
        _active_breakdown.reset(token)


def prompt_condition(item_path: str = "item__") -> Q:
    """Build a condition on the item at `item_path` ("" for Item itself): its prompt is in the active breakdown."""
    breakdown = active_breakdown()
    condition = Q()
    if breakdown.category is not None:
        condition &= Q(**{f"{item_path}prompt__category": breakdown.category})
    if breakdown.language is not None:
        condition &= Q(**{f"{item_path}prompt__language": breakdown.language})
    return condition


def breakdown_condition(judgment_path: str = "") -> Q:
    """Build a condition: the judgment at `judgment_path` ("" or "judgment__") is in the active breakdown."""
    condition = prompt_condition(f"{judgment_path}item__")
    left_out = active_breakdown().left_out_annotator_id
    if left_out is not None:
        condition &= ~Q(**{f"{judgment_path}annotator_id": left_out})
    return condition


def _counted(judgment_path: str, include_surplus: bool, include_excluded: bool) -> Q:
    counted = Q(**{f"{judgment_path}item__is_gold": False}) & breakdown_condition(judgment_path)
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
