"""The reports REST API under /api/v1/reports/: report figures as JSON and the CSV exports."""

import pytest
from rest_framework.test import APIClient

from annotate.pseudonyms import pseudonym
from reports import export, gold_export, ranking_export
from reports.agreement import criterion_agreement
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import RATING, judge, make_item, make_study

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]

MISSING_UUID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def api(staff):
    client = APIClient()
    client.force_login(staff)
    return client


def field_errors(response):
    errors = {}
    for error in response.json()["errors"]:
        errors.setdefault(error["field"], []).append(error["message"])
    return errors


def url(study, suffix=""):
    return f"/api/v1/reports/{study.uuid}/{suffix}"


def keys_of(value):
    """Yield every key of every object nested in a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from keys_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from keys_of(item)


@pytest.fixture
def rating_report(db):
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    run = make_run(prompt_set, model_name="Pellamy")
    study = make_study(RATING, [run], criteria=("fluency",))
    first, second = make_user("rater-one"), make_user("rater-two")
    for prompt, scores in zip(prompts, [(4, 4), (5, 3), (2, 1)], strict=True):
        item = make_item(study, prompt, run)
        judge(item, first, {"fluency": scores[0]})
        judge(item, second, {"fluency": scores[1]})
    return study


# Access


ENDPOINTS = [
    "",
    "judgments-csv/",
    "judgments-csv/metadata/",
    "gold-judgments-csv/",
    "gold-judgments-csv/metadata/",
    "rankings-csv/",
    "rankings-csv/metadata/",
    "rankings/",
]


def test_anonymous_gets_401(tiny_pairwise):
    for suffix in ENDPOINTS:
        assert APIClient().get(url(tiny_pairwise.study, suffix)).status_code == 401, suffix
    assert APIClient().get("/api/v1/reports/").status_code == 401


def test_non_staff_403_list_404_study(tiny_pairwise):
    client = APIClient()
    client.force_login(tiny_pairwise.annotators[0])

    assert client.get("/api/v1/reports/").status_code == 403
    for suffix in ENDPOINTS:
        response = client.get(url(tiny_pairwise.study, suffix))
        missing = client.get(f"/api/v1/reports/{MISSING_UUID}/{suffix}")
        assert response.status_code == 404, suffix
        assert response.json() == missing.json(), suffix


def test_wrong_method_and_bad_id(api, tiny_pairwise):
    assert api.post(url(tiny_pairwise.study)).status_code == 405
    assert api.get(f"/api/v1/reports/{MISSING_UUID}/").status_code == 404
    assert api.get("/api/v1/reports/not-a-uuid/").status_code == 404


# Figures


def test_list_counts_judgments(api, tiny_pairwise):
    body = api.get("/api/v1/reports/").json()

    (row,) = body["results"]
    assert row["uuid"] == str(tiny_pairwise.study.uuid)
    assert (row["items"], row["judgments"], row["surplus_judgments"]) == (3, 7, 1)


def test_pairwise_report_figures(api, tiny_pairwise):
    study = tiny_pairwise.study
    expected_alpha = criterion_agreement(study.criteria.get()).alpha

    body = api.get(url(study)).json()

    assert body["study"] == {"uuid": str(study.uuid), "name": study.name, "kind": "pairwise", "status": "open"}
    assert body["totals"]["judgments"] == 7
    assert body["totals"]["surplus"] == 1
    assert body["totals"]["counted"] == 6
    (section,) = body["sections"]
    assert section["criterion"]["name"] == "overall"
    assert section["agreement"]["alpha"] == pytest.approx(expected_alpha)
    assert section["agreement"]["level"] == "nominal"
    records = {record["system"]["name"]: record for record in section["pairwise"]["systems"]}
    assert records["Zephyral"]["win_rate"] == pytest.approx(1.0)
    assert records["Xenoqua"]["win_rate"] == pytest.approx(2 / 3)
    assert records["Yarrowin"]["win_rate"] == pytest.approx(0.2)
    assert records["Xenoqua"]["system"]["run"] == str(tiny_pairwise.x.uuid)
    ranked = [record["system"]["name"] for record in section["ranking"]["systems"]]
    assert sorted(ranked) == ["Xenoqua", "Yarrowin", "Zephyral"]
    assert section["ranking"]["method"]["rounds"] == 1000
    assert {row["annotator"] for row in body["annotators"]} == {pseudonym(user.pk) for user in tiny_pairwise.annotators}


def test_report_has_no_database_ids(api, tiny_pairwise):
    body = api.get(url(tiny_pairwise.study)).json()

    keys = set(keys_of(body))
    assert "id" not in keys
    assert not [key for key in keys if key.endswith("_id")]


def test_surplus_option_changes_counts(api, tiny_pairwise):
    default = api.get(url(tiny_pairwise.study)).json()
    included = api.get(url(tiny_pairwise.study), {"include_surplus": "true"}).json()

    assert default["include_surplus"] is False
    assert included["include_surplus"] is True
    default_x = next(r for r in default["sections"][0]["pairwise"]["systems"] if r["system"]["name"] == "Xenoqua")
    included_x = next(r for r in included["sections"][0]["pairwise"]["systems"] if r["system"]["name"] == "Xenoqua")
    assert included_x["comparisons"] == default_x["comparisons"] + 1
    assert included["totals"]["counted"] == default["totals"]["counted"] + 1
    assert included["totals"]["counted"] == included["totals"]["judgments"]


def test_anchor_is_at_1000(api, tiny_pairwise):
    body = api.get(url(tiny_pairwise.study), {"anchor": str(tiny_pairwise.y.uuid)}).json()

    ranking = body["sections"][0]["ranking"]
    records = {record["system"]["name"]: record for record in ranking["systems"]}
    assert ranking["method"]["anchor"] == {"name": "Yarrowin", "run": str(tiny_pairwise.y.uuid)}
    # Zephyral never lost, so the fitted ratings are undefined; online Elo is anchored too.
    assert records["Yarrowin"]["rating"] is None
    assert ranking["ratings_reason"]
    assert records["Yarrowin"]["online_elo"] == pytest.approx(1000.0)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"anchor": MISSING_UUID}, "anchor"),
        ({"anchor": "not-a-uuid"}, "anchor"),
        ({"level": "ordinal"}, "level"),
        ({"level": "loud"}, "level"),
        ({"include_surplus": "perhaps"}, "include_surplus"),
    ],
)
def test_bad_option_names_field(api, tiny_pairwise, query, field):
    response = api.get(url(tiny_pairwise.study), query)

    assert response.status_code == 400
    assert field in field_errors(response), response.json()


def test_bad_option_messages_fit_api(api, tiny_pairwise):
    anchor = api.get(url(tiny_pairwise.study), {"anchor": MISSING_UUID})
    level = api.get(url(tiny_pairwise.study), {"level": "ordinal"})

    # The page's messages name the default shown instead; an API error shows nothing.
    assert "instead" not in str(anchor.json())
    assert "default level is shown" not in str(level.json())
    assert "nominal" in str(level.json())


def test_rating_report_figures(api, rating_report):
    expected = criterion_agreement(rating_report.criteria.get())

    body = api.get(url(rating_report)).json()
    interval = api.get(url(rating_report), {"level": "interval"}).json()
    anchored = api.get(url(rating_report), {"anchor": MISSING_UUID})

    (section,) = body["sections"]
    (rating,) = section["ratings"]["systems"]
    assert rating["system"]["name"] == "Pellamy"
    assert rating["mean"] == pytest.approx(19 / 6)
    assert rating["count"] == 6
    assert section["pairwise"] is None
    assert section["agreement"]["alpha"] == pytest.approx(expected.alpha)
    assert interval["sections"][0]["agreement"]["level"] == "interval"
    assert anchored.status_code == 400
    assert "anchor" in field_errors(anchored)


# Files


def test_judgments_csv_is_the_export(api, tiny_pairwise):
    study = tiny_pairwise.study

    response = api.get(url(study, "judgments-csv/"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="{export.csv_filename(study)}"' in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body == "".join(export.stream_judgments_csv(study))
    assert body.startswith("\ufeff")
    assert "Xenoqua" in body


def test_csv_with_accept_text_csv(api, tiny_pairwise):
    response = api.get(url(tiny_pairwise.study, "judgments-csv/"), HTTP_ACCEPT="text/csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"


def test_metadata_files(api, tiny_pairwise):
    study = tiny_pairwise.study

    judgments = api.get(url(study, "judgments-csv/metadata/"))
    gold = api.get(url(study, "gold-judgments-csv/metadata/"))

    expected = export.judgments_metadata(study)
    body = judgments.json()
    assert body["file"] == expected["file"]
    assert body["columns"] == expected["columns"]
    assert f'filename="{export.csv_filename(study)}.meta.json"' in judgments["Content-Disposition"]
    assert gold.json()["columns"] == gold_export.gold_judgments_metadata(study)["columns"]


def test_gold_csv(api, tiny_pairwise):
    study = tiny_pairwise.study

    response = api.get(url(study, "gold-judgments-csv/"))

    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode("utf-8") == "".join(gold_export.stream_gold_judgments_csv(study))


def test_rankings_files(api, tiny_pairwise):
    study = tiny_pairwise.study
    rankings = ranking_export.english_rankings(study)

    csv_response = api.get(url(study, "rankings-csv/"))
    json_response = api.get(url(study, "rankings/"))
    metadata = api.get(url(study, "rankings-csv/metadata/"))

    assert b"".join(csv_response.streaming_content).decode("utf-8") == ranking_export.rankings_csv(rankings)
    assert (
        json_response.json()["criteria"][0]["systems"]
        == ranking_export.rankings_json(study, rankings)["criteria"][0]["systems"]
    )
    assert metadata.json()["method"]["seed"] == 0


def test_rankings_with_bad_anchor_is_400(api, tiny_pairwise):
    response = api.get(url(tiny_pairwise.study, "rankings-csv/"), {"anchor": MISSING_UUID})

    assert response.status_code == 400
    assert "anchor" in field_errors(response)


def test_rankings_of_rating_study_is_404(api, rating_report):
    for suffix in ("rankings/", "rankings-csv/", "rankings-csv/metadata/"):
        response = api.get(url(rating_report, suffix))
        assert response.status_code == 404, suffix
        assert "pairwise" in response.json()["detail"]


def test_browsable_api_renders_html(api, tiny_pairwise):
    for address in ("/api/v1/reports/", url(tiny_pairwise.study), url(tiny_pairwise.study, "rankings/")):
        response = api.get(address, HTTP_ACCEPT="text/html")
        assert response.status_code == 200, address
        assert response["Content-Type"].startswith("text/html"), address


WITH_BOM = "UTF-8 with byte order mark; pandas.read_csv(path, encoding='utf-8-sig')"
WITHOUT_BOM = "UTF-8 without byte order mark; pandas.read_csv(path)"
CSV_FILES = [("judgments-csv/", b"study,"), ("gold-judgments-csv/", b"study,"), ("rankings-csv/", b"criterion,")]
CSV_SUFFIXES = [suffix for suffix, _header_start in CSV_FILES]


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.mark.parametrize(("suffix", "header_start"), CSV_FILES)
def test_csv_files_without_bom(api, tiny_pairwise, suffix, header_start):
    default = api.get(url(tiny_pairwise.study, suffix))
    without = api.get(url(tiny_pairwise.study, suffix), {"bom": "false"})
    default_body, without_body = _body(default), _body(without)

    assert default.status_code == 200
    assert without.status_code == 200
    assert default_body.startswith(b"\xef\xbb\xbf" + header_start)
    assert without_body.startswith(header_start)
    assert default_body == b"\xef\xbb\xbf" + without_body


@pytest.mark.parametrize("suffix", CSV_SUFFIXES)
def test_csv_sidecars_follow_bom(api, tiny_pairwise, suffix):
    default = api.get(url(tiny_pairwise.study, f"{suffix}metadata/"))
    without = api.get(url(tiny_pairwise.study, f"{suffix}metadata/"), {"bom": "false"})

    assert default.json()["format"]["encoding"] == WITH_BOM
    assert without.json()["format"]["encoding"] == WITHOUT_BOM


def test_csv_files_equal_writers_without_bom(api, tiny_pairwise):
    study = tiny_pairwise.study
    query = {"bom": "false"}

    judgments = _body(api.get(url(study, "judgments-csv/"), query)).decode("utf-8")
    gold = _body(api.get(url(study, "gold-judgments-csv/"), query)).decode("utf-8")
    rankings = _body(api.get(url(study, "rankings-csv/"), query)).decode("utf-8")

    assert judgments == "".join(export.stream_judgments_csv(study, bom=False))
    assert gold == "".join(gold_export.stream_gold_judgments_csv(study, bom=False))
    assert rankings == ranking_export.rankings_csv(ranking_export.english_rankings(study), bom=False)


@pytest.mark.parametrize("suffix", CSV_SUFFIXES)
def test_csv_bad_bom_is_400(api, tiny_pairwise, suffix):
    for path in (suffix, f"{suffix}metadata/"):
        response = api.get(url(tiny_pairwise.study, path), {"bom": "perhaps"})
        assert response.status_code == 400, path
        assert "bom" in field_errors(response), path


def test_rankings_json_rejects_bom(api, tiny_pairwise):
    response = api.get(url(tiny_pairwise.study, "rankings/"), {"bom": "false"})

    assert response.status_code == 400
    assert "bom" in field_errors(response)


def test_rankings_bom_of_rating_study_is_404(api, rating_report):
    for suffix in ("rankings/", "rankings-csv/", "rankings-csv/metadata/"):
        response = api.get(url(rating_report, suffix), {"bom": "perhaps"})
        assert response.status_code == 404, suffix
