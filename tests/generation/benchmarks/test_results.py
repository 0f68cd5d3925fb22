"""Reading lm-evaluation-harness results files and OpenCompass summaries, and storing their scores.

The lm-evaluation-harness fixture is real output of its command line (see
fixtures/README.md); the malformed files are that file with one part broken.
"""

import copy
import json

import pytest
from django.core.management import CommandError, call_command

from generation.benchmarks.importing import ScoreImportError, import_score_files
from generation.benchmarks.results import ResultsFormatError, parse_lm_eval_results
from generation.models import BenchmarkResult, BenchmarkSource, LanguageModel
from tests.generation.benchmarks.conftest import FIXTURES

pytestmark = pytest.mark.django_db

RESULTS_FILE = FIXTURES / "lm_eval_results_boolq_mmlu_gsm8k.json"


def real_results() -> dict:
    return json.loads(RESULTS_FILE.read_text(encoding="utf-8"))


def write_json(tmp_path, data, name="results.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def model():
    return LanguageModel.objects.create(name="Vintrelle-135M", source="/nonexistent")


def test_parse_real_results_file():
    data = real_results()

    parsed = parse_lm_eval_results(data, "results.json")

    scores = {(score.task, score.metric, score.filter): score for score in parsed.scores}
    boolq = scores[("boolq", "acc", "none")]
    assert boolq.value == data["results"]["boolq"]["acc,none"]
    assert boolq.shots == 0
    assert boolq.stderr is None  # "N/A" in the file: one document has no standard error
    assert boolq.sample_count == 1
    assert boolq.task_config["dataset_path"] == "json"
    assert scores[("gsm8k", "exact_match", "flexible-extract")].value == 0.0
    assert ("gsm8k", "exact_match", "strict-match") in scores
    mmlu = scores[("mmlu", "acc", "none")]
    assert mmlu.value == data["results"]["mmlu"]["acc,none"]
    assert mmlu.shots == 0  # from its subtasks: the file has no n-shot for the group
    assert mmlu.sample_count == 57
    assert mmlu.parent_group == ""
    assert scores[("mmlu_anatomy", "acc", "none")].parent_group == "mmlu_stem"
    assert scores[("mmlu_stem", "acc", "none")].parent_group == "mmlu"
    assert parsed.limit == 1.0
    assert parsed.lm_eval_version == "0.4.13"
    assert parsed.evaluated_at.timestamp() == pytest.approx(data["date"])


@pytest.mark.parametrize(
    ("breaking", "message"),
    [
        (lambda data: data.pop("results"), "no 'results' object keyed by task"),
        (lambda data: data.update(results=[]), "no 'results' object keyed by task"),
        (lambda data: data["results"].update(boolq=0.5), "results['boolq'] must be an object of metrics"),
        (lambda data: data["results"]["boolq"].update(acc=0.5), "key 'acc' is not of the form \"metric,filter\""),
        (lambda data: data["results"]["boolq"].update({"acc,none": "high"}), "must be a number, got 'high'"),
        (lambda data: data["n-shot"].update(boolq=-1), "n-shot['boolq'] must be a whole number"),
        (lambda data: data["n-shot"].pop("boolq"), "no shot count for 'boolq'"),
        (lambda data: data.update(date="yesterday"), "field 'date' must be a Unix time"),
        (lambda data: data["config"].update(limit="ten"), "config.limit: expected a number"),
        (lambda data: data.update(configs=[]), "field 'configs' must be an object"),
    ],
)
def test_malformed_results_are_rejected_with_reason(breaking, message):
    data = copy.deepcopy(real_results())
    breaking(data)

    with pytest.raises(ResultsFormatError) as error:
        parse_lm_eval_results(data, "results.json")

    assert str(error.value).startswith("results.json: ")
    assert message in str(error.value)


def test_import_stores_scores_and_replaces_on_reimport(model):
    imported = import_score_files([RESULTS_FILE], model_name=model.name)

    stored = BenchmarkResult.objects.filter(model=model)
    count = stored.count()
    assert imported[0].count == count
    assert stored.get(task="boolq", metric="acc").source == BenchmarkSource.IMPORTED
    assert stored.get(task="boolq", metric="acc").source_file == str(RESULTS_FILE.resolve())
    assert stored.get(task="boolq", metric="acc").limit == 1.0
    assert stored.get(task="mmlu").sample_count == 57

    import_score_files([RESULTS_FILE], model_name=model.name)

    assert BenchmarkResult.objects.filter(model=model).count() == count


def test_reimport_with_other_value_replaces(model, tmp_path):
    import_score_files([RESULTS_FILE], model_name=model.name)
    data = real_results()
    data["results"]["boolq"]["acc,none"] = 0.25
    del data["results"]["gsm8k"]
    changed = write_json(tmp_path, data)

    import_score_files([changed], model_name=model.name)

    assert BenchmarkResult.objects.get(model=model, task="boolq").value == 0.25
    # gsm8k was not in the second file, so its earlier scores stay.
    assert BenchmarkResult.objects.filter(model=model, task="gsm8k").count() == 2


def test_other_shot_count_is_kept_beside(model, tmp_path):
    import_score_files([RESULTS_FILE], model_name=model.name)
    data = real_results()
    data["n-shot"]["boolq"] = 3
    three_shot = write_json(tmp_path, data)

    import_score_files([three_shot], model_name=model.name)

    assert sorted(BenchmarkResult.objects.filter(model=model, task="boolq").values_list("shots", flat=True)) == [0, 3]


def test_import_of_several_files_is_all_or_nothing(model, tmp_path):
    data = real_results()
    data["results"]["boolq"]["acc,none"] = "N/A?"
    bad = write_json(tmp_path, data, "bad.json")

    with pytest.raises(ScoreImportError, match="bad.json"):
        import_score_files([RESULTS_FILE, bad], model_name=model.name)

    assert not BenchmarkResult.objects.exists()


def test_unknown_format_is_rejected(model, tmp_path):
    text_file = tmp_path / "scores.txt"
    text_file.write_text("boolq 0.61\nmmlu 0.25\n", encoding="utf-8")

    with pytest.raises(ScoreImportError, match="scores.txt: unknown format"):
        import_score_files([text_file], model_name=model.name)


def test_invalid_json_names_line(model, tmp_path):
    broken = tmp_path / "results.json"
    broken.write_text('{\n  "results": {,\n}', encoding="utf-8")

    with pytest.raises(ScoreImportError, match=r"results.json line 2: invalid JSON"):
        import_score_files([broken], model_name=model.name)


def test_lm_eval_file_needs_model(tmp_path):
    with pytest.raises(ScoreImportError, match="give it with --model NAME"):
        import_score_files([RESULTS_FILE])


def test_unknown_model_is_named(tmp_path):
    with pytest.raises(ScoreImportError, match="No model named 'Nobody'"):
        import_score_files([RESULTS_FILE], model_name="Nobody")


# OpenCompass summaries

SUMMARY = (
    "dataset,version,metric,mode,Vintrelle-135M,opencompass-column-b\n"
    "--------- 考试 Exam ---------,-,-,-,-,-\n"
    "mmlu,f9c9a8,naive_average,gen,25.31,44.10\n"
    "gsm8k,1d7fe4,accuracy,gen,3.50,-\n"
    "ceval-physics,db9ce2,accuracy,gen,-,61.00\n"
)


def write_summary(tmp_path, text=SUMMARY):
    path = tmp_path / "summary_20260101_000000.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_opencompass_columns_map_by_name_and_map_option(model, tmp_path):
    other = LanguageModel.objects.create(name="Brasquil-1B", source="/nonexistent")

    import_score_files(
        [write_summary(tmp_path)],
        column_map={"opencompass-column-b": other.name},
        shots={"mmlu": 5},
        default_shots=0,
    )

    mmlu = BenchmarkResult.objects.get(model=model, task="mmlu")
    assert mmlu.value == pytest.approx(0.2531)
    assert mmlu.shots == 5
    assert mmlu.metric == "naive_average"
    assert mmlu.task_config == {"opencompass": {"version": "f9c9a8", "mode": "gen"}}
    assert BenchmarkResult.objects.get(model=model, task="gsm8k").shots == 0
    assert not BenchmarkResult.objects.filter(model=model, task="ceval-physics").exists()
    assert BenchmarkResult.objects.get(model=other, task="ceval-physics").value == pytest.approx(0.61)
    assert not BenchmarkResult.objects.filter(model=other, task="gsm8k").exists()


def test_opencompass_unmapped_column_is_an_error_unless_skipped(model, tmp_path):
    summary = write_summary(tmp_path)

    with pytest.raises(ScoreImportError, match="no registered model for the columns opencompass-column-b"):
        import_score_files([summary], default_shots=0)
    assert not BenchmarkResult.objects.exists()

    import_score_files([summary], default_shots=0, only_mapped=True)
    assert BenchmarkResult.objects.filter(model=model).count() == 2


def test_opencompass_needs_shot_counts(model, tmp_path):
    with pytest.raises(ScoreImportError, match="line 3: OpenCompass summaries do not record shot counts"):
        import_score_files([write_summary(tmp_path)], only_mapped=True)


def test_opencompass_single_column_takes_model_option(model, tmp_path):
    summary = write_summary(tmp_path, "dataset,version,metric,mode,internlm-7b\nboolq,abc123,accuracy,ppl,61.25\n")

    import_score_files([summary], model_name=model.name, default_shots=0)

    assert BenchmarkResult.objects.get(model=model, task="boolq").value == pytest.approx(0.6125)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dataset,version,metric,mode,m\nmmlu,x,accuracy,gen,12,13\n", "line 2: 6 cells, but the header has 5"),
        ("dataset,version,metric,mode,m\nmmlu,x,accuracy,gen,high\n", "line 2, column 'm': 'high' is not a number"),
        ("dataset,version,metric,mode\nmmlu,x,accuracy,gen\n", "line 1: expected the OpenCompass summary header"),
        ("dataset,version,metric,mode,m,m\n", "line 1: model column names repeat: m"),
        ("dataset,version,metric,mode,m\nmmlu,x,accuracy,gen,1\nmmlu,x,accuracy,gen,2\n", "has two values"),
    ],
)
def test_malformed_summaries_are_rejected(model, tmp_path, text, message):
    with pytest.raises(ScoreImportError) as error:
        import_score_files([write_summary(tmp_path, text)], model_name=model.name, default_shots=0)

    assert message in str(error.value)
    assert not BenchmarkResult.objects.exists()


def test_command_imports_and_reports(model, capsys):
    call_command("import_lm_eval", str(RESULTS_FILE), "--model", model.name)

    output = capsys.readouterr().out
    assert f"stored {BenchmarkResult.objects.filter(model=model).count()} scores for {model.name}" in output


def test_command_errors(model, tmp_path):
    with pytest.raises(CommandError, match="--map 'x': expected COLUMN=MODEL"):
        call_command("import_lm_eval", str(RESULTS_FILE), "--map", "x")
    with pytest.raises(CommandError, match="--shots: 'five' is not N or TASK=N"):
        call_command("import_lm_eval", str(RESULTS_FILE), "--shots", "five")
    with pytest.raises(CommandError, match="file not found"):
        call_command("import_lm_eval", str(tmp_path / "missing.json"), "--model", model.name)


def test_in_memory_results_with_functions_store(model):
    """lm-eval's in-memory results keep Python functions in task configurations; they are stored as text."""
    from generation.benchmarks.results import store_scores

    def process_docs(dataset):
        return dataset

    data = real_results()
    data["configs"]["boolq"]["process_docs"] = process_docs

    parsed = parse_lm_eval_results(data, "in memory")
    store_scores(model, parsed, source=BenchmarkSource.RUN)

    stored = BenchmarkResult.objects.get(model=model, task="boolq", metric="acc")
    assert stored.task_config["process_docs"] == str(process_docs)
    assert stored.task_config["dataset_path"] == "json"
