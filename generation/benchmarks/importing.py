"""Import benchmark scores computed elsewhere: lm-evaluation-harness results files and OpenCompass summaries.

The file format is recognised from its content: a JSON object with a
`results` field is an lm-evaluation-harness results file, and a CSV whose
header starts with dataset,version,metric,mode is an OpenCompass summary.
Every file is read and checked, and every model column mapped, before any
score is stored; the scores of all files are then stored in one transaction,
so a bad file or an unknown model changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from generation.benchmarks.results import (
    ParsedResults,
    ResultsFormatError,
    looks_like_opencompass,
    parse_lm_eval_results,
    parse_opencompass_csv,
    read_json_file,
    store_scores,
)
from generation.lookup import NotFound, get_by_name
from generation.models import BenchmarkSource, LanguageModel


class ScoreImportError(Exception):
    """Scores that cannot be imported; the message names the file, the line or column and the fix."""


@dataclass
class ImportedScores:
    """Scores stored for one model from one file."""

    model: LanguageModel
    path: Path
    count: int
    tasks: list[str]


def _model(name: str, where: str) -> LanguageModel:
    try:
        return get_by_name(LanguageModel, name)
    except NotFound as exc:
        raise ScoreImportError(f"{where}: {exc} Register it with `python manage.py add_model`.") from None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScoreImportError(f"{path}: file not found.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScoreImportError(f"{path}: cannot be read as UTF-8 text ({exc}).") from exc


def _plan_file(
    path: Path,
    *,
    model_name: str | None,
    column_map: dict[str, str],
    shots: dict[str, int],
    default_shots: int | None,
    only_mapped: bool,
) -> list[tuple[LanguageModel, ParsedResults]]:
    """Read one file and return what to store for which model; raise ScoreImportError on any problem."""
    text = _read_text(path)
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("{"):
        if not model_name:
            raise ScoreImportError(
                f"{path}: lm-evaluation-harness results do not say which registered model they belong to; "
                "give it with --model NAME."
            )
        try:
            parsed = parse_lm_eval_results(read_json_file(path), str(path), shots_override=shots)
        except ResultsFormatError as exc:
            raise ScoreImportError(str(exc)) from exc
        return [(_model(model_name, str(path)), parsed)]

    if looks_like_opencompass(text):
        try:
            by_column = parse_opencompass_csv(text, str(path), shots, default_shots)
        except ResultsFormatError as exc:
            raise ScoreImportError(str(exc)) from exc
        return [
            (model, ParsedResults(scores=by_column[column]))
            for column, model in _map_columns(path, list(by_column), model_name, column_map, only_mapped)
        ]

    raise ScoreImportError(
        f"{path}: unknown format. Expected an lm-evaluation-harness results file (a JSON object with 'results', "
        "as written by lm_eval --output_path) or an OpenCompass summary CSV (header dataset,version,metric,mode "
        "and one column per model)."
    )


def _map_columns(
    path: Path, columns: list[str], model_name: str | None, column_map: dict[str, str], only_mapped: bool
) -> list[tuple[str, LanguageModel]]:
    """Pair OpenCompass model columns with registered models: --map first, then equal names.

    With one column, --model names its model. Columns left without a model
    raise ScoreImportError unless `only_mapped` skips them.
    """
    unknown_columns = sorted(set(column_map) - set(columns))
    if unknown_columns:
        raise ScoreImportError(
            f"{path}: --map names columns the file does not have: {', '.join(unknown_columns)}. "
            f"Its model columns are: {', '.join(columns)}."
        )
    if model_name and len(columns) == 1 and not column_map:
        column_map = {columns[0]: model_name}
    elif model_name:
        raise ScoreImportError(
            f"{path}: has {len(columns)} model columns, so --model cannot say which is which; "
            "map them with --map COLUMN=MODEL."
        )

    known = set(LanguageModel.objects.filter(name__in=columns).values_list("name", flat=True))
    pairs, unmatched = [], []
    for column in columns:
        if column in column_map:
            pairs.append((column, _model(column_map[column], f"{path}, --map {column}")))
        elif column in known:
            pairs.append((column, LanguageModel.objects.get(name=column)))
        else:
            unmatched.append(column)
    if unmatched and not only_mapped:
        raise ScoreImportError(
            f"{path}: no registered model for the columns {', '.join(unmatched)}. Map each with "
            "--map COLUMN=MODEL, or pass --only-mapped to skip them."
        )
    if not pairs:
        raise ScoreImportError(f"{path}: no column maps to a registered model; nothing to import.")
    return pairs


def import_score_files(
    paths: list[str | Path],
    *,
    model_name: str | None = None,
    column_map: dict[str, str] | None = None,
    shots: dict[str, int] | None = None,
    default_shots: int | None = None,
    only_mapped: bool = False,
) -> list[ImportedScores]:
    """Import every file in `paths`, all or nothing; return what was stored per model and file.

    `shots` gives shot counts per task where a file lacks them (OpenCompass
    summaries always do), `default_shots` one count for the remaining tasks.
    """
    planned = []
    for path in map(Path, paths):
        plans = _plan_file(
            path,
            model_name=model_name,
            column_map=column_map or {},
            shots=shots or {},
            default_shots=default_shots,
            only_mapped=only_mapped,
        )
        planned.extend((path, model, parsed) for model, parsed in plans)

    # Two files scoring the same model, task and shots would silently replace each other.
    seen: dict[tuple, Path] = {}
    for path, model, parsed in planned:
        for key in {(model.pk, score.task, score.shots) for score in parsed.scores}:
            if key in seen and seen[key] != path:
                raise ScoreImportError(
                    f"{seen[key]} and {path} both score {model.name} on {key[1]} ({key[2]}-shot); import one of them."
                )
            seen[key] = path

    imported = []
    with transaction.atomic():
        for path, model, parsed in planned:
            stored = store_scores(model, parsed, source=BenchmarkSource.IMPORTED, source_file=str(path.resolve()))
            tasks = sorted({score.task for score in parsed.scores})
            imported.append(ImportedScores(model=model, path=path, count=len(stored), tasks=tasks))
    return imported
