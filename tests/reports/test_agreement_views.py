"""The report page and the export's meta.json show agreement and rating figures with their method."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation

from annotate.pseudonyms import pseudonym
from reports.agreement import criterion_agreement
from reports.export import judgments_metadata
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import PAIRWISE, RATING, judge, make_item, make_study


def _page(client, staff, study, query=""):
    client.force_login(staff)
    response = client.get(reverse("reports:study", args=[study.uuid]) + query)
    assert response.status_code == 200
    return response


@pytest.fixture
def rating_pair(db):
    """Two criteria on a 1 to 5 scale, six items, two annotators; fluency scores miss 4 so levels differ."""
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    runs = [make_run(prompt_set, model_name="Pellamy"), make_run(prompt_set, model_name="Quorrin")]
    study = make_study(RATING, runs, criteria=("fluency", "accuracy"))
    first, second = make_user("rater-one"), make_user("rater-two")
    fluency = [(1, 2), (3, 3), (5, 5), (2, 1), (5, 3), (3, 3)]
    items = [make_item(study, prompt, run) for run in runs for prompt in prompts]
    for item, (one, two) in zip(items, fluency, strict=True):
        judge(item, first, {"fluency": one, "accuracy": 2}, seconds=10.0)
        judge(item, second, {"fluency": two, "accuracy": 3 if one == two else 2}, seconds=20.0)
    return study


def test_rating_page_shows_figures(client, staff, rating_pair):
    page = _page(client, staff, rating_pair).content.decode()

    expected = criterion_agreement(rating_pair.criteria.get(name="fluency"))
    assert f"{expected.alpha:.3f}" in page
    assert f"{expected.alpha_interval.lower:.3f} – {expected.alpha_interval.upper:.3f}" in page
    assert "Krippendorff’s alpha, ordinal" in page
    assert "Cohen’s kappa, quadratic weights" in page
    assert "Fleiss’ kappa" in page
    assert "Agreement over all criteria" in page
    assert "Median score" in page
    assert "Scores given" in page
    assert "Intervals: percentile bootstrap over 1000 rounds with seed 0" in page
    assert "Median time per task" in page
    assert "15.0 s" not in page
    assert "10.0 s" in page
    assert "Treat scores as interval data" in page
    assert "Percent agreement without ties" not in page


def test_rating_page_interval_level(client, staff, rating_pair):
    response = _page(client, staff, rating_pair, "?level=interval")
    page = response.content.decode()

    expected = criterion_agreement(rating_pair.criteria.get(name="fluency"), level="interval")
    ordinal = criterion_agreement(rating_pair.criteria.get(name="fluency"))
    assert f"{expected.alpha:.3f}" != f"{ordinal.alpha:.3f}"
    assert f"{expected.alpha:.3f}" in page
    assert "Krippendorff’s alpha, interval" in page
    assert "Treat scores as ordinal (the default)" in page
    assert response.context["report"].agreement.overall.level == "interval"


def test_bad_level_shows_error(client, staff, rating_pair):
    page = _page(client, staff, rating_pair, "?level=cardinal").content.decode()

    assert "Unknown level of measurement “cardinal”: use one of ordinal, interval." in page
    assert "Krippendorff’s alpha, ordinal" in page


def test_pairwise_page_shows_ties_and_annotators(client, staff, tiny_pairwise):
    response = _page(client, staff, tiny_pairwise.study)
    page = response.content.decode()

    assert "Percent agreement without ties" in page
    assert "Without ties: judgments whose outcome is a tie or “both bad” are left out" in page
    assert "Agreement over all criteria" not in page
    assert "Agreement with the others" in page
    rows = {row.username: row for row in response.context["report"].annotators}
    first = tiny_pairwise.annotators[0].username
    # ann1's judgments: item_xy first (others: first, tie) 1 of 2; item_yx second (other: both_bad) 0 of 1.
    assert (rows[first].agreeing_pairs, rows[first].pairs) == (1, 3)
    assert "33.3% of 3 pairs" in page
    assert rows[first].median_seconds == 12.5


def test_metadata_holds_figures(client, staff, rating_pair):
    client.force_login(staff)
    response = client.get(reverse("reports:judgments_csv_metadata", args=[rating_pair.uuid]))
    described = json.loads(response.content)["figures"]

    agreement = described["agreement"]
    fluency = criterion_agreement(rating_pair.criteria.get(name="fluency"))
    assert agreement["method"]["rounds"] == 1000
    assert agreement["method"]["seed"] == 0
    assert agreement["method"]["resampled_unit"] == "item"
    assert agreement["criteria"][0]["criterion"] == "fluency"
    assert agreement["criteria"][0]["alpha"] == fluency.alpha
    assert agreement["criteria"][0]["alpha_interval"] == [fluency.alpha_interval.lower, fluency.alpha_interval.upper]
    assert agreement["criteria"][0]["items"] == 6
    assert agreement["criteria"][0]["cohen_kappa"]["weighting"] == "quadratic"
    assert agreement["over_all_criteria"]["units"] == 12
    raters = get_user_model().objects.filter(username__in=["rater-one", "rater-two"])
    assert {row["annotator"] for row in agreement["annotators"]} == {pseudonym(rater.pk) for rater in raters}
    assert described["ratings"]["criteria"][0]["systems"][0]["distribution"]
    assert described["ratings"]["method"]["resampled_unit"] == "prompt"


def test_metadata_reasons_stay_english(db):
    prompt_set = make_prompt_set()
    study = make_study(PAIRWISE, [make_run(prompt_set), make_run(prompt_set)])

    with translation.override("zh-hans"):
        described = judgments_metadata(study)

    reason = described["figures"]["agreement"]["criteria"][0]["reason"]
    assert reason == "Not enough data: there are no judgments yet."
    assert "ratings" not in described["figures"]
