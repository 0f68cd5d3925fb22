from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods

from generation.admin_deletes import AnnouncedDeleteAdminMixin
from generation.flags import Flag, flag_counts, flagged
from generation.forms import GenerationRunAddForm, PromptImportForm, ResponseImportForm
from generation.models import (
    BenchmarkResult,
    BenchmarkRun,
    GenerationRun,
    LanguageModel,
    Prompt,
    PromptSet,
    Response,
    RunStatus,
)
from generation.progress import format_duration, run_progress, with_progress
from generation.prompt_import import PromptImportError
from generation.response_import import ResponseImportError
from generation.run_start import StartOutcome, start_or_resume, take_over
from generation.runs import DECODING_FIELDS
from generation.uploads import import_uploaded_prompts, import_uploaded_responses
from humeval.policy import Kind
from humeval.policy_admin import PolicyAdminMixin, PolicyInlineMixin

# Seconds between reloads of a running run's progress page.
PROGRESS_REFRESH_SECONDS = 5


@admin.register(LanguageModel)
class LanguageModelAdmin(AnnouncedDeleteAdminMixin, PolicyAdminMixin, admin.ModelAdmin):
    policy_kind = Kind.GENERATION
    list_display = [
        "name",
        "backend",
        "source",
        "gguf_file",
        "worker_queue",
        "use_chat_template",
        "temperature",
        "max_new_tokens",
    ]
    list_filter = ["backend", "worker_queue"]
    search_fields = ["name", "source"]
    # Servers of the openai backend often use plain HTTP inside a cluster, so a URL typed without a scheme gets http://.
    formfield_overrides = {models.URLField: {"assume_scheme": "http"}}
    readonly_fields = ["uuid", "created_at", "new_run_link"]
    # The settings `manage.py add_model` takes, grouped as its help lists them.
    fieldsets = [
        (None, {"fields": ["name", "backend", "source", "gguf_file", "revision", "base_url", "dtype"]}),
        (_("Prompting"), {"fields": ["use_chat_template", "prompt_template", "stop_strings"]}),
        (
            _("Default decoding"),
            {
                "fields": ["temperature", "top_p", "max_new_tokens", "repetition_penalty", "seed"],
                "description": _("New generation runs of this model start from these settings."),
            },
        ),
        (_("Workers"), {"fields": ["worker_queue"]}),
        (_("Record"), {"fields": ["uuid", "created_at", "new_run_link"]}),
    ]

    @admin.display(description=_("generation"))
    def new_run_link(self, model):
        """Link to the add page of a generation run, pre-filled with this model and its decoding defaults."""
        if model.pk is None:
            return "-"
        url = f"{reverse('admin:generation_generationrun_add')}?model={model.pk}"
        return format_html('<a href="{}">{}</a>', url, _("Add a generation run with this model's defaults"))


class PromptInline(PolicyInlineMixin, admin.TabularInline):
    model = Prompt
    policy_kind = Kind.GENERATION
    fields = ["position", "external_id", "category", "language", "text"]
    extra = 0
    show_change_link = True


@admin.register(PromptSet)
class PromptSetAdmin(AnnouncedDeleteAdminMixin, PolicyAdminMixin, admin.ModelAdmin):
    policy_kind = Kind.GENERATION
    list_display = ["name", "prompt_count", "source", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["uuid", "created_at"]
    inlines = [PromptInline]
    change_list_template = "generation/admin/promptset_change_list.html"

    def get_urls(self):
        view = self.admin_site.admin_view(require_http_methods(["GET", "POST"])(self.import_prompts_view))
        return [path("import/", view, name="generation_promptset_import"), *super().get_urls()]

    def import_prompts_view(self, request):
        """Create a prompt set from an uploaded JSONL or CSV file; show every error of a bad file."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = PromptImportForm(request.POST or None, request.FILES or None)
        import_error = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                prompt_set = import_uploaded_prompts(
                    data["file"],
                    data["name"],
                    description=data["description"],
                    default_language=data["language"],
                    first_turn_only=data["first_turn_only"],
                )
            except PromptImportError as exc:
                import_error = exc
            else:
                count = prompt_set.prompts.count()
                message = ngettext(
                    "Imported %(count)d prompt into prompt set “%(name)s”.",
                    "Imported %(count)d prompts into prompt set “%(name)s”.",
                    count,
                ) % {"count": count, "name": prompt_set.name}
                self.message_user(request, message, messages.SUCCESS)
                return redirect("admin:generation_promptset_change", prompt_set.pk)
        return _import_page(self, request, form, import_error, _("Import prompts"))

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(prompt_count=Count("prompts"))

    @admin.display(description=_("prompts"), ordering="prompt_count")
    def prompt_count(self, obj):
        return obj.prompt_count


@admin.register(Prompt)
class PromptAdmin(PolicyAdminMixin, admin.ModelAdmin):
    policy_kind = Kind.GENERATION
    list_display = ["__str__", "prompt_set", "category", "language"]
    list_filter = ["prompt_set", "category", "language"]
    search_fields = ["text", "external_id"]
    readonly_fields = ["uuid"]


@admin.register(GenerationRun)
class GenerationRunAdmin(AnnouncedDeleteAdminMixin, PolicyAdminMixin, admin.ModelAdmin):
    policy_kind = Kind.GENERATION
    list_display = [
        "__str__",
        "prompt_set",
        "status",
        "progress",
        "tokens_per_second",
        "time_left",
        "temperature",
        "max_new_tokens",
        "finished_at",
    ]
    list_filter = ["status", "prompt_set"]
    list_select_related = ["model", "prompt_set"]
    readonly_fields = [
        "uuid",
        "status",
        "error",
        "worker_task_id",
        "generated_seconds",
        "created_at",
        "started_at",
        "finished_at",
    ]
    actions = ["start_selected", "take_over_selected"]
    change_list_template = "generation/admin/generationrun_change_list.html"
    change_form_template = "generation/admin/generationrun_change_form.html"

    add_fieldsets = [
        (None, {"fields": ["model", "prompt_set", "label"]}),
        (
            _("Decoding"),
            {
                "fields": ["temperature", "top_p", "max_new_tokens", "repetition_penalty", "seed"],
                "description": _(
                    "Saving starts the run. Empty fields take the chosen model's defaults, which its model page lists."
                ),
            },
        ),
        (None, {"fields": ["batch_size", "prompt_limit"]}),
    ]
    change_fieldsets = [
        (
            _("Progress"),
            {
                "fields": [
                    "status",
                    "progress",
                    "tokens_per_second",
                    "time_left",
                    "started_at",
                    "finished_at",
                    "generated_seconds",
                    "error",
                    "answer_flags",
                ]
            },
        ),
        (
            _("Settings"),
            {
                "fields": [
                    "model",
                    "prompt_set",
                    "label",
                    "temperature",
                    "top_p",
                    "max_new_tokens",
                    "repetition_penalty",
                    "seed",
                    "batch_size",
                    "prompt_limit",
                ]
            },
        ),
        (_("Record"), {"fields": ["uuid", "worker_task_id", "created_at"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.change_fieldsets

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = GenerationRunAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        # Responses and study items hang off a run; moving it to another
        # model or prompt set, or changing its decoding, would mislabel them.
        if obj is not None:
            fields = [field.name for field in obj._meta.fields if field.name != "id"]
            return [*fields, "progress", "tokens_per_second", "time_left", "answer_flags"]
        return self.readonly_fields

    def get_changeform_initial_data(self, request):
        """Pre-fill a new run's decoding settings from the model named in `?model=<id>`."""
        initial = super().get_changeform_initial_data(request)
        model = LanguageModel.objects.filter(pk=initial.get("model")).first() if initial.get("model") else None
        if model is not None:
            for name in DECODING_FIELDS:
                initial.setdefault(name, getattr(model, name))
        return initial

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            # The run is queued once the admin's transaction commits (see dispatch.start_run).
            self._report(request, start_or_resume(obj))

    def get_queryset(self, request):
        return with_progress(super().get_queryset(request))

    def get_urls(self):
        urls = [
            path(
                "import-responses/",
                self.admin_site.admin_view(require_http_methods(["GET", "POST"])(self.import_responses_view)),
                name="generation_generationrun_import",
            ),
            path(
                "<path:object_id>/progress/",
                self.admin_site.admin_view(require_GET(self.progress_view)),
                name="generation_generationrun_progress",
            ),
        ]
        return [*urls, *super().get_urls()]

    @admin.display(description=_("responses"), ordering="progress_done")
    def progress(self, obj):
        progress = run_progress(obj)
        return f"{progress.done}/{progress.total}"

    @admin.display(description=_("tokens/s"))
    def tokens_per_second(self, obj):
        rate = run_progress(obj).tokens_per_second
        return "-" if rate is None else f"{rate:.1f}"

    @admin.display(description=_("time left (estimate)"))
    def time_left(self, obj):
        seconds = run_progress(obj).seconds_left
        return "-" if seconds is None else format_duration(seconds)

    @admin.display(description=_("answer flags"))
    def answer_flags(self, obj):
        """Show the number of flagged responses per flag, each linked to the filtered response list."""
        changelist = reverse("admin:generation_response_changelist")
        rows = []
        for flag, count in flag_counts(obj).items():
            url = f"{changelist}?run__id__exact={obj.pk}&{ResponseFlagFilter.parameter_name}={flag.value}"
            rows.append((flag.label, url, count))
        return format_html_join(", ", '{}: <a href="{}">{}</a>', rows)

    @admin.action(description=_("Start or resume the selected runs"), permissions=["change"])
    def start_selected(self, request, queryset):
        for run in queryset.select_related("model", "prompt_set"):
            self._report(request, start_or_resume(run))

    @admin.action(description=_("Take over the selected running runs"), permissions=["change"])
    def take_over_selected(self, request, queryset):
        """Ask for confirmation on an intermediate page, then restart the runs with force."""
        runs = list(queryset.select_related("model", "prompt_set"))
        if request.POST.get("post") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": _("Take over running generation runs?"),
                "opts": self.opts,
                "runs": runs,
                "running": [run for run in runs if run.status == RunStatus.RUNNING],
                "visibility_timeout": settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"],
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "generation/admin/take_over_confirmation.html", context)
        for run in runs:
            self._report(request, take_over(run))
        return None

    def progress_view(self, request, object_id):
        """Show one run's progress on a page that reloads itself while the run is pending or running."""
        run = self.get_object(request, unquote(object_id))
        if run is None:
            raise Http404(_("No generation run with this id."))
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        progress = run_progress(run)
        active = run.status in (RunStatus.PENDING, RunStatus.RUNNING)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Progress of %(run)s") % {"run": run.system_name},
            "opts": self.opts,
            "run": run,
            "progress": progress,
            "percent": round(100 * progress.done / progress.total) if progress.total else 100,
            "tokens_per_second": self.tokens_per_second(run),
            "time_left": self.time_left(run),
            "refresh_seconds": PROGRESS_REFRESH_SECONDS if active else None,
        }
        return TemplateResponse(request, "generation/admin/generationrun_progress.html", context)

    def import_responses_view(self, request):
        """Store answers from an uploaded file as a completed run; show every error of a bad file."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ResponseImportForm(request.POST or None, request.FILES or None)
        import_error = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                result = import_uploaded_responses(data["file"], data["model"], data["prompt_set"], label=data["label"])
            except ResponseImportError as exc:
                import_error = exc
            else:
                self._report_import(request, result)
                return redirect("admin:generation_generationrun_change", result.run.pk)
        return _import_page(self, request, form, import_error, _("Import responses"))

    def _report_import(self, request, result):
        message = ngettext(
            "Imported %(count)d response into run “%(run)s”.",
            "Imported %(count)d responses into run “%(run)s”.",
            result.imported,
        ) % {"count": result.imported, "run": result.run.system_name}
        self.message_user(request, message, messages.SUCCESS)
        if result.unanswered:
            warning = ngettext(
                "%(count)d prompt of prompt set “%(prompt_set)s” has no answer in the file.",
                "%(count)d prompts of prompt set “%(prompt_set)s” have no answer in the file.",
                result.unanswered,
            ) % {"count": result.unanswered, "prompt_set": result.run.prompt_set.name}
            self.message_user(request, warning, messages.WARNING)

    def _report(self, request, result):
        """Tell the user what happened to one run that was to be started."""
        message, level = start_message(result)
        self.message_user(request, message, level)


def start_message(result) -> tuple[str, int]:
    """Return the admin message and its level for a `StartResult`."""
    values = {
        "run": result.run.system_name,
        "missing": result.missing,
        "total": result.total,
        "queue": result.queue,
        "started_at": formats.localize(timezone.localtime(result.run.started_at)) if result.run.started_at else "-",
    }
    if result.outcome == StartOutcome.ALREADY_RUNNING:
        text = _(
            "“%(run)s” is already running (started %(started_at)s). If its worker died and will not come back, "
            "use “Take over the selected running runs”."
        )
        return text % values, messages.WARNING
    if result.outcome == StartOutcome.NOTHING_MISSING:
        return _("“%(run)s” is complete: all %(total)d prompts have a response.") % values, messages.INFO
    if result.outcome == StartOutcome.IMPORTED_ANSWERS:
        text = _("“%(run)s” is a model with imported answers, so it cannot generate. Use “Import responses”.")
        return text % values, messages.ERROR
    if result.outcome == StartOutcome.NOT_RUNNING:
        text = _("“%(run)s” is not running, so there is nothing to take over. Use “Start or resume the selected runs”.")
        return text % values, messages.WARNING
    if result.in_process:
        text = _("Started “%(run)s” in this server process: %(missing)d of %(total)d prompts to answer.")
    elif result.queue:
        text = _("Sent “%(run)s” to worker queue %(queue)s: %(missing)d of %(total)d prompts to answer.")
    else:
        text = _("Sent “%(run)s” to the default worker queue: %(missing)d of %(total)d prompts to answer.")
    return text % values, messages.SUCCESS


def _import_page(model_admin, request, form, import_error, title):
    """Render the upload form of an import, with the file's errors when the import failed."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.opts,
        "form": form,
        "import_error": import_error,
        "has_view_permission": model_admin.has_view_permission(request),
    }
    return TemplateResponse(request, "generation/admin/import_file.html", context)


class ResponseFlagFilter(admin.SimpleListFilter):
    """Filter responses by answer flag (see `generation.flags`)."""

    title = _("flag")
    parameter_name = "flag"

    def lookups(self, request, model_admin):
        return Flag.choices

    def queryset(self, request, queryset):
        if self.value() not in Flag.values:
            return queryset
        return flagged(queryset, Flag(self.value()))


@admin.register(Response)
class ResponseAdmin(PolicyAdminMixin, admin.ModelAdmin):
    policy_kind = Kind.GENERATION
    list_display = ["__str__", "token_count", "finish_reason", "latency"]
    list_filter = ["run", "finish_reason", ResponseFlagFilter]
    list_select_related = ["run__model", "prompt"]
    search_fields = ["text", "prompt__external_id"]

    # Responses are model output that annotators judge: never edited by hand.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("latency (seconds)"), ordering="latency_seconds")
    def latency(self, response):
        return f"{response.latency_seconds:.2f}"


class ReadOnlyAdmin(PolicyAdminMixin, admin.ModelAdmin):
    """Admin that lists and shows rows but never adds, edits or deletes them."""

    policy_kind = Kind.GENERATION

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BenchmarkResult)
class BenchmarkResultAdmin(ReadOnlyAdmin):
    """Automatic benchmark scores; `run_benchmarks` and `import_lm_eval` write them."""

    list_display = ["model", "task", "shots", "metric", "filter", "value_display", "stderr_display", "sample_count"]
    list_filter = ["model", "task", "shots", "source", "metric"]
    list_select_related = ["model"]
    search_fields = ["task", "metric", "model__name"]

    @admin.display(description=_("value"), ordering="value")
    def value_display(self, result):
        return f"{result.value:.4f}"

    @admin.display(description=_("standard error"), ordering="stderr")
    def stderr_display(self, result):
        return "-" if result.stderr is None else f"{result.stderr:.4f}"


@admin.register(BenchmarkRun)
class BenchmarkRunAdmin(ReadOnlyAdmin):
    """Benchmark runs and their progress; `manage.py run_benchmarks` starts them."""

    list_display = ["model", "task_list", "status", "progress", "current_task", "created_at", "finished_at"]
    list_filter = ["status", "model"]
    list_select_related = ["model"]

    @admin.display(description=_("tasks"))
    def task_list(self, run):
        return ", ".join(run.tasks)

    @admin.display(description=_("tasks done"))
    def progress(self, run):
        return f"{run.tasks_done}/{len(run.tasks)}"
