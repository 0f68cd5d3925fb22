"""Routing of generation runs to the Celery queue their model names, with real workers over Redis.

`manage.py generate` runs in a subprocess with a broker, as an operator runs
it, so it sends the run through `generation.dispatch.start_run` instead of
answering in process.
"""

import subprocess
import sys
import time

import pytest
from django.conf import settings

from generation.models import GenerationRun, LanguageModel, Response, RunStatus
from generation.packaged import PackagedModelMissing, smollm2_gguf_path
from tests.factories import make_prompt_set
from tests.queue.conftest import worker_database_url, worker_environment
from tests.queue.worker import wait_for

pytestmark = [
    pytest.mark.queue,
    pytest.mark.slow,
    # Each row is committed at once, because the worker reads it over its own connection.
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]

# Bounds on each wait, several times the durations measured on a 2-core CPU
# machine shared with other jobs (see test_worker.py).
RUN_TIMEOUT = 90
COMMAND_TIMEOUT = 60
# A worker on the wrong queue would take a task within a second of its
# publication, because it polls Redis continuously. A run still pending after
# this long, next to a worker that has meanwhile finished another run, was not taken.
PENDING_CHECK_SECONDS = 3


@pytest.fixture
def model_files():
    try:
        path = smollm2_gguf_path()
    except PackagedModelMissing as exc:
        pytest.skip(f"{exc} (run 'make setup' to install the packaged models)")
    return {"source": str(path.parent), "gguf_file": path.name}


def generate(broker_url, *arguments, timeout=COMMAND_TIMEOUT):
    """Run `manage.py generate` in a subprocess against the test database and the test broker."""
    environment = worker_environment(broker_url, worker_database_url(), None)
    return subprocess.run(
        [sys.executable, "manage.py", "generate", *arguments],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def received_lines(worker):
    """Return the worker's log lines that report a generation task received."""
    return [line for line in worker.log().splitlines() if "generate_run[" in line and line.endswith(" received")]


def run_status(run, *statuses):
    run.refresh_from_db()
    return run.status in statuses


def test_run_waits_for_worker_of_its_queue(model_files, start_worker, redis_broker, queue_name):
    gpu_queue = f"{queue_name}-gpu-a"
    LanguageModel.objects.create(name="Vorqueth-Gpu", worker_queue=gpu_queue, **model_files)
    LanguageModel.objects.create(name="Vorqueth-Cpu", **model_files)
    prompt_set = make_prompt_set(prompts=("Say hi.",))
    default_worker = start_worker(queue=None)

    queued = generate(redis_broker, "--model", "Vorqueth-Gpu", "--prompt-set", prompt_set.name, "--max-new-tokens", "2")
    control = generate(
        redis_broker, "--model", "Vorqueth-Cpu", "--prompt-set", prompt_set.name, "--max-new-tokens", "2"
    )

    assert queued.returncode == 0, queued.stderr
    assert control.returncode == 0, control.stderr
    gpu_run = GenerationRun.objects.get(model__name="Vorqueth-Gpu")
    cpu_run = GenerationRun.objects.get(model__name="Vorqueth-Cpu")
    assert f"Queued generation run {gpu_run.uuid} on queue {gpu_queue}." in queued.stdout
    assert f"Queued generation run {cpu_run.uuid} on the default queue." in control.stdout

    # The default-queue worker answers the run of the model without a queue, which was queued second...
    wait_for(
        lambda: run_status(cpu_run, RunStatus.COMPLETED, RunStatus.FAILED), RUN_TIMEOUT, "the cpu run", default_worker
    )
    assert cpu_run.status == RunStatus.COMPLETED, cpu_run.error
    time.sleep(PENDING_CHECK_SECONDS)
    # ...and leaves the run routed to the gpu queue alone.
    gpu_run.refresh_from_db()
    assert gpu_run.status == RunStatus.PENDING
    assert not Response.objects.filter(run=gpu_run).exists()
    assert len(received_lines(default_worker)) == 1

    gpu_worker = start_worker(queue=gpu_queue)
    wait_for(lambda: run_status(gpu_run, RunStatus.COMPLETED, RunStatus.FAILED), RUN_TIMEOUT, "the gpu run", gpu_worker)

    assert gpu_run.status == RunStatus.COMPLETED, gpu_run.error
    assert gpu_run.responses.count() == 1
    assert len(received_lines(gpu_worker)) == 1
    assert len(received_lines(default_worker)) == 1


def test_generate_wait_resume_and_force_use_model_queue(model_files, start_worker, redis_broker, queue_name):
    gpu_queue = f"{queue_name}-gpu-b"
    LanguageModel.objects.create(name="Vorqueth-Gpu", worker_queue=gpu_queue, **model_files)
    prompt_set = make_prompt_set(prompts=("Say hi.", "Name a fruit."))
    gpu_worker = start_worker(queue=gpu_queue)

    # 1. A new run: --wait returns once the worker has completed it.
    first = generate(
        redis_broker, "--model", "Vorqueth-Gpu", "--prompt-set", prompt_set.name, "--max-new-tokens", "2", "--wait"
    )

    assert first.returncode == 0, first.stderr
    run = GenerationRun.objects.get(model__name="Vorqueth-Gpu")
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.responses.count() == 2

    # 2. A failed run with a missing answer: --resume sends it to the same queue.
    kept = run.responses.order_by("prompt__position").first()
    run.responses.exclude(pk=kept.pk).delete()
    GenerationRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="RuntimeError: test")

    resumed = generate(redis_broker, "--resume", str(run.uuid), "--wait")

    assert resumed.returncode == 0, resumed.stderr
    assert f"on queue {gpu_queue}." in resumed.stdout
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.responses.count() == 2
    assert run.responses.filter(pk=kept.pk).exists()

    # 3. A run left running by a dead worker: --force takes it over through the queue.
    run.responses.exclude(pk=kept.pk).delete()
    GenerationRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, worker_task_id="task-of-a-dead-worker")

    refused = generate(redis_broker, "--resume", str(run.uuid))
    forced = generate(redis_broker, "--resume", str(run.uuid), "--force", "--wait")

    assert refused.returncode != 0
    assert "pass --force to restart it" in refused.stderr
    assert forced.returncode == 0, forced.stderr
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.responses.count() == 2
    assert len(received_lines(gpu_worker)) == 3
