from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from generation.models import GenerationRun, LanguageModel, Prompt, PromptSet, Response


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
    list_display = ["__str__", "prompt_set", "status", "progress", "temperature", "max_new_tokens", "finished_at"]
    list_filter = ["status", "prompt_set"]
    list_select_related = ["model", "prompt_set"]
    readonly_fields = ["uuid", "status", "error", "created_at", "started_at", "finished_at"]

    def get_readonly_fields(self, request, obj=None):
        # Responses and study items hang off a run; moving it to another
        # model or prompt set, or changing its decoding, would mislabel them.
        if obj is not None:
            return [field.name for field in obj._meta.fields if field.name != "id"]
        return self.readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(response_count=Count("responses"))

    @admin.display(description=_("responses"), ordering="response_count")
    def progress(self, obj):
        return obj.response_count


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["__str__", "token_count", "finish_reason", "latency"]
    list_filter = ["run", "finish_reason"]
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
