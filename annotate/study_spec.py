"""Read a study design from a YAML file and check it whole.

`manage.py create_study SPEC.yaml` uses this to create or update a study
kept in version control; annotate.study_spec_apply writes it. The format is
documented in docs/studies.md, with an example in docs/examples/study.yaml.

Every problem is collected before anything is written: each one names the
file's line (from PyYAML's node marks), the field, what is wrong and what to
do. Unknown keys are errors, so a misspelt key cannot be silently ignored.
The messages are English, like those of the other management commands.
"""

import difflib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models.functions import Lower

from annotate.items import prompt_set_categories
from annotate.models import MAX_LEASE_MINUTES, MAX_SCALE_POINTS, Study, StudyKind, StudyStatus
from annotate.study_spec_gold import GoldChecks, GoldSpec
from generation.lookup import NotFound, get_by_name
from generation.models import GenerationRun, LanguageModel, PromptSet

# A spec with thousands of annotators and long instructions stays far below
# this. A larger file is most likely a prompt or answer file given by
# mistake, which PyYAML would take minutes to read (about 1 MB/s).
MAX_SPEC_BYTES = 1024 * 1024

# Largest value PositiveIntegerField stores on every supported database.
MAX_POSITIVE_INTEGER = 2_147_483_647
# Largest value of the criterion scale fields (PositiveSmallIntegerField).
MAX_SCALE_VALUE = 32_767

TOP_LEVEL_KEYS = (
    "name",
    "kind",
    "prompt_set",
    "categories",
    "systems",
    "criteria",
    "instructions",
    "overlap",
    "lease_minutes",
    "pairs_per_prompt",
    "gold_rate",
    "qualification",
    "annotators",
    "managers",
    "status",
    "gold",
)
REQUIRED_KEYS = ("name", "kind", "prompt_set", "systems", "criteria")
SYSTEM_KEYS = ("model", "label", "run")
CRITERION_KEYS = ("name", "question", "description", "scale", "labels")
SCALE_KEYS = ("min", "max")
LABEL_KEYS = ("low", "high")
QUALIFICATION_KEYS = ("min_accuracy", "min_gold")


@dataclass(frozen=True)
class SpecProblem:
    """One problem in a spec file: where it is, which field, and what to do."""

    line: int | None
    field: str
    message: str

    def __str__(self):
        where = f"line {self.line}, " if self.line else ""
        return f"{where}{self.field}: {self.message}"


class StudySpecError(Exception):
    """A spec file that cannot be applied; `problems` lists every problem found."""

    def __init__(self, path, problems: list[SpecProblem]):
        self.path = path
        self.problems = sorted(problems, key=lambda problem: (problem.line or 0, problem.field))
        listed = "\n".join(f"  {problem}" for problem in self.problems)
        count = len(self.problems)
        noun = "error" if count == 1 else "errors"
        super().__init__(f"{path}: {count} {noun}, nothing written:\n{listed}")


@dataclass
class CriterionSpec:
    name: str
    question: str
    description: str = ""
    scale_min: int = 1
    scale_max: int = 5
    low_label: str = ""
    high_label: str = ""
    line: int | None = None


@dataclass
class StudySpec:
    """A checked spec. `given` contains the top-level keys the file sets; `lines` their line numbers."""

    path: Path
    name: str = ""
    kind: str = ""
    prompt_set: PromptSet | None = None
    categories: list[str] = field(default_factory=list)
    systems: list[GenerationRun] = field(default_factory=list)
    criteria: list[CriterionSpec] = field(default_factory=list)
    instructions: str = ""
    overlap: int = 3
    lease_minutes: int = 30
    pairs_per_prompt: int | None = None
    gold_rate: float = 0.1
    qualification_min_accuracy: float | None = None
    qualification_min_gold: int = 5
    annotators: list[str] = field(default_factory=list)
    missing_annotators: list[str] = field(default_factory=list)
    managers: list[str] = field(default_factory=list)
    gold: list[GoldSpec] = field(default_factory=list)
    status: str = StudyStatus.DRAFT
    given: set[str] = field(default_factory=set)
    lines: dict[str, int] = field(default_factory=dict)
    # Runs named by each systems entry, for update checks that point at a line.
    system_lines: dict[int, int] = field(default_factory=dict)


@dataclass
class _Node:
    """A YAML value with the line it starts on (for a mapping's value, the line of its key)."""

    value: Any
    line: int


def read_study_spec(path, *, update: bool = False, create_users: bool = False) -> StudySpec:
    """Parse and check the spec file at `path`; raise StudySpecError listing every problem.

    With `update`, when a study of the spec's name exists, only `name` is
    required and the study's kind and prompt set stand in for keys the file
    leaves out. With `create_users`, usernames without an account are
    collected in `missing_annotators` instead of being errors.
    """
    path = Path(path)
    root = _parse_yaml(path)
    checker = _Checker(path)
    spec = StudySpec(path=path)
    checker.check(root, spec, update=update, create_users=create_users)
    if checker.problems:
        raise StudySpecError(path, checker.problems)
    return spec


def _parse_yaml(path: Path) -> _Node:
    if path.is_dir():
        raise StudySpecError(path, [SpecProblem(None, "file", "is a folder; give the path of a .yaml file")])
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise StudySpecError(
                path,
                [
                    SpecProblem(
                        None,
                        "file",
                        f"is {size:,} bytes, more than a study spec needs ({MAX_SPEC_BYTES:,} at most); "
                        "check that this is the study's .yaml file",
                    )
                ],
            )
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise StudySpecError(path, [SpecProblem(None, "file", "file not found; check the path")]) from None
    except UnicodeDecodeError as exc:
        raise StudySpecError(
            path, [SpecProblem(None, "file", f"not valid UTF-8 (byte {exc.start}); save the file as UTF-8")]
        ) from None

    loader = None
    try:
        # The reader rejects control characters as soon as the loader is built.
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            raise StudySpecError(path, [SpecProblem(1, "file", "the file is empty; write the study's keys")])
        return _convert(loader, node, node.start_mark.line + 1, path, {})
    except RecursionError:
        raise StudySpecError(
            path, [SpecProblem(None, "YAML", "the file is nested too deeply; a study spec needs a few levels only")]
        ) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise StudySpecError(
            path,
            [
                SpecProblem(
                    line,
                    "YAML",
                    f"unacceptable character #x{exc.character:04x}; remove it, "
                    "or write it as an escape in double quotes",
                )
            ],
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "cannot be parsed"
        where = f" at column {mark.column + 1}" if mark else ""
        raise StudySpecError(
            path, [SpecProblem(line, "YAML", f"invalid YAML{where}: {problem}; check indentation, colons and quotes")]
        ) from None
    except yaml.YAMLError as exc:
        raise StudySpecError(path, [SpecProblem(None, "YAML", f"invalid YAML: {exc}")]) from None
    finally:
        if loader is not None:
            loader.dispose()


def _convert(loader, node, line: int, path: Path, converted: dict) -> _Node:
    """Turn a composed YAML node into nested _Node values; raise StudySpecError on a repeated or non-text key.

    An alias is the same node object as its anchor, so `converted` (node id to
    its _Node, or None while it is being converted) makes every alias share one
    _Node. That keeps a file of nested aliases ("billion laughs") from
    expanding, and finds an alias inside its own anchor, which would never end.
    """
    if id(node) in converted:
        if converted[id(node)] is None:
            raise StudySpecError(
                path, [SpecProblem(line, "YAML", "an alias refers to itself (the anchor contains it); remove the loop")]
            )
        return converted[id(node)]
    converted[id(node)] = None
    result = _convert_node(loader, node, line, path, converted)
    converted[id(node)] = result
    return result


def _convert_node(loader, node, line: int, path: Path, converted: dict) -> _Node:
    if isinstance(node, yaml.MappingNode):
        mapping = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise StudySpecError(
                    path, [SpecProblem(key_line, repr(key), "a key must be text; check the indentation of this line")]
                )
            if key in mapping:
                raise StudySpecError(
                    path,
                    [
                        SpecProblem(
                            key_line,
                            key,
                            f"the key appears twice in one mapping (first on line {mapping[key].line}); keep one",
                        )
                    ],
                )
            mapping[key] = _convert(loader, value_node, key_line, path, converted)
        return _Node(mapping, line)
    if isinstance(node, yaml.SequenceNode):
        return _Node([_convert(loader, item, item.start_mark.line + 1, path, converted) for item in node.value], line)
    try:
        return _Node(loader.construct_object(node, deep=True), line)
    except ValueError:
        # An impossible date (2024-13-45), or an integer of more than 4300
        # digits, which Python refuses to convert.
        excerpt = node.value if len(node.value) <= 40 else f"{node.value[:40]}… ({len(node.value)} characters)"
        raise StudySpecError(
            path,
            [
                SpecProblem(
                    line,
                    "YAML",
                    f"cannot read “{excerpt}” as a number or date; put it in quotes if it is text, "
                    "or write a shorter number or a valid date",
                )
            ],
        ) from None


def _unstorable_character(text: str) -> str:
    """Describe the first character of `text` that the database cannot store, or return ""."""
    # Double-quoted YAML can write both as escapes ("\0", "\ud800"). PostgreSQL
    # rejects NUL in text, and a lone surrogate cannot be encoded as UTF-8.
    for character in text:
        if character == "\x00":
            return "a NUL character (\\0)"
        if "\ud800" <= character <= "\udfff":
            return f"a lone surrogate (\\u{ord(character):04x})"
    return ""


def _type_name(value) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


class _Checker(GoldChecks):
    """Check each field of a parsed spec, collecting problems instead of stopping at the first."""

    def __init__(self, path: Path):
        self.path = path
        self.problems: list[SpecProblem] = []

    def problem(self, line, field_name, message):
        self.problems.append(SpecProblem(line, field_name, message))

    # The whole file

    def check(self, root: _Node, spec: StudySpec, *, update: bool, create_users: bool):
        top = self.mapping(root, "file", TOP_LEVEL_KEYS)
        if top is None:
            return
        spec.given = set(top)
        spec.lines = {key: node.line for key, node in top.items()}
        if "name" in top:
            spec.name = self.text(top["name"], "name", max_length=200) or ""
        existing = Study.objects.select_related("prompt_set").filter(name=spec.name).first() if update else None
        for key in ("name",) if existing else REQUIRED_KEYS:
            if key not in top:
                self.problem(root.line, key, f"missing; add a line `{key}: ...`")

        if "kind" in top:
            spec.kind = self.choice(top["kind"], "kind", StudyKind.values) or ""
        if "prompt_set" in top:
            spec.prompt_set = self.prompt_set(top["prompt_set"])
        # What systems, categories and criteria are checked against.
        kind = spec.kind or (existing.kind if existing else "")
        prompt_set = spec.prompt_set or (existing.prompt_set if existing else None)
        if "categories" in top:
            spec.categories = self.categories(top["categories"], prompt_set)
        if "systems" in top:
            self.systems(top["systems"], spec, prompt_set)
        if "criteria" in top:
            spec.criteria = self.criteria(top["criteria"], kind)
        if "instructions" in top:
            spec.instructions = self.text(top["instructions"], "instructions", required=False, multiline=True) or ""
        if "overlap" in top:
            spec.overlap = self.integer(top["overlap"], "overlap", 1, MAX_POSITIVE_INTEGER, spec.overlap)
        if "lease_minutes" in top:
            spec.lease_minutes = self.integer(
                top["lease_minutes"], "lease_minutes", 1, MAX_LEASE_MINUTES, spec.lease_minutes
            )
        if "pairs_per_prompt" in top:
            spec.pairs_per_prompt = self.pairs_per_prompt(top["pairs_per_prompt"], kind)
        if "gold_rate" in top:
            spec.gold_rate = self.share(top["gold_rate"], "gold_rate", spec.gold_rate, nullable=False)
        if "qualification" in top:
            self.qualification(top["qualification"], spec)
        if "annotators" in top:
            self.annotators(top["annotators"], spec, create_users)
        if "managers" in top:
            spec.managers = self.managers(top["managers"])
        if "status" in top:
            spec.status = self.choice(top["status"], "status", StudyStatus.values) or spec.status
        if "gold" in top:
            spec.gold = self.gold(top["gold"], spec, kind, existing)

    # Shapes and scalars

    def mapping(self, node: _Node, field_name: str, allowed: tuple[str, ...]) -> dict[str, _Node] | None:
        if not isinstance(node.value, dict):
            self.problem(
                node.line,
                field_name,
                f"expected a mapping of `key: value` lines, found {_type_name(node.value)}",
            )
            return None
        for key, child in node.value.items():
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean `{close[0]}`?" if close else f"allowed keys: {', '.join(allowed)}"
                where = "" if field_name == "file" else f" in {field_name}"
                self.problem(child.line, key, f"unknown key{where}; {hint}")
        return node.value

    def sequence(self, node: _Node, field_name: str) -> list[_Node] | None:
        if node.value is None:
            return []
        if not isinstance(node.value, list):
            self.problem(
                node.line, field_name, f"expected a list (lines starting with `- `), found {_type_name(node.value)}"
            )
            return None
        return node.value

    def text(
        self,
        node: _Node,
        field_name: str,
        *,
        required: bool = True,
        max_length: int | None = None,
        multiline: bool = False,
    ):
        """Return the text of `node`, stripped unless `multiline`, or None after recording a problem."""
        value = node.value
        if value is None and not required:
            return ""
        if not isinstance(value, str):
            self.problem(node.line, field_name, f"expected text, found {_type_name(value)}; put the value in quotes")
            return None
        if required and not value.strip():
            self.problem(node.line, field_name, "is empty; write a value")
            return None
        unstorable = _unstorable_character(value)
        if unstorable:
            self.problem(node.line, field_name, f"contains {unstorable}, which cannot be stored; remove it")
            return None
        if max_length is not None and len(value) > max_length:
            self.problem(node.line, field_name, f"is {len(value)} characters long; shorten it to {max_length}")
            return None
        return value if multiline else value.strip()

    def choice(self, node: _Node, field_name: str, choices) -> str | None:
        if node.value not in choices:
            self.problem(node.line, field_name, f"“{node.value}” is not valid; write one of: {', '.join(choices)}")
            return None
        return node.value

    def integer(self, node: _Node, field_name: str, low: int, high: int, default):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(node.line, field_name, f"expected a whole number, found {_type_name(value)}")
            return default
        if not low <= value <= high:
            self.problem(node.line, field_name, f"{value} is out of range; write a whole number from {low} to {high}")
            return default
        return value

    def share(self, node: _Node, field_name: str, default, *, nullable: bool):
        value = node.value
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(node.line, field_name, f"expected a number from 0 to 1, found {_type_name(value)}")
            return default
        if not 0 <= value <= 1:
            self.problem(node.line, field_name, f"{value} is out of range; write a number from 0 to 1, such as 0.1")
            return default
        return float(value)

    # Fields that name stored objects

    def prompt_set(self, node: _Node) -> PromptSet | None:
        name = self.text(node, "prompt_set", max_length=100)
        if name is None:
            return None
        try:
            return get_by_name(PromptSet, name)
        except NotFound as exc:
            self.problem(node.line, "prompt_set", f"{exc} Import it first with `manage.py import_prompts`.")
            return None

    def categories(self, node: _Node, prompt_set: PromptSet | None) -> list[str]:
        entries = self.sequence(node, "categories")
        if entries is None:
            return []
        known = prompt_set_categories(prompt_set) if prompt_set else None
        categories = []
        for index, entry in enumerate(entries, start=1):
            field_name = f"categories[{index}]"
            category = self.text(entry, field_name, max_length=100)
            if category is None:
                continue
            if category in categories:
                self.problem(entry.line, field_name, f"“{category}” is listed twice; keep one")
                continue
            if known is not None and category not in known:
                self.problem(
                    entry.line,
                    field_name,
                    f"prompt set “{prompt_set.name}” has no prompt of category “{category}”; "
                    f"its categories are: {', '.join(known) or 'none'}",
                )
                continue
            categories.append(category)
        return categories

    def systems(self, node: _Node, spec: StudySpec, prompt_set: PromptSet | None) -> None:
        entries = self.sequence(node, "systems")
        if entries is None:
            return
        if not entries:
            self.problem(node.line, "systems", "the list is empty; name at least one generation run")
        for index, entry in enumerate(entries, start=1):
            field_name = f"systems[{index}]"
            run = self.system(entry, field_name, prompt_set)
            if run is None:
                continue
            if run.pk in spec.system_lines:
                self.problem(
                    entry.line,
                    field_name,
                    f"names the same run as line {spec.system_lines[run.pk]} ({run.system_name}); keep one",
                )
                continue
            spec.systems.append(run)
            spec.system_lines[run.pk] = entry.line

    def system(self, entry: _Node, field_name: str, prompt_set: PromptSet | None) -> GenerationRun | None:
        """Resolve one systems entry: a model name, `{model, label}`, or `{run: UUID}`."""
        if isinstance(entry.value, str):
            entry = _Node({"model": _Node(entry.value, entry.line)}, entry.line)
        keys = self.mapping(entry, field_name, SYSTEM_KEYS)
        if keys is None:
            return None
        if "run" in keys:
            if "model" in keys or "label" in keys:
                self.problem(
                    entry.line, field_name, "give either `run` or `model` (with an optional `label`), not both"
                )
                return None
            return self.run_by_uuid(keys["run"], f"{field_name}.run", prompt_set)
        if "model" not in keys:
            self.problem(entry.line, field_name, "missing `model` (a model's name) or `run` (a generation run's UUID)")
            return None
        return self.run_by_model(keys, field_name, prompt_set)

    def run_by_uuid(self, node: _Node, field_name: str, prompt_set: PromptSet | None) -> GenerationRun | None:
        try:
            run_uuid = uuid.UUID(str(node.value))
        except ValueError:
            self.problem(node.line, field_name, f"“{node.value}” is not a UUID; copy the run's UUID from the admin")
            return None
        run = GenerationRun.objects.select_related("model", "prompt_set").filter(uuid=run_uuid).first()
        if run is None:
            self.problem(node.line, field_name, f"no generation run has UUID {run_uuid}")
            return None
        if prompt_set is not None and run.prompt_set_id != prompt_set.pk:
            self.problem(
                node.line,
                field_name,
                f"run {run.system_name} answers prompt set “{run.prompt_set.name}”, not “{prompt_set.name}”",
            )
            return None
        return run

    def run_by_model(self, keys: dict[str, _Node], field_name: str, prompt_set: PromptSet | None):
        model_name = self.text(keys["model"], f"{field_name}.model", max_length=100)
        label = None
        if "label" in keys:
            label = self.text(keys["label"], f"{field_name}.label", required=False, max_length=100)
            if label is None:
                return None
        if model_name is None:
            return None
        try:
            model = get_by_name(LanguageModel, model_name)
        except NotFound as exc:
            self.problem(keys["model"].line, f"{field_name}.model", f"{exc} Register it with `manage.py add_model`.")
            return None
        if prompt_set is None:
            return None

        runs = list(model.runs.filter(prompt_set=prompt_set).select_related("model", "prompt_set").order_by("label"))
        labels = ", ".join(f"“{run.label}”" for run in runs) or "none"
        if label is not None:
            matching = [run for run in runs if run.label == label]
            if not matching:
                self.problem(
                    keys["label"].line,
                    f"{field_name}.label",
                    f"model “{model.name}” has no run labelled “{label}” on prompt set “{prompt_set.name}”; "
                    f"its labels there: {labels}",
                )
                return None
            return matching[0]
        if len(runs) == 1:
            return runs[0]
        if not runs:
            self.problem(
                keys["model"].line,
                f"{field_name}.model",
                f"model “{model.name}” has no generation run on prompt set “{prompt_set.name}”; "
                "start one with `manage.py generate` or import its answers",
            )
        else:
            self.problem(
                keys["model"].line,
                f"{field_name}.model",
                f"model “{model.name}” has {len(runs)} runs on prompt set “{prompt_set.name}” "
                f"(labels: {labels}); add `label:` to pick one",
            )
        return None

    def criteria(self, node: _Node, kind: str) -> list[CriterionSpec]:
        entries = self.sequence(node, "criteria")
        if entries is None:
            return []
        if not entries:
            self.problem(node.line, "criteria", "the list is empty; write at least one question for annotators")
        criteria = []
        first_line_of = {}
        for index, entry in enumerate(entries, start=1):
            criterion = self.criterion(entry, f"criteria[{index}]", kind)
            if criterion is None:
                continue
            if criterion.name in first_line_of:
                self.problem(
                    criterion.line,
                    f"criteria[{index}].name",
                    f"“{criterion.name}” is already the name of the criterion on line "
                    f"{first_line_of[criterion.name]}; give each criterion its own name",
                )
                continue
            first_line_of[criterion.name] = criterion.line
            criteria.append(criterion)
        return criteria

    def criterion(self, entry: _Node, field_name: str, kind: str) -> CriterionSpec | None:
        keys = self.mapping(entry, field_name, CRITERION_KEYS)
        if keys is None:
            return None
        for required in ("name", "question"):
            if required not in keys:
                self.problem(entry.line, f"{field_name}.{required}", f"missing; add `{required}:` to this criterion")
        name = self.text(keys["name"], f"{field_name}.name", max_length=100) if "name" in keys else None
        question = self.text(keys["question"], f"{field_name}.question", max_length=500) if "question" in keys else None
        criterion = CriterionSpec(
            name=name or "", question=question or "", line=keys["name"].line if "name" in keys else entry.line
        )
        if "description" in keys:
            criterion.description = (
                self.text(keys["description"], f"{field_name}.description", required=False, multiline=True) or ""
            )

        for key in ("scale", "labels"):
            if key in keys and kind == StudyKind.PAIRWISE:
                self.problem(
                    keys[key].line,
                    f"{field_name}.{key}",
                    "applies to rating studies only; pairwise criteria are answered A, B, tie or both bad. Remove it",
                )
        if "scale" in keys and kind != StudyKind.PAIRWISE:
            self.scale(keys["scale"], f"{field_name}.scale", criterion)
        if "labels" in keys and kind != StudyKind.PAIRWISE:
            labels = self.mapping(keys["labels"], f"{field_name}.labels", LABEL_KEYS) or {}
            if "low" in labels:
                criterion.low_label = (
                    self.text(labels["low"], f"{field_name}.labels.low", required=False, max_length=100) or ""
                )
            if "high" in labels:
                criterion.high_label = (
                    self.text(labels["high"], f"{field_name}.labels.high", required=False, max_length=100) or ""
                )
        if name is None or question is None:
            return None
        return criterion

    def scale(self, node: _Node, field_name: str, criterion: CriterionSpec) -> None:
        bounds = self.mapping(node, field_name, SCALE_KEYS)
        if bounds is None:
            return
        for key in SCALE_KEYS:
            if key not in bounds:
                self.problem(node.line, f"{field_name}.{key}", f"missing; add `{key}:` (a whole number)")
        if len(bounds) != 2 or any(key not in SCALE_KEYS for key in bounds):
            return
        low = self.integer(bounds["min"], f"{field_name}.min", 0, MAX_SCALE_VALUE, None)
        high = self.integer(bounds["max"], f"{field_name}.max", 0, MAX_SCALE_VALUE, None)
        if low is None or high is None:
            return
        if low >= high:
            self.problem(
                bounds["min"].line,
                f"{field_name}.min",
                f"the lowest score ({low}) must be below the highest ({high}); "
                + ("swap them" if low > high else "widen the scale"),
            )
            return
        if high - low + 1 > MAX_SCALE_POINTS:
            self.problem(
                bounds["max"].line,
                f"{field_name}.max",
                f"the scale from {low} to {high} has {high - low + 1} points, more than {MAX_SCALE_POINTS}; "
                "raise min or lower max",
            )
            return
        criterion.scale_min, criterion.scale_max = low, high

    def pairs_per_prompt(self, node: _Node, kind: str) -> int | None:
        if node.value is None:
            return None
        if kind == StudyKind.RATING:
            self.problem(
                node.line,
                "pairs_per_prompt",
                "applies to pairwise studies only; a rating study judges every response. Remove it",
            )
            return None
        return self.integer(node, "pairs_per_prompt", 1, MAX_POSITIVE_INTEGER, None)

    def qualification(self, node: _Node, spec: StudySpec) -> None:
        keys = self.mapping(node, "qualification", QUALIFICATION_KEYS)
        if keys is None:
            return
        if "min_accuracy" in keys:
            spec.qualification_min_accuracy = self.share(
                keys["min_accuracy"], "qualification.min_accuracy", None, nullable=True
            )
        if "min_gold" in keys:
            spec.qualification_min_gold = self.integer(
                keys["min_gold"], "qualification.min_gold", 0, MAX_POSITIVE_INTEGER, spec.qualification_min_gold
            )

    def annotators(self, node: _Node, spec: StudySpec, create_users: bool) -> None:
        entries = self.sequence(node, "annotators")
        if entries is None:
            return
        user_model = get_user_model()
        username_field = user_model._meta.get_field(user_model.USERNAME_FIELD)
        names = {}
        for index, entry in enumerate(entries, start=1):
            field_name = f"annotators[{index}]"
            if isinstance(entry.value, int) and not isinstance(entry.value, bool):
                entry = _Node(str(entry.value), entry.line)
            username = self.text(entry, field_name, max_length=username_field.max_length)
            if username is None:
                continue
            # As create_user stores it: NFKC turns "ａ" (full width) into "a".
            username = user_model.normalize_username(username)
            listed = next((name for name in names if name.lower() == username.lower()), None)
            if listed is not None:
                self.problem(
                    entry.line, field_name, f"“{username}” is already listed on line {names[listed][0]}; keep one"
                )
                continue
            names[username] = (entry.line, field_name)

        # Matched in any letter case, as the admin's add-annotators page does,
        # so that no second account differs from another only in case.
        existing = {
            name.lower(): name
            for name in user_model.objects.annotate(lower_name=Lower(user_model.USERNAME_FIELD))
            .filter(lower_name__in=[name.lower() for name in names])
            .values_list(user_model.USERNAME_FIELD, flat=True)
        }
        for username, (line, field_name) in names.items():
            account_name = existing.get(username.lower())
            if account_name == username:
                continue
            if account_name is not None:
                self.problem(
                    line,
                    field_name,
                    f"an account named “{account_name}” exists; write the username exactly as that account spells it",
                )
                continue
            if not create_users:
                self.problem(
                    line,
                    field_name,
                    f"no account named “{username}”; create it in the admin first, or run with --create-users",
                )
                continue
            try:
                username_field.clean(username, None)
            except ValidationError as exc:
                self.problem(line, field_name, f"“{username}” is not a valid username: {' '.join(exc.messages)}")
                continue
            spec.missing_annotators.append(username)
        spec.annotators = list(names)

    def managers(self, node: _Node) -> list[str]:
        """Check the study managers: existing staff accounts, each listed once, written as the account spells it."""
        entries = self.sequence(node, "managers")
        if entries is None:
            return []
        user_model = get_user_model()
        names = {}
        for index, entry in enumerate(entries, start=1):
            field_name = f"managers[{index}]"
            username = self.text(entry, field_name, max_length=150)
            if username is None:
                continue
            if username in names:
                self.problem(
                    entry.line, field_name, f"“{username}” is already listed on line {names[username][0]}; keep one"
                )
                continue
            names[username] = (entry.line, field_name)

        accounts = {
            getattr(user, user_model.USERNAME_FIELD): user
            for user in user_model.objects.filter(**{f"{user_model.USERNAME_FIELD}__in": list(names)})
        }
        for username, (line, field_name) in names.items():
            account = accounts.get(username)
            if account is None:
                self.problem(
                    line, field_name, f"no account named “{username}”; a study manager needs an existing staff account"
                )
            elif not account.is_staff:
                self.problem(
                    line,
                    field_name,
                    f"“{username}” is not a staff user; make the account staff in the admin first, or leave it out",
                )
        return list(names)
