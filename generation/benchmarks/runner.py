"""Run lm-evaluation-harness benchmarks on a registered model, reusing the model humeval loads.

A benchmark run is a `BenchmarkRun` row. `execute_benchmark_run` claims it,
loads the model once through humeval's transformers backend, wraps the
loaded model and tokenizer in lm-eval's `HFLM` (so lm-eval does not load the
weights a second time), and evaluates one task after another with
`lm_eval.simple_evaluate` on humeval's local task configurations. Each
task's results are written as an lm-eval results file and stored as
`BenchmarkResult` rows as soon as the task finishes, so a crash loses at
most the task in progress, and a restarted run continues with the tasks
not yet done.

lm_eval, datasets and torch are imported inside the functions that need them.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from generation.benchmarks import data as benchmark_data
from generation.benchmarks.catalog import default_shots, get_benchmark
from generation.benchmarks.results import parse_lm_eval_results, store_scores
from generation.benchmarks.task_configs import write_task_configs
from generation.models import Backend, BenchmarkRun, BenchmarkSource, LanguageModel, RunStatus

logger = logging.getLogger(__name__)

# Called with (tasks done, tasks in the run, task now running or "" at the end).
ProgressCallback = Callable[[int, int, str], None]


class BenchmarkSettingError(ValueError):
    """A benchmark run cannot be created with these settings. The message names the setting and the reason."""


class BenchmarkRunNotClaimable(Exception):
    """The benchmark run is running elsewhere, so this process must not start it."""


def create_benchmark_run(
    model: LanguageModel,
    tasks: list[str],
    *,
    shots: dict[str, int] | None = None,
    limit: float | None = None,
    batch_size: int = 1,
    max_gen_toks: int | None = None,
) -> BenchmarkRun:
    """Check the settings and create a pending benchmark run.

    `shots` overrides the default shot count per task. Raises
    BenchmarkSettingError for an unusable model or setting, and
    `data.BenchmarkDataMissing` when a task has no imported documents, so a
    run does not wait in a queue only to fail on missing files.
    """
    if model.backend != Backend.TRANSFORMERS:
        raise BenchmarkSettingError(
            f"Model {model.name!r} uses the {model.backend} backend; benchmarks need local weights and run only "
            "on models with the transformers backend."
        )
    if not tasks:
        raise BenchmarkSettingError("Give at least one task.")
    tasks = list(dict.fromkeys(tasks))
    for task in tasks:
        get_benchmark(task)
    shots = shots or {}
    unknown = sorted(set(shots) - set(tasks))
    if unknown:
        raise BenchmarkSettingError(f"Shot counts given for tasks not in the run: {', '.join(unknown)}.")
    if any(count < 0 for count in shots.values()):
        raise BenchmarkSettingError("Shot counts must be 0 or more.")
    if limit is not None and (not math.isfinite(limit) or limit <= 0):
        raise BenchmarkSettingError(f"The limit must be a positive number, got {limit}.")
    if batch_size < 1:
        raise BenchmarkSettingError(f"The batch size must be at least 1, got {batch_size}.")
    if max_gen_toks is not None and max_gen_toks < 1:
        raise BenchmarkSettingError(f"The maximum of generated tokens must be at least 1, got {max_gen_toks}.")
    benchmark_data.require_data(tasks)

    return BenchmarkRun.objects.create(
        model=model,
        tasks=tasks,
        shots={task: shots.get(task, default_shots(task)) for task in tasks},
        limit=limit,
        batch_size=batch_size,
        max_gen_toks=max_gen_toks,
    )


def claim_benchmark_run(run_id: int, task_id: str = "", force: bool = False) -> BenchmarkRun:
    """Mark the run as running unless another process runs it; see `generation.runner.claim_run`.

    A run left running by a worker that died is claimable by the same Celery
    task when the broker redelivers it, and by anyone with `force`.
    """
    claimable = Q(status__in=[RunStatus.PENDING, RunStatus.FAILED, RunStatus.COMPLETED])
    if force:
        claimable |= Q(status=RunStatus.RUNNING)
    elif task_id:
        claimable |= Q(status=RunStatus.RUNNING, worker_task_id=task_id)
    claimed = BenchmarkRun.objects.filter(claimable, pk=run_id).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), finished_at=None, error="", worker_task_id=task_id
    )
    if not claimed:
        raise BenchmarkRunNotClaimable(f"Benchmark run {run_id} is already running.")
    return BenchmarkRun.objects.select_related("model").get(pk=run_id)


def start_benchmark_run(run: BenchmarkRun) -> None:
    """Send `run` to a Celery worker on its model's queue once the current transaction commits."""
    from generation.tasks import run_benchmarks

    queue = run.model.worker_queue or None
    transaction.on_commit(lambda: run_benchmarks.apply_async((run.pk,), queue=queue))


def execute_benchmark_run(
    run_id: int,
    *,
    task_id: str = "",
    force: bool = False,
    backend=None,
    on_progress: ProgressCallback | None = None,
) -> BenchmarkRun:
    """Evaluate every task of benchmark run `run_id` that is not done yet.

    1. Claim the run with a conditional update.
    2. Check that every task has documents and rewrite the task configurations.
    3. Load the model once (unless a loaded transformers `backend` is passed in)
       and wrap it for lm-evaluation-harness.
    4. Evaluate the tasks one at a time; after each, write its results file,
       store its scores and count it done.
    5. Mark the run completed, or failed with the error.
    """
    run = claim_benchmark_run(run_id, task_id, force=force)
    logger.info("Benchmark run %s started: model %s, tasks %s", run.uuid, run.model.name, ",".join(run.tasks))
    try:
        benchmark_data.require_data(run.tasks)
        folder = write_task_configs()
        todo = run.tasks[run.tasks_done :]
        if on_progress:
            on_progress(run.tasks_done, len(run.tasks), todo[0] if todo else "")
        if todo:
            lm = _wrap_for_lm_eval(run, backend)
            task_manager = _task_manager(folder)
        for task in todo:
            BenchmarkRun.objects.filter(pk=run.pk).update(current_task=task)
            output = _evaluate(run, lm, task_manager, task)
            results_file = _write_results_file(run, task, output)
            parsed = parse_lm_eval_results(output, str(results_file))
            store_scores(
                run.model, parsed, source=BenchmarkSource.RUN, source_file=str(results_file), benchmark_run=run
            )
            run.tasks_done += 1
            BenchmarkRun.objects.filter(pk=run.pk).update(tasks_done=run.tasks_done, results_file=str(results_file))
            logger.info("Benchmark run %s: %s done (%s of %s)", run.uuid, task, run.tasks_done, len(run.tasks))
            if on_progress:
                following = run.tasks[run.tasks_done] if run.tasks_done < len(run.tasks) else ""
                on_progress(run.tasks_done, len(run.tasks), following)
    except BaseException as exc:
        # BaseException too: after Ctrl+C or a worker shutdown the run must be claimable again.
        BenchmarkRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
        if isinstance(exc, benchmark_data.BenchmarkDataMissing | OSError | ValueError):
            logger.error("Benchmark run %s failed: %s: %s", run.uuid, type(exc).__name__, exc)
        else:
            logger.exception("Benchmark run %s failed", run.uuid)
        raise

    BenchmarkRun.objects.filter(pk=run.pk).update(
        status=RunStatus.COMPLETED, current_task="", finished_at=timezone.now()
    )
    logger.info("Benchmark run %s completed", run.uuid)
    run.refresh_from_db()
    return run


def _wrap_for_lm_eval(run: BenchmarkRun, backend):
    """Return lm-eval's HFLM around the backend's loaded model and tokenizer, loading the model if needed."""
    benchmark_data.use_offline_mode()
    from lm_eval.models.huggingface import HFLM

    from generation.backends import load_backend
    from generation.runner import model_config

    if backend is None:
        backend = load_backend(model_config(run.model), batch_size=run.batch_size, data_dir=settings.DATA_DIR)
    if getattr(backend, "model", None) is None:
        raise BenchmarkSettingError(f"Model {run.model.name!r}: its backend has no local weights to evaluate.")
    return HFLM(pretrained=backend.model, tokenizer=backend.tokenizer, batch_size=run.batch_size)


def _task_manager(folder: Path):
    from lm_eval.tasks import TaskManager

    # Only humeval's configurations: a built-in task would try to reach the hub.
    return TaskManager(include_path=str(folder), include_defaults=False)


def lm_eval_limit(limit: float | None) -> int | float | None:
    """Return the limit as lm-eval reads it: a whole count as an int, a fraction below 1 as a float."""
    if limit is None:
        return None
    return int(limit) if limit >= 1 and limit == int(limit) else limit


def _evaluate(run: BenchmarkRun, lm, task_manager, task: str) -> dict:
    from lm_eval import simple_evaluate

    output = simple_evaluate(
        model=lm,
        tasks=[task],
        num_fewshot=run.shots.get(task, default_shots(task)),
        limit=lm_eval_limit(run.limit),
        gen_kwargs={"max_gen_toks": run.max_gen_toks} if run.max_gen_toks else None,
        task_manager=task_manager,
        log_samples=False,
    )
    if output is None:
        raise RuntimeError(f"lm-evaluation-harness returned no results for {task}.")
    # The same field lm_eval's command line writes, so importing this file elsewhere shows the model's name.
    output["model_name"] = run.model.name
    return output


def results_folder(run: BenchmarkRun) -> Path:
    return benchmark_data.benchmarks_root() / "results" / str(run.model.uuid) / str(run.uuid)


def _write_results_file(run: BenchmarkRun, task: str, output: dict) -> Path:
    """Write lm-eval's output for one task as `results_<task>.json`, in the format of `lm_eval --output_path`."""
    from lm_eval.utils import handle_non_serializable

    path = results_folder(run) / f"results_{task}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(output, indent=2, default=handle_non_serializable, ensure_ascii=False), "utf-8")
    return path
