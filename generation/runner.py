"""Execute a generation run: load the model once, answer missing prompts in batches.

A run can be executed again after a crash: it answers only the prompts that
have no response yet, and the unique constraint on (run, prompt) keeps a
second writer from storing a prompt twice.
"""

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from generation.backends import GenerationRequest, ModelConfig, load_backend
from generation.models import GenerationRun, LanguageModel, Response, RunStatus

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]


class MultiTurnUnsupported(Exception):
    """The prompts have follow-up turns but the model has no chat template to carry a conversation."""


class RunNotClaimable(Exception):
    """The run is running elsewhere, so this process must not start it."""


# Errors that come from a model's or a prompt set's settings, not from a bug.
_CONFIGURATION_ERRORS = (MultiTurnUnsupported, OSError, ValueError)


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
        base_url=model.base_url,
    )


def missing_prompts(run: GenerationRun):
    """Return the run's prompts that have no response yet, in file order."""
    answered = set(Response.objects.filter(run=run).values_list("prompt_id", flat=True))
    return [prompt for prompt in run.prompts() if prompt.pk not in answered]


def claim_run(run_id: int, task_id: str = "", force: bool = False) -> GenerationRun:
    """Mark the run as running, unless another process runs it already.

    The conditional UPDATE lets exactly one of two concurrent callers win.
    A run left running by a worker that died (SIGKILL, out of memory) is
    claimable by the same Celery task when the broker redelivers it, because
    the redelivered message carries the dead worker's task id. With `force`,
    a running run is claimed whatever its task id. That is for runs whose
    process died with no redelivery coming. While the other process still
    runs, both then generate the same prompts, but the unique (run, prompt)
    constraint keeps either from storing a prompt twice.
    """
    claimable = Q(status__in=[RunStatus.PENDING, RunStatus.FAILED, RunStatus.COMPLETED])
    if force:
        claimable |= Q(status=RunStatus.RUNNING)
    elif task_id:
        claimable |= Q(status=RunStatus.RUNNING, worker_task_id=task_id)
    claimed = GenerationRun.objects.filter(claimable, pk=run_id).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), finished_at=None, error="", worker_task_id=task_id
    )
    if not claimed:
        raise RunNotClaimable(f"Generation run {run_id} is already running.")
    return GenerationRun.objects.select_related("model", "prompt_set").get(pk=run_id)


def execute_run(
    run_id: int,
    on_progress: ProgressCallback | None = None,
    backend=None,
    task_id: str = "",
    force: bool = False,
    clock: Callable[[], float] = time.perf_counter,
) -> GenerationRun:
    """Answer every prompt of run `run_id` that has no response yet.

    1. Claim the run with a conditional update (see `claim_run` for `force`).
    2. Load the model once (unless a loaded `backend` is passed in).
    3. Answer the missing prompts in batches of `run.batch_size`, saving each
       batch as soon as it is done, so a crash loses at most one batch. Each
       saved batch adds its wall time, measured with `clock` in seconds, to
       `run.generated_seconds`.
    4. Mark the run completed, or failed with the error.
    """
    run = claim_run(run_id, task_id, force=force)
    logger.info("Generation run %s started: model %s, prompt set %s", run.uuid, run.model.name, run.prompt_set.name)
    try:
        todo = missing_prompts(run)
        total = len(run.prompts())
        done = total - len(todo)
        if on_progress:
            on_progress(done, total)
        _check_turns_supported(run, todo)
        if todo and backend is None:
            backend = load_backend(model_config(run.model), batch_size=run.batch_size, data_dir=settings.DATA_DIR)
        for start in range(0, len(todo), run.batch_size):
            batch = todo[start : start + run.batch_size]
            batch_started = clock()
            _answer_batch(run, backend, batch)
            GenerationRun.objects.filter(pk=run.pk).update(
                generated_seconds=F("generated_seconds") + (clock() - batch_started)
            )
            done += len(batch)
            if on_progress:
                on_progress(done, total)
    except BaseException as exc:
        # BaseException too: after Ctrl+C or a worker shutdown the run must be
        # claimable again, not left running forever.
        GenerationRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
        if isinstance(exc, _CONFIGURATION_ERRORS):
            # A wrong path or setting: the message names what to fix, and a traceback would not help.
            logger.error("Generation run %s failed: %s: %s", run.uuid, type(exc).__name__, exc)
        else:
            logger.exception("Generation run %s failed", run.uuid)
        raise

    GenerationRun.objects.filter(pk=run.pk).update(status=RunStatus.COMPLETED, finished_at=timezone.now())
    logger.info("Generation run %s completed: %s responses", run.uuid, done)
    run.refresh_from_db()
    return run


def _check_turns_supported(run: GenerationRun, prompts) -> None:
    if run.model.use_chat_template or not any(prompt.follow_up_turns for prompt in prompts):
        return
    raise MultiTurnUnsupported(
        f"Model {run.model.name!r} has no chat template, so it cannot answer the follow-up turns of "
        f"prompt set {run.prompt_set.name!r}; import the prompts again with --first-turn-only."
    )


def _answer_batch(run: GenerationRun, backend, prompts) -> None:
    """Answer every turn of `prompts`, each later turn with the model's own earlier answers in context."""
    conversations = [[{"role": "user", "content": prompt.text}] for prompt in prompts]
    answers = [[] for _ in prompts]
    turn_count = max(1 + len(prompt.follow_up_turns) for prompt in prompts)

    for turn in range(turn_count):
        active = [index for index, prompt in enumerate(prompts) if turn <= len(prompt.follow_up_turns)]
        requests = [_request(run, prompts[index], conversations[index], turn) for index in active]
        outputs = backend.generate(requests)
        for index, output in zip(active, outputs, strict=True):
            answers[index].append(output)
            conversations[index].append({"role": "assistant", "content": output.text})
            follow_ups = prompts[index].follow_up_turns
            if turn < len(follow_ups):
                conversations[index].append({"role": "user", "content": follow_ups[turn]})

    Response.objects.bulk_create(
        [_response(run, prompt, outputs) for prompt, outputs in zip(prompts, answers, strict=True)],
        # Another worker may have stored some of these prompts meanwhile.
        ignore_conflicts=True,
    )


def _request(run: GenerationRun, prompt, conversation, turn: int) -> GenerationRequest:
    decoding = {
        "max_new_tokens": run.max_new_tokens,
        "temperature": run.temperature,
        "top_p": run.top_p,
        "repetition_penalty": run.repetition_penalty,
        # One seed per prompt and turn, so a resumed run samples what a whole run would.
        "seed": run.seed + prompt.position + turn * 1_000_003,
    }
    if turn == 0:
        # Plain text for the first turn, so base models with a prompt template work too.
        return GenerationRequest(prompt=prompt.text, **decoding)
    return GenerationRequest(messages=list(conversation), **decoding)


def _response(run: GenerationRun, prompt, outputs) -> Response:
    return Response(
        run=run,
        prompt=prompt,
        text=outputs[0].text,
        follow_up_texts=[output.text for output in outputs[1:]],
        token_count=sum(output.token_count for output in outputs),
        finish_reason="length" if any(output.finish_reason == "length" for output in outputs) else "stop",
        latency_seconds=sum(output.latency_seconds for output in outputs),
    )
