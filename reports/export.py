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
system and its score. A judgment its annotator changed while the study was
open shows the changed answers, and `revised_at` the time of the last
change. Annotators are named by their stable pseudonym unless
a site admin asked for account names (annotate.pseudonyms).

Format:
- UTF-8 with a byte order mark, so Excel opens Chinese and other non-ASCII
  text correctly, unless the caller passes `bom=False`. pandas reads the
  file with `pandas.read_csv(path, encoding="utf-8-sig")`; with plain
  "utf-8" the first column name of a file with the mark starts with
  "\\ufeff".
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
import io
import math
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC
from importlib import metadata
from itertools import islice
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import F, IntegerField, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify

from annotate.models import AnnotatorStatus, Criterion, CriterionAnswer, Item, Study, StudyKind
from annotate.pseudonyms import AnnotatorLabels, annotator_names_shown, naming_description
from generation.models import Response
from reports.agreement import agreement_metadata
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
    Column("score", "Score as stored, an integer; the report leaves out a score outside the criterion's scale."),
)
_TRAILING_COLUMNS = (
    Column("rationale", "The annotator's optional rationale for the whole judgment."),
    Column("time_on_task_seconds", "Seconds the annotator spent on the task; empty when not measured."),
    Column("is_surplus", "true when the judgment arrived after its item had enough judgments."),
    Column("annotator_excluded", "true when a manager excluded the annotator's judgments from the reports."),
    Column("created_at", "Time the judgment was stored, ISO 8601 in UTC."),
    Column("revised_at", "Time the annotator last changed the judgment, ISO 8601 in UTC; empty when never changed."),
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
    """Prepare a cell for CSV: prefix text a spreadsheet would read as a formula with an apostrophe.

    Booleans become "true" and "false"; values of other types, numbers
    among them, are returned unchanged.
    """
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, str) and cell.startswith(FORMULA_PREFIXES):
        return "'" + cell
    return cell


def csv_encoding(bom: bool) -> str:
    """Describe a CSV file's encoding for its sidecar, with the pandas call that reads the file."""
    if bom:
        return "UTF-8 with byte order mark; pandas.read_csv(path, encoding='utf-8-sig')"
    return "UTF-8 without byte order mark; pandas.read_csv(path)"


def stream_csv(header: list[str], rows: Iterable[list], *, bom: bool = True) -> Iterator[str]:
    """Yield a CSV file in chunks of text: byte order mark and header, then rows with formula-like cells neutralised.

    The byte order mark is left out when `bom` is False. JudgmentRows write
    their own CSV lines, much faster than csv.writer with a check of every
    cell. Other rows are neutralised cell by cell.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if bom:
        buffer.write(BYTE_ORDER_MARK)
    writer.writerow(header)
    yield _drain(buffer)
    if isinstance(rows, JudgmentRows):
        for lines in rows.csv_chunks(ROWS_PER_CHUNK):
            yield "".join(lines)
        return
    neutralised = ([neutralise(cell) for cell in cells] for cells in rows)
    while chunk := list(islice(neutralised, ROWS_PER_CHUNK)):
        writer.writerows(chunk)
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def stream_judgments_csv(study: Study, names: bool = False, *, bom: bool = True) -> Iterator[str]:
    """Yield the export in chunks of text, starting with the byte order mark unless `bom` is False.

    Annotators are named by pseudonym, or by username when `names` is True.
    The rows come from JudgmentRows, so the study never sits in memory whole.
    """
    yield from stream_csv([column.name for column in columns(study.kind)], judgment_rows(study, names), bom=bom)


def judgment_rows(study: Study, names: bool = False) -> "JudgmentRows":
    """Return the export's rows, read when iterated, as lists of cells in `columns(study.kind)` order."""
    return JudgmentRows(study, names)


class JudgmentRows:
    """The rows of a study's judgment export, read from the database each time they are iterated.

    Iterating yields lists of cells in `columns(study.kind)` order, before
    any formula neutralising, as JSONL writes them. `csv_chunks()` yields
    the same rows as CSV text, with formula-like text neutralised.

    1. Load the small tables once: system names, criteria, the study's
       items with their prompts and response systems, and the excluded
       annotators. Each text cell is made (for CSV: neutralised and
       quoted) once per item, prompt, criterion, system or annotator, not
       once per row.
    2. Read the answers with their judgments in export order, through a
       server-side cursor on PostgreSQL, as the driver returns them, so
       Django makes no model object and converts no value.
    3. Join each answer to the loaded tables in Python. On SQLite this is
       several times faster than joining items, prompts and responses in
       the query, because the sorted answers reach them in random order.

    The two ways of iterating have a loop each, because one shared loop
    costs a large share of the export's time at a million rows. The tests
    check that both give the same rows.
    """

    def __init__(self, study: Study, names: bool = False):
        self.study = study
        self.names = names

    def __iter__(self) -> Iterator[list]:
        lookups = _ExportLookups(self.study, self.names, csv=False)
        items, labels, criteria, excluded = lookups.items, lookups.labels, lookups.criteria, lookups.excluded
        response_systems = lookups.response_systems
        pairwise = self.study.kind == StudyKind.PAIRWISE
        study_name = self.study.name
        timestamp_text = _timestamp_formatter(connections[lookups.database])
        previous = None
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
        ) in _answer_rows(self.study, lookups.database):
            if judgment_id != previous:
                # A judgment's cells repeat on each of its criterion rows.
                previous = judgment_id
                uuid_text, prompt_cells, systems = items[item_id]
                label = labels[annotator_id]
                leading = (study_name, uuid_text, *prompt_cells, label)
                first, second = systems
                shown = (first, second) if first_on_left else (second, first)
                trailing = (
                    rationale,
                    seconds,
                    bool(is_surplus),
                    annotator_id in excluded,
                    timestamp_text(created_at),
                    None if revised_at is None else timestamp_text(revised_at),
                )
            criterion = criteria[criterion_id]
            if pairwise:
                winner = "" if winner_id is None else response_systems[winner_id]
                yield [*leading, criterion, *shown, first, second, outcome, winner, *trailing]
            else:
                yield [*leading, criterion, first, score, *trailing]

    def csv_chunks(self, rows_per_chunk: int) -> Iterator[list[str]]:
        """Yield lists of up to `rows_per_chunk` CSV records, as csv.writer writes the neutralised cells.

        Records end in CRLF, and cells are written as `_csv_cell` describes. A non-finite time on
        task is left empty, as export_files writes it. Records come in lists
        because a yield per record costs a noticeable share of the time.
        """
        lookups = _ExportLookups(self.study, self.names, csv=True)
        items, labels, criteria, excluded = lookups.items, lookups.labels, lookups.criteria, lookups.excluded
        response_systems = lookups.response_systems
        pairwise = self.study.kind == StudyKind.PAIRWISE
        study_name = _csv_cell(self.study.name)
        timestamp_text = _timestamp_formatter(connections[lookups.database])
        csv_cell, isfinite = _csv_cell, math.isfinite
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
        ) in _answer_rows(self.study, lookups.database):
            if judgment_id != previous:
                # A judgment's cells repeat on each of its criterion rows.
                previous = judgment_id
                uuid_text, prompt_text, systems = items[item_id]
                leading = f"{study_name},{uuid_text},{prompt_text},{labels[annotator_id]}"
                # Pairwise: the systems shown as A and B, then in canonical order. Rating: the system.
                shown = systems.first_on_left if first_on_left else systems.second_on_left
                rationale_text = csv_cell(rationale) if rationale else ""
                seconds_text = "" if seconds is None or not isfinite(seconds) else seconds
                flags = _FLAG_CELLS[2 * is_surplus + (annotator_id in excluded)]
                created = timestamp_text(created_at)
                revised = "" if revised_at is None else timestamp_text(revised_at)
            criterion = criteria[criterion_id]
            # Outcomes need no neutralising or quoting: a check constraint limits
            # them to win, tie, both_bad, attention or the empty string.
            if pairwise:
                winner = "" if winner_id is None else response_systems[winner_id]
                append(
                    f"{leading},{criterion},{shown},{outcome},{winner},{rationale_text},{seconds_text},{flags},"
                    f"{created},{revised}\r\n"
                )
            else:
                append(
                    f"{leading},{criterion},{shown},{csv_cell(score)},{rationale_text},{seconds_text},{flags},"
                    f"{created},{revised}\r\n"
                )
            if len(lines) >= rows_per_chunk:
                yield lines
                lines = []
                append = lines.append
        if lines:
            yield lines


# The is_surplus and annotator_excluded cells, indexed by 2 * is_surplus + excluded.
_FLAG_CELLS = ("false,false", "false,true", "true,false", "true,true")
# The answer query's columns, in the order JudgmentRows unpacks them. Django
# selects annotations after the fields, so the four annotations that
# _answer_rows adds come last, in the order they are added.
_ANSWER_FIELDS = (
    "judgment_id",
    "judgment__item_id",
    "judgment__annotator_id",
    "judgment__rationale",
    "judgment__time_on_task_seconds",
    "criterion_id",
    "outcome",
    "winner_id",
    "score",
    "first_on_left",
    "is_surplus",
    "created_at",
    "revised_at",
)
_ITEM_FIELDS = (
    "pk",
    "uuid",
    "prompt_id",
    "prompt__external_id",
    "prompt__category",
    "prompt__language",
    "first_response_id",
    "first_response__run_id",
    "second_response_id",
    "second_response__run_id",
)
# Rows fetched from the database cursor at a time.
ROWS_PER_FETCH = 2000


def _answer_rows(study: Study, database: str) -> Iterator[tuple]:
    """Yield the study's answers on items that are not gold, as `_ANSWER_FIELDS` tuples in export order.

    The flags are read as integers, and on SQLite created_at and revised_at
    as the stored text, because the SQLite driver would call a converter
    Django registers for each such value. The function from
    _timestamp_formatter rewrites the text faster than the driver parses
    it. revised_at is None for a judgment that was never changed.
    """
    created_at = F("judgment__created_at")
    revised_at = F("judgment__revised_at")
    if connections[database].vendor == "sqlite":
        created_at = Cast(created_at, TextField())
        revised_at = Cast(revised_at, TextField())
    gold_items = Item.objects.filter(study=study, is_gold=True).values("pk")
    answers = (
        CriterionAnswer.objects.using(database)
        .filter(criterion__study=study)
        .exclude(judgment__item__in=gold_items)
        .annotate(
            first_on_left=Cast("judgment__first_on_left", IntegerField()),
            is_surplus=Cast("judgment__is_surplus", IntegerField()),
            created_at=created_at,
            revised_at=revised_at,
        )
        .order_by("judgment__created_at", "judgment_id", "criterion__position", "criterion_id")
        .values_list(*_ANSWER_FIELDS)
    )
    return _driver_rows(answers)


def _driver_rows(queryset) -> Iterator[tuple]:
    """Yield the rows of a values_list queryset as the database driver returns them, without Django's converters.

    The driver's values differ from Django's for some types. On SQLite,
    UUIDs are 32 hex digits, and columns declared datetime or bool come
    as naive datetimes and bools from converters Django registers with
    the driver. The columns are in SQL order: fields, then annotations.
    The cursor is a server-side one on PostgreSQL, so rows are read in
    batches and memory stays flat.
    """
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    with connections[queryset.db].chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(ROWS_PER_FETCH):
            yield from rows


def _timestamp_formatter(connection) -> Callable[[object], str]:
    """Return a function that writes a stored time, as text or datetime from the driver, as ISO 8601 in UTC.

    The text equals `value.astimezone(UTC).isoformat()` on the aware
    datetime Django's own conversion would make. Naive values are in the
    connection's time zone, as Django stores them on SQLite.
    """
    naive_zone = connection.timezone

    def timestamp_text(value) -> str:
        if value.__class__ is str:
            # Django stores str(datetime) in UTC: "YYYY-MM-DD HH:MM:SS", with
            # ".ffffff" unless the microseconds are 0. isoformat() differs by
            # the "T" only.
            if (
                naive_zone is UTC
                and value[10:11] == " "
                and (len(value) == 19 or (len(value) == 26 and value[19] == "." and value[20:] != "000000"))
            ):
                return f"{value[:10]}T{value[11:]}+00:00"
            value = parse_datetime(value)
        if value.tzinfo is None:
            if naive_zone is UTC:
                # The aware value's text, without building the aware value.
                return value.isoformat() + "+00:00"
            if naive_zone is not None:
                value = timezone.make_aware(value, naive_zone)
        return value.astimezone(UTC).isoformat()

    return timestamp_text


def _uuid_text(value) -> str:
    """Write a driver's UUID value in the canonical form, as `str(uuid.UUID(...))` does."""
    if isinstance(value, str) and len(value) == 32:
        # SQLite stores Django's `UUID.hex`: 32 lowercase hex digits.
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(value))


def _unchanged(cell):
    return cell


def _csv_cell(value) -> str:
    """Write one cell as csv.writer writes `neutralise(value)` in the default dialect, which quotes minimally.

    None is empty and other non-text values are written with str().
    Text is quoted when it contains a comma, a quote or a line break
    (the delimiter, the quote character or a character of the line
    terminator), with each quote doubled.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str):
        return str(value)
    if value.startswith(FORMULA_PREFIXES):
        value = "'" + value
    if "," in value or '"' in value or "\r" in value or "\n" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


class _SystemTexts(NamedTuple):
    """An item's system cells as CSV text, for a judgment that showed the first response on the left or not."""

    first_on_left: str
    second_on_left: str


class _ExportLookups:
    """The small tables an export joins its answers to, loaded once, with each text cell made once.

    Cells are as stored, or with `csv` neutralised and quoted by _csv_cell.
    `items` maps an item's id to (uuid, prompt, systems). Without `csv`,
    prompt is the tuple of external id, category and language cells, and
    systems the pair of first and second system cells. With `csv`, prompt
    is those cells joined into CSV text, and systems a _SystemTexts.
    `labels`, `criteria` and `response_systems` map an annotator's,
    criterion's and response's id to its cell. An answer can name an item,
    criterion or response stored after the tables were loaded, so each
    dict reads such a missing key from the database on first use.
    NOTE: each item takes about 270 bytes here (CPython 3.11, measured with
    tracemalloc on 100,000 items), so memory grows with the study's items,
    though not with its judgments.
    """

    def __init__(self, study: Study, names: bool, csv: bool):
        self.study = study
        self.csv = csv
        self.cell = _csv_cell if csv else _unchanged
        self.database = CriterionAnswer.objects.db
        self.systems = load_systems(study)
        self.criteria = _LoadingDict(self._load_criterion)
        self.criteria.update((pk, self.cell(name)) for pk, name in study.criteria.values_list("pk", "name"))
        self.excluded = set(
            AnnotatorStatus.objects.filter(study=study, is_excluded=True).values_list("annotator_id", flat=True)
        )
        self._annotator_labels = AnnotatorLabels(names)
        self._usernames = _study_usernames(study) if names else {}
        self.labels = _LoadingDict(self._make_label)
        self.response_systems = _LoadingDict(self._load_response_system)
        self.items = _LoadingDict(self._load_item)
        self._prompts: dict[int, tuple | str] = {}
        self._system_pairs: dict[tuple, tuple | _SystemTexts] = {}
        self._add_items(Item.objects.filter(study=study, is_gold=False))

    def _add_items(self, items) -> None:
        for (
            pk,
            uuid_value,
            prompt_id,
            external_id,
            category,
            language,
            first_response,
            first_run,
            second_response,
            second_run,
        ) in _driver_rows(items.order_by().values_list(*_ITEM_FIELDS)):
            prompt = self._prompts.get(prompt_id)
            if prompt is None:
                prompt = (self.cell(external_id), self.cell(category), self.cell(language))
                prompt = self._prompts[prompt_id] = ",".join(prompt) if self.csv else prompt
            systems = self._system_pairs.get((first_run, second_run)) or self._add_system_pair(first_run, second_run)
            if first_response is not None and first_response not in self.response_systems:
                self.response_systems[first_response] = self._system_cell(first_run)
            if second_response is not None and second_response not in self.response_systems:
                self.response_systems[second_response] = self._system_cell(second_run)
            # A UUID's text, hex digits and hyphens, needs no neutralising or quoting.
            self.items[pk] = (_uuid_text(uuid_value), prompt, systems)

    def _add_system_pair(self, first_run: int | None, second_run: int | None) -> tuple | _SystemTexts:
        first, second = self._system_cell(first_run), self._system_cell(second_run)
        systems = (first, second)
        if self.csv and self.study.kind == StudyKind.PAIRWISE:
            systems = _SystemTexts(f"{first},{second},{first},{second}", f"{second},{first},{first},{second}")
        elif self.csv:
            systems = _SystemTexts(first, first)
        self._system_pairs[first_run, second_run] = systems
        return systems

    def _system_cell(self, run_id: int | None) -> str:
        if run_id is not None and run_id not in self.systems:
            self.systems = load_systems(self.study)
        return self.cell(_system_name(self.systems, run_id))

    def _load_item(self, item_id: int) -> tuple:
        self._add_items(Item.objects.filter(pk=item_id))
        if item_id not in self.items:
            raise Item.DoesNotExist(f"Item {item_id} was deleted during the export.")
        return self.items[item_id]

    def _make_label(self, annotator_id: int) -> str:
        username = self._usernames.get(annotator_id)
        if username is None and self._annotator_labels.names:
            user_model = get_user_model()
            username = user_model.objects.values_list(user_model.USERNAME_FIELD, flat=True).get(pk=annotator_id)
        return self.cell(self._annotator_labels.label(annotator_id, username))

    def _load_criterion(self, criterion_id: int) -> str:
        return self.cell(Criterion.objects.values_list("name", flat=True).get(pk=criterion_id))

    def _load_response_system(self, response_id: int) -> str:
        return self._system_cell(Response.objects.values_list("run_id", flat=True).get(pk=response_id))


class _LoadingDict(dict):
    """A dict that makes a missing key's value with `load(key)` and keeps it."""

    def __init__(self, load: Callable):
        super().__init__()
        self._load = load

    def __missing__(self, key):
        value = self[key] = self._load(key)
        return value


def _study_usernames(study: Study) -> dict[int, str]:
    """Return the usernames of the study's enrolled annotators, keyed by user id.

    Annotators who judged but are not enrolled (any more) are read one by
    one when first seen. Finding them all in one query would scan every
    judgment of the study, which takes seconds at a million judgments.
    """
    return dict(study.annotators.values_list("pk", get_user_model().USERNAME_FIELD))


def _system_name(systems: dict[int, System], run_id: int | None) -> str:
    return systems[run_id].name if run_id is not None else ""


def judgments_metadata(study: Study, names: bool = False, *, bom: bool = True) -> dict:
    """Describe the export of `study` for its sidecar `<file>.meta.json`.

    The counts are taken when this function runs; judgments stored between
    the two downloads make them differ from the CSV. Annotators are named
    by username when `names` is True, else by pseudonym, and the encoding
    states the byte order mark when `bom` is True, as in the CSV.
    """
    totals = judgment_totals(study, include_excluded=True)
    return {
        "file": csv_filename(study),
        "gold_judgments_file": gold_csv_filename(study),
        "format": {
            "encoding": csv_encoding(bom),
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
