"""CSV export of a study's judgments, unblinded, for staff and analysts.

The file has one row per judgment and criterion, so a judgment's rationale,
time on task and flags repeat on each of its criterion rows. Surplus
judgments are included and flagged in `is_surplus`, and judgments of
annotators a manager excluded from the reports in `annotator_excluded`, so
the file holds all the data and an analyst filters as the report does.
Judgments on gold items are not in this file but in their own
(reports.gold_export), because their rows compare against a right answer,
may show text that no system wrote, and would skew per-system figures.
Pairwise rows name the systems shown as A and B, the item's systems in
canonical order, the outcome and the winning system. Rating rows name the
system and its score. Annotators are named by their stable pseudonym unless
a site admin asked for account names (annotate.pseudonyms).

Format:
- UTF-8 with a byte order mark, so Excel opens Chinese and other non-ASCII
  text correctly. pandas reads it with
  `pandas.read_csv(path, encoding="utf-8-sig")`; with plain "utf-8" the
  first column name starts with "\\ufeff".
- RFC 4180: comma separated, CRLF line ends, fields quoted only when they
  contain a comma, a quote or a line break.
- Text cells that a spreadsheet would read as a formula (starting with =, +,
  -, @, tab or carriage return) get a leading apostrophe. Numbers are
  written as they are, so a score of -1 stays -1.
- Booleans are written `true` / `false`, times as ISO 8601 in UTC, missing
  values as empty cells.

The sidecar `<file>.meta.json` (`judgments_metadata`) describes the study,
the counts, the generation time, the humeval version and every column. Its
`figures` hold the agreement figures, and the score figures of a rating
study, as the report page shows them by default, with method, seed and
counts.
"""

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC
from importlib import metadata

from django.contrib.auth import get_user_model
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from annotate.models import CriterionAnswer, Study, StudyKind
from annotate.pseudonyms import AnnotatorLabels, annotator_names_shown, naming_description
from reports.agreement import agreement_metadata
from reports.answers import excluded_annotator
from reports.ratings import ratings_metadata, study_ratings
from reports.summary import judgment_totals
from reports.systems import System, load_systems

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BYTE_ORDER_MARK = "\ufeff"
# Rows per chunk handed to the HTTP response: large enough to avoid a
# write per row, small enough to keep memory flat on big studies.
ROWS_PER_CHUNK = 500


@dataclass(frozen=True)
class Column:
    name: str
    description: str


# Column descriptions stay in English on purpose, because the sidecar file
# is data for scripts and must not change with the downloader's language.
_LEADING_COLUMNS = (
    Column("study", "Study name."),
    Column("item_uuid", "Public id of the item judged."),
    Column("prompt_external_id", "The prompt's id in the imported prompt file; empty when it had none."),
    Column("prompt_category", "Category of the prompt."),
    Column("prompt_language", "Language of the prompt as a BCP 47 code, such as en or zh-Hans."),
    Column("annotator", "The annotator's stable pseudonym, or their username when a site admin asked for names."),
    Column("criterion", "Name of the criterion this row answers."),
)
_PAIRWISE_COLUMNS = (
    Column("system_a", "System whose response the annotator saw as A."),
    Column("system_b", "System whose response the annotator saw as B."),
    Column("first_system", "System of the item's first response in canonical order."),
    Column("second_system", "System of the item's second response in canonical order."),
    Column("outcome", "win, tie or both_bad."),
    Column("winner_system", "System whose response won when outcome is win; empty otherwise."),
)
_RATING_COLUMNS = (
    Column("system", "System whose response was rated."),
    Column("score", "Score on the criterion's scale, an integer."),
)
_TRAILING_COLUMNS = (
    Column("rationale", "The annotator's optional rationale for the whole judgment."),
    Column("time_on_task_seconds", "Seconds the annotator spent on the task; empty when not measured."),
    Column("is_surplus", "true when the judgment arrived after its item had enough judgments."),
    Column("annotator_excluded", "true when a manager excluded the annotator's judgments from the reports."),
    Column("created_at", "Time the judgment was stored, ISO 8601 in UTC."),
)


def columns(kind: str) -> tuple[Column, ...]:
    """Return the export's columns for a study kind, in file order."""
    middle = _PAIRWISE_COLUMNS if kind == StudyKind.PAIRWISE else _RATING_COLUMNS
    return _LEADING_COLUMNS + middle + _TRAILING_COLUMNS


def csv_filename(study: Study) -> str:
    return f"{slugify(study.name) or study.uuid}-judgments.csv"


def gold_csv_filename(study: Study) -> str:
    return f"{slugify(study.name) or study.uuid}-gold-judgments.csv"


def neutralise(cell):
    """Prefix text that a spreadsheet would read as a formula with an apostrophe.

    Values of other types, numbers among them, are returned unchanged.
    """
    if isinstance(cell, str) and cell.startswith(FORMULA_PREFIXES):
        return "'" + cell
    return cell


class _Echo:
    """A file-like object whose write returns the text, so csv.writer can format single rows."""

    def write(self, text: str) -> str:
        return text


def stream_csv(header: list[str], rows: Iterable[list]) -> Iterator[str]:
    """Yield a CSV file in chunks of text: byte order mark and header, then rows with formula-like cells neutralised."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield BYTE_ORDER_MARK + writer.writerow(header)
    chunk = []
    for cells in rows:
        chunk.append(writer.writerow([neutralise(cell) for cell in cells]))
        if len(chunk) >= ROWS_PER_CHUNK:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


def stream_judgments_csv(study: Study, names: bool = False) -> Iterator[str]:
    """Yield the export in chunks of text, starting with the byte order mark.

    1. Load system names once; every other value comes from one query read
       with `iterator()`, so the study never sits in memory whole.
    2. Format each answer as one row in the kind's column order, naming
       the annotator by pseudonym, or by username when `names` is True.
    3. Neutralise formula-like text cells and yield rows in chunks.
    """
    yield from stream_csv([column.name for column in columns(study.kind)], judgment_rows(study, names))


def judgment_rows(study: Study, names: bool = False) -> Iterator[list]:
    """Yield the export's rows as lists of cells in `columns(study.kind)` order, before any formula neutralising."""
    systems = load_systems(study)
    make_row = _pairwise_row if study.kind == StudyKind.PAIRWISE else _rating_row
    labels = AnnotatorLabels(names)
    for values in _export_rows(study).iterator(chunk_size=2000):
        yield [study.name, *make_row(values, systems, labels), *_trailing_cells(values)]


def _export_rows(study: Study):
    username_field = get_user_model().USERNAME_FIELD
    return (
        CriterionAnswer.objects.filter(criterion__study=study, judgment__item__is_gold=False)
        .annotate(annotator_excluded=excluded_annotator("judgment__"))
        .order_by("judgment__created_at", "judgment_id", "criterion__position", "criterion_id")
        .values(
            "outcome",
            "score",
            "annotator_excluded",
            item_uuid=F("judgment__item__uuid"),
            prompt_external_id=F("judgment__item__prompt__external_id"),
            prompt_category=F("judgment__item__prompt__category"),
            prompt_language=F("judgment__item__prompt__language"),
            annotator=F(f"judgment__annotator__{username_field}"),
            annotator_id=F("judgment__annotator_id"),
            criterion_name=F("criterion__name"),
            first_on_left=F("judgment__first_on_left"),
            first_run=F("judgment__item__first_response__run_id"),
            second_run=F("judgment__item__second_response__run_id"),
            winner_run=F("winner__run_id"),
            rationale=F("judgment__rationale"),
            time_on_task_seconds=F("judgment__time_on_task_seconds"),
            is_surplus=F("judgment__is_surplus"),
            created_at=F("judgment__created_at"),
        )
    )


def _leading_cells(values: dict, labels: AnnotatorLabels) -> list:
    """Return the cells after the study name and before the kind's own columns."""
    return [
        str(values["item_uuid"]),
        values["prompt_external_id"],
        values["prompt_category"],
        values["prompt_language"],
        labels.label(values["annotator_id"], values["annotator"]),
        values["criterion_name"],
    ]


def _pairwise_row(values: dict, systems: dict[int, System], labels: AnnotatorLabels) -> list:
    first = _system_name(systems, values["first_run"])
    second = _system_name(systems, values["second_run"])
    shown_a, shown_b = (first, second) if values["first_on_left"] else (second, first)
    winner = _system_name(systems, values["winner_run"])
    return [*_leading_cells(values, labels), shown_a, shown_b, first, second, values["outcome"], winner]


def _rating_row(values: dict, systems: dict[int, System], labels: AnnotatorLabels) -> list:
    return [*_leading_cells(values, labels), _system_name(systems, values["first_run"]), values["score"]]


def _trailing_cells(values: dict) -> list:
    return [
        values["rationale"],
        values["time_on_task_seconds"],
        "true" if values["is_surplus"] else "false",
        "true" if values["annotator_excluded"] else "false",
        values["created_at"].astimezone(UTC).isoformat(),
    ]


def _system_name(systems: dict[int, System], run_id: int | None) -> str:
    return systems[run_id].name if run_id is not None else ""


def judgments_metadata(study: Study, names: bool = False) -> dict:
    """Describe the export of `study` for its sidecar `<file>.meta.json`.

    The counts are taken when this function runs; judgments stored between
    the two downloads make them differ from the CSV. Annotators are named
    by username when `names` is True, else by pseudonym, as in the CSV.
    """
    totals = judgment_totals(study, include_excluded=True)
    return {
        "file": csv_filename(study),
        "gold_judgments_file": gold_csv_filename(study),
        "format": {
            "encoding": "UTF-8 with byte order mark; pandas.read_csv(path, encoding='utf-8-sig')",
            "dialect": "RFC 4180, comma separated, CRLF line ends",
            "rows": (
                "one per judgment and criterion; surplus judgments and those of excluded annotators "
                "included and flagged; gold item judgments in the separate gold file"
            ),
            "formula_cells": ("text cells starting with =, +, -, @, tab or carriage return carry a leading apostrophe"),
            "annotator_names": naming_description(names),
        },
        "study": {
            "name": study.name,
            "uuid": str(study.uuid),
            "kind": study.kind,
            "status": study.status,
            "prompt_set": study.prompt_set.name,
            "judgments_per_item": study.overlap,
        },
        "systems": sorted(system.name for system in load_systems(study).values()),
        "criteria": [_criterion_metadata(study, criterion) for criterion in study.criteria.order_by("position", "pk")],
        "counts": {
            "rows": CriterionAnswer.objects.filter(criterion__study=study, judgment__item__is_gold=False).count(),
            "judgments": totals.judgments,
            "surplus_judgments": totals.surplus,
            "excluded_judgments": totals.excluded,
            "annotators": totals.annotators,
            "items": totals.items,
            "judged_items": totals.judged_items,
        },
        "figures": _figures_metadata(study, names),
        "generated_at": timezone.now().astimezone(UTC).isoformat(),
        "humeval_version": _humeval_version(),
        "columns": [{"name": column.name, "description": column.description} for column in columns(study.kind)],
    }


def _figures_metadata(study: Study, names: bool) -> dict:
    """Describe the agreement figures, and the score figures of a rating study, as the report shows them by default."""
    with annotator_names_shown(names):
        figures = {"agreement": agreement_metadata(study)}
    if study.kind == StudyKind.RATING:
        figures["ratings"] = ratings_metadata(study_ratings(study))
    return figures


def _criterion_metadata(study: Study, criterion) -> dict:
    described = {"name": criterion.name, "question": criterion.question}
    if study.kind == StudyKind.RATING:
        described.update(scale_min=criterion.scale_min, scale_max=criterion.scale_max)
    return described


def _humeval_version() -> str:
    try:
        return metadata.version("humeval")
    except metadata.PackageNotFoundError:
        # A source checkout that was never installed with pip has no metadata.
        return "unknown"
