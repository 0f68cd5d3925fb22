"""REST API for running studies, under /api/v1/studies/: the study manager's side.

This module has the studies with their criteria, the status actions (open,
pause, close, reopen) and study progress. The items of a study and their
gold answers are in annotate.item_api, the annotators of a study in
annotate.study_annotator_api, and the annotator's own side (next task,
submit, skip) in annotate.task_api. `register_routes` registers them all.
Who may act is decided in annotate.api_access.

The views only translate between HTTP and the service modules, which the
admin and the management commands use as well: annotate.items and
annotate.lifecycle for status changes, annotate.study_changes for what
existing items forbid, annotate.study_edits for writing a study, and
annotate.progress for figures.
"""

from django.db import IntegrityError
from django.db.models import Count, IntegerField, OuterRef, Prefetch, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response as ApiResponse

from annotate import task_api
from annotate.api_access import CanManageStudies
from annotate.audit import record_event
from annotate.errors import InvalidStatusChange, StudyNotReady
from annotate.invitations import signup_path, turn_off_signup, turn_on_signup
from annotate.item_api import ItemViewSet
from annotate.items import unknown_categories
from annotate.lifecycle import close_study, open_draft_study, outstanding_leases, pause_study, reopen_study
from annotate.models import MAX_SCALE_POINTS, AuditAction, Criterion, Item, Study, StudyKind, StudyStatus
from annotate.progress import study_progress
from annotate.study_annotator_api import StudyAnnotatorViewSet
from annotate.study_changes import unsafe_changes, unsafe_criterion_changes
from annotate.study_edits import CRITERION_FIELDS, save_study_design
from generation.api import INT_MAX
from generation.models import GenerationRun, PromptSet
from humeval.api import Conflict, RejectUnknownFieldsMixin, UUIDRelatedField
from humeval.api_schema import ErrorSerializer


def register_routes(router) -> None:
    """Add the study manager's and the annotator's viewsets to the API router."""
    router.register("studies", StudyViewSet, basename="study")
    router.register("studies/<uuid:study_uuid>/items", ItemViewSet, basename="study-item")
    router.register("studies/<uuid:study_uuid>/annotators", StudyAnnotatorViewSet, basename="study-annotator")
    task_api.register_routes(router)


# Serializers: studies


class CriterionSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Criterion
        fields = ["uuid", "position", *CRITERION_FIELDS]
        read_only_fields = ["uuid", "position"]
        extra_kwargs = {
            "scale_min": {"min_value": 0, "max_value": 32767},
            "scale_max": {"min_value": 0, "max_value": 32767},
        }


class StudySerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    """A study with its criteria. The list of criteria, when sent, replaces the current one; order is position."""

    prompt_set = UUIDRelatedField(queryset=PromptSet.objects.all(), help_text=_("UUID of the prompt set."))
    prompt_set_name = serializers.CharField(source="prompt_set.name", read_only=True)
    systems = UUIDRelatedField(
        queryset=GenerationRun.objects.select_related("model", "prompt_set"),
        many=True,
        required=False,
        help_text=_("UUIDs of the generation runs to compare, all on the study's prompt set."),
    )
    system_names = serializers.SerializerMethodField()
    categories = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        help_text=_("Judge only prompts of these categories. Empty: every prompt of the set."),
    )
    criteria = CriterionSerializer(many=True, required=False)
    item_count = serializers.IntegerField(read_only=True, help_text=_("Items built, gold items included."))
    annotator_count = serializers.IntegerField(read_only=True)
    signup_link = serializers.SerializerMethodField()

    class Meta:
        model = Study
        fields = [
            "uuid",
            "name",
            "kind",
            "status",
            "prompt_set",
            "prompt_set_name",
            "systems",
            "system_names",
            "categories",
            "pairs_per_prompt",
            "instructions",
            "overlap",
            "lease_minutes",
            "gold_rate",
            "qualification_min_accuracy",
            "qualification_min_gold",
            "criteria",
            "item_count",
            "annotator_count",
            "signup_link",
            "created_at",
        ]
        read_only_fields = ["uuid", "status", "created_at"]
        extra_kwargs = {
            "overlap": {"min_value": 1, "max_value": INT_MAX},
            "pairs_per_prompt": {"min_value": 1, "max_value": INT_MAX},
            "gold_rate": {"min_value": 0, "max_value": 1},
            "qualification_min_accuracy": {"min_value": 0, "max_value": 1},
            "qualification_min_gold": {"max_value": INT_MAX},
        }

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_system_names(self, study):
        return [run.system_name for run in study.systems.all()]

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_signup_link(self, study):
        path = signup_path(study)
        if not path:
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def validate_criteria(self, criteria):
        """Fill in the defaults of left-out fields, and check names and scales entry by entry."""
        errors = [{} for _entry in criteria]
        seen = {}
        for index, entry in enumerate(criteria):
            for field in CRITERION_FIELDS:
                entry.setdefault(field, Criterion._meta.get_field(field).get_default())
            if entry["name"] in seen:
                errors[index]["name"] = [
                    gettext("“%(name)s” is already the name of criterion %(first)d; give each criterion its own name.")
                    % {"name": entry["name"], "first": seen[entry["name"]] + 1}
                ]
            seen.setdefault(entry["name"], index)
            if entry["scale_max"] <= entry["scale_min"]:
                errors[index]["scale_max"] = [
                    gettext("The highest score must be above the lowest score (%(low)d).") % {"low": entry["scale_min"]}
                ]
            elif entry["scale_max"] - entry["scale_min"] + 1 > MAX_SCALE_POINTS:
                errors[index]["scale_max"] = [
                    gettext("A scale has at most %(most)d points; this one has %(points)d.")
                    % {"most": MAX_SCALE_POINTS, "points": entry["scale_max"] - entry["scale_min"] + 1}
                ]
        if any(errors):
            raise ValidationError(errors)
        return criteria

    def validate(self, attrs):
        """Check the study as a whole, with the rules the admin form applies, and what its items forbid."""
        study = self.instance or Study()
        kind = attrs.get("kind", study.kind)
        prompt_set = attrs.get("prompt_set", study.prompt_set if study.prompt_set_id else None)
        errors: dict[str, list[str]] = {}

        # `status` is read-only, so DRF would drop a new value without a word.
        requested_status = self.initial_data.get("status") if isinstance(self.initial_data, dict) else None
        if requested_status is not None and requested_status != (study.status or StudyStatus.DRAFT):
            errors.setdefault("status", []).append(
                gettext("The status changes only through the open/, pause/, close/ and reopen/ actions.")
            )

        categories = attrs.get("categories", study.categories)
        unknown = unknown_categories(prompt_set, categories) if prompt_set is not None else []
        if unknown:
            errors.setdefault("categories", []).append(_unknown_categories_message(prompt_set, unknown))
        pairs_per_prompt = attrs.get("pairs_per_prompt", study.pairs_per_prompt)
        if kind == StudyKind.RATING and pairs_per_prompt is not None:
            errors.setdefault("pairs_per_prompt", []).append(
                gettext(
                    "Pairs per prompt apply to pairwise studies only; a rating study judges every response. "
                    "Leave it empty."
                )
            )
        if "systems" in attrs:
            systems = attrs["systems"]
        elif study.pk:
            systems = list(study.systems.all())
        else:
            systems = []
        for run in systems:
            if prompt_set is not None and run.prompt_set_id != prompt_set.pk:
                errors.setdefault("systems", []).append(
                    gettext("System “%(system)s” answers prompt set “%(run_set)s”, not “%(study_set)s”.")
                    % {"system": run.system_name, "run_set": run.prompt_set.name, "study_set": prompt_set.name}
                )

        changes = {key: attrs[key] for key in ("kind", "prompt_set", "categories", "pairs_per_prompt") if key in attrs}
        if "systems" in attrs:
            changes["systems"] = attrs["systems"]
        for field, message in unsafe_changes(study, **changes).items():
            errors.setdefault(field, []).append(message)
        if "criteria" in attrs:
            for field, message in unsafe_criterion_changes(study, attrs["criteria"]):
                errors.setdefault(field, []).append(message)

        if errors:
            raise ValidationError(errors)
        return attrs

    def create(self, validated_data):
        return self._save(Study(), validated_data)

    def update(self, instance, validated_data):
        return self._save(instance, validated_data)

    def _save(self, study: Study, data: dict) -> Study:
        data = dict(data)
        systems = data.pop("systems", [] if study.pk is None else None)
        criteria = data.pop("criteria", [] if study.pk is None else None)
        try:
            saved = save_study_design(study, data, systems=systems, criteria=criteria)
        except IntegrityError as exc:
            raise ValidationError(
                {"name": [gettext("A study with this name was created meanwhile; choose another name.")]}
            ) from exc
        except StudyNotReady as exc:
            raise ValidationError({"systems": [str(exc)]}) from exc
        return saved.study


def _unknown_categories_message(prompt_set: PromptSet, unknown: list) -> str:
    known = sorted(set(prompt_set.prompts.exclude(category="").values_list("category", flat=True)))
    return gettext("Prompt set “%(set)s” has no prompt of category %(unknown)s. Its categories are: %(known)s.") % {
        "set": prompt_set.name,
        "unknown": ", ".join(f"“{category}”" for category in unknown),
        "known": ", ".join(known) or gettext("none"),
    }


class StudyFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=StudyStatus.choices, required=False, help_text=_("Only studies in this status.")
    )
    kind = serializers.ChoiceField(choices=StudyKind.choices, required=False, help_text=_("Only studies of this kind."))


class StudyChangeSerializer(serializers.Serializer):
    """The outcome of a status action: the study as it is now and what the action did."""

    study = StudySerializer()
    items_created = serializers.IntegerField(help_text=_("Items built by this action."))
    leases_outstanding = serializers.IntegerField(
        help_text=_("Unexpired leases: tasks annotators may still submit, and whose judgments are stored.")
    )


class StudyProgressSerializer(serializers.Serializer):
    measured_at = serializers.DateTimeField()
    overlap = serializers.IntegerField(help_text=_("Judgments wanted per item."))
    items = serializers.IntegerField(help_text=_("Regular items; gold items are counted apart."))
    items_complete = serializers.IntegerField(help_text=_("Regular items whose counted judgments reach the overlap."))
    items_open = serializers.IntegerField()
    gold_items = serializers.IntegerField()
    judgments = serializers.IntegerField(help_text=_("Every stored judgment, surplus and gold ones included."))
    counted_judgments = serializers.IntegerField(help_text=_("Judgments on regular items that are not surplus."))
    surplus_judgments = serializers.IntegerField(help_text=_("Surplus judgments on regular items."))
    gold_judgments = serializers.IntegerField()
    skips = serializers.IntegerField()
    judgments_needed = serializers.IntegerField(help_text=_("Judgments the regular items still lack."))
    percent_complete = serializers.FloatField(help_text=_("Share of the judgment slots filled, from 0 to 100."))
    leases_outstanding = serializers.IntegerField()
    leases_expired = serializers.IntegerField(help_text=_("Leases that ran out without a submit or a skip."))
    annotators = serializers.SerializerMethodField(help_text=_("Members and everyone else who worked in the study."))

    @extend_schema_field(OpenApiTypes.INT)
    def get_annotators(self, progress):
        return len(progress.annotators)


class SignupLinkSerializer(serializers.Serializer):
    signup_link = serializers.URLField(allow_null=True, help_text=_("The study's sign-up link; null when it is off."))


# Views: studies


@extend_schema_view(
    list=extend_schema(parameters=[StudyFilterSerializer]),
)
class StudyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Studies: list, read, create (as a draft) and change, with their criteria; status actions; progress."""

    serializer_class = StudySerializer
    permission_classes = [CanManageStudies]
    lookup_field = "uuid"
    lookup_value_converter = "uuid"

    def get_queryset(self):
        studies = self.get_permissions()[0].studies_for(self.request, self)
        return with_counts(studies).order_by("-created_at", "pk")

    def filter_queryset(self, queryset):
        if self.action != "list":
            return queryset
        filters = StudyFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        for field in ("status", "kind"):
            if field in filters.validated_data:
                queryset = queryset.filter(**{field: filters.validated_data[field]})
        return queryset

    def perform_create(self, serializer):
        serializer.save()
        # The creator manages the new study; site admins are listed too, so the study names who set it up.
        serializer.instance.managers.add(self.request.user)
        record_event(self.request.user, AuditAction.CREATED, serializer.instance, {"via": "api"})
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def perform_update(self, serializer):
        serializer.save()
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    @extend_schema(request=None, responses={200: StudyChangeSerializer, 409: ErrorSerializer})
    @action(detail=True, methods=["post"], url_path="open", url_name="open")
    def open_study(self, request, uuid=None):
        """Open a draft study: check it and build its items. A paused or closed study is reopened with reopen/."""
        study = self.get_object()
        if study.status == StudyStatus.OPEN:
            raise Conflict(gettext("Study “%(study)s” is already open.") % {"study": study.name})
        if study.status != StudyStatus.DRAFT:
            raise Conflict(
                gettext("Study “%(study)s” is %(status)s; reopen it instead.")
                % {"study": study.name, "status": study.get_status_display()}
            )
        try:
            created = open_draft_study(study, actor=request.user)
        except StudyNotReady as exc:
            raise Conflict(str(exc)) from exc
        return self._changed(study, items_created=created)

    @extend_schema(request=None, responses={200: StudyChangeSerializer, 409: ErrorSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request, uuid=None):
        """Pause an open study: no new task is handed out; leases already given run until they expire."""
        study = self.get_object()
        try:
            pause_study(study, actor=request.user)
        except InvalidStatusChange as exc:
            raise Conflict(str(exc)) from exc
        return self._changed(study)

    @extend_schema(request=None, responses={200: StudyChangeSerializer, 409: ErrorSerializer})
    @action(detail=True, methods=["post"])
    def close(self, request, uuid=None):
        """Close an open or paused study; judgments submitted for its outstanding leases are still stored."""
        study = self.get_object()
        try:
            close_study(study, actor=request.user)
        except InvalidStatusChange as exc:
            raise Conflict(str(exc)) from exc
        return self._changed(study)

    @extend_schema(request=None, responses={200: StudyChangeSerializer, 409: ErrorSerializer})
    @action(detail=True, methods=["post"])
    def reopen(self, request, uuid=None):
        """Open a paused or closed study again, building items for any responses its systems gained."""
        study = self.get_object()
        try:
            created = reopen_study(study, actor=request.user)
        except (InvalidStatusChange, StudyNotReady) as exc:
            raise Conflict(str(exc)) from exc
        return self._changed(study, items_created=created)

    def _changed(self, study: Study, items_created: int = 0):
        fresh = self.get_queryset().get(pk=study.pk)
        result = {
            "study": fresh,
            "items_created": items_created,
            "leases_outstanding": outstanding_leases(fresh),
        }
        return ApiResponse(StudyChangeSerializer(result, context=self.get_serializer_context()).data)

    @extend_schema(responses=StudyProgressSerializer)
    @action(detail=True, methods=["get"])
    def progress(self, request, uuid=None):
        """Count the study's items, judgments, skips and leases; per-annotator figures are under annotators/."""
        study = self.get_object()
        return ApiResponse(StudyProgressSerializer(study_progress(study)).data)

    @extend_schema(request=None, responses=SignupLinkSerializer)
    @action(detail=True, methods=["post"], url_path="signup-link", url_name="signup-link")
    def signup_link(self, request, uuid=None):
        """Turn on the study's sign-up link, or keep the one it has, and return it."""
        study = self.get_object()
        turn_on_signup(study)
        return ApiResponse({"signup_link": request.build_absolute_uri(signup_path(study))})

    @extend_schema(request=None, responses=SignupLinkSerializer)
    @signup_link.mapping.delete
    def turn_off_signup_link(self, request, uuid=None):
        """Turn off the sign-up link: it then gives 404, and turning it on again makes a new one."""
        study = self.get_object()
        turn_off_signup(study)
        return ApiResponse({"signup_link": None})


def with_counts(studies):
    """Add `item_count` and `annotator_count` to a study queryset, and fetch what the serializer reads."""
    items = Item.objects.filter(study=OuterRef("pk")).order_by().values("study").annotate(n=Count("pk")).values("n")
    members = (
        Study.annotators.through.objects.filter(study=OuterRef("pk"))
        .order_by()
        .values("study")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        studies.select_related("prompt_set")
        .prefetch_related(
            Prefetch("systems", queryset=GenerationRun.objects.select_related("model").order_by("pk")),
            Prefetch("criteria", queryset=Criterion.objects.order_by("position", "pk")),
        )
        .annotate(
            item_count=Coalesce(Subquery(items, output_field=IntegerField()), Value(0)),
            annotator_count=Coalesce(Subquery(members, output_field=IntegerField()), Value(0)),
        )
    )
