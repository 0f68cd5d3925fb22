"""Import answers made elsewhere as one completed generation run.

A file is validated whole, against the prompt set it answers, before anything
is written: every problem is reported with its line (or, in a JSON array, its
0-based index) and field, and a file with any error imports nothing.

Accepted files, UTF-8:
- JSONL (`.jsonl`, `.ndjson`, or `.json` not starting with `[`), one object a line;
- CSV (`.csv`, or `.tsv` separated by tabs) with a header row;
- a JSON array of objects (`.json`), as AlpacaEval's model outputs are:
  `[{"instruction": ..., "output": ..., "generator": ..., "dataset": ...}]`.

Each row names its prompt by external id (`id`, `prompt_id` or `question_id`)
or, when it has none, by the prompt's exact text (`prompt` or `instruction`).
The answer is `response`, `output`, `answer` or `text`, or FastChat's answer
shape `{"question_id": 81, "model_id": ..., "choices": [{"index": 0, "turns":
[...]}]}`, whose first turn becomes the response text and later turns its
follow-up texts. A row must answer every turn of its prompt. Optional fields:
`token_count` (or `tokens`) and `finish_reason` (`stop` or `length`). A file
holds one model's answers, so `model_id` (FastChat) and `generator`
(AlpacaEval) must not change between rows. Other fields are ignored.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from generation.lookup import NotFound, get_by_name
from generation.models import FinishReason, GenerationRun, LanguageModel, Prompt, PromptSet, Response, RunStatus
from generation.prompt_import import ImportFileError, _check_storable, _jsonl_rows, _RowError, read_csv_rows

DEFAULT_LABEL = "imported"

_ID_KEYS = ("id", "prompt_id", "question_id")
_PROMPT_TEXT_KEYS = ("prompt", "instruction")
_ANSWER_KEYS = ("response", "output", "answer", "text")
_TOKEN_KEYS = ("token_count", "tokens")
# Fields that name the model that wrote the answers: FastChat's and AlpacaEval's.
_GENERATOR_KEYS = ("model_id", "generator")
# Response.token_count is a PositiveIntegerField, which Django caps at 2**31 - 1.
_MAX_TOKEN_COUNT = 2**31 - 1


class ResponseImportError(ImportFileError):
    """A response file that cannot be imported."""


@dataclass
class ParsedResponse:
    location: str
    prompt: Prompt
    text: str
    follow_up_texts: list[str] = field(default_factory=list)
    token_count: int = 0
    finish_reason: str = FinishReason.STOP


@dataclass
class ImportResult:
    run: GenerationRun
    imported: int
    # Prompts of the set that the file has no answer for.
    unanswered: int


def read_response_file(path, prompt_set: PromptSet) -> list[ParsedResponse]:
    """Parse and validate a response file against `prompt_set`; raise ResponseImportError listing every problem."""
    path = Path(path)
    if path.is_dir():
        raise ResponseImportError(path, ["is a folder; give the path of a .jsonl, .json or .csv file"])
    if not path.is_file():
        raise ResponseImportError(path, ["file not found; give the path of a .jsonl, .json or .csv file"])
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ResponseImportError(path, [f"not valid UTF-8 (byte {exc.start}); save the file as UTF-8"]) from exc

    rows, errors = _read_rows(path, content)
    matcher = _PromptMatcher(prompt_set)
    generators = {}
    answered = {}
    parsed = []
    for location, row in rows:
        try:
            _check_generator(location, row, generators)
            prompt, prompt_key = matcher.find(row)
            if prompt.pk in answered:
                first = answered[prompt.pk]
                raise _RowError(
                    f"field {prompt_key!r}: prompt {_describe(prompt)} is answered twice (first at {first})"
                )
            answered[prompt.pk] = location
            parsed.append(_parse_answer(location, row, prompt))
        except _RowError as exc:
            errors.append(f"{location}: {exc}")

    if not parsed and not errors:
        errors.append("the file holds no answers")
    if errors:
        raise ResponseImportError(path, sorted(errors, key=_location_number))
    return parsed


def _read_rows(path: Path, content: str):
    """Return ([(location, row), ...], errors) for the file's format, chosen by its suffix."""
    suffix = path.suffix.lower()
    if suffix == ".json" and content.lstrip().startswith("["):
        return _json_array_rows(content)
    if suffix in (".jsonl", ".json", ".ndjson"):
        rows, errors = _jsonl_rows(content)
        return [(f"line {line}", row) for line, row in rows], errors
    if suffix in (".csv", ".tsv"):
        return _csv_rows(content, delimiter="\t" if suffix == ".tsv" else ",")
    raise ResponseImportError(path, [f"unknown file type {suffix!r}; use .jsonl, .json or .csv"])


def _json_array_rows(content):
    try:
        items = json.loads(content)
    except json.JSONDecodeError as exc:
        return [], [f"line {exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno})"]
    except (RecursionError, ValueError) as exc:
        # Nesting too deep for the parser, or an integer of over 4,300 digits.
        return [], [f"invalid JSON ({type(exc).__name__}: {str(exc)[:100]})"]
    if not isinstance(items, list):
        return [], [f"expected a JSON array of objects, found {type(items).__name__}"]

    rows, errors = [], []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            rows.append((f"index {index}", item))
        else:
            errors.append(f"index {index}: expected a JSON object, found {type(item).__name__}")
    return rows, errors


def _csv_rows(content, delimiter):
    columns = [("answer", _ANSWER_KEYS), ("prompt", _ID_KEYS + _PROMPT_TEXT_KEYS)]
    rows, errors = read_csv_rows(content, delimiter, columns)
    # Empty cells stay in the row, so an empty answer cell is reported under
    # its own column name. Optional columns treat "" as absent.
    return [(f"line {line}", row) for line, row in rows], errors


class _PromptMatcher:
    """Find a row's prompt in one prompt set, by external id or exact text."""

    def __init__(self, prompt_set: PromptSet):
        self.prompt_set = prompt_set
        self.by_id = {}
        self.by_text = {}
        for prompt in prompt_set.prompts.order_by("position"):
            if prompt.external_id:
                self.by_id[prompt.external_id] = prompt
            self.by_text.setdefault(prompt.text, []).append(prompt)

    def find(self, row) -> tuple[Prompt, str]:
        """Return the row's prompt and the field that named it; raise _RowError when none or several match."""
        id_key = _first_present(row, _ID_KEYS)
        if id_key is not None:
            return self._find_by_id(row[id_key], id_key), id_key
        text_key = _first_present(row, _PROMPT_TEXT_KEYS)
        if text_key is not None:
            return self._find_by_text(row[text_key], text_key), text_key
        expected = ", ".join(_ID_KEYS + _PROMPT_TEXT_KEYS)
        raise _RowError(f"field 'id' is missing. Name the prompt by one of the fields {expected}")

    def _find_by_id(self, value, key) -> Prompt:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise _RowError(f"field {key!r} must be a string or integer, found {type(value).__name__}")
        prompt = self.by_id.get(value.strip())
        if prompt is not None:
            return prompt
        if not self.by_id:
            raise _RowError(
                f"field {key!r} {value!r}: prompt set {self.prompt_set.name!r} has no prompt ids; "
                "name prompts by their exact text in a 'prompt' field instead"
            )
        raise _RowError(f"field {key!r} {value!r} is not the id of any prompt in prompt set {self.prompt_set.name!r}")

    def _find_by_text(self, value, key) -> Prompt:
        if not isinstance(value, str):
            raise _RowError(f"field {key!r} must be a string, found {type(value).__name__}")
        matches = self.by_text.get(value, [])
        if len(matches) == 1:
            return matches[0]
        preview = value if len(value) <= 60 else value[:57] + "..."
        if not matches:
            raise _RowError(
                f"field {key!r}: no prompt in prompt set {self.prompt_set.name!r} has the exact text {preview!r}"
            )
        raise _RowError(
            f"field {key!r}: {len(matches)} prompts in prompt set {self.prompt_set.name!r} have the text {preview!r}; "
            "name the prompt by its id instead"
        )


def _check_generator(location, row, generators):
    """Reject a row whose model_id or generator differs from the first row that had one."""
    for key in _GENERATOR_KEYS:
        if key not in row:
            continue
        value = row[key]
        if key not in generators:
            generators[key] = (value, location)
            continue
        first_value, first_location = generators[key]
        if value != first_value:
            raise _RowError(
                f"field {key!r} {value!r} differs from {first_value!r} at {first_location}; "
                "a file must hold one model's answers"
            )


def _parse_answer(location, row, prompt: Prompt) -> ParsedResponse:
    turns, key = _answer_turns(row)
    expected = 1 + len(prompt.follow_up_turns)
    if len(turns) != expected:
        raise _RowError(
            f"field {key!r} has {len(turns)} turn answer(s) but prompt {_describe(prompt)} has {expected} turn(s); "
            "give one answer per turn in FastChat's choices[0].turns"
        )
    return ParsedResponse(
        location=location,
        prompt=prompt,
        text=turns[0],
        follow_up_texts=turns[1:],
        token_count=_token_count(row),
        finish_reason=_finish_reason(row),
    )


def _answer_turns(row) -> tuple[list[str], str]:
    """Return the answer to each turn and the field they came from."""
    if "choices" in row:
        return _fastchat_turns(row["choices"]), "choices[0].turns"
    key = next((key for key in _ANSWER_KEYS if key in row), None)
    if key is None:
        expected = ", ".join(_ANSWER_KEYS)
        raise _RowError(f"field 'response' is missing. Give the answer in one of the fields {expected} or 'choices'")
    _check_answer_text(key, row[key])
    return [row[key]], key


def _fastchat_turns(choices) -> list[str]:
    if not isinstance(choices, list) or not choices:
        raise _RowError("field 'choices' must be a non-empty list of objects with 'turns'")
    first = choices[0]
    if not isinstance(first, dict) or not isinstance(first.get("turns"), list) or not first["turns"]:
        raise _RowError("field 'choices[0].turns' must be a non-empty list of strings")
    for index, turn in enumerate(first["turns"]):
        _check_answer_text(f"choices[0].turns[{index}]", turn)
    return first["turns"]


def _check_answer_text(key, value):
    if not isinstance(value, str):
        raise _RowError(f"field {key!r} must be a string, found {type(value).__name__}")
    if not value.strip():
        raise _RowError(f"field {key!r} is empty")
    _check_storable(key, value)


def _token_count(row) -> int:
    key = _first_present(row, _TOKEN_KEYS)
    if key is None:
        return 0
    value = row[key]
    # isascii() keeps out digits such as "²" that isdigit() accepts but int() rejects.
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_TOKEN_COUNT:
        raise _RowError(f"field {key!r} must be a whole number from 0 to {_MAX_TOKEN_COUNT}, found {value!r}"[:200])
    return value


def _finish_reason(row) -> str:
    value = row.get("finish_reason", "")
    if value in ("", None):
        return FinishReason.STOP
    if value not in FinishReason.values:
        allowed = " or ".join(FinishReason.values)
        raise _RowError(f"field 'finish_reason' must be {allowed}, found {value!r}"[:200])
    return value


def _first_present(row, keys):
    """Return the first of `keys` whose value in `row` is neither missing, null nor an empty string."""
    return next((key for key in keys if row.get(key) not in (None, "")), None)


def _describe(prompt: Prompt) -> str:
    return repr(prompt.external_id) if prompt.external_id else f"at position {prompt.position}"


def _location_number(error: str) -> int:
    """Return the line or index an error message starts with, or -1 for file-wide errors."""
    match = re.match(r"(?:line|index) (\d+):", error)
    return int(match.group(1)) if match else -1


def import_response_file(path, model_name, prompt_set_name, *, label=DEFAULT_LABEL) -> ImportResult:
    """Store a file's answers as a completed run of `model_name` on `prompt_set_name` with variant `label`.

    Raises ResponseImportError, with nothing written, when the model or prompt
    set is not found, the file is invalid, or the run already has responses.
    """
    if len(label) > 100:
        raise ResponseImportError(path, [f"label {label[:20]!r}... is longer than 100 characters"])
    try:
        model = get_by_name(LanguageModel, model_name)
    except NotFound as exc:
        raise ResponseImportError(
            path, [f"{exc} Register it with: python manage.py add_model NAME --source SOURCE --backend imported"]
        ) from None
    try:
        prompt_set = get_by_name(PromptSet, prompt_set_name)
    except NotFound as exc:
        raise ResponseImportError(path, [f"{exc} Import it with: python manage.py import_prompts"]) from None

    parsed = read_response_file(path, prompt_set)

    with transaction.atomic():
        run = _run_to_fill(path, model, prompt_set, label)
        Response.objects.bulk_create(
            Response(
                run=run,
                prompt=answer.prompt,
                text=answer.text,
                follow_up_texts=answer.follow_up_texts,
                token_count=answer.token_count,
                finish_reason=answer.finish_reason,
                latency_seconds=0.0,
            )
            for answer in parsed
        )
    unanswered = prompt_set.prompts.count() - len(parsed)
    return ImportResult(run=run, imported=len(parsed), unanswered=unanswered)


def _run_to_fill(path, model, prompt_set, label) -> GenerationRun:
    """Create the completed run, or reuse an existing one that has no responses and is not running."""
    run = GenerationRun.objects.select_for_update().filter(model=model, prompt_set=prompt_set, label=label).first()
    if run is not None and (run.status == RunStatus.RUNNING or run.responses.exists()):
        state = "is running" if run.status == RunStatus.RUNNING else "already has responses"
        raise ResponseImportError(
            path,
            [
                f"run {run.system_name!r} of model {model.name!r} on prompt set {prompt_set.name!r} {state}; "
                "choose another --label"
            ],
        )
    if run is None:
        run = GenerationRun(model=model, prompt_set=prompt_set, label=label)

    # NOTE: the file does not record how the answers were decoded, so the run
    # copies the model's registered settings, as `generate` does by default.
    now = timezone.now()
    run.temperature = model.temperature
    run.top_p = model.top_p
    run.max_new_tokens = model.max_new_tokens
    run.repetition_penalty = model.repetition_penalty
    run.seed = model.seed
    run.prompt_limit = None
    run.status = RunStatus.COMPLETED
    run.error = ""
    run.started_at = now
    run.finished_at = now
    run.save()
    return run
