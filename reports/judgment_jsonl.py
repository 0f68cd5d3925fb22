"""The judgment export as JSON Lines, written from fragments encoded once per item, annotator and system.

Every other table goes through `reports.export_files`, which builds a dict
per row and calls `json.dumps`. For the judgment export that took about
14 s of CPU at a million rows, and this writer takes about 9 s
(benchmarks/report_speed.py's study, 2-core AMD EPYC). Each text cell
that repeats (the study, an item's uuid and prompt cells, an annotator's
label, a criterion, a system) is encoded once, and a record is a template
of the keys filled with the row's encoded cells. The records are the same
bytes as export_files writes for the rows of `iter(JudgmentRows)`:
`json.dumps(dict(zip(header, cells)), ensure_ascii=False, allow_nan=False)`
with a non-finite time written as null. A test checks that on every kind
of cell.
"""

import json
import math
from collections.abc import Iterator

from django.db import connections

from annotate.models import StudyKind
from reports.export import JudgmentRows, _answer_rows, _ExportLookups, _timestamp_formatter, columns

# json's own C encoder of a string, as json.dumps(text, ensure_ascii=False) writes it.
_encode_text = json.encoder.encode_basestring


def _encode(cell) -> str:
    """Encode one cell as json.dumps(..., ensure_ascii=False) does, with a non-finite float as null."""
    if cell.__class__ is str:
        return _encode_text(cell)
    if cell is None:
        return "null"
    if cell.__class__ is float:
        return float.__repr__(cell) if math.isfinite(cell) else "null"
    return json.dumps(cell, ensure_ascii=False)


class _Encoded(dict):
    """A memo of encoded cells: missing keys are encoded from `source[key]` on first use."""

    def __init__(self, source, encode):
        super().__init__()
        self.source = source
        self.encode = encode

    def __missing__(self, key):
        value = self[key] = self.encode(self.source[key])
        return value


class _Shared:
    """Encoded cells and tuples of cells, one text or tuple per distinct value."""

    def __init__(self):
        self._cells: dict = {}
        self._tuples: dict = {}

    def cell(self, value) -> str:
        text = self._cells.get(value)
        if text is None:
            text = self._cells[value] = _encode(value)
        return text

    def cells(self, values: tuple) -> tuple[str, ...]:
        encoded = self._tuples.get(values)
        if encoded is None:
            encoded = self._tuples[values] = tuple(map(self.cell, values))
        return encoded


def jsonl_chunks(rows: JudgmentRows, rows_per_chunk: int) -> Iterator[list[str]]:
    """Yield lists of up to `rows_per_chunk` JSON Lines records of the judgment export, each ending in a newline."""
    study = rows.study
    lookups = _ExportLookups(study, rows.names, csv=False)
    pairwise = study.kind == StudyKind.PAIRWISE
    # One record's text with a %s for each encoded cell; a key's own % is doubled.
    template = ", ".join(_encode_text(column.name).replace("%", "%%") + ": %s" for column in columns(study.kind))
    template = "{" + template + "}\n"

    timestamp_text = _timestamp_formatter(connections[lookups.database])
    study_name = _encode_text(study.name)
    # Items share their prompt's and their systems' cells, and responses their
    # system's name, so each distinct value is encoded once and its text
    # shared: the memos grow by about one tuple and one uuid per item.
    shared = _Shared()
    items = _Encoded(
        lookups.items,
        lambda item: (_encode(item[0]), shared.cells(item[1]), shared.cells(item[2])),
    )
    labels = _Encoded(lookups.labels, _encode)
    criteria = _Encoded(lookups.criteria, _encode)
    winners = _Encoded(lookups.response_systems, shared.cell)
    flags = ("false", "true")

    previous = None
    lines: list[str] = []
    append = lines.append
    for (
        judgment_id,
        item_id,
        annotator_id,
        rationale,
        seconds,
        criterion_id,
        outcome,
        winner_id,
        score,
        first_on_left,
        is_surplus,
        created_at,
        revised_at,
    ) in _answer_rows(study, lookups.database):
        if judgment_id != previous:
            # A judgment's cells repeat on each of its criterion rows.
            previous = judgment_id
            uuid_text, prompt_cells, systems = items[item_id]
            leading = (study_name, uuid_text, *prompt_cells, labels[annotator_id])
            first, second = systems
            shown = (first, second) if first_on_left else (second, first)
            trailing = (
                _encode(rationale),
                _encode(seconds),
                flags[bool(is_surplus)],
                flags[annotator_id in lookups.excluded],
                _encode_text(timestamp_text(created_at)),
                "null" if revised_at is None else _encode_text(timestamp_text(revised_at)),
            )
        if pairwise:
            winner = '""' if winner_id is None else winners[winner_id]
            cells = (*leading, criteria[criterion_id], *shown, first, second, _encode_text(outcome), winner, *trailing)
        else:
            cells = (*leading, criteria[criterion_id], first, _encode(score), *trailing)
        append(template % cells)
        if len(lines) >= rows_per_chunk:
            yield lines
            lines = []
            append = lines.append
    if lines:
        yield lines
