"""The rankings on the study report page and their CSV and JSON downloads."""

import csv
import io
import json
import uuid

import pytest
from django.urls import reverse

from generation.models import GenerationRun
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import PAIRWISE, RATING, judge, make_item, make_study

EXPORT_NAMES = ["reports:rankings_csv", "reports:rankings_csv_metadata", "reports:rankings_json"]


@pytest.fixture
def rated_study(db):
    """Two systems with a finite rating gap: Xenoqua 4 wins, Yarrowin 2, one tie, over six prompts."""
    prompt_set = make_prompt_set(prompts=[f"Question {number}?" for number in range(6)])
    prompts = list(prompt_set.prompts.order_by("position"))
    x = make_run(prompt_set, model_name="Xenoqua")
    y = make_run(prompt_set, model_name="模型乙")
    study = make_study(PAIRWISE, [x, y])
    answers = ["first", "first", "second", "first", "tie", "second"]
    for prompt, answer in zip(prompts, answers, strict=True):
        judge(make_item(study, prompt, x, y), make_user(), {"overall": answer})
    judge(make_item(study, prompts[0], y, x), make_user(), {"overall": "second"})
    return study


def _get(client, staff, name, study, query=""):
    client.force_login(staff)
    return client.get(reverse(name, args=[study.uuid]) + query)


def test_report_shows_ratings_and_method(client, staff, rated_study):
    page = _get(client, staff, "reports:study", rated_study).content.decode()

    assert "Ratings and ranks" in page
    assert "Judgments counted: 7, on 6 different prompts." in page
    assert "percentile bootstrap over 1000 rounds with seed 0" in page
    assert "Predicted win probability" in page
    assert "Position bias" in page
    assert "模型乙" in page


def test_report_anchor_choice(client, staff, rated_study):
    run = GenerationRun.objects.get(model__name="模型乙")

    page = _get(client, staff, "reports:study", rated_study, f"?anchor={run.uuid}").content.decode()

    assert "模型乙 is rated 1000" in page
    assert f'<option value="{run.uuid}" selected>' in page


def test_report_unknown_anchor_explained(client, staff, rated_study):
    page = _get(client, staff, "reports:study", rated_study, "?anchor=nonsense").content.decode()

    assert "The anchor nonsense is not a system of this study" in page
    assert "1000 is the geometric mean strength of the rated systems." in page


def test_report_undefined_ratings_explained(client, staff, tiny_pairwise):
    page = _get(client, staff, "reports:study", tiny_pairwise.study).content.decode()

    assert "Zephyral won every comparison with the other systems" in page


def test_rankings_csv(client, staff, rated_study):
    response = _get(client, staff, "reports:rankings_csv", rated_study)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    assert [row["system"] for row in rows] == ["Xenoqua", "模型乙"]
    xenoqua = rows[0]
    assert (xenoqua["wins"], xenoqua["losses"], xenoqua["ties"], xenoqua["comparisons"]) == ("4", "2", "1", "7")
    assert float(xenoqua["rating"]) > 1000
    assert float(xenoqua["win_rate"]) == pytest.approx(4.5 / 7)


def test_rankings_csv_neutralises_formula_names(client, staff, db):
    prompt_set = make_prompt_set()
    x = make_run(prompt_set, model_name="=HYPERLINK(1)")
    y = make_run(prompt_set, model_name="Yarrowin")
    study = make_study(PAIRWISE, [x, y])
    judge(make_item(study, prompt_set.prompts.first(), x, y), make_user(), {"overall": "first"})

    text = _get(client, staff, "reports:rankings_csv", study).content.decode("utf-8")

    assert "'=HYPERLINK(1)" in text


def test_rankings_metadata_states_method_and_counts(client, staff, rated_study):
    response = _get(client, staff, "reports:rankings_csv_metadata", rated_study)

    data = json.loads(response.content)
    assert data["method"]["bootstrap_rounds"] == 1000
    assert data["method"]["seed"] == 0
    assert data["method"]["resampled_unit"] == "prompt"
    (criterion,) = data["criteria"]
    assert (criterion["judgments"], criterion["prompts"]) == (7, 6)
    assert [column["name"] for column in data["columns"]][:3] == ["criterion", "rank", "system"]


def test_rankings_json_has_pairs_and_matrix(client, staff, rated_study):
    run = GenerationRun.objects.get(model__name="Xenoqua")

    data = json.loads(_get(client, staff, "reports:rankings_json", rated_study, f"?anchor={run.uuid}").content)

    (criterion,) = data["criteria"]
    assert data["method"]["anchor"] == "Xenoqua"
    assert criterion["systems"][0]["rating"] == pytest.approx(1000)
    matrix = criterion["win_probability"]["matrix"]
    assert matrix[0][0] is None
    assert matrix[0][1] + matrix[1][0] == pytest.approx(1)
    pair = next(pair for pair in criterion["pairs"] if pair["system"] == "Xenoqua")
    assert (pair["wins"], pair["losses"], pair["ties"]) == (4, 2, 1)


def test_rankings_export_reasons_in_english(client, staff, tiny_pairwise):
    client.force_login(staff)

    response = client.get(
        reverse("reports:rankings_json", args=[tiny_pairwise.study.uuid]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )

    (criterion,) = json.loads(response.content)["criteria"]
    assert criterion["ratings_reason"].startswith("Ratings are undefined")


@pytest.mark.parametrize("name", EXPORT_NAMES)
def test_export_unknown_anchor_rejected(client, staff, rated_study, name):
    response = _get(client, staff, name, rated_study, "?anchor=nonsense")

    assert response.status_code == 400
    assert "not a system of this study" in response.content.decode()


@pytest.mark.parametrize("name", EXPORT_NAMES)
def test_export_annotator_not_found(client, rated_study, name):
    client.force_login(make_user())

    response = client.get(reverse(name, args=[rated_study.uuid]))

    assert response.status_code == 404


@pytest.mark.parametrize("name", EXPORT_NAMES)
def test_export_anonymous_redirected(client, rated_study, name):
    response = client.get(reverse(name, args=[rated_study.uuid]))

    assert response.status_code == 302


@pytest.mark.parametrize("name", EXPORT_NAMES)
def test_export_unknown_study_not_found(client, staff, db, name):
    client.force_login(staff)

    response = client.get(reverse(name, args=[uuid.uuid4()]))

    assert response.status_code == 404


@pytest.mark.parametrize("name", EXPORT_NAMES)
def test_export_rating_study_not_found(client, staff, db, name):
    prompt_set = make_prompt_set()
    study = make_study(RATING, [make_run(prompt_set)])

    response = _get(client, staff, name, study)

    assert response.status_code == 404


@pytest.mark.parametrize("name", EXPORT_NAMES)
def test_export_post_not_allowed(client, staff, rated_study, name):
    client.force_login(staff)

    response = client.post(reverse(name, args=[rated_study.uuid]))

    assert response.status_code == 405


def test_rankings_csv_without_bom(client, staff, rated_study):
    default = _get(client, staff, "reports:rankings_csv", rated_study).content

    without = _get(client, staff, "reports:rankings_csv", rated_study, "?bom=no").content

    assert default.startswith(b"\xef\xbb\xbfcriterion,")
    assert without.startswith(b"criterion,rank,system,")
    assert default == b"\xef\xbb\xbf" + without


def test_rankings_metadata_encoding_follows_bom(client, staff, rated_study):
    default = json.loads(_get(client, staff, "reports:rankings_csv_metadata", rated_study).content)

    without = json.loads(_get(client, staff, "reports:rankings_csv_metadata", rated_study, "?bom=no").content)

    assert default["format"]["encoding"] == "UTF-8 with byte order mark; pandas.read_csv(path, encoding='utf-8-sig')"
    assert without["format"]["encoding"] == "UTF-8 without byte order mark; pandas.read_csv(path)"


def test_report_links_rankings_without_bom(client, staff, rated_study):
    address = reverse("reports:rankings_csv", args=[rated_study.uuid])

    page = _get(client, staff, "reports:study", rated_study).content.decode()
    with_options = _get(client, staff, "reports:study", rated_study, "?surplus=include").content.decode()

    assert f'href="{address}?bom=no"' in page
    assert f'href="{address}?surplus=include&amp;bom=no"' in with_options
