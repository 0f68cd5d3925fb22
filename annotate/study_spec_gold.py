"""Check the `gold:` list of a study spec file: gold items and attention checks.

Each entry names a prompt of the study's prompt set by its external id (or
its UUID) and takes one of four forms, by the study's kind:

- pairwise gold item: `systems` (two of the study's systems) and `right`
  (one of those two, `tie` or `both_bad`);
- pairwise attention check: `attention_check` (the manager's text) and
  `system`, whose real response is shown beside the text and is right;
- rating gold item: `system` and `scores: {min, max}`, the accepted range;
- rating attention check: `attention_check` and, optionally, `scores`.

A system is named as reports name it (model name and run label, such as
`SmolLM2-135M-Instruct greedy`), by its model's name alone when the study
has one system of that model, or by the run's UUID.

This module checks the shape of each entry and resolves its names. The
rules of annotate.gold (score ranges on the scale, single-turn prompts for
attention checks, systems with a response) run later, when
annotate.study_spec_gold_apply applies the entries. GoldChecks is a mixin of
annotate.study_spec's checker and uses its `problem`, `mapping`, `text` and
`integer` helpers.
"""

import uuid
from dataclasses import dataclass, field

from annotate.models import Outcome, StudyKind
from generation.models import GenerationRun, Prompt

GOLD_KEYS = ("prompt", "systems", "right", "attention_check", "system", "scores")
GOLD_SCORE_KEYS = ("min", "max")
# `right:` values that are not a system.
RIGHT_OUTCOMES = (Outcome.TIE.value, Outcome.BOTH_BAD.value)
# Largest value of the gold score fields (SmallIntegerField).
MAX_GOLD_SCORE = 32_767


@dataclass
class GoldSpec:
    """One checked `gold:` entry; `systems` contains two runs (pairwise gold item), one, or none."""

    field: str
    line: int
    prompt: Prompt
    systems: tuple[GenerationRun, ...] = ()
    # Pairwise gold item: win, tie or both_bad, and for a win the better system.
    outcome: str = ""
    winner: GenerationRun | None = None
    attention_text: str = ""
    min_score: int | None = None
    max_score: int | None = None
    # Line of each key the entry sets, so errors found when applying point at it.
    lines: dict[str, int] = field(default_factory=dict)

    @property
    def is_attention_check(self) -> bool:
        return bool(self.attention_text)


def system_names(runs) -> dict[str, GenerationRun]:
    """Map each name a `gold:` entry may use for a system to its run; see the module docstring."""
    names = {}
    runs = list(runs)
    runs_per_model = {}
    for run in runs:
        runs_per_model.setdefault(run.model_id, []).append(run)
    for run in runs:
        names[run.system_name] = run
        names[str(run.uuid)] = run
    for model_runs in runs_per_model.values():
        if len(model_runs) == 1:
            names.setdefault(model_runs[0].model.name, model_runs[0])
    return names


class GoldChecks:
    """The checks of the `gold:` list, mixed into annotate.study_spec's checker."""

    def gold(self, node, spec, kind: str, existing) -> list[GoldSpec]:
        """Check every `gold:` entry and return those without problems.

        `spec` has its prompt set, categories and systems checked already.
        Where the file leaves one out, the existing study's is used.
        """
        entries = self.sequence(node, "gold")
        if entries is None:
            return []
        prompt_set = spec.prompt_set or (existing.prompt_set if existing else None)
        if "systems" in spec.given:
            runs = spec.systems
        else:
            runs = list(existing.systems.select_related("model")) if existing else []
        if "categories" in spec.given:
            categories = spec.categories
        else:
            categories = existing.categories if existing else []
        context = _GoldContext(kind=kind, names=system_names(runs), categories=categories or [])
        context.prompts = self._gold_prompts(entries, prompt_set)

        checked = []
        first_line_of = {}
        for index, entry in enumerate(entries, start=1):
            gold = self.gold_entry(entry, f"gold[{index}]", context, prompt_set)
            if gold is None:
                continue
            key = _duplicate_key(gold)
            if key in first_line_of:
                self.problem(
                    entry.line,
                    gold.field,
                    f"describes the same gold item as the entry on line {first_line_of[key]}; keep one",
                )
                continue
            first_line_of[key] = entry.line
            checked.append(gold)
        return checked

    def _gold_prompts(self, entries, prompt_set) -> dict[str, Prompt]:
        """Fetch, in one query, the prompts the entries name by external id, keyed by that id."""
        if prompt_set is None:
            return {}
        wanted = set()
        for entry in entries:
            if isinstance(entry.value, dict) and "prompt" in entry.value:
                value = entry.value["prompt"].value
                if isinstance(value, str | int) and not isinstance(value, bool):
                    wanted.add(str(value).strip())
        prompts = prompt_set.prompts.filter(external_id__in=wanted - {""})
        return {prompt.external_id: prompt for prompt in prompts}

    def gold_entry(self, entry, field_name: str, context, prompt_set) -> GoldSpec | None:
        keys = self.mapping(entry, field_name, GOLD_KEYS)
        if keys is None:
            return None
        prompt = None
        if "prompt" in keys:
            prompt = self.gold_prompt(keys["prompt"], f"{field_name}.prompt", context, prompt_set)
        else:
            self.problem(entry.line, f"{field_name}.prompt", "missing; add `prompt:` with the prompt's external id")

        gold = GoldSpec(field=field_name, line=entry.line, prompt=prompt, lines={k: n.line for k, n in keys.items()})
        if "scores" in keys:
            gold.lines["scores.min"] = gold.lines["scores.max"] = keys["scores"].line
        if context.kind == StudyKind.PAIRWISE:
            valid = self.pairwise_gold(keys, gold, context)
        elif context.kind == StudyKind.RATING:
            valid = self.rating_gold(keys, gold, context)
        else:
            # The kind is missing or invalid, which is reported on its own line.
            valid = False
        if not valid or prompt is None:
            return None
        return gold

    def gold_prompt(self, node, field_name: str, context, prompt_set) -> Prompt | None:
        value = node.value
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        external_id = self.text(_Scalar(value, node.line), field_name, max_length=100)
        if external_id is None or prompt_set is None:
            return None
        prompt = context.prompts.get(external_id)
        if prompt is None:
            prompt = _prompt_by_uuid(prompt_set, external_id)
        if prompt is None:
            # YAML reads `007` as the number 7, which loses the id's leading zeros.
            quotes = "; put an id of digits in quotes" if isinstance(node.value, int) else ""
            self.problem(
                node.line,
                field_name,
                f"prompt set “{prompt_set.name}” has no prompt with external id “{external_id}”; "
                f"write the `id` the prompt has in its import file, or the prompt's UUID{quotes}",
            )
            return None
        if context.categories and prompt.category not in context.categories:
            self.problem(
                node.line,
                field_name,
                f"prompt “{external_id}” has category “{prompt.category}”, which the study does not judge "
                f"({', '.join(context.categories)}); choose a prompt of those categories",
            )
            return None
        return prompt

    def pairwise_gold(self, keys, gold: GoldSpec, context) -> bool:
        field_name = gold.field
        if "scores" in keys:
            self.problem(
                keys["scores"].line,
                f"{field_name}.scores",
                "applies to rating studies only; a pairwise gold item has a right answer (`right:`). Remove it",
            )
            return False
        if "attention_check" in keys:
            if not self._exclusive(keys, field_name, ("systems", "right"), "a pairwise attention check"):
                return False
            # Both checks run, so that the problems of both fields are reported.
            valid = self._attention_text(keys, gold)
            return self._one_system(keys, gold, context, required=True) and valid
        if not self._exclusive(keys, field_name, ("system",), "a pairwise gold item"):
            return False
        return self._pair(keys, gold, context)

    def rating_gold(self, keys, gold: GoldSpec, context) -> bool:
        field_name = gold.field
        for key in ("systems", "right"):
            if key in keys:
                self.problem(
                    keys[key].line,
                    f"{field_name}.{key}",
                    "applies to pairwise studies only; a rating gold item names one `system` and its "
                    "accepted `scores`. Remove it",
                )
                return False
        if "attention_check" in keys:
            if "system" in keys:
                self.problem(
                    keys["system"].line,
                    f"{field_name}.system",
                    "a rating attention check shows your text alone, with no system's response; remove `system`",
                )
                return False
            valid = self._attention_text(keys, gold)
            return self._scores(keys, gold, required=False) and valid
        valid = self._one_system(keys, gold, context, required=True)
        return self._scores(keys, gold, required=True) and valid

    def _exclusive(self, keys, field_name: str, forbidden: tuple[str, ...], what: str) -> bool:
        for key in forbidden:
            if key in keys:
                self.problem(keys[key].line, f"{field_name}.{key}", f"does not apply to {what}; remove it")
                return False
        return True

    def _attention_text(self, keys, gold: GoldSpec) -> bool:
        text = self.text(keys["attention_check"], f"{gold.field}.attention_check", multiline=True)
        if text is None:
            return False
        gold.attention_text = text.strip()
        return True

    def _system_name(self, node, field_name: str, context) -> GenerationRun | None:
        name = self.text(node, field_name, max_length=300)
        if name is None:
            return None
        run = context.names.get(name)
        if run is None:
            known = sorted({run.system_name for run in context.names.values()})
            self.problem(
                node.line,
                field_name,
                f"“{name}” is not one of the study's systems; write one of: {', '.join(known) or 'none'}",
            )
        return run

    def _one_system(self, keys, gold: GoldSpec, context, *, required: bool) -> bool:
        if "system" not in keys:
            if required:
                self.problem(
                    gold.line, f"{gold.field}.system", "missing; add `system:` with one of the study's systems"
                )
            return not required
        run = self._system_name(keys["system"], f"{gold.field}.system", context)
        if run is None:
            return False
        gold.systems = (run,)
        return True

    def _pair(self, keys, gold: GoldSpec, context) -> bool:
        field_name = gold.field
        hints = {"systems": "two of the study's systems", "right": "a system of the pair, tie or both_bad"}
        for key, hint in hints.items():
            if key not in keys:
                self.problem(gold.line, f"{field_name}.{key}", f"missing; add `{key}:` with {hint}")
        if "systems" not in keys:
            return False
        entries = self.sequence(keys["systems"], f"{field_name}.systems")
        if entries is None:
            return False
        if len(entries) != 2:
            self.problem(
                keys["systems"].line,
                f"{field_name}.systems",
                f"lists {len(entries)} systems; a pairwise gold item compares exactly two",
            )
            return False
        runs = [self._system_name(node, f"{field_name}.systems[{n}]", context) for n, node in enumerate(entries, 1)]
        if None in runs:
            return False
        if runs[0].pk == runs[1].pk:
            self.problem(
                entries[1].line,
                f"{field_name}.systems[2]",
                f"names the same system as systems[1] ({runs[0].system_name}); a pair needs two different systems",
            )
            return False
        gold.systems = tuple(runs)
        return "right" in keys and self._right(keys["right"], gold, context)

    def _right(self, node, gold: GoldSpec, context) -> bool:
        field_name = f"{gold.field}.right"
        value = self.text(node, field_name, max_length=300)
        if value is None:
            return False
        if value in RIGHT_OUTCOMES:
            gold.outcome = value
            return True
        run = context.names.get(value)
        if run is None or run not in gold.systems:
            pair = " or ".join(f"“{run.system_name}”" for run in gold.systems)
            self.problem(
                node.line,
                field_name,
                f"“{value}” is not a system of this pair; write {pair}, or tie, or both_bad",
            )
            return False
        gold.outcome = Outcome.WIN.value
        gold.winner = run
        return True

    def _scores(self, keys, gold: GoldSpec, *, required: bool) -> bool:
        field_name = f"{gold.field}.scores"
        if "scores" not in keys:
            if required:
                self.problem(gold.line, field_name, "missing; add `scores: {min: ..., max: ...}`, the accepted range")
            return not required
        bounds = self.mapping(keys["scores"], field_name, GOLD_SCORE_KEYS)
        if bounds is None:
            return False
        valid = True
        for key in GOLD_SCORE_KEYS:
            if key not in bounds:
                self.problem(keys["scores"].line, f"{field_name}.{key}", f"missing; add `{key}:` (a whole number)")
                valid = False
                continue
            gold.lines[f"scores.{key}"] = bounds[key].line
            value = self.integer(bounds[key], f"{field_name}.{key}", -MAX_GOLD_SCORE, MAX_GOLD_SCORE, None)
            if value is None:
                valid = False
            setattr(gold, f"{key}_score", value)
        return valid


@dataclass
class _GoldContext:
    """What the entries are checked against: the study's kind, system names, categories and named prompts."""

    kind: str
    names: dict[str, GenerationRun]
    categories: list[str]
    prompts: dict[str, Prompt] = field(default_factory=dict)


@dataclass
class _Scalar:
    """A value with its line, shaped like annotate.study_spec._Node, for `text` checks of a converted value."""

    value: object
    line: int


def _prompt_by_uuid(prompt_set, text: str) -> Prompt | None:
    try:
        prompt_uuid = uuid.UUID(text)
    except ValueError:
        return None
    return prompt_set.prompts.filter(uuid=prompt_uuid).first()


def _duplicate_key(gold: GoldSpec) -> tuple:
    """Return what makes two entries describe the same gold item (a pair is the same in either order)."""
    systems = frozenset(run.pk for run in gold.systems)
    return (gold.prompt.pk, systems, gold.attention_text)
