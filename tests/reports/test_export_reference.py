"""The judgment export, in every format, equals a reference built the plain way from ORM objects.

reports.export reads raw rows and writes CSV text itself for speed, so
these tests rebuild the file from model objects, one judgment at a time,
and write it with csv.writer. The studies cover the cases where a fast
path could go wrong. Every text column has formula-like and quoted text,
and some Chinese text. Criteria positions differ from their id order.
Some judgments are stored at the same time, some times have no
microseconds, and some times on task are missing. Some judgments were
changed after submit (revised_at), with and without microseconds. There are surplus
judgments, an excluded annotator, and gold items whose judgments must
stay out.
"""

import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from itertools import cycle

import pytest
from django.db import connection

from annotate.gold import set_excluded
from annotate.models import Criterion, Item, Judgment, Outcome, StudyKind
from annotate.pseudonyms import pseudonym
from annotate.revision import revise_judgment
from generation.models import Prompt, PromptSet
from reports import export, export_files
from tests.factories import make_run, make_user
from tests.reports.builders import PAIRWISE, RATING, judge, make_item, make_study

RATIONALES = (
    "",
    '=HYPERLINK("http://evil.example","click")',
    "中文理由，含逗号, and an ASCII comma",
    'two\nlines with "quotes"',
    "\tstarts with a tab",
    "-5 points",
    "+1",
    "@mention",
    "\rcarriage return",
    "plain",
)
PROMPTS = (
    ("=p0", "-cat", "zh-Hans", "用一句话解释光合作用。"),
    ("", "writing", "en", "Say hello."),
    ("p,2", "知识", "", "What is 2+2?"),
    ('@p"3', "", "en", "Name a colour."),
)
START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _prompt_set():
    prompt_set = PromptSet.objects.create(name="reference set")
    for position, (external_id, category, language, text) in enumerate(PROMPTS):
        Prompt.objects.create(
            prompt_set=prompt_set,
            position=position,
            external_id=external_id,
            category=category,
            language=language,
            text=text,
        )
    return prompt_set, list(prompt_set.prompts.order_by("position"))


def _revise_some(judgment, number, answers):
    """Change every fifth judgment, starting with the third, while it is its annotator's last one.

    Every second change is stored without microseconds. The rationale is
    passed again, and the chosen judgments' rationales have no surrounding
    whitespace that the revision would strip.
    """
    if number % 5 != 2:
        return
    microseconds = 0 if number % 2 else 654321
    when = START + timedelta(days=1, seconds=number, microseconds=microseconds)
    revise_judgment(judgment, answers, rationale=judgment.rationale, now=when)


def _set_time(judgment, number):
    """Store judgments in threes at the same second, every second one without microseconds."""
    microseconds = 0 if number % 2 else 123456 + number
    created = START + timedelta(seconds=number // 3, microseconds=microseconds)
    Judgment.objects.filter(pk=judgment.pk).update(created_at=created)


@pytest.fixture
def pairwise_study(db):
    prompt_set, prompts = _prompt_set()
    runs = [
        make_run(prompt_set, model_name="Xenoqua", label="温度1"),
        make_run(prompt_set, model_name="=Evil"),
        make_run(prompt_set, model_name='通义-"小"'),
    ]
    study = make_study(PAIRWISE, runs, criteria=("overall", "安全", "+formula"), name="=对比研究, pilot")
    # Positions against id order: the last criterion created comes first.
    for position, name in enumerate(("+formula", "overall", "安全")):
        Criterion.objects.filter(study=study, name=name).update(position=position)
    people = [make_user("alice"), make_user("@bob"), make_user("中文用户"), make_user("-dash")]
    # Usernames of enrolled annotators are loaded at once, the others one by one.
    study.annotators.set(people[:2])
    pairs = [(0, 1), (1, 2), (2, 0), (0, 2)]
    answers = cycle(["first", "second", "tie", "both_bad", "second"])
    rationales = cycle(RATIONALES)
    number = 0
    for prompt, (first, second) in zip(prompts, pairs, strict=True):
        item = make_item(study, prompt, runs[first], runs[second])
        for person in people:
            judgment = judge(
                item,
                person,
                {name: next(answers) for name in ("overall", "安全", "+formula")},
                first_on_left=number % 3 != 0,
                surplus=number % 4 == 3,
                rationale=next(rationales),
                seconds=None if number % 5 == 0 else 1.5 * number + 0.001,
            )
            _revise_some(judgment, number, {"overall": "B", "安全": "tie", "+formula": "A"})
            _set_time(judgment, number)
            number += 1
    set_excluded(study, people[3].pk, True)

    gold = make_item(study, prompts[0], runs[1], runs[2])
    Item.objects.filter(pk=gold.pk).update(is_gold=True, gold_outcome=Outcome.WIN, gold_winner=gold.first_response)
    judge(gold, people[0], {"overall": "first", "安全": "tie", "+formula": "second"})
    check = make_item(study, prompts[1], runs[0])
    Item.objects.filter(pk=check.pk).update(
        is_gold=True, attention_text="=Bananas", gold_outcome=Outcome.WIN, gold_winner=check.first_response
    )
    judge(check, people[1], {"overall": "attention", "安全": "tie", "+formula": "both_bad"})
    return study


@pytest.fixture
def rating_study(db):
    prompt_set, prompts = _prompt_set()
    runs = [make_run(prompt_set, model_name="Xenoqua"), make_run(prompt_set, model_name="@Rater")]
    study = make_study(RATING, runs, criteria=("fluency", "=事实"), name="rating, pilot")
    people = [make_user("alice"), make_user("中文用户"), make_user("+plus")]
    rationales = cycle(RATIONALES)
    number = 0
    for prompt in prompts:
        for run in runs:
            item = make_item(study, prompt, run)
            for person in people:
                judgment = judge(
                    item,
                    person,
                    {"fluency": number % 5 + 1, "=事实": number * 3 % 5 + 1},
                    rationale=next(rationales),
                    seconds=0.25 * number,
                    surplus=number % 7 == 0,
                )
                _revise_some(judgment, number, {"fluency": 5 - number % 5, "=事实": 1})
                _set_time(judgment, number)
                number += 1
    set_excluded(study, people[1].pk, True)
    gold = make_item(study, prompts[0], runs[1])
    Item.objects.filter(pk=gold.pk).update(is_gold=True, gold_min_score=3, gold_max_score=5)
    judge(gold, people[0], {"fluency": 4, "=事实": 2})
    return study


def _reference_rows(study, names):
    """Build the export's rows from model objects, judgment by judgment, as the columns describe them."""
    excluded = set(study.annotator_statuses.filter(is_excluded=True).values_list("annotator_id", flat=True))
    judgments = (
        Judgment.objects.filter(item__study=study, item__is_gold=False)
        .select_related("annotator", "item__prompt", "item__first_response__run", "item__second_response__run")
        .order_by("created_at", "pk")
    )
    rows = []
    for judgment in judgments:
        item = judgment.item
        first = item.first_response.run.system_name
        second = item.second_response.run.system_name if item.second_response else ""
        for answer in judgment.answers.select_related("criterion", "winner__run").order_by(
            "criterion__position", "criterion_id"
        ):
            row = [
                study.name,
                str(item.uuid),
                item.prompt.external_id,
                item.prompt.category,
                item.prompt.language,
                judgment.annotator.username if names else pseudonym(judgment.annotator_id),
                answer.criterion.name,
            ]
            if study.kind == StudyKind.PAIRWISE:
                shown = [first, second] if judgment.first_on_left else [second, first]
                winner = answer.winner.run.system_name if answer.winner else ""
                row += [*shown, first, second, answer.outcome, winner]
            else:
                row += [first, answer.score]
            row += [
                judgment.rationale,
                judgment.time_on_task_seconds,
                judgment.is_surplus,
                judgment.annotator_id in excluded,
                judgment.created_at.astimezone(UTC).isoformat(),
                judgment.revised_at.astimezone(UTC).isoformat() if judgment.revised_at else None,
            ]
            rows.append(row)
    return rows


def _reference_csv(study, names, bom=True):
    text = io.StringIO()
    if bom:
        text.write("\ufeff")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow([column.name for column in export.columns(study.kind)])
    for row in _reference_rows(study, names):
        writer.writerow([export.neutralise(cell) for cell in row])
    return text.getvalue()


@pytest.fixture(params=["pairwise", "rating"])
def study(request):
    return request.getfixturevalue(f"{request.param}_study")


@pytest.mark.parametrize("names", [False, True])
def test_streamed_csv_equals_reference(study, names):
    expected = _reference_csv(study, names)

    streamed = "".join(export.stream_judgments_csv(study, names=names))

    assert streamed == expected


def test_reference_covers_the_hard_cases(pairwise_study):
    rows = _reference_rows(pairwise_study, names=False)
    created = [row[-2] for row in rows]
    revised = [row[-1] for row in rows]
    rationales = {row[13] for row in rows}

    assert len(rows) == 16 * 3
    assert len(set(created)) < len(created)
    assert any(".123" in value for value in created)
    assert any("." not in value for value in created)
    assert None in revised
    assert any(value and ".654321" in value for value in revised)
    assert any(value and "." not in value for value in revised)
    assert {None, 1.501} <= {row[14] for row in rows}
    assert set(RATIONALES) <= rationales
    assert {row[15] for row in rows} == {True, False}
    assert {row[16] for row in rows} == {True, False}
    assert [row[6] for row in rows[:3]] == ["+formula", "overall", "安全"]


@pytest.mark.parametrize("names", [False, True])
@pytest.mark.parametrize("bom", [False, True])
def test_written_csv_equals_reference(study, names, bom):
    table = export_files.export_table(study, "judgments", names=names)
    written = io.StringIO()

    count = export_files.write_rows(written, table.header, table.rows, "csv", bom=bom)

    assert written.getvalue() == _reference_csv(study, names, bom=bom)
    assert count == len(_reference_rows(study, names))


def test_stream_rows_csv_equals_reference(study, monkeypatch):
    monkeypatch.setattr(export, "ROWS_PER_CHUNK", 7)
    table = export_files.export_table(study, "judgments")

    chunks = list(export_files.stream_rows(table.header, table.rows, "csv", bom=True))

    assert "".join(chunks) == _reference_csv(study, names=False)
    assert len(chunks) == -(-len(_reference_rows(study, names=False)) // 7)


def test_jsonl_equals_reference(study):
    table = export_files.export_table(study, "judgments", names=True)
    written = io.StringIO()

    export_files.write_rows(written, table.header, table.rows, "jsonl")

    records = [json.loads(line) for line in written.getvalue().splitlines()]
    expected = [dict(zip(table.header, row, strict=True)) for row in _reference_rows(study, names=True)]
    assert records == expected


def test_rows_equal_reference_cells(study):
    assert [list(row) for row in export.judgment_rows(study)] == _reference_rows(study, names=False)


def test_export_without_judgments(db):
    prompt_set, _prompts = _prompt_set()
    study = make_study(PAIRWISE, [make_run(prompt_set), make_run(prompt_set)], name="empty")

    streamed = "".join(export.stream_judgments_csv(study))

    assert streamed == _reference_csv(study, names=False)
    assert list(export.judgment_rows(study)) == []


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-01 12:00:00",
        "2026-03-01 12:00:00.123456",
        "2026-03-01 12:00:00.000000",
        "2026-03-01 12:00:00.5",
        "2026-03-01T12:00:00",
        datetime(2026, 3, 1, 12, 0, 0),
        datetime(2026, 3, 1, 12, 0, 0, 7),
        datetime(2026, 3, 1, 20, 0, 0, 7, tzinfo=timezone(timedelta(hours=8))),
    ],
)
def test_timestamp_text_matches_aware_isoformat(db, value):
    aware = datetime.fromisoformat(value) if isinstance(value, str) else value
    if aware.tzinfo is None:
        aware = aware.replace(tzinfo=UTC)

    text = export._timestamp_formatter(connection)(value)

    assert text == aware.astimezone(UTC).isoformat()


@pytest.mark.parametrize("csv_cells", [False, True])
def test_lookups_load_objects_stored_later(pairwise_study, csv_cells):
    lookups = export._ExportLookups(pairwise_study, names=True, csv=csv_cells)
    prompt_set = pairwise_study.prompt_set
    prompt = prompt_set.prompts.get(position=0)
    late_run = make_run(prompt_set, model_name="=Late")
    early_run = pairwise_study.systems.get(model__name="Xenoqua")
    item = make_item(pairwise_study, prompt, late_run, early_run)
    criterion = Criterion.objects.create(study=pairwise_study, position=9, name="-late", question="Later?")
    person = make_user("+late")
    cell = export._csv_cell if csv_cells else export._unchanged

    uuid_text, prompt_cells, systems = lookups.items[item.pk]

    assert uuid_text == str(item.uuid)
    if csv_cells:
        assert prompt_cells == "'=p0,'-cat,zh-Hans"
        assert systems.first_on_left == "'=Late,Xenoqua 温度1,'=Late,Xenoqua 温度1"
    else:
        assert prompt_cells == ("=p0", "-cat", "zh-Hans")
        assert systems == ("=Late", "Xenoqua 温度1")
    assert lookups.criteria[criterion.pk] == cell("-late")
    assert lookups.labels[person.pk] == cell("+late")
    assert lookups.response_systems[item.first_response_id] == cell("=Late")


def test_lookups_item_deleted_during_export(pairwise_study):
    lookups = export._ExportLookups(pairwise_study, names=False, csv=True)
    missing = Item.objects.order_by("-pk").values_list("pk", flat=True).first() + 1

    with pytest.raises(Item.DoesNotExist, match=f"Item {missing} was deleted"):
        lookups.items[missing]


def test_csv_flags_are_words(pairwise_study):
    text = "".join(export.stream_judgments_csv(pairwise_study, names=False))

    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))

    assert {row["is_surplus"] for row in rows} == {"true", "false"}
    assert {row["annotator_excluded"] for row in rows} == {"true", "false"}


def test_jsonl_flags_are_booleans(pairwise_study):
    table = export_files.export_table(pairwise_study, "judgments")
    written = io.StringIO()

    export_files.write_rows(written, table.header, table.rows, "jsonl")

    records = [json.loads(line) for line in written.getvalue().splitlines()]
    assert {record["is_surplus"] for record in records} == {True, False}
    assert {record["annotator_excluded"] for record in records} == {True, False}


@pytest.mark.parametrize("names", [False, True], ids=["pseudonyms", "names"])
def test_jsonl_bytes_equal_json_dumps(study, names):
    table = export_files.export_table(study, "judgments", names=names)
    fast, plain = io.StringIO(), io.StringIO()

    fast_count = export_files.write_rows(fast, table.header, table.rows, "jsonl")
    # A list is not JudgmentRows, so write_rows takes its json.dumps-per-row path.
    plain_count = export_files.write_rows(plain, table.header, list(table.rows), "jsonl")

    assert fast.getvalue() == plain.getvalue()
    assert fast_count == plain_count == len(_reference_rows(study, names))


def test_jsonl_writes_endless_time_as_null(study):
    judgment = Judgment.objects.filter(item__study=study, item__is_gold=False).order_by("pk").first()
    Judgment.objects.filter(pk=judgment.pk).update(time_on_task_seconds=float("inf"))
    table = export_files.export_table(study, "judgments")
    written = io.StringIO()

    export_files.write_rows(written, table.header, table.rows, "jsonl")

    times = [json.loads(line)["time_on_task_seconds"] for line in written.getvalue().splitlines()]
    assert None in times
    assert written.getvalue().count('"time_on_task_seconds": null') == times.count(None)


def test_stream_rows_jsonl_in_chunks(study, monkeypatch):
    monkeypatch.setattr(export, "ROWS_PER_CHUNK", 7)
    table = export_files.export_table(study, "judgments")
    plain = io.StringIO()
    export_files.write_rows(plain, table.header, list(table.rows), "jsonl")

    chunks = list(export_files.stream_rows(table.header, table.rows, "jsonl"))

    assert "".join(chunks) == plain.getvalue()
    assert len(chunks) == -(-len(_reference_rows(study, names=False)) // 7)
