"""The combined report as a CSV file with its sidecar `<file>.meta.json`, and as the API's JSON.

CSV: one row per row of the combined table. The columns are `row` (the
row's name), `model` and `systems` (each study's system name, where the
model is in it), then per study and criterion the figure and the bounds of
its interval. RFC 4180, CRLF line ends, UTF-8 with a byte order mark unless
asked without. Text cells a spreadsheet would read as a formula get a
leading apostrophe (reports.export.neutralise), the header included,
because study and criterion names are typed by managers.
"""

import csv
import io

from django.utils import timezone

from annotate.models import StudyKind
from reports.combined import Cell, ColumnCorrelation, CombinedReport, Row
from reports.export import BYTE_ORDER_MARK, csv_encoding, neutralise
from reports.export_files import package_versions

FILENAME = "combined-report.csv"


def column_names(report: CombinedReport) -> list[str]:
    """Return the CSV header: row, model, systems, then value, lower and upper per column."""
    level = f"{report.confidence:.0%}"
    header = ["row", "model", "systems"]
    for column in report.columns:
        header += [column.label, f"{column.label} lower {level}", f"{column.label} upper {level}"]
    return header


def combined_csv(report: CombinedReport, *, bom: bool = True) -> str:
    """Return the table as CSV text; cells of a model absent from a study, or without a figure there, are empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(cell) for cell in column_names(report)])
    for row in report.rows:
        cells = [row.name, row.model_name, _systems_text(report, row)]
        for cell in row.cells:
            cells += _figure_cells(cell)
        writer.writerow([neutralise(cell) for cell in cells])
    return (BYTE_ORDER_MARK if bom else "") + buffer.getvalue()


def _systems_text(report: CombinedReport, row: Row) -> str:
    return "; ".join(
        f"{study.name}: {placed.system.name}"
        for study, placed in zip(report.studies, row.systems, strict=True)
        if placed is not None
    )


def _figure_cells(cell: Cell | None) -> list:
    if cell is None or cell.figure is None:
        return [None, None, None]
    interval = cell.figure.interval
    return [cell.figure.value, interval.lower if interval else None, interval.upper if interval else None]


def combined_metadata(report: CombinedReport, *, bom: bool = True) -> dict:
    """Describe the CSV file, the method, the seeds and every correlation, for its sidecar `<file>.meta.json`."""
    return {
        "file": FILENAME,
        "export": "combined",
        "studies": [_study(study) for study in report.studies],
        "format": {
            "encoding": csv_encoding(bom),
            "dialect": "RFC 4180, comma separated, CRLF line ends",
            "rows": "one per language model; one per system where a study has several systems of one model",
            "formula_cells": "text cells starting with =, +, -, @, tab or carriage return carry a leading apostrophe",
            "missing_values": "empty cells: the model is not in that study, or the data gives it no figure",
        },
        "columns": [_column(report, column) for column in report.columns],
        "method": {
            "rows": (
                "systems of different studies share a row when they are runs of the same language model; where a "
                "study has several systems of one model, each system name gets its own row"
            ),
            "pairwise": (
                "Bradley-Terry rating on the Elo scale, 1000 at the geometric mean strength; percentile bootstrap "
                "interval over prompts, as in the study's own report"
            ),
            "rating": "mean score; percentile bootstrap interval over prompts, as in the study's own report",
            "counted": "gold items never count; surplus judgments and judgments of excluded annotators are left out",
            "rounds": report.rounds,
            "seed": report.seed,
            "confidence": report.confidence,
        },
        "correlations": {
            "method": (
                "Spearman's rho and Kendall's tau-b (scipy.stats) between two columns over the rows with a figure "
                "in both; percentile bootstrap over those rows, rounds with a constant side left out"
            ),
            "rounds": report.rounds,
            "seed": report.seed,
            "confidence": report.confidence,
            "resampled_unit": "model",
            "values": [_correlation(correlation) for correlation in report.correlations],
        },
        "shared_models": report.shared_models,
        "versions": package_versions(),
        "generated_at": timezone.now().isoformat(),
    }


def _study(study) -> dict:
    return {"name": study.name, "uuid": str(study.uuid), "kind": study.kind, "status": study.status}


def _column(report: CombinedReport, column) -> dict:
    return {
        "column": column.label,
        "study": str(column.study.uuid),
        "criterion": column.criterion.name,
        "measure": "bradley_terry_elo" if column.study.kind == StudyKind.PAIRWISE else "mean_score",
        "reason": column.reason,
    }


def _bounds(interval) -> list[float] | None:
    return [interval.lower, interval.upper] if interval else None


def _correlation(correlation: ColumnCorrelation) -> dict:
    return {
        "first": correlation.first.label,
        "second": correlation.second.label,
        "models": correlation.models,
        "spearman": correlation.spearman,
        "spearman_interval": _bounds(correlation.spearman_interval),
        "kendall_tau_b": correlation.kendall,
        "kendall_interval": _bounds(correlation.kendall_interval),
        "weak": correlation.weak,
        "reason": correlation.reason,
    }


def combined_json(report: CombinedReport, message: str = "") -> dict:
    """Return the combined report for the API: studies, columns, rows with their cells, and correlations.

    A cell is null where the model is not in that study. Otherwise the cell
    names the study's system, and its `value` is null when the data gives
    that system no figure. Correlations name their columns by position in
    `columns`.
    """
    return {
        "studies": [_study(study) for study in report.studies],
        "columns": [_column(report, column) for column in report.columns],
        "rows": [
            {
                "name": row.name,
                "model": {"name": row.model_name, "uuid": str(row.model_uuid)},
                "cells": [_json_cell(cell) for cell in row.cells],
            }
            for row in report.rows
        ],
        "correlations": [
            {"first_column": correlation.first.position, "second_column": correlation.second.position}
            | _correlation(correlation)
            for correlation in report.correlations
        ],
        "shared_models": report.shared_models,
        "message": message,
        "method": {"rounds": report.rounds, "seed": report.seed, "confidence": report.confidence},
    }


def _json_cell(cell: Cell | None) -> dict | None:
    if cell is None:
        return None
    figure = cell.figure
    return {
        "system": {"name": cell.system.system.name, "run": str(cell.system.run_uuid)},
        "value": figure.value if figure else None,
        "interval": _bounds(figure.interval) if figure else None,
    }
