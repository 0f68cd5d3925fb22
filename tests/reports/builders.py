"""Builders for report tests: studies, items and judgments written straight through the ORM.

Judgments are created directly instead of through the annotator flow, so
these tests pin the counting rules alone. A pairwise answer is given as
"first" or "second" (the item's canonical response that won), "tie" or
"both_bad"; a rating answer as an integer score.
"""

import itertools
from datetime import timedelta

from django.utils import timezone

from annotate.models import (
    Assignment,
    AssignmentStatus,
    Criterion,
    CriterionAnswer,
    Item,
    Judgment,
    Outcome,
    Study,
    StudyKind,
    StudyStatus,
)
from generation.models import Response

_counter = itertools.count(1)


def make_study(kind, runs, *, criteria=("overall",), name=None, overlap=3):
    study = Study.objects.create(
        name=name or f"study-{next(_counter)}",
        kind=kind,
        prompt_set=runs[0].prompt_set,
        overlap=overlap,
        status=StudyStatus.OPEN,
    )
    study.systems.set(runs)
    for position, criterion_name in enumerate(criteria):
        Criterion.objects.create(
            study=study,
            position=position,
            name=criterion_name,
            question=f"Which answer is better on {criterion_name}?",
        )
    return study


def make_item(study, prompt, first_run, second_run=None):
    """Create an item of `study` on `prompt` with the runs' responses in canonical order."""
    second_response = None
    if second_run is not None:
        second_response = Response.objects.get(run=second_run, prompt=prompt)
    return Item.objects.create(
        study=study,
        prompt=prompt,
        first_response=Response.objects.get(run=first_run, prompt=prompt),
        second_response=second_response,
        sort_key=next(_counter) / 1000,
    )


def judge(item, annotator, answers, *, first_on_left=True, surplus=False, rationale="", seconds=12.5, judgment_id=None):
    """Store a submitted judgment with one answer per criterion name in `answers`; `judgment_id` sets its id."""
    now = timezone.now()
    assignment = Assignment.objects.create(
        item=item,
        annotator=annotator,
        first_on_left=first_on_left,
        status=AssignmentStatus.SUBMITTED,
        leased_at=now,
        expires_at=now + timedelta(minutes=30),
    )
    judgment = Judgment.objects.create(
        pk=judgment_id,
        assignment=assignment,
        item=item,
        annotator=annotator,
        first_on_left=first_on_left,
        rationale=rationale,
        time_on_task_seconds=seconds,
        is_surplus=surplus,
    )
    for criterion_name, value in answers.items():
        criterion = Criterion.objects.get(study=item.study, name=criterion_name)
        CriterionAnswer.objects.create(judgment=judgment, criterion=criterion, **_answer_fields(item, value))
    return judgment


def _answer_fields(item, value):
    if isinstance(value, int):
        return {"score": value}
    if value == "first":
        return {"outcome": Outcome.WIN, "winner": item.first_response}
    if value == "second":
        return {"outcome": Outcome.WIN, "winner": item.second_response}
    return {"outcome": Outcome(value)}


PAIRWISE = StudyKind.PAIRWISE
RATING = StudyKind.RATING
