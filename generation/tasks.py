from celery import shared_task

from generation.runner import execute_run


@shared_task(acks_late=True, reject_on_worker_lost=True)
def generate_run(run_id: int) -> str:
    """Celery entry point: execute one generation run by primary key."""
    run = execute_run(run_id)
    return str(run.uuid)
