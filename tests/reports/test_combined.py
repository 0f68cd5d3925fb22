"""The combined report across studies: rows per model, per-study figures, correlations, access, page, API and CSV."""

import csv
import io
import json
import math
import re
import uuid
from types import SimpleNamespace

import pandas
import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from scipy import stats

from annotate.models import AuditAction, AuditEvent
from generation.models import FinishReason, GenerationRun, LanguageModel, Response
from reports import combined_export
from reports.combined import (
    CACHE_KIND,
    StudySelectionError,
    combined_report,
    resolve_studies,
)
from reports.ranking import DEFAULT_CONFIDENCE, DEFAULT_ROUNDS, DEFAULT_SEED
from reports.report_cache import report_cache_key
from reports.summary import build_study_report
from tests.factories import make_prompt_set, make_user
from tests.reports.builders import PAIRWISE, RATING, judge, make_item, make_study

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(300)]

PROMPTS = [f"Combined prompt {index}" for index in range(4)]


def run_of(model, prompt_set, label=""):
    """Create a completed run of an existing model, with a response to every prompt of `prompt_set`."""
    run = GenerationRun.objects.create(model=model, prompt_set=prompt_set, label=label, status="completed")
    for prompt in prompt_set.prompts.all():
        Response.objects.create(
            run=run,
            prompt=prompt,
            text=f"Answer {prompt.position}.",
            token_count=5,
            finish_reason=FinishReason.STOP,
            latency_seconds=0.1,
        )
    return run


def models_named(*names):
    return [LanguageModel.objects.create(name=name, source="/nonexistent/weights") for name in names]


def pairwise_study(runs, annotators, *, name=None, criteria=("overall",)):
    """A pairwise study in which, on every prompt, the earlier run of each pair wins two judgments of three."""
    study = make_study(PAIRWISE, runs, name=name, criteria=criteria)
    prompts = list(runs[0].prompt_set.prompts.order_by("position"))
    for prompt in prompts:
        for better_index, better in enumerate(runs):
            for worse in runs[better_index + 1 :]:
                item = make_item(study, prompt, better, worse)
                for annotator, winner in zip(annotators, ("first", "first", "second"), strict=True):
                    judge(item, annotator, {criterion: winner for criterion in criteria})
    return study


def rating_study(runs_and_scores, annotator, *, name=None, criteria=("overall",)):
    """A rating study where each run gets the listed score on each prompt, on every criterion."""
    runs = [run for run, _scores in runs_and_scores]
    study = make_study(RATING, runs, name=name, criteria=criteria)
    prompts = list(runs[0].prompt_set.prompts.order_by("position"))
    for run, scores in runs_and_scores:
        for prompt, score in zip(prompts, scores, strict=True):
            judge(make_item(study, prompt, run), annotator, {criterion: score for criterion in criteria})
    return study


@pytest.fixture
def world(db):
    """A pairwise study of Aldmoor, Brisket, Corvane and Dunmere, and a rating study of four models.

    The rating study has Aldmoor, Brisket, Corvane and Eskell. Dunmere is in
    the pairwise study only and Eskell in the rating study only, so every
    correlation across the two rests on three models.
    """
    aldmoor, brisket, corvane, dunmere, eskell = models_named("Aldmoor", "Brisket", "Corvane", "Dunmere", "Eskell")
    annotators = [make_user() for _ in range(3)]
    pairwise_set = make_prompt_set(prompts=PROMPTS)
    rating_set = make_prompt_set(prompts=PROMPTS)
    pairwise = pairwise_study(
        [run_of(model, pairwise_set) for model in (aldmoor, brisket, corvane, dunmere)], annotators, name="Pairs"
    )
    rating = rating_study(
        [
            (run_of(aldmoor, rating_set), [3, 3, 2, 3]),
            (run_of(brisket, rating_set), [5, 5, 4, 5]),
            (run_of(corvane, rating_set), [4, 4, 3, 4]),
            (run_of(eskell, rating_set), [1, 2, 1, 1]),
        ],
        annotators[0],
        name="Scores",
        criteria=("helpfulness", "fluency"),
    )
    return SimpleNamespace(pairwise=pairwise, rating=rating)


def row_named(report, name):
    (row,) = [row for row in report.rows if row.name == name]
    return row


# Figures


def test_rows_and_columns(world):
    report = combined_report([world.pairwise, world.rating])

    assert [row.name for row in report.rows] == ["Aldmoor", "Brisket", "Corvane", "Dunmere", "Eskell"]
    assert [column.label for column in report.columns] == [
        "Pairs · overall",
        "Scores · helpfulness",
        "Scores · fluency",
    ]
    assert report.shared_models == 3


def test_ratings_equal_study_report(world):
    report = combined_report([world.pairwise, world.rating])
    (section,) = build_study_report(world.pairwise).sections

    compared = 0
    for record in section.ranking.systems:
        cell = row_named(report, record.system.name).cells[0]
        assert cell.figure.value == record.rating
        assert cell.figure.interval == record.rating_interval
        assert cell.figure.interval is not None
        compared += 1
    assert compared == 4


def test_means_equal_study_report(world):
    report = combined_report([world.pairwise, world.rating])
    sections = build_study_report(world.rating).sections

    compared = 0
    for position, section in enumerate(sections, start=1):
        for rating in section.ratings.systems:
            cell = row_named(report, rating.system.name).cells[position]
            assert cell.figure.value == rating.mean
            assert cell.figure.interval == rating.mean_interval
            assert cell.figure.interval is not None
            compared += 1
    assert compared == 8
    assert row_named(report, "Brisket").cells[1].figure.value == 4.75


def test_missing_model_leaves_empty_cell(world):
    report = combined_report([world.pairwise, world.rating])

    dunmere = row_named(report, "Dunmere")
    eskell = row_named(report, "Eskell")
    assert dunmere.cells[0].figure is not None
    assert dunmere.cells[1] is None
    assert dunmere.cells[2] is None
    assert eskell.cells[0] is None
    assert eskell.cells[1].figure.value == 1.25


def test_correlations_equal_scipy(world):
    report = combined_report([world.pairwise, world.rating])

    checked = 0
    for correlation in report.correlations:
        first, second = correlation.first.position, correlation.second.position
        shared = [row for row in report.rows if row.cells[first] and row.cells[second]]
        x = [row.cells[first].figure.value for row in shared]
        y = [row.cells[second].figure.value for row in shared]
        assert correlation.models == len(shared)
        assert correlation.spearman == pytest.approx(stats.spearmanr(x, y).statistic)
        assert correlation.kendall == pytest.approx(stats.kendalltau(x, y).statistic)
        assert correlation.weak
        checked += 1
    assert checked == 3


def test_missing_model_left_out_of_correlation(world):
    report = combined_report([world.pairwise, world.rating])
    across = report.correlations[0]

    assert (across.first.label, across.second.label) == ("Pairs · overall", "Scores · helpfulness")
    assert across.models == 3
    # Aldmoor, Brisket, Corvane: ratings fall in that order, means are 2.75, 4.75, 3.75.
    assert across.spearman == pytest.approx(stats.spearmanr([3, 2, 1], [2.75, 4.75, 3.75]).statistic)


def test_same_study_columns_correlate(world):
    report = combined_report([world.pairwise, world.rating])
    within = report.correlations[2]

    assert (within.first.label, within.second.label) == ("Scores · helpfulness", "Scores · fluency")
    assert within.models == 4
    assert within.spearman == pytest.approx(1.0)


def test_fewer_than_three_shared_models(world):
    rating_set = make_prompt_set(prompts=PROMPTS)
    aldmoor, brisket = LanguageModel.objects.filter(name__in=["Aldmoor", "Brisket"]).order_by("name")
    small = rating_study(
        [(run_of(aldmoor, rating_set), [1, 2, 1, 2]), (run_of(brisket, rating_set), [4, 5, 4, 5])], make_user()
    )

    report = combined_report([world.pairwise, small])
    (correlation,) = report.correlations

    assert correlation.models == 2
    assert correlation.spearman is None
    assert correlation.kendall is None
    assert "at least 3 models" in correlation.reason
    assert "these have 2" in correlation.reason


def test_constant_column(world):
    rating_set = make_prompt_set(prompts=PROMPTS)
    models = LanguageModel.objects.filter(name__in=["Aldmoor", "Brisket", "Corvane"]).order_by("name")
    flat = rating_study([(run_of(model, rating_set), [3, 3, 3, 3]) for model in models], make_user(), name="Flat")

    report = combined_report([world.pairwise, flat])
    (correlation,) = report.correlations

    assert correlation.models == 3
    assert correlation.spearman is None
    assert "every model has the same figure in Flat · overall" in correlation.reason


def test_undefined_ratings_give_reason():
    prompt_set = make_prompt_set(prompts=PROMPTS)
    first, second = models_named("Fenwright", "Galloran")
    annotator = make_user()
    study = make_study(PAIRWISE, [run_of(first, prompt_set), run_of(second, prompt_set)])
    judge(make_item(study, prompt_set.prompts.first(), *study.systems.order_by("pk")), annotator, {"overall": "first"})
    other = rating_study([(run_of(first, make_prompt_set(prompts=PROMPTS)), [2, 2, 2, 2])], annotator)

    report = combined_report([study, other])

    assert report.columns[0].reason.startswith("Ratings are undefined")
    assert row_named(report, "Fenwright").cells[0].figure is None
    assert row_named(report, "Fenwright").cells[0].system.system.name == "Fenwright"


def test_two_systems_of_one_model_stay_apart():
    pairwise_set = make_prompt_set(prompts=PROMPTS)
    rating_set = make_prompt_set(prompts=PROMPTS)
    hollin, ivory, jasper = models_named("Hollin", "Ivory", "Jasper")
    annotators = [make_user() for _ in range(3)]
    greedy, sampled = run_of(hollin, pairwise_set, "greedy"), run_of(hollin, pairwise_set, "t=1.0")
    pairs = pairwise_study([greedy, sampled, run_of(ivory, pairwise_set, "greedy")], annotators)
    scores = rating_study(
        [
            (run_of(hollin, rating_set, "greedy"), [4, 4, 4, 5]),
            (run_of(ivory, rating_set, "t=0.7"), [2, 3, 2, 2]),
            (run_of(jasper, rating_set), [1, 1, 1, 2]),
        ],
        annotators[0],
    )

    report = combined_report([pairs, scores])
    rows = {row.name: row for row in report.rows}

    assert sorted(rows) == ["Hollin greedy", "Hollin t=1.0", "Ivory", "Jasper"]
    assert rows["Hollin greedy"].systems[0].system.run_id == greedy.pk
    assert rows["Hollin greedy"].systems[1] is not None
    assert rows["Hollin t=1.0"].systems[0].system.run_id == sampled.pk
    assert rows["Hollin t=1.0"].systems[1] is None
    # One system of Ivory per study: one row named by the model, whatever the labels.
    assert rows["Ivory"].system_names() == ["Ivory greedy", "Ivory t=0.7"]
    assert report.shared_models == 2


def test_figures_cached_per_study(world):
    options = {"rounds": DEFAULT_ROUNDS, "seed": DEFAULT_SEED, "confidence": DEFAULT_CONFIDENCE}
    cache.clear()

    combined_report([world.pairwise, world.rating])

    for study in (world.pairwise, world.rating):
        assert cache.get(report_cache_key(study, options, CACHE_KIND)) is not None


def test_new_judgment_renews_figures(world):
    first = combined_report([world.pairwise, world.rating])
    eskell_item = world.rating.items.filter(first_response__run__model__name="Eskell").first()
    judge(eskell_item, make_user(), {"helpfulness": 5, "fluency": 5})

    second = combined_report([world.pairwise, world.rating])

    assert row_named(first, "Eskell").cells[1].figure.value == 1.25
    assert row_named(second, "Eskell").cells[1].figure.value == pytest.approx(10 / 5)


# Choosing studies


def test_resolve_keeps_order_and_drops_repeats(world):
    admin = make_user(superuser=True)
    values = [str(world.rating.uuid), str(world.pairwise.uuid), str(world.rating.uuid).upper()]

    assert resolve_studies(admin, values) == [world.rating, world.pairwise]


@pytest.mark.parametrize(
    ("values", "status", "text"),
    [
        ([], 400, "at least 2 different studies"),
        (["{pairwise}"], 400, "1 chosen"),
        (["{pairwise}", "{pairwise}"], 400, "1 chosen"),
        (["{pairwise}", "not-a-uuid"], 400, "Invalid study UUID “not-a-uuid”"),
        (["{pairwise}", "00000000-0000-4000-8000-000000000000"], 404, "00000000-0000-4000-8000-000000000000"),
    ],
)
def test_resolve_rejects_bad_input(world, values, status, text):
    admin = make_user(superuser=True)
    values = [value.format(pairwise=world.pairwise.uuid) for value in values]

    with pytest.raises(StudySelectionError) as raised:
        resolve_studies(admin, values)

    assert raised.value.status == status
    assert text in raised.value.message


# Page


@pytest.fixture
def people(world):
    manager = make_user(staff=True)
    world.pairwise.managers.add(manager)
    clients = {}
    for persona, user in {
        "site_admin": make_user(superuser=True),
        "manager": manager,
        "annotator": make_user(),
    }.items():
        client = Client()
        client.force_login(user)
        clients[persona] = client
    clients["anonymous"] = Client()
    return clients


def page(client, *studies, **extra):
    return client.get("/reports/combined/", {"study": [str(study) for study in studies], **extra})


def test_page_shows_table_and_correlations(world, people):
    response = page(people["site_admin"], world.pairwise.uuid, world.rating.uuid)
    text = response.content.decode()

    assert response.status_code == 200
    assert "Rank correlation between columns" in text
    assert "Aldmoor" in text
    assert "Eskell" in text
    assert "n = 3 models" in text
    assert "combined-report.csv?study=" in text


def test_page_without_studies_shows_form(world, people):
    response = people["manager"].get("/reports/combined/")
    text = response.content.decode()

    assert response.status_code == 200
    assert f'value="{world.pairwise.uuid}"' in text
    assert f'value="{world.rating.uuid}"' not in text


def test_page_with_one_study(world, people):
    response = page(people["site_admin"], world.pairwise.uuid)

    assert response.status_code == 400
    assert "Choose at least 2 different studies to combine; 1 chosen." in response.content.decode()


def without_token(response, study_uuid) -> str:
    """Return the page with the study UUID and the per-response CSRF token replaced, for comparing two pages."""
    text = response.content.decode().replace(str(study_uuid), "UUID")
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", text)


def test_unreadable_study_looks_unknown(world, people):
    unknown = uuid.uuid4()
    unreadable = page(people["manager"], world.pairwise.uuid, world.rating.uuid)
    missing = page(people["manager"], world.pairwise.uuid, unknown)

    assert unreadable.status_code == 404
    assert missing.status_code == 404
    assert without_token(unreadable, world.rating.uuid) == without_token(missing, unknown)
    assert "Study not found: no study you may read has the UUID" in unreadable.content.decode()
    assert "Scores" not in unreadable.content.decode()


def test_unreadable_study_download_looks_unknown(world, people):
    unknown = uuid.uuid4()
    for suffix in ("combined-report.csv", "combined-report.csv.meta.json"):
        url = f"/reports/combined/{suffix}"
        unreadable = people["manager"].get(url, {"study": [str(world.pairwise.uuid), str(world.rating.uuid)]})
        missing = people["manager"].get(url, {"study": [str(world.pairwise.uuid), str(unknown)]})

        assert unreadable.status_code == 404
        assert missing.status_code == 404
        assert unreadable.content.replace(str(world.rating.uuid).encode(), b"U") == missing.content.replace(
            str(unknown).encode(), b"U"
        )


def test_page_access_per_persona(world, people):
    statuses = {
        persona: page(client, world.pairwise.uuid, world.rating.uuid).status_code for persona, client in people.items()
    }

    assert statuses == {"site_admin": 200, "manager": 404, "annotator": 403, "anonymous": 302}


def test_page_no_shared_model(world, people):
    rating_set = make_prompt_set(prompts=PROMPTS)
    (kestrel,) = models_named("Kestrel")
    alone = rating_study([(run_of(kestrel, rating_set), [1, 2, 3, 4])], make_user(), name="Alone")

    response = page(people["site_admin"], world.pairwise.uuid, alone.uuid)

    assert response.status_code == 200
    assert "These studies share no model" in response.content.decode()


def test_index_offers_combination(world, people):
    text = people["site_admin"].get("/reports/").content.decode()

    assert 'action="/reports/combined/"' in text
    assert f'name="study" value="{world.pairwise.uuid}"' in text
    assert f'name="study" value="{world.rating.uuid}"' in text


# CSV


def read_csv(content: bytes):
    return pandas.read_csv(io.BytesIO(content), encoding="utf-8-sig", keep_default_na=False, na_values=[""])


def test_csv_download(world, people):
    query = {"study": [str(world.pairwise.uuid), str(world.rating.uuid)]}
    response = people["site_admin"].get("/reports/combined/combined-report.csv", query)
    report = combined_report([world.pairwise, world.rating])

    assert response.status_code == 200
    assert response.content.startswith("\ufeff".encode())
    frame = read_csv(response.content)
    assert list(frame["row"]) == ["Aldmoor", "Brisket", "Corvane", "Dunmere", "Eskell"]
    assert list(frame.columns[3:6]) == ["Pairs · overall", "Pairs · overall lower 95%", "Pairs · overall upper 95%"]
    for row, (_index, line) in zip(report.rows, frame.iterrows(), strict=True):
        for column, cell in zip(report.columns, row.cells, strict=True):
            if cell is None:
                assert math.isnan(line[column.label])
            else:
                assert line[column.label] == pytest.approx(cell.figure.value)
                assert line[f"{column.label} lower 95%"] == pytest.approx(cell.figure.interval.lower)
    assert AuditEvent.objects.filter(action=AuditAction.EXPORTED, object_id=str(world.rating.uuid)).count() == 1


def test_csv_without_bom(world, people):
    query = {"study": [str(world.pairwise.uuid), str(world.rating.uuid)], "bom": "no"}
    response = people["site_admin"].get("/reports/combined/combined-report.csv", query)
    sidecar = people["site_admin"].get("/reports/combined/combined-report.csv.meta.json", query)

    assert response.content.startswith(b"row,model,systems")
    assert sidecar.json()["format"]["encoding"].startswith("UTF-8 without byte order mark")


def test_csv_sidecar(world, people):
    query = {"study": [str(world.pairwise.uuid), str(world.rating.uuid)]}
    sidecar = people["site_admin"].get("/reports/combined/combined-report.csv.meta.json", query).json()

    assert [study["uuid"] for study in sidecar["studies"]] == [str(world.pairwise.uuid), str(world.rating.uuid)]
    assert sidecar["method"]["rounds"] == DEFAULT_ROUNDS
    assert sidecar["method"]["seed"] == DEFAULT_SEED
    assert sidecar["correlations"]["seed"] == DEFAULT_SEED
    assert set(sidecar["versions"]) >= {"numpy", "scipy", "Django"}
    assert len(sidecar["correlations"]["values"]) == 3
    assert sidecar["correlations"]["values"][0]["models"] == 3


def test_csv_cjk_names_round_trip():
    pairwise_set = make_prompt_set(prompts=PROMPTS)
    rating_set = make_prompt_set(prompts=PROMPTS)
    names = ["通义千问-小", "文心一言-测试", "智谱清言"]
    models = models_named(*names)
    annotators = [make_user() for _ in range(3)]
    pairs = pairwise_study([run_of(model, pairwise_set) for model in models], annotators, name="成对评测")
    scores = rating_study(
        [(run_of(model, rating_set), [5 - index, 4 - index, 5 - index, 4]) for index, model in enumerate(models)],
        annotators[0],
        name="打分评测",
        criteria=("流畅度",),
    )
    report = combined_report([pairs, scores])

    frame = read_csv(combined_export.combined_csv(report).encode())

    assert sorted(frame["row"]) == sorted(names)
    assert "打分评测 · 流畅度" in frame.columns
    assert frame.set_index("row").loc["智谱清言", "打分评测 · 流畅度"] == pytest.approx(3.0)
    assert frame.set_index("row").loc["通义千问-小", "systems"] == "成对评测: 通义千问-小; 打分评测: 通义千问-小"


def test_csv_formula_cells_neutralised():
    pairwise_set = make_prompt_set(prompts=PROMPTS)
    rating_set = make_prompt_set(prompts=PROMPTS)
    models = models_named('=HYPERLINK("http://127.0.0.1/x")', "+SUM(A1)", "@cmd", "-2+3", "Plain")
    annotators = [make_user() for _ in range(3)]
    pairs = pairwise_study([run_of(model, pairwise_set) for model in models], annotators, name="=Study")
    scores = rating_study(
        [(run_of(model, rating_set), [index + 1] * 4) for index, model in enumerate(models)], annotators[0]
    )

    text = combined_export.combined_csv(combined_report([pairs, scores]), bom=False)
    rows = list(csv.reader(io.StringIO(text)))

    assert rows[0][3] == "'=Study · overall"
    first_cells = sorted(row[0] for row in rows[1:])
    assert first_cells == ["'+SUM(A1)", "'-2+3", '\'=HYPERLINK("http://127.0.0.1/x")', "'@cmd", "Plain"]
    for row in rows[1:]:
        assert not row[2].startswith(("=", "+", "-", "@"))
        # Negative numbers stay numbers.
        for value in row[3:]:
            if value:
                float(value)


# REST API


def api_client(user):
    client = APIClient()
    client.force_login(user)
    return client


def test_api_json_matches_report(world):
    response = api_client(make_user(superuser=True)).get(
        "/api/v1/reports/combined/", {"study": [str(world.pairwise.uuid), str(world.rating.uuid)]}
    )
    report = combined_report([world.pairwise, world.rating])
    data = response.json()

    assert response.status_code == 200
    assert [row["name"] for row in data["rows"]] == [row.name for row in report.rows]
    aldmoor = data["rows"][0]
    assert aldmoor["cells"][0]["value"] == report.rows[0].cells[0].figure.value
    assert aldmoor["cells"][1]["interval"] == [
        report.rows[0].cells[1].figure.interval.lower,
        report.rows[0].cells[1].figure.interval.upper,
    ]
    assert data["rows"][3]["cells"][1] is None
    assert data["correlations"][0]["first_column"] == 0
    assert data["correlations"][0]["spearman"] == pytest.approx(report.correlations[0].spearman)
    assert data["shared_models"] == 3
    assert data["message"] == ""


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({}, 400),
        ({"study": ["{pairwise}"]}, 400),
        ({"study": ["{pairwise}", "nope"]}, 400),
        ({"study": ["{pairwise}", "{rating}"], "bom": "maybe"}, 400),
    ],
)
def test_api_bad_input_names_parameter(world, query, status):
    client = api_client(make_user(superuser=True))
    filled = {
        key: [value.format(pairwise=world.pairwise.uuid, rating=world.rating.uuid) for value in values]
        if isinstance(values, list)
        else values
        for key, values in query.items()
    }
    url = "/api/v1/reports/combined/csv/" if "bom" in query else "/api/v1/reports/combined/"

    response = client.get(url, filled)

    assert response.status_code == status
    field = response.json()["errors"][0]["field"]
    assert field == ("bom" if "bom" in query else "study")


def test_api_unreadable_study_looks_unknown(world):
    manager = make_user(staff=True)
    world.pairwise.managers.add(manager)
    client = api_client(manager)
    unknown = uuid.uuid4()

    unreadable = client.get("/api/v1/reports/combined/", {"study": [str(world.pairwise.uuid), str(world.rating.uuid)]})
    missing = client.get("/api/v1/reports/combined/", {"study": [str(world.pairwise.uuid), str(unknown)]})

    assert unreadable.status_code == 404
    assert missing.status_code == 404
    assert unreadable.json()["errors"][0]["field"] == "study"
    assert json.dumps(unreadable.json()).replace(str(world.rating.uuid), "U") == json.dumps(missing.json()).replace(
        str(unknown), "U"
    )


def test_api_annotator_forbidden(world):
    response = api_client(make_user()).get(
        "/api/v1/reports/combined/", {"study": [str(world.pairwise.uuid), str(world.rating.uuid)]}
    )

    assert response.status_code == 403


def test_api_token_auth_csv(world):
    manager = make_user(staff=True)
    world.pairwise.managers.add(manager)
    world.rating.managers.add(manager)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=manager).key}")
    query = {"study": [str(world.pairwise.uuid), str(world.rating.uuid)]}

    response = client.get("/api/v1/reports/combined/csv/", query)
    sidecar = client.get("/api/v1/reports/combined/csv/metadata/", {**query, "bom": "false"})
    page_file = Client()
    page_file.force_login(manager)
    page_csv = page_file.get("/reports/combined/combined-report.csv", query)

    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == page_csv.content
    assert 'filename="combined-report.csv"' in response.headers["Content-Disposition"]
    assert sidecar.status_code == 200
    assert sidecar.json()["format"]["encoding"].startswith("UTF-8 without")
