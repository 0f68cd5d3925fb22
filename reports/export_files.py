"""Write a study's exports to files in CSV or JSONL, each with its sidecar `<file>.meta.json`.

This is the service behind `manage.py export`. Every kind of export is a
header, an iterator of rows (lists of cells in header order) and a metadata
dict, taken from the modules that also serve the report page's downloads:
reports.export (judgments), reports.gold_export, reports.annotator_export and
reports.figure_export (models, pairs, agreement). Rows are written as they
come, so judgment exports keep memory flat in both formats.

- CSV: RFC 4180, CRLF line ends, UTF-8, with a byte order mark only on
  request (Excel needs one to open Chinese text correctly). Text cells a
  spreadsheet would read as a formula get a leading apostrophe
  (reports.export.neutralise). The file contains data only.
- JSONL: one JSON object per row, keys in column order, UTF-8 without
  escapes for non-ASCII text. Missing values and non-finite numbers are
  null. Cells are not neutralised, because no spreadsheet reads JSONL.
"""

import csv
import io
import json
import math
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC
from functools import cached_property
from importlib import metadata
from typing import TextIO, TypeVar

import numpy as np
from django.utils import timezone, translation
from django.utils.text import slugify

from annotate.models import Study, StudyKind
from annotate.pseudonyms import annotator_names_shown, naming_description
from reports import annotator_export, export, figure_export, gold_export, judgment_jsonl, report_cache
from reports.agreement import annotator_figures, study_agreement_report

TABLE_KINDS = ("judgments", "gold", "annotators", "models", "pairs", "agreement")
FORMATS = ("csv", "jsonl")
VERSIONED_PACKAGES = ("humeval", "numpy", "scipy", "krippendorff", "Django")
T = TypeVar("T")


class ExportError(Exception):
    """An export the study cannot have; the message names the study and the kind."""


@dataclass
class ExportTable:
    """One export before it is written: header, rows in header order, and how to describe it in the sidecar.

    `describe` runs on the first read of `metadata`, so a download of the
    data file alone never computes the counts its sidecar states: for the
    judgment export they need a read of every answer of the study.
    """

    kind: str
    header: list[str]
    rows: Iterable[list]
    describe: Callable[[], dict]

    @cached_property
    def metadata(self) -> dict:
        return self.describe()


def package_versions() -> dict[str, str]:
    """Return the installed versions of the packages the figures depend on, "unknown" when one has no metadata."""
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def default_filename(study: Study, kind: str, file_format: str) -> str:
    slug = slugify(study.name) or str(study.uuid)
    suffix = {"judgments": "judgments", "gold": "gold-judgments"}.get(kind, kind)
    return f"{slug}-{suffix}.{file_format}"


def figure_report(study: Study, *, names: bool = False, rounds: int | None = None, seed: int | None = None):
    """Return the report that the models, pairs and agreement tables read; None keeps the page's rounds and seed.

    The report comes from the report cache when the data has not changed
    since it was computed, so that downloading the three tables one after
    the other computes it once.
    """
    options = {key: value for key, value in {"rounds": rounds, "seed": seed}.items() if value is not None}
    # The report is in English whatever the request's language, so one entry serves every language.
    with translation.override("en"):
        return report_cache.cached_figures(
            "english report",
            study,
            {"names": names, **options},
            lambda: figure_export.english_report(study, names=names, **options),
        )


def export_table(study: Study, kind: str, *, names: bool = False, report=None) -> ExportTable:
    """Return the `kind` export of `study` (one of TABLE_KINDS) as an ExportTable whose rows are not read yet.

    The models, pairs and agreement tables read `report` (see figure_report); without one, they compute it
    with the report page's defaults. Raises ExportError for pair counts of a rating study.
    """
    if kind == "judgments":
        header = [column.name for column in export.columns(study.kind)]
        rows = export.judgment_rows(study, names)
        return ExportTable(kind, header, rows, lambda: export.judgments_metadata(study, names))
    if kind == "gold":
        header = [column.name for column in gold_export.gold_columns(study.kind)]
        rows = gold_export.gold_judgment_rows(study, names)
        return ExportTable(kind, header, rows, lambda: gold_export.gold_judgments_metadata(study, names))
    if kind == "annotators":
        rows = _annotator_rows(study, names)
        header = [column.name for column in annotator_export.COLUMNS]
        return ExportTable(kind, header, rows, lambda: annotator_export.annotators_metadata(study, names))
    return _figure_export(study, kind, report or figure_report(study, names=names))


def _annotator_rows(study: Study, names: bool) -> Iterator[list]:
    with annotator_names_shown(names):
        figures = annotator_figures(study, study_agreement_report(study))
        rows = [annotator_export._cells(row) for row in sorted(figures, key=lambda row: row.annotator)]
    yield from rows


def _figure_export(study: Study, kind: str, report) -> ExportTable:
    try:
        table = figure_export.figure_table(study, kind, report)
    except figure_export.FigureExportError as exc:
        raise ExportError(str(exc)) from exc
    described = {
        "study": {"name": study.name, "uuid": str(study.uuid), "kind": study.kind, "status": study.status},
        "rows": {
            "models": "one per criterion and system, best first within a criterion",
            "pairs": "one per criterion and ordered pair of systems with comparisons; each pair in both orders",
            "agreement": "one for the study over all criteria, then one per criterion",
        }[kind],
        "method": table.method,
        "counts": table.counts,
        "counted": {"surplus_judgments": False, "excluded_annotators": False, "gold_items": False},
        "columns": [{"name": column.name, "description": column.description} for column in table.columns],
    }
    if study.kind == StudyKind.RATING:
        # Scores outside their criterion's scale count in no figure. The models
        # table gives their number per criterion in `counts`.
        described["counted"]["out_of_scale_scores"] = False
    if kind == "models" and study.kind == StudyKind.RATING:
        described["rows"] = "one per criterion and system, best mean first within a criterion"
    return ExportTable(kind, [column.name for column in table.columns], table.rows, lambda: described)


def sidecar_metadata(table: ExportTable, file_name: str, file_format: str, bom: bool, names: bool) -> dict:
    """Return the table's metadata with the file's own name, format, counts and package versions."""
    described = dict(table.metadata)
    described["file"] = file_name
    described["export"] = table.kind
    described["format"] = _format_description(file_format, bom, names, described.get("format"))
    described["versions"] = package_versions()
    described.setdefault("generated_at", timezone.now().astimezone(UTC).isoformat())
    return described


def _format_description(file_format: str, bom: bool, names: bool, earlier: dict | None) -> dict:
    described = {"rows": earlier["rows"]} if earlier and "rows" in earlier else {}
    if file_format == "csv":
        described.update(
            encoding=export.csv_encoding(bom),
            dialect="RFC 4180, comma separated, CRLF line ends",
            formula_cells="text cells starting with =, +, -, @, tab or carriage return carry a leading apostrophe",
            missing_values="empty cells",
        )
    else:
        described.update(
            encoding="UTF-8; pandas.read_json(path, lines=True)",
            dialect="JSON Lines: one object per row, keys in column order",
            missing_values="null",
        )
    described["annotator_names"] = naming_description(names)
    return described


def write_rows(handle: TextIO, header: list[str], rows: Iterable[list], file_format: str, bom: bool = False) -> int:
    """Write `rows` to a text handle opened with newline="" in `file_format`; return the number of rows written.

    JudgmentRows are written by their own fast writers (`csv_chunks()`,
    reports.judgment_jsonl), which give the same text several times faster
    than csv.writer with a check of every cell or json.dumps of every row.
    """
    return run_steps(write_rows_in_steps(handle, header, rows, file_format, bom))


def write_rows_in_steps(
    handle: TextIO, header: list[str], rows: Iterable[list], file_format: str, bom: bool = False
) -> Generator[None, None, int]:
    """Write as `write_rows` does, yielding None after every export.ROWS_PER_CHUNK rows; return the count.

    The pauses let a caller pass on what was written so far, as the
    streamed archive does.
    """
    write_row = _row_writer(handle, header, file_format, bom)
    written = 0
    if isinstance(rows, export.JudgmentRows):
        for lines in _judgment_chunks(rows, file_format):
            handle.write("".join(lines))
            written += len(lines)
            yield
        return written
    for cells in rows:
        write_row(cells)
        written += 1
        if written % export.ROWS_PER_CHUNK == 0:
            yield
    return written


def run_steps(steps: Generator[None, None, T]) -> T:
    """Run a generator of pauses to its end and return its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value


def stream_rows(header: list[str], rows: Iterable[list], file_format: str, bom: bool = False) -> Iterator[str]:
    """Yield the file's text in chunks of export.ROWS_PER_CHUNK rows, for a streaming HTTP response.

    JudgmentRows are written by their own fast writers, as in write_rows.
    """
    buffer = io.StringIO()
    write_row = _row_writer(buffer, header, file_format, bom)
    if isinstance(rows, export.JudgmentRows):
        # Chunks as below: a full one is sent at once, the rest with the final drain.
        for lines in _judgment_chunks(rows, file_format):
            buffer.write("".join(lines))
            if len(lines) >= export.ROWS_PER_CHUNK:
                yield _drain(buffer)
        yield _drain(buffer)
        return
    pending = 0
    for cells in rows:
        write_row(cells)
        pending += 1
        if pending >= export.ROWS_PER_CHUNK:
            yield _drain(buffer)
            pending = 0
    yield _drain(buffer)


def _judgment_chunks(rows: "export.JudgmentRows", file_format: str) -> Iterator[list[str]]:
    """Yield the judgment export's records in lists, from the fast writer of its format."""
    if file_format == "csv":
        return rows.csv_chunks(export.ROWS_PER_CHUNK)
    return judgment_jsonl.jsonl_chunks(rows, export.ROWS_PER_CHUNK)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _row_writer(handle: TextIO, header: list[str], file_format: str, bom: bool) -> Callable[[list], None]:
    """Write the file's start (byte order mark and header for CSV) and return a function that writes one row."""
    if file_format == "jsonl":

        def write_record(cells: list) -> None:
            record = dict(zip(header, (_plain(cell) for cell in cells), strict=True))
            handle.write(json.dumps(record, ensure_ascii=False, allow_nan=False))
            handle.write("\n")

        return write_record

    if bom:
        handle.write(export.BYTE_ORDER_MARK)
    writer = csv.writer(handle, lineterminator="\r\n")
    writer.writerow(header)

    def write_cells(cells: list) -> None:
        writer.writerow([export.neutralise(_plain(cell)) for cell in cells])

    return write_cells


def _plain(cell):
    """Turn numpy numbers into Python ones and non-finite floats into None."""
    if isinstance(cell, np.generic):
        cell = cell.item()
    if isinstance(cell, float) and not math.isfinite(cell):
        return None
    return cell
