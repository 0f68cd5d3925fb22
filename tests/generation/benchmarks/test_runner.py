"""Benchmark runs: settings, missing data, claiming and failures, without loading a model."""

import pytest
from django.core.management import CommandError, call_command

from generation.benchmarks.data import BenchmarkDataMissing, import_from_directory
from generation.benchmarks.runner import (
    BenchmarkRunNotClaimable,
    BenchmarkSettingError,
    claim_benchmark_run,
    create_benchmark_run,
    lm_eval_limit,
)
from generation.models import BenchmarkRun, LanguageModel, RunStatus
from generation.tasks import run_benchmarks
from tests.generation.benchmarks.conftest import write_jsonl
from tests.generation.benchmarks.test_data import BOOLQ_ROWS

pytestmark = pytest.mark.django_db


@pytest.fixture
def model():
    return LanguageModel.objects.create(name="Tarvenil-135M", source="/nonexistent", gguf_file="weights.gguf")


@pytest.fixture
def boolq_data(data_dir, tmp_path):
    write_jsonl(tmp_path / "boolq" / "validation.jsonl", BOOLQ_ROWS)
    import_from_directory("boolq", tmp_path / "boolq")


def import_triviaqa(tmp_path):
    row = {"question": "Who wrote Hamlet", "answer": {"aliases": ["Shakespeare"]}}
    write_jsonl(tmp_path / "triviaqa" / "validation.jsonl", [row] * 6)
    import_from_directory("triviaqa", tmp_path / "triviaqa")


def test_default_and_given_shot_counts(model, boolq_data, tmp_path):
    import_triviaqa(tmp_path)

    default = create_benchmark_run(model, ["boolq", "triviaqa"])
    given = create_benchmark_run(model, ["boolq", "triviaqa"], shots={"triviaqa": 0, "boolq": 2}, limit=10)

    assert default.shots == {"boolq": 0, "triviaqa": 5}
    assert given.shots == {"boolq": 2, "triviaqa": 0}
    assert given.limit == 10
    assert given.status == RunStatus.PENDING


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tasks": []}, "at least one task"),
        ({"shots": {"mmlu": 5}}, "Shot counts given for tasks not in the run: mmlu"),
        ({"limit": 0}, "limit must be a positive number"),
        ({"batch_size": 0}, "batch size must be at least 1"),
        ({"max_gen_toks": 0}, "generated tokens must be at least 1"),
    ],
)
def test_invalid_settings_are_rejected(model, boolq_data, options, message):
    arguments = {"tasks": ["boolq"], **options}

    with pytest.raises(BenchmarkSettingError, match=message):
        create_benchmark_run(model, arguments.pop("tasks"), **arguments)
    assert not BenchmarkRun.objects.exists()


def test_openai_backend_is_rejected(boolq_data):
    remote = LanguageModel.objects.create(
        name="Remote-7B", source="remote", backend="openai", base_url="http://127.0.0.1:9/v1"
    )

    with pytest.raises(BenchmarkSettingError, match="run only on models with the transformers backend"):
        create_benchmark_run(remote, ["boolq"])


def test_missing_data_fails_before_a_run_exists(model, data_dir):
    with pytest.raises(BenchmarkDataMissing, match="No documents are imported for: race"):
        create_benchmark_run(model, ["race"])
    assert not BenchmarkRun.objects.exists()


def test_running_run_cannot_be_claimed_twice(model, boolq_data):
    run = create_benchmark_run(model, ["boolq"])
    claim_benchmark_run(run.pk, task_id="first")

    with pytest.raises(BenchmarkRunNotClaimable):
        claim_benchmark_run(run.pk, task_id="second")
    assert claim_benchmark_run(run.pk, task_id="first").status == RunStatus.RUNNING


def test_celery_task_marks_run_failed_when_data_vanished(model, boolq_data, data_dir):
    run = create_benchmark_run(model, ["boolq"])
    (data_dir / "benchmarks" / "data" / "boolq" / "source.json").unlink()

    with pytest.raises(BenchmarkDataMissing):
        run_benchmarks.apply(args=(run.pk,), throw=True)

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("BenchmarkDataMissing: No documents are imported for: boolq.")
    assert run.finished_at is not None


def test_command_rejects_bad_options(model, boolq_data):
    with pytest.raises(CommandError, match="--shots: 'x=many' is not N or TASK=N"):
        call_command("run_benchmarks", "--model", model.name, "--tasks", "boolq", "--shots", "x=many")
    with pytest.raises(CommandError, match="Unknown benchmark 'lambada'"):
        call_command("run_benchmarks", "--model", model.name, "--tasks", "lambada")
    with pytest.raises(CommandError, match="No model named 'nobody'"):
        call_command("run_benchmarks", "--model", "nobody", "--tasks", "boolq")


def test_command_names_missing_files(model, data_dir):
    with pytest.raises(CommandError) as error:
        call_command("run_benchmarks", "--model", model.name, "--tasks", "race,gsm8k")

    message = str(error.value)
    assert "No documents are imported for: race, gsm8k." in message
    assert "import_benchmark_data --task gsm8k" in message


def test_limit_is_passed_as_lm_eval_reads_it():
    assert lm_eval_limit(None) is None
    assert lm_eval_limit(10.0) == 10
    assert isinstance(lm_eval_limit(10.0), int)
    assert lm_eval_limit(0.25) == 0.25
