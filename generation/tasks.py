from celery import shared_task

from generation.runner import execute_run


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def generate_run(self, run_id: int, force: bool = False) -> str:
    """Celery entry point: execute one generation run by primary key.

    The task id lets a redelivered task take over a run whose worker died;
    `force` takes over a running run whatever its task id (`generate --resume --force`).
    """
    run = execute_run(run_id, task_id=self.request.id or "", force=force)
    return str(run.uuid)
