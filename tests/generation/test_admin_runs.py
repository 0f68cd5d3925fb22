"""Generation in the admin: starting and taking over runs, progress, file imports and access."""

import json
import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from generation.models import Backend, GenerationRun, LanguageModel, Prompt, PromptSet, Response, RunStatus
from tests.factories import make_prompt_set, make_run, make_user

pytestmark = pytest.mark.django_db

# Bound on the wait for a background thread to claim a run and fail it; the
# multi-turn check fails it before any model is loaded.
THREAD_TIMEOUT = 30

RUNS_URL = "admin:generation_generationrun_changelist"


@pytest.fixture
def staff_client(client):
    client.force_login(get_user_model().objects.create_superuser("gen-admin-root", password="pw-for-tests"))
    return client


@pytest.fixture
def base_model():
    """A base model without a chat template: it cannot answer follow-up turns, which stops a run before loading."""
    return LanguageModel.objects.create(
        name="Wenthrax-Base",
        source="/nonexistent/weights",
        use_chat_template=False,
        prompt_template="Q: {prompt}\nA:",
        temperature=0.7,
        top_p=0.9,
        max_new_tokens=64,
        repetition_penalty=1.1,
        seed=42,
    )


def multi_turn_prompt_set():
    prompt_set = make_prompt_set(prompts=("First question.",))
    Prompt.objects.filter(prompt_set=prompt_set).update(follow_up_turns=["A follow-up question."])
    return prompt_set


def run_action(client, action, runs, **extra):
    data = {"action": action, "_selected_action": [run.pk for run in runs], **extra}
    return client.post(reverse(RUNS_URL), data, follow=True)


def join_run_threads(timeout=THREAD_TIMEOUT):
    """Wait until every background thread that eager mode started for a run has ended.

    The test reads the database only afterwards, because the in-memory SQLite
    test database fails a write at once (instead of waiting) while another
    connection reads the same table.
    """
    deadline = time.monotonic() + timeout
    threads = [thread for thread in threading.enumerate() if thread.name.startswith("generation-run-")]
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            raise TimeoutError(f"Thread {thread.name} still runs after {timeout} s.")


def upload(name, text):
    return SimpleUploadedFile(name, text.encode("utf-8"))


# Starting runs


@pytest.mark.django_db(transaction=True)
def test_add_run_starts_it(staff_client, base_model):
    prompt_set = multi_turn_prompt_set()

    response = staff_client.post(
        reverse("admin:generation_generationrun_add"),
        {"model": base_model.pk, "prompt_set": prompt_set.pk, "label": "greedy", "batch_size": 8},
    )
    join_run_threads()

    assert response.status_code == 302
    messages = staff_client.get(response["Location"]).text
    assert "Started “Wenthrax-Base greedy” in this server process: 1 of 1 prompts to answer." in messages
    # The background thread claimed the run and stored why it cannot generate.
    run = GenerationRun.objects.get(model=base_model, label="greedy")
    assert run.status == RunStatus.FAILED
    assert run.started_at is not None
    assert "no chat template" in run.error


def test_add_form_takes_model_defaults(staff_client, base_model, django_capture_on_commit_callbacks):
    prompt_set = make_prompt_set()

    with django_capture_on_commit_callbacks() as callbacks:
        staff_client.post(
            reverse("admin:generation_generationrun_add"),
            {"model": base_model.pk, "prompt_set": prompt_set.pk, "label": "", "batch_size": 4},
        )

    run = GenerationRun.objects.get(model=base_model)
    assert run.temperature == 0.7
    assert run.top_p == 0.9
    assert run.max_new_tokens == 64
    assert run.repetition_penalty == 1.1
    assert run.seed == 42
    assert len(callbacks) == 1


def test_add_form_value_overrides_default(staff_client, base_model, django_capture_on_commit_callbacks):
    prompt_set = make_prompt_set()

    with django_capture_on_commit_callbacks():
        staff_client.post(
            reverse("admin:generation_generationrun_add"),
            {
                "model": base_model.pk,
                "prompt_set": prompt_set.pk,
                "label": "greedy",
                "temperature": "0",
                "max_new_tokens": "16",
                "batch_size": 4,
            },
        )

    run = GenerationRun.objects.get(model=base_model)
    assert run.temperature == 0.0
    assert run.max_new_tokens == 16
    assert run.top_p == 0.9


def test_add_page_prefills_model_defaults(staff_client, base_model):
    response = staff_client.get(reverse("admin:generation_generationrun_add") + f"?model={base_model.pk}")

    assert response.status_code == 200
    assert 'name="temperature" value="0.7"' in response.text
    assert 'name="max_new_tokens" value="64"' in response.text
    assert "Leave empty to use the model's default." in response.text


def test_add_page_without_model_leaves_decoding_empty(staff_client):
    response = staff_client.get(reverse("admin:generation_generationrun_add"))

    assert 'name="temperature" value=' not in response.text
    assert 'name="batch_size" value="8"' in response.text


def test_add_rejects_imported_model(staff_client, django_capture_on_commit_callbacks):
    model = LanguageModel.objects.create(name="Ostrivel-Imported", source="elsewhere", backend=Backend.IMPORTED)
    prompt_set = make_prompt_set()

    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post(
            reverse("admin:generation_generationrun_add"),
            {"model": model.pk, "prompt_set": prompt_set.pk, "label": "", "batch_size": 8},
        )

    assert response.status_code == 200
    assert "has imported answers only, so it cannot generate" in response.text
    assert not GenerationRun.objects.exists()
    assert callbacks == []


def test_start_action_starts_pending_run(staff_client, base_model, django_capture_on_commit_callbacks):
    run = GenerationRun.objects.create(model=base_model, prompt_set=make_prompt_set(), label="a")

    with django_capture_on_commit_callbacks() as callbacks:
        response = run_action(staff_client, "start_selected", [run])

    assert "Started “Wenthrax-Base a” in this server process: 3 of 3 prompts to answer." in response.text
    assert len(callbacks) == 1


def test_start_action_names_worker_queue(staff_client, base_model, settings, django_capture_on_commit_callbacks):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    base_model.worker_queue = "gpu-a"
    base_model.save()
    queued = GenerationRun.objects.create(model=base_model, prompt_set=make_prompt_set(), label="a")
    default_model = LanguageModel.objects.create(name="Pellucor-Chat", source="/nonexistent/weights")
    default = GenerationRun.objects.create(model=default_model, prompt_set=make_prompt_set(), label="b")

    # The callbacks would publish to a broker, so they are captured and not run.
    with django_capture_on_commit_callbacks() as callbacks:
        response = run_action(staff_client, "start_selected", [queued, default])

    assert "Sent “Wenthrax-Base a” to worker queue gpu-a: 3 of 3 prompts to answer." in response.text
    assert "Sent “Pellucor-Chat b” to the default worker queue: 3 of 3 prompts to answer." in response.text
    assert len(callbacks) == 2


def test_start_action_reports_each_run(staff_client, base_model, django_capture_on_commit_callbacks):
    prompt_set = make_prompt_set()
    running = GenerationRun.objects.create(
        model=base_model, prompt_set=prompt_set, label="running", status=RunStatus.RUNNING
    )
    complete = make_run(prompt_set, model_name="Kestrivon-Chat")
    partial = make_run(prompt_set, model_name="Dravenholt-Chat")
    partial.responses.first().delete()
    imported_model = LanguageModel.objects.create(name="Ostrivel-Imported", source="x", backend=Backend.IMPORTED)
    imported = GenerationRun.objects.create(model=imported_model, prompt_set=prompt_set, status=RunStatus.FAILED)

    with django_capture_on_commit_callbacks() as callbacks:
        response = run_action(staff_client, "start_selected", [running, complete, partial, imported])

    text = response.text
    assert "“Wenthrax-Base running” is already running" in text
    assert "use “Take over the selected running runs”" in text
    assert "“Kestrivon-Chat” is complete: all 3 prompts have a response." in text
    assert "Started “Dravenholt-Chat” in this server process: 1 of 3 prompts to answer." in text
    assert "“Ostrivel-Imported” is a model with imported answers, so it cannot generate." in text
    # Only the incomplete run was started; the running one keeps its status.
    assert len(callbacks) == 1
    running.refresh_from_db()
    assert running.status == RunStatus.RUNNING


def test_take_over_asks_for_confirmation(staff_client, base_model, django_capture_on_commit_callbacks):
    run = GenerationRun.objects.create(
        model=base_model, prompt_set=make_prompt_set(), status=RunStatus.RUNNING, worker_task_id="dead-task-1"
    )

    with django_capture_on_commit_callbacks() as callbacks:
        response = run_action(staff_client, "take_over_selected", [run])

    assert response.status_code == 200
    assert "Use it only when the process that ran the run is dead" in response.text
    assert "HUMEVAL_BROKER_VISIBILITY_TIMEOUT" in response.text
    assert "worker task dead-task-1" in response.text
    assert 'name="post" value="yes"' in response.text
    assert callbacks == []


def test_take_over_refuses_run_not_running(staff_client, base_model, django_capture_on_commit_callbacks):
    run = GenerationRun.objects.create(model=base_model, prompt_set=make_prompt_set(), status=RunStatus.FAILED)

    confirmation = run_action(staff_client, "take_over_selected", [run])
    with django_capture_on_commit_callbacks() as callbacks:
        response = run_action(staff_client, "take_over_selected", [run], post="yes")

    assert "None of the selected runs is running" in confirmation.text
    assert 'value="Yes, take them over"' not in confirmation.text
    assert "is not running, so there is nothing to take over" in response.text
    assert callbacks == []


@pytest.mark.django_db(transaction=True)
def test_take_over_restarts_running_run(staff_client, base_model):
    run = GenerationRun.objects.create(
        model=base_model, prompt_set=multi_turn_prompt_set(), status=RunStatus.RUNNING, worker_task_id="dead-task-2"
    )

    data = {"action": "take_over_selected", "_selected_action": [run.pk], "post": "yes"}
    response = staff_client.post(reverse(RUNS_URL), data)
    join_run_threads()

    messages = staff_client.get(response["Location"]).text
    assert "Started “Wenthrax-Base” in this server process: 1 of 1 prompts to answer." in messages
    # Without force the claim would fail and the run would stay running.
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.worker_task_id == ""
    assert "no chat template" in run.error


def test_start_action_refused_to_annotators(client, base_model, django_capture_on_commit_callbacks):
    client.force_login(make_user())
    run = GenerationRun.objects.create(model=base_model, prompt_set=make_prompt_set())

    with django_capture_on_commit_callbacks() as callbacks:
        response = run_action(client, "start_selected", [run])

    # The admin sends a user without the study manager role to its sign-in page; nothing starts.
    assert reverse("admin:login") in response.redirect_chain[-1][0]
    assert callbacks == []
    run.refresh_from_db()
    assert run.status == RunStatus.PENDING


# Progress


def test_change_page_shows_progress(staff_client):
    run = make_run(make_prompt_set())
    run.responses.first().delete()
    GenerationRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, generated_seconds=2.0)

    response = staff_client.get(reverse("admin:generation_generationrun_change", args=[run.pk]))

    assert response.status_code == 200
    assert "2/3" in response.text
    # Two responses of 5 tokens each in 2 seconds; one prompt left at 1 s per prompt.
    assert "5.0" in response.text
    assert "0:00:01" in response.text
    assert reverse("admin:generation_generationrun_progress", args=[run.pk]) in response.text


def test_progress_page_reloads_while_running(staff_client):
    run = make_run(make_prompt_set())
    run.responses.first().delete()
    GenerationRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, generated_seconds=2.0)

    response = staff_client.get(reverse("admin:generation_generationrun_progress", args=[run.pk]))

    assert response.status_code == 200
    assert '<meta http-equiv="refresh" content="5">' in response.text
    assert "2 of 3 prompts answered" in response.text
    assert '<progress id="run-progress" value="2" max="3">' in response.text
    assert "<script>" not in response.text


def test_progress_page_stops_reloading_when_done(staff_client):
    run = make_run(make_prompt_set())

    response = staff_client.get(reverse("admin:generation_generationrun_progress", args=[run.pk]))

    assert 'http-equiv="refresh"' not in response.text
    assert "3 of 3 prompts answered" in response.text


def test_progress_page_unknown_run(staff_client):
    response = staff_client.get(reverse("admin:generation_generationrun_progress", args=[987654]))

    assert response.status_code in (302, 404)


# Importing prompts


PROMPTS_CSV = "id,category,language,text\nq1,maths,en,What is 2+2?\nq2,写作,zh-Hans,写一首短诗。\n"
BAD_PROMPTS_CSV = "id,category,language,text\nq1,maths,en,What is 2+2?\nq2,maths,not a code,Why?\n"


def test_import_prompts_page_imports_file(staff_client):
    response = staff_client.post(
        reverse("admin:generation_promptset_import"),
        {"name": "uploaded", "description": "", "language": "", "file": upload("prompts.csv", PROMPTS_CSV)},
        follow=True,
    )

    prompt_set = PromptSet.objects.get(name="uploaded")
    assert "Imported 2 prompts into prompt set “uploaded”." in response.text
    assert prompt_set.source == "prompts.csv"
    assert list(prompt_set.prompts.values_list("text", flat=True)) == ["What is 2+2?", "写一首短诗。"]


def test_import_prompts_bad_file_changes_nothing(staff_client):
    response = staff_client.post(
        reverse("admin:generation_promptset_import"),
        {"name": "uploaded", "file": upload("prompts.csv", BAD_PROMPTS_CSV)},
    )

    assert response.status_code == 200
    assert "prompts.csv: 1 error, nothing imported." in response.text
    assert "line 3: field &#x27;language&#x27; &#x27;not a code&#x27; is not a BCP 47 code" in response.text
    assert not PromptSet.objects.exists()
    assert not Prompt.objects.exists()


def test_import_prompts_rejects_used_name(staff_client):
    make_prompt_set(name="taken")

    response = staff_client.post(
        reverse("admin:generation_promptset_import"),
        {"name": "taken", "file": upload("prompts.csv", PROMPTS_CSV)},
    )

    assert "A prompt set named “taken” exists already." in response.text
    assert PromptSet.objects.count() == 1


def test_import_prompts_rejects_unknown_file_type(staff_client):
    response = staff_client.post(
        reverse("admin:generation_promptset_import"),
        {"name": "uploaded", "file": upload("prompts.xlsx", PROMPTS_CSV)},
    )

    assert "prompts.xlsx: 1 error, nothing imported." in response.text
    assert "unknown file type" in response.text
    assert not PromptSet.objects.exists()


def test_prompt_set_list_links_import_page(staff_client):
    response = staff_client.get(reverse("admin:generation_promptset_changelist"))

    assert reverse("admin:generation_promptset_import") in response.text


# Importing responses


def answers_jsonl(rows):
    return "\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n"


@pytest.fixture
def imported_model():
    return LanguageModel.objects.create(name="Qzvexa-Imported", source="elsewhere", backend=Backend.IMPORTED)


def test_import_responses_page_imports_file(staff_client, imported_model):
    prompt_set = make_prompt_set()
    rows = [{"id": "p0", "response": "Hello."}, {"id": "p1", "response": "光合作用把光变成化学能。"}]

    response = staff_client.post(
        reverse("admin:generation_generationrun_import"),
        {
            "model": imported_model.pk,
            "prompt_set": prompt_set.pk,
            "label": "imported",
            "file": upload("answers.jsonl", answers_jsonl(rows)),
        },
        follow=True,
    )

    run = GenerationRun.objects.get(model=imported_model)
    assert run.status == RunStatus.COMPLETED
    assert run.responses.count() == 2
    assert "Imported 2 responses into run “Qzvexa-Imported imported”." in response.text
    assert "1 prompt of prompt set" in response.text


def test_import_responses_bad_file_changes_nothing(staff_client, imported_model):
    prompt_set = make_prompt_set()
    rows = [{"id": "p0", "response": "Hello."}, {"id": "p1", "response": ""}, {"id": "p9", "response": "Hi."}]

    response = staff_client.post(
        reverse("admin:generation_generationrun_import"),
        {
            "model": imported_model.pk,
            "prompt_set": prompt_set.pk,
            "label": "imported",
            "file": upload("answers.jsonl", answers_jsonl(rows)),
        },
    )

    assert response.status_code == 200
    assert "answers.jsonl: 2 errors, nothing imported." in response.text
    assert "line 2: field &#x27;response&#x27; is empty" in response.text
    assert "line 3: field &#x27;id&#x27; &#x27;p9&#x27; is not the id of any prompt" in response.text
    assert not GenerationRun.objects.exists()
    assert not Response.objects.exists()


def test_run_list_links_import_page(staff_client):
    response = staff_client.get(reverse(RUNS_URL))

    assert reverse("admin:generation_generationrun_import") in response.text


# Models


def test_model_admin_shows_worker_queue(staff_client, base_model):
    base_model.worker_queue = "gpu-80gb"
    base_model.save()

    changelist = staff_client.get(reverse("admin:generation_languagemodel_changelist"))
    change = staff_client.get(reverse("admin:generation_languagemodel_change", args=[base_model.pk]))

    assert "gpu-80gb" in changelist.text
    assert 'name="worker_queue"' in change.text
    for field in ("gguf_file", "revision", "base_url", "dtype", "prompt_template", "stop_strings", "seed"):
        assert f'name="{field}"' in change.text
    assert reverse("admin:generation_generationrun_add") + f"?model={base_model.pk}" in change.text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"worker_queue": "gpu a; rm"}, "A worker queue name uses letters, digits"),
        ({"prompt_template": "no placeholder", "use_chat_template": ""}, "must contain {prompt}"),
        ({"prompt_template": "Q: {prompt}", "use_chat_template": "on"}, "either its chat template or a prompt"),
        ({"gguf_file": "../weights.gguf"}, "not a path"),
        ({"backend": "openai"}, "needs the server&#x27;s API root"),
    ],
)
def test_model_admin_rejects_bad_settings(staff_client, fields, message):
    data = {
        "name": "Brastic-Chat",
        "backend": "transformers",
        "source": "/models/brastic",
        "dtype": "auto",
        "use_chat_template": "on",
        "stop_strings": "[]",
        "temperature": "0",
        "top_p": "1",
        "max_new_tokens": "256",
        "repetition_penalty": "1",
        "seed": "0",
        **fields,
    }

    response = staff_client.post(reverse("admin:generation_languagemodel_add"), data)

    assert response.status_code == 200
    assert message in response.text
    assert not LanguageModel.objects.exists()


# Access


def admin_pages(run):
    return [
        reverse("admin:generation_promptset_import"),
        reverse("admin:generation_generationrun_import"),
        reverse("admin:generation_generationrun_progress", args=[run.pk]),
    ]


@pytest.mark.parametrize("staff", [False, None], ids=["annotator", "anonymous"])
def test_pages_need_staff(client, staff):
    run = make_run(make_prompt_set())
    if staff is not None:
        client.force_login(make_user(staff=staff))

    for url in admin_pages(run):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url


def test_non_staff_post_imports_nothing(client, imported_model):
    client.force_login(make_user())
    prompt_set = make_prompt_set()

    client.post(reverse("admin:generation_promptset_import"), {"name": "x", "file": upload("p.csv", PROMPTS_CSV)})
    client.post(
        reverse("admin:generation_generationrun_import"),
        {
            "model": imported_model.pk,
            "prompt_set": prompt_set.pk,
            "file": upload("a.jsonl", answers_jsonl([{"id": "p0", "response": "Hi."}])),
        },
    )

    assert list(PromptSet.objects.values_list("name", flat=True)) == [prompt_set.name]
    assert not GenerationRun.objects.exists()


def test_annotator_sent_to_admin_login(client):
    client.force_login(make_user())
    run = make_run(make_prompt_set())

    for url in admin_pages(run):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("admin:login")), url
