"""Decide whether a generation run can be started, resumed or taken over, and start it.

The admin and other callers show the outcome to a person, so each refusal
comes back as a reason code instead of an exception. Starting goes through
`generation.dispatch.start_run`, which queues the run on its model's worker
queue (or runs it in a background thread in eager mode). The process that
executes the run then claims it with a conditional update (`generation.runner.claim_run`),
so two people starting the same run at once still get one execution.
"""

from dataclasses import dataclass
from enum import Enum

from django.conf import settings

from generation.dispatch import queue_name, start_run
from generation.models import Backend, GenerationRun, RunStatus
from generation.progress import run_progress


class StartOutcome(Enum):
    STARTED = "started"
    ALREADY_RUNNING = "already_running"
    NOTHING_MISSING = "nothing_missing"
    IMPORTED_ANSWERS = "imported_answers"
    NOT_RUNNING = "not_running"


@dataclass(frozen=True)
class StartResult:
    """Outcome of starting one run, with the prompts still missing and where the run went."""

    run: GenerationRun
    outcome: StartOutcome
    missing: int
    total: int
    # Celery queue the run was sent to, or None for the default queue.
    queue: str | None
    # True when the run executes in this process (Celery eager mode).
    in_process: bool


def start_or_resume(run: GenerationRun) -> StartResult:
    """Start a pending, failed or incomplete run, and refuse a running, complete or imported one.

    A resumed run answers only the prompts that still have no response.
    """
    progress = run_progress(run)
    missing = progress.total - progress.done
    if run.model.backend == Backend.IMPORTED:
        return _result(run, StartOutcome.IMPORTED_ANSWERS, missing, progress.total)
    if run.status == RunStatus.RUNNING:
        return _result(run, StartOutcome.ALREADY_RUNNING, missing, progress.total)
    if run.status == RunStatus.COMPLETED and missing <= 0:
        return _result(run, StartOutcome.NOTHING_MISSING, missing, progress.total)

    begin_attempt(run)
    return _result(run, StartOutcome.STARTED, missing, progress.total)


def begin_attempt(run: GenerationRun, force: bool = False) -> None:
    """Mark a failed or completed run pending again, then start it (see `dispatch.start_run`).

    Until a worker claims the run, its status then shows that it waits for one, so
    the progress page and `generate --wait` do not mistake the previous
    attempt's final status for the new attempt's. A running run keeps its status.
    """
    finished = [RunStatus.FAILED, RunStatus.COMPLETED]
    GenerationRun.objects.filter(pk=run.pk, status__in=finished).update(status=RunStatus.PENDING)
    run.refresh_from_db(fields=["status"])
    start_run(run, force=force)


def take_over(run: GenerationRun) -> StartResult:
    """Start a run whose status is running, whatever process claimed it (see `claim_run` with `force`).

    Only for a run whose process died with no Celery worker left to redeliver
    its task: if that process still runs, both generate the same prompts, and
    the unique (run, prompt) constraint keeps either from storing one twice.
    Runs that are not running are rejected, because "Start or resume" is the
    safe way to start them.
    """
    progress = run_progress(run)
    missing = progress.total - progress.done
    if run.model.backend == Backend.IMPORTED:
        return _result(run, StartOutcome.IMPORTED_ANSWERS, missing, progress.total)
    if run.status != RunStatus.RUNNING:
        return _result(run, StartOutcome.NOT_RUNNING, missing, progress.total)

    begin_attempt(run, force=True)
    return _result(run, StartOutcome.STARTED, missing, progress.total)


def _result(run: GenerationRun, outcome: StartOutcome, missing: int, total: int) -> StartResult:
    return StartResult(
        run=run,
        outcome=outcome,
        missing=max(missing, 0),
        total=total,
        queue=queue_name(run),
        in_process=settings.CELERY_TASK_ALWAYS_EAGER,
    )
