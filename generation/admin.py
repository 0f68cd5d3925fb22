from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from generation.flags import Flag, flag_counts, flagged
from generation.models import GenerationRun, LanguageModel, Prompt, PromptSet, Response
from generation.progress import format_duration, run_progress, with_progress


@admin.register(LanguageModel)
class LanguageModelAdmin(admin.ModelAdmin):
    list_display = ["name", "backend", "source", "gguf_file", "use_chat_template", "temperature", "max_new_tokens"]
    list_filter = ["backend"]
    search_fields = ["name", "source"]
    readonly_fields = ["uuid", "created_at"]


class PromptInline(admin.TabularInline):
    model = Prompt
    fields = ["position", "external_id", "category", "language", "text"]
    extra = 0
    show_change_link = True


@admin.register(PromptSet)
class PromptSetAdmin(admin.ModelAdmin):
    list_display = ["name", "prompt_count", "source", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["uuid", "created_at"]
    inlines = [PromptInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(prompt_count=Count("prompts"))

    @admin.display(description=_("prompts"), ordering="prompt_count")
    def prompt_count(self, obj):
        return obj.prompt_count


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["__str__", "prompt_set", "category", "language"]
    list_filter = ["prompt_set", "category", "language"]
    search_fields = ["text", "external_id"]
    readonly_fields = ["uuid"]


@admin.register(GenerationRun)
class GenerationRunAdmin(admin.ModelAdmin):
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
    readonly_fields = ["uuid", "status", "error", "generated_seconds", "created_at", "started_at", "finished_at"]

    def get_readonly_fields(self, request, obj=None):
        # Responses and study items hang off a run; moving it to another
        # model or prompt set, or changing its decoding, would mislabel them.
        if obj is not None:
            fields = [field.name for field in obj._meta.fields if field.name != "id"]
            return [*fields, "progress", "tokens_per_second", "time_left", "answer_flags"]
        return self.readonly_fields

    def get_queryset(self, request):
        return with_progress(super().get_queryset(request))

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
class ResponseAdmin(admin.ModelAdmin):
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
