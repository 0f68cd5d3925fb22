"""Models under study, prompt sets, generation runs and their responses."""

import uuid
from pathlib import PurePath

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from generation.validators import (
    validate_max_new_tokens,
    validate_queue_name,
    validate_repetition_penalty,
    validate_temperature,
    validate_top_p,
)


class Backend(models.TextChoices):
    TRANSFORMERS = "transformers", _("transformers (local weights)")
    OPENAI = "openai", _("OpenAI-compatible server")
    IMPORTED = "imported", _("imported answers")


class Dtype(models.TextChoices):
    AUTO = "auto", _("auto")
    BFLOAT16 = "bfloat16", "bfloat16"
    FLOAT16 = "float16", "float16"
    FLOAT32 = "float32", "float32"


class LanguageModel(models.Model):
    """A language model under study and how to load it."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(
        _("name"), max_length=100, unique=True, help_text=_("Unique name used on the command line and in reports.")
    )
    source = models.CharField(_("source"), max_length=500, help_text=_("Hub id or local folder of the weights."))
    gguf_file = models.CharField(
        _("GGUF file"), max_length=255, blank=True, help_text=_("File name of GGUF weights inside the source folder.")
    )
    revision = models.CharField(_("revision"), max_length=100, blank=True)
    backend = models.CharField(_("backend"), max_length=20, choices=Backend.choices, default=Backend.TRANSFORMERS)
    base_url = models.URLField(_("base URL"), blank=True, help_text=_("Server address for the openai backend."))
    dtype = models.CharField(_("dtype"), max_length=10, choices=Dtype.choices, default=Dtype.AUTO)
    use_chat_template = models.BooleanField(
        _("use chat template"), default=True, help_text=_("Apply the tokenizer's chat template to each prompt.")
    )
    prompt_template = models.TextField(
        _("prompt template"),
        blank=True,
        help_text=_("Template for base models without a chat template; {prompt} marks the prompt."),
    )
    stop_strings = models.JSONField(
        _("stop strings"), default=list, blank=True, help_text=_("Generation stops at the first of these strings.")
    )
    temperature = models.FloatField(
        _("temperature"), default=0.0, validators=[validate_temperature], help_text=_("0 means greedy decoding.")
    )
    top_p = models.FloatField(_("top p"), default=1.0, validators=[validate_top_p])
    max_new_tokens = models.PositiveIntegerField(_("max new tokens"), default=256, validators=[validate_max_new_tokens])
    repetition_penalty = models.FloatField(
        _("repetition penalty"), default=1.0, validators=[validate_repetition_penalty]
    )
    seed = models.IntegerField(_("seed"), default=0)
    worker_queue = models.CharField(
        _("worker queue"),
        max_length=100,
        blank=True,
        validators=[validate_queue_name],
        help_text=_("Celery queue whose workers can hold this model, for example gpu-80gb. Empty: the default queue."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("model")
        verbose_name_plural = _("models")

    def __str__(self):
        return self.name

    def clean(self):
        """Reject settings that cannot load or prompt the model, as `add_model` does."""
        errors = {}
        if self.prompt_template and "{prompt}" not in self.prompt_template:
            errors["prompt_template"] = _("The prompt template must contain {prompt}, where the prompt text goes.")
        elif self.prompt_template and self.use_chat_template:
            errors["use_chat_template"] = _(
                "A model uses either its chat template or a prompt template. Untick this box or clear the prompt template."
            )
        if self.gguf_file and PurePath(self.gguf_file).name != self.gguf_file:
            errors["gguf_file"] = _("Give the file name inside the source folder, not a path.")
        if self.backend == Backend.OPENAI and not self.base_url:
            errors["base_url"] = _("The openai backend needs the server's API root, such as http://localhost:8000/v1.")
        if errors:
            raise ValidationError(errors)


class PromptSet(models.Model):
    """A named collection of designed prompts."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    source = models.CharField(_("source"), max_length=500, blank=True, help_text=_("File the prompts came from."))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("prompt set")
        verbose_name_plural = _("prompt sets")

    def __str__(self):
        return self.name


class Prompt(models.Model):
    """One designed prompt: its first user turn, optional later turns and metadata."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    prompt_set = models.ForeignKey(PromptSet, on_delete=models.CASCADE, related_name="prompts")
    position = models.PositiveIntegerField(_("position"), help_text=_("Order of the prompt in its file."))
    external_id = models.CharField(
        _("external id"), max_length=100, blank=True, help_text=_("The prompt's id in the imported file.")
    )
    category = models.CharField(_("category"), max_length=100, blank=True)
    language = models.CharField(
        _("language"), max_length=35, blank=True, help_text=_("BCP 47 code such as en or zh-Hans.")
    )
    text = models.TextField(_("text"))
    follow_up_turns = models.JSONField(
        _("follow-up turns"), default=list, blank=True, help_text=_("Later user turns, answered in sequence.")
    )
    reference_answer = models.TextField(_("reference answer"), blank=True)

    class Meta:
        ordering = ["prompt_set", "position"]
        verbose_name = _("prompt")
        verbose_name_plural = _("prompts")
        constraints = [
            models.UniqueConstraint(fields=["prompt_set", "position"], name="prompt_unique_position"),
            models.UniqueConstraint(
                fields=["prompt_set", "external_id"],
                condition=~models.Q(external_id=""),
                name="prompt_unique_external_id",
            ),
        ]

    def __str__(self):
        return self.external_id or self.text[:60]


class RunStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    RUNNING = "running", _("running")
    COMPLETED = "completed", _("completed")
    FAILED = "failed", _("failed")


class GenerationRun(models.Model):
    """One model answering one prompt set with one decoding config and seed.

    A study compares runs; in reports a run appears as its system name, the
    model's name plus the variant label.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    model = models.ForeignKey(LanguageModel, on_delete=models.PROTECT, related_name="runs")
    prompt_set = models.ForeignKey(PromptSet, on_delete=models.PROTECT, related_name="runs")
    label = models.CharField(
        _("variant label"),
        max_length=100,
        blank=True,
        help_text=_("Tells runs of one model apart, such as greedy or t=1.0."),
    )
    temperature = models.FloatField(_("temperature"), default=0.0, validators=[validate_temperature])
    top_p = models.FloatField(_("top p"), default=1.0, validators=[validate_top_p])
    max_new_tokens = models.PositiveIntegerField(_("max new tokens"), default=256, validators=[validate_max_new_tokens])
    repetition_penalty = models.FloatField(
        _("repetition penalty"), default=1.0, validators=[validate_repetition_penalty]
    )
    seed = models.IntegerField(_("seed"), default=0)
    batch_size = models.PositiveIntegerField(_("batch size"), default=8)
    prompt_limit = models.PositiveIntegerField(
        _("prompt limit"), null=True, blank=True, help_text=_("Answer only the first N prompts of the set.")
    )
    status = models.CharField(_("status"), max_length=20, choices=RunStatus.choices, default=RunStatus.PENDING)
    error = models.TextField(_("error"), blank=True)
    worker_task_id = models.CharField(
        _("worker task id"), max_length=255, blank=True, help_text=_("Celery task that runs it, if any.")
    )
    generated_seconds = models.FloatField(
        _("generation time (seconds)"),
        default=0.0,
        help_text=_("Wall time spent answering prompts, summed over every attempt of the run; excludes model loading."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["model__name", "label"]
        verbose_name = _("generation run")
        verbose_name_plural = _("generation runs")
        constraints = [
            models.UniqueConstraint(fields=["model", "prompt_set", "label"], name="run_unique_label"),
        ]

    def __str__(self):
        return self.system_name

    @property
    def system_name(self) -> str:
        """Name of the system in reports: the model's name plus the variant label."""
        return f"{self.model.name} {self.label}".strip()

    def prompts(self):
        """Return the prompts this run answers, in file order."""
        prompts = self.prompt_set.prompts.order_by("position")
        if self.prompt_limit is not None:
            prompts = prompts[: self.prompt_limit]
        return prompts


class FinishReason(models.TextChoices):
    STOP = "stop", _("stop")
    LENGTH = "length", _("length")


class Response(models.Model):
    """One run's answer to one prompt."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    run = models.ForeignKey(GenerationRun, on_delete=models.CASCADE, related_name="responses")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses")
    text = models.TextField(_("text"), blank=True)
    follow_up_texts = models.JSONField(
        _("follow-up answers"), default=list, blank=True, help_text=_("Answers to the prompt's later turns, in order.")
    )
    token_count = models.PositiveIntegerField(_("token count"), default=0)
    finish_reason = models.CharField(_("finish reason"), max_length=10, choices=FinishReason.choices)
    latency_seconds = models.FloatField(_("latency (seconds)"), default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "prompt__position"]
        verbose_name = _("response")
        verbose_name_plural = _("responses")
        constraints = [
            # A rerun after a crash must never answer a prompt twice.
            models.UniqueConstraint(fields=["run", "prompt"], name="response_unique_run_prompt"),
        ]

    def __str__(self):
        return f"{self.run} / {self.prompt}"
