"""Malformed prompt files: each fails with PromptImportError naming the line and field, or imports correctly."""

import pytest

from generation.models import PromptSet
from generation.prompt_import import PromptImportError, import_prompt_file, read_prompt_file

pytestmark = pytest.mark.django_db


def write_bytes(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_null_language_reported(tmp_path):
    """A JSONL `"language": null` raises IntegrityError instead of PromptImportError."""
    path = write_bytes(tmp_path, "p.jsonl", b'{"text": "Hi", "language": null}\n')

    with pytest.raises(PromptImportError):
        import_prompt_file(path, "null-language")

    assert not PromptSet.objects.filter(name="null-language").exists()


@pytest.mark.parametrize("value", [b"0", b"false", b"[]"])
def test_falsy_language_rejected(tmp_path, value):
    """A JSONL language of 0, false or [] is imported as the text '0', 'False' or '[]'."""
    path = write_bytes(tmp_path, "p.jsonl", b'{"text": "Hi", "language": ' + value + b"}\n")

    with pytest.raises(PromptImportError, match="language"):
        read_prompt_file(path)


def test_overlong_language_rejected(tmp_path):
    """A 39-character language tag is stored unchecked on SQLite and raises DataError on PostgreSQL."""
    tag = "en-aaaaaaaa-bbbbbbbb-cccccccc-dddddddd"
    path = write_bytes(tmp_path, "p.jsonl", b'{"text": "Hi", "language": "' + tag.encode() + b'"}\n')

    with pytest.raises(PromptImportError, match="language"):
        import_prompt_file(path, "long-language")


def test_line_separator_inside_json_string(tmp_path):
    """A valid JSONL line whose string contains a raw U+2028 or U+0085 is rejected as invalid JSON."""
    data = '{"id": "a", "text": "one\u2028two"}\n{"id": "b", "text": "three\x85four"}\n'.encode()
    path = write_bytes(tmp_path, "p.jsonl", data)

    prompts = read_prompt_file(path)

    assert [prompt.text for prompt in prompts] == ["one\u2028two", "three\x85four"]


def test_csv_cell_over_field_limit(tmp_path):
    """A CSV prompt longer than 128 KiB raises _csv.Error; the same prompt imports from JSONL."""
    text = "y" * 200_000
    path = write_bytes(tmp_path, "p.csv", b"text\n" + text.encode() + b"\n")

    prompts = read_prompt_file(path)

    assert prompts[0].text == text


def test_csv_unterminated_quote_reported(tmp_path):
    """An unterminated quote swallows the rest of the file into one prompt text instead of an error."""
    path = write_bytes(tmp_path, "p.csv", b'text,id\nfirst,1\n"unterminated,2\nthird,3\n')

    with pytest.raises(PromptImportError):
        read_prompt_file(path)


def test_lone_surrogate_reported(tmp_path):
    r"""A JSONL text with "\ud800" raises UnicodeEncodeError at insert time."""
    path = write_bytes(tmp_path, "p.jsonl", b'{"text": "a\\ud800b"}\n')

    with pytest.raises(PromptImportError, match="line 1"):
        import_prompt_file(path, "surrogate")


def test_deeply_nested_json_reported(tmp_path):
    """A JSONL line nested 100,000 levels deep ends the command with a RecursionError traceback."""
    path = write_bytes(tmp_path, "p.jsonl", b'{"text": "ok", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n")

    with pytest.raises(PromptImportError, match="line 1"):
        read_prompt_file(path)


def test_huge_integer_id_reported(tmp_path):
    """An id of 5000 digits ends the command with a ValueError traceback."""
    path = write_bytes(tmp_path, "p.jsonl", b'{"text": "ok", "id": ' + b"9" * 5000 + b"}\n")

    with pytest.raises(PromptImportError, match="line 1"):
        read_prompt_file(path)


def test_overlong_prompt_set_name_rejected(tmp_path):
    """A 150-character --prompt-set is stored on SQLite and raises DataError on PostgreSQL."""
    path = write_bytes(tmp_path, "p.jsonl", b'{"text": "Hi"}\n')

    with pytest.raises(PromptImportError):
        import_prompt_file(path, "n" * 150)


def test_empty_prompt_set_name_rejected(tmp_path):
    """`--prompt-set ''` creates a prompt set with an empty name."""
    path = write_bytes(tmp_path, "p.jsonl", b'{"text": "Hi"}\n')

    with pytest.raises(PromptImportError):
        import_prompt_file(path, "")


def test_nul_in_text_reported(tmp_path):
    r"""A JSONL text with "\u0000" raised ValueError from psycopg2 on PostgreSQL; it is rejected everywhere now."""
    path = write_bytes(tmp_path, "p.jsonl", b'{"text": "a\\u0000b"}\n')

    with pytest.raises(PromptImportError, match="line 1"):
        import_prompt_file(path, "nul")
