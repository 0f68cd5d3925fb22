"""The REST API under /api/v1/ given hostile or careless requests: each gets a 4xx in the API's error shape."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from generation.models import GenerationRun, LanguageModel, PromptSet
from tests.factories import make_prompt_set, make_run, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return make_user("api-admin", superuser=True)


@pytest.fixture
def client(staff):
    client = APIClient(raise_request_exception=False)
    client.force_login(staff)
    return client


def _fields(response):
    return [error["field"] for error in response.json()["errors"]]


@pytest.mark.parametrize("body", ["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000])
def test_deeply_nested_json_rejected(client, body):
    response = client.post("/api/v1/models/", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "parse_error"
    assert "nested" in response.json()["detail"]
    assert not LanguageModel.objects.exists()


def test_huge_integer_json_rejected(client):
    body = '{"name": "Big", "source": "/x", "seed": ' + "9" * 5000 + "}"

    response = client.post("/api/v1/models/", body, content_type="application/json")

    assert response.status_code == 400
    assert not LanguageModel.objects.exists()


@pytest.mark.parametrize(
    ("url", "body", "field", "hint"),
    [
        ("/api/v1/models/", {"name": "Typo", "source": "/x", "temprature": 0.7}, "temprature", "temperature"),
        ("/api/v1/prompt-sets/", {"name": "set", "descripton": "typo"}, "descripton", "description"),
    ],
    ids=["model", "prompt-set"],
)
def test_unknown_field_rejected(client, url, body, field, hint):
    """A misspelt setting would otherwise be dropped without a word, and the default used."""
    response = client.post(url, json.dumps(body), content_type="application/json")

    assert response.status_code == 400
    assert _fields(response) == [field]
    assert hint in response.json()["detail"]
    assert not LanguageModel.objects.filter(name="Typo").exists()
    assert not PromptSet.objects.filter(name="set").exists()


def test_unknown_field_in_run_create_rejected(client):
    prompt_set = make_prompt_set()
    model = LanguageModel.objects.create(name="Typo-Run", source="/nonexistent")
    body = {"model": str(model.uuid), "prompt_set": str(prompt_set.uuid), "label": "t", "temprature": 1.0}

    response = client.post("/api/v1/runs/", json.dumps(body), content_type="application/json")

    assert response.status_code == 400
    assert _fields(response) == ["temprature"]
    assert not GenerationRun.objects.exists()


def test_unknown_field_in_start_rejected(client):
    run = make_run(make_prompt_set())

    response = client.post(
        f"/api/v1/runs/{run.uuid}/start/", json.dumps({"forse": True}), content_type="application/json"
    )

    assert response.status_code == 400
    assert _fields(response) == ["forse"]


def test_read_only_fields_sent_back_accepted(client):
    """A PUT of what GET returned carries uuid and created_at; they are known fields, so no error."""
    created = client.post("/api/v1/models/", {"name": "Round-Trip", "source": "/x"}, format="json").json()
    created["max_new_tokens"] = 32

    response = client.put(f"/api/v1/models/{created['uuid']}/", json.dumps(created), content_type="application/json")

    assert response.status_code == 200
    assert LanguageModel.objects.get(name="Round-Trip").max_new_tokens == 32


def test_unknown_upload_field_rejected(client):
    prompt_set = PromptSet.objects.create(name="upload-typo")
    upload = SimpleUploadedFile("p.jsonl", b'{"text": "hello"}\n')

    response = client.post(
        f"/api/v1/prompt-sets/{prompt_set.uuid}/import/", {"file": upload, "langauge": "zh-Hans"}, format="multipart"
    )

    assert response.status_code == 400
    assert _fields(response) == ["langauge"]
    assert not prompt_set.prompts.exists()


def test_session_upload_needs_csrf_token(staff):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(staff)
    prompt_set = PromptSet.objects.create(name="csrf-upload")
    upload = SimpleUploadedFile("p.jsonl", b'{"text": "hello"}\n')

    response = client.post(f"/api/v1/prompt-sets/{prompt_set.uuid}/import/", {"file": upload}, format="multipart")

    assert response.status_code == 403
    assert not prompt_set.prompts.exists()


def test_session_start_needs_csrf_token(staff):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(staff)
    run = make_run(make_prompt_set())
    GenerationRun.objects.filter(pk=run.pk).update(status="failed")

    response = client.post(f"/api/v1/runs/{run.uuid}/start/", {"force": True}, format="json")

    assert response.status_code == 403
    assert GenerationRun.objects.get(pk=run.pk).status == "failed"


@pytest.mark.parametrize(
    "value",
    ["a\x00b", "\ud800"],
    ids=["nul", "lone-surrogate"],
)
def test_unstorable_text_rejected(client, value):
    response = client.post(
        "/api/v1/prompt-sets/", json.dumps({"name": "ok", "description": value}), content_type="application/json"
    )

    assert response.status_code == 400
    assert _fields(response) == ["description"]


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ('text\n"unterminated\n', 2),
        ('text\nfine\n"multi\nline"\nbad"quote"x\n"b"x"\n', 6),
        ('text\nfine\nalso fine\n"open\nrest\n', 4),
    ],
    ids=["second-line", "after-multiline-cell", "unterminated-mid-file"],
)
def test_csv_quote_error_names_its_line(client, content, line):
    prompt_set = PromptSet.objects.create(name="quotes")
    upload = SimpleUploadedFile("prompts.csv", content.encode())

    response = client.post(f"/api/v1/prompt-sets/{prompt_set.uuid}/import/", {"file": upload}, format="multipart")

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert "invalid CSV" in error["message"]
    assert error["line"] == line
    assert not prompt_set.prompts.exists()


def test_too_many_form_fields_get_json_error(client):
    body = "&".join(f"field{number}=1" for number in range(1200))

    response = client.post("/api/v1/prompt-sets/", body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "parse_error"
    assert not PromptSet.objects.exists()


def test_oversized_form_body_gets_json_error(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = "name=" + "a" * 5000

    response = client.post("/api/v1/prompt-sets/", body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "request_too_large"
    assert "1000" in response.json()["detail"]
    assert not PromptSet.objects.exists()
