"""Annotator pages: the study list, the instructions, the next task, the task
form and its submit, skipping a task and changing the last answer.

Blindness: nothing rendered here may name a model, run or response. Pages
identify tasks by assignment UUID only and show answers as "A" and "B" in the
order stored on the assignment.
"""

import logging
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import OperationalError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotate import gold, lease_sql
from annotate.access import (
    get_judgment_for_annotator,
    get_study_for_annotator,
    get_task_for_annotator,
    studies_for,
)
from annotate.assignment import (
    Progress,
    annotator_progress,
    next_assignment,
    submit_judgment,
    task_page_counts,
)
from annotate.content_warnings import content_warning_for
from annotate.errors import AnnotatorPaused, InvalidAnswer, RevisionRejected, SkipRejected
from annotate.forms import JudgmentForm, SkipForm, initial_judgment_data
from annotate.models import Assignment, AssignmentStatus, SkipReason, Study, StudyKind, StudyStatus
from annotate.revision import last_judgment, revise_judgment, revision_problem, screen_answers
from annotate.skipping import skip_assignment
from humeval.database_busy import is_database_locked
from humeval.policy import Action

# Query parameter of the task page that shows an item's content after its
# content warning.
SHOW_CONTENT_PARAMETER = "show"

# Default of _render_task's `warning`: None is a real value there (no warning).
_NOT_LOOKED_UP = object()

logger = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class StudyRow:
    """One study on the annotator's home page, with the link that starts or continues it."""

    study: Study
    progress: Progress
    start_url: str


@login_required
@require_GET
def home(request):
    listed = [StudyStatus.OPEN, StudyStatus.PAUSED]
    studies = studies_for(request.user, Action.ANNOTATE).filter(status__in=listed).order_by("name")
    rows = [
        StudyRow(study, annotator_progress(study, request.user), _start_url(study, request.user)) for study in studies
    ]
    return render(request, "annotate/home.html", {"rows": rows})


def _start_url(study, annotator) -> str:
    """Return the instructions page for an annotator who has not begun `study` yet, else the next task."""
    has_begun = Assignment.objects.filter(item__study=study, annotator=annotator).exists()
    if study.instructions.strip() and not has_begun:
        return reverse("annotate:instructions", kwargs={"study_uuid": study.uuid})
    return reverse("annotate:next_task", kwargs={"study_uuid": study.uuid})


@login_required
@require_GET
def instructions(request, study_uuid):
    study = get_study_for_annotator(request.user, study_uuid)
    progress = annotator_progress(study, request.user)
    return render(request, "annotate/instructions.html", {"study": study, "progress": progress})


@login_required
@require_GET
def next_task(request, study_uuid):
    study = get_study_for_annotator(request.user, study_uuid)
    if study.status != StudyStatus.OPEN:
        # A paused study stays on the annotator's list and comes back, so its
        # page is an ordinary one. A closed or draft study offers nothing at
        # this address, hence 404, but with a page that explains why.
        status = 200 if study.status == StudyStatus.PAUSED else 404
        return render(request, "annotate/study_not_open.html", {"study": study}, status=status)

    try:
        assignment = next_assignment(study, request.user)
    except AnnotatorPaused:
        return _paused_page(request, study)
    if assignment is None:
        context = {
            "study": study,
            "progress": annotator_progress(study, request.user),
            "last_judgment": last_judgment(study, request.user),
        }
        return render(request, "annotate/done.html", context)
    return redirect("annotate:task", study_uuid=study.uuid, assignment_uuid=assignment.uuid)


@login_required
@require_GET
def task(request, study_uuid, assignment_uuid):
    found = get_task_for_annotator(request.user, study_uuid, assignment_uuid)
    study, assignment, warning = found.study, found.assignment, found.warning
    if assignment.status == AssignmentStatus.SUBMITTED:
        messages.info(request, _("You have already submitted that task."))
        return redirect("annotate:next_task", study_uuid=study.uuid)
    if assignment.status == AssignmentStatus.SKIPPED:
        messages.info(request, _("You skipped that task."))
        return redirect("annotate:next_task", study_uuid=study.uuid)

    if warning is not None and request.GET.get(SHOW_CONTENT_PARAMETER) != "1":
        # Nothing of the item is rendered until the annotator asks to see it.
        context = {
            "study": study,
            "assignment": assignment,
            "warning": warning,
            "skip_form": SkipForm(initial={"reason": SkipReason.UNCOMFORTABLE}),
            "show_url": _task_url(assignment, show_content=True),
        }
        return render(request, "annotate/content_warning.html", context)

    form = JudgmentForm(study, lease_sql.study_criteria(study))
    return _render_task(request, study, assignment, form, warning=warning)


@login_required
@require_POST
def submit(request, study_uuid, assignment_uuid):
    found = get_task_for_annotator(request.user, study_uuid, assignment_uuid)
    study, assignment = found.study, found.assignment
    criteria = lease_sql.study_criteria(study)
    form = JudgmentForm(study, criteria, request.POST)
    if not form.is_valid():
        return _render_task(request, study, assignment, form, warning=found.warning)

    try:
        submit_judgment(
            assignment,
            form.answers(),
            rationale=form.cleaned_data["rationale"],
            time_on_task=form.cleaned_data["time_on_task"],
            criteria=criteria,
        )
    except InvalidAnswer as error:
        form.add_error(None, str(error))
        return _render_task(request, study, assignment, form, warning=found.warning)

    if study.status != StudyStatus.OPEN:
        messages.info(request, _("Your judgment was saved. This study is not open for new tasks."))
        return redirect("annotate:home")
    return _redirect_to_following_task(study, request.user)


def _redirect_to_following_task(study, user):
    """Redirect to the annotator's next task, leased here, so the browser skips a request to the next-task address.

    That address still serves the done page, the paused page, and the
    retry after a SQLite busy error. The judgment is already saved here, so
    this request must not get the busy 503 page, which states it was not.
    """
    try:
        following = next_assignment(study, user)
    except AnnotatorPaused:
        following = None
    except OperationalError as error:
        if not is_database_locked(error):
            raise
        logger.warning(
            "Database busy after storing a judgment of annotator %s in study %s: "
            "redirected to the next-task address instead of leasing a task",
            user.pk,
            study.pk,
        )
        following = None
    if following is None:
        return redirect("annotate:next_task", study_uuid=study.uuid)
    return redirect("annotate:task", study_uuid=study.uuid, assignment_uuid=following.uuid)


def _render_task(request, study, assignment, form, revision=None, warning=_NOT_LOOKED_UP):
    """Render the task page: a new judgment of `assignment`, or a change of the judgment `revision`.

    `warning` is the item's content warning (or None) when the caller has
    looked it up already, which saves a query.
    """
    if warning is _NOT_LOOKED_UP:
        warning = content_warning_for(assignment.item)
    counts = task_page_counts(study, request.user)
    context = {
        "study": study,
        "assignment": assignment,
        "form": form,
        "is_pairwise": study.kind == StudyKind.PAIRWISE,
        "prompt": assignment.item.prompt,
        "turns": _turns(assignment),
        "progress": Progress(done=counts.done, left=counts.left),
        "items_left_in_study": counts.items_left,
        "score_keys": _score_keys(form),
        "warning": warning,
        "revision": revision,
    }
    if revision is None:
        context["form_action"] = reverse(
            "annotate:submit", kwargs={"study_uuid": study.uuid, "assignment_uuid": assignment.uuid}
        )
        # After a failed submit the address is the POST-only submit URL, so
        # the language switch must return to the task page instead.
        context["language_next"] = _task_url(assignment, show_content=warning is not None)
        context["skip_form"] = SkipForm()
        context["skip_url"] = reverse(
            "annotate:skip", kwargs={"study_uuid": study.uuid, "assignment_uuid": assignment.uuid}
        )
        if study.status == StudyStatus.OPEN:
            context["last_judgment_uuid"] = counts.last_judgment_uuid
    else:
        kwargs = {"study_uuid": study.uuid, "judgment_uuid": revision.uuid}
        context["form_action"] = reverse("annotate:submit_revision", kwargs=kwargs)
        context["language_next"] = reverse("annotate:revise", kwargs=kwargs)
    return render(request, "annotate/task.html", context)


def _task_url(assignment, show_content=False) -> str:
    url = reverse(
        "annotate:task", kwargs={"study_uuid": assignment.item.study.uuid, "assignment_uuid": assignment.uuid}
    )
    return f"{url}?{SHOW_CONTENT_PARAMETER}=1" if show_content else url


def _score_keys(form) -> tuple[int, int]:
    """Return the lowest and highest score that a single digit key can choose."""
    criteria = [criterion for criterion, _field in form.criterion_fields()]
    if not criteria:
        return (0, 9)
    return (max(0, min(c.scale_min for c in criteria)), min(9, max(c.scale_max for c in criteria)))


def _turns(assignment) -> list[Turn]:
    """Pair each user turn of the prompt with the shown answers to it."""
    prompt = assignment.item.prompt
    screen_order = assignment.shown_answers()
    labels = ["A", "B"] if len(screen_order) == 2 else [""]

    user_turns = [prompt.text, *prompt.follow_up_turns]
    turns = []
    for index, user_text in enumerate(user_turns):
        answers = [
            ShownAnswer(label=label, text=answer.turn_text(index))
            for label, answer in zip(labels, screen_order, strict=True)
        ]
        turns.append(Turn(number=index + 1, user_text=user_text, answers=answers))
    return turns


@login_required
@require_http_methods(["GET", "POST"])
def skip(request, study_uuid, assignment_uuid):
    """Show the skip form on a page of its own (GET), or skip the task for the reason given (POST)."""
    found = get_task_for_annotator(request.user, study_uuid, assignment_uuid)
    study, assignment = found.study, found.assignment
    if assignment.status == AssignmentStatus.SUBMITTED:
        messages.info(request, _("You have already submitted that task."))
        return redirect("annotate:next_task", study_uuid=study.uuid)

    form = SkipForm(request.POST if request.method == "POST" else None)
    if request.method == "GET" or not form.is_valid():
        return render(request, "annotate/skip.html", {"study": study, "assignment": assignment, "skip_form": form})

    try:
        skip_assignment(assignment, form.cleaned_data["reason"], form.cleaned_data["note"])
    except SkipRejected as error:
        messages.error(request, str(error))
    else:
        messages.info(request, _("You skipped that task. It will not be offered to you again."))
    if study.status != StudyStatus.OPEN:
        return redirect("annotate:home")
    return redirect("annotate:next_task", study_uuid=study.uuid)


@login_required
@require_GET
def revise(request, study_uuid, judgment_uuid):
    """Show the annotator's last judgment in the task form, filled in with their answers."""
    study = get_study_for_annotator(request.user, study_uuid)
    judgment = get_judgment_for_annotator(request.user, study, judgment_uuid)
    if gold.is_paused(study, request.user):
        return _paused_page(request, study)
    problem = revision_problem(judgment)
    if problem is not None:
        return _reject_revision(request, study, problem)

    criteria = list(study.criteria.all())
    initial = initial_judgment_data(criteria, screen_answers(judgment), judgment.rationale)
    form = JudgmentForm(study, criteria, initial=initial)
    return _render_task(request, study, judgment.assignment, form, revision=judgment)


@login_required
@require_POST
def submit_revision(request, study_uuid, judgment_uuid):
    """Store the changed answers of the annotator's last judgment, then return to their current task."""
    study = get_study_for_annotator(request.user, study_uuid)
    judgment = get_judgment_for_annotator(request.user, study, judgment_uuid)
    if gold.is_paused(study, request.user):
        return _paused_page(request, study)
    form = JudgmentForm(study, list(study.criteria.all()), request.POST)
    if not form.is_valid():
        return _render_task(request, study, judgment.assignment, form, revision=judgment)

    try:
        revise_judgment(
            judgment,
            form.answers(),
            rationale=form.cleaned_data["rationale"],
            time_on_task=form.cleaned_data["time_on_task"],
        )
    except AnnotatorPaused:
        return _paused_page(request, study)
    except RevisionRejected as error:
        return _reject_revision(request, study, str(error))
    except InvalidAnswer as error:
        form.add_error(None, str(error))
        return _render_task(request, study, judgment.assignment, form, revision=judgment)

    messages.info(request, _("Your changed answer was saved."))
    return redirect("annotate:next_task", study_uuid=study.uuid)


def _paused_page(request, study):
    """Render the page telling an annotator that their work on `study` is paused (a 403, with no form)."""
    return render(request, "annotate/paused.html", {"study": study}, status=403)


def _reject_revision(request, study, message):
    messages.error(request, message)
    if study.status != StudyStatus.OPEN:
        return redirect("annotate:home")
    return redirect("annotate:next_task", study_uuid=study.uuid)
