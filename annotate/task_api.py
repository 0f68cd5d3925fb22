"""REST API for annotators, under /api/v1/annotate/: their studies, the next task, submit, skip and progress.

Any logged-in user may call these endpoints, and each one fetches through
annotate.access, so a study the user does not annotate, or another
annotator's task, is a 404, exactly as for an id that does not exist.

Blindness: no response here names a model, run or response, or carries a
per-model id. A task is its assignment's UUID, the prompt, the answers as
"A" and "B" in the order stored on the assignment, and the criteria. An
attention check (a gold item) has the same fields as any other task, and a
submit answers with the judgment's UUID and progress only, never whether
the answer was right.

The work is done by the services the annotator pages use too:
annotate.assignment (lease, submit, progress), annotate.skipping and
annotate.revision.
"""

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response as ApiResponse

from annotate.access import (
    get_assignment_for_annotator,
    get_judgment_for_annotator,
    get_study_for_annotator,
    studies_for,
)
from annotate.assignment import (
    MAX_TIME_ON_TASK_SECONDS,
    ScreenChoice,
    annotator_progress,
    items_left_in_study,
    next_assignment,
    submit_judgment,
)
from annotate.content_warnings import content_warning_for
from annotate.errors import AnnotatorPaused, InvalidAnswer, RevisionRejected, SkipRejected
from annotate.models import Assignment, AssignmentStatus, Criterion, SkipReason, Study, StudyKind, StudyStatus
from annotate.revision import last_judgment, revise_judgment, revision_problem, screen_answers
from annotate.skipping import SKIP_NOTE_MAX_LENGTH, skip_assignment
from annotate.task_content import rendered, task_turns
from humeval.api import Conflict, RejectUnknownFieldsMixin
from humeval.api_schema import ErrorSerializer
from humeval.policy import Action

# The annotator page's limit on a rationale (annotate.forms.JudgmentForm).
RATIONALE_MAX_LENGTH = 5000


def register_routes(router) -> None:
    """Add the annotator's viewsets to the API router."""
    router.register("annotate/studies", AnnotatorStudyViewSet, basename="annotate-study")
    router.register("annotate/studies/<uuid:study_uuid>/tasks", TaskViewSet, basename="annotate-task")
    router.register("annotate/studies/<uuid:study_uuid>/judgments", JudgmentViewSet, basename="annotate-judgment")


# Serializers (responses are built from plain data, so every field is read-only)


class RenderedTextSerializer(serializers.Serializer):
    markdown = serializers.CharField(help_text=_("The text as written, Markdown."))
    html = serializers.CharField(help_text=_("The Markdown rendered to HTML and sanitised; safe to insert in a page."))


class ChoiceSerializer(serializers.Serializer):
    value = serializers.CharField(help_text=_("What to send in answers: A, B, tie or both_bad."))
    label = serializers.CharField()


class ScaleSerializer(serializers.Serializer):
    min = serializers.IntegerField()
    max = serializers.IntegerField()
    low_label = serializers.CharField()
    high_label = serializers.CharField()


class AnnotatorCriterionSerializer(serializers.Serializer):
    """A question of the study: pairwise ones have `choices`, rating ones a `scale`."""

    name = serializers.CharField(help_text=_("The key of this criterion's answer in a submit."))
    question = serializers.CharField()
    description = serializers.CharField()
    choices = ChoiceSerializer(many=True, allow_null=True)
    scale = ScaleSerializer(allow_null=True)


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text=_("Your judgments in the study."))
    left = serializers.IntegerField(
        help_text=_("Items you have neither judged nor skipped that still want judgments; others may take some.")
    )
    total = serializers.IntegerField()


class AnnotatorStudySerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=StudyKind.choices)
    status = serializers.ChoiceField(choices=StudyStatus.choices, help_text=_("Only an open study hands out tasks."))
    instructions = RenderedTextSerializer()
    criteria = AnnotatorCriterionSerializer(many=True)
    progress = ProgressSerializer()


class AnswerTextSerializer(serializers.Serializer):
    label = serializers.CharField(
        allow_null=True, help_text=_("A (left) or B (right) in pairwise tasks; null in rating tasks.")
    )
    text = RenderedTextSerializer()


class TurnSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    prompt = RenderedTextSerializer()
    answers = AnswerTextSerializer(many=True, help_text=_("The answers to this turn in screen order, A first."))


class TaskSerializer(serializers.Serializer):
    assignment = serializers.UUIDField(help_text=_("The task's id, used to submit or skip it."))
    expires_at = serializers.DateTimeField(
        help_text=_("End of your lease; a later submit is still stored, but others may get the item meanwhile.")
    )
    language = serializers.CharField(help_text=_("BCP 47 code of the prompt's language; empty when unknown."))
    content_warning = serializers.CharField(
        allow_null=True, help_text=_("Show this before the prompt and answers; the task may be skipped instead.")
    )
    turns = TurnSerializer(many=True)
    reference_answer = RenderedTextSerializer(allow_null=True)
    criteria = AnnotatorCriterionSerializer(many=True)


class NextTaskSerializer(serializers.Serializer):
    task = TaskSerializer(allow_null=True, help_text=_("Null when nothing is left for you in this study."))
    progress = ProgressSerializer()
    last_judgment = serializers.UUIDField(
        allow_null=True, help_text=_("Your last judgment here, which you may still change while the study is open.")
    )


class AnnotatorStudyProgressSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=StudyStatus.choices)
    progress = ProgressSerializer()
    items_left_in_study = serializers.IntegerField(help_text=_("Items that still want judgments from anyone."))
    last_judgment = serializers.UUIDField(allow_null=True)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "enum": list(ScreenChoice.values)},
            {"type": "integer"},
        ]
    }
)
class ScreenAnswerField(serializers.Field):
    """One criterion's answer: a choice by screen label (pairwise) or a whole-number score (rating)."""

    default_error_messages = {
        "invalid": _("Give a choice (A, B, tie or both_bad) or a whole-number score."),
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class JudgmentInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    answers = serializers.DictField(
        child=ScreenAnswerField(),
        help_text=_(
            "One answer per criterion name. Pairwise: A, B, tie or both_bad, by screen label. "
            "Rating: a score on the criterion's scale."
        ),
    )
    rationale = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=RATIONALE_MAX_LENGTH, help_text=_("Optional.")
    )
    time_on_task = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=MAX_TIME_ON_TASK_SECONDS,
        help_text=_("Seconds spent on the task; without it, the time since the lease began."),
    )


class SubmittedSerializer(serializers.Serializer):
    judgment = serializers.UUIDField(help_text=_("The stored judgment; a second submit of the task returns the first."))
    study_open = serializers.BooleanField(help_text=_("False when the study hands out no new task now."))
    progress = ProgressSerializer()


class SkipInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    reason = serializers.ChoiceField(choices=SkipReason.choices)
    note = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=SKIP_NOTE_MAX_LENGTH, help_text=_("Optional.")
    )


class SkippedSerializer(serializers.Serializer):
    assignment = serializers.UUIDField()
    study_open = serializers.BooleanField()
    progress = ProgressSerializer()


class JudgmentSerializer(serializers.Serializer):
    judgment = serializers.UUIDField()
    task = TaskSerializer(help_text=_("The task as it was shown, in the same screen order."))
    answers = serializers.DictField(child=ScreenAnswerField(), help_text=_("Your answers by criterion name."))
    rationale = serializers.CharField()
    can_change = serializers.BooleanField(help_text=_("Whether revise/ accepts new answers now."))
    reason = serializers.CharField(allow_null=True, help_text=_("Why it cannot be changed; null when it can."))


# Building the response data


def criteria_data(study: Study) -> list[dict]:
    """Return the study's criteria as the annotator sees them, in position order."""
    criteria = study.criteria.order_by("position", "pk")
    return [_criterion_data(study, criterion) for criterion in criteria]


def _criterion_data(study: Study, criterion: Criterion) -> dict:
    data = {
        "name": criterion.name,
        "question": criterion.question,
        "description": criterion.description,
        "choices": None,
        "scale": None,
    }
    if study.kind == StudyKind.PAIRWISE:
        data["choices"] = [{"value": value, "label": str(label)} for value, label in ScreenChoice.choices]
    else:
        data["scale"] = {
            "min": criterion.scale_min,
            "max": criterion.scale_max,
            "low_label": criterion.low_label,
            "high_label": criterion.high_label,
        }
    return data


def task_data(assignment: Assignment, criteria: list[dict]) -> dict:
    """Return what the task page shows for `assignment`, as data; nothing in it names a model."""
    prompt = assignment.item.prompt
    warning = content_warning_for(assignment.item)
    return {
        "assignment": assignment.uuid,
        "expires_at": assignment.expires_at,
        "language": prompt.language,
        "content_warning": warning.text if warning is not None else None,
        "turns": task_turns(assignment),
        "reference_answer": rendered(prompt.reference_answer) if prompt.reference_answer else None,
        "criteria": criteria,
    }


def progress_data(study: Study, user) -> dict:
    progress = annotator_progress(study, user)
    return {"done": progress.done, "left": progress.left, "total": progress.total}


def _last_judgment_uuid(study: Study, user):
    judgment = last_judgment(study, user)
    return judgment.uuid if judgment is not None else None


# Views


class AnnotatorStudyViewSet(viewsets.GenericViewSet):
    """Your studies, their next task and your progress."""

    serializer_class = AnnotatorStudySerializer
    lookup_field = "uuid"
    lookup_value_converter = "uuid"

    def get_queryset(self):
        # Only for the list: detail URLs fetch through annotate.access.
        listed = [StudyStatus.OPEN, StudyStatus.PAUSED]
        return studies_for(self.request.user, Action.ANNOTATE).filter(status__in=listed).order_by("name", "pk")

    def _study_data(self, study: Study) -> dict:
        return {
            "uuid": study.uuid,
            "name": study.name,
            "kind": study.kind,
            "status": study.status,
            "instructions": rendered(study.instructions),
            "criteria": criteria_data(study),
            "progress": progress_data(study, self.request.user),
        }

    def list(self, request):
        """List your open and paused studies with your progress; a paused study hands out tasks again later."""
        page = self.paginate_queryset(self.get_queryset())
        rows = [self._study_data(study) for study in page]
        return self.get_paginated_response(AnnotatorStudySerializer(rows, many=True).data)

    def retrieve(self, request, uuid=None):
        """Read one of your studies: instructions, criteria and progress."""
        study = get_study_for_annotator(request.user, uuid)
        return ApiResponse(AnnotatorStudySerializer(self._study_data(study)).data)

    @extend_schema(request=None, responses={200: NextTaskSerializer, 409: ErrorSerializer})
    @action(detail=True, methods=["post"], url_path="next", url_name="next")
    def next_task(self, request, uuid=None):
        """Return your current task in the study, or lease you a new one; `task` is null when nothing is left.

        Calling it again returns the same task until you submit or skip it.
        A paused study gives 409, a closed or draft one 404, and 403 when
        the manager paused your work on the study.
        """
        study = get_study_for_annotator(request.user, uuid)
        _require_open(study)
        try:
            assignment = next_assignment(study, request.user)
        except AnnotatorPaused as exc:
            raise PermissionDenied(str(exc)) from exc

        task = task_data(assignment, criteria_data(study)) if assignment is not None else None
        data = {
            "task": task,
            "progress": progress_data(study, request.user),
            "last_judgment": _last_judgment_uuid(study, request.user),
        }
        return ApiResponse(NextTaskSerializer(data).data)

    @extend_schema(responses=AnnotatorStudyProgressSerializer)
    @action(detail=True, methods=["get"])
    def progress(self, request, uuid=None):
        """Return your progress in the study and how many items still want judgments."""
        study = get_study_for_annotator(request.user, uuid)
        data = {
            "status": study.status,
            "progress": progress_data(study, request.user),
            "items_left_in_study": items_left_in_study(study),
            "last_judgment": _last_judgment_uuid(study, request.user),
        }
        return ApiResponse(AnnotatorStudyProgressSerializer(data).data)


def _require_open(study: Study) -> None:
    """Raise 409 for a paused study and 404 for a draft or closed one, which hands out no task."""
    if study.status == StudyStatus.OPEN:
        return
    if study.status == StudyStatus.PAUSED:
        raise Conflict(
            gettext("Study “%(study)s” is paused, so it hands out no task now. Try again later.")
            % {"study": study.name}
        )
    raise NotFound(gettext("Study “%(study)s” is not open, so it hands out no task.") % {"study": study.name})


class TaskViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your tasks in one study: read, submit and skip, by assignment UUID."""

    serializer_class = TaskSerializer
    lookup_field = "uuid"
    lookup_value_converter = "uuid"

    def get_assignment(self) -> Assignment:
        study = get_study_for_annotator(self.request.user, self.kwargs["study_uuid"])
        return get_assignment_for_annotator(self.request.user, study, self.kwargs["uuid"])

    @extend_schema(responses={200: TaskSerializer, 409: ErrorSerializer})
    def retrieve(self, request, study_uuid=None, uuid=None):
        """Read a task you hold; a task you submitted or skipped gives 409."""
        assignment = self.get_assignment()
        if assignment.status == AssignmentStatus.SUBMITTED:
            raise Conflict(gettext("You have already submitted that task."))
        if assignment.status == AssignmentStatus.SKIPPED:
            raise Conflict(gettext("You skipped that task."))
        study = assignment.item.study
        return ApiResponse(TaskSerializer(task_data(assignment, criteria_data(study))).data)

    @extend_schema(request=JudgmentInputSerializer, responses=SubmittedSerializer)
    @action(detail=True, methods=["post"], serializer_class=JudgmentInputSerializer)
    def submit(self, request, study_uuid=None, uuid=None):
        """Store your judgment of the task. Submitting again returns the first judgment and changes nothing.

        A submit after the lease expired, or after the study was paused or
        closed, is stored too.
        """
        assignment = self.get_assignment()
        form = JudgmentInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            judgment = submit_judgment(
                assignment, data["answers"], rationale=data["rationale"], time_on_task=data.get("time_on_task")
            )
        except InvalidAnswer as exc:
            raise _answer_error(exc) from exc

        study = assignment.item.study
        result = {
            "judgment": judgment.uuid,
            "study_open": study.status == StudyStatus.OPEN,
            "progress": progress_data(study, request.user),
        }
        return ApiResponse(SubmittedSerializer(result).data)

    @extend_schema(request=SkipInputSerializer, responses={200: SkippedSerializer, 409: ErrorSerializer})
    @action(detail=True, methods=["post"], serializer_class=SkipInputSerializer)
    def skip(self, request, study_uuid=None, uuid=None):
        """Skip the task for a reason; it is never offered to you again. A submitted task cannot be skipped (409)."""
        assignment = self.get_assignment()
        form = SkipInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            skip_assignment(assignment, form.validated_data["reason"], form.validated_data["note"])
        except SkipRejected as exc:
            raise Conflict(str(exc)) from exc

        study = assignment.item.study
        result = {
            "assignment": assignment.uuid,
            "study_open": study.status == StudyStatus.OPEN,
            "progress": progress_data(study, request.user),
        }
        return ApiResponse(SkippedSerializer(result).data)


def _answer_error(error: InvalidAnswer) -> ValidationError:
    """Name the criterion's answer as the field at fault, such as answers.overall."""
    if error.criterion_name is None:
        return ValidationError({"answers": [str(error)]})
    return ValidationError({"answers": {error.criterion_name: [str(error)]}})


class JudgmentViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your judgments in one study: read one, and change your last one while the study is open."""

    serializer_class = JudgmentSerializer
    lookup_field = "uuid"
    lookup_value_converter = "uuid"

    def get_judgment(self):
        study = get_study_for_annotator(self.request.user, self.kwargs["study_uuid"])
        return get_judgment_for_annotator(self.request.user, study, self.kwargs["uuid"])

    def retrieve(self, request, study_uuid=None, uuid=None):
        """Read one of your judgments with the task as you saw it and your answers by screen label."""
        judgment = self.get_judgment()
        problem = revision_problem(judgment)
        data = {
            "judgment": judgment.uuid,
            "task": task_data(judgment.assignment, criteria_data(judgment.item.study)),
            "answers": screen_answers(judgment),
            "rationale": judgment.rationale,
            "can_change": problem is None,
            "reason": problem,
        }
        return ApiResponse(JudgmentSerializer(data).data)

    @extend_schema(
        request=JudgmentInputSerializer,
        responses={200: SubmittedSerializer, 403: ErrorSerializer, 409: ErrorSerializer},
    )
    @action(detail=True, methods=["post"], serializer_class=JudgmentInputSerializer)
    def revise(self, request, study_uuid=None, uuid=None):
        """Replace the answers of your last judgment in an open study; any other judgment gives 409.

        A manager's pause of your work on the study, or one by the study's
        qualification rule, gives 403 and changes nothing.
        """
        judgment = self.get_judgment()
        form = JudgmentInputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            revised = revise_judgment(
                judgment, data["answers"], rationale=data["rationale"], time_on_task=data.get("time_on_task")
            )
        except InvalidAnswer as exc:
            raise _answer_error(exc) from exc
        except AnnotatorPaused as exc:
            raise PermissionDenied(str(exc)) from exc
        except RevisionRejected as exc:
            raise Conflict(str(exc)) from exc

        study = revised.item.study
        result = {
            "judgment": revised.uuid,
            "study_open": study.status == StudyStatus.OPEN,
            "progress": progress_data(study, request.user),
        }
        return ApiResponse(SubmittedSerializer(result).data)
