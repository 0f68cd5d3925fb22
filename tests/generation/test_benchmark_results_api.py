"""The read-only benchmark score list under /api/v1/benchmark-results/."""

import pytest
from rest_framework.test import APIClient

from generation.models import BenchmarkResult, BenchmarkSource, LanguageModel
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    client = APIClient()
    client.force_login(make_user("site-admin", superuser=True))
    return client


@pytest.fixture
def scores():
    first = LanguageModel.objects.create(name="Quillon-Chat", source="/models/quillon")
    second = LanguageModel.objects.create(name="Brevant-Base", source="/models/brevant")
    rows = [
        (first, "arc_easy", 0, "acc", 0.61, BenchmarkSource.RUN),
        (first, "gsm8k", 5, "exact_match", 0.12, BenchmarkSource.IMPORTED),
        (second, "arc_easy", 0, "acc", 0.55, BenchmarkSource.RUN),
    ]
    for model, task, shots, metric, value, source in rows:
        BenchmarkResult.objects.create(
            model=model, task=task, shots=shots, metric=metric, value=value, stderr=0.01, source=source
        )
    return first, second


def test_list_scores(api, scores):
    body = api.get("/api/v1/benchmark-results/").json()

    assert body["count"] == 3
    first = body["results"][0]
    assert (first["model_name"], first["task"], first["metric"], first["value"]) == (
        "Brevant-Base",
        "arc_easy",
        "acc",
        0.55,
    )
    assert first["model"] == str(scores[1].uuid)
    assert "id" not in first


def test_filters(api, scores):
    by_model = api.get("/api/v1/benchmark-results/", {"model": str(scores[0].uuid)}).json()
    by_task = api.get("/api/v1/benchmark-results/", {"task": "arc_easy"}).json()
    imported = api.get("/api/v1/benchmark-results/", {"source": "imported"}).json()
    bad = api.get("/api/v1/benchmark-results/", {"source": "guessed"})

    assert by_model["count"] == 2
    assert by_task["count"] == 2
    assert [row["task"] for row in imported["results"]] == ["gsm8k"]
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "source"


def test_read_only_and_staff_only(api, scores):
    annotator = APIClient()
    annotator.force_login(make_user())

    assert api.post("/api/v1/benchmark-results/", {}, format="json").status_code == 405
    assert annotator.get("/api/v1/benchmark-results/").status_code == 403
    assert APIClient().get("/api/v1/benchmark-results/").status_code == 401
