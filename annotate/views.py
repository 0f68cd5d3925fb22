"""Annotator pages: the study list, the next task, the task form and its submit.

Blindness: nothing rendered here may name a model, run or response. Pages
identify tasks by assignment UUID only and show answers as "A" and "B" in the
order stored on the assignment.
"""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from annotate.access import get_assignment_for_annotator, get_study_for_annotator
from annotate.assignment import annotator_progress, next_assignment, submit_judgment
from annotate.errors import InvalidAnswer
from annotate.forms import JudgmentForm
from annotate.models import AssignmentStatus, Study, StudyKind, StudyStatus


@dataclass(frozen=True)
class ShownAnswer:
    label: str
    text: str


@dataclass(frozen=True)
class Turn:
    """One user turn of the prompt with the answers to it, in screen order."""

    number: int
    user_text: str
    answers: list[ShownAnswer]


@login_required
@require_GET
def home(request):
    studies = Study.objects.filter(annotators=request.user, status=StudyStatus.OPEN).order_by("name")
    rows = [(study, annotator_progress(study, request.user)) for study in studies]
    return render(request, "annotate/home.html", {"rows": rows})


@login_required
@require_GET
def next_task(request, study_uuid):
    study = get_study_for_annotator(request.user, study_uuid)
    if study.status != StudyStatus.OPEN:
        raise Http404(_("This study is not open for new tasks."))

    assignment = next_assignment(study, request.user)
    if assignment is None:
        progress = annotator_progress(study, request.user)
        return render(request, "annotate/done.html", {"study": study, "progress": progress})
    return redirect("annotate:task", study_uuid=study.uuid, assignment_uuid=assignment.uuid)


@login_required
@require_GET
def task(request, study_uuid, assignment_uuid):
    study = get_study_for_annotator(request.user, study_uuid)
    assignment = get_assignment_for_annotator(request.user, study, assignment_uuid)
    if assignment.status == AssignmentStatus.SUBMITTED:
        messages.info(request, _("You have already submitted that task."))
        return redirect("annotate:next_task", study_uuid=study.uuid)

    form = JudgmentForm(study, list(study.criteria.all()))
    return _render_task(request, study, assignment, form)


@login_required
@require_POST
def submit(request, study_uuid, assignment_uuid):
    study = get_study_for_annotator(request.user, study_uuid)
    assignment = get_assignment_for_annotator(request.user, study, assignment_uuid)
    form = JudgmentForm(study, list(study.criteria.all()), request.POST)
    if not form.is_valid():
        return _render_task(request, study, assignment, form)

    try:
        submit_judgment(
            assignment,
            form.answers(),
            rationale=form.cleaned_data["rationale"],
            time_on_task=form.cleaned_data["time_on_task"],
        )
    except InvalidAnswer as error:
        form.add_error(None, str(error))
        return _render_task(request, study, assignment, form)

    if study.status != StudyStatus.OPEN:
        messages.info(request, _("Your judgment was saved. This study is not open for new tasks."))
        return redirect("annotate:home")
    return redirect("annotate:next_task", study_uuid=study.uuid)


def _render_task(request, study, assignment, form):
    context = {
        "study": study,
        "assignment": assignment,
        "form": form,
        "is_pairwise": study.kind == StudyKind.PAIRWISE,
        "prompt": assignment.item.prompt,
        "turns": _turns(assignment),
        "progress": annotator_progress(study, request.user),
        "score_keys": _score_keys(form),
        # After a failed submit the address is the POST-only submit URL, so
        # the language switch must return to the task page instead.
        "language_next": reverse(
            "annotate:task", kwargs={"study_uuid": study.uuid, "assignment_uuid": assignment.uuid}
        ),
    }
    return render(request, "annotate/task.html", context)


def _score_keys(form) -> tuple[int, int]:
    """Return the lowest and highest score that a single digit key can choose."""
    criteria = [criterion for criterion, _field in form.criterion_fields()]
    if not criteria:
        return (0, 9)
    return (max(0, min(c.scale_min for c in criteria)), min(9, max(c.scale_max for c in criteria)))


def _turns(assignment) -> list[Turn]:
    """Pair each user turn of the prompt with the shown answers to it."""
    prompt = assignment.item.prompt
    screen_order = assignment.shown_responses()
    labels = ["A", "B"] if len(screen_order) == 2 else [""]

    user_turns = [prompt.text, *prompt.follow_up_turns]
    turns = []
    for index, user_text in enumerate(user_turns):
        answers = [
            ShownAnswer(label=label, text=_answer_text(response, index))
            for label, response in zip(labels, screen_order, strict=True)
        ]
        turns.append(Turn(number=index + 1, user_text=user_text, answers=answers))
    return turns


def _answer_text(response, turn_index: int) -> str:
    if turn_index == 0:
        return response.text
    follow_ups = response.follow_up_texts or []
    return follow_ups[turn_index - 1] if turn_index - 1 < len(follow_ups) else ""
