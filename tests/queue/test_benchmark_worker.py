"""Benchmark runs sent to a real Celery worker on their model's queue, over Redis.

`manage.py run_benchmarks --wait` runs in a subprocess with a broker, as an
operator runs it, so it queues the run instead of evaluating in process.
"""

import subprocess
import sys

import pytest
from django.conf import settings

from generation.benchmarks.data import import_from_directory
from generation.models import BenchmarkResult, BenchmarkRun, BenchmarkSource, LanguageModel, RunStatus
from generation.packaged import PackagedModelMissing, smollm2_gguf_path
from tests.generation.benchmarks.conftest import link_model_cache, write_jsonl
from tests.generation.benchmarks.test_data import BOOLQ_ROWS
from tests.queue.conftest import worker_database_url, worker_environment

pytestmark = [
    pytest.mark.queue,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(600),
]

# Several times the minute this whole test took on a 2-core CPU machine shared with other jobs.
COMMAND_TIMEOUT = 400


@pytest.fixture
def benchmark_data_dir(settings, tmp_path):
    """A data folder with BoolQ documents, shared with the worker through HUMEVAL_DATA_DIR."""
    folder = tmp_path / "data"
    folder.mkdir()
    link_model_cache(folder, settings.DATA_DIR)
    settings.DATA_DIR = folder
    write_jsonl(tmp_path / "boolq" / "validation.jsonl", BOOLQ_ROWS)
    import_from_directory("boolq", tmp_path / "boolq")
    return folder


def test_run_benchmarks_waits_for_worker_of_model_queue(benchmark_data_dir, start_worker, redis_broker, queue_name):
    try:
        gguf = smollm2_gguf_path()
    except PackagedModelMissing as exc:
        pytest.skip(f"{exc} (run 'make setup' to install the packaged models)")
    benchmark_queue = f"{queue_name}-bench"
    model = LanguageModel.objects.create(
        name="Quillamor-135M", source=str(gguf.parent), gguf_file=gguf.name, worker_queue=benchmark_queue
    )
    worker = start_worker(queue=benchmark_queue)

    finished = subprocess.run(
        [sys.executable, "manage.py", "run_benchmarks", "--model", model.name, "--tasks", "boolq", "--limit", "2"]
        + ["--wait"],
        cwd=settings.BASE_DIR,
        env=worker_environment(redis_broker, worker_database_url(), None),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr[-3000:] + worker.log()[-3000:]
    run = BenchmarkRun.objects.get(model=model)
    assert f"Queued benchmark run {run.uuid} on queue {benchmark_queue}." in finished.stdout
    assert run.status == RunStatus.COMPLETED
    assert run.worker_task_id
    result = BenchmarkResult.objects.get(model=model, task="boolq", metric="acc")
    assert result.source == BenchmarkSource.RUN
    assert result.sample_count == 2
    assert "run_benchmarks[" in worker.log()
