"""Stored rating scores outside their criterion's scale: left out of every figure, counted, shown and exported raw.

The forms accept only scores on the scale, so these tests store the rest
the way code can: a criterion narrowed with `QuerySet.update` after its
judgments exist, and scores written with `QuerySet.update`.
"""

import itertools
from dataclasses import replace
from types import SimpleNamespace

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotate.gold import set_excluded
from annotate.models import Criterion, CriterionAnswer
from reports import export_files
from reports.agreement import study_agreement_report
from reports.answer_table import NO_SCORE, load_study_answers
from reports.answers import Breakdown, limited_to
from reports.ratings import ratings_metadata, study_ratings
from reports.summary import build_study_report
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import RATING, judge, make_item, make_study

OPTIONS = [
    {"include_surplus": surplus, "include_excluded": excluded}
    for surplus, excluded in itertools.product([False, True], repeat=2)
]
OPTION_IDS = ["default", "excluded", "surplus", "surplus+excluded"]
ROUNDS = 200


@pytest.fixture
def narrowed(db):
    """Two systems rated on fluency and accuracy by two annotators, an excluded one and a surplus judgment.

    Fluency is narrowed from 1-5 to 1-4 after the judgments, which puts
    three scores of 5 outside it. The report counts rater-two's on
    Pellamy's first prompt by default, the excluded annotator's on the same
    item only with include_excluded, and the surplus judgment's on
    Quorrin's first prompt only with include_surplus. Two accuracy scores
    are then overwritten with 0 and 9, outside 1-5: rater-two's on
    Quorrin's second prompt (category "knowledge") and rater-one's on
    Quorrin's third (category "writing").
    """
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    p, q = make_run(prompt_set, model_name="Pellamy"), make_run(prompt_set, model_name="Quorrin")
    study = make_study(RATING, [p, q], criteria=("fluency", "accuracy"))
    rater_one, rater_two, spammer, late = (make_user(name) for name in ("rater-one", "rater-two", "spammer", "late"))

    p0, p1 = make_item(study, prompts[0], p), make_item(study, prompts[1], p)
    q0, q1, q2 = (make_item(study, prompt, q) for prompt in prompts)
    judge(p0, rater_one, {"fluency": 4, "accuracy": 3})
    two_on_p0 = judge(p0, rater_two, {"fluency": 5, "accuracy": 4})
    spammer_on_p0 = judge(p0, spammer, {"fluency": 5, "accuracy": 2})
    judge(p1, rater_one, {"fluency": 3, "accuracy": 4})
    judge(p1, rater_two, {"fluency": 2, "accuracy": 5})
    judge(q0, rater_one, {"fluency": 2, "accuracy": 2})
    judge(q0, rater_two, {"fluency": 1, "accuracy": 3})
    late_on_q0 = judge(q0, late, {"fluency": 5, "accuracy": 3}, surplus=True)
    judge(q1, rater_one, {"fluency": 4, "accuracy": 1})
    two_on_q1 = judge(q1, rater_two, {"fluency": 3, "accuracy": 2})
    one_on_q2 = judge(q2, rater_one, {"fluency": 1, "accuracy": 5})
    judge(q2, rater_two, {"fluency": 2, "accuracy": 5})
    set_excluded(study, spammer.pk, True)

    Criterion.objects.filter(study=study, name="fluency").update(scale_max=4)
    answers = CriterionAnswer.objects.filter(criterion__study=study)
    answers.filter(judgment=two_on_q1, criterion__name="accuracy").update(score=0)
    answers.filter(judgment=one_on_q2, criterion__name="accuracy").update(score=9)
    outside = {
        "fluency": [answers.get(judgment=two_on_p0, criterion__name="fluency").pk],
        "fluency_excluded": [answers.get(judgment=spammer_on_p0, criterion__name="fluency").pk],
        "fluency_surplus": [answers.get(judgment=late_on_q0, criterion__name="fluency").pk],
        "accuracy": [
            answers.get(judgment=judgment, criterion__name="accuracy").pk for judgment in (two_on_q1, one_on_q2)
        ],
    }
    return SimpleNamespace(study=study, raters=(rater_one, rater_two), outside=outside)


def _all_outside(narrowed):
    return [pk for pks in narrowed.outside.values() for pk in pks]


def _figures(study, options):
    ratings = study_ratings(study, **options, rounds=ROUNDS, seed=3)
    agreement = study_agreement_report(study, **options, rounds=ROUNDS, seed=3)
    return ratings, agreement


# The answer table


def test_table_marks_scores_outside_scale(narrowed):
    table = load_study_answers(narrowed.study)

    answers = table.answers
    criterion_ids = [criterion.pk for criterion in table.criteria]
    marked = {
        (int(table.judgments.ids[judgment]), criterion_ids[position])
        for judgment, position in zip(
            answers.judgment[answers.out_of_scale].tolist(),
            answers.criterion[answers.out_of_scale].tolist(),
            strict=True,
        )
    }
    expected = set(
        CriterionAnswer.objects.filter(pk__in=_all_outside(narrowed)).values_list("judgment_id", "criterion_id")
    )
    assert marked == expected
    assert (answers.score[answers.out_of_scale] == NO_SCORE).all()
    assert (answers.score[~answers.out_of_scale] != NO_SCORE).all()
    assert set(answers.score[~answers.out_of_scale].tolist()) == {1, 2, 3, 4, 5}


# Figures


@pytest.mark.parametrize("options", OPTIONS, ids=OPTION_IDS)
def test_figures_equal_those_without_outside_scores(narrowed, options):
    ratings, agreement = _figures(narrowed.study, options)
    CriterionAnswer.objects.filter(pk__in=_all_outside(narrowed)).delete()

    expected_ratings, expected_agreement = _figures(narrowed.study, options)

    for summary, expected in zip(ratings, expected_ratings, strict=True):
        assert summary.scores == list(summary.criterion.scale)
        assert replace(summary, out_of_scale_scores=0) == expected
    assert agreement.criteria == expected_agreement.criteria
    assert agreement.overall == expected_agreement.overall
    assert agreement.annotators == expected_agreement.annotators


def test_figures_leave_out_fluency_five(narrowed):
    fluency, accuracy = study_ratings(narrowed.study, include_surplus=True, include_excluded=True)

    pellamy = next(rating for rating in fluency.systems if rating.system.name == "Pellamy")
    # Without the two scores of 5: 4, 3 and 2.
    assert (pellamy.count, pellamy.mean, pellamy.median) == (3, 3.0, 3.0)
    assert [cell.score for cell in pellamy.distribution] == [1, 2, 3, 4]
    quorrin = next(rating for rating in accuracy.systems if rating.system.name == "Quorrin")
    # Without 0 and 9: 2, 3, 3 (surplus), 1 and 5.
    assert quorrin.count == 5
    assert quorrin.mean == pytest.approx(14 / 5)


def test_report_totals_still_count_judgments(narrowed):
    report = build_study_report(narrowed.study, rounds=0)

    # Totals count judgments, whatever their scores: 12 stored, less one excluded and one surplus.
    assert report.totals.counted == 10


# Counts per criterion


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, (1, 2)),
        ({"include_excluded": True}, (2, 2)),
        ({"include_surplus": True}, (2, 2)),
        ({"include_surplus": True, "include_excluded": True}, (3, 2)),
    ],
    ids=OPTION_IDS,
)
def test_count_follows_options(narrowed, options, expected):
    fluency, accuracy = study_ratings(narrowed.study, **options, rounds=0)

    assert (fluency.out_of_scale_scores, accuracy.out_of_scale_scores) == expected


def test_count_follows_breakdown(narrowed):
    rater_two = narrowed.raters[1]
    counts = {}
    for name, breakdown in {
        "writing": Breakdown(category="writing"),
        "knowledge": Breakdown(category="knowledge"),
        "without rater-two": Breakdown(left_out_annotator_id=rater_two.pk),
    }.items():
        with limited_to(breakdown):
            fluency, accuracy = study_ratings(narrowed.study, rounds=0)
        counts[name] = (fluency.out_of_scale_scores, accuracy.out_of_scale_scores)

    assert counts["writing"] == (1, 1)
    assert counts["knowledge"] == (0, 1)
    assert counts["without rater-two"] == (0, 1)


def test_count_zero_on_scale(db):
    prompt_set = make_prompt_set()
    run = make_run(prompt_set)
    study = make_study(RATING, [run])
    judge(make_item(study, prompt_set.prompts.first(), run), make_user(), {"overall": 5})

    (overall,) = study_ratings(study, rounds=0)

    assert overall.out_of_scale_scores == 0
    assert overall.systems[0].count == 1


# Page, API and exports


def _page(client, staff, study, query=""):
    client.force_login(staff)
    response = client.get(reverse("reports:study", args=[study.uuid]) + query)
    assert response.status_code == 200
    return response.content.decode()


def test_page_states_count(client, staff, narrowed):
    page = _page(client, staff, narrowed.study)
    included = _page(client, staff, narrowed.study, "?excluded=include")

    assert page.count('class="out-of-scale"') == 2
    assert "1 stored score lies outside the scale from 1 to 4, so the figures leave it out." in page
    assert "2 stored scores lie outside the scale from 1 to 5, so the figures leave them out." in page
    assert "The judgment CSV file still contains them." in page
    assert "2 stored scores lie outside the scale from 1 to 4" in included


def test_page_silent_without_outside_scores(client, staff, narrowed):
    CriterionAnswer.objects.filter(pk__in=_all_outside(narrowed)).delete()

    page = _page(client, staff, narrowed.study)

    assert 'class="out-of-scale"' not in page
    assert "stored score" not in page


def test_api_report_has_count(staff, narrowed):
    client = APIClient()
    client.force_login(staff)
    url = f"/api/v1/reports/{narrowed.study.uuid}/"

    default = client.get(url).json()
    included = client.get(url, {"include_excluded": "true", "include_surplus": "true"}).json()

    assert [section["ratings"]["out_of_scale_scores"] for section in default["sections"]] == [1, 2]
    assert [section["ratings"]["out_of_scale_scores"] for section in included["sections"]] == [3, 2]


def test_models_export_metadata_has_count(narrowed):
    table = export_files.export_table(narrowed.study, "models")

    assert table.metadata["counts"]["fluency"]["out_of_scale_scores"] == 1
    assert table.metadata["counts"]["accuracy"]["out_of_scale_scores"] == 2
    assert table.metadata["counted"]["out_of_scale_scores"] is False


def test_ratings_metadata_has_count(narrowed):
    described = ratings_metadata(study_ratings(narrowed.study, rounds=0))

    assert [entry["out_of_scale_scores"] for entry in described["criteria"]] == [1, 2]
    assert [entry["scale_max"] for entry in described["criteria"]] == [4, 5]


def test_judgment_export_keeps_raw_scores(narrowed):
    table = export_files.export_table(narrowed.study, "judgments")
    rows = [dict(zip(table.header, row, strict=True)) for row in table.rows]

    scores = sorted(
        (row["criterion"], int(row["score"]))
        for row in rows
        if (row["criterion"] == "fluency" and int(row["score"]) == 5) or int(row["score"]) in (0, 9)
    )
    assert scores == [("accuracy", 0), ("accuracy", 9), ("fluency", 5), ("fluency", 5), ("fluency", 5)]
    described = table.metadata["figures"]["ratings"]["criteria"]
    assert [entry["out_of_scale_scores"] for entry in described] == [1, 2]
