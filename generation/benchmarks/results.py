"""Read benchmark scores from lm-evaluation-harness results and OpenCompass summaries, and store them.

lm-evaluation-harness (0.4.x) writes `results_<time>.json`, and its Python
API returns the same dictionary:

- `results` maps each task or group name to its metrics, keyed
  "metric,filter" ("acc,none", "exact_match,strict-match"), with the
  standard error under "metric_stderr,filter" ("N/A" when not computed);
- `n-shot` maps task names to their shot counts, `n-samples` to
  {"original", "effective"} document counts, `configs` to each task's
  configuration, `group_subtasks` groups to their tasks, and `config` contains
  the run's settings, among them `limit`;
- `lm_eval_version` and `date` (a Unix time) say which version ran and when.

OpenCompass writes `summary_<time>.csv`: columns dataset, version, metric,
mode and then one column per model; scores are percentages with two
decimals, and "-" marks a missing score. humeval stores them as fractions,
as lm-evaluation-harness reports accuracy.

Storing replaces: a model keeps one value per task, shot count, metric and
filter, and scores of the same task and shot count from an earlier run or
import are deleted in the same transaction.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.db import transaction

from generation.models import BenchmarkResult, BenchmarkRun, LanguageModel

OPENCOMPASS_COLUMNS = ["dataset", "version", "metric", "mode"]
# Keys of a task's `results` entry that are not metrics.
_NON_METRIC_KEYS = {"alias", "name", "sample_len", "sample_count", "samples", " "}


class ResultsFormatError(ValueError):
    """A results file that is not an lm-evaluation-harness results file or an OpenCompass summary, or is malformed."""


@dataclass
class Score:
    """One metric value of one task, as read from a results file."""

    task: str
    shots: int
    metric: str
    filter: str
    value: float
    stderr: float | None = None
    parent_group: str = ""
    sample_count: int | None = None
    higher_is_better: bool | None = None
    task_config: dict = field(default_factory=dict)


@dataclass
class ParsedResults:
    """Every score of one results file, with the evaluation settings the file records."""

    scores: list[Score]
    limit: float | None = None
    lm_eval_version: str = ""
    evaluated_at: datetime | None = None
    model_name: str = ""


# lm-evaluation-harness


def read_json_file(path: str | Path) -> dict:
    """Return the JSON object in `path`; raise ResultsFormatError saying why it cannot be read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsFormatError(f"{path}: file not found.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsFormatError(f"{path}: cannot be read as UTF-8 text ({exc}).") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsFormatError(f"{path} line {exc.lineno}: invalid JSON ({exc.msg}).") from None
    if not isinstance(data, dict):
        raise ResultsFormatError(f"{path}: expected a JSON object with a 'results' field, got {type(data).__name__}.")
    return data


def parse_lm_eval_results(data: dict, label: str, *, shots_override: dict[str, int] | None = None) -> ParsedResults:
    """Return the scores of an lm-evaluation-harness results dictionary.

    `label` names the file in error messages. A task with no "n-shot" entry
    (a group, in some versions) takes the shot count its subtasks share;
    `shots_override` supplies it where the file does not.
    Raises ResultsFormatError for a dictionary that is not such a file or has
    a malformed entry.
    """
    results = data.get("results")
    if not isinstance(results, dict) or not results:
        raise ResultsFormatError(
            f"{label}: no 'results' object keyed by task; this is not an lm-evaluation-harness results file "
            "(results_<time>.json, written with --output_path)."
        )
    for key in ("n-shot", "n-samples", "configs", "group_subtasks", "higher_is_better", "config"):
        if key in data and not isinstance(data[key], dict):
            raise ResultsFormatError(f"{label}: field {key!r} must be an object, got {type(data[key]).__name__}.")

    scores = []
    for task, entry in results.items():
        if not isinstance(entry, dict):
            raise ResultsFormatError(f"{label}: results[{task!r}] must be an object of metrics.")
        _check_metric_keys(task, entry, label)
        shots = _task_shots(data, task, label, shots_override or {})
        scores.extend(_task_scores(data, task, entry, shots, label))
    if not scores:
        raise ResultsFormatError(f"{label}: the results hold no numeric metric.")
    _check_unique(scores, label)

    config = data.get("config") or {}
    return ParsedResults(
        scores=scores,
        limit=_number(config.get("limit"), f"{label}: config.limit"),
        lm_eval_version=str(data.get("lm_eval_version") or ""),
        evaluated_at=_timestamp(data.get("date"), label),
        model_name=str(data.get("model_name") or ""),
    )


def _number(value, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ResultsFormatError(f"{where}: expected a number, got {value!r}.")
    return float(value)


def _timestamp(value, label: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return datetime.fromtimestamp(value, tz=UTC)
    raise ResultsFormatError(f"{label}: field 'date' must be a Unix time, got {value!r}.")


def _task_shots(data: dict, task: str, label: str, shots_override: dict[str, int]) -> int:
    n_shot = data.get("n-shot") or {}
    if task in n_shot:
        value = n_shot[task]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ResultsFormatError(f"{label}: n-shot[{task!r}] must be a whole number of 0 or more, got {value!r}.")
        return value
    if task in shots_override:
        return shots_override[task]
    subtask_shots = {n_shot[name] for name in _leaf_subtasks(data, task) if name in n_shot}
    if len(subtask_shots) == 1:
        return subtask_shots.pop()
    raise ResultsFormatError(
        f"{label}: no shot count for {task!r} in 'n-shot'"
        + (f" (its subtasks differ: {sorted(subtask_shots)})" if subtask_shots else "")
        + f"; give it with --shots {task}=N."
    )


def _leaf_subtasks(data: dict, group: str) -> list[str]:
    """Return the tasks under `group`, through nested groups, from `group_subtasks`."""
    group_subtasks = data.get("group_subtasks") or {}
    leaves, pending, seen = [], list(group_subtasks.get(group) or []), set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if group_subtasks.get(name):
            pending.extend(group_subtasks[name])
        else:
            leaves.append(name)
    return leaves


def _sample_count(data: dict, task: str) -> int | None:
    """Return the documents scored for `task`, summed over its subtasks for a group."""
    n_samples = data.get("n-samples") or {}

    def effective(name):
        entry = n_samples.get(name)
        if isinstance(entry, dict) and isinstance(entry.get("effective"), int):
            return entry["effective"]
        return None

    if task in n_samples:
        return effective(task)
    counts = [effective(name) for name in _leaf_subtasks(data, task)]
    if counts and all(count is not None for count in counts):
        return sum(counts)
    sample_len = (data["results"][task] or {}).get("sample_len")
    return sample_len if isinstance(sample_len, int) else None


def _check_metric_keys(task: str, entry: dict, label: str) -> None:
    for key in entry:
        if key not in _NON_METRIC_KEYS and "," not in key:
            raise ResultsFormatError(
                f'{label}: results[{task!r}] key {key!r} is not of the form "metric,filter" '
                '(lm-evaluation-harness 0.4 writes "acc,none"); files of older versions are not supported.'
            )


def _parent_group(data: dict, task: str) -> str:
    for group, subtasks in (data.get("group_subtasks") or {}).items():
        if isinstance(subtasks, list) and task in subtasks:
            return str(group)
    return ""


def _json_safe(config: dict) -> dict:
    """Return `config` with every value JSON cannot store written as text.

    Results that lm-eval returns in memory keep Python functions in some
    task configurations (HellaSwag's and WinoGrande's document processing,
    for instance). Its results files write such values with str(), so the
    stored configuration reads the same whether a run happened here or was
    imported from a file.
    """
    return json.loads(json.dumps(config, default=str))


def _task_scores(data: dict, task: str, entry: dict, shots: int, label: str) -> list[Score]:
    higher = (data.get("higher_is_better") or {}).get(task) or {}
    parent_group = _parent_group(data, task)
    task_config = _json_safe((data.get("configs") or {}).get(task) or {})
    sample_count = _sample_count(data, task)
    scores = []
    for key, value in entry.items():
        if key in _NON_METRIC_KEYS or "_stderr," in key:
            continue
        metric, filter_name = key.split(",", 1)
        if value is None or value == "N/A":
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ResultsFormatError(f"{label}: results[{task!r}][{key!r}] must be a number, got {value!r}.")
        stderr = entry.get(f"{metric}_stderr,{filter_name}")
        if stderr == "N/A" or (isinstance(stderr, float) and not math.isfinite(stderr)):
            stderr = None
        if stderr is not None and (isinstance(stderr, bool) or not isinstance(stderr, int | float)):
            raise ResultsFormatError(
                f"{label}: results[{task!r}][{metric + '_stderr,' + filter_name!r}] must be a number, got {stderr!r}."
            )
        scores.append(
            Score(
                task=task,
                shots=shots,
                metric=metric,
                filter=filter_name,
                value=float(value),
                stderr=None if stderr is None else float(stderr),
                parent_group=parent_group,
                sample_count=sample_count,
                higher_is_better=higher.get(metric) if isinstance(higher.get(metric), bool) else None,
                task_config=task_config,
            )
        )
    return scores


# OpenCompass


def looks_like_opencompass(text: str) -> bool:
    """Return True when `text` starts with OpenCompass's summary header: dataset,version,metric,mode."""
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    return [cell.strip() for cell in first_line.split(",")[:4]] == OPENCOMPASS_COLUMNS


def parse_opencompass_csv(
    text: str, label: str, shots: dict[str, int], default_shots: int | None
) -> dict[str, list[Score]]:
    """Return the scores of an OpenCompass summary CSV per model column.

    The summary does not record shot counts, so each dataset takes
    `shots[dataset]`, else `default_shots`; a dataset with neither raises
    ResultsFormatError. Rows whose cells are all "-" (missing datasets and
    OpenCompass's section dividers) are skipped.
    """
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [cell.strip() for cell in next(reader, [])]
    if header[:4] != OPENCOMPASS_COLUMNS or len(header) < 5:
        raise ResultsFormatError(
            f"{label} line 1: expected the OpenCompass summary header dataset,version,metric,mode followed by "
            f"one column per model, got {','.join(header)!r}."
        )
    models = header[4:]
    duplicates = sorted({name for name in models if models.count(name) > 1})
    if duplicates:
        raise ResultsFormatError(f"{label} line 1: model column names repeat: {', '.join(duplicates)}.")

    by_model: dict[str, list[Score]] = {name: [] for name in models}
    for line_number, row in enumerate(reader, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise ResultsFormatError(f"{label} line {line_number}: {len(row)} cells, but the header has {len(header)}.")
        dataset, version, metric, mode = (cell.strip() for cell in row[:4])
        if metric == "-":
            continue
        task_shots = shots.get(dataset, default_shots)
        if task_shots is None:
            raise ResultsFormatError(
                f"{label} line {line_number}: OpenCompass summaries do not record shot counts; give the shots of "
                f"{dataset!r} with --shots {dataset}=N, or one count for every dataset with --shots N."
            )
        for name, cell in zip(models, row[4:], strict=True):
            cell = cell.strip()
            if cell == "-":
                continue
            try:
                percent = float(cell)
            except ValueError:
                raise ResultsFormatError(
                    f"{label} line {line_number}, column {name!r}: {cell!r} is not a number or '-'."
                ) from None
            by_model[name].append(
                Score(
                    task=dataset,
                    shots=task_shots,
                    metric=metric,
                    filter="none",
                    value=percent / 100,
                    task_config={"opencompass": {"version": version, "mode": mode}},
                )
            )
    for scores in by_model.values():
        _check_unique(scores, label)
    return by_model


def _check_unique(scores: list[Score], label: str) -> None:
    seen = set()
    for score in scores:
        key = (score.task, score.shots, score.metric, score.filter)
        if key in seen:
            raise ResultsFormatError(
                f"{label}: {score.task} ({score.shots}-shot) has two values for {score.metric},{score.filter}."
            )
        seen.add(key)


# Storing


def store_scores(
    model: LanguageModel,
    parsed: ParsedResults,
    *,
    source: str,
    source_file: str = "",
    benchmark_run: BenchmarkRun | None = None,
) -> list[BenchmarkResult]:
    """Replace `model`'s scores for each task and shot count in `parsed` with the new ones, atomically."""
    created = [
        BenchmarkResult(
            model=model,
            task=score.task,
            parent_group=score.parent_group,
            shots=score.shots,
            metric=score.metric,
            filter=score.filter,
            value=score.value,
            stderr=score.stderr,
            sample_count=score.sample_count,
            limit=parsed.limit,
            higher_is_better=score.higher_is_better,
            source=source,
            source_file=source_file,
            benchmark_run=benchmark_run,
            lm_eval_version=parsed.lm_eval_version,
            evaluated_at=parsed.evaluated_at,
            task_config=score.task_config,
        )
        for score in parsed.scores
    ]
    replaced = {(score.task, score.shots) for score in parsed.scores}
    # One transaction, so a reader sees the old scores or the new ones, never a mix or none.
    with transaction.atomic():
        for task, shots in replaced:
            BenchmarkResult.objects.filter(model=model, task=task, shots=shots).delete()
        return BenchmarkResult.objects.bulk_create(created)
