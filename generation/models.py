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

    uuid = models.UUIDField(_("UUID"), default=uuid.uuid4, unique=True, editable=False)
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
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

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
                "A model uses either its chat template or a prompt template. "
                "Untick this box or clear the prompt template."
            )
        if self.gguf_file and PurePath(self.gguf_file).name != self.gguf_file:
            errors["gguf_file"] = _("Give the file name inside the source folder, not a path.")
        if self.backend == Backend.OPENAI and not self.base_url:
            errors["base_url"] = _("The openai backend needs the server's API root, such as http://localhost:8000/v1.")
        if errors:
            raise ValidationError(errors)


class PromptSet(models.Model):
    """A named collection of designed prompts."""

    uuid = models.UUIDField(_("UUID"), default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    source = models.CharField(_("source"), max_length=500, blank=True, help_text=_("File the prompts came from."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("prompt set")
        verbose_name_plural = _("prompt sets")

    def __str__(self):
        return self.name


class Prompt(models.Model):
    """One designed prompt: its first user turn, optional later turns and metadata."""

    uuid = models.UUIDField(_("UUID"), default=uuid.uuid4, unique=True, editable=False)
    prompt_set = models.ForeignKey(
        PromptSet, on_delete=models.CASCADE, related_name="prompts", verbose_name=_("prompt set")
    )
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

    uuid = models.UUIDField(_("UUID"), default=uuid.uuid4, unique=True, editable=False)
    model = models.ForeignKey(LanguageModel, on_delete=models.PROTECT, related_name="runs", verbose_name=_("model"))
    prompt_set = models.ForeignKey(
        PromptSet, on_delete=models.PROTECT, related_name="runs", verbose_name=_("prompt set")
    )
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
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

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

    uuid = models.UUIDField(_("UUID"), default=uuid.uuid4, unique=True, editable=False)
    run = models.ForeignKey(
        GenerationRun, on_delete=models.CASCADE, related_name="responses", verbose_name=_("generation run")
    )
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses", verbose_name=_("prompt"))
    text = models.TextField(_("text"), blank=True)
    follow_up_texts = models.JSONField(
        _("follow-up answers"), default=list, blank=True, help_text=_("Answers to the prompt's later turns, in order.")
    )
    token_count = models.PositiveIntegerField(_("token count"), default=0)
    finish_reason = models.CharField(_("finish reason"), max_length=10, choices=FinishReason.choices)
    latency_seconds = models.FloatField(_("latency (seconds)"), default=0.0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

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


class BenchmarkSource(models.TextChoices):
    RUN = "run", _("run here")
    IMPORTED = "imported", _("imported")


class BenchmarkRun(models.Model):
    """One `run_benchmarks` call: a model, the lm-evaluation-harness tasks to run and their settings.

    A Celery task (`generation.tasks.run_benchmarks`) or, in eager mode, the
    command itself executes it. `tasks_done` and `current_task` show its
    progress one task at a time, and each task's scores are stored as soon as
    the task completes.
    """

    uuid = models.UUIDField(_("UUID"), default=uuid.uuid4, unique=True, editable=False)
    model = models.ForeignKey(
        LanguageModel, on_delete=models.CASCADE, related_name="benchmark_runs", verbose_name=_("model")
    )
    tasks = models.JSONField(_("tasks"), default=list, help_text=_("lm-evaluation-harness task names, in run order."))
    shots = models.JSONField(
        _("shots"), default=dict, help_text=_("Number of few-shot examples per task, keyed by task name.")
    )
    limit = models.FloatField(
        _("limit"),
        null=True,
        blank=True,
        help_text=_("Documents per task: a count, or a fraction of the task below 1. Empty: every document."),
    )
    batch_size = models.PositiveIntegerField(_("batch size"), default=1)
    max_gen_toks = models.PositiveIntegerField(
        _("max generated tokens"),
        null=True,
        blank=True,
        help_text=_("Caps the tokens generated per answer in generation tasks. Empty: each task's own setting."),
    )
    status = models.CharField(_("status"), max_length=20, choices=RunStatus.choices, default=RunStatus.PENDING)
    tasks_done = models.PositiveIntegerField(_("tasks done"), default=0)
    current_task = models.CharField(_("current task"), max_length=100, blank=True)
    error = models.TextField(_("error"), blank=True)
    results_file = models.CharField(
        _("results file"),
        max_length=500,
        blank=True,
        help_text=_("lm-evaluation-harness results JSON of the last task."),
    )
    worker_task_id = models.CharField(
        _("worker task id"), max_length=255, blank=True, help_text=_("Celery task that runs it, if any.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("benchmark run")
        verbose_name_plural = _("benchmark runs")

    def __str__(self):
        return f"{self.model.name}: {', '.join(self.tasks)}"


class BenchmarkResult(models.Model):
    """One automatic score of a model: a task, shot count, metric and filter, from lm-evaluation-harness.

    Metric and filter are the two halves of lm-evaluation-harness's
    "metric,filter" keys, such as "acc" and "none" or "exact_match" and
    "strict-match". A model has one value per task, shot count, metric and
    filter: running or importing the same task again replaces it.
    """

    model = models.ForeignKey(
        LanguageModel, on_delete=models.CASCADE, related_name="benchmark_results", verbose_name=_("model")
    )
    task = models.CharField(_("task"), max_length=200, help_text=_("lm-evaluation-harness task or group name."))
    parent_group = models.CharField(
        _("parent group"),
        max_length=200,
        blank=True,
        help_text=_("Group whose score this task's score is part of, such as mmlu_stem for mmlu_anatomy."),
    )
    shots = models.PositiveIntegerField(_("shots"), help_text=_("Number of few-shot examples in each prompt."))
    metric = models.CharField(_("metric"), max_length=100)
    filter = models.CharField(_("filter"), max_length=100, default="none")
    value = models.FloatField(_("value"))
    stderr = models.FloatField(_("standard error"), null=True, blank=True)
    sample_count = models.PositiveIntegerField(
        _("sample count"), null=True, blank=True, help_text=_("Documents scored.")
    )
    limit = models.FloatField(
        _("limit"), null=True, blank=True, help_text=_("Document limit of the evaluation, if it had one.")
    )
    higher_is_better = models.BooleanField(_("higher is better"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=20, choices=BenchmarkSource.choices)
    source_file = models.CharField(
        _("source file"), max_length=500, blank=True, help_text=_("Results file the value was read from.")
    )
    benchmark_run = models.ForeignKey(
        BenchmarkRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="results",
        verbose_name=_("benchmark run"),
    )
    lm_eval_version = models.CharField(_("lm-eval version"), max_length=50, blank=True)
    evaluated_at = models.DateTimeField(_("evaluated at"), null=True, blank=True)
    task_config = models.JSONField(
        _("task configuration"),
        default=dict,
        blank=True,
        help_text=_("The task's configuration as the results file records it: data files, splits, prompts."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["model__name", "task", "shots", "metric", "filter"]
        verbose_name = _("benchmark result")
        verbose_name_plural = _("benchmark results")
        constraints = [
            models.UniqueConstraint(
                fields=["model", "task", "shots", "metric", "filter"], name="benchmark_result_unique_score"
            ),
        ]

    def __str__(self):
        return f"{self.model.name} {self.task} {self.shots}-shot {self.metric},{self.filter}: {self.value:.4f}"
