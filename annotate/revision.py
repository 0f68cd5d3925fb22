"""Changing the last judgment: while its study is open, an annotator may answer
their most recent judgment again, with the answers in the order they saw them.

Only the last judgment can change, so a slip on the previous task can be
put right, while earlier judgments stay as they were when agreement was
counted. The judgment keeps its surplus status, its assignment and its
place in the overlap count; the annotator's current lease is not touched.

An annotator whose work on the study is paused (by a manager, or by the
qualification rule) changes nothing: a pause stops revisions as it stops
new tasks. A revision that itself triggers the pause is kept.
"""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from annotate import gold
from annotate.assignment import ScreenChoice, _criterion_answer, parse_time_on_task, validate_answers
from annotate.errors import AnnotatorPaused, RevisionRejected
from annotate.models import CriterionAnswer, Judgment, Outcome, Study, StudyStatus

logger = logging.getLogger(__name__)


def last_judgment(study: Study, annotator) -> Judgment | None:
    """Return the annotator's most recently created judgment in `study`, or None."""
    return (
        Judgment.objects.filter(item__study=study, annotator=annotator)
        .select_related("assignment", "item")
        .order_by("-created_at", "-pk")
        .first()
    )


def revision_problem(judgment: Judgment) -> str | None:
    """Return why `judgment` cannot be changed now, as a message for the annotator, or None when it can."""
    study = judgment.item.study
    if study.status != StudyStatus.OPEN:
        return _("This study is not open any more, so its answers can no longer be changed.")
    if gold.is_paused(study, judgment.annotator_id):
        return paused_message()
    latest = last_judgment(study, judgment.annotator)
    if latest is None or latest.pk != judgment.pk:
        return _("Only your last answer in a study can be changed, and this is not it.")
    return None


def paused_message() -> str:
    """Return the message an annotator whose work on a study is paused gets, in their language."""
    return _("Your work on this study is paused. Please contact the study manager.")


def screen_answers(judgment: Judgment) -> dict[str, str | int]:
    """Return {criterion name: screen choice or score} of `judgment`, as its annotator saw the answers.

    A stored winner becomes A or B again through the order saved on the
    judgment. An attention-check answer stands in for the item's second
    response, so it takes that response's place on screen.
    """
    item = judgment.item
    first_label, second_label = (
        (ScreenChoice.A, ScreenChoice.B) if judgment.first_on_left else (ScreenChoice.B, ScreenChoice.A)
    )
    values = {}
    for answer in judgment.answers.select_related("criterion"):
        if answer.score is not None:
            values[answer.criterion.name] = answer.score
        elif answer.outcome == Outcome.WIN:
            values[answer.criterion.name] = first_label if answer.winner_id == item.first_response_id else second_label
        elif answer.outcome == Outcome.ATTENTION_TEXT:
            values[answer.criterion.name] = second_label
        elif answer.outcome == Outcome.TIE:
            values[answer.criterion.name] = ScreenChoice.TIE
        else:
            values[answer.criterion.name] = ScreenChoice.BOTH_BAD
    return values


def revise_judgment(
    judgment: Judgment,
    answers: dict,
    rationale: str = "",
    time_on_task: float | None = None,
    now: datetime | None = None,
) -> Judgment:
    """Replace the answers and rationale of `judgment`, set its `revised_at`, and return it.

    `answers` takes the same form as in submit_judgment: screen choices
    (pairwise) or scores (rating), read in the order stored on the judgment.
    A usable `time_on_task` is added to the stored time, so the judgment
    records all the time spent on it. On a gold item the judgment is scored
    again and the study's qualification rule applied, as on submit. Raises
    InvalidAnswer as submit does, AnnotatorPaused when the annotator's work
    on the study is paused, and RevisionRejected when the study is not open
    or `judgment` is not the annotator's last one in it.
    """
    now = now or timezone.now()
    study = judgment.item.study
    criteria = list(study.criteria.all())
    cleaned = validate_answers(study, criteria, answers)
    seconds = parse_time_on_task(time_on_task)

    with transaction.atomic():
        # The row lock makes two revisions of one judgment run one after the
        # other, so the answers stored are those of a single revision.
        current = (
            Judgment.objects.select_for_update(of=("self",))
            .select_related("assignment", "item__study", "annotator")
            .get(pk=judgment.pk)
        )
        # Checked under the judgment's lock, so a pause that a concurrent
        # revision of this judgment triggered is seen here.
        if gold.is_paused(current.item.study, current.annotator_id):
            logger.info("Rejected a revision of judgment %s: its annotator is paused in the study", current.uuid)
            raise AnnotatorPaused(paused_message())
        problem = revision_problem(current)
        if problem is not None:
            logger.info(
                "Rejected a revision of judgment %s: study status %s, or not the annotator's last judgment",
                current.uuid,
                current.item.study.status,
            )
            raise RevisionRejected(problem)

        # The same screen order and conversion as the first submit.
        screen_order = current.assignment.shown_answers()
        current.answers.all().delete()
        CriterionAnswer.objects.bulk_create(
            [_criterion_answer(current, criterion, cleaned[criterion.name], screen_order) for criterion in criteria]
        )
        current.rationale = rationale.strip()
        current.revised_at = now
        if seconds is not None:
            current.time_on_task_seconds = (current.time_on_task_seconds or 0.0) + seconds
        current.gold_correct = gold.score_judgment(current)
        current.save(update_fields=["rationale", "revised_at", "time_on_task_seconds", "gold_correct"])
        if current.item.is_gold:
            gold.apply_qualification_rule(current.item.study, current.annotator_id)

    logger.info("Revised judgment %s of item %s", current.uuid, current.item.uuid)
    return current
