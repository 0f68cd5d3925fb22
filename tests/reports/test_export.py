import csv
import io
import json
from datetime import UTC, datetime
from importlib import metadata

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from annotate.models import Judgment
from annotate.pseudonyms import pseudonym
from annotate.revision import revise_judgment
from reports import export, export_files
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import PAIRWISE, RATING, judge, make_item, make_study

HYPERLINK = '=HYPERLINK("http://evil.example","click")'
CHINESE_RATIONALE = "中文理由，含逗号, and an ASCII comma"

PAIRWISE_HEADER = [
    "study",
    "item_uuid",
    "prompt_external_id",
    "prompt_category",
    "prompt_language",
    "annotator",
    "criterion",
    "system_a",
    "system_b",
    "first_system",
    "second_system",
    "outcome",
    "winner_system",
    "rationale",
    "time_on_task_seconds",
    "is_surplus",
    "annotator_excluded",
    "created_at",
    "revised_at",
]


@pytest.fixture
def export_study(db):
    """Two judgments on two criteria: alice saw the second response as A, bob's is surplus."""
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    x = make_run(prompt_set, model_name="Xenoqua", label="温度1")
    y = make_run(prompt_set, model_name="Yarrowin")
    z = make_run(prompt_set, model_name="Zephyral")
    study = make_study(PAIRWISE, [x, y, z], criteria=("overall", "安全"), name="对比研究 pilot")
    judge(
        make_item(study, prompts[0], x, y),
        make_user("alice"),
        {"overall": "first", "安全": "tie"},
        first_on_left=False,
        rationale=HYPERLINK,
        seconds=12.5,
    )
    judge(
        make_item(study, prompts[1], x, z),
        make_user("bob"),
        {"overall": "second", "安全": "both_bad"},
        rationale=CHINESE_RATIONALE,
        seconds=None,
        surplus=True,
    )
    return study


def _download(client, staff, study):
    client.force_login(staff)
    response = client.get(reverse("reports:judgments_csv", args=[study.uuid]))
    assert response.status_code == 200
    return response, b"".join(response.streaming_content)


def _rows(body):
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_csv_response_is_streamed_attachment(client, staff, export_study):
    response, _ = _download(client, staff, export_study)

    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="pilot-judgments.csv"'


def test_csv_bom_and_crlf(client, staff, export_study):
    _, body = _download(client, staff, export_study)

    assert body.startswith(b"\xef\xbb\xbfstudy,")
    lines = body.split(b"\r\n")
    assert lines[-1] == b""
    assert len(lines) == 1 + 4 + 1


def test_csv_header_pairwise(client, staff, export_study):
    _, body = _download(client, staff, export_study)

    assert _rows(body)[0] == PAIRWISE_HEADER


def test_csv_one_row_per_judgment_and_criterion(client, staff, export_study):
    _, body = _download(client, staff, export_study)
    rows = [dict(zip(PAIRWISE_HEADER, row, strict=True)) for row in _rows(body)[1:]]

    users = get_user_model().objects
    alice, bob = pseudonym(users.get(username="alice").pk), pseudonym(users.get(username="bob").pk)
    assert [(row["annotator"], row["criterion"]) for row in rows] == [
        (alice, "overall"),
        (alice, "安全"),
        (bob, "overall"),
        (bob, "安全"),
    ]
    assert [row["outcome"] for row in rows] == ["win", "tie", "win", "both_bad"]


def test_csv_pairwise_row_unblinded(client, staff, export_study):
    _, body = _download(client, staff, export_study)
    alice = dict(zip(PAIRWISE_HEADER, _rows(body)[1], strict=True))
    item = export_study.items.get(prompt__position=0)

    assert alice["study"] == "对比研究 pilot"
    assert alice["item_uuid"] == str(item.uuid)
    assert (alice["prompt_external_id"], alice["prompt_category"], alice["prompt_language"]) == (
        "p0",
        "writing",
        "en",
    )
    # alice saw the item's second response as A.
    assert (alice["system_a"], alice["system_b"]) == ("Yarrowin", "Xenoqua 温度1")
    assert (alice["first_system"], alice["second_system"]) == ("Xenoqua 温度1", "Yarrowin")
    assert alice["winner_system"] == "Xenoqua 温度1"
    assert alice["time_on_task_seconds"] == "12.5"
    assert alice["is_surplus"] == "false"
    created_at = datetime.fromisoformat(alice["created_at"])
    assert created_at.utcoffset() is not None
    assert created_at.astimezone(UTC).utcoffset().total_seconds() == 0


def test_csv_surplus_and_missing_values(client, staff, export_study):
    _, body = _download(client, staff, export_study)
    bob_overall, bob_safety = (dict(zip(PAIRWISE_HEADER, row, strict=True)) for row in _rows(body)[3:])

    assert bob_overall["is_surplus"] == "true"
    assert bob_overall["time_on_task_seconds"] == ""
    assert bob_overall["winner_system"] == "Zephyral"
    assert bob_safety["winner_system"] == ""
    assert bob_overall["prompt_language"] == "zh-Hans"


def test_csv_chinese_text_survives_csv_module(client, staff, export_study):
    _, body = _download(client, staff, export_study)
    bob = dict(zip(PAIRWISE_HEADER, _rows(body)[3], strict=True))

    assert bob["rationale"] == CHINESE_RATIONALE
    assert bob["study"] == "对比研究 pilot"
    assert bob["first_system"] == "Xenoqua 温度1"


def test_csv_chinese_text_survives_pandas(client, staff, export_study):
    pandas = pytest.importorskip("pandas")
    _, body = _download(client, staff, export_study)

    frame = pandas.read_csv(io.BytesIO(body), encoding="utf-8-sig", keep_default_na=False)

    assert list(frame.columns) == PAIRWISE_HEADER
    assert len(frame) == 4
    assert frame.loc[2, "rationale"] == CHINESE_RATIONALE
    assert frame.loc[1, "criterion"] == "安全"
    assert frame.loc[0, "first_system"] == "Xenoqua 温度1"


def test_csv_formula_rationale_neutralised(client, staff, export_study):
    _, body = _download(client, staff, export_study)
    alice = dict(zip(PAIRWISE_HEADER, _rows(body)[1], strict=True))

    assert alice["rationale"] == "'" + HYPERLINK
    assert b"\r\n=HYPERLINK" not in body
    assert b',"=HYPERLINK' not in body


def test_csv_numbers_not_quoted(client, staff, export_study):
    _, body = _download(client, staff, export_study)
    text = body.decode("utf-8-sig")

    assert ",12.5,false," in text
    assert '"12.5"' not in text
    assert "'12.5" not in text


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_neutralise_formula_prefixes(prefix):
    assert export.neutralise(prefix + "1+1") == "'" + prefix + "1+1"


@pytest.mark.parametrize("value", [-1, -0.5, 12.5, 0, None, "plain text", "a=b", ""])
def test_neutralise_leaves_other_values(value):
    assert export.neutralise(value) == value


@pytest.fixture
def rating_export(db):
    prompt_set = make_prompt_set()
    run = make_run(prompt_set, model_name="Pellamy")
    study = make_study(RATING, [run], criteria=("fluency",), name="Rating pilot")
    judge(
        make_item(study, prompt_set.prompts.get(position=0), run),
        make_user("carol"),
        {"fluency": 4},
    )
    return study


def test_csv_rating_rows(client, staff, rating_export):
    _, body = _download(client, staff, rating_export)
    rows = _rows(body)

    assert rows[0] == [
        "study",
        "item_uuid",
        "prompt_external_id",
        "prompt_category",
        "prompt_language",
        "annotator",
        "criterion",
        "system",
        "score",
        "rationale",
        "time_on_task_seconds",
        "is_surplus",
        "annotator_excluded",
        "created_at",
        "revised_at",
    ]
    assert len(rows) == 2
    carol = pseudonym(get_user_model().objects.get(username="carol").pk)
    assert rows[1][5:9] == [carol, "fluency", "Pellamy", "4"]
    assert ",Pellamy,4,," in body.decode("utf-8-sig")


def test_csv_rating_score_read_as_number_by_pandas(client, staff, rating_export):
    pandas = pytest.importorskip("pandas")
    _, body = _download(client, staff, rating_export)

    frame = pandas.read_csv(io.BytesIO(body), encoding="utf-8-sig")

    assert pandas.api.types.is_integer_dtype(frame["score"])
    assert frame.loc[0, "score"] == 4
    assert pandas.api.types.is_float_dtype(frame["time_on_task_seconds"])


def test_stream_chunks_join_to_same_file(export_study, monkeypatch):
    whole = "".join(export.stream_judgments_csv(export_study))
    monkeypatch.setattr(export, "ROWS_PER_CHUNK", 1)

    chunks = list(export.stream_judgments_csv(export_study))

    assert len(chunks) == 1 + 4
    assert "".join(chunks) == whole


def test_stream_query_count_does_not_grow_with_rows(export_study, django_assert_num_queries):
    # System names, criteria, excluded annotators, items, then the answers.
    with django_assert_num_queries(5):
        list(export.stream_judgments_csv(export_study))
    prompts = list(export_study.prompt_set.prompts.order_by("position"))
    x, y, z = export_study.systems.order_by("pk")
    for number, (first, second) in enumerate([(y, z), (z, x), (x, y)]):
        judge(make_item(export_study, prompts[2], first, second), make_user(f"extra{number}"), {"overall": "tie"})

    with django_assert_num_queries(5):
        list(export.stream_judgments_csv(export_study))


def test_metadata_download(client, staff, export_study):
    client.force_login(staff)
    response = client.get(reverse("reports:judgments_csv_metadata", args=[export_study.uuid]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="pilot-judgments.csv.meta.json"'
    described = json.loads(response.content)
    assert described["file"] == "pilot-judgments.csv"
    assert described["study"]["uuid"] == str(export_study.uuid)
    assert described["study"]["name"] == "对比研究 pilot"
    assert described["study"]["kind"] == "pairwise"
    assert described["counts"] == {
        "rows": 4,
        "judgments": 2,
        "surplus_judgments": 1,
        "excluded_judgments": 0,
        "annotators": 2,
        "items": 2,
        "judged_items": 2,
    }
    assert [column["name"] for column in described["columns"]] == PAIRWISE_HEADER
    assert all(column["description"] for column in described["columns"])
    assert described["humeval_version"] == metadata.version("humeval")
    assert datetime.fromisoformat(described["generated_at"]).utcoffset().total_seconds() == 0
    assert [criterion["name"] for criterion in described["criteria"]] == ["overall", "安全"]
    assert described["systems"] == ["Xenoqua 温度1", "Yarrowin", "Zephyral"]
    assert "utf-8-sig" in described["format"]["encoding"]


def test_csv_without_bom(client, staff, export_study):
    _, with_bom = _download(client, staff, export_study)

    response = client.get(reverse("reports:judgments_csv", args=[export_study.uuid]), {"bom": "no"})
    body = b"".join(response.streaming_content)

    assert response.status_code == 200
    assert body.startswith(b"study,")
    assert _rows(body)[0] == PAIRWISE_HEADER
    assert with_bom == b"\xef\xbb\xbf" + body


def test_csv_keeps_bom_unless_no(client, staff, export_study):
    client.force_login(staff)

    response = client.get(reverse("reports:judgments_csv", args=[export_study.uuid]), {"bom": "false"})

    assert b"".join(response.streaming_content).startswith(b"\xef\xbb\xbfstudy,")


def test_metadata_encoding_follows_bom(client, staff, export_study):
    client.force_login(staff)
    address = reverse("reports:judgments_csv_metadata", args=[export_study.uuid])

    default = json.loads(client.get(address).content)["format"]["encoding"]
    without = json.loads(client.get(address, {"bom": "no"}).content)["format"]["encoding"]

    assert default == "UTF-8 with byte order mark; pandas.read_csv(path, encoding='utf-8-sig')"
    assert without == "UTF-8 without byte order mark; pandas.read_csv(path)"


def test_report_links_csv_without_bom(client, staff, export_study):
    client.force_login(staff)
    judgments = reverse("reports:judgments_csv", args=[export_study.uuid])
    gold = reverse("reports:gold_judgments_csv", args=[export_study.uuid])

    page = client.get(reverse("reports:study", args=[export_study.uuid])).content.decode()
    named = client.get(reverse("reports:study", args=[export_study.uuid]), {"names": "show"}).content.decode()

    assert f'href="{judgments}?bom=no"' in page
    assert f'href="{gold}?bom=no"' in page
    assert f'href="{judgments}?names=show&amp;bom=no"' in named
    assert f'href="{gold}?names=show&amp;bom=no"' in named


# Judgments changed after submit: revised_at

REVISED_AT = datetime(2026, 4, 2, 9, 30, 0, 250000, tzinfo=UTC)
REVISED_TEXT = "2026-04-02T09:30:00.250000+00:00"


@pytest.fixture
def revised_export(export_study):
    """export_study with alice's judgment, her last one, changed at REVISED_AT; bob's is unchanged."""
    alice = Judgment.objects.get(item__study=export_study, annotator__username="alice")
    # alice saw the second response as A, so B picks the first response.
    revise_judgment(alice, {"overall": "B", "安全": "A"}, rationale="Changed my mind.", now=REVISED_AT)
    return export_study


def test_revised_at_is_last_column():
    for kind in (PAIRWISE, RATING):
        names = [column.name for column in export.columns(kind)]
        assert names[-2:] == ["created_at", "revised_at"]


def test_csv_download_revised_at(client, staff, revised_export):
    # The web download writes through JudgmentRows.csv_chunks().
    _, body = _download(client, staff, revised_export)
    rows = [dict(zip(PAIRWISE_HEADER, row, strict=True)) for row in _rows(body)[1:]]
    alice = pseudonym(get_user_model().objects.get(username="alice").pk)

    changed = [row for row in rows if row["annotator"] == alice]
    unchanged = [row for row in rows if row["annotator"] != alice]
    assert [row["revised_at"] for row in changed] == [REVISED_TEXT, REVISED_TEXT]
    assert [row["revised_at"] for row in unchanged] == ["", ""]
    assert [row["winner_system"] for row in changed] == ["Xenoqua 温度1", "Yarrowin"]
    assert {row["rationale"] for row in changed} == {"Changed my mind."}
    assert body.endswith(b",\r\n")


def test_judgment_rows_revised_at(revised_export):
    rows = list(export.judgment_rows(revised_export))

    assert [row[-1] for row in rows] == [REVISED_TEXT, REVISED_TEXT, None, None]
    assert all(row[-2] for row in rows)


def test_rating_csv_revised_at(rating_export):
    carol = Judgment.objects.get(item__study=rating_export)
    revise_judgment(carol, {"fluency": 2}, now=REVISED_AT)

    text = "".join(export.stream_judgments_csv(rating_export))
    (row,) = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))

    assert row["score"] == "2"
    assert row["revised_at"] == REVISED_TEXT


def test_export_command_csv_revised_at(revised_export, tmp_path):
    path = tmp_path / "judgments.csv"

    call_command("export", str(revised_export.uuid), "--out", str(path), stdout=io.StringIO())

    rows = list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8"), newline="")))
    assert [row["revised_at"] for row in rows] == [REVISED_TEXT, REVISED_TEXT, "", ""]
    described = json.loads((tmp_path / "judgments.csv.meta.json").read_text(encoding="utf-8"))
    assert described["columns"][-1] == {
        "name": "revised_at",
        "description": "Time the annotator last changed the judgment, ISO 8601 in UTC; empty when never changed.",
    }


def test_jsonl_revised_at(revised_export):
    table = export_files.export_table(revised_export, "judgments")
    written = io.StringIO()

    export_files.write_rows(written, table.header, table.rows, "jsonl")

    records = [json.loads(line) for line in written.getvalue().splitlines()]
    assert [record["revised_at"] for record in records] == [REVISED_TEXT, REVISED_TEXT, None, None]
    assert list(records[0])[-1] == "revised_at"
    assert written.getvalue().count('"revised_at": null}') == 2
