"""The audit log: each create, open, pause, reopen, close, export, delete and erasure leaves one entry."""

import io
import textwrap

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from annotate.audit import record_event
from annotate.erasure import erase_annotator
from annotate.lifecycle import close_study, open_draft_study, pause_study, reopen_study
from annotate.models import AuditAction, AuditEvent, Study
from generation.models import GenerationRun, LanguageModel, PromptSet
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(db):
    return make_user("audit-root", superuser=True)


@pytest.fixture
def root_client(client, root):
    client.force_login(root)
    return client


@pytest.fixture
def api(root):
    client = APIClient()
    client.force_authenticate(root)
    return client


@pytest.fixture
def draft_study(prompt_set):
    return make_study([make_run(prompt_set), make_run(prompt_set)])


def _events(action=None):
    events = AuditEvent.objects.order_by("pk")
    return list(events.filter(action=action) if action else events)


def _only(action):
    (event,) = _events(action)
    return event


# The recording function


def test_record_event_describes_object(root, draft_study):
    event = record_event(root, AuditAction.CHANGED, draft_study, {"field": "overlap"})

    event.refresh_from_db()
    assert event.actor == root
    assert event.action == AuditAction.CHANGED
    assert event.object_type == "annotate.study"
    assert event.object_id == str(draft_study.uuid)
    assert event.object_repr == draft_study.name
    assert event.details == {"field": "overlap"}


def test_record_event_anonymous_actor_stored_empty(draft_study):
    event = record_event(AnonymousUser(), AuditAction.OPENED, draft_study)

    assert event.actor is None


def test_record_event_rejects_unknown_action(root, draft_study):
    with pytest.raises(ValueError):
        record_event(root, "renamed", draft_study)

    assert not AuditEvent.objects.exists()


# Study lifecycle, as service calls


def test_lifecycle_functions_record_actor(root, draft_study):
    open_draft_study(draft_study, actor=root)
    pause_study(draft_study, actor=root)
    reopen_study(draft_study, actor=root)
    close_study(draft_study, actor=root)

    assert [event.action for event in _events()] == ["opened", "paused", "reopened", "closed"]
    assert {event.actor for event in _events()} == {root}
    assert _only(AuditAction.OPENED).details == {"items_created": 3}


def test_refused_change_records_nothing(root, draft_study):
    with pytest.raises(Exception, match="only an open study can be paused"):
        pause_study(draft_study, actor=root)

    assert not AuditEvent.objects.exists()


# Admin


def _action(client, name, studies):
    return client.post(
        reverse("admin:annotate_study_changelist"),
        {"action": name, "_selected_action": [study.pk for study in studies]},
        follow=True,
    )


def test_admin_actions_recorded(root_client, root, draft_study):
    for name in ("open_selected", "pause_selected", "reopen_selected", "close_selected"):
        assert _action(root_client, name, [draft_study]).status_code == 200

    assert [event.action for event in _events()] == ["opened", "paused", "reopened", "closed"]
    assert all(event.actor == root for event in _events())


def test_admin_create_recorded(root_client, root, prompt_set):
    runs = [make_run(prompt_set), make_run(prompt_set)]
    form = {
        "name": "Audited form study",
        "kind": "pairwise",
        "prompt_set": prompt_set.pk,
        "systems": [run.pk for run in runs],
        "instructions": "",
        "overlap": 1,
        "lease_minutes": 30,
        "gold_rate": 0.1,
        "qualification_min_gold": 5,
        "status": "draft",
        "criteria-TOTAL_FORMS": 1,
        "criteria-INITIAL_FORMS": 0,
        "criteria-MIN_NUM_FORMS": 0,
        "criteria-MAX_NUM_FORMS": 1000,
        "criteria-0-position": 0,
        "criteria-0-name": "overall",
        "criteria-0-question": "Which is better?",
        "criteria-0-scale_min": 1,
        "criteria-0-scale_max": 5,
    }

    root_client.post(reverse("admin:annotate_study_add"), form, follow=True)

    event = _only(AuditAction.CREATED)
    assert event.object_id == str(Study.objects.get(name="Audited form study").uuid)
    assert event.details == {"via": "admin"}
    assert event.actor == root


def test_admin_delete_study_recorded(root_client, root, draft_study):
    uuid = str(draft_study.uuid)

    response = root_client.post(reverse("admin:annotate_study_delete", args=[draft_study.pk]), {"post": "yes"})

    assert response.status_code == 302
    event = _only(AuditAction.DELETED)
    assert (event.object_type, event.object_id, event.object_repr) == ("annotate.study", uuid, draft_study.name)
    assert event.actor == root


@pytest.mark.parametrize("kind", ["model", "prompt set", "run"])
def test_admin_delete_selected_generation_objects_recorded(root_client, root, kind):
    # Each object is created without a run, because runs protect their model and prompt set from deletion.
    if kind == "model":
        target = LanguageModel.objects.create(name="Deletedmodel", source="/nonexistent")
    elif kind == "prompt set":
        target = make_prompt_set()
    else:
        target = make_run(make_prompt_set())
    model = type(target)
    url = reverse(f"admin:generation_{model._meta.model_name}_changelist")

    response = root_client.post(url, {"action": "delete_selected", "_selected_action": [target.pk], "post": "yes"})

    assert response.status_code == 302
    assert not model.objects.filter(pk=target.pk).exists()
    deleted = [event for event in _events(AuditAction.DELETED) if event.object_type == model._meta.label_lower]
    assert [event.object_id for event in deleted] == [str(target.uuid)]
    assert deleted[0].actor == root


def test_admin_delete_run_page_recorded(root_client, root):
    run = make_run(make_prompt_set())

    root_client.post(reverse("admin:generation_generationrun_delete", args=[run.pk]), {"post": "yes"})

    assert not GenerationRun.objects.filter(pk=run.pk).exists()
    assert _only(AuditAction.DELETED).object_id == str(run.uuid)


def test_protected_delete_leaves_no_entry(root_client, prompt_set, draft_study):
    """A prompt set that a study uses cannot be deleted, so no deletion is recorded."""
    url = reverse("admin:generation_promptset_changelist")

    root_client.post(url, {"action": "delete_selected", "_selected_action": [prompt_set.pk], "post": "yes"})

    assert PromptSet.objects.filter(pk=prompt_set.pk).exists()
    assert not _events(AuditAction.DELETED)


# REST API


def test_api_create_and_lifecycle_recorded(api, root, prompt_set):
    runs = [make_run(prompt_set), make_run(prompt_set)]
    body = {
        "name": "API audited",
        "kind": "pairwise",
        "prompt_set": str(prompt_set.uuid),
        "systems": [str(run.uuid) for run in runs],
        "criteria": [{"name": "overall", "question": "Which is better?"}],
    }
    created = api.post("/api/v1/studies/", body, format="json")
    assert created.status_code == 201, created.content
    base = f"/api/v1/studies/{created.json()['uuid']}/"

    for step in ("open", "pause", "reopen", "close"):
        assert api.post(base + f"{step}/").status_code == 200, step

    assert [event.action for event in _events()] == ["created", "opened", "paused", "reopened", "closed"]
    assert all(event.actor == root for event in _events())
    assert _only(AuditAction.CREATED).details == {"via": "api"}


def test_api_refused_change_records_nothing(api, draft_study):
    response = api.post(f"/api/v1/studies/{draft_study.uuid}/pause/")

    assert response.status_code == 409
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    "suffix, file",
    [
        ("judgments-csv/", "judgments.csv"),
        ("gold-judgments-csv/", "gold-judgments.csv"),
        ("rankings-csv/", "rankings.csv"),
        ("rankings/", "rankings.json"),
    ],
)
def test_api_exports_recorded(api, root, pairwise_study, suffix, file):
    response = api.get(f"/api/v1/reports/{pairwise_study.uuid}/{suffix}")

    assert response.status_code == 200
    event = _only(AuditAction.EXPORTED)
    assert event.details["file"] == file
    assert event.object_id == str(pairwise_study.uuid)
    assert event.actor == root


def test_api_metadata_not_recorded(api, pairwise_study):
    api.get(f"/api/v1/reports/{pairwise_study.uuid}/judgments-csv/metadata/")

    assert not AuditEvent.objects.exists()


# Report downloads


@pytest.mark.parametrize(
    "name, file",
    [
        ("reports:judgments_csv", "judgments.csv"),
        ("reports:gold_judgments_csv", "gold-judgments.csv"),
        ("reports:rankings_csv", "rankings.csv"),
        ("reports:rankings_json", "rankings.json"),
        ("reports:benchmarks_csv", "benchmarks.csv"),
    ],
)
def test_report_downloads_recorded(root_client, root, pairwise_study, name, file):
    response = root_client.get(reverse(name, args=[pairwise_study.uuid]))

    assert response.status_code == 200
    event = _only(AuditAction.EXPORTED)
    assert event.details["file"] == file
    assert event.actor == root


def test_names_request_recorded(root_client, pairwise_study):
    root_client.get(reverse("reports:judgments_csv", args=[pairwise_study.uuid]) + "?names=show")

    assert _only(AuditAction.EXPORTED).details == {"file": "judgments.csv", "annotator_names": True}


# create_study


def test_create_study_command_recorded(tmp_path):
    prompt_set = make_prompt_set(name="audit-prompts")
    make_run(prompt_set, model_name="Auditmodel-A")
    make_run(prompt_set, model_name="Auditmodel-B")
    spec = tmp_path / "study.yaml"
    spec.write_text(
        textwrap.dedent(
            """
            name: Spec audited
            kind: pairwise
            prompt_set: audit-prompts
            systems:
              - model: Auditmodel-A
              - model: Auditmodel-B
            criteria:
              - name: overall
                question: Which answer is better?
            """
        ),
        encoding="utf-8",
    )

    call_command("create_study", str(spec), "--open", stdout=io.StringIO())

    created, opened = _only(AuditAction.CREATED), _only(AuditAction.OPENED)
    assert created.actor is None
    assert created.details["via"] == "create_study"
    assert opened.details["items_created"] == Study.objects.get(name="Spec audited").items.count()


def test_create_study_check_records_nothing(tmp_path):
    prompt_set = make_prompt_set(name="audit-prompts-2")
    make_run(prompt_set, model_name="Checkmodel-A")
    make_run(prompt_set, model_name="Checkmodel-B")
    spec = tmp_path / "study.yaml"
    spec.write_text(
        "name: Checked only\nkind: pairwise\nprompt_set: audit-prompts-2\n"
        "systems:\n  - model: Checkmodel-A\n  - model: Checkmodel-B\n"
        "criteria:\n  - name: overall\n    question: Which?\n",
        encoding="utf-8",
    )

    call_command("create_study", str(spec), "--check", stdout=io.StringIO())

    assert not AuditEvent.objects.exists()


# Erasure


def test_erasure_recorded(root):
    person = make_user("to-be-erased")

    erase_annotator(person, actor=root)

    event = _only(AuditAction.ERASED)
    assert event.actor == root
    assert "to-be-erased" not in event.object_repr


# The admin page


def test_audit_page_lists_and_filters(root_client, root, draft_study):
    pause_target = make_study([make_run(draft_study.prompt_set), make_run(draft_study.prompt_set)])
    open_draft_study(draft_study, actor=root)
    open_draft_study(pause_target)
    url = reverse("admin:annotate_auditevent_changelist")

    everything = root_client.get(url)
    by_root = root_client.get(url, {"actor__id__exact": root.pk})
    opened = root_client.get(url, {"action__exact": "opened", "object_type": "annotate.study"})
    in_chinese = root_client.get(url, headers={"accept-language": "zh-hans"})

    assert everything.status_code == 200
    assert everything.context["cl"].result_count == 2
    assert by_root.context["cl"].result_count == 1
    assert opened.context["cl"].result_count == 2
    assert draft_study.name in everything.text
    assert in_chinese.status_code == 200


def test_audit_page_read_only(root_client, root, draft_study):
    event = record_event(root, AuditAction.CHANGED, draft_study)

    add = root_client.get(reverse("admin:annotate_auditevent_add"))
    change = root_client.post(reverse("admin:annotate_auditevent_change", args=[event.pk]), {"object_repr": "x"})
    delete = root_client.post(reverse("admin:annotate_auditevent_delete", args=[event.pk]), {"post": "yes"})

    assert add.status_code == 403
    assert change.status_code == 403
    assert delete.status_code == 403
    event.refresh_from_db()
    assert event.object_repr == draft_study.name


def test_audit_page_for_site_admins_only(client, draft_study):
    manager = make_user("audit-manager", staff=True)
    draft_study.managers.add(manager)
    client.force_login(manager)

    response = client.get(reverse("admin:annotate_auditevent_changelist"))

    assert response.status_code == 403


def test_language_model_kept_when_not_deleted(root_client):
    """Opening a model's delete page without confirming records nothing."""
    model = LanguageModel.objects.create(name="Keptmodel", source="/nonexistent")

    root_client.get(reverse("admin:generation_languagemodel_delete", args=[model.pk]))

    assert not AuditEvent.objects.exists()
