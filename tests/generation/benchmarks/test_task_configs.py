"""lm-evaluation-harness task configurations that read humeval's local documents."""

import json

import yaml

from generation.benchmarks.data import data_files, import_from_directory
from generation.benchmarks.task_configs import lm_eval_tasks_folder, write_task_configs
from tests.generation.benchmarks.conftest import write_jsonl
from tests.generation.benchmarks.test_data import BOOLQ_ROWS, race_rows

HELLASWAG_ROW = {
    "ind": 4,
    "activity_label": "Baking cookies",
    "ctx_a": "A woman mixes flour and sugar in a bowl.",
    "ctx_b": "she",
    "ctx": "A woman mixes flour and sugar in a bowl. she",
    "endings": ["adds eggs [title] and stirs.", "drives away.", "sings.", "sleeps."],
    "source_id": "x",
    "split": "val",
    "split_type": "indomain",
    "label": "0",
}


def load_tasks(folder, names):
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(folder), include_defaults=False).load(names)["tasks"]


def test_config_includes_builtin_definition_and_local_files(data_dir, tmp_path):
    write_jsonl(tmp_path / "boolq" / "validation.jsonl", BOOLQ_ROWS)
    write_jsonl(tmp_path / "boolq" / "train.jsonl", BOOLQ_ROWS[:2])
    import_from_directory("boolq", tmp_path / "boolq")

    folder = write_task_configs()

    config = yaml.safe_load((folder / "boolq.yaml").read_text(encoding="utf-8"))
    assert config["include"] == str(lm_eval_tasks_folder() / "super_glue/boolq/default.yaml")
    assert (lm_eval_tasks_folder() / "super_glue/boolq/default.yaml").is_file()
    assert config["task"] == "boolq"
    assert config["dataset_path"] == "json"
    assert config["dataset_kwargs"]["data_files"] == {
        split: str(path) for split, path in sorted(data_files("boolq")[""].items())
    }
    assert config["validation_split"] == "validation"
    assert config["test_split"] is None
    assert config["training_split"] == "train"
    assert config["num_fewshot"] == 0


def test_lm_eval_reads_local_documents_with_builtin_prompts(data_dir, tmp_path):
    write_jsonl(tmp_path / "boolq" / "validation.jsonl", BOOLQ_ROWS)
    write_jsonl(tmp_path / "race" / "test.jsonl", race_rows())
    write_jsonl(tmp_path / "hellaswag" / "validation.jsonl", [HELLASWAG_ROW])
    for task in ("boolq", "race", "hellaswag"):
        import_from_directory(task, tmp_path / task)
    folder = write_task_configs()

    tasks = load_tasks(folder, ["boolq", "race", "hellaswag"])

    boolq_docs = list(tasks["boolq"].eval_docs)
    assert len(boolq_docs) == 3
    assert (
        tasks["boolq"].doc_to_text(boolq_docs[0]) == "The sky looks blue by day.\nQuestion: is the sky blue?\nAnswer:"
    )
    assert tasks["boolq"].doc_to_target(boolq_docs[0]) == 1
    race_doc = list(tasks["race"].eval_docs)[0]
    assert tasks["race"].doc_to_text(race_doc) == (
        "Article: Tom has a cat.\n\nQuestion: What does Tom have?\nAnswer: one\nWho has a cat?"
    )
    assert tasks["race"].doc_to_target(race_doc) == 1
    hellaswag_doc = list(tasks["hellaswag"].eval_docs)[0]
    # lm-eval's own HellaSwag preprocessing removes the bracketed WikiHow markers.
    assert tasks["hellaswag"].doc_to_text(hellaswag_doc) == (
        "Baking cookies: A woman mixes flour and sugar in a bowl. She"
    )
    assert tasks["hellaswag"].doc_to_choice(hellaswag_doc)[0] == "adds eggs. and stirs."


def test_configs_follow_the_stored_data(data_dir, tmp_path):
    write_jsonl(tmp_path / "race" / "test.jsonl", race_rows())
    import_from_directory("race", tmp_path / "race")
    folder = write_task_configs()
    assert (folder / "race.yaml").is_file()

    (data_dir / "benchmarks" / "data" / "race" / "source.json").unlink()
    write_task_configs()

    assert not (folder / "race.yaml").exists()


def test_shot_default_is_written_for_few_shot_tasks(data_dir, tmp_path):
    row = {"question": "Who wrote Hamlet", "question_id": "q1", "answer": {"aliases": ["Shakespeare"], "value": "W"}}
    write_jsonl(tmp_path / "triviaqa" / "validation.jsonl", [row, {**row, "question_id": "q2"}])
    import_from_directory("triviaqa", tmp_path / "triviaqa")

    folder = write_task_configs()

    config = yaml.safe_load((folder / "triviaqa.yaml").read_text(encoding="utf-8"))
    assert config["num_fewshot"] == 5
    stored = json.loads(data_files("triviaqa")[""]["validation"].read_text(encoding="utf-8").splitlines()[0])
    assert stored["answer"] == {"value": "W", "aliases": ["Shakespeare"]}
