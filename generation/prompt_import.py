"""Import prompt sets from JSONL or CSV files.

A file is validated whole before anything is written: every bad line is
reported with its line number and field, and a file with any error imports
nothing.

Accepted columns (JSONL keys or CSV header names):
- `text` (or `prompt`, or `turns` as a list of user turns, as MT-Bench's
  question.jsonl has), required;
- `id` (or `question_id`), optional, unique within the file;
- `category`, `language` (a BCP 47 code such as `en` or `zh-Hans`),
  `reference_answer` (or `reference`, a string or a list of strings), optional.
"""

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from generation.models import Prompt, PromptSet

# The project's own prompt set, written for humeval.
CORE_PROMPTS = Path(__file__).resolve().parent / "data" / "prompts" / "humeval-core.jsonl"

_BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_TEXT_KEYS = ("text", "prompt")
_ID_KEYS = ("id", "question_id")
_REFERENCE_KEYS = ("reference_answer", "reference")


class PromptImportError(Exception):
    """A prompt file that cannot be imported; `errors` lists each problem."""

    def __init__(self, path, errors):
        self.path = path
        self.errors = errors
        shown = "\n".join(f"  {error}" for error in errors[:50])
        more = f"\n  ... and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(f"{path}: {len(errors)} error(s), nothing imported:\n{shown}{more}")


@dataclass
class ParsedPrompt:
    line: int
    text: str
    external_id: str = ""
    category: str = ""
    language: str = ""
    reference_answer: str = ""
    follow_up_turns: list[str] = field(default_factory=list)


def read_prompt_file(path: Path, *, default_language: str = "", first_turn_only: bool = False) -> list[ParsedPrompt]:
    """Parse and validate a prompt file; raise PromptImportError listing every problem."""
    path = Path(path)
    if not path.is_file():
        raise PromptImportError(path, ["file not found; give the path of a .jsonl or .csv file"])
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PromptImportError(path, [f"not valid UTF-8 (byte {exc.start}); save the file as UTF-8"]) from exc

    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        rows, errors = _jsonl_rows(content)
    elif suffix in (".csv", ".tsv"):
        rows, errors = _csv_rows(content, delimiter="\t" if suffix == ".tsv" else ",")
    else:
        raise PromptImportError(path, [f"unknown file type {suffix!r}; use .jsonl or .csv"])

    prompts = []
    for line, row in rows:
        parsed = _parse_row(line, row, default_language, first_turn_only, errors)
        if parsed is not None:
            prompts.append(parsed)
    _check_unique_ids(prompts, errors)
    if not prompts and not errors:
        errors.append("the file holds no prompts")
    if errors:
        raise PromptImportError(path, errors)
    return prompts


def _jsonl_rows(content):
    rows, errors = [], []
    for line_number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"line {line_number}: invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(row, dict):
            errors.append(f"line {line_number}: expected a JSON object, found {type(row).__name__}")
            continue
        rows.append((line_number, row))
    return rows, errors


def _csv_rows(content, delimiter):
    reader = csv.DictReader(io.StringIO(content, newline=""), delimiter=delimiter)
    header = reader.fieldnames or []
    if not any(key in header for key in _TEXT_KEYS):
        return [], [f"line 1: header has no 'text' column (found: {', '.join(header) or 'nothing'})"]
    rows = []
    for row in reader:
        if None in row:
            return rows, [f"line {reader.line_num}: more cells than header columns"]
        rows.append((reader.line_num, {key: value for key, value in row.items() if value not in (None, "")}))
    return rows, []


def _parse_row(line, row, default_language, first_turn_only, errors):
    turns = _turns(line, row, errors)
    if turns is None:
        return None

    external_id = row.get(_first_key(row, _ID_KEYS), "")
    if isinstance(external_id, (int, float)) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if not isinstance(external_id, str) or len(external_id) > 100:
        errors.append(f"line {line}: field 'id' must be a string or number of at most 100 characters")
        return None

    language = row.get("language", default_language)
    if language and (not isinstance(language, str) or not _BCP47.match(language)):
        errors.append(f"line {line}: field 'language' {language!r} is not a BCP 47 code such as en or zh-Hans")
        return None

    category = row.get("category", "")
    if not isinstance(category, str) or len(category) > 100:
        errors.append(f"line {line}: field 'category' must be text of at most 100 characters")
        return None

    reference = row.get(_first_key(row, _REFERENCE_KEYS), "")
    if isinstance(reference, list) and all(isinstance(part, str) for part in reference):
        reference = "\n\n".join(reference)
    if not isinstance(reference, str):
        errors.append(f"line {line}: field 'reference_answer' must be text or a list of texts")
        return None

    return ParsedPrompt(
        line=line,
        text=turns[0],
        external_id=external_id.strip(),
        category=category.strip(),
        language=language,
        reference_answer=reference,
        follow_up_turns=[] if first_turn_only else turns[1:],
    )


def _turns(line, row, errors):
    if "turns" in row:
        turns = row["turns"]
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) and t.strip() for t in turns):
            errors.append(f"line {line}: field 'turns' must be a non-empty list of non-empty strings")
            return None
        return turns
    key = _first_key(row, _TEXT_KEYS)
    text = row.get(key)
    if not isinstance(text, str) or not text.strip():
        errors.append(f"line {line}: field 'text' is missing or empty")
        return None
    return [text]


def _first_key(row, keys):
    return next((key for key in keys if key in row), keys[0])


def _check_unique_ids(prompts, errors):
    first_line = {}
    for prompt in prompts:
        if not prompt.external_id:
            continue
        if prompt.external_id in first_line:
            errors.append(
                f"line {prompt.line}: field 'id' {prompt.external_id!r} repeats line {first_line[prompt.external_id]}"
            )
        else:
            first_line[prompt.external_id] = prompt.line


def import_prompt_file(path, prompt_set_name, *, default_language="", first_turn_only=False, description=""):
    """Create prompt set `prompt_set_name` from a file; return it.

    Raises PromptImportError, with nothing written, when the file is invalid
    or the prompt set already exists.
    """
    prompts = read_prompt_file(path, default_language=default_language, first_turn_only=first_turn_only)
    if PromptSet.objects.filter(name=prompt_set_name).exists():
        raise PromptImportError(path, [f"prompt set {prompt_set_name!r} exists already; choose another name"])

    with transaction.atomic():
        prompt_set = PromptSet.objects.create(name=prompt_set_name, description=description, source=str(path))
        Prompt.objects.bulk_create(
            Prompt(
                prompt_set=prompt_set,
                position=position,
                external_id=parsed.external_id,
                category=parsed.category,
                language=parsed.language,
                text=parsed.text,
                follow_up_turns=parsed.follow_up_turns,
                reference_answer=parsed.reference_answer,
            )
            for position, parsed in enumerate(prompts)
        )
    return prompt_set
