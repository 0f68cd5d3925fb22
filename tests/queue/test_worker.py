"""Generation runs through a real Celery worker over Redis, including a worker killed mid-run."""

import time

import pytest

from generation.models import GenerationRun, LanguageModel, Response, RunStatus
from generation.packaged import PackagedModelMissing, smollm2_gguf_path
from generation.tasks import generate_run
from tests.factories import make_prompt_set
from tests.queue.worker import wait_for

pytestmark = [
    pytest.mark.queue,
    pytest.mark.slow,
    # Each row is committed at once, because the worker reads it over its own connection.
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]

# Bounds on each wait, several times the durations measured on a 2-core CPU
# machine shared with other jobs: up to 5 s for a worker to start, 6 s to load
# the model and 1 s per generated token.
RUN_TIMEOUT = 90
REDELIVERY_TIMEOUT = 30
# Redis hands the killed worker's task to the next worker only after this
# many seconds, so the test sets it far below the 12-hour default.
VISIBILITY_TIMEOUT = 2

KILL_TEST_PROMPTS = (
    "Name a fruit.",
    "Name a tree.",
    "Name a river.",
    "Name a city.",
    "Name a colour.",
    "Name a metal.",
    "Name a bird.",
    "Name a planet.",
    "Name a tool.",
    "Name a song.",
)


@pytest.fixture
def smollm_model():
    try:
        path = smollm2_gguf_path()
    except PackagedModelMissing as exc:
        pytest.skip(f"{exc} (run 'make setup' to install the packaged models)")
    return LanguageModel.objects.create(name="Vorqueth-Chat", source=str(path.parent), gguf_file=path.name)


def task_lines(worker, task_id):
    """Return the worker's log lines that mention the task."""
    return [line for line in worker.log().splitlines() if task_id in line]


def task_finished(worker, task_id):
    """Return whether the worker has logged the task's success or failure."""
    return any(" succeeded in " in line or " raised " in line for line in task_lines(worker, task_id))


def test_worker_completes_run(smollm_model, start_worker, publish):
    worker = start_worker()
    prompt_set = make_prompt_set(prompts=("Say hi.", "说你好。", "Name a fruit."))
    run = GenerationRun.objects.create(model=smollm_model, prompt_set=prompt_set, max_new_tokens=4)

    result = publish(generate_run, run.pk)
    wait_for(lambda: task_finished(worker, result.id), RUN_TIMEOUT, f"task {result.id} to finish", worker)

    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, f"run error: {run.error!r}"
    assert run.responses.count() == 3
    prompt_ids = list(run.responses.values_list("prompt_id", flat=True))
    assert sorted(prompt_ids) == sorted(prompt_set.prompts.values_list("pk", flat=True))
    for response in run.responses.all():
        assert 0 < response.token_count <= 4
    received = [line for line in task_lines(worker, result.id) if line.endswith(" received")]
    assert len(received) == 1


def test_killed_worker_task_redelivered(smollm_model, start_worker, publish):
    first = start_worker(visibility_timeout=VISIBILITY_TIMEOUT)
    prompt_set = make_prompt_set(prompts=KILL_TEST_PROMPTS)
    run = GenerationRun.objects.create(model=smollm_model, prompt_set=prompt_set, max_new_tokens=4, batch_size=1)

    result = publish(generate_run, run.pk)
    wait_for(lambda: Response.objects.filter(run=run).exists(), RUN_TIMEOUT, "the first response", first)
    first.kill()
    killed_at = time.monotonic()

    answered_before_kill = set(Response.objects.filter(run=run).values_list("pk", "prompt_id", "text"))
    if len(answered_before_kill) >= len(KILL_TEST_PROMPTS):
        pytest.fail("The run finished before the worker was killed; give it more prompts or tokens.")
    run.refresh_from_db()
    if run.status != RunStatus.RUNNING:
        pytest.fail(f"A run whose worker was killed mid-run has status {run.status!r}, expected 'running'.")

    # The visibility timeout counts from the first delivery, which came before
    # the kill. Kombu 5.7 restores expired unacknowledged tasks when a worker
    # starts polling and then only about every 100 s, so the second worker
    # starts after the timeout has passed.
    time.sleep(max(0.0, killed_at + VISIBILITY_TIMEOUT + 0.5 - time.monotonic()))
    second = start_worker(visibility_timeout=VISIBILITY_TIMEOUT)
    wait_for(
        lambda: any(line.endswith(" received") for line in task_lines(second, result.id)),
        REDELIVERY_TIMEOUT,
        f"task {result.id} to be redelivered to the second worker",
        second,
    )
    wait_for(lambda: task_finished(second, result.id), RUN_TIMEOUT, f"task {result.id} to finish", second)

    run.refresh_from_db()
    task_log = "\n".join(task_lines(second, result.id))
    assert run.status == RunStatus.COMPLETED, f"run status {run.status!r} after redelivery; worker log:\n{task_log}"
    assert run.responses.count() == len(KILL_TEST_PROMPTS)
    prompt_ids = list(run.responses.values_list("prompt_id", flat=True))
    assert sorted(prompt_ids) == sorted(prompt_set.prompts.values_list("pk", flat=True))
    assert answered_before_kill <= set(run.responses.values_list("pk", "prompt_id", "text"))
