"""Start generation runs from the command line, the admin and the API.

With a broker, a run is sent as a Celery task to the queue its model names
(`LanguageModel.worker_queue`), so only workers that can hold the model take
it. In eager mode (the embedded default) there is no worker: a web request
that starts a run hands it to a background thread, so the page returns at
once and the run's progress shows as it goes.
"""

import logging
import threading

from django.conf import settings
from django.db import connections, transaction

from generation.models import GenerationRun
from generation.runner import RunNotClaimable, execute_run
from generation.tasks import generate_run

logger = logging.getLogger(__name__)


def queue_name(run: GenerationRun) -> str | None:
    """Return the Celery queue for `run`, or None for the default queue."""
    return run.model.worker_queue or None


def start_run(run: GenerationRun, force: bool = False) -> None:
    """Queue `run` for a worker, or run it in a background thread in eager mode.

    The task is sent after the current transaction commits, so a worker never
    looks for a run that is not yet visible to it.
    """
    if settings.CELERY_TASK_ALWAYS_EAGER:
        transaction.on_commit(lambda: _start_thread(run.pk, force))
    else:
        transaction.on_commit(lambda: generate_run.apply_async((run.pk,), {"force": force}, queue=queue_name(run)))


def _start_thread(run_id: int, force: bool) -> threading.Thread:
    thread = threading.Thread(target=_run_in_thread, args=(run_id, force), name=f"generation-run-{run_id}", daemon=True)
    thread.start()
    return thread


def _run_in_thread(run_id: int, force: bool) -> None:
    try:
        execute_run(run_id, force=force)
    except RunNotClaimable:
        logger.info("Generation run %s is already running elsewhere", run_id)
    except Exception:
        # execute_run stores the error on the run; this also logs an error
        # raised before the run was claimed, which nothing else would show.
        logger.exception("Generation run %s stopped with an error in its background thread", run_id)
    finally:
        # The thread ends here, so its database connection must close now.
        # close_old_connections would keep it open for CONN_MAX_AGE seconds.
        connections.close_all()
