"""The REST API for models, prompt sets, generation runs and responses under /api/v1/.

Runs started through the API execute for real: in eager mode
`generation.dispatch.start_run` hands them to a background thread after the
request's transaction commits, and the thread answers through the openai
backend against the fake OpenAI-compatible server on 127.0.0.1 that the
backend's own tests use.
"""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from generation import dispatch
from generation.models import (
    Backend,
    FinishReason,
    GenerationRun,
    LanguageModel,
    Prompt,
    PromptSet,
    Response,
    RunStatus,
)
from generation.runner import claim_run
from tests.factories import make_prompt_set, make_run, make_user
from tests.generation.test_openai_backend import FakeOpenAIServer

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

MISSING_UUID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def staff():
    return make_user("site-admin", superuser=True)


@pytest.fixture
def client(staff):
    client = APIClient()
    client.force_login(staff)
    return client


@pytest.fixture
def server():
    with FakeOpenAIServer() as fake:
        yield fake


def served_model(server, name="Vextrel-Served", **fields):
    """A model on the openai backend whose server is the fake one on 127.0.0.1."""
    return LanguageModel.objects.create(
        name=name, source="served/tiny-chat", backend=Backend.OPENAI, base_url=server.base_url, **fields
    )


@pytest.fixture(autouse=True)
def run_threads(monkeypatch):
    """Record every background thread that eager mode starts, so a test can join it.

    Looking threads up by name afterwards misses one that already finished.
    """
    started = []
    real_start_thread = dispatch._start_thread

    def recording_start_thread(run_id, force):
        thread = real_start_thread(run_id, force)
        started.append((run_id, thread))
        return thread

    monkeypatch.setattr(dispatch, "_start_thread", recording_start_thread)
    return started


def wait_for_run_thread(run_threads, run, timeout=20):
    """Join the background thread that eager mode started for `run`; fail if none was started."""
    threads = [thread for run_id, thread in run_threads if run_id == run.pk]
    assert threads, f"no background thread was started for run {run.uuid}"
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), f"run {run.uuid} did not finish within {timeout} s"


def upload(name, text):
    return SimpleUploadedFile(name, text.encode("utf-8"))


def field_errors(response):
    """Map each field named in an error body to its messages."""
    errors = {}
    for error in response.json()["errors"]:
        errors.setdefault(error["field"], []).append(error["message"])
    return errors


# Authentication and permissions

ENDPOINTS = [
    ("get", "/api/v1/models/"),
    ("post", "/api/v1/models/"),
    ("get", f"/api/v1/models/{MISSING_UUID}/"),
    ("patch", f"/api/v1/models/{MISSING_UUID}/"),
    ("get", "/api/v1/prompt-sets/"),
    ("post", "/api/v1/prompt-sets/"),
    ("get", f"/api/v1/prompt-sets/{MISSING_UUID}/prompts/"),
    ("post", f"/api/v1/prompt-sets/{MISSING_UUID}/import/"),
    ("get", "/api/v1/runs/"),
    ("post", "/api/v1/runs/"),
    ("get", f"/api/v1/runs/{MISSING_UUID}/"),
    ("post", f"/api/v1/runs/{MISSING_UUID}/start/"),
    ("get", f"/api/v1/runs/{MISSING_UUID}/responses/"),
    ("post", "/api/v1/runs/import-responses/"),
]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_anonymous_gets_401(method, url):
    response = getattr(APIClient(), method)(url, {}, format="json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    body = response.json()
    assert body["detail"] == "Authentication credentials were not provided."
    assert body["errors"] == [{"field": None, "message": body["detail"], "code": "not_authenticated"}]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_non_staff_gets_403(method, url):
    client = APIClient()
    client.force_login(make_user("annotator"))

    response = getattr(client, method)(url, {}, format="json")

    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "permission_denied"
    assert "site admins" in response.json()["detail"]


def test_non_staff_cannot_create_model():
    client = APIClient()
    client.force_login(make_user("annotator"))

    response = client.post("/api/v1/models/", {"name": "Sneaky", "source": "/w"}, format="json")

    assert response.status_code == 403
    assert not LanguageModel.objects.exists()


def test_token_authentication(staff):
    token = Token.objects.create(user=staff)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    response = client.get("/api/v1/models/")

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_token_of_non_staff_gets_403():
    token = Token.objects.create(user=make_user("annotator"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    assert client.get("/api/v1/models/").status_code == 403


def test_invalid_token_gets_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = client.get("/api/v1/models/")

    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "authentication_failed"


def test_drf_create_token_command_gives_working_token(staff, capsys):
    call_command("drf_create_token", staff.username)

    key = Token.objects.get(user=staff).key
    assert key in capsys.readouterr().out
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/runs/").status_code == 200


def test_session_post_needs_csrf_token(staff):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(staff)

    response = client.post("/api/v1/prompt-sets/", {"name": "no-csrf"}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not PromptSet.objects.exists()


def test_api_root_lists_endpoints(client):
    body = client.get("/api/v1/").json()

    assert set(body) == {"models", "prompt-sets", "runs", "benchmark-results", "studies", "annotate/studies", "reports"}


def test_unknown_api_url_gets_json_404(client):
    response = client.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response.json()["errors"] == [{"field": None, "message": "Not found.", "code": "not_found"}]


def test_malformed_uuid_in_url_gets_404(client):
    response = client.get("/api/v1/models/not-a-uuid/")

    assert response.status_code == 404
    assert response.json()["detail"] == "Not found."


def test_unknown_uuid_gets_404(client):
    response = client.get(f"/api/v1/runs/{MISSING_UUID}/")

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


def test_browsable_api_renders_html(client):
    run = make_run(make_prompt_set(name="three"))
    urls = [
        "/api/v1/",
        "/api/v1/models/",
        f"/api/v1/models/{run.model.uuid}/",
        "/api/v1/prompt-sets/",
        f"/api/v1/prompt-sets/{run.prompt_set.uuid}/",
        f"/api/v1/prompt-sets/{run.prompt_set.uuid}/prompts/",
        "/api/v1/runs/",
        f"/api/v1/runs/{run.uuid}/",
        f"/api/v1/runs/{run.uuid}/responses/",
    ]

    for url in urls:
        response = client.get(url, HTTP_ACCEPT="text/html")
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith("text/html"), url


# Models

MODEL_FIELDS = {
    "name": "Quillon-Chat",
    "source": "/models/quillon",
    "gguf_file": "quillon.Q4.gguf",
    "temperature": 0.7,
    "top_p": 0.9,
    "max_new_tokens": 128,
    "stop_strings": ["\n\nUser:", "</s>"],
    "worker_queue": "gpu-80gb",
}


def test_model_create(client):
    response = client.post("/api/v1/models/", MODEL_FIELDS, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    model = LanguageModel.objects.get()
    assert body["uuid"] == str(model.uuid)
    assert body["backend"] == "transformers"
    assert model.stop_strings == ["\n\nUser:", "</s>"]
    assert model.temperature == 0.7
    assert model.worker_queue == "gpu-80gb"
    assert "id" not in body


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"temperature": -1}, "temperature", "Temperature must be a finite number of 0 or more"),
        ({"top_p": 7}, "top_p", "Top p must be greater than 0 and at most 1"),
        ({"repetition_penalty": 0}, "repetition_penalty", "Repetition penalty must be"),
        ({"max_new_tokens": 0}, "max_new_tokens", "Max new tokens must be at least 1"),
        ({"max_new_tokens": 2**31}, "max_new_tokens", "less than or equal to 2147483647"),
        ({"temperature": "warm"}, "temperature", "A valid number is required"),
        ({"worker_queue": "gpu 80gb"}, "worker_queue", "A worker queue name uses letters"),
        ({"stop_strings": ["ok", ""]}, "stop_strings[1]", "may not be blank"),
        ({"backend": "magic"}, "backend", "is not a valid choice"),
        ({"prompt_template": "no placeholder", "use_chat_template": False}, "prompt_template", "{prompt}"),
        ({"gguf_file": "../elsewhere/w.gguf"}, "gguf_file", "not a path"),
        ({"backend": "openai", "base_url": ""}, "base_url", "API root"),
        ({"name": ""}, "name", "may not be blank"),
    ],
)
def test_model_create_rejects_bad_field(client, fields, field, message):
    response = client.post("/api/v1/models/", {**MODEL_FIELDS, **fields}, format="json")

    assert response.status_code == 400
    errors = field_errors(response)
    assert field in errors, errors
    assert any(message in text for text in errors[field]), errors
    assert response.json()["detail"].startswith(f"{field}: ")
    assert not LanguageModel.objects.exists()


def test_model_create_rejects_duplicate_name(client):
    LanguageModel.objects.create(name="Quillon-Chat", source="/w")

    response = client.post("/api/v1/models/", MODEL_FIELDS, format="json")

    assert response.status_code == 400
    assert "name" in field_errors(response)
    assert LanguageModel.objects.count() == 1


def test_model_create_rejects_nan_json(client):
    body = json.dumps({**MODEL_FIELDS, "temperature": float("nan")})

    response = client.post("/api/v1/models/", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "parse_error"
    assert not LanguageModel.objects.exists()


def test_model_errors_list_every_field(client):
    response = client.post("/api/v1/models/", {**MODEL_FIELDS, "temperature": -1, "top_p": 0}, format="json")

    assert set(field_errors(response)) == {"temperature", "top_p"}
    assert response.json()["detail"].endswith("(and 1 more error)")


def test_model_retrieve_by_uuid(client):
    model = LanguageModel.objects.create(name="Quillon-Chat", source="/w", seed=7)

    response = client.get(f"/api/v1/models/{model.uuid}/")

    assert response.status_code == 200
    assert response.json()["seed"] == 7


def test_model_partial_update(client):
    model = LanguageModel.objects.create(name="Quillon-Chat", source="/w")

    response = client.patch(f"/api/v1/models/{model.uuid}/", {"temperature": 1.0, "seed": 3}, format="json")

    assert response.status_code == 200
    model.refresh_from_db()
    assert (model.temperature, model.seed) == (1.0, 3)


def test_model_update_rejects_bad_value(client):
    model = LanguageModel.objects.create(name="Quillon-Chat", source="/w", temperature=0.5)

    response = client.patch(f"/api/v1/models/{model.uuid}/", {"temperature": -2}, format="json")

    assert response.status_code == 400
    assert "temperature" in field_errors(response)
    model.refresh_from_db()
    assert model.temperature == 0.5


def test_model_update_checks_against_stored_fields(client):
    """A patch that sets only the backend is checked with the stored base URL, which is empty."""
    model = LanguageModel.objects.create(name="Quillon-Chat", source="/w")

    response = client.patch(f"/api/v1/models/{model.uuid}/", {"backend": "openai"}, format="json")

    assert response.status_code == 400
    assert "base_url" in field_errors(response)
    model.refresh_from_db()
    assert model.backend == "transformers"


def test_model_full_update(client):
    model = LanguageModel.objects.create(name="Quillon-Chat", source="/w")

    response = client.put(f"/api/v1/models/{model.uuid}/", {**MODEL_FIELDS, "source": "/new"}, format="json")

    assert response.status_code == 200
    model.refresh_from_db()
    assert model.source == "/new"


def test_model_delete_not_allowed(client):
    model = LanguageModel.objects.create(name="Quillon-Chat", source="/w")

    response = client.delete(f"/api/v1/models/{model.uuid}/")

    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "method_not_allowed"
    assert LanguageModel.objects.exists()


# Pagination


def test_list_paginates_by_50(client):
    LanguageModel.objects.bulk_create(LanguageModel(name=f"Model-{index:03d}", source="/w") for index in range(60))

    first = client.get("/api/v1/models/").json()
    second = client.get(first["next"]).json()

    assert first["count"] == 60
    assert len(first["results"]) == 50
    assert first["results"][0]["name"] == "Model-000"
    assert len(second["results"]) == 10
    assert second["next"] is None


def test_page_size_parameter_is_capped(client):
    prompt_set = PromptSet.objects.create(name="big")
    Prompt.objects.bulk_create(Prompt(prompt_set=prompt_set, position=i, text=f"Prompt {i}") for i in range(520))
    url = f"/api/v1/prompt-sets/{prompt_set.uuid}/prompts/"

    small = client.get(url, {"page_size": 7}).json()
    capped = client.get(url, {"page_size": 100000}).json()

    assert len(small["results"]) == 7
    assert len(capped["results"]) == 500
    assert capped["count"] == 520


def test_page_out_of_range_gets_404(client):
    response = client.get("/api/v1/models/", {"page": 3})

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


# Prompt sets and prompt imports

GOOD_JSONL = (
    '{"id": "q1", "text": "Say hello.", "category": "writing", "language": "en"}\n'
    '{"id": "q2", "text": "用一句话解释光合作用。", "category": "knowledge", "language": "zh-Hans"}\n'
    '{"id": "q3", "turns": ["Name a colour.", "And another?"]}\n'
)


def test_prompt_set_create_and_retrieve(client):
    created = client.post("/api/v1/prompt-sets/", {"name": "core", "description": "Mixed prompts."}, format="json")
    retrieved = client.get(f"/api/v1/prompt-sets/{created.json()['uuid']}/")

    assert created.status_code == 201
    assert created.json()["prompt_count"] == 0
    assert retrieved.json()["name"] == "core"
    assert retrieved.json()["description"] == "Mixed prompts."


def test_prompt_set_create_rejects_duplicate_name(client):
    PromptSet.objects.create(name="core")

    response = client.post("/api/v1/prompt-sets/", {"name": "core"}, format="json")

    assert response.status_code == 400
    assert "name" in field_errors(response)


def test_prompt_import_adds_prompts(client):
    prompt_set = PromptSet.objects.create(name="core")

    response = client.post(
        f"/api/v1/prompt-sets/{prompt_set.uuid}/import/",
        {"file": upload("prompts.jsonl", GOOD_JSONL)},
        format="multipart",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["imported"] == 3
    assert response.json()["prompt_set"]["prompt_count"] == 3
    assert response.json()["prompt_set"]["source"] == "prompts.jsonl"
    prompts = client.get(f"/api/v1/prompt-sets/{prompt_set.uuid}/prompts/").json()["results"]
    assert [p["external_id"] for p in prompts] == ["q1", "q2", "q3"]
    assert prompts[1]["text"] == "用一句话解释光合作用。"
    assert prompts[2]["follow_up_turns"] == ["And another?"]


def test_prompt_import_csv_with_default_language(client):
    prompt_set = PromptSet.objects.create(name="csv")
    csv_text = "id,text,category\na,First prompt,writing\nb,第二个提示,knowledge\n"

    response = client.post(
        f"/api/v1/prompt-sets/{prompt_set.uuid}/import/",
        {"file": upload("prompts.csv", csv_text), "language": "en", "first_turn_only": "true"},
        format="multipart",
    )

    assert response.status_code == 201, response.json()
    assert list(prompt_set.prompts.values_list("language", flat=True)) == ["en", "en"]


def test_prompt_import_bad_file_changes_nothing(client):
    prompt_set = PromptSet.objects.create(name="core")
    bad = '{"id": "q1", "text": "Fine."}\n{"id": "q2"}\n{"id": "q3", "text": "Hi", "language": "not a code"}\n'

    response = client.post(
        f"/api/v1/prompt-sets/{prompt_set.uuid}/import/", {"file": upload("bad.jsonl", bad)}, format="multipart"
    )

    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "bad.jsonl: 2 errors, nothing imported."
    assert [(e["field"], e["line"], e["code"]) for e in body["errors"]] == [
        ("file", 2, "invalid_file"),
        ("file", 3, "invalid_file"),
    ]
    assert "field 'text' is missing or empty" in body["errors"][0]["message"]
    assert "field 'language'" in body["errors"][1]["message"]
    assert not Prompt.objects.exists()
    prompt_set.refresh_from_db()
    assert prompt_set.source == ""


def test_prompt_import_rejects_unknown_file_type(client):
    prompt_set = PromptSet.objects.create(name="core")

    response = client.post(
        f"/api/v1/prompt-sets/{prompt_set.uuid}/import/",
        {"file": upload("prompts.txt", "Say hi.\n")},
        format="multipart",
    )

    assert response.status_code == 400
    assert "unknown file type '.txt'" in response.json()["errors"][0]["message"]
    assert "line" not in response.json()["errors"][0]
    assert not Prompt.objects.exists()


def test_prompt_import_needs_a_file(client):
    prompt_set = PromptSet.objects.create(name="core")

    response = client.post(f"/api/v1/prompt-sets/{prompt_set.uuid}/import/", {"language": "en"}, format="multipart")

    assert response.status_code == 400
    assert "file" in field_errors(response)


def test_prompt_import_rejects_bad_language(client):
    prompt_set = PromptSet.objects.create(name="core")

    response = client.post(
        f"/api/v1/prompt-sets/{prompt_set.uuid}/import/",
        {"file": upload("p.jsonl", GOOD_JSONL), "language": "english please"},
        format="multipart",
    )

    assert response.status_code == 400
    assert field_errors(response)["language"] == ["Enter a BCP 47 language code such as en or zh-Hans."]
    assert not Prompt.objects.exists()


def test_prompt_import_appends_after_existing(client):
    prompt_set = make_prompt_set(name="core", prompts=("Old one.", "Old two."))

    response = client.post(
        f"/api/v1/prompt-sets/{prompt_set.uuid}/import/", {"file": upload("more.jsonl", GOOD_JSONL)}, format="multipart"
    )

    assert response.status_code == 201, response.json()
    texts = list(prompt_set.prompts.order_by("position").values_list("position", "text"))
    assert texts[:3] == [(0, "Old one."), (1, "Old two."), (2, "Say hello.")]
    assert len(texts) == 5


def test_prompt_import_rejects_id_already_in_set(client):
    prompt_set = PromptSet.objects.create(name="core")
    Prompt.objects.create(prompt_set=prompt_set, position=0, external_id="q2", text="Existing.")

    response = client.post(
        f"/api/v1/prompt-sets/{prompt_set.uuid}/import/", {"file": upload("more.jsonl", GOOD_JSONL)}, format="multipart"
    )

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["line"] == 2
    assert "'q2' is already used" in error["message"]
    assert prompt_set.prompts.count() == 1


def test_prompt_import_rejects_set_with_runs(client):
    prompt_set = make_prompt_set(name="answered")
    make_run(prompt_set)

    response = client.post(
        f"/api/v1/prompt-sets/{prompt_set.uuid}/import/", {"file": upload("more.jsonl", GOOD_JSONL)}, format="multipart"
    )

    assert response.status_code == 400
    assert "has generation runs" in response.json()["errors"][0]["message"]
    assert prompt_set.prompts.count() == 3


# Generation runs: creating and starting


@pytest.mark.django_db(transaction=True)
def test_run_create_queues_and_completes(client, server, run_threads):
    """A run created through the API is started on commit and answers every prompt in the background thread."""
    prompt_set = make_prompt_set(name="three")
    model = served_model(server, temperature=0.3, max_new_tokens=32, seed=5)

    response = client.post(
        "/api/v1/runs/",
        {"model": str(model.uuid), "prompt_set": str(prompt_set.uuid), "label": "t=0.3", "max_new_tokens": 16},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    run = GenerationRun.objects.get(uuid=body["uuid"])
    assert body["system_name"] == "Vextrel-Served t=0.3"
    assert body["model"] == str(model.uuid)
    assert body["progress"]["total"] == 3
    # Defaults come from the model; the override wins.
    assert (run.temperature, run.seed, run.max_new_tokens) == (0.3, 5, 16)

    wait_for_run_thread(run_threads, run)

    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.responses.count() == 3
    assert {request["body"]["max_tokens"] for request in server.requests} == {16}
    progress = client.get(f"/api/v1/runs/{run.uuid}/").json()["progress"]
    assert progress["done"] == progress["total"] == 3
    assert progress["tokens"] == 9
    assert progress["tokens_per_second"] > 0
    assert progress["seconds_left"] == 0


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"temperature": -0.5}, "temperature", "Temperature must be a finite number"),
        ({"top_p": 1.5}, "top_p", "Top p must be"),
        ({"max_new_tokens": 0}, "max_new_tokens", "Max new tokens must be at least 1"),
        ({"batch_size": 0}, "batch_size", "greater than or equal to 1"),
        ({"prompt_limit": -1}, "prompt_limit", "greater than or equal to 1"),
        ({"seed": 2**40}, "seed", "less than or equal to"),
        ({"model": MISSING_UUID}, "model", f"No object with UUID {MISSING_UUID}"),
        ({"model": "Vextrel-Served"}, "model", "Must be a UUID"),
        ({"prompt_set": None}, "prompt_set", "may not be null"),
        ({"label": "x" * 101}, "label", "no more than 100 characters"),
    ],
)
def test_run_create_rejects_bad_field(client, server, fields, field, message):
    prompt_set = make_prompt_set(name="three")
    model = served_model(server)
    data = {"model": str(model.uuid), "prompt_set": str(prompt_set.uuid), **fields}

    response = client.post("/api/v1/runs/", data, format="json")

    assert response.status_code == 400
    errors = field_errors(response)
    assert any(message in text for text in errors.get(field, [])), errors
    assert not GenerationRun.objects.exists()


def test_run_create_rejects_model_default_that_is_invalid(client, server):
    """A model stored with a bad default (as before validators existed) is caught when a run is created."""
    prompt_set = make_prompt_set(name="three")
    model = served_model(server)
    LanguageModel.objects.filter(pk=model.pk).update(top_p=3.0)

    response = client.post("/api/v1/runs/", {"model": str(model.uuid), "prompt_set": str(prompt_set.uuid)})

    assert response.status_code == 400
    assert "Top p must be" in field_errors(response)["top_p"][0]
    assert not GenerationRun.objects.exists()


def test_run_create_rejects_imported_model(client):
    prompt_set = make_prompt_set(name="three")
    model = LanguageModel.objects.create(name="Elsewhere", source="x", backend=Backend.IMPORTED)

    response = client.post("/api/v1/runs/", {"model": str(model.uuid), "prompt_set": str(prompt_set.uuid)})

    assert response.status_code == 400
    assert "imported backend" in field_errors(response)["model"][0]
    assert not GenerationRun.objects.exists()


def test_run_create_rejects_existing_label(client, server, django_capture_on_commit_callbacks):
    prompt_set = make_prompt_set(name="three")
    model = served_model(server)
    existing = GenerationRun.objects.create(model=model, prompt_set=prompt_set, label="greedy")

    with django_capture_on_commit_callbacks() as queued:
        response = client.post(
            "/api/v1/runs/", {"model": str(model.uuid), "prompt_set": str(prompt_set.uuid), "label": "greedy"}
        )

    assert response.status_code == 400
    assert str(existing.uuid) in field_errors(response)["label"][0]
    assert GenerationRun.objects.count() == 1
    assert queued == []


def test_run_create_queues_one_start(client, server, django_capture_on_commit_callbacks):
    """Creating a run registers exactly one start for after the commit; a failed validation registers none."""
    prompt_set = make_prompt_set(name="three")
    model = served_model(server)
    data = {"model": str(model.uuid), "prompt_set": str(prompt_set.uuid)}

    with django_capture_on_commit_callbacks() as rejected:
        client.post("/api/v1/runs/", {**data, "temperature": -1}, format="json")
    with django_capture_on_commit_callbacks() as accepted:
        response = client.post("/api/v1/runs/", data, format="json")

    assert rejected == []
    assert response.status_code == 201
    assert len(accepted) == 1


@pytest.mark.django_db(transaction=True)
def test_run_start_resumes_failed_run(client, server, run_threads):
    prompt_set = make_prompt_set(name="three")
    run = GenerationRun.objects.create(
        model=served_model(server), prompt_set=prompt_set, status=RunStatus.FAILED, error="RuntimeError: earlier"
    )
    first = prompt_set.prompts.get(position=0)
    Response.objects.create(run=run, prompt=first, text="kept", token_count=1, finish_reason=FinishReason.STOP)

    response = client.post(f"/api/v1/runs/{run.uuid}/start/", {}, format="json")

    assert response.status_code == 202, response.json()
    wait_for_run_thread(run_threads, run)
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert run.error == ""
    assert run.responses.count() == 3
    assert run.responses.get(prompt=first).text == "kept"
    assert len(server.requests) == 2


def test_run_start_refuses_running_run_without_force(client, server, django_capture_on_commit_callbacks):
    run = GenerationRun.objects.create(model=served_model(server), prompt_set=make_prompt_set(name="three"))
    claim_run(run.pk, task_id="live-task")

    with django_capture_on_commit_callbacks() as queued:
        response = client.post(f"/api/v1/runs/{run.uuid}/start/", {}, format="json")

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "conflict"
    assert '"force": true' in response.json()["detail"]
    assert queued == []
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert run.worker_task_id == "live-task"


@pytest.mark.django_db(transaction=True)
def test_run_start_force_takes_over_running_run(client, server, run_threads):
    run = GenerationRun.objects.create(model=served_model(server), prompt_set=make_prompt_set(name="three"))
    claim_run(run.pk, task_id="dead-task")

    response = client.post(f"/api/v1/runs/{run.uuid}/start/", {"force": True}, format="json")

    assert response.status_code == 202, response.json()
    wait_for_run_thread(run_threads, run)
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert run.worker_task_id == ""
    assert run.responses.count() == 3


def test_run_start_refuses_completed_run(client):
    run = make_run(make_prompt_set(name="three"))

    response = client.post(f"/api/v1/runs/{run.uuid}/start/", {}, format="json")

    assert response.status_code == 409
    assert "every prompt has a response" in response.json()["detail"]


def test_run_start_rejects_bad_force_value(client):
    run = make_run(make_prompt_set(name="three"))

    response = client.post(f"/api/v1/runs/{run.uuid}/start/", {"force": "maybe"}, format="json")

    assert response.status_code == 400
    assert "force" in field_errors(response)


def test_run_start_wrong_method(client):
    run = make_run(make_prompt_set(name="three"))

    assert client.get(f"/api/v1/runs/{run.uuid}/start/").status_code == 405


# Generation runs: reading


def test_run_progress_fields(client):
    """Progress reads the stored responses and generation time: 10 tokens in 2 s, 1 of 3 prompts done."""
    prompt_set = make_prompt_set(name="three")
    model = LanguageModel.objects.create(name="Partial", source="/w")
    run = GenerationRun.objects.create(
        model=model, prompt_set=prompt_set, status=RunStatus.FAILED, generated_seconds=2.0
    )
    Response.objects.create(
        run=run, prompt=prompt_set.prompts.first(), text="a", token_count=10, finish_reason=FinishReason.STOP
    )

    body = client.get(f"/api/v1/runs/{run.uuid}/").json()

    assert body["status"] == "failed"
    assert body["progress"] == {
        "done": 1,
        "total": 3,
        "tokens": 10,
        "seconds": 2.0,
        "tokens_per_second": 5.0,
        "seconds_left": 4.0,
    }
    assert body["flag_counts"] == {"empty": 0, "cut_off": 0, "identical": 0}


def test_run_progress_before_first_batch(client):
    run = GenerationRun.objects.create(
        model=LanguageModel.objects.create(name="Fresh", source="/w"),
        prompt_set=make_prompt_set(name="three"),
        prompt_limit=2,
    )

    progress = client.get(f"/api/v1/runs/{run.uuid}/").json()["progress"]

    assert progress["total"] == 2
    assert progress["tokens_per_second"] is None
    assert progress["seconds_left"] is None


def test_run_list_filters(client):
    first_set = make_prompt_set(name="first")
    second_set = make_prompt_set(name="second")
    a = make_run(first_set, model_name="Model-A")
    b = make_run(second_set, model_name="Model-B")
    pending = GenerationRun.objects.create(model=a.model, prompt_set=second_set, label="later")

    def listed(**params):
        return [run["uuid"] for run in client.get("/api/v1/runs/", params).json()["results"]]

    assert listed() == [str(a.uuid), str(pending.uuid), str(b.uuid)]
    assert listed(model=str(a.model.uuid)) == [str(a.uuid), str(pending.uuid)]
    assert listed(prompt_set=str(second_set.uuid)) == [str(pending.uuid), str(b.uuid)]
    assert listed(status="pending") == [str(pending.uuid)]
    assert listed(model=str(a.model.uuid), status="completed") == [str(a.uuid)]
    assert listed(model=MISSING_UUID) == []


@pytest.mark.parametrize(("params", "field"), [({"status": "sleeping"}, "status"), ({"model": "Model-A"}, "model")])
def test_run_list_rejects_bad_filter(client, params, field):
    response = client.get("/api/v1/runs/", params)

    assert response.status_code == 400
    assert field in field_errors(response)


def test_run_list_query_count_is_constant(client, django_assert_max_num_queries):
    prompt_set = make_prompt_set(name="three")
    for index in range(8):
        make_run(prompt_set, model_name=f"Model-{index}")

    # Session and user, count, and one query for the page with its progress subqueries.
    with django_assert_max_num_queries(4):
        response = client.get("/api/v1/runs/")

    assert response.json()["count"] == 8


# Responses


def test_responses_listed_with_flags(client):
    prompt_set = make_prompt_set(name="three")
    run = make_run(prompt_set, model_name="Model-A", answers={0: "Same answer.", 1: "  \n", 2: "Unique."})
    make_run(prompt_set, model_name="Model-B", answers={0: "Same answer.", 1: "Other.", 2: "Different."})
    run.responses.filter(prompt__position=2).update(finish_reason=FinishReason.LENGTH)

    body = client.get(f"/api/v1/runs/{run.uuid}/responses/").json()

    assert body["count"] == 3
    assert [(r["prompt_external_id"], r["flags"]) for r in body["results"]] == [
        ("p0", ["identical"]),
        ("p1", ["empty"]),
        ("p2", ["cut_off"]),
    ]
    detail = client.get(f"/api/v1/runs/{run.uuid}/").json()
    assert detail["flag_counts"] == {"empty": 1, "cut_off": 1, "identical": 1}


def test_responses_filtered_by_flag(client):
    prompt_set = make_prompt_set(name="three")
    run = make_run(prompt_set, answers={0: "A.", 1: "", 2: "C."})

    body = client.get(f"/api/v1/runs/{run.uuid}/responses/", {"flag": "empty"}).json()

    assert [r["prompt_position"] for r in body["results"]] == [1]


def test_responses_reject_unknown_flag(client):
    run = make_run(make_prompt_set(name="three"))

    response = client.get(f"/api/v1/runs/{run.uuid}/responses/", {"flag": "boring"})

    assert response.status_code == 400
    assert "flag" in field_errors(response)


def test_responses_paginate(client):
    prompt_set = make_prompt_set(name="many", prompts=[f"Prompt {i}" for i in range(5)])
    run = make_run(prompt_set)

    body = client.get(f"/api/v1/runs/{run.uuid}/responses/", {"page_size": 2, "page": 3}).json()

    assert body["count"] == 5
    assert [r["prompt_position"] for r in body["results"]] == [4]
    assert body["next"] is None


def test_responses_are_read_only(client):
    run = make_run(make_prompt_set(name="three"))

    response = client.post(f"/api/v1/runs/{run.uuid}/responses/", {"text": "forged"}, format="json")

    assert response.status_code == 405
    assert not run.responses.filter(text="forged").exists()


# Response imports

ANSWERS_JSONL = '{"id": "p0", "response": "Hello!"}\n{"id": "p1", "response": "光合作用把光能变成化学能。"}\n'


def test_response_import_creates_completed_run(client):
    prompt_set = make_prompt_set(name="three")
    model = LanguageModel.objects.create(name="Elsewhere", source="x", backend=Backend.IMPORTED)

    response = client.post(
        "/api/v1/runs/import-responses/",
        {
            "file": upload("answers.jsonl", ANSWERS_JSONL),
            "model": str(model.uuid),
            "prompt_set": str(prompt_set.uuid),
            "label": "v1",
        },
        format="multipart",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["imported"], body["unanswered"]) == (2, 1)
    assert body["run"]["status"] == "completed"
    assert body["run"]["system_name"] == "Elsewhere v1"
    run = GenerationRun.objects.get(uuid=body["run"]["uuid"])
    assert run.responses.get(prompt__external_id="p1").text == "光合作用把光能变成化学能。"


def test_response_import_bad_file_changes_nothing(client):
    prompt_set = make_prompt_set(name="three")
    model = LanguageModel.objects.create(name="Elsewhere", source="x", backend=Backend.IMPORTED)
    bad = '{"id": "p0", "response": "Fine."}\n{"id": "p9", "response": "No such prompt."}\n{"id": "p1"}\n'

    response = client.post(
        "/api/v1/runs/import-responses/",
        {"file": upload("answers.jsonl", bad), "model": str(model.uuid), "prompt_set": str(prompt_set.uuid)},
        format="multipart",
    )

    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "answers.jsonl: 2 errors, nothing imported."
    assert [error["line"] for error in body["errors"]] == [2, 3]
    assert "field 'id' 'p9'" in body["errors"][0]["message"]
    assert "field 'response' is missing" in body["errors"][1]["message"]
    assert not GenerationRun.objects.exists()
    assert not Response.objects.exists()


def test_response_import_json_array_errors_name_index(client):
    prompt_set = make_prompt_set(name="three")
    model = LanguageModel.objects.create(name="Elsewhere", source="x", backend=Backend.IMPORTED)
    bad = json.dumps([{"instruction": "Say hello.", "output": "Hi."}, {"instruction": "Nope.", "output": "x"}])

    response = client.post(
        "/api/v1/runs/import-responses/",
        {"file": upload("outputs.json", bad), "model": str(model.uuid), "prompt_set": str(prompt_set.uuid)},
        format="multipart",
    )

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["index"] == 1
    assert not GenerationRun.objects.exists()


def test_response_import_rejects_unknown_model(client):
    prompt_set = make_prompt_set(name="three")

    response = client.post(
        "/api/v1/runs/import-responses/",
        {"file": upload("answers.jsonl", ANSWERS_JSONL), "model": MISSING_UUID, "prompt_set": str(prompt_set.uuid)},
        format="multipart",
    )

    assert response.status_code == 400
    assert "model" in field_errors(response)
    assert not GenerationRun.objects.exists()


def test_response_import_rejects_run_with_responses(client):
    prompt_set = make_prompt_set(name="three")
    existing = make_run(prompt_set, label="imported")

    response = client.post(
        "/api/v1/runs/import-responses/",
        {
            "file": upload("answers.jsonl", ANSWERS_JSONL),
            "model": str(existing.model.uuid),
            "prompt_set": str(prompt_set.uuid),
        },
        format="multipart",
    )

    assert response.status_code == 400
    assert "already has responses" in response.json()["errors"][0]["message"]
    assert existing.responses.count() == 3
