import json

import pytest
from django.core.management import CommandError, call_command

from generation.models import Prompt, PromptSet
from generation.prompt_import import CORE_PROMPTS, PromptImportError, import_prompt_file, read_prompt_file

pytestmark = pytest.mark.django_db


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_core_prompt_file_is_valid():
    prompts = read_prompt_file(CORE_PROMPTS)
    categories = {prompt.category for prompt in prompts}
    chinese = [prompt for prompt in prompts if prompt.language == "zh-Hans"]
    assert len(prompts) >= 40
    assert len(categories) >= 6
    assert len(chinese) * 4 >= len(prompts)


def test_jsonl_import_keeps_order_and_fields(tmp_path):
    rows = [
        {"id": "a1", "category": "maths", "language": "en", "text": "What is 2+2?", "reference_answer": "4"},
        {"id": "a2", "category": "写作", "language": "zh-Hans", "text": "写一首关于秋天的短诗。"},
    ]
    path = write(tmp_path, "p.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows))

    prompt_set = import_prompt_file(path, "mine")

    stored = list(prompt_set.prompts.order_by("position"))
    assert [p.external_id for p in stored] == ["a1", "a2"]
    assert stored[0].reference_answer == "4"
    assert stored[1].text == "写一首关于秋天的短诗。"
    assert stored[1].category == "写作"


def test_csv_import_with_bom(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('id,category,language,text\nx,coding,en,"Reverse a string, in Python."\n', encoding="utf-8-sig")

    prompt_set = import_prompt_file(path, "csv-set")

    assert prompt_set.prompts.get().text == "Reverse a string, in Python."


def test_mt_bench_first_turns(tmp_path):
    line = {"question_id": 81, "category": "writing", "turns": ["First turn.", "Second turn."]}
    path = write(tmp_path, "question.jsonl", json.dumps(line))

    prompt_set = import_prompt_file(path, "mt", default_language="en", first_turn_only=True)

    prompt = prompt_set.prompts.get()
    assert prompt.external_id == "81"
    assert prompt.text == "First turn."
    assert prompt.follow_up_turns == []
    assert prompt.language == "en"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"id": "a", "text": "ok"}\n{"id": "b"}\n', "line 2: field 'text' is missing"),
        ('{"id": "a", "text": "ok"}\nnot json\n', "line 2: invalid JSON"),
        ('{"id": "a", "text": "ok"}\n{"id": "a", "text": "again"}\n', "line 2: field 'id' 'a' repeats line 1"),
        ('{"text": "ok", "language": "english!"}\n', "line 1: field 'language' 'english!' is not a BCP 47 code"),
        ('{"text": "ok", "turns": []}\n', "line 1: field 'turns' must be a non-empty list"),
        ('["a list"]\n', "line 1: expected a JSON object"),
        ("", "the file holds no prompts"),
    ],
)
def test_bad_jsonl_names_line_and_writes_nothing(tmp_path, content, expected):
    path = write(tmp_path, "bad.jsonl", content)

    with pytest.raises(PromptImportError) as caught:
        import_prompt_file(path, "bad")

    assert expected in str(caught.value)
    assert str(path) in str(caught.value)
    assert not PromptSet.objects.exists()
    assert not Prompt.objects.exists()


def test_csv_without_text_column(tmp_path):
    path = write(tmp_path, "bad.csv", "id,question\n1,hello\n")

    with pytest.raises(PromptImportError, match="header has no 'text' column"):
        import_prompt_file(path, "bad")


def test_non_utf8_file_is_rejected(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"text": "caf\u00e9"}'.encode("latin-1"))

    with pytest.raises(PromptImportError, match="not valid UTF-8"):
        import_prompt_file(path, "bad")


def test_existing_prompt_set_is_not_overwritten(tmp_path):
    path = write(tmp_path, "p.jsonl", '{"text": "one"}\n')
    import_prompt_file(path, "taken")

    with pytest.raises(PromptImportError, match="exists already"):
        import_prompt_file(path, "taken")
    assert Prompt.objects.count() == 1


def test_command_reports_errors_without_traceback(tmp_path):
    path = write(tmp_path, "bad.jsonl", '{"id": 1}\n')

    with pytest.raises(CommandError, match="line 1: field 'text' is missing"):
        call_command("import_prompts", str(path), "--prompt-set", "x")


def test_command_imports(tmp_path, capsys):
    path = write(tmp_path, "p.jsonl", '{"text": "one"}\n{"text": "two"}\n')

    call_command("import_prompts", str(path), "--prompt-set", "two-prompts", "--language", "en")

    assert "Imported 2 prompts" in capsys.readouterr().out
    assert set(Prompt.objects.values_list("language", flat=True)) == {"en"}
