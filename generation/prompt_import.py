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
import sys
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from generation.models import Prompt, PromptSet

# Prompts may be long; the csv module's default cell limit is 128 KiB.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

# The project's own prompt set, written for humeval.
CORE_PROMPTS = Path(__file__).resolve().parent / "data" / "prompts" / "humeval-core.jsonl"

_BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_TEXT_KEYS = ("text", "prompt")
_ID_KEYS = ("id", "question_id")
_REFERENCE_KEYS = ("reference_answer", "reference")


class ImportFileError(Exception):
    """A file that cannot be imported; `errors` lists each problem, the message shows the first 50."""

    def __init__(self, path, errors):
        self.path = path
        self.errors = errors
        shown = "\n".join(f"  {error}" for error in errors[:50])
        more = f"\n  ... and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(f"{path}: {len(errors)} error(s), nothing imported:\n{shown}{more}")


class PromptImportError(ImportFileError):
    """A prompt file that cannot be imported."""


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
    if path.is_dir():
        raise PromptImportError(path, ["is a folder; give the path of a .jsonl or .csv file"])
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
        raise PromptImportError(path, sorted(errors, key=_line_number))
    return prompts


def _jsonl_rows(content):
    rows, errors = [], []
    # Split at newlines only: str.splitlines() also splits at U+2028 and
    # U+0085, which may stand raw inside a JSON string.
    for line_number, line in enumerate(content.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"line {line_number}: invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        except (RecursionError, ValueError) as exc:
            # Nesting too deep for the parser, or an integer of over 4,300 digits.
            errors.append(f"line {line_number}: invalid JSON ({type(exc).__name__}: {str(exc)[:100]})")
            continue
        if not isinstance(row, dict):
            errors.append(f"line {line_number}: expected a JSON object, found {type(row).__name__}")
            continue
        rows.append((line_number, row))
    return rows, errors


def read_csv_rows(content: str, delimiter: str, required_columns) -> tuple[list, list[str]]:
    """Parse CSV text into (line number, row) pairs and a list of errors.

    `required_columns` is a list of (description, names) pairs: the header
    must contain one of `names` for each. Empty cells stay in the rows as "".
    """
    # strict=True turns an unterminated quote into an error instead of one
    # cell that swallows the rest of the file.
    reader = csv.DictReader(io.StringIO(content, newline=""), delimiter=delimiter, strict=True)
    rows = []
    try:
        header = reader.fieldnames or []
        found = ", ".join(header) or "nothing"
        for description, names in required_columns:
            if not any(name in header for name in names):
                return [], [f"line 1: header has no {description} column ({', '.join(names)}); found: {found}"]
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            return [], [f"line 1: header repeats column {', '.join(map(repr, duplicates))}"]
        for row in reader:
            if None in row:
                return rows, [f"line {reader.line_num}: more cells than header columns"]
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        # line_num still counts the lines of the last complete row, so the
        # row that failed starts on the next line.
        return rows, [f"line {reader.line_num + 1}: invalid CSV ({exc}); check the quotes on this line"]
    return rows, []


def _csv_rows(content, delimiter):
    rows, errors = read_csv_rows(content, delimiter, [("'text'", _TEXT_KEYS)])
    # An empty cell counts as an absent field.
    return [(line, {key: value for key, value in row.items() if value != ""}) for line, row in rows], errors


class _RowError(Exception):
    """One field of one row is invalid; the message names the field."""


def _parse_row(line, row, default_language, first_turn_only, errors):
    try:
        turns = _turns(row)
        external_id = _external_id(row)
        language = _text_field(row, "language", default=default_language, max_length=35)
        if language and not _BCP47.match(language):
            raise _RowError(f"field 'language' {language!r} is not a BCP 47 code such as en or zh-Hans")
        category = _text_field(row, "category", max_length=100)
        reference = _reference(row)
    except _RowError as exc:
        errors.append(f"line {line}: {exc}")
        return None

    return ParsedPrompt(
        line=line,
        text=turns[0],
        external_id=external_id,
        category=category.strip(),
        language=language,
        reference_answer=reference,
        follow_up_turns=[] if first_turn_only else turns[1:],
    )


def _turns(row) -> list[str]:
    if "turns" in row:
        turns = row["turns"]
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) and t.strip() for t in turns):
            raise _RowError("field 'turns' must be a non-empty list of non-empty strings")
        for turn in turns:
            _check_storable("turns", turn)
        return turns
    key = _first_key(row, _TEXT_KEYS)
    text = row.get(key)
    if not isinstance(text, str) or not text.strip():
        raise _RowError(f"field {key!r} is missing or empty")
    _check_storable(key, text)
    return [text]


def _external_id(row) -> str:
    key = _first_key(row, _ID_KEYS)
    value = row.get(key, "")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > 100:
        raise _RowError(f"field {key!r} must be a string or integer of at most 100 characters")
    _check_storable(key, value)
    return value.strip()


def _text_field(row, key, *, default="", max_length=None) -> str:
    value = row.get(key, default)
    if not isinstance(value, str):
        raise _RowError(f"field {key!r} must be text, found {type(value).__name__} {value!r}"[:200])
    if max_length is not None and len(value) > max_length:
        raise _RowError(f"field {key!r} is longer than {max_length} characters")
    _check_storable(key, value)
    return value


def _reference(row) -> str:
    key = _first_key(row, _REFERENCE_KEYS)
    value = row.get(key, "")
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        value = "\n\n".join(value)
    if not isinstance(value, str):
        raise _RowError(f"field {key!r} must be text or a list of texts")
    _check_storable(key, value)
    return value


def _check_storable(key: str, value: str) -> None:
    """Reject characters that PostgreSQL text columns or UTF-8 cannot store."""
    if "\x00" in value:
        raise _RowError(f"field {key!r} contains a NUL character (\\u0000); remove it")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _RowError(
            f"field {key!r} contains an unpaired surrogate {value[exc.start]!r} at position {exc.start}"
        ) from None


def _line_number(error: str) -> int:
    """Return the line number an error message starts with, or 0 for file-wide errors."""
    match = re.match(r"line (\d+):", error)
    return int(match.group(1)) if match else 0


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
    if not prompt_set_name.strip() or len(prompt_set_name) > 100:
        raise PromptImportError(path, [f"prompt set name {prompt_set_name!r} must be 1 to 100 characters"])
    prompts = read_prompt_file(path, default_language=default_language, first_turn_only=first_turn_only)
    if PromptSet.objects.filter(name=prompt_set_name).exists():
        raise PromptImportError(path, [f"prompt set {prompt_set_name!r} exists already; choose another name"])

    with transaction.atomic():
        prompt_set = PromptSet.objects.create(name=prompt_set_name, description=description, source=str(path))
        Prompt.objects.bulk_create(_new_prompt(prompt_set, position, parsed) for position, parsed in enumerate(prompts))
    return prompt_set


def add_prompt_file(path, prompt_set: PromptSet, *, default_language="", first_turn_only=False) -> int:
    """Add the prompts of a file to the end of an existing prompt set; return how many were added.

    Raises PromptImportError, with nothing written, when the file is invalid,
    when one of its ids is already used in the set, or when the set has
    generation runs: their answers and any study built on them would then
    cover only part of the set.
    """
    prompts = read_prompt_file(path, default_language=default_language, first_turn_only=first_turn_only)

    with transaction.atomic():
        # The row lock keeps two concurrent imports into one set from taking the same positions.
        prompt_set = PromptSet.objects.select_for_update().get(pk=prompt_set.pk)
        if prompt_set.runs.exists():
            raise PromptImportError(
                path,
                [
                    f"prompt set {prompt_set.name!r} has generation runs, so adding prompts would leave their "
                    "answers incomplete; import the file into a new prompt set"
                ],
            )
        used_ids = set(prompt_set.prompts.exclude(external_id="").values_list("external_id", flat=True))
        errors = [
            f"line {parsed.line}: field 'id' {parsed.external_id!r} is already used in prompt set {prompt_set.name!r}"
            for parsed in prompts
            if parsed.external_id in used_ids
        ]
        if errors:
            raise PromptImportError(path, errors)

        last = prompt_set.prompts.order_by("-position").values_list("position", flat=True).first()
        start = 0 if last is None else last + 1
        Prompt.objects.bulk_create(
            _new_prompt(prompt_set, start + offset, parsed) for offset, parsed in enumerate(prompts)
        )
    return len(prompts)


def _new_prompt(prompt_set: PromptSet, position: int, parsed: ParsedPrompt) -> Prompt:
    return Prompt(
        prompt_set=prompt_set,
        position=position,
        external_id=parsed.external_id,
        category=parsed.category,
        language=parsed.language,
        text=parsed.text,
        follow_up_turns=parsed.follow_up_turns,
        reference_answer=parsed.reference_answer,
    )
