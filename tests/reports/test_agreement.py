import math

import krippendorff
import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate.models import AnnotatorStatus, Judgment
from reports import agreement_statistics as statistics
from reports.agreement import (
    agreement_from_value_counts,
    annotator_figures,
    criterion_agreement,
    resolve_level,
    study_agreement,
    study_agreement_report,
)
from reports.agreement_statistics import percent_agreement_counts
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
    # Columns x and y. Item 1: 1 agreeing pair of 1; item 2: 1 of 3.
    units = np.array([[2, 0], [1, 2]])

    assert percent_agreement_counts(units) == (2, 4)


# Alpha from coincidence matrices against the package


def _random_value_counts(seed, units, values, max_per_cell):
    """Value counts with empty units, single judgments and unequal judgments per unit."""
    generator = np.random.default_rng(seed)
    counts = generator.integers(0, max_per_cell + 1, size=(units, values))
    counts[generator.random(units) < 0.15] = 0
    single = generator.random(units) < 0.15
    counts[single] = 0
    counts[single, generator.integers(0, values, size=int(single.sum()))] = 1
    return counts


# The package's own docstring example: three coders, 15 units, gaps.
DOCSTRING_RELIABILITY_DATA = [
    [NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
    [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
    [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4],
]
# Four coders on a 1 to 5 scale with gaps, so units have 1 to 4 values.
FOUR_CODERS = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


def _value_counts_from_reliability(data):
    data = np.asarray(data, dtype=float)
    values = np.unique(data[~np.isnan(data)])
    return (data.T[:, :, np.newaxis] == values).sum(axis=1), values


DATA_SETS = {
    "docstring": _value_counts_from_reliability(DOCSTRING_RELIABILITY_DATA),
    "four coders": _value_counts_from_reliability(FOUR_CODERS),
    "ratings fixture": _value_counts_from_reliability(RATING_SCORES),
    "random 3 values": (_random_value_counts(1, 60, 3, 3), np.array([1, 2, 3])),
    "random 5 values, uneven": (_random_value_counts(2, 200, 5, 4), np.array([1, 2, 3, 5, 7])),
    "random 7 values": (_random_value_counts(3, 500, 7, 2), np.arange(1, 8)),
}


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
@pytest.mark.parametrize("name", DATA_SETS)
def test_coincidence_alpha_equals_package(name, level):
    counts, values = DATA_SETS[name]

    expected = krippendorff.alpha(value_counts=counts, value_domain=values, level_of_measurement=level)
    summed = statistics.unit_coincidences(counts).sum(axis=0)
    computed = statistics.alpha_from_coincidences(summed, values, level)

    assert abs(float(computed) - expected) < 1e-9


def test_coincidence_alpha_equals_package_on_reliability_data():
    expected = krippendorff.alpha(reliability_data=DOCSTRING_RELIABILITY_DATA, level_of_measurement="interval")
    counts, values = DATA_SETS["docstring"]

    computed = statistics.alpha_from_coincidences(statistics.unit_coincidences(counts).sum(axis=0), values, "interval")

    # The package documents 0.810845 for this data at the interval level.
    assert round(expected, 6) == 0.810845
    assert abs(float(computed) - expected) < 1e-9


def test_coincidence_alpha_undefined_for_one_value():
    counts = np.array([[2, 0], [3, 0], [1, 0]])

    computed = statistics.alpha_from_coincidences(statistics.unit_coincidences(counts).sum(axis=0), [1, 2], "nominal")

    assert np.isnan(computed)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_bootstrap_rounds_equal_package_on_drawn_items(level):
    counts, values = DATA_SETS["random 5 values, uneven"]
    pairable = counts[counts.sum(axis=1) >= 2]
    patterns = statistics.group_patterns(pairable[:, np.newaxis, :])
    draws = statistics.draw_pattern_counts(patterns, rounds=5, seed=11)

    alphas = statistics.bootstrap_alpha(patterns, values, level, draws)

    assert draws.sum(axis=1).tolist() == [pairable.shape[0]] * 5
    for draw, alpha in zip(draws, alphas, strict=True):
        # The items of a round: each pattern repeated as often as it was drawn.
        drawn_items = np.repeat(patterns.counts[:, 0, :], draw, axis=0)
        expected = krippendorff.alpha(value_counts=drawn_items, value_domain=values, level_of_measurement=level)
        assert abs(alpha - expected) < 1e-9


def test_patterns_group_identical_items():
    items = np.array([[[2, 0]], [[1, 1]], [[2, 0]], [[2, 0]]])

    patterns = statistics.group_patterns(items)

    assert patterns.counts.tolist() == [[[1, 1]], [[2, 0]]]
    assert patterns.items.tolist() == [1, 3]
    assert patterns.item_total == 4


@pytest.mark.parametrize("largest", [3, 40, 2**40], ids=["small counts", "two digits", "keys overflow"])
def test_patterns_match_unique_rows(largest):
    # Rows as numbers in one base, or, when those would not fit in 64 bits, np.unique over rows itself.
    generator = np.random.default_rng(5)
    items = generator.integers(0, 4, size=(500, 2, 3))
    items[::7, 1, 2] = largest

    patterns = statistics.group_patterns(items)

    unique, counts = np.unique(items.reshape(500, -1), axis=0, return_counts=True)
    assert patterns.counts.tolist() == unique.reshape(-1, 2, 3).tolist()
    assert patterns.items.tolist() == counts.tolist()


# Bootstrap intervals


def test_interval_reproducible_with_seed(rating_agreement):
    criterion = rating_agreement.criteria.get()

    first = criterion_agreement(criterion, seed=7)
    again = criterion_agreement(criterion, seed=7)
    other = criterion_agreement(criterion, seed=8)

    assert first.alpha_interval == again.alpha_interval
    assert first.percent_agreement_interval == again.percent_agreement_interval
    assert other.alpha == first.alpha
    assert other.alpha_interval != first.alpha_interval
    assert (first.method.rounds, first.method.seed, first.method.confidence) == (1000, 7, 0.95)
    assert first.method.resampled_unit == "item"


def test_interval_covers_point(db):
    study, _ = _large_rating_study(items=40)
    result = criterion_agreement(study.criteria.get())

    assert result.alpha_interval.lower < result.alpha < result.alpha_interval.upper
    assert result.percent_agreement_interval.lower < result.percent_agreement < result.percent_agreement_interval.upper
    assert result.undefined_rounds == 0
    assert result.interval_reason == ""


def test_no_rounds_no_interval(rating_agreement):
    result = criterion_agreement(rating_agreement.criteria.get(), rounds=0)

    assert result.alpha is not None
    assert result.alpha_interval is None
    assert result.interval_reason == "No bootstrap rounds were run, so there are no intervals."


def test_undefined_rounds_withhold_interval(db):
    # One item disagrees and nine agree on "first": most drawn sets of
    # items hold "first" only, so alpha is undefined in most rounds.
    prompt_set = make_prompt_set(prompts=[f"Prompt {number}" for number in range(10)])
    prompts = list(prompt_set.prompts.order_by("position"))
    a, b = make_run(prompt_set), make_run(prompt_set)
    study = make_study(PAIRWISE, [a, b])
    first_annotator, second_annotator = make_user(), make_user()
    for number, prompt in enumerate(prompts):
        item = make_item(study, prompt, a, b)
        judge(item, first_annotator, {"overall": "first"})
        judge(item, second_annotator, {"overall": "second" if number == 0 else "first"})

    result = criterion_agreement(study.criteria.get(), rounds=200)

    assert result.alpha is not None
    assert result.alpha_interval is None
    assert result.undefined_rounds > 5
    assert result.interval_reason.startswith("No interval for alpha: in ")
    assert "of 200 bootstrap rounds" in result.interval_reason


def test_bad_bootstrap_options(rating_agreement):
    criterion = rating_agreement.criteria.get()

    with pytest.raises(ValueError, match="rounds"):
        criterion_agreement(criterion, rounds=-1)
    with pytest.raises(ValueError, match="seed"):
        criterion_agreement(criterion, seed=-3)
    with pytest.raises(ValueError, match="confidence"):
        criterion_agreement(criterion, confidence=1.5)


# Percent agreement without ties


def test_percent_agreement_without_ties(pairwise_agreement):
    result = criterion_agreement(pairwise_agreement.criteria.get())

    # Decisive judgments: i1 first, first, first (3 of 3 pairs agree);
    # i2 second, second (1 of 1); i3 has none; i4 has a single one.
    assert result.decisive_percent_agreement == pytest.approx(4 / 4)
    assert (result.decisive_items, result.decisive_judgments) == (2, 5)
    assert result.pairwise


def test_percent_agreement_without_ties_counts_disagreement(db):
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    a, b = make_run(prompt_set), make_run(prompt_set)
    study = make_study(PAIRWISE, [a, b])
    annotators = [make_user() for _ in range(4)]
    item = make_item(study, prompts[0], a, b)
    for annotator, value in zip(annotators, ["first", "second", "first", "tie"], strict=True):
        judge(item, annotator, {"overall": value})
    other = make_item(study, prompts[1], a, b)
    judge(other, annotators[0], {"overall": "both_bad"})
    judge(other, annotators[1], {"overall": "second"})

    result = criterion_agreement(study.criteria.get())

    # With ties: item 1 has 6 pairs, 1 agreeing; item 2 has 1 pair, none.
    assert result.percent_agreement == pytest.approx(1 / 7)
    # Without: item 1 keeps first, second, first: 3 pairs, 1 agreeing; item 2 has one judgment left.
    assert result.decisive_percent_agreement == pytest.approx(1 / 3)
    assert (result.decisive_items, result.decisive_judgments) == (1, 3)


def test_rating_has_no_figure_without_ties(rating_agreement):
    result = criterion_agreement(rating_agreement.criteria.get())

    assert not result.pairwise
    assert result.decisive_percent_agreement is None


# Fleiss' kappa

# The diagnoses table of Fleiss, J. L. (1971), "Measuring nominal scale
# agreement among many raters", Psychological Bulletin 76(5), 378-382: 30
# patients, each diagnosed by 6 psychiatrists into 5 categories
# (depression, personality disorder, schizophrenia, neurosis, other); a cell
# counts the psychiatrists. These counts were taken from R irr's
# `diagnoses` data as statsmodels' stats/tests/test_inter_rater.py carries
# it, where irr's kappam.fleiss gives 0.4302445.
FLEISS_1971_TABLE = [
    [0, 0, 0, 6, 0],
    [0, 3, 0, 0, 3],
    [0, 1, 4, 0, 1],
    [0, 0, 0, 0, 6],
    [0, 3, 0, 3, 0],
    [2, 0, 4, 0, 0],
    [0, 0, 4, 0, 2],
    [2, 0, 3, 1, 0],
    [2, 0, 0, 4, 0],
    [0, 0, 0, 0, 6],
    [1, 0, 0, 5, 0],
    [1, 1, 0, 4, 0],
    [0, 3, 3, 0, 0],
    [1, 0, 0, 5, 0],
    [0, 2, 0, 3, 1],
    [0, 0, 5, 0, 1],
    [3, 0, 0, 1, 2],
    [5, 1, 0, 0, 0],
    [0, 2, 0, 4, 0],
    [1, 0, 2, 0, 3],
    [0, 0, 0, 0, 6],
    [0, 1, 0, 5, 0],
    [0, 2, 0, 1, 3],
    [2, 0, 0, 4, 0],
    [1, 0, 0, 4, 1],
    [0, 5, 0, 1, 0],
    [4, 0, 0, 0, 2],
    [0, 2, 0, 4, 0],
    [1, 0, 5, 0, 0],
    [0, 0, 0, 0, 6],
]


def test_fleiss_kappa_on_fleiss_1971_table():
    table = np.array(FLEISS_1971_TABLE)

    figures = statistics.fleiss_kappa(table)

    assert table.sum(axis=0).tolist() == [26, 26, 30, 55, 43]
    assert round(figures.kappa, 3) == 0.430
    assert figures.kappa == pytest.approx(0.4302445, abs=5e-8)
    assert (figures.units, figures.judgments_per_unit, figures.units_left_out) == (30, 6, 0)


def test_fleiss_kappa_uses_modal_count():
    # Two units with 3 judgments, one with 2 and one with 1: the 3s are kept.
    table = np.array([[3, 0], [1, 2], [1, 1], [1, 0]])

    figures = statistics.fleiss_kappa(table)

    # Kept: [3, 0] and [1, 2]. P = (9 + 5 - 6) / (6 * 2) = 2/3; p = (4/6, 2/6), P_e = 5/9.
    assert figures.kappa == pytest.approx((2 / 3 - 5 / 9) / (1 - 5 / 9))
    assert (figures.units, figures.judgments_per_unit, figures.units_left_out) == (2, 3, 1)


def test_fleiss_kappa_tie_takes_larger_count():
    table = np.array([[2, 0], [0, 2], [2, 1], [1, 2]])

    assert statistics.fleiss_kappa(table).judgments_per_unit == 3


def test_fleiss_kappa_in_report(pairwise_agreement):
    result = criterion_agreement(pairwise_agreement.criteria.get())

    # Items with 3 judgments: i1 (first x3) and i2 (second, tie, second); i3 has 2.
    # P = ((9 - 3) + (4 + 1 - 3)) / (6 * 2) = 8/12; p = (3/6, 2/6, 1/6, 0), P_e = 14/36.
    expected = (8 / 12 - 14 / 36) / (1 - 14 / 36)
    assert result.fleiss.value == pytest.approx(expected)
    assert (result.fleiss.items, result.fleiss.judgments_per_item, result.fleiss.items_left_out) == (2, 3, 1)


def test_fleiss_kappa_undefined_gives_reason():
    figures = statistics.fleiss_kappa(np.array([[2, 0], [2, 0]]))

    assert figures.kappa is None


# Cohen's kappa


def test_cohen_kappa_reference_values():
    # SAS output quoted in statsmodels' stats/tests/test_inter_rater.py.
    table = np.array([[0, 4, 1], [0, 8, 0], [0, 1, 5]])
    assert round(statistics.cohen_kappa(table, [0, 1, 2], "unweighted"), 4) == 0.4842
    assert round(statistics.cohen_kappa(table, [0, 1, 2], "linear"), 4) == 0.4701

    # R irr's kappa2 on the `anxiety` data, raters 2 and 3, quoted there too.
    # irr drops the unused score 5 and weights by category position.
    second = [3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4]
    third = [2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2]
    categories = [1, 2, 3, 4, 6]
    confusion = np.zeros((5, 5), dtype=int)
    for first_score, second_score in zip(second, third, strict=True):
        confusion[categories.index(first_score), categories.index(second_score)] += 1
    positions = list(range(5))
    assert statistics.cohen_kappa(confusion, positions, "unweighted") == pytest.approx(-0.006289308, abs=1e-9)
    assert statistics.cohen_kappa(confusion, positions, "linear") == pytest.approx(0.1459075, abs=1e-7)
    assert statistics.cohen_kappa(confusion, positions, "quadratic") == pytest.approx(0.2520325, abs=1e-7)


def test_cohen_kappa_quadratic_by_hand():
    # Scores 1, 2, 4. First annotator rows, second columns.
    confusion = np.array([[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    # Weights (a - b)^2: [[0, 1, 9], [1, 0, 4], [9, 4, 0]].
    # Observed: 1*1 + 1*4 = 5. Rows (3, 2, 1), columns (2, 2, 2), n = 6.
    # Expected: sum(w * r * c) / 6 = (3*2*(1+9) + 2*2*(1+4) + 1*2*(9+4)) / 6 = 106 / 6.
    assert statistics.cohen_kappa(confusion, [1, 2, 4], "quadratic") == pytest.approx(1 - 5 / (106 / 6))
    # Unweighted: p_o = 4/6, p_e = (3*2 + 2*2 + 1*2) / 36 = 12/36.
    assert statistics.cohen_kappa(confusion, [1, 2, 4], "unweighted") == pytest.approx((4 / 6 - 1 / 3) / (1 - 1 / 3))


def test_cohen_kappa_matches_sklearn_when_installed():
    metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is not installed; hand values are checked")
    first = [1, 1, 2, 2, 3, 4, 4, 5]
    second = [1, 2, 2, 3, 3, 4, 5, 5]
    values = [1, 2, 3, 4, 5]
    confusion = np.zeros((5, 5), dtype=int)
    for a, b in zip(first, second, strict=True):
        confusion[values.index(a), values.index(b)] += 1

    expected = metrics.cohen_kappa_score(first, second, weights="quadratic", labels=values)

    assert statistics.cohen_kappa(confusion, values, "quadratic") == pytest.approx(expected)


def test_cohen_kappa_undefined_for_one_value():
    assert statistics.cohen_kappa(np.array([[3]]), [2], "quadratic") is None
    assert statistics.cohen_kappa(np.zeros((2, 2)), [1, 2], "unweighted") is None


def _two_annotator_rating_study():
    """Five items scored by two annotators: (1, 1), (2, 3), (3, 3), (4, 5), (5, 5); a sixth by one only."""
    prompt_set = make_prompt_set(prompts=[f"Prompt {number}" for number in range(6)])
    prompts = list(prompt_set.prompts.order_by("position"))
    run = make_run(prompt_set)
    study = make_study(RATING, [run])
    ann_a, ann_b = make_user("cohen-a"), make_user("cohen-b")
    for prompt, (first, second) in zip(prompts, [(1, 1), (2, 3), (3, 3), (4, 5), (5, 5)], strict=False):
        item = make_item(study, prompt, run)
        judge(item, ann_a, {"overall": first})
        judge(item, ann_b, {"overall": second})
    judge(make_item(study, prompts[5], run), ann_b, {"overall": 2})
    return study


def test_cohen_kappa_weighted_in_report(db):
    study = _two_annotator_rating_study()

    result = criterion_agreement(study.criteria.get())

    values = [1, 2, 3, 4, 5]
    confusion = np.zeros((5, 5), dtype=int)
    for first, second in [(1, 1), (2, 3), (3, 3), (4, 5), (5, 5)]:
        confusion[first - 1, second - 1] += 1
    assert result.cohen.value == pytest.approx(statistics.cohen_kappa(confusion, values, "quadratic"))
    assert result.cohen.weighting == "quadratic"
    assert result.cohen.items == 5
    assert tuple(annotator.username for annotator in result.cohen.annotators) == ("cohen-a", "cohen-b")
    assert result.cohen.reason == ""
    # By hand: observed (2 - 3)^2 + (4 - 5)^2 = 2; rows all 1, columns (1, 0, 2, 0, 2), n = 5.
    # For column j, sum over i of (i - j)^2 is 30 (j = 1), 10 (j = 3), 30 (j = 5),
    # so expected = (1 * 30 + 2 * 10 + 2 * 30) / 5 = 22.
    assert result.cohen.value == pytest.approx(1 - 2 / 22)


def test_cohen_kappa_unweighted_for_pairwise(db):
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    a, b = make_run(prompt_set), make_run(prompt_set)
    study = make_study(PAIRWISE, [a, b])
    first_annotator, second_annotator = make_user("pair-a"), make_user("pair-b")
    for prompt, (first, second) in zip(prompts, [("first", "first"), ("second", "tie"), ("tie", "tie")], strict=True):
        item = make_item(study, prompt, a, b)
        judge(item, first_annotator, {"overall": first}, first_on_left=False)
        judge(item, second_annotator, {"overall": second})

    result = criterion_agreement(study.criteria.get())

    # p_o = 2/3; first annotator (first, second, tie), second (first, tie, tie):
    # p_e = (1*1 + 1*0 + 1*2) / 9 = 3/9.
    assert result.cohen.weighting == "unweighted"
    assert result.cohen.value == pytest.approx((2 / 3 - 1 / 3) / (1 - 1 / 3))


def test_no_cohen_kappa_with_three_annotators(pairwise_agreement):
    assert criterion_agreement(pairwise_agreement.criteria.get()).cohen is None


def test_cohen_kappa_without_shared_items_gives_reason(db):
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    run = make_run(prompt_set)
    study = make_study(RATING, [run])
    first_annotator, second_annotator = make_user("solo-a"), make_user("solo-b")
    judge(make_item(study, prompts[0], run), first_annotator, {"overall": 2})
    judge(make_item(study, prompts[1], run), second_annotator, {"overall": 3})

    result = criterion_agreement(study.criteria.get())

    assert result.cohen.value is None
    assert result.cohen.reason == "Cohen’s kappa is undefined: the two annotators judged no item in common."


# Over all criteria


def test_overall_alpha_pools_criteria(db):
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    a, b = make_run(prompt_set), make_run(prompt_set)
    study = make_study(PAIRWISE, [a, b], criteria=("helpful", "safe"))
    annotators = [make_user() for _ in range(3)]
    answers = [
        [("first", "tie"), ("first", "tie"), ("second", "both_bad")],
        [("second", "first"), ("second", "first"), ("second", "first")],
        [("tie", "tie"), ("first", "second"), None],
    ]
    for prompt, row in zip(prompts, answers, strict=True):
        item = make_item(study, prompt, a, b)
        for annotator, pair in zip(annotators, row, strict=True):
            if pair:
                judge(item, annotator, {"helpful": pair[0], "safe": pair[1]})

    report = study_agreement_report(study)

    # One unit per item and criterion; codes 0 first, 1 second, 2 tie, 3 both bad.
    units = [
        [2, 1, 0, 0],  # item 1, helpful
        [0, 0, 2, 1],  # item 1, safe
        [0, 3, 0, 0],  # item 2, helpful
        [3, 0, 0, 0],  # item 2, safe
        [1, 0, 1, 0],  # item 3, helpful
        [0, 1, 1, 0],  # item 3, safe
    ]
    expected = krippendorff.alpha(value_counts=units, level_of_measurement="nominal")
    assert report.overall.criterion is None
    assert report.overall.alpha == pytest.approx(expected, abs=1e-12)
    assert (report.overall.items, report.overall.units, report.overall.judgments) == (3, 6, 16)
    assert report.overall.percent_agreement == pytest.approx((1 + 1 + 3 + 3 + 0 + 0) / (3 + 3 + 3 + 3 + 1 + 1))
    assert [result.criterion.name for result in report.criteria] == ["helpful", "safe"]
    assert report.overall.alpha_interval is not None


def test_overall_refuses_mixed_scales(db):
    prompt_set = make_prompt_set()
    run = make_run(prompt_set)
    study = make_study(RATING, [run], criteria=("fluency", "accuracy"))
    study.criteria.filter(name="accuracy").update(scale_min=0, scale_max=10)

    report = study_agreement_report(study)

    assert report.overall.alpha is None
    assert report.overall.reason.startswith("No figure over all criteria: their rating scales differ")


# Per annotator


def test_annotator_agreement_with_others(pairwise_agreement):
    report = study_agreement_report(pairwise_agreement)
    by_name = {get_user_model().objects.get(pk=user_id).username: row for user_id, row in report.annotators.items()}

    # a: i1 agrees with 2 of 2, i2 with 1 of 2, i3 with 1 of 1, i4 has no other judgment.
    assert (by_name["ann-a"].agreeing_pairs, by_name["ann-a"].pairs) == (4, 5)
    assert by_name["ann-a"].compared_judgments == 3
    # b: i1 2 of 2, i2 (tie) 0 of 2, i3 1 of 1.
    assert (by_name["ann-b"].agreeing_pairs, by_name["ann-b"].pairs) == (3, 5)
    # c: i1 2 of 2, i2 1 of 2.
    assert (by_name["ann-c"].agreeing_pairs, by_name["ann-c"].pairs) == (3, 4)
    assert by_name["ann-c"].share == pytest.approx(3 / 4)


def test_annotator_figures_rows(pairwise_agreement):
    ann_a = get_user_model().objects.get(username="ann-a")
    Judgment.objects.filter(annotator=ann_a).update(time_on_task_seconds=None)
    times = iter([4.0, 30.0, 6.0, 10.0])
    for judgment in Judgment.objects.filter(annotator=ann_a).order_by("pk"):
        judgment.time_on_task_seconds = next(times)
        judgment.save()
    report = study_agreement_report(pairwise_agreement)

    rows = {row.username: row for row in annotator_figures(pairwise_agreement, report)}

    assert rows["ann-a"].judgments == 4
    assert rows["ann-a"].agreement == pytest.approx(4 / 5)
    assert rows["ann-a"].median_seconds == pytest.approx(8.0)
    assert rows["ann-b"].median_seconds == pytest.approx(12.5)
    assert rows["ann-a"].gold_accuracy is None


def test_excluded_annotator_left_out_of_agreement(pairwise_agreement):
    ann_c = get_user_model().objects.get(username="ann-c")
    AnnotatorStatus.objects.create(study=pairwise_agreement, annotator=ann_c, is_excluded=True)

    report = study_agreement_report(pairwise_agreement)
    included = study_agreement_report(pairwise_agreement, include_excluded=True)

    assert ann_c.pk not in report.annotators
    assert included.annotators[ann_c.pk].pairs == 4
    a_id = get_user_model().objects.get(username="ann-a").pk
    # Without c, a's pairs: i1 1 of 1, i2 0 of 1, i3 1 of 1.
    assert (report.annotators[a_id].agreeing_pairs, report.annotators[a_id].pairs) == (2, 3)


# Levels on the page


def test_resolve_level(db):
    prompt_set = make_prompt_set()
    rating = make_study(RATING, [make_run(prompt_set)])
    pairwise = make_study(PAIRWISE, [make_run(prompt_set), make_run(prompt_set)])

    assert resolve_level(rating, "") == (None, "")
    assert resolve_level(rating, "interval") == ("interval", "")
    level, error = resolve_level(rating, "cardinal")
    assert level is None
    assert error == "Unknown level of measurement “cardinal”: use one of ordinal, interval. The default level is shown."
    assert resolve_level(pairwise, "nominal") == ("nominal", "")
    assert resolve_level(pairwise, "interval")[0] is None


# Queries


def _large_rating_study(items, annotators=3):
    """A rating study with `items` items scored 1 to 5 by `annotators` annotators, mostly in agreement."""
    generator = np.random.default_rng(items)
    prompt_set = make_prompt_set(prompts=[f"Prompt {number}" for number in range(items)])
    run = make_run(prompt_set)
    study = make_study(RATING, [run])
    people = [make_user() for _ in range(annotators)]
    for prompt in prompt_set.prompts.order_by("position"):
        item = make_item(study, prompt, run)
        truth = int(generator.integers(1, 6))
        for person in people:
            score = truth if generator.random() < 0.7 else int(generator.integers(1, 6))
            judge(item, person, {"overall": score})
    return study, people


def _queries_of(function):
    with CaptureQueriesContext(connection) as context:
        function()
    return len(context.captured_queries)


def test_query_count_does_not_grow_with_judgments(db):
    small, _ = _large_rating_study(items=4)
    large, _ = _large_rating_study(items=30, annotators=4)

    def report_of(study):
        return lambda: annotator_figures(study, study_agreement_report(study))

    assert _queries_of(report_of(small)) == _queries_of(report_of(large))


def test_query_count_with_cohen_does_not_grow(db):
    small, _ = _large_rating_study(items=4, annotators=2)
    large, _ = _large_rating_study(items=30, annotators=2)

    small_queries = _queries_of(lambda: study_agreement_report(small))
    large_queries = _queries_of(lambda: study_agreement_report(large))

    assert criterion_agreement(large.criteria.get()).cohen is not None
    assert small_queries == large_queries


def test_agreement_from_value_counts_matches_package():
    counts, values = DATA_SETS["random 5 values, uneven"]

    result = agreement_from_value_counts(counts, values, level="ordinal", rounds=100, seed=1)

    pairable = counts[counts.sum(axis=1) >= 2]
    expected = krippendorff.alpha(value_counts=pairable, value_domain=values, level_of_measurement="ordinal")
    assert result.alpha == pytest.approx(expected, abs=1e-12)
    assert result.items == pairable.shape[0]
    assert result.judgments == int(pairable.sum())
    assert result.alpha_interval.lower < result.alpha < result.alpha_interval.upper
    assert result.cohen is None


def test_single_criterion_overall_is_its_own(rating_agreement):
    report = study_agreement_report(rating_agreement)

    (only,) = report.criteria
    assert report.overall.criterion is None
    assert report.overall.alpha == only.alpha
    assert report.overall.alpha_interval == only.alpha_interval


# FOUR_CODERS is Krippendorff's own worked example with missing values (4
# observers by 12 units); these are the values he publishes for it, to 3 places.
PUBLISHED_FOUR_CODERS_ALPHA = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849}


@pytest.mark.parametrize("level", sorted(PUBLISHED_FOUR_CODERS_ALPHA))
def test_four_coders_example_through_database(db, level):
    prompt_set = make_prompt_set(prompts=[f"Unit {number}" for number in range(1, 13)])
    run = make_run(prompt_set, model_name="Xenoqua")
    study = make_study(RATING, [run])
    items = [make_item(study, prompt, run) for prompt in prompt_set.prompts.order_by("position")]
    for coder, scores in enumerate(FOUR_CODERS):
        annotator = make_user(f"coder-{coder}")
        for item, score in zip(items, scores, strict=True):
            if not math.isnan(score):
                judge(item, annotator, {"overall": int(score)})

    report = study_agreement_report(study, level=level, rounds=0)

    assert round(report.overall.alpha, 3) == PUBLISHED_FOUR_CODERS_ALPHA[level]
    assert report.overall.items == 11
    assert report.overall.judgments == 40
