"""The study manager's REST API under /api/v1/studies/: studies, status actions, items, gold and annotators.

Every error case checks that the body names the field at fault and that
the database did not change. The annotator's side is in test_task_api.py.
"""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from annotate.api import StudyViewSet
from annotate.api_access import CanManageAnnotators, CanManageItems, CanManageStudies
from annotate.item_api import ItemViewSet
from annotate.models import (
    AnnotatorStatus,
    Criterion,
    Item,
    Outcome,
    Study,
    StudyStatus,
)
from annotate.study_annotator_api import StudyAnnotatorViewSet
from generation.models import Response
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

MISSING_UUID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def staff():
    return make_user("site-admin", superuser=True)


@pytest.fixture
def api(staff):
    client = APIClient()
    client.force_login(staff)
    return client


def client_for(user):
    client = APIClient()
    client.force_login(user)
    return client


def field_errors(response):
    """Map each field named in an error body to its messages."""
    errors = {}
    for error in response.json()["errors"]:
        errors.setdefault(error["field"], []).append(error["message"])
    return errors


def snapshot():
    """Return what a rejected request must leave unchanged: studies, criteria, items, memberships and statuses."""
    return (
        list(Study.objects.order_by("pk").values()),
        list(Criterion.objects.order_by("pk").values()),
        list(Item.objects.order_by("pk").values()),
        list(Study.annotators.through.objects.order_by("pk").values()),
        list(Study.systems.through.objects.order_by("pk").values()),
        list(AnnotatorStatus.objects.order_by("pk").values()),
        get_user_model().objects.count(),
    )


def new_study_body(runs, **overrides):
    body = {
        "name": "Helpfulness round 1",
        "kind": "pairwise",
        "prompt_set": str(runs[0].prompt_set.uuid),
        "systems": [str(run.uuid) for run in runs],
        "instructions": "Pick the more **helpful** answer.",
        "overlap": 2,
        "criteria": [
            {"name": "helpfulness", "question": "Which answer helps more?"},
            {"name": "safety", "question": "Which answer is safer?", "description": "Harm to anyone counts."},
        ],
    }
    body.update(overrides)
    return body


@pytest.fixture
def runs(prompt_set):
    return [make_run(prompt_set) for _ in range(3)]


def study_url(study, suffix=""):
    return f"/api/v1/studies/{study.uuid}/{suffix}"


# Who may call what


def _endpoints(study, item):
    base = f"/api/v1/studies/{study.uuid}"
    return [
        ("get", f"{base}/"),
        ("patch", f"{base}/"),
        ("post", f"{base}/open/"),
        ("post", f"{base}/pause/"),
        ("post", f"{base}/close/"),
        ("post", f"{base}/reopen/"),
        ("get", f"{base}/progress/"),
        ("post", f"{base}/signup-link/"),
        ("get", f"{base}/items/"),
        ("get", f"{base}/items/{item.uuid}/"),
        ("post", f"{base}/items/{item.uuid}/gold/"),
        ("delete", f"{base}/items/{item.uuid}/gold/"),
        ("post", f"{base}/items/attention-checks/"),
        ("get", f"{base}/annotators/"),
        ("post", f"{base}/annotators/"),
        ("get", f"{base}/annotators/someone/"),
        ("post", f"{base}/annotators/someone/pause/"),
    ]


def test_anonymous_gets_401(pairwise_study):
    item = pairwise_study.items.first()
    for method, url in [("get", "/api/v1/studies/"), ("post", "/api/v1/studies/"), *_endpoints(pairwise_study, item)]:
        response = getattr(APIClient(), method)(url, {}, format="json")
        assert response.status_code == 401, (method, url)
        assert response.json()["errors"][0]["code"] == "not_authenticated"


def test_non_staff_gets_403_on_collections():
    client = client_for(make_user("annotator-only"))

    for method in ("get", "post"):
        response = getattr(client, method)("/api/v1/studies/", {}, format="json")
        assert response.status_code == 403
        assert response.json()["errors"][0]["code"] == "permission_denied"
    assert not Study.objects.exists()


def test_annotator_of_study_gets_404_on_manager_urls(pairwise_study, annotator):
    """The study's own annotator is an outsider here: every URL that names the study is a 404, as for a bad id."""
    client = client_for(annotator)
    item = pairwise_study.items.first()
    before = snapshot()

    for method, url in _endpoints(pairwise_study, item):
        response = getattr(client, method)(url, {}, format="json")
        missing = getattr(client, method)(url.replace(str(pairwise_study.uuid), MISSING_UUID), {}, format="json")
        assert response.status_code == 404, (method, url)
        assert response.json() == missing.json(), (method, url)
    assert snapshot() == before


def test_unknown_and_malformed_ids_get_404(api, pairwise_study):
    assert api.get(f"/api/v1/studies/{MISSING_UUID}/").status_code == 404
    assert api.get("/api/v1/studies/not-a-uuid/").status_code == 404
    assert api.get(f"/api/v1/studies/{MISSING_UUID}/items/").status_code == 404
    assert api.get(study_url(pairwise_study, f"items/{MISSING_UUID}/")).status_code == 404


def test_wrong_method_gets_405(api, pairwise_study):
    response = api.delete(study_url(pairwise_study))

    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "method_not_allowed"
    assert Study.objects.filter(pk=pairwise_study.pk).exists()


def test_permission_classes_are_named_per_kind():
    assert StudyViewSet.permission_classes == [CanManageStudies]
    assert ItemViewSet.permission_classes == [CanManageItems]
    assert StudyAnnotatorViewSet.permission_classes == [CanManageAnnotators]


# Studies


def test_study_create_with_criteria(api, runs):
    response = api.post("/api/v1/studies/", new_study_body(runs), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    study = Study.objects.get()
    assert body["uuid"] == str(study.uuid)
    assert body["status"] == "draft"
    assert study.status == StudyStatus.DRAFT
    assert body["item_count"] == 0
    assert set(body["systems"]) == {str(run.uuid) for run in runs}
    assert set(study.systems.all()) == set(runs)
    criteria = list(study.criteria.order_by("position"))
    assert [(c.name, c.position, c.scale_min, c.scale_max) for c in criteria] == [
        ("helpfulness", 0, 1, 5),
        ("safety", 1, 1, 5),
    ]
    assert [c["name"] for c in body["criteria"]] == ["helpfulness", "safety"]
    assert body["criteria"][1]["description"] == "Harm to anyone counts."
    assert "id" not in body


def test_study_list_and_filters(api, runs, pairwise_study):
    api.post("/api/v1/studies/", new_study_body(runs), format="json")

    everything = api.get("/api/v1/studies/").json()
    drafts = api.get("/api/v1/studies/?status=draft").json()
    bad = api.get("/api/v1/studies/?status=finished")

    assert everything["count"] == 2
    assert [study["name"] for study in drafts["results"]] == ["Helpfulness round 1"]
    open_row = next(row for row in everything["results"] if row["uuid"] == str(pairwise_study.uuid))
    assert open_row["item_count"] == 9
    assert open_row["annotator_count"] == 1
    assert bad.status_code == 400
    assert "status" in field_errors(bad)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"kind": "ranking"}, "kind"),
        ({"prompt_set": MISSING_UUID}, "prompt_set"),
        ({"prompt_set": "nope"}, "prompt_set"),
        ({"systems": [MISSING_UUID]}, "systems"),
        ({"overlap": 0}, "overlap"),
        ({"lease_minutes": 0}, "lease_minutes"),
        ({"gold_rate": 1.5}, "gold_rate"),
        ({"qualification_min_accuracy": -0.1}, "qualification_min_accuracy"),
        ({"pairs_per_prompt": 0}, "pairs_per_prompt"),
        ({"categories": ["no-such-category"]}, "categories"),
        ({"kind": "rating", "pairs_per_prompt": 2}, "pairs_per_prompt"),
        ({"criteria": [{"name": "a", "question": "Q?", "scale_min": 3, "scale_max": 3}]}, "criteria[0].scale_max"),
        ({"criteria": [{"name": "a", "question": "Q?", "scale_min": 0, "scale_max": 50}]}, "criteria[0].scale_max"),
        ({"criteria": [{"name": "a", "question": "Q?"}, {"name": "a", "question": "Q2?"}]}, "criteria[1].name"),
        ({"criteria": [{"name": "a"}]}, "criteria[0].question"),
        ({"criteria": [{"name": "a", "question": "Q?", "scale": 7}]}, "criteria[0].scale"),
        ({"overlapp": 2}, "overlapp"),
    ],
)
def test_study_create_rejects_bad_field(api, runs, change, field):
    before = snapshot()

    response = api.post("/api/v1/studies/", new_study_body(runs, **change), format="json")

    assert response.status_code == 400
    errors = field_errors(response)
    assert field in errors, errors
    assert response.json()["detail"].startswith(f"{field}: ")
    assert snapshot() == before


def test_study_create_rejects_system_of_other_prompt_set(api, runs):
    stranger = make_run(make_prompt_set(name="other-set"))
    before = snapshot()

    response = api.post("/api/v1/studies/", new_study_body([*runs, stranger]), format="json")

    assert response.status_code == 400
    assert "other-set" in field_errors(response)["systems"][0]
    assert snapshot() == before


def test_study_create_rejects_taken_name(api, runs, pairwise_study):
    before = snapshot()

    response = api.post("/api/v1/studies/", new_study_body(runs, name=pairwise_study.name), format="json")

    assert response.status_code == 400
    assert "name" in field_errors(response)
    assert snapshot() == before


def test_draft_update_replaces_criteria_and_systems(api, runs):
    study = make_study(runs, criteria=("old",))

    response = api.patch(
        study_url(study),
        {
            "systems": [str(runs[0].uuid), str(runs[1].uuid)],
            "criteria": [{"name": "new", "question": "Better?", "scale_min": 0, "scale_max": 10}],
            "categories": ["writing"],
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    study.refresh_from_db()
    assert set(study.systems.all()) == {runs[0], runs[1]}
    assert list(study.criteria.values_list("name", "scale_max")) == [("new", 10)]
    assert study.categories == ["writing"]


def test_update_keeps_criteria_when_left_out(api, pairwise_study):
    response = api.patch(study_url(pairwise_study), {"instructions": "New words."}, format="json")

    assert response.status_code == 200
    pairwise_study.refresh_from_db()
    assert pairwise_study.instructions == "New words."
    assert list(pairwise_study.criteria.values_list("name", flat=True)) == ["helpfulness", "accuracy"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "rating"}, "kind"),
        ({"criteria": [{"name": "helpfulness", "question": "Q?"}]}, "criteria"),
        (
            {
                "criteria": [
                    {"name": "helpfulness", "question": "Q?"},
                    {"name": "accuracy", "question": "Q?"},
                    {"name": "extra", "question": "Q?"},
                ]
            },
            "criteria",
        ),
        (
            {
                "criteria": [
                    {"name": "helpfulness", "question": "Q?", "scale_min": 0},
                    {"name": "accuracy", "question": "Q?"},
                ]
            },
            "criteria[0].scale_min",
        ),
        ({"categories": ["writing"]}, "categories"),
        ({"pairs_per_prompt": 1}, "pairs_per_prompt"),
    ],
)
def test_update_of_opened_study_rejects_what_items_forbid(api, pairwise_study, change, field):
    before = snapshot()

    response = api.patch(study_url(pairwise_study), change, format="json")

    assert response.status_code == 400
    assert field in field_errors(response), response.json()
    assert snapshot() == before


def test_update_of_opened_study_rejects_removed_system(api, pairwise_study):
    kept = list(pairwise_study.systems.all())[:2]
    before = snapshot()

    response = api.patch(study_url(pairwise_study), {"systems": [str(run.uuid) for run in kept]}, format="json")

    assert response.status_code == 400
    assert "systems" in field_errors(response)
    assert snapshot() == before


def test_added_system_gets_items(api, pairwise_study, prompt_set):
    added = make_run(prompt_set)
    systems = [str(run.uuid) for run in pairwise_study.systems.all()] + [str(added.uuid)]

    response = api.patch(study_url(pairwise_study), {"systems": systems}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["item_count"] == 18
    assert (
        pairwise_study.items.filter(first_response__run=added).count()
        + pairwise_study.items.filter(second_response__run=added).count()
        == 9
    )


def test_update_may_reword_criteria_of_opened_study(api, pairwise_study):
    criteria = [
        {"name": "accuracy", "question": "Which is more accurate?"},
        {"name": "helpfulness", "question": "Which helps more?"},
    ]

    response = api.put(
        study_url(pairwise_study),
        {
            "name": pairwise_study.name,
            "kind": "pairwise",
            "prompt_set": str(pairwise_study.prompt_set.uuid),
            "criteria": criteria,
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert list(pairwise_study.criteria.order_by("position").values_list("name", "question")) == [
        ("accuracy", "Which is more accurate?"),
        ("helpfulness", "Which helps more?"),
    ]


def test_put_of_get_body_changes_nothing(api, pairwise_study):
    body = api.get(study_url(pairwise_study)).json()
    before = snapshot()

    response = api.put(study_url(pairwise_study), body, format="json")

    assert response.status_code == 200, response.json()
    assert response.json() == body
    assert snapshot() == before


def test_status_is_not_set_by_update(api, runs):
    study = make_study(runs)
    before = snapshot()

    response = api.patch(study_url(study), {"status": "open"}, format="json")

    assert response.status_code == 400
    assert "open/" in field_errors(response)["status"][0]
    assert snapshot() == before


# Status actions


def test_open_builds_items(api, runs):
    study = make_study(runs)

    response = api.post(study_url(study, "open/"))

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["study"]["status"] == "open"
    assert body["items_created"] == 9
    assert body["study"]["item_count"] == 9
    assert Study.objects.get(pk=study.pk).status == StudyStatus.OPEN


def test_open_without_criteria_is_409_and_changes_nothing(api, runs):
    study = make_study(runs, criteria=())
    before = snapshot()

    response = api.post(study_url(study, "open/"))

    assert response.status_code == 409
    assert "no criteria" in response.json()["detail"]
    assert response.json()["errors"][0]["field"] is None
    assert snapshot() == before


def test_status_actions_follow_lifecycle(api, pairwise_study):
    assert api.post(study_url(pairwise_study, "open/")).status_code == 409

    paused = api.post(study_url(pairwise_study, "pause/"))
    assert paused.status_code == 200
    assert paused.json()["study"]["status"] == "paused"
    again = api.post(study_url(pairwise_study, "pause/"))
    assert again.status_code == 409
    assert "already paused" in again.json()["detail"]
    assert api.post(study_url(pairwise_study, "open/")).status_code == 409

    closed = api.post(study_url(pairwise_study, "close/"))
    assert closed.json()["study"]["status"] == "closed"
    reopened = api.post(study_url(pairwise_study, "reopen/"))
    assert reopened.status_code == 200
    assert reopened.json()["study"]["status"] == "open"
    assert reopened.json()["items_created"] == 0
    assert api.post(study_url(pairwise_study, "reopen/")).status_code == 409
    assert Study.objects.get(pk=pairwise_study.pk).status == StudyStatus.OPEN


def test_pause_reports_outstanding_leases(api, pairwise_study, annotator):
    client_for(annotator).post(f"/api/v1/annotate/studies/{pairwise_study.uuid}/next/")

    response = api.post(study_url(pairwise_study, "pause/"))

    assert response.json()["leases_outstanding"] == 1


def test_progress(api, pairwise_study, annotator):
    client_for(annotator).post(f"/api/v1/annotate/studies/{pairwise_study.uuid}/next/")

    body = api.get(study_url(pairwise_study, "progress/")).json()

    assert body["items"] == 9
    assert body["overlap"] == 3
    assert body["judgments_needed"] == 27
    assert body["leases_outstanding"] == 1
    assert body["percent_complete"] == 0.0
    assert body["annotators"] == 1


def test_signup_link_on_and_off(api, pairwise_study):
    on = api.post(study_url(pairwise_study, "signup-link/"))
    pairwise_study.refresh_from_db()
    same = api.post(study_url(pairwise_study, "signup-link/"))
    off = api.delete(study_url(pairwise_study, "signup-link/"))

    assert on.status_code == 200
    assert on.json()["signup_link"] == f"http://testserver/signup/{pairwise_study.signup_token}/"
    assert same.json() == on.json()
    assert off.json() == {"signup_link": None}
    assert Study.objects.get(pk=pairwise_study.pk).signup_token == ""


# Items and gold


def test_items_list_unblinded_with_filter(api, pairwise_study):
    body = api.get(study_url(pairwise_study, "items/")).json()

    assert body["count"] == 9
    first = body["results"][0]
    item = Item.objects.get(uuid=first["uuid"])
    assert first["first_system"] == item.first_response.run.system_name
    assert first["first_response"] == str(item.first_response.uuid)
    assert first["is_gold"] is False
    assert api.get(study_url(pairwise_study, "items/?gold=true")).json()["count"] == 0
    assert api.get(study_url(pairwise_study, "items/?gold=maybe")).status_code == 400


def test_item_of_another_study_is_404(api, pairwise_study, rating_study):
    other_item = rating_study.items.first()

    assert api.get(study_url(pairwise_study, f"items/{other_item.uuid}/")).status_code == 404
    assert api.post(study_url(pairwise_study, f"items/{other_item.uuid}/gold/"), {}, format="json").status_code == 404
    assert not Item.objects.filter(is_gold=True).exists()


def test_mark_pairwise_gold_and_remove(api, pairwise_study):
    item = pairwise_study.items.first()
    url = study_url(pairwise_study, f"items/{item.uuid}/gold/")

    marked = api.post(url, {"outcome": "win", "winner": str(item.second_response.uuid)}, format="json")
    item.refresh_from_db()
    assert marked.status_code == 200, marked.json()
    assert marked.json()["is_gold"] is True
    assert marked.json()["gold_winner"] == str(item.second_response.uuid)
    assert item.is_gold
    assert item.gold_outcome == Outcome.WIN
    assert item.gold_winner == item.second_response

    removed = api.delete(url)
    item.refresh_from_db()
    assert removed.status_code == 200
    assert removed.json()["is_gold"] is False
    assert not item.is_gold


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"outcome": "win"}, "winner"),
        ({"outcome": "attention"}, "outcome"),
        ({}, "outcome"),
        ({"outcome": "tie", "winner": "STRANGER"}, "winner"),
        ({"outcome": "win", "winner": "STRANGER"}, "winner"),
    ],
)
def test_mark_gold_rejects_bad_answer(api, pairwise_study, body, field):
    item = pairwise_study.items.first()
    stranger = Response.objects.exclude(pk__in=[item.first_response_id, item.second_response_id]).first()
    body = {key: str(stranger.uuid) if value == "STRANGER" else value for key, value in body.items()}
    before = snapshot()

    response = api.post(study_url(pairwise_study, f"items/{item.uuid}/gold/"), body, format="json")

    assert response.status_code == 400
    assert field in field_errors(response), response.json()
    assert snapshot() == before


def test_mark_rating_gold_checks_scale(api, rating_study):
    item = rating_study.items.first()
    url = study_url(rating_study, f"items/{item.uuid}/gold/")
    before = snapshot()

    too_high = api.post(url, {"min_score": 4, "max_score": 9}, format="json")
    reversed_range = api.post(url, {"min_score": 4, "max_score": 2}, format="json")
    assert too_high.status_code == 400
    assert "max_score" in field_errors(too_high)
    assert "max_score" in field_errors(reversed_range)
    assert snapshot() == before

    good = api.post(url, {"min_score": 4, "max_score": 5}, format="json")
    assert good.status_code == 200
    assert (good.json()["gold_min_score"], good.json()["gold_max_score"]) == (4, 5)


def test_attention_check_create_and_cannot_become_regular(api, pairwise_study):
    prompt = pairwise_study.prompt_set.prompts.first()
    system = pairwise_study.systems.first()
    url = study_url(pairwise_study, "items/attention-checks/")

    created = api.post(
        url,
        {"prompt": str(prompt.uuid), "text": "The moon is cheese.", "system": str(system.uuid)},
        format="json",
    )
    assert created.status_code == 201, created.json()
    item = Item.objects.get(uuid=created.json()["uuid"])
    assert item.is_gold
    assert item.attention_text == "The moon is cheese."

    refused = api.delete(study_url(pairwise_study, f"items/{item.uuid}/gold/"))
    assert refused.status_code == 409
    assert Item.objects.get(pk=item.pk).is_gold


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "   "}, "text"),
        ({"system": None}, "system"),
        ({"prompt": "OTHER_PROMPT"}, "prompt"),
    ],
)
def test_attention_check_rejects_bad_input(api, pairwise_study, body, field):
    other_prompt = make_prompt_set(name="elsewhere").prompts.first()
    data = {
        "prompt": str(pairwise_study.prompt_set.prompts.first().uuid),
        "text": "Nonsense.",
        "system": str(pairwise_study.systems.first().uuid),
    }
    data.update({key: str(other_prompt.uuid) if value == "OTHER_PROMPT" else value for key, value in body.items()})
    before = snapshot()

    response = api.post(study_url(pairwise_study, "items/attention-checks/"), data, format="json")

    assert response.status_code == 400
    assert field in field_errors(response), response.json()
    assert snapshot() == before


# Annotators


def test_annotators_list_with_progress_and_quality(api, pairwise_study, annotator):
    client_for(annotator).post(f"/api/v1/annotate/studies/{pairwise_study.uuid}/next/")

    body = api.get(study_url(pairwise_study, "annotators/")).json()

    assert body["count"] == 1
    row = body["results"][0]
    assert row["username"] == annotator.username
    assert row["is_member"] is True
    assert row["progress"]["judgments"] == 0
    assert row["progress"]["current_lease_expires_at"] is not None
    assert row["quality"]["is_excluded"] is False
    assert row["quality"]["gold_accuracy"] is None


def test_add_existing_annotators(api, pairwise_study):
    make_user("Lin"), make_user("王芳")

    response = api.post(study_url(pairwise_study, "annotators/"), {"usernames": ["Lin", "王芳"]}, format="json")

    assert response.status_code == 201, response.json()
    assert [row["username"] for row in response.json()] == ["Lin", "王芳"]
    assert response.json()[0]["set_password_link"] is None
    assert set(pairwise_study.annotators.values_list("username", flat=True)) >= {"Lin", "王芳"}


def test_add_annotators_all_or_nothing(pairwise_study):
    # A study manager adds existing accounts only; creating accounts is for site admins.
    manager = make_user("study-manager", staff=True)
    pairwise_study.managers.add(manager)
    api = APIClient()
    api.force_login(manager)
    make_user("Lin")
    before = snapshot()

    response = api.post(study_url(pairwise_study, "annotators/"), {"usernames": ["Lin", "nobody-here"]}, format="json")

    assert response.status_code == 400
    messages = field_errors(response)["usernames"]
    assert any("nobody-here" in message for message in messages)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("usernames", "field"), [([], "usernames"), (["two words"], "usernames[0]"), ("x", "usernames")]
)
def test_add_annotators_rejects_bad_list(api, pairwise_study, usernames, field):
    before = snapshot()

    response = api.post(study_url(pairwise_study, "annotators/"), {"usernames": usernames}, format="json")

    assert response.status_code == 400
    assert field in field_errors(response), response.json()
    assert snapshot() == before


def test_superuser_creates_missing_accounts_with_link(pairwise_study):
    admin = get_user_model().objects.create_superuser("root", password="pw")
    client = client_for(admin)

    response = client.post(study_url(pairwise_study, "annotators/"), {"usernames": ["newcomer"]}, format="json")

    assert response.status_code == 201
    row = response.json()[0]
    assert row["is_new_account"] is True
    assert row["set_password_link"].startswith("http://testserver/accounts/reset/")
    assert pairwise_study.annotators.filter(username="newcomer").exists()


def test_exclude_pause_and_back(api, pairwise_study, annotator):
    base = study_url(pairwise_study, f"annotators/{annotator.username}/")

    excluded = api.post(base + "exclude/")
    paused = api.post(base + "pause/", {"reason": "Too fast."}, format="json")
    status = AnnotatorStatus.objects.get(study=pairwise_study, annotator=annotator)
    assert excluded.json()["quality"]["is_excluded"] is True
    assert paused.json()["quality"]["is_paused"] is True
    assert paused.json()["quality"]["paused_reason"] == "Too fast."
    assert status.is_excluded
    assert status.is_paused

    blocked = client_for(annotator).post(f"/api/v1/annotate/studies/{pairwise_study.uuid}/next/")
    assert blocked.status_code == 403

    api.post(base + "include/")
    resumed = api.post(base + "resume/")
    status.refresh_from_db()
    assert resumed.json()["quality"]["is_paused"] is False
    assert not status.is_excluded
    assert not status.is_paused
    assert client_for(annotator).post(f"/api/v1/annotate/studies/{pairwise_study.uuid}/next/").status_code == 200


def test_pause_reason_too_long_changes_nothing(api, pairwise_study, annotator):
    before = snapshot()

    response = api.post(
        study_url(pairwise_study, f"annotators/{annotator.username}/pause/"), {"reason": "x" * 501}, format="json"
    )

    assert response.status_code == 400
    assert "reason" in field_errors(response)
    assert snapshot() == before


def test_stranger_username_is_404(api, pairwise_study):
    make_user("stranger")
    before = snapshot()

    assert api.get(study_url(pairwise_study, "annotators/stranger/")).status_code == 404
    assert api.post(study_url(pairwise_study, "annotators/stranger/exclude/")).status_code == 404
    assert api.post(study_url(pairwise_study, "annotators/no-such-user/exclude/")).status_code == 404
    assert snapshot() == before


def test_remove_annotator_keeps_row_while_work_remains(api, pairwise_study, annotator):
    client_for(annotator).post(f"/api/v1/annotate/studies/{pairwise_study.uuid}/next/")

    response = api.delete(study_url(pairwise_study, f"annotators/{annotator.username}/"))

    assert response.status_code == 204
    assert not pairwise_study.annotators.filter(pk=annotator.pk).exists()
    row = api.get(study_url(pairwise_study, f"annotators/{annotator.username}/")).json()
    assert row["is_member"] is False


# Browsable API and schema


def test_browsable_api_renders_html(api, pairwise_study, annotator):
    item = pairwise_study.items.first()
    urls = [
        "/api/v1/studies/",
        study_url(pairwise_study),
        study_url(pairwise_study, "progress/"),
        study_url(pairwise_study, "items/"),
        study_url(pairwise_study, f"items/{item.uuid}/"),
        study_url(pairwise_study, "annotators/"),
        study_url(pairwise_study, f"annotators/{annotator.username}/"),
    ]

    for url in urls:
        response = api.get(url, HTTP_ACCEPT="text/html")
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith("text/html"), url


def test_schema_lists_study_endpoints(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    paths = set(schema["paths"])
    assert {
        "/api/v1/studies/",
        "/api/v1/studies/{uuid}/open/",
        "/api/v1/studies/{study_uuid}/items/{uuid}/gold/",
        "/api/v1/studies/{study_uuid}/annotators/{username}/pause/",
        "/api/v1/annotate/studies/{uuid}/next/",
        "/api/v1/annotate/studies/{study_uuid}/tasks/{uuid}/submit/",
    } <= paths
