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


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def run_benchmarks(self, benchmark_run_id: int, force: bool = False) -> str:
    """Celery entry point: execute one benchmark run (`generation.BenchmarkRun`) by primary key.

    As with `generate_run`, a redelivered task takes over the run its dead worker left running.
    """
    from generation.benchmarks.runner import execute_benchmark_run

    run = execute_benchmark_run(benchmark_run_id, task_id=self.request.id or "", force=force)
    return str(run.uuid)
