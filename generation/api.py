"""REST API for models, prompt sets, generation runs and their responses, under /api/v1/.

Objects are addressed by UUID. Every endpoint here is for site admins (see
`humeval.api.CanManageGeneration`). Validation, imports and starting runs
live in the service modules (`generation.runs`, `generation.run_start`,
`generation.uploads`, the import modules), which the admin and the commands
use too, so all three behave alike.
"""

import copy

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Count
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response as ApiResponse

from generation.flags import Flag, flag_counts, flagged, flags_by_response
from generation.models import (
    BenchmarkResult,
    BenchmarkSource,
    GenerationRun,
    LanguageModel,
    Prompt,
    PromptSet,
    Response,
    RunStatus,
)
from generation.progress import run_progress, with_progress
from generation.prompt_import import _BCP47, PromptImportError, add_prompt_file
from generation.response_import import DEFAULT_LABEL, ResponseImportError
from generation.run_start import StartOutcome, start_or_resume, take_over
from generation.runs import DECODING_FIELDS, RunSettingError, RunSettingsConflict, get_or_create_run
from generation.uploads import import_uploaded_responses, saved_upload, upload_name
from humeval.api import CanManageGeneration, Conflict, InvalidUpload, RejectUnknownFieldsMixin, UUIDRelatedField
from humeval.api_schema import ErrorSerializer

# Integer model fields are 32-bit in PostgreSQL. SQLite would accept more, so
# the API applies the PostgreSQL range on both databases.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1

# Larger files go through `manage.py import_prompts` or `import_responses`.
MAX_UPLOAD_BYTES = 64 * 1024 * 1024


def register_routes(router) -> None:
    """Add this app's viewsets to the API router."""
    router.register("models", LanguageModelViewSet, basename="model")
    router.register("prompt-sets", PromptSetViewSet, basename="prompt-set")
    router.register("runs", GenerationRunViewSet, basename="run")
    router.register("benchmark-results", BenchmarkResultViewSet, basename="benchmark-result")


# Serializers


class LanguageModelSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    stop_strings = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False),
        required=False,
        help_text=_("Generation stops at the first of these strings."),
    )

    class Meta:
        model = LanguageModel
        fields = [
            "uuid",
            "name",
            "source",
            "gguf_file",
            "revision",
            "backend",
            "base_url",
            "dtype",
            "use_chat_template",
            "prompt_template",
            "stop_strings",
            "temperature",
            "top_p",
            "max_new_tokens",
            "repetition_penalty",
            "seed",
            "worker_queue",
            "created_at",
        ]
        read_only_fields = ["uuid", "created_at"]
        extra_kwargs = {
            # Leading and trailing whitespace in a template is part of the prompt.
            "prompt_template": {"trim_whitespace": False},
            "max_new_tokens": {"max_value": INT_MAX},
            "seed": {"min_value": INT_MIN, "max_value": INT_MAX},
        }

    def validate(self, attrs):
        """Check the settings together with `LanguageModel.clean`, as the admin and `add_model` do."""
        # A copy, so that a rejected update leaves the instance as it was.
        model = LanguageModel() if self.instance is None else copy.copy(self.instance)
        for field, value in attrs.items():
            setattr(model, field, value)
        try:
            model.clean()
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        return attrs


class PromptSetSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    prompt_count = serializers.IntegerField(read_only=True, help_text=_("Number of prompts in the set."))

    class Meta:
        model = PromptSet
        fields = ["uuid", "name", "description", "source", "prompt_count", "created_at"]
        read_only_fields = ["uuid", "source", "created_at"]


class PromptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Prompt
        fields = [
            "uuid",
            "position",
            "external_id",
            "category",
            "language",
            "text",
            "follow_up_turns",
            "reference_answer",
        ]
        read_only_fields = fields


class PromptImportSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    file = serializers.FileField(help_text=_("UTF-8 .jsonl or .csv file; see the import_prompts command for columns."))
    language = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        max_length=35,
        help_text=_("BCP 47 code for rows without a language, such as en or zh-Hans."),
    )
    first_turn_only = serializers.BooleanField(
        required=False, default=False, help_text=_("Keep only the first user turn of multi-turn prompts.")
    )

    def validate_file(self, uploaded):
        return _check_upload_size(uploaded)

    def validate_language(self, value):
        value = value.strip()
        if value and not _BCP47.match(value):
            raise ValidationError(gettext("Enter a BCP 47 language code such as en or zh-Hans."))
        return value


class PromptImportResultSerializer(serializers.Serializer):
    prompt_set = PromptSetSerializer()
    imported = serializers.IntegerField(help_text=_("Number of prompts added."))


class RunProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text=_("Prompts answered."))
    total = serializers.IntegerField(help_text=_("Prompts the run answers."))
    tokens = serializers.IntegerField(help_text=_("Tokens generated so far."))
    seconds = serializers.FloatField(help_text=_("Generation time so far in seconds, excluding model loading."))
    tokens_per_second = serializers.FloatField(
        allow_null=True, help_text=_("Generated tokens per second; null before the first batch is saved.")
    )
    seconds_left = serializers.FloatField(
        allow_null=True, help_text=_("Estimated seconds until every prompt is answered; null with nothing to go on.")
    )


class FlagCountsSerializer(serializers.Serializer):
    empty = serializers.IntegerField()
    cut_off = serializers.IntegerField()
    identical = serializers.IntegerField()


class GenerationRunSerializer(serializers.ModelSerializer):
    model = UUIDRelatedField(read_only=True)
    model_name = serializers.CharField(source="model.name", read_only=True)
    prompt_set = UUIDRelatedField(read_only=True)
    prompt_set_name = serializers.CharField(source="prompt_set.name", read_only=True)
    system_name = serializers.CharField(read_only=True, help_text=_("The model's name plus the variant label."))
    progress = serializers.SerializerMethodField()

    class Meta:
        model = GenerationRun
        fields = [
            "uuid",
            "system_name",
            "model",
            "model_name",
            "prompt_set",
            "prompt_set_name",
            "label",
            *DECODING_FIELDS,
            "batch_size",
            "prompt_limit",
            "status",
            "error",
            "progress",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(RunProgressSerializer)
    def get_progress(self, run):
        return RunProgressSerializer(run_progress(run)).data


class GenerationRunDetailSerializer(GenerationRunSerializer):
    flag_counts = serializers.SerializerMethodField()

    class Meta(GenerationRunSerializer.Meta):
        fields = [*GenerationRunSerializer.Meta.fields, "flag_counts"]
        read_only_fields = fields

    @extend_schema_field(FlagCountsSerializer)
    def get_flag_counts(self, run):
        return {flag.value: count for flag, count in flag_counts(run).items()}


class GenerationRunCreateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """A new run; decoding settings left out or null take the model's defaults."""

    model = UUIDRelatedField(queryset=LanguageModel.objects.all(), help_text=_("UUID of the model."))
    prompt_set = UUIDRelatedField(queryset=PromptSet.objects.all(), help_text=_("UUID of the prompt set."))
    label = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        max_length=100,
        help_text=_("Tells runs of one model apart, such as greedy or t=1.0."),
    )
    temperature = serializers.FloatField(required=False, allow_null=True, help_text=_("0 means greedy decoding."))
    top_p = serializers.FloatField(required=False, allow_null=True)
    max_new_tokens = serializers.IntegerField(required=False, allow_null=True, max_value=INT_MAX)
    repetition_penalty = serializers.FloatField(required=False, allow_null=True)
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=INT_MIN, max_value=INT_MAX)
    batch_size = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=INT_MAX, help_text=_("Prompts per forward pass.")
    )
    prompt_limit = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=INT_MAX,
        help_text=_("Answer only the first N prompts of the set."),
    )


class GenerationRunStartSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    force = serializers.BooleanField(
        required=False,
        default=False,
        help_text=_(
            "Restart the run even though its status is running. Only for a run whose process died "
            "with no Celery worker left to redeliver its task."
        ),
    )


class ResponseImportSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    file = serializers.FileField(
        help_text=_("UTF-8 JSONL, CSV, a FastChat answer file or AlpacaEval model outputs (.json).")
    )
    model = UUIDRelatedField(
        queryset=LanguageModel.objects.all(), help_text=_("UUID of the model that wrote the answers.")
    )
    prompt_set = UUIDRelatedField(
        queryset=PromptSet.objects.all(), help_text=_("UUID of the prompt set the file answers.")
    )
    label = serializers.CharField(
        required=False,
        default=DEFAULT_LABEL,
        allow_blank=True,
        max_length=100,
        help_text=_("Variant label of the new run; the run must not exist yet or must have no responses."),
    )

    def validate_file(self, uploaded):
        return _check_upload_size(uploaded)


class ResponseImportResultSerializer(serializers.Serializer):
    run = GenerationRunSerializer()
    imported = serializers.IntegerField(help_text=_("Number of responses stored."))
    unanswered = serializers.IntegerField(help_text=_("Prompts of the set that the file has no answer for."))


class ResponseSerializer(serializers.ModelSerializer):
    """A response with its answer flags, which the context provides as `flags`, from `flags_by_response`."""

    prompt = UUIDRelatedField(read_only=True)
    prompt_external_id = serializers.CharField(source="prompt.external_id", read_only=True)
    prompt_position = serializers.IntegerField(source="prompt.position", read_only=True)
    flags = serializers.SerializerMethodField()

    class Meta:
        model = Response
        fields = [
            "uuid",
            "prompt",
            "prompt_external_id",
            "prompt_position",
            "text",
            "follow_up_texts",
            "token_count",
            "finish_reason",
            "latency_seconds",
            "flags",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=Flag.choices)))
    def get_flags(self, response):
        return [flag.value for flag in self.context["flags"].get(response.pk, [])]


class ResponseFilterSerializer(serializers.Serializer):
    flag = serializers.ChoiceField(choices=Flag.choices, required=False, help_text=_("Only responses with this flag."))


class GenerationRunFilterSerializer(serializers.Serializer):
    model = serializers.UUIDField(required=False, help_text=_("Only runs of the model with this UUID."))
    prompt_set = serializers.UUIDField(required=False, help_text=_("Only runs on the prompt set with this UUID."))
    status = serializers.ChoiceField(
        choices=RunStatus.choices, required=False, help_text=_("Only runs in this status.")
    )


def _check_upload_size(uploaded):
    if uploaded.size > MAX_UPLOAD_BYTES:
        raise ValidationError(
            gettext(
                "The file is larger than %(limit)d MiB; import it with the management command on the server instead."
            )
            % {"limit": MAX_UPLOAD_BYTES // (1024 * 1024)}
        )
    return uploaded


# Views


class UUIDLookupMixin:
    """Address objects by UUID in URLs; the router's `<uuid:uuid>` converter rejects anything else."""

    lookup_field = "uuid"
    lookup_value_converter = "uuid"
    permission_classes = [CanManageGeneration]


class LanguageModelViewSet(
    UUIDLookupMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Models under study: list, read, register and update. Runs keep the decoding settings they were created with."""

    queryset = LanguageModel.objects.order_by("name")
    serializer_class = LanguageModelSerializer


class PromptSetViewSet(
    UUIDLookupMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Prompt sets: list, read and create; prompts are listed under a set and added by importing a file."""

    queryset = PromptSet.objects.annotate(prompt_count=Count("prompts")).order_by("name")
    serializer_class = PromptSetSerializer

    def perform_create(self, serializer):
        serializer.save()
        # The new object has no annotation; a new set has no prompts.
        serializer.instance.prompt_count = 0

    @extend_schema(responses=PromptSerializer(many=True))
    @action(detail=True, methods=["get"])
    def prompts(self, request, uuid=None):
        """List the prompts of a set in file order, a page at a time."""
        prompt_set = self.get_object()
        page = self.paginate_queryset(prompt_set.prompts.order_by("position"))
        return self.get_paginated_response(PromptSerializer(page, many=True).data)

    @extend_schema(request=PromptImportSerializer, responses={201: PromptImportResultSerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path="import",
        url_name="import",
        parser_classes=[MultiPartParser, FormParser],
        serializer_class=PromptImportSerializer,
    )
    def import_prompts(self, request, uuid=None):
        """Add the prompts of an uploaded JSONL or CSV file to the end of the set; on any error nothing is added."""
        prompt_set = self.get_object()
        form = PromptImportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        uploaded = form.validated_data["file"]
        with saved_upload(uploaded) as path:
            try:
                imported = add_prompt_file(
                    path,
                    prompt_set,
                    default_language=form.validated_data["language"],
                    first_turn_only=form.validated_data["first_turn_only"],
                )
            except PromptImportError as exc:
                raise InvalidUpload(upload_name(uploaded), exc.errors) from None
        PromptSet.objects.filter(pk=prompt_set.pk, source="").update(source=upload_name(uploaded))

        prompt_set = self.get_queryset().get(pk=prompt_set.pk)
        result = {"prompt_set": prompt_set, "imported": imported}
        return ApiResponse(PromptImportResultSerializer(result).data, status=status.HTTP_201_CREATED)


class GenerationRunViewSet(UUIDLookupMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Generation runs: list, read with progress, start and restart, their responses, and imported answers."""

    def get_queryset(self):
        runs = GenerationRun.objects.select_related("model", "prompt_set")
        return with_progress(runs).order_by("model__name", "prompt_set__name", "label", "pk")

    def get_serializer_class(self):
        if self.action == "retrieve":
            return GenerationRunDetailSerializer
        if self.action == "create":
            return GenerationRunCreateSerializer
        return GenerationRunSerializer

    def filter_queryset(self, queryset):
        if self.action != "list":
            return queryset
        filters = GenerationRunFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        if "model" in filters.validated_data:
            queryset = queryset.filter(model__uuid=filters.validated_data["model"])
        if "prompt_set" in filters.validated_data:
            queryset = queryset.filter(prompt_set__uuid=filters.validated_data["prompt_set"])
        if "status" in filters.validated_data:
            queryset = queryset.filter(status=filters.validated_data["status"])
        return queryset

    @extend_schema(parameters=[GenerationRunFilterSerializer])
    def list(self, request, *args, **kwargs):
        """List runs with their progress, optionally only those of one model, prompt set or status."""
        return super().list(request, *args, **kwargs)

    @extend_schema(request=GenerationRunCreateSerializer, responses={201: GenerationRunSerializer})
    def create(self, request, *args, **kwargs):
        """Create a run from a model and a prompt set and start it, as `manage.py generate` does."""
        form = GenerationRunCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        # One transaction, so the run is queued only once it is committed.
        with transaction.atomic():
            try:
                run, created = get_or_create_run(
                    data["model"],
                    data["prompt_set"],
                    label=data["label"],
                    overrides={field: data.get(field) for field in DECODING_FIELDS},
                    batch_size=data.get("batch_size"),
                    prompt_limit=data.get("prompt_limit"),
                )
            except RunSettingError as exc:
                raise ValidationError({exc.field: [exc.message]}) from exc
            except RunSettingsConflict as exc:
                run, created = exc.run, False
            if not created:
                raise ValidationError({"label": [_run_exists_message(run)]})
            start_or_resume(run)

        run = self.get_queryset().get(pk=run.pk)
        return ApiResponse(GenerationRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=GenerationRunStartSerializer, responses={202: GenerationRunSerializer, 409: ErrorSerializer})
    @action(detail=True, methods=["post"], serializer_class=GenerationRunStartSerializer)
    def start(self, request, uuid=None):
        """Start, resume or restart a run; it answers only the prompts that have no response yet."""
        run = self.get_object()
        form = GenerationRunStartSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        with transaction.atomic():
            if form.validated_data["force"] and run.status == RunStatus.RUNNING:
                result = take_over(run)
            else:
                result = start_or_resume(run)
        if result.outcome != StartOutcome.STARTED:
            raise Conflict(_start_refusal(run, result.outcome))

        run = self.get_queryset().get(pk=run.pk)
        return ApiResponse(GenerationRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[
            OpenApiParameter("flag", str, enum=Flag.values, description=str(_("Only responses with this flag.")))
        ],
        responses=ResponseSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def responses(self, request, uuid=None):
        """List a run's responses in prompt order, each with its answer flags, a page at a time."""
        run = self.get_object()
        filters = ResponseFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        responses = run.responses.select_related("prompt").order_by("prompt__position")
        if "flag" in filters.validated_data:
            responses = flagged(responses, Flag(filters.validated_data["flag"]))

        page = self.paginate_queryset(responses)
        flags = flags_by_response(Response.objects.filter(pk__in=[response.pk for response in page]))
        data = ResponseSerializer(page, many=True, context={"flags": flags}).data
        return self.get_paginated_response(data)

    @extend_schema(request=ResponseImportSerializer, responses={201: ResponseImportResultSerializer})
    @action(
        detail=False,
        methods=["post"],
        url_path="import-responses",
        url_name="import-responses",
        parser_classes=[MultiPartParser, FormParser],
        serializer_class=ResponseImportSerializer,
    )
    def import_responses(self, request):
        """Store an uploaded file of answers made elsewhere as a completed run; on any error nothing is stored."""
        form = ResponseImportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            result = import_uploaded_responses(data["file"], data["model"], data["prompt_set"], label=data["label"])
        except ResponseImportError as exc:
            raise InvalidUpload(upload_name(data["file"]), exc.errors) from None

        run = self.get_queryset().get(pk=result.run.pk)
        payload = {"run": run, "imported": result.imported, "unanswered": result.unanswered}
        return ApiResponse(ResponseImportResultSerializer(payload).data, status=status.HTTP_201_CREATED)


class BenchmarkResultSerializer(serializers.ModelSerializer):
    model = UUIDRelatedField(read_only=True)
    model_name = serializers.CharField(source="model.name", read_only=True)
    benchmark_run = UUIDRelatedField(read_only=True, help_text=_("The run_benchmarks call that produced it, if any."))

    class Meta:
        model = BenchmarkResult
        fields = [
            "model",
            "model_name",
            "task",
            "parent_group",
            "shots",
            "metric",
            "filter",
            "value",
            "stderr",
            "sample_count",
            "limit",
            "higher_is_better",
            "source",
            "source_file",
            "benchmark_run",
            "lm_eval_version",
            "evaluated_at",
            "task_config",
            "created_at",
        ]
        read_only_fields = fields


class BenchmarkResultFilterSerializer(serializers.Serializer):
    model = serializers.UUIDField(required=False, help_text=_("Only scores of the model with this UUID."))
    task = serializers.CharField(required=False, help_text=_("Only scores of this lm-evaluation-harness task."))
    source = serializers.ChoiceField(
        choices=BenchmarkSource.choices, required=False, help_text=_("Only scores run here, or only imported ones.")
    )


class BenchmarkResultViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Automatic benchmark scores, read-only. A score is named by model, task, shots, metric and filter."""

    serializer_class = BenchmarkResultSerializer
    permission_classes = [CanManageGeneration]

    def get_queryset(self):
        results = BenchmarkResult.objects.select_related("model", "benchmark_run")
        return results.order_by("model__name", "task", "shots", "metric", "filter", "pk")

    def filter_queryset(self, queryset):
        filters = BenchmarkResultFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        if "model" in filters.validated_data:
            queryset = queryset.filter(model__uuid=filters.validated_data["model"])
        if "task" in filters.validated_data:
            queryset = queryset.filter(task=filters.validated_data["task"])
        if "source" in filters.validated_data:
            queryset = queryset.filter(source=filters.validated_data["source"])
        return queryset

    @extend_schema(parameters=[BenchmarkResultFilterSerializer])
    def list(self, request, *args, **kwargs):
        """List benchmark scores, optionally only those of one model, task or source."""
        return super().list(request, *args, **kwargs)


def _run_exists_message(run: GenerationRun) -> str:
    return gettext(
        "Run %(name)s of this model on this prompt set exists already (%(uuid)s); give another label, "
        "or start the existing run through its start/ URL."
    ) % {"name": repr(run.system_name), "uuid": run.uuid}


def _start_refusal(run: GenerationRun, outcome: StartOutcome) -> str:
    """Return why a run was not started, and what to do instead."""
    if outcome == StartOutcome.ALREADY_RUNNING:
        return gettext(
            "Generation run %(uuid)s is running. If the process that ran it is dead and no Celery worker will "
            'redeliver its task, send {"force": true} to restart it.'
        ) % {"uuid": run.uuid}
    if outcome == StartOutcome.NOTHING_MISSING:
        return gettext("Generation run %(uuid)s is completed: every prompt has a response.") % {"uuid": run.uuid}
    if outcome == StartOutcome.IMPORTED_ANSWERS:
        return gettext(
            "Generation run %(uuid)s holds imported answers, so it cannot generate; import more answers instead."
        ) % {"uuid": run.uuid}
    return gettext("Generation run %(uuid)s was not started.") % {"uuid": run.uuid}
