import math
from collections import Counter

import krippendorff
import numpy as np
import pytest

from reports.agreement import criterion_agreement, percent_agreement, study_agreement
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import PAIRWISE, RATING, judge, make_item, make_study

NAN = np.nan


@pytest.fixture
def pairwise_agreement(db):
    """Four items judged by annotators a, b and c, some of them missing.

    Canonical values per item (a, b, c): i1 first, first, first; i2 second,
    tie, second; i3 both_bad, both_bad, -; i4 first, -, -. On i2 a and c
    saw different screen orders, so a screen-position value would split them.
    """
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    x = make_run(prompt_set, model_name="Xenoqua")
    y = make_run(prompt_set, model_name="Yarrowin")
    z = make_run(prompt_set, model_name="Zephyral")
    study = make_study(PAIRWISE, [x, y, z])
    a, b, c = make_user("ann-a"), make_user("ann-b"), make_user("ann-c")
    i1 = make_item(study, prompts[0], x, y)
    i2 = make_item(study, prompts[1], x, y)
    i3 = make_item(study, prompts[2], y, z)
    i4 = make_item(study, prompts[0], x, z)

    judge(i1, a, {"overall": "first"}, first_on_left=True)
    judge(i1, b, {"overall": "first"}, first_on_left=False)
    judge(i1, c, {"overall": "first"}, first_on_left=True)
    judge(i2, a, {"overall": "second"}, first_on_left=False)
    judge(i2, b, {"overall": "tie"})
    judge(i2, c, {"overall": "second"}, first_on_left=True)
    judge(i3, a, {"overall": "both_bad"})
    judge(i3, b, {"overall": "both_bad"}, first_on_left=False)
    judge(i4, a, {"overall": "first"})
    return study


def test_pairwise_alpha_matches_direct_call(pairwise_agreement):
    result = criterion_agreement(pairwise_agreement.criteria.get())

    # Codes: 1 first wins, 2 second wins, 3 tie, 4 both bad; one row per annotator.
    reliability_data = [
        [1, 2, 4, 1],
        [1, 3, 4, NAN],
        [1, 2, NAN, NAN],
    ]
    expected = krippendorff.alpha(reliability_data=reliability_data, level_of_measurement="nominal")
    assert result.alpha == pytest.approx(expected, abs=1e-9)
    assert result.level == "nominal"
    assert result.reason == ""


def test_pairwise_percent_agreement_and_support(pairwise_agreement):
    result = criterion_agreement(pairwise_agreement.criteria.get())

    # Agreeing pairs: i1 3 of 3, i2 1 of 3, i3 1 of 1; i4 has no pair.
    assert result.percent_agreement == pytest.approx(5 / 7)
    assert result.items == 3
    assert result.judgments == 8


def test_surplus_left_out_unless_asked(pairwise_agreement):
    item = pairwise_agreement.items.get(
        first_response__prompt__position=0, second_response__run__model__name="Zephyral"
    )
    judge(item, make_user(), {"overall": "second"}, surplus=True)
    criterion = pairwise_agreement.criteria.get()

    assert criterion_agreement(criterion).items == 3
    with_surplus = criterion_agreement(criterion, include_surplus=True)
    assert with_surplus.items == 4
    assert with_surplus.judgments == 10
    assert with_surplus.percent_agreement == pytest.approx(5 / 8)


@pytest.fixture
def rating_agreement(db):
    """Six rating items scored 1 to 5 by annotators a, b and c, with gaps."""
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    runs = [make_run(prompt_set, model_name="Pellamy"), make_run(prompt_set, model_name="Quorrin")]
    study = make_study(RATING, runs)
    items = [make_item(study, prompt, run) for run in runs for prompt in prompts]
    annotators = [make_user("ann-a"), make_user("ann-b"), make_user("ann-c")]
    for annotator, scores in zip(annotators, RATING_SCORES, strict=True):
        for item, score in zip(items, scores, strict=True):
            if not math.isnan(score):
                judge(item, annotator, {"overall": int(score)})
    return study


# No annotator gives a 4, so interval distances are only right when the
# scores themselves, not their column numbers, reach the package.
RATING_SCORES = [
    [1, 2, 3, 3, 5, NAN],
    [1, 3, 3, 5, 5, 2],
    [NAN, 2, 5, 3, 5, 2],
]


def test_rating_alpha_ordinal_matches_direct_call(rating_agreement):
    result = criterion_agreement(rating_agreement.criteria.get())

    expected = krippendorff.alpha(reliability_data=RATING_SCORES, level_of_measurement="ordinal")
    assert result.level == "ordinal"
    assert result.alpha == pytest.approx(expected, abs=1e-9)
    # The level must reach the package: nominal gives another figure on this data.
    nominal = krippendorff.alpha(reliability_data=RATING_SCORES, level_of_measurement="nominal")
    assert abs(result.alpha - nominal) > 1e-3


def test_rating_alpha_interval_on_request(rating_agreement):
    result = criterion_agreement(rating_agreement.criteria.get(), level="interval")

    expected = krippendorff.alpha(reliability_data=RATING_SCORES, level_of_measurement="interval")
    assert result.level == "interval"
    assert result.alpha == pytest.approx(expected, abs=1e-9)


def test_rating_percent_agreement(rating_agreement):
    result = criterion_agreement(rating_agreement.criteria.get())

    # Agreeing pairs per item: 1 of 1, 1 of 3, 1 of 3, 1 of 3, 3 of 3, 1 of 1.
    assert result.percent_agreement == pytest.approx(8 / 14)
    assert result.items == 6
    assert result.judgments == 16


def test_no_judgments_gives_reason(db):
    prompt_set = make_prompt_set()
    study = make_study(PAIRWISE, [make_run(prompt_set), make_run(prompt_set)])

    result = criterion_agreement(study.criteria.get())

    assert result.alpha is None
    assert result.reason.startswith("Not enough data")
    assert result.percent_agreement is None
    assert (result.items, result.judgments) == (0, 0)


def test_single_annotator_gives_reason(db):
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    a, b = make_run(prompt_set), make_run(prompt_set)
    study = make_study(PAIRWISE, [a, b])
    annotator = make_user()
    judge(make_item(study, prompts[0], a, b), annotator, {"overall": "first"})
    judge(make_item(study, prompts[1], a, b), annotator, {"overall": "second"})

    result = criterion_agreement(study.criteria.get())

    assert result.alpha is None
    assert result.reason == "Not enough data: no item has judgments from two annotators yet."
    assert result.items == 0


def test_all_same_value_gives_reason(db):
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    a, b = make_run(prompt_set), make_run(prompt_set)
    study = make_study(PAIRWISE, [a, b])
    first_annotator, second_annotator = make_user(), make_user()
    for prompt in prompts[:2]:
        item = make_item(study, prompt, a, b)
        judge(item, first_annotator, {"overall": "first"}, first_on_left=True)
        judge(item, second_annotator, {"overall": "first"}, first_on_left=False)

    result = criterion_agreement(study.criteria.get())

    assert result.alpha is None
    assert result.reason.startswith("Not enough data")
    assert "same answer" in result.reason
    assert result.percent_agreement == pytest.approx(1.0)
    assert (result.items, result.judgments) == (2, 4)
    # The package itself raises on this data, which is why the report checks first.
    with pytest.raises(ValueError):
        krippendorff.alpha(reliability_data=[[1, 1], [1, 1]], level_of_measurement="nominal")


def test_rating_all_same_score_gives_reason(db):
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    run = make_run(prompt_set)
    study = make_study(RATING, [run])
    for prompt in prompts[:2]:
        item = make_item(study, prompt, run)
        judge(item, make_user(), {"overall": 3})
        judge(item, make_user(), {"overall": 3})

    result = criterion_agreement(study.criteria.get())

    assert result.alpha is None
    assert "same answer" in result.reason


def test_study_agreement_per_criterion(db):
    prompt_set = make_prompt_set()
    prompt = prompt_set.prompts.first()
    a, b = make_run(prompt_set), make_run(prompt_set)
    study = make_study(PAIRWISE, [a, b], criteria=("helpful", "safe"))
    item = make_item(study, prompt, a, b)
    judge(item, make_user(), {"helpful": "first", "safe": "tie"})
    judge(item, make_user(), {"helpful": "second", "safe": "tie"})

    helpful, safe = study_agreement(study)

    assert helpful.criterion.name == "helpful"
    assert helpful.percent_agreement == pytest.approx(0.0)
    assert safe.criterion.name == "safe"
    assert safe.percent_agreement == pytest.approx(1.0)
    assert safe.alpha is None


def test_level_checks(db):
    prompt_set = make_prompt_set()
    study = make_study(PAIRWISE, [make_run(prompt_set), make_run(prompt_set)])
    criterion = study.criteria.get()

    with pytest.raises(ValueError, match="no order"):
        criterion_agreement(criterion, level="ordinal")
    with pytest.raises(ValueError, match="Unknown level of measurement"):
        criterion_agreement(criterion, level="cardinal")


def test_percent_agreement_pools_pairs():
    units = [Counter({"x": 2}), Counter({"x": 1, "y": 2})]

    # Item 1: 1 agreeing pair of 1; item 2: 1 of 3.
    assert percent_agreement(units) == pytest.approx(2 / 4)
