"""Malformed input to every import and API write: a clear error that names the field, and no change.

One table per entry point kind. FILE_CASES feed a file to a management
command (import_prompts, import_responses, import_lm_eval, create_study) or
to the benchmark data import. The error must name the file, the field and,
where the format has lines, the line. API_CASES send a bad body to a POST or
PATCH endpoint of /api/v1/; the response must be a 400 whose `errors` list
names the field. UPLOAD_CASES send a bad file to the prompt and response
imports of the API. Every case compares every row of every table before and
after, so a half-written import or a partly applied PATCH fails it.

Case count: 34 file cases (32 command files, 2 benchmark data folders),
51 API cases with JSON bodies and 7 API uploads, 92 in all; test_case_count
keeps this line true.
tests/attacks/test_import_attacks.py, test_api_attacks.py and
test_study_spec_attacks.py hold further cases for single edge cases.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from annotate.assignment import next_assignment
from annotate.items import open_study
from annotate.models import StudyKind
from generation.benchmarks.data import BenchmarkDataError, import_from_directory, stored_data
from generation.models import Backend, LanguageModel
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = pytest.mark.django_db

LM_EVAL_FIXTURE = (
    Path(__file__).parents[1] / "generation" / "benchmarks" / "fixtures" / ("lm_eval_results_boolq_mmlu_gsm8k.json")
)


@dataclass
class World:
    """The objects the cases refer to: open pairwise and rating studies with a leased task each, and a draft study."""

    admin: object
    annotator: object
    prompt_set: object
    other_set: object
    runs: list
    other_run: object
    pairwise: object
    rating: object
    draft: object
    pairwise_task: object
    rating_task: object
    imported_model: object


@pytest.fixture
def world(db, settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    prompt_set = make_prompt_set(name="core")
    other_set = make_prompt_set(name="other")
    runs = [make_run(prompt_set, model_name=f"Model-{number}") for number in range(2)]
    other_run = make_run(other_set, model_name="Model-other")
    annotator = make_user("annotator-a")
    admin = make_user("admin-a", superuser=True)
    make_user("annotator-b")

    pairwise = make_study(runs, name="Pairwise", criteria=("helpfulness", "accuracy"), annotators=[annotator])
    open_study(pairwise, seed=1)
    rating = make_study(runs, kind=StudyKind.RATING, name="Rating", criteria=("fluency",), annotators=[annotator])
    open_study(rating, seed=1)
    draft = make_study(runs, name="Draft", criteria=("overall",))
    imported_model = LanguageModel.objects.create(name="Imported", source="", backend=Backend.IMPORTED)
    return World(
        admin=admin,
        annotator=annotator,
        prompt_set=prompt_set,
        other_set=other_set,
        runs=runs,
        other_run=other_run,
        pairwise=pairwise,
        rating=rating,
        draft=draft,
        pairwise_task=next_assignment(pairwise, annotator),
        rating_task=next_assignment(rating, annotator),
        imported_model=imported_model,
    )


def database_snapshot() -> dict[str, list]:
    """Return every row of every table, ordered by primary key."""
    snapshot = {}
    for model in apps.get_models():
        rows = model._base_manager.order_by("pk").values_list()
        snapshot[model._meta.label] = [tuple(map(repr, row)) for row in rows]
    return snapshot


def changed_tables(before: dict, after: dict) -> list[str]:
    return sorted(label for label in before if before[label] != after[label])


# File cases


@dataclass(frozen=True)
class FileCase:
    """A file fed to `command`. The error must name `field`, and `line` when it is not None."""

    id: str
    command: str
    filename: str
    content: str | Callable[[], str]
    field: str
    line: int | None


def _lm_eval(change: Callable[[dict], None]) -> Callable[[], str]:
    """Return a builder of the real lm-evaluation-harness results file with `change` applied."""

    def build() -> str:
        data = json.loads(LM_EVAL_FIXTURE.read_text(encoding="utf-8"))
        change(data)
        return json.dumps(data, indent=2)

    return build


def _set_path(data: dict, keys: list, value) -> None:
    for key in keys[:-1]:
        data = data[key]
    data[keys[-1]] = value


GOOD_PROMPT = '{"id": "a", "text": "Hello"}\n'
GOOD_ANSWER = '{"id": "p0", "answer": "Hi"}\n'
SPEC_HEAD = "name: Spec study\nkind: pairwise\nprompt_set: core\nsystems:\n  - model: Model-0\n  - model: Model-1\n"
SPEC_CRITERIA = "criteria:\n  - name: overall\n    question: Which is better?\n"
SPEC = SPEC_HEAD + SPEC_CRITERIA + "annotators: [annotator-a]\n"
PROMPTS = ("import_prompts", "--prompt-set", "new-set")
RESPONSES = ("import_responses", "--model", "Imported", "--prompt-set", "core")
LM_EVAL = ("import_lm_eval", "--model", "Model-0")

FILE_CASES = [
    # import_prompts, JSONL
    FileCase("prompts-turns-not-list", "import_prompts", "p.jsonl", GOOD_PROMPT + '{"turns": "hi"}\n', "turns", 2),
    FileCase("prompts-empty-turn", "import_prompts", "p.jsonl", GOOD_PROMPT + '{"turns": ["hi", " "]}\n', "turns", 2),
    FileCase(
        "prompts-category-number",
        "import_prompts",
        "p.jsonl",
        GOOD_PROMPT + '{"text": "x", "category": 5}\n',
        "category",
        2,
    ),
    FileCase(
        "prompts-reference-object",
        "import_prompts",
        "p.jsonl",
        GOOD_PROMPT + '{"text": "x", "reference_answer": {"a": 1}}\n',
        "reference_answer",
        2,
    ),
    FileCase(
        "prompts-duplicate-id",
        "import_prompts",
        "p.jsonl",
        GOOD_PROMPT + '{"id": "b", "text": "y"}\n' + '{"id": "a", "text": "z"}\n',
        "id",
        3,
    ),
    FileCase(
        "prompts-bad-language",
        "import_prompts",
        "p.jsonl",
        GOOD_PROMPT + '{"text": "x", "language": "english please"}\n',
        "language",
        2,
    ),
    FileCase("prompts-id-float", "import_prompts", "p.jsonl", GOOD_PROMPT + '{"id": 1.5, "text": "x"}\n', "id", 2),
    FileCase("prompts-line-not-object", "import_prompts", "p.jsonl", GOOD_PROMPT + '["text", "x"]\n', "JSON object", 2),
    # import_prompts, CSV
    FileCase("prompts-csv-no-text-column", "import_prompts", "p.csv", "prompt_body,id\nHello,a\n", "text", 1),
    FileCase("prompts-csv-empty-text", "import_prompts", "p.csv", "text,id\nHello,a\n,b\n", "text", 3),
    FileCase("prompts-csv-bad-language", "import_prompts", "p.csv", "text,language\nHello,en\nHi,e n\n", "language", 3),
    # import_responses
    FileCase(
        "responses-unknown-id", "import_responses", "r.jsonl", GOOD_ANSWER + '{"id": "p9", "answer": "x"}\n', "id", 2
    ),
    FileCase(
        "responses-negative-tokens",
        "import_responses",
        "r.jsonl",
        GOOD_ANSWER + '{"id": "p1", "answer": "x", "token_count": -3}\n',
        "token_count",
        2,
    ),
    FileCase(
        "responses-bad-finish-reason",
        "import_responses",
        "r.jsonl",
        GOOD_ANSWER + '{"id": "p1", "answer": "x", "finish_reason": "exploded"}\n',
        "finish_reason",
        2,
    ),
    FileCase(
        "responses-answer-number",
        "import_responses",
        "r.jsonl",
        GOOD_ANSWER + '{"id": "p1", "answer": 42}\n',
        "answer",
        2,
    ),
    FileCase(
        "responses-two-models",
        "import_responses",
        "r.jsonl",
        '{"id": "p0", "answer": "a", "model_id": "m1"}\n{"id": "p1", "answer": "b", "model_id": "m2"}\n',
        "model_id",
        2,
    ),
    FileCase("responses-csv-no-answer", "import_responses", "r.csv", "id,reply\np0,hello\n", "answer", 1),
    # import_lm_eval, on the real results file with one part broken
    FileCase(
        "lm-eval-results-list",
        "import_lm_eval",
        "results_x.json",
        _lm_eval(lambda data: _set_path(data, ["results"], [])),
        "results",
        None,
    ),
    FileCase(
        "lm-eval-metric-text",
        "import_lm_eval",
        "results_x.json",
        _lm_eval(lambda data: _set_path(data, ["results", "boolq", "acc,none"], "high")),
        "acc,none",
        None,
    ),
    FileCase(
        "lm-eval-shots-negative",
        "import_lm_eval",
        "results_x.json",
        _lm_eval(lambda data: _set_path(data, ["n-shot", "boolq"], -1)),
        "n-shot",
        None,
    ),
    FileCase(
        "lm-eval-truncated",
        "import_lm_eval",
        "results_x.json",
        lambda: LM_EVAL_FIXTURE.read_text(encoding="utf-8")[:300],
        "JSON",
        None,
    ),
    # create_study
    FileCase("spec-bad-kind", "create_study", "s.yaml", SPEC.replace("kind: pairwise", "kind: trinary"), "kind", 2),
    FileCase(
        "spec-unknown-annotator",
        "create_study",
        "s.yaml",
        SPEC.replace("[annotator-a]", "[annotator-a, nob]"),
        "annotators[2]",
        10,
    ),
    FileCase("spec-instructions-list", "create_study", "s.yaml", SPEC + "instructions: [a, b]\n", "instructions", 11),
    FileCase("spec-name-too-long", "create_study", "s.yaml", SPEC.replace("Spec study", "n" * 250), "name", 1),
    FileCase("spec-unknown-category", "create_study", "s.yaml", SPEC + "categories: [poetry]\n", "categories", 11),
    FileCase("spec-lease-boolean", "create_study", "s.yaml", SPEC + "lease_minutes: true\n", "lease_minutes", 11),
    FileCase("spec-overlap-huge", "create_study", "s.yaml", SPEC + "overlap: 1e400\n", "overlap", 11),
    FileCase(
        "spec-label-too-long",
        "create_study",
        "s.yaml",
        SPEC.replace(
            "    question: Which is better?\n", "    question: Which is better?\n    low_label: " + "l" * 150 + "\n"
        ),
        "low_label",
        10,
    ),
    FileCase(
        "spec-nul-in-instructions", "create_study", "s.yaml", SPEC + 'instructions: "a\\0b"\n', "instructions", 11
    ),
    FileCase("prompts-csv-nul-byte", "import_prompts", "p.csv", "text,id\nHello,a\nHi\x00there,b\n", "text", 3),
    FileCase(
        "responses-surrogate",
        "import_responses",
        "r.jsonl",
        GOOD_ANSWER + '{"id": "p1", "answer": "a\\ud800"}\n',
        "answer",
        2,
    ),
]
COMMAND_ARGUMENTS = {"import_prompts": PROMPTS, "import_responses": RESPONSES, "import_lm_eval": LM_EVAL}


@pytest.mark.parametrize("case", FILE_CASES, ids=[case.id for case in FILE_CASES])
def test_malformed_file(case, world, tmp_path):
    content = case.content() if callable(case.content) else case.content
    path = tmp_path / case.filename
    path.write_text(content, encoding="utf-8")
    command, *options = COMMAND_ARGUMENTS.get(case.command, (case.command,))
    before = database_snapshot()

    with pytest.raises(CommandError) as error:
        call_command(command, str(path), *options)

    message = str(error.value)
    assert str(path) in message or case.filename in message
    assert case.field in message
    if case.line is not None:
        assert f"line {case.line}" in message
    assert "Traceback" not in message
    assert changed_tables(before, database_snapshot()) == []


BOOLQ_GOOD = {"question": "is the sky blue", "passage": "The sky looks blue by day.", "label": 1}
BENCHMARK_CASES = [
    ("benchmark-label-out-of-range", [BOOLQ_GOOD, {**BOOLQ_GOOD, "label": 7}], "label", 2),
    ("benchmark-missing-passage", [BOOLQ_GOOD, BOOLQ_GOOD, {"question": "q", "label": 0}], "passage", 3),
]


@pytest.mark.parametrize(("case_id", "rows", "field", "line"), BENCHMARK_CASES, ids=[c[0] for c in BENCHMARK_CASES])
def test_malformed_benchmark_data(case_id, rows, field, line, world, tmp_path):
    folder = tmp_path / "boolq"
    folder.mkdir()
    path = folder / "validation.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    before = database_snapshot()

    with pytest.raises(BenchmarkDataError) as error:
        import_from_directory("boolq", folder)

    message = str(error.value)
    assert f"{path} line {line}" in message
    assert f"'{field}'" in message
    assert stored_data("boolq") is None
    assert changed_tables(before, database_snapshot()) == []


# API cases


@dataclass(frozen=True)
class ApiCase:
    """A request with a bad body; the 400 response must name `field` in its `errors`."""

    id: str
    method: str
    url: Callable[[World], str]
    body: Callable[[World], object]
    field: str
    as_annotator: bool = False


def _study(study_name: str, suffix: str = "") -> Callable[[World], str]:
    return lambda world: f"/api/v1/studies/{getattr(world, study_name).uuid}/{suffix}"


def _task(task_name: str, action: str) -> Callable[[World], str]:
    def url(world):
        assignment = getattr(world, task_name)
        return f"/api/v1/annotate/studies/{assignment.item.study.uuid}/tasks/{assignment.uuid}/{action}/"

    return url


def _new_study(world, **changes) -> dict:
    body = {
        "name": "API study",
        "kind": "pairwise",
        "prompt_set": str(world.prompt_set.uuid),
        "systems": [str(run.uuid) for run in world.runs],
        "criteria": [{"name": "overall", "question": "Which is better?"}],
    }
    body.update(changes)
    return body


def _item(world):
    return world.pairwise.items.order_by("sort_key").first()


def _gold_url(world):
    return f"/api/v1/studies/{world.pairwise.uuid}/items/{_item(world).uuid}/gold/"


def _rating_gold_url(world):
    item = world.rating.items.order_by("sort_key").first()
    return f"/api/v1/studies/{world.rating.uuid}/items/{item.uuid}/gold/"


def _other_item_response(world):
    items = world.pairwise.items.order_by("sort_key")
    first = items.first()
    for item in items:
        if {item.first_response_id, item.second_response_id}.isdisjoint(
            {first.first_response_id, first.second_response_id}
        ):
            return str(item.first_response.uuid)
    raise AssertionError("every item shares a response with the first")


def _answers(**answers):
    return lambda world: {"answers": answers}


API_CASES = [
    # Studies: POST
    ApiCase("study-bad-kind", "post", lambda w: "/api/v1/studies/", lambda w: _new_study(w, kind="trinary"), "kind"),
    ApiCase(
        "study-overlap-negative", "post", lambda w: "/api/v1/studies/", lambda w: _new_study(w, overlap=-1), "overlap"
    ),
    ApiCase(
        "study-gold-rate-text",
        "post",
        lambda w: "/api/v1/studies/",
        lambda w: _new_study(w, gold_rate="half"),
        "gold_rate",
    ),
    ApiCase(
        "study-system-other-set",
        "post",
        lambda w: "/api/v1/studies/",
        lambda w: _new_study(w, systems=[str(w.runs[0].uuid), str(w.other_run.uuid)]),
        "systems",
    ),
    ApiCase(
        "study-criterion-no-question",
        "post",
        lambda w: "/api/v1/studies/",
        lambda w: _new_study(w, criteria=[{"name": "overall"}]),
        "criteria[0].question",
    ),
    ApiCase(
        "study-duplicate-criteria",
        "post",
        lambda w: "/api/v1/studies/",
        lambda w: _new_study(w, criteria=[{"name": "a", "question": "A?"}, {"name": "a", "question": "B?"}]),
        "criteria[1].name",
    ),
    ApiCase("study-name-taken", "post", lambda w: "/api/v1/studies/", lambda w: _new_study(w, name="Pairwise"), "name"),
    ApiCase(
        "study-prompt-set-not-uuid",
        "post",
        lambda w: "/api/v1/studies/",
        lambda w: _new_study(w, prompt_set="core"),
        "prompt_set",
    ),
    ApiCase("study-body-is-list", "post", lambda w: "/api/v1/studies/", lambda w: [_new_study(w)], "non_field_errors"),
    # Studies: PATCH
    ApiCase("study-patch-name-too-long", "patch", _study("draft"), lambda w: {"name": "n" * 201}, "name"),
    ApiCase(
        "study-patch-nul-instructions", "patch", _study("draft"), lambda w: {"instructions": "a\x00b"}, "instructions"
    ),
    ApiCase(
        "study-patch-scale-inverted",
        "patch",
        _study("draft"),
        lambda w: {"criteria": [{"name": "overall", "question": "Q?", "scale_min": 5, "scale_max": 1}]},
        "criteria[0].scale_max",
    ),
    ApiCase("study-patch-open-kind", "patch", _study("pairwise"), lambda w: {"kind": "rating"}, "kind"),
    ApiCase("study-patch-status", "patch", _study("draft"), lambda w: {"status": "open"}, "status"),
    # Items: gold answers and attention checks
    ApiCase("gold-bad-outcome", "post", _gold_url, lambda w: {"outcome": "maybe"}, "outcome"),
    ApiCase(
        "gold-winner-of-other-item",
        "post",
        _gold_url,
        lambda w: {"outcome": "win", "winner": _other_item_response(w)},
        "winner",
    ),
    ApiCase(
        "gold-score-on-pairwise",
        "post",
        _gold_url,
        lambda w: {"outcome": "tie", "min_score": 1, "max_score": 2},
        "min_score",
    ),
    ApiCase(
        "gold-outcome-on-rating",
        "post",
        _rating_gold_url,
        lambda w: {"outcome": "tie", "min_score": 1, "max_score": 2},
        "outcome",
    ),
    ApiCase(
        "attention-system-on-rating",
        "post",
        _study("rating", "items/attention-checks/"),
        lambda w: {"prompt": str(w.prompt_set.prompts.first().uuid), "text": "Bad", "system": str(w.runs[0].uuid)},
        "system",
    ),
    ApiCase(
        "attention-prompt-of-other-set",
        "post",
        _study("pairwise", "items/attention-checks/"),
        lambda w: {"prompt": str(w.other_set.prompts.first().uuid), "text": "Bad answer"},
        "prompt",
    ),
    ApiCase(
        "attention-empty-text",
        "post",
        _study("pairwise", "items/attention-checks/"),
        lambda w: {"prompt": str(w.prompt_set.prompts.first().uuid), "text": ""},
        "text",
    ),
    # Annotators
    ApiCase(
        "annotators-space-in-name",
        "post",
        _study("pairwise", "annotators/"),
        lambda w: {"usernames": ["annotator-b", "bad name"]},
        "usernames[1]",
    ),
    ApiCase(
        "annotators-empty-list", "post", _study("pairwise", "annotators/"), lambda w: {"usernames": []}, "usernames"
    ),
    ApiCase(
        "annotators-not-a-list",
        "post",
        _study("pairwise", "annotators/"),
        lambda w: {"usernames": "annotator-b"},
        "usernames",
    ),
    ApiCase(
        "annotator-pause-reason-too-long",
        "post",
        _study("pairwise", "annotators/annotator-a/pause/"),
        lambda w: {"reason": "r" * 501},
        "reason",
    ),
    # Runs, models and prompt sets
    ApiCase(
        "run-negative-temperature",
        "post",
        lambda w: "/api/v1/runs/",
        lambda w: {
            "model": str(w.runs[0].model.uuid),
            "prompt_set": str(w.prompt_set.uuid),
            "label": "x",
            "temperature": -1,
        },
        "temperature",
    ),
    ApiCase(
        "run-unknown-model",
        "post",
        lambda w: "/api/v1/runs/",
        lambda w: {"model": "00000000-0000-4000-8000-000000000000", "prompt_set": str(w.prompt_set.uuid)},
        "model",
    ),
    ApiCase(
        "run-batch-size-zero",
        "post",
        lambda w: "/api/v1/runs/",
        lambda w: {
            "model": str(w.runs[0].model.uuid),
            "prompt_set": str(w.prompt_set.uuid),
            "label": "x",
            "batch_size": 0,
        },
        "batch_size",
    ),
    ApiCase(
        "model-top-p-above-one",
        "post",
        lambda w: "/api/v1/models/",
        lambda w: {"name": "New", "source": "/x", "top_p": 1.5},
        "top_p",
    ),
    ApiCase(
        "model-patch-empty-name",
        "patch",
        lambda w: f"/api/v1/models/{w.runs[0].model.uuid}/",
        lambda w: {"name": ""},
        "name",
    ),
    ApiCase("prompt-set-empty-name", "post", lambda w: "/api/v1/prompt-sets/", lambda w: {"name": ""}, "name"),
    ApiCase("prompt-set-name-taken", "post", lambda w: "/api/v1/prompt-sets/", lambda w: {"name": "core"}, "name"),
    # Task submit and skip, as the annotator
    ApiCase(
        "submit-unknown-choice",
        "post",
        _task("pairwise_task", "submit"),
        _answers(helpfulness="C", accuracy="A"),
        "answers.helpfulness",
        as_annotator=True,
    ),
    ApiCase(
        "submit-missing-criterion",
        "post",
        _task("pairwise_task", "submit"),
        _answers(helpfulness="A"),
        "answers.accuracy",
        as_annotator=True,
    ),
    ApiCase(
        "submit-score-below-scale",
        "post",
        _task("rating_task", "submit"),
        _answers(fluency=0),
        "answers.fluency",
        as_annotator=True,
    ),
    ApiCase(
        "submit-rationale-too-long",
        "post",
        _task("pairwise_task", "submit"),
        lambda w: {"answers": {"helpfulness": "A", "accuracy": "A"}, "rationale": "r" * 5001},
        "rationale",
        as_annotator=True,
    ),
    ApiCase(
        "submit-negative-time",
        "post",
        _task("pairwise_task", "submit"),
        lambda w: {"answers": {"helpfulness": "A", "accuracy": "A"}, "time_on_task": -5},
        "time_on_task",
        as_annotator=True,
    ),
    ApiCase(
        "skip-unknown-reason",
        "post",
        _task("pairwise_task", "skip"),
        lambda w: {"reason": "bored"},
        "reason",
        as_annotator=True,
    ),
    ApiCase(
        "skip-note-surrogate",
        "post",
        _task("pairwise_task", "skip"),
        lambda w: {"reason": "other", "note": "\ud800"},
        "note",
        as_annotator=True,
    ),
    ApiCase(
        "submit-rationale-surrogate",
        "post",
        _task("pairwise_task", "submit"),
        lambda w: {"answers": {"helpfulness": "A", "accuracy": "A"}, "rationale": "a\ud800b"},
        "rationale",
        as_annotator=True,
    ),
    ApiCase(
        "submit-answers-list",
        "post",
        _task("pairwise_task", "submit"),
        lambda w: {"answers": ["A", "A"]},
        "answers",
        as_annotator=True,
    ),
    # JSON has no NaN, so the parser rejects the whole body and names the token, not a field.
    ApiCase(
        "submit-time-bare-nan",
        "post",
        _task("pairwise_task", "submit"),
        lambda w: {"answers": {"helpfulness": "A", "accuracy": "A"}, "time_on_task": float("nan")},
        "non_field_errors",
        as_annotator=True,
    ),
    ApiCase(
        "submit-time-nan",
        "post",
        _task("pairwise_task", "submit"),
        lambda w: {"answers": {"helpfulness": "A", "accuracy": "A"}, "time_on_task": "NaN"},
        "time_on_task",
        as_annotator=True,
    ),
    ApiCase(
        "study-lease-too-long",
        "post",
        lambda w: "/api/v1/studies/",
        lambda w: _new_study(w, lease_minutes=100000),
        "lease_minutes",
    ),
    ApiCase(
        "study-instructions-surrogate",
        "post",
        lambda w: "/api/v1/studies/",
        lambda w: _new_study(w, instructions="x\ud800"),
        "instructions",
    ),
    ApiCase(
        "study-criterion-nul-name",
        "post",
        lambda w: "/api/v1/studies/",
        lambda w: _new_study(w, criteria=[{"name": "a\x00", "question": "Q?"}]),
        "criteria[0].name",
    ),
    ApiCase(
        "study-category-number",
        "post",
        lambda w: "/api/v1/studies/",
        lambda w: _new_study(w, categories=[5]),
        "categories",
    ),
    ApiCase("study-patch-system-not-uuid", "patch", _study("draft"), lambda w: {"systems": ["Model-0"]}, "systems"),
    ApiCase(
        "model-stop-strings-text",
        "post",
        lambda w: "/api/v1/models/",
        lambda w: {"name": "New", "source": "/x", "stop_strings": "END"},
        "stop_strings",
    ),
    ApiCase(
        "model-patch-infinite-temperature",
        "patch",
        lambda w: f"/api/v1/models/{w.runs[0].model.uuid}/",
        lambda w: {"temperature": "Infinity"},
        "temperature",
    ),
    ApiCase(
        "annotator-pause-surrogate",
        "post",
        _study("pairwise", "annotators/annotator-a/pause/"),
        lambda w: {"reason": "\udfff"},
        "reason",
    ),
]


def test_case_count():
    """The module docstring states how many cases there are; keep it true."""
    assert len(FILE_CASES) == 32
    assert len(BENCHMARK_CASES) == 2
    assert len(API_CASES) == 51
    assert len(UPLOAD_CASES) == 7


@pytest.mark.parametrize("case", API_CASES, ids=[case.id for case in API_CASES])
def test_malformed_api_write(case, world):
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(world.annotator if case.as_annotator else world.admin)
    url = case.url(world)
    body = case.body(world)
    before = database_snapshot()

    response = getattr(client, case.method)(url, json.dumps(body), content_type="application/json")

    assert response.status_code == 400, response.content[:500]
    errors = response.json()["errors"]
    fields = [error["field"] or "non_field_errors" for error in errors]
    assert case.field in fields, errors
    messages = [error["message"] for error in errors]
    assert all(message.strip() for message in messages), errors
    assert changed_tables(before, database_snapshot()) == []


# Uploads: (id, URL, file name, file bytes, other form fields, field named, line named or None)
def _prompt_import_url(world):
    return f"/api/v1/prompt-sets/{world.other_set.uuid}/import/"


def _response_form(world):
    return {"model": str(world.imported_model.uuid), "prompt_set": str(world.prompt_set.uuid)}


UPLOAD_CASES = [
    ("upload-prompts-utf16", _prompt_import_url, "p.jsonl", GOOD_PROMPT.encode("utf-16"), lambda w: {}, "file", None),
    ("upload-prompts-empty", _prompt_import_url, "p.jsonl", b"", lambda w: {}, "file", None),
    ("upload-prompts-wrong-suffix", _prompt_import_url, "p.xlsx", b"PK\x03\x04binary", lambda w: {}, "file", None),
    (
        "upload-prompts-bad-line",
        _prompt_import_url,
        "p.jsonl",
        (GOOD_PROMPT + "{not json\n").encode(),
        lambda w: {},
        "file",
        2,
    ),
    (
        "upload-prompts-bad-language-field",
        _prompt_import_url,
        "p.jsonl",
        GOOD_PROMPT.encode(),
        lambda w: {"language": "not a tag"},
        "language",
        None,
    ),
    (
        "upload-responses-unknown-id",
        lambda w: "/api/v1/runs/import-responses/",
        "r.jsonl",
        (GOOD_ANSWER + '{"id": "p9", "answer": "x"}\n').encode(),
        _response_form,
        "file",
        2,
    ),
    (
        "upload-responses-no-model",
        lambda w: "/api/v1/runs/import-responses/",
        "r.jsonl",
        GOOD_ANSWER.encode(),
        lambda w: {"prompt_set": str(w.prompt_set.uuid)},
        "model",
        None,
    ),
]


@pytest.mark.parametrize(
    ("case_id", "url", "filename", "data", "form", "field", "line"), UPLOAD_CASES, ids=[c[0] for c in UPLOAD_CASES]
)
def test_malformed_upload(case_id, url, filename, data, form, field, line, world):
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(world.admin)
    body = {"file": SimpleUploadedFile(filename, data), **form(world)}
    before = database_snapshot()

    response = client.post(url(world), body, format="multipart")

    assert response.status_code == 400, response.content[:500]
    errors = response.json()["errors"]
    assert field in [error["field"] for error in errors], errors
    if line is not None:
        assert line in [error.get("line") for error in errors], errors
    assert changed_tables(before, database_snapshot()) == []
