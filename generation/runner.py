"""Execute a generation run: load the model once, answer missing prompts in batches.

A run can be executed again after a crash: it answers only the prompts that
have no response yet, and the unique constraint on (run, prompt) keeps a
second writer from storing a prompt twice.
"""

import logging
from collections.abc import Callable

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from generation.backends import GenerationRequest, ModelConfig, load_backend
from generation.models import GenerationRun, LanguageModel, Response, RunStatus

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]


class RunNotClaimable(Exception):
    """The run is running elsewhere, so this process must not start it."""


def model_config(model: LanguageModel, device: str = "auto") -> ModelConfig:
    return ModelConfig(
        name=model.name,
        backend=model.backend,
        source=model.source,
        gguf_file=model.gguf_file or None,
        revision=model.revision or None,
        dtype=model.dtype,
        use_chat_template=model.use_chat_template,
        prompt_template=model.prompt_template,
        stop_strings=list(model.stop_strings),
        device=device,
    )


def missing_prompts(run: GenerationRun):
    """Return the run's prompts that have no response yet, in file order."""
    answered = set(Response.objects.filter(run=run).values_list("prompt_id", flat=True))
    return [prompt for prompt in run.prompts() if prompt.pk not in answered]


def claim_run(run_id: int) -> GenerationRun:
    """Mark the run as running, unless another process runs it already.

    The conditional UPDATE lets exactly one of two concurrent callers win.
    """
    claimable = Q(status__in=[RunStatus.PENDING, RunStatus.FAILED, RunStatus.COMPLETED])
    claimed = GenerationRun.objects.filter(claimable, pk=run_id).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), finished_at=None, error=""
    )
    if not claimed:
        raise RunNotClaimable(f"Generation run {run_id} is already running.")
    return GenerationRun.objects.select_related("model", "prompt_set").get(pk=run_id)


def execute_run(run_id: int, on_progress: ProgressCallback | None = None, backend=None) -> GenerationRun:
    """Answer every prompt of run `run_id` that has no response yet.

    1. Claim the run with a conditional update.
    2. Load the model once (unless a loaded `backend` is passed in).
    3. Answer the missing prompts in batches of `run.batch_size`, saving each
       batch as soon as it is done, so a crash loses at most one batch.
    4. Mark the run completed, or failed with the error.
    """
    run = claim_run(run_id)
    logger.info("Generation run %s started: model %s, prompt set %s", run.uuid, run.model.name, run.prompt_set.name)
    try:
        todo = missing_prompts(run)
        total = len(run.prompts())
        done = total - len(todo)
        if on_progress:
            on_progress(done, total)
        if todo and backend is None:
            backend = load_backend(model_config(run.model), batch_size=run.batch_size, data_dir=settings.DATA_DIR)
        for start in range(0, len(todo), run.batch_size):
            batch = todo[start : start + run.batch_size]
            _answer_batch(run, backend, batch)
            done += len(batch)
            if on_progress:
                on_progress(done, total)
    except Exception as exc:
        GenerationRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
        logger.exception("Generation run %s failed", run.uuid)
        raise

    GenerationRun.objects.filter(pk=run.pk).update(status=RunStatus.COMPLETED, finished_at=timezone.now())
    logger.info("Generation run %s completed: %s responses", run.uuid, done)
    run.refresh_from_db()
    return run


def _answer_batch(run: GenerationRun, backend, prompts) -> None:
    requests = [
        GenerationRequest(
            prompt=prompt.text,
            max_new_tokens=run.max_new_tokens,
            temperature=run.temperature,
            top_p=run.top_p,
            repetition_penalty=run.repetition_penalty,
            # One seed per prompt, so a resumed run samples what a whole run would.
            seed=run.seed + prompt.position,
        )
        for prompt in prompts
    ]
    outputs = backend.generate(requests)
    Response.objects.bulk_create(
        [
            Response(
                run=run,
                prompt=prompt,
                text=output.text,
                token_count=output.token_count,
                finish_reason=output.finish_reason,
                latency_seconds=output.latency_seconds,
            )
            for prompt, output in zip(prompts, outputs, strict=True)
        ],
        # Another worker may have stored some of these prompts meanwhile.
        ignore_conflicts=True,
    )
