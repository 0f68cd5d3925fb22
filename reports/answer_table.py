"""A study's judgments and criterion answers as numpy arrays, read once: the input of every report figure.

`load_study_answers` reads three tables, each in one query and in storage
order: the study's items, the judgments on them and the answers of the
study's criteria. Rows arrive in chunks and go straight into numpy, so no
Python object is kept per judgment. The figures (agreement, rankings,
length bias, rating scores, totals, the per-annotator table) are then
computed from the same arrays, with the rules of `reports.answers`
applied as masks:
- judgments on gold items never count towards a figure about systems;
- judgments of excluded annotators count only with `include_excluded`;
- surplus judgments count only with `include_surplus`;
- the active breakdown (`reports.answers.limited_to`) selects prompts by
  category and language and may leave one annotator out.

When the answers are read, a rating answer whose stored score lies
outside its criterion's scale gets NO_SCORE, so that no figure counts it,
and is marked in `AnswerColumns.out_of_scale`. The forms accept only
scores on the scale, but code, the ORM or the database can store any
smallint, and such a score would otherwise move every mean, median and
agreement figure. The judgment export reads the answers with its own
query and keeps the stored score.

The arrays hold the whole study and each mask applies the breakdown active
when it is computed, so one read serves every breakdown, and the
per-annotator counts and median times cover the whole study as they should.

Why not one query joining the three tables: on SQLite, a join led by the
item index reaches judgments and answers in random order. On the million
judgments benchmarks/report_speed.py builds (2-core AMD EPYC), such a join
took about 9 s of CPU, and these three reads about 2.8 s together.
"""

import logging
from dataclasses import dataclass, field

import numpy as np
from django.db import connections, router
from django.db.models import Min

from annotate.models import AnnotatorStatus, Criterion, CriterionAnswer, Item, Judgment, Outcome, Study, StudyKind
from generation.models import Prompt, Response
from reports.answers import active_breakdown
from reports.grouping import unique_ids

logger = logging.getLogger(__name__)

# Canonical result codes of pairwise answers, relative to the item's order:
# the first response won, the second won, tie, both bad. Order and values
# match reports.pairwise.CANONICAL_RESULTS. NO_RESULT marks an answer that
# is no outcome between the item's two responses (an attention-check
# answer, or a winner that is neither response).
FIRST_WINS_CODE, SECOND_WINS_CODE, TIE_CODE, BOTH_BAD_CODE = range(4)
NO_RESULT = -1
# A score no SmallIntegerField holds, so it cannot clash with a stored score.
NO_SCORE = -1_000_000

# Each table is read in slices of at most this many rows, which bounds the memory a read needs.
SLICE_ROWS = 250_000


@dataclass
class ItemColumns:
    """The study's items, gold included, sorted by id, with their prompts' category and language.

    Response and run ids are 0 where an item has none.
    """

    ids: np.ndarray
    prompt_ids: np.ndarray
    is_gold: np.ndarray
    first_response_ids: np.ndarray
    second_response_ids: np.ndarray
    first_run_ids: np.ndarray
    second_run_ids: np.ndarray
    categories: np.ndarray
    languages: np.ndarray

    def in_breakdown(self) -> np.ndarray:
        """Return a mask over the items: those whose prompt the active breakdown selects."""
        breakdown = active_breakdown()
        inside = np.ones(self.ids.size, dtype=bool)
        if breakdown.category is not None:
            inside &= self.categories == breakdown.category
        if breakdown.language is not None:
            inside &= self.languages == breakdown.language
        return inside


@dataclass
class JudgmentColumns:
    """The judgments on the study's items, sorted by id, which is the order they were stored in.

    `item` is a row of ItemColumns; `seconds` is NaN where no time on task
    was recorded.
    """

    ids: np.ndarray
    item: np.ndarray
    annotator_ids: np.ndarray
    first_on_left: np.ndarray
    is_surplus: np.ndarray
    is_excluded: np.ndarray
    seconds: np.ndarray


@dataclass
class AnswerColumns:
    """The answers of the study's criteria, sorted by judgment and then by criterion.

    `judgment` is a row of JudgmentColumns and `criterion` a position in
    StudyAnswers.criteria. `result` is the canonical result code of a
    pairwise answer (NO_RESULT otherwise) and `score` a rating answer's
    score (NO_SCORE otherwise). `out_of_scale` marks the rating answers
    whose stored score lies outside their criterion's scale; their `score`
    is NO_SCORE too.
    """

    judgment: np.ndarray
    criterion: np.ndarray
    result: np.ndarray
    score: np.ndarray
    out_of_scale: np.ndarray


@dataclass
class StudyAnswers:
    """Everything a study's report reads from the database, loaded by `load_study_answers`."""

    study: Study
    criteria: list[Criterion]
    items: ItemColumns
    judgments: JudgmentColumns
    answers: AnswerColumns
    # Figures that other modules derive from this read once and keep here, by name.
    derived: dict = field(default_factory=dict)

    def judgments_in_breakdown(self) -> np.ndarray:
        """Return a mask over the judgments, gold ones included: those inside the active breakdown."""
        inside = self.items.in_breakdown()[self.judgments.item]
        left_out = active_breakdown().left_out_annotator_id
        if left_out is not None:
            inside &= self.judgments.annotator_ids != left_out
        return inside

    def counted_judgments(self, *, include_surplus: bool, include_excluded: bool) -> np.ndarray:
        """Return a mask over the judgments: those the report counts under these options and the active breakdown."""
        counted = self.judgments_in_breakdown() & ~self.items.is_gold[self.judgments.item]
        if not include_surplus:
            counted &= ~self.judgments.is_surplus
        if not include_excluded:
            counted &= ~self.judgments.is_excluded
        return counted

    def counted_answers(self, *, include_surplus: bool, include_excluded: bool) -> np.ndarray:
        """Return a mask over the answers: those of counted judgments."""
        counted = self.counted_judgments(include_surplus=include_surplus, include_excluded=include_excluded)
        return counted[self.answers.judgment]

    def criterion_positions(self, criteria: list[Criterion]) -> np.ndarray:
        """Return a lookup from this table's criterion positions to positions in `criteria`, -1 where absent."""
        wanted = {criterion.pk: position for position, criterion in enumerate(criteria)}
        return np.array([wanted.get(criterion.pk, -1) for criterion in self.criteria], dtype=np.int64)

    def regular_judgments_per_annotator(self) -> dict[int, int]:
        """Count each annotator's judgments on regular items, whatever the options and the breakdown."""
        annotators = self.judgments.annotator_ids[~self.items.is_gold[self.judgments.item]]
        ids, counts = unique_ids(annotators, return_counts=True)
        return dict(zip(ids.tolist(), counts.tolist(), strict=True))

    def median_seconds(self) -> dict[int, float]:
        """Return each annotator's median time on task over all their judgments in the study, gold included.

        Judgments without a time are left out; an even count gives the
        mean of the middle two.
        """
        timed = ~np.isnan(self.judgments.seconds)
        annotators, seconds = self.judgments.annotator_ids[timed], self.judgments.seconds[timed]
        ids, codes, counts = unique_ids(annotators, return_inverse=True, return_counts=True)
        # Sort by time, then by annotator keeping that order: each annotator's
        # times in a run, ascending. Codes of 16 bits sort in one linear pass.
        order = np.argsort(seconds)
        codes = codes.astype(np.int16 if ids.size < 2**15 else np.int64)
        seconds = seconds[order[np.argsort(codes[order], kind="stable")]]
        starts = np.cumsum(counts) - counts
        lower = seconds[starts + (counts - 1) // 2]
        upper = seconds[starts + counts // 2]
        return dict(zip(ids.tolist(), ((lower + upper) / 2).tolist(), strict=True))


def load_study_answers(study: Study) -> StudyAnswers:
    """Read the study's items, judgments and answers into numpy arrays."""
    criteria = list(study.criteria.order_by("position", "pk"))
    items = _load_items(study)
    judgments = _load_judgments(study, items)
    answers = _load_answers(study, criteria, items, judgments)
    if study.kind == StudyKind.RATING:
        _leave_out_of_scale_scores(answers, criteria)
    return StudyAnswers(study, criteria, items, judgments, answers)


def _load_items(study: Study) -> ItemColumns:
    connection = connections[router.db_for_read(Item)]
    name = connection.ops.quote_name
    item, response = name(Item._meta.db_table), name(Response._meta.db_table)
    columns = _fetch_columns(
        connection,
        table=Item._meta.db_table,
        source=(
            f"{item} i "
            f"LEFT JOIN {response} f ON f.{name('id')} = i.{name('first_response_id')} "
            f"LEFT JOIN {response} s ON s.{name('id')} = i.{name('second_response_id')}"
        ),
        id_column=f"i.{name('id')}",
        where=f"i.{name('study_id')} = %s",
        params=[study.pk],
        columns={
            f"i.{name('id')}": np.int64,
            f"i.{name('prompt_id')}": np.int64,
            f"CASE WHEN i.{name('is_gold')} THEN 1 ELSE 0 END": np.int64,
            f"COALESCE(i.{name('first_response_id')}, 0)": np.int64,
            f"COALESCE(i.{name('second_response_id')}, 0)": np.int64,
            f"COALESCE(f.{name('run_id')}, 0)": np.int64,
            f"COALESCE(s.{name('run_id')}, 0)": np.int64,
        },
    )
    order = _sorting_order(columns[0])
    ids, prompt_ids, is_gold, first_responses, second_responses, first_runs, second_runs = (
        column[order] for column in columns
    )

    # Categories and languages belong to the prompts, far fewer than the items.
    # A subquery, not a list of ids: SQLite limits the number of parameters of one query.
    prompts = Prompt.objects.filter(pk__in=Item.objects.filter(study=study).values("prompt_id")).order_by("pk")
    prompt_rows = list(prompts.values_list("pk", "category", "language"))
    known_prompts = np.array([row[0] for row in prompt_rows], dtype=np.int64)
    rows = np.searchsorted(known_prompts, prompt_ids)
    return ItemColumns(
        ids=ids,
        prompt_ids=prompt_ids,
        is_gold=is_gold.astype(bool),
        first_response_ids=first_responses,
        second_response_ids=second_responses,
        first_run_ids=first_runs,
        second_run_ids=second_runs,
        categories=np.array([row[1] for row in prompt_rows], dtype=object)[rows],
        languages=np.array([row[2] for row in prompt_rows], dtype=object)[rows],
    )


def _load_judgments(study: Study, items: ItemColumns) -> JudgmentColumns:
    connection = connections[router.db_for_read(Judgment)]
    name = connection.ops.quote_name
    # On SQLite the unary plus keeps the planner off the judgment's item
    # index: a scan in storage order with a lookup in the list of the
    # study's items is several times faster than one index search per item.
    # PostgreSQL plans a hash semi-join by itself.
    hint = "+" if connection.vendor == "sqlite" else ""
    if items.ids.size and items.ids[-1] - items.ids[0] < 2 * items.ids.size:
        # The study's items fill most of their id range, so a range test on
        # each row replaces the lookup in the list of items, at half the cost
        # of the scan on SQLite. Judgments of other studies' items inside the
        # range are dropped below with the unknown items.
        where = f"{hint}{name('item_id')} BETWEEN %s AND %s"
        params = [int(items.ids[0]), int(items.ids[-1])]
    else:
        where = (
            f"{hint}{name('item_id')} IN "
            f"(SELECT {name('id')} FROM {name(Item._meta.db_table)} WHERE {name('study_id')} = %s)"
        )
        params = [study.pk]
    # Both flags travel in one number: first_on_left * 2 + is_surplus.
    ids, item_ids, annotator_ids, flags, microseconds = _fetch_columns(
        connection,
        table=Judgment._meta.db_table,
        source=name(Judgment._meta.db_table),
        id_column=name("id"),
        where=where,
        params=params,
        columns={
            name("id"): np.int64,
            name("item_id"): np.int64,
            name("annotator_id"): np.int64,
            f"CASE WHEN {name('first_on_left')} THEN 2 ELSE 0 END + CASE WHEN {name('is_surplus')} THEN 1 ELSE 0 END": (
                np.int8
            ),
            _microseconds_sql(name("time_on_task_seconds")): np.int64,
        },
    )
    seconds = _seconds(connection, ids, microseconds)

    order = _sorting_order(ids)
    # Judgments of other studies' items, and of an item added after the items
    # were read, are left out.
    item, known = _known_rows(items.ids, item_ids[order])
    order = order[known]
    annotator_ids = annotator_ids[order]

    excluded = AnnotatorStatus.objects.filter(study=study, is_excluded=True).values_list("annotator_id", flat=True)
    return JudgmentColumns(
        ids=ids[order],
        item=item[known].astype(np.int32),
        annotator_ids=annotator_ids,
        first_on_left=(flags[order] & 2) > 0,
        is_surplus=(flags[order] & 1) > 0,
        is_excluded=np.isin(annotator_ids, np.fromiter(excluded, dtype=np.int64)),
        seconds=seconds[order],
    )


# Times on task travel as whole microseconds, which numpy divides back into
# seconds, because a number of a few digits costs a fraction of what a float
# written with all its digits costs to write and to parse. A time reads
# back bit for bit exactly when the division in the database gives it back,
# which the query checks: every time the forms send (tenths of a second)
# and every time measured by the server (whole microseconds) does. The rest
# are marked INEXACT and read one by one.
UNTIMED, INEXACT = -1, -2


def _microseconds_sql(column: str) -> str:
    """Return SQL for `column` (seconds) in whole microseconds, UNTIMED for NULL or INEXACT where not exact.

    The bound keeps the product below 2**53, below which a double represents
    every integer exactly. The SQL is the same for PostgreSQL and SQLite.
    """
    scaled = f"ROUND({column} * 1000000)"
    return (
        f"CASE WHEN {column} IS NULL THEN {UNTIMED} "
        f"WHEN {column} >= 0 AND {column} < 1000000000 AND {scaled} / 1000000 = {column} "
        f"THEN CAST({scaled} AS BIGINT) ELSE {INEXACT} END"
    )


def _seconds(connection, ids: np.ndarray, microseconds: np.ndarray) -> np.ndarray:
    """Turn the microseconds of `_microseconds_sql` back into seconds, NaN for no time; read INEXACT ones by id."""
    seconds = microseconds / 1e6
    seconds[microseconds == UNTIMED] = np.nan
    inexact = np.flatnonzero(microseconds == INEXACT)
    name = connection.ops.quote_name
    with connection.cursor() as cursor:
        for start in range(0, inexact.size, 500):
            batch = inexact[start : start + 500]
            placeholders = ", ".join(["%s"] * batch.size)
            cursor.execute(
                f"SELECT {name('id')}, {name('time_on_task_seconds')} FROM {name(Judgment._meta.db_table)} "
                f"WHERE {name('id')} IN ({placeholders})",
                ids[batch].tolist(),
            )
            exact = dict(cursor.fetchall())
            # A judgment deleted since keeps no time.
            seconds[batch] = [exact.get(judgment_id, np.nan) for judgment_id in ids[batch].tolist()]
    return seconds


def _outcome_codes() -> tuple[int, int, int]:
    """Return the answer query's codes for a tie, both bad and any other outcome that names no winner.

    A win travels as its winner's response id. The database gives ids
    from 1, but PostgreSQL and SQLite both store any id given explicitly
    (a fixture, a restored dump), so the codes lie below every response
    id and below 0, which stands for an item's missing response: -1, -2
    and -3 unless some response has an id below 1. Finding the lowest id
    is one step down the primary key's index.
    """
    lowest = Response.objects.aggregate(lowest=Min("pk"))["lowest"]
    below = min(1 if lowest is None else lowest, 1) - 1
    return below - 1, below - 2, below - 3


def _load_answers(
    study: Study, criteria: list[Criterion], items: ItemColumns, judgments: JudgmentColumns
) -> AnswerColumns:
    """Read the answers of `criteria` on the judgments read, sorted by judgment and then criterion.

    Each answer travels as its judgment id, its criterion (only when the
    study has more than one) and one value: for a pairwise study the
    winner's response id, or a negative code for the other outcomes; for a
    rating study the score. The other kind's value is left unread: the
    reports of a pairwise study read no score and those of a rating study
    no outcome. On SQLite each column read costs about 0.1 s per million
    answers (2-core Intel Xeon).
    """
    if not criteria:
        return _empty_answers()
    connection = connections[router.db_for_read(CriterionAnswer)]
    name = connection.ops.quote_name
    pairwise = study.kind == StudyKind.PAIRWISE
    if pairwise:
        tie, both_bad, other = _outcome_codes()
        value = (
            f"CASE {name('outcome')} WHEN '{Outcome.WIN.value}' THEN {name('winner_id')} "
            f"WHEN '{Outcome.TIE.value}' THEN {tie} WHEN '{Outcome.BOTH_BAD.value}' THEN {both_bad} ELSE {other} END"
        )
    else:
        value = f"COALESCE({name('score')}, {NO_SCORE})"
    columns = {name("judgment_id"): np.int64, value: np.int64}
    if len(criteria) > 1:
        columns[name("criterion_id")] = np.int64
    placeholders = ", ".join(["%s"] * len(criteria))
    judgment_ids, values, *criterion_ids = _fetch_columns(
        connection,
        table=CriterionAnswer._meta.db_table,
        source=name(CriterionAnswer._meta.db_table),
        id_column=name("id"),
        # As for the judgments, a scan in storage order on SQLite.
        where=f"{'+' if connection.vendor == 'sqlite' else ''}{name('criterion_id')} IN ({placeholders})",
        params=[criterion.pk for criterion in criteria],
        columns=columns,
    )
    # An answer whose judgment was stored after the judgments were read is
    # left out, so that every figure rests on the same judgments.
    rows, known = _known_rows(judgments.ids, judgment_ids)
    if criterion_ids:
        ids_by_position = np.array([criterion.pk for criterion in criteria], dtype=np.int64)
        by_id = np.argsort(ids_by_position)
        criterion = by_id[np.searchsorted(ids_by_position[by_id], criterion_ids[0])].astype(np.int16)
    else:
        criterion = np.zeros(rows.size, dtype=np.int16)
    # Sorted by judgment and then criterion, whatever order the rows came in.
    order = np.flatnonzero(known)
    order = order[_sorting_order(rows[order].astype(np.int64) * len(criteria) + criterion[order])]
    rows, criterion, values = rows[order].astype(np.int32), criterion[order], values[order]

    result = np.full(rows.size, NO_RESULT, dtype=np.int8)
    score = np.full(rows.size, NO_SCORE, dtype=np.int32)
    if pairwise:
        item = judgments.item[rows]
        result[values == items.first_response_ids[item]] = FIRST_WINS_CODE
        result[values == items.second_response_ids[item]] = SECOND_WINS_CODE
        result[values == tie] = TIE_CODE
        result[values == both_bad] = BOTH_BAD_CODE
    else:
        # SQLite stores any integer in a smallint column. Clipped, a score
        # beyond 32 bits stays off every scale instead of wrapping onto one.
        score[:] = np.clip(values, np.iinfo(np.int32).min, np.iinfo(np.int32).max)
    return AnswerColumns(
        judgment=rows,
        criterion=criterion,
        result=result,
        score=score,
        out_of_scale=np.zeros(rows.size, dtype=bool),
    )


def _empty_answers() -> AnswerColumns:
    return AnswerColumns(
        judgment=np.zeros(0, dtype=np.int32),
        criterion=np.zeros(0, dtype=np.int16),
        result=np.zeros(0, dtype=np.int8),
        score=np.zeros(0, dtype=np.int32),
        out_of_scale=np.zeros(0, dtype=bool),
    )


def _leave_out_of_scale_scores(answers: AnswerColumns, criteria: list[Criterion]) -> None:
    """Mark the scores outside their own criterion's scale in `out_of_scale` and set them to NO_SCORE."""
    lowest = np.array([criterion.scale_min for criterion in criteria], dtype=np.int32)
    highest = np.array([criterion.scale_max for criterion in criteria], dtype=np.int32)
    scored = answers.score != NO_SCORE
    answers.out_of_scale = scored & (
        (answers.score < lowest[answers.criterion]) | (answers.score > highest[answers.criterion])
    )
    answers.score[answers.out_of_scale] = NO_SCORE


def _fetch_columns(
    connection, *, table: str, source: str, id_column: str, where: str, params: list, columns: dict
) -> list[np.ndarray]:
    """Read `columns` (SQL expression: numpy integer dtype) of the rows of `source` that `where` selects.

    `source` is `table`, perhaps joined with others, and `id_column` names
    `table`'s primary key in it. Every expression must be an integer that
    is never NULL. Returns one array per column.

    Each column of a slice of ids travels as one text of comma-separated
    numbers (`group_concat` on SQLite, `string_agg` on PostgreSQL), which
    numpy parses, because making a Python value of every cell was most of
    the cost of the read. The aggregates of one query take the same rows in
    the same order, so the arrays line up row by row. Slices of at most
    SLICE_ROWS rows of `table` bound the size of the texts, and so the
    memory, whatever the size of the table and the gaps between its ids.
    """
    sqlite = connection.vendor == "sqlite"
    aggregates = [
        f"group_concat({expression}, ',')" if sqlite else f"string_agg(({expression})::text, ',')"
        for expression in columns
    ]
    name = connection.ops.quote_name
    select = f"SELECT COUNT(*), {', '.join(aggregates)} FROM {source} WHERE {id_column} >= %s"
    parts: list[list[np.ndarray]] = [[] for _ in columns]
    with connection.cursor() as cursor:
        for start, end in _id_slices(cursor, name(table), name("id")):
            if end is None:
                cursor.execute(f"{select} AND ({where})", [start, *params])
            else:
                cursor.execute(f"{select} AND {id_column} < %s AND ({where})", [start, end, *params])
            count, *texts = cursor.fetchone()
            if not count:
                continue
            for column, (text, dtype) in enumerate(zip(texts, columns.values(), strict=True)):
                values = np.fromstring(text, dtype=np.int64, sep=",")
                if values.size != count:
                    raise RuntimeError(
                        f"Parsing a column of {table} gave {values.size} numbers for {count} rows; "
                        "the database returned text that is not a list of integers."
                    )
                parts[column].append(values.astype(dtype, copy=False))
    return [
        np.concatenate(chunks) if chunks else np.zeros(0, dtype=dtype)
        for chunks, dtype in zip(parts, columns.values(), strict=True)
    ]


def _id_slices(cursor, table: str, id_column: str):
    """Yield (first id, end id) of consecutive slices of at most SLICE_ROWS rows of `table`.

    The end id is the first of the next slice, so it is excluded, and None
    for the last slice, which runs to the table's end (a highest id + 1
    could overflow a 64-bit id). Each boundary is found by walking the
    primary key's index SLICE_ROWS rows on, so the number of slices
    follows the number of rows, however far apart the ids lie.
    """
    cursor.execute(f"SELECT MIN({id_column}) FROM {table}")
    (start,) = cursor.fetchone()
    while start is not None:
        cursor.execute(
            f"SELECT {id_column} FROM {table} WHERE {id_column} >= %s ORDER BY {id_column} LIMIT 1 OFFSET %s",
            [start, SLICE_ROWS],
        )
        row = cursor.fetchone()
        end = row[0] if row else None
        yield start, end
        start = end


def _sorting_order(keys: np.ndarray) -> np.ndarray:
    """Return the positions of `keys` in ascending order; rows read in order need no sort."""
    if np.all(keys[1:] >= keys[:-1]):
        return np.arange(keys.size)
    return np.argsort(keys, kind="stable")


def _known_rows(ids: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the rows of `wanted` in the sorted `ids` and a mask of the ids found there.

    The row of an id not found is meaningless; use the mask.
    """
    if ids.size and int(ids[-1]) - int(ids[0]) < 4 * ids.size + 1_000:
        # Ids close together, as a study's usually are: a table from id to row is faster than a search.
        lowest, highest = int(ids[0]), int(ids[-1])
        row_of = np.full(highest - lowest + 1, -1, dtype=np.int64)
        row_of[ids - lowest] = np.arange(ids.size)
        inside = (wanted >= lowest) & (wanted <= highest)
        rows = np.full(wanted.size, -1, dtype=np.int64)
        rows[inside] = row_of[wanted[inside] - lowest]
        return rows, rows >= 0
    rows = np.searchsorted(ids, wanted)
    found = rows < ids.size
    found[found] = ids[rows[found]] == wanted[found]
    return rows, found
