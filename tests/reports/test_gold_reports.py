"""Reports leave out gold items and excluded annotators; the gold export holds the gold judgments."""

import csv
import io
import json
import uuid
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from annotate.gold import set_excluded, set_paused
from annotate.models import Item, Judgment, Outcome
from annotate.pseudonyms import pseudonym
from annotate.revision import last_judgment, revise_judgment
from reports.agreement import study_agreement
from reports.export import stream_judgments_csv
from reports.gold_export import gold_columns, stream_gold_judgments_csv
from reports.pairwise import pairwise_summary
from reports.ratings import study_ratings
from reports.summary import build_study_report, judgment_totals
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import RATING, judge, make_item, make_study

BAD_TEXT = "=Bananas are a kind of spaceship."


def _gold_item(item, **answer):
    Item.objects.filter(pk=item.pk).update(is_gold=True, **answer)
    item.refresh_from_db()
    return item


def _attention_item(study, prompt, run):
    """A pairwise attention check: `run`'s response beside BAD_TEXT, the response being right."""
    item = make_item(study, prompt, run)
    return _gold_item(item, attention_text=BAD_TEXT, gold_outcome=Outcome.WIN, gold_winner=item.first_response)


def _records(summary):
    return {
        record.system.name: (record.wins, record.losses, record.ties, record.both_bad) for record in summary.systems
    }


def _csv_rows(chunks):
    return list(csv.DictReader(io.StringIO("".join(chunks).removeprefix("\ufeff"), newline="")))


@pytest.fixture
def with_gold(tiny_pairwise):
    """tiny_pairwise plus a gold item and an attention check, each judged against the counted trend."""
    data = tiny_pairwise
    ann1, ann2, ann3 = data.annotators
    marked = make_item(data.study, data.prompts[0], data.y, data.z)
    marked = _gold_item(marked, gold_outcome=Outcome.WIN, gold_winner=marked.first_response)
    for person in (ann1, ann2, ann3):
        judgment = judge(marked, person, {"overall": "first"})
        Judgment.objects.filter(pk=judgment.pk).update(gold_correct=True)
    check = _attention_item(data.study, data.prompts[1], data.z)
    wrong = judge(check, ann3, {"overall": "attention"}, first_on_left=False)
    Judgment.objects.filter(pk=wrong.pk).update(gold_correct=False)
    right = judge(check, ann1, {"overall": "first"})
    Judgment.objects.filter(pk=right.pk).update(gold_correct=True)
    data.marked, data.check = marked, check
    return data


# Gold items stay out of every figure


def test_gold_left_out_of_pairwise_counts(tiny_pairwise):
    criterion = tiny_pairwise.study.criteria.get()
    before = _records(pairwise_summary(criterion))
    gold_y_over_z = _gold_item(
        make_item(tiny_pairwise.study, tiny_pairwise.prompts[0], tiny_pairwise.y, tiny_pairwise.z)
    )
    for person in tiny_pairwise.annotators:
        judge(gold_y_over_z, person, {"overall": "first"})

    after = _records(pairwise_summary(criterion))

    assert after == before
    assert after["Yarrowin"] == (0, 3, 1, 1)


def test_gold_left_out_of_agreement_and_totals(with_gold):
    study = with_gold.study
    (agreement,) = study_agreement(study)
    totals = judgment_totals(study)

    assert (agreement.items, agreement.judgments) == (2, 5)
    assert (totals.judgments, totals.surplus, totals.items, totals.judged_items) == (7, 1, 3, 3)
    assert (totals.gold, totals.gold_items) == (5, 2)


def test_gold_left_out_of_ratings(db):
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    run = make_run(prompt_set, model_name="Pellamy")
    study = make_study(RATING, [run], criteria=("fluency",))
    judge(make_item(study, prompts[0], run), make_user(), {"fluency": 4})
    gold_item = _gold_item(make_item(study, prompts[1], run), gold_min_score=1, gold_max_score=2)
    judge(gold_item, make_user(), {"fluency": 1})

    (ratings,) = study_ratings(study)

    (row,) = ratings.systems
    assert (row.count, row.mean) == (1, 4.0)


# Excluded annotators


def test_exclusion_changes_pairwise_figures(tiny_pairwise):
    criterion = tiny_pairwise.study.criteria.get()
    ann3 = tiny_pairwise.annotators[2]
    before = _records(pairwise_summary(criterion))

    set_excluded(tiny_pairwise.study, ann3.pk, True)
    after = _records(pairwise_summary(criterion))
    asked = _records(pairwise_summary(criterion, include_excluded=True))

    # ann3's only judgment is the tie between Xenoqua and Yarrowin.
    assert before["Xenoqua"] == (3, 1, 1, 1)
    assert after["Xenoqua"] == (3, 1, 0, 1)
    assert after["Yarrowin"] == (0, 3, 0, 1)
    assert asked == before
    assert Judgment.objects.filter(annotator=ann3).count() == 1


def test_exclusion_changes_win_rate_and_agreement(tiny_pairwise):
    study = tiny_pairwise.study
    criterion = study.criteria.get()
    set_excluded(study, tiny_pairwise.annotators[0].pk, True)

    summary = pairwise_summary(criterion)
    (agreement,) = study_agreement(study)
    totals = judgment_totals(study)

    rates = {record.system.name: record.win_rate for record in summary.systems}
    # Without ann1: Xenoqua beats Yarrowin once (ann2), ties once (ann3) and shares a both-bad (ann2).
    assert rates["Xenoqua"] == pytest.approx((1 + 2 / 2) / 3)
    assert rates["Zephyral"] is None
    assert (agreement.items, agreement.judgments) == (1, 2)
    # Totals include ann2's surplus judgment; ann1's three are counted apart.
    assert (totals.judgments, totals.excluded, totals.annotators) == (4, 3, 2)


def test_exclusion_is_per_study(tiny_pairwise):
    criterion = tiny_pairwise.study.criteria.get()
    ann3 = tiny_pairwise.annotators[2]
    other = make_study(RATING, [tiny_pairwise.x], name="other study")
    set_excluded(other, ann3.pk, True)

    assert _records(pairwise_summary(criterion))["Xenoqua"] == (3, 1, 1, 1)


def test_ratings_leave_out_excluded(db):
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    run = make_run(prompt_set, model_name="Pellamy")
    study = make_study(RATING, [run], criteria=("fluency",))
    steady, spammer = make_user(), make_user()
    for prompt in prompts:
        item = make_item(study, prompt, run)
        judge(item, steady, {"fluency": 4})
        judge(item, spammer, {"fluency": 1})
    set_excluded(study, spammer.pk, True)

    (ratings,) = study_ratings(study)
    (asked,) = study_ratings(study, include_excluded=True)

    assert (ratings.systems[0].count, ratings.systems[0].mean) == (3, 4.0)
    assert (asked.systems[0].count, asked.systems[0].mean) == (6, 2.5)


# Report pages


def _report(client, staff, study, query=""):
    client.force_login(staff)
    response = client.get(reverse("reports:study", args=[study.uuid]) + query)
    assert response.status_code == 200
    return response


def test_report_page_shows_annotator_quality(client, staff, with_gold):
    ann1, ann2, ann3 = with_gold.annotators
    set_excluded(with_gold.study, ann2.pk, True)
    set_paused(with_gold.study, ann3.pk, True, "Gold accuracy too low.")

    response = _report(client, staff, with_gold.study)

    rows = {row.username: row for row in response.context["report"].annotators}
    assert (rows[ann1.username].gold_judgments, rows[ann1.username].gold_correct) == (2, 2)
    assert rows[ann3.username].gold_accuracy == 0.5
    assert rows[ann2.username].is_excluded
    assert rows[ann3.username].is_paused
    page = response.text
    assert "Gold accuracy" in page
    assert "50.0%" in page
    assert "Excluded from the figures" in page
    assert "Gold accuracy too low." in page
    assert "?excluded=include" in page
    assert reverse("admin:annotate_study_quality", args=[with_gold.study.pk]) in page


def test_report_page_excluded_toggle(client, staff, tiny_pairwise):
    set_excluded(tiny_pairwise.study, tiny_pairwise.annotators[2].pk, True)

    default = _report(client, staff, tiny_pairwise.study).context["report"]
    included = _report(client, staff, tiny_pairwise.study, "?excluded=include&surplus=include")

    assert default.totals.judgments == 6
    assert included.context["report"].totals.judgments == 7
    assert included.context["report"].include_surplus
    assert "1 judgment by an excluded annotator is left out" in _report(client, staff, tiny_pairwise.study).text
    # Each toggle keeps the other option as it is.
    assert included.context["surplus_toggle_url"] == "?excluded=include"
    assert included.context["excluded_toggle_url"] == "?surplus=include"


def test_report_page_gold_facts(client, staff, with_gold):
    page = _report(client, staff, with_gold.study).text

    assert "2, with 5 judgments" in page
    assert "no figure below counts them" in page
    assert reverse("reports:gold_judgments_csv", args=[with_gold.study.uuid]) in page


def test_index_leaves_out_gold_and_excluded(client, staff, with_gold):
    set_excluded(with_gold.study, with_gold.annotators[2].pk, True)
    client.force_login(staff)

    response = client.get(reverse("reports:index"))

    (study,) = response.context["studies"]
    assert (study.item_count, study.judgment_count, study.surplus_count) == (3, 6, 1)


def test_build_report_sections_ignore_gold(with_gold):
    report = build_study_report(with_gold.study)

    (section,) = report.sections
    assert section.pairwise.answers == 6


# Exports


def test_main_csv_leaves_out_gold_and_flags_excluded(with_gold):
    ann3 = with_gold.annotators[2]
    set_excluded(with_gold.study, ann3.pk, True)

    rows = _csv_rows(stream_judgments_csv(with_gold.study))

    gold_uuids = {str(with_gold.marked.uuid), str(with_gold.check.uuid)}
    assert len(rows) == 7
    assert not {row["item_uuid"] for row in rows} & gold_uuids
    assert {row["annotator"] for row in rows if row["annotator_excluded"] == "true"} == {pseudonym(ann3.pk)}
    assert BAD_TEXT not in "".join(row["rationale"] for row in rows)


def test_gold_csv_pairwise_rows(client, staff, with_gold):
    client.force_login(staff)

    response = client.get(reverse("reports:gold_judgments_csv", args=[with_gold.study.uuid]))

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "gold-judgments.csv" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    rows = _csv_rows([body])
    assert list(rows[0]) == [column.name for column in gold_columns("pairwise")]
    assert len(rows) == 5
    attention = [row for row in rows if row["is_attention_check"] == "true"]
    wrong = next(row for row in attention if row["outcome"] == "attention")
    assert wrong["annotator"] == pseudonym(with_gold.annotators[2].pk)
    assert wrong["attention_text"] == "'" + BAD_TEXT
    assert (wrong["system_a"], wrong["system_b"]) == ("", "Zephyral")
    assert (wrong["winner_system"], wrong["right_outcome"], wrong["right_winner_system"]) == ("", "win", "Zephyral")
    assert wrong["gold_correct"] == "false"
    marked = [row for row in rows if row["item_uuid"] == str(with_gold.marked.uuid)]
    assert {row["gold_correct"] for row in marked} == {"true"}
    assert {row["winner_system"] for row in marked} == {"Yarrowin"}
    assert {row["is_scored_criterion"] for row in rows} == {"true"}


def test_gold_csv_rating_rows(db):
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    run = make_run(prompt_set, model_name="Pellamy")
    study = make_study(RATING, [run], criteria=("fluency", "safety"))
    check = Item.objects.create(
        study=study,
        prompt=prompts[0],
        sort_key=0.5,
        is_gold=True,
        attention_text="asdf",
        gold_min_score=1,
        gold_max_score=2,
    )
    judge(check, make_user("rater"), {"fluency": 2, "safety": 5})
    Judgment.objects.update(gold_correct=True)

    rows = _csv_rows(stream_gold_judgments_csv(study))

    assert [row["criterion"] for row in rows] == ["fluency", "safety"]
    assert [row["is_scored_criterion"] for row in rows] == ["true", "false"]
    assert [(row["system"], row["score"]) for row in rows] == [("", "2"), ("", "5")]
    assert {(row["right_min_score"], row["right_max_score"], row["gold_correct"]) for row in rows} == {
        ("1", "2", "true")
    }


def test_gold_csv_revised_at(with_gold):
    ann1 = with_gold.annotators[0]
    # ann1 last judged the attention check and picked the response, which was shown as A.
    changed = revise_judgment(
        last_judgment(with_gold.study, ann1), {"overall": "A"}, now=datetime(2026, 4, 2, 9, 30, tzinfo=UTC)
    )

    rows = _csv_rows(stream_gold_judgments_csv(with_gold.study))

    assert list(rows[0])[-2:] == ["created_at", "revised_at"]
    revised = [row for row in rows if row["revised_at"]]
    assert [(row["item_uuid"], row["annotator"]) for row in revised] == [(str(changed.item.uuid), pseudonym(ann1.pk))]
    assert revised[0]["revised_at"] == "2026-04-02T09:30:00+00:00"
    assert revised[0]["gold_correct"] == "true"
    assert [row["revised_at"] for row in rows if row is not revised[0]] == [""] * 4


def test_gold_csv_query_count(with_gold, django_assert_num_queries):
    # System names, the scored criterion, the rows.
    with django_assert_num_queries(3):
        list(stream_gold_judgments_csv(with_gold.study))


def test_gold_csv_metadata(client, staff, with_gold):
    client.force_login(staff)

    response = client.get(reverse("reports:gold_judgments_csv_metadata", args=[with_gold.study.uuid]))

    described = json.loads(response.content)
    assert described["counts"] == {
        "rows": 5,
        "judgments": 5,
        "correct": 4,
        "wrong": 1,
        "annotators": 3,
        "gold_items": 2,
        "attention_checks": 1,
    }
    assert described["scoring"]["criterion"] == "overall"
    assert [column["name"] for column in described["columns"]] == [column.name for column in gold_columns("pairwise")]
    main = client.get(reverse("reports:judgments_csv_metadata", args=[with_gold.study.uuid]))
    assert json.loads(main.content)["gold_judgments_file"] == described["file"]


@pytest.mark.parametrize("name", ["reports:gold_judgments_csv", "reports:gold_judgments_csv_metadata"])
def test_gold_downloads_staff_only(client, staff, with_gold, name):
    url = reverse(name, args=[with_gold.study.uuid])
    anonymous = client.get(url)
    client.force_login(with_gold.annotators[0])
    annotator = client.get(url)
    client.force_login(staff)
    posted = client.post(url)
    unknown = client.get(reverse(name, args=[uuid.uuid4()]))

    assert anonymous.status_code == 302
    assert annotator.status_code == 404
    assert posted.status_code == 405
    assert unknown.status_code == 404


def test_gold_csv_without_bom(client, staff, with_gold):
    client.force_login(staff)
    address = reverse("reports:gold_judgments_csv", args=[with_gold.study.uuid])

    default = b"".join(client.get(address).streaming_content)
    without = b"".join(client.get(address, {"bom": "no"}).streaming_content)

    assert default.startswith(b"\xef\xbb\xbfstudy,")
    assert without.startswith(b"study,item_uuid,")
    assert default == b"\xef\xbb\xbf" + without


def test_gold_metadata_encoding_follows_bom(client, staff, with_gold):
    client.force_login(staff)
    address = reverse("reports:gold_judgments_csv_metadata", args=[with_gold.study.uuid])

    default = json.loads(client.get(address).content)["format"]["encoding"]
    without = json.loads(client.get(address, {"bom": "no"}).content)["format"]["encoding"]

    assert default == "UTF-8 with byte order mark; pandas.read_csv(path, encoding='utf-8-sig')"
    assert without == "UTF-8 without byte order mark; pandas.read_csv(path)"
