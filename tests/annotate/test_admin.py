import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from annotate.assignment import next_assignment, submit_judgment
from annotate.models import Assignment, Study, StudyStatus
from tests.factories import make_run, make_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged_in(client):
    admin = get_user_model().objects.create_superuser("root", password="pw-for-tests")
    client.force_login(admin)
    return client


def _open_action(client, studies):
    return client.post(
        reverse("admin:annotate_study_changelist"),
        {"action": "open_selected", "_selected_action": [study.pk for study in studies]},
        follow=True,
    )


def test_open_action_builds_items(admin_client_logged_in, prompt_set):
    study = make_study([make_run(prompt_set), make_run(prompt_set)])

    response = _open_action(admin_client_logged_in, [study])

    study.refresh_from_db()
    assert study.status == StudyStatus.OPEN
    assert study.items.count() == 3
    assert f"Opened “{study.name}”: 3 new items." in response.text


def test_open_action_reports_error(admin_client_logged_in, prompt_set):
    good = make_study([make_run(prompt_set), make_run(prompt_set)])
    bad = make_study([make_run(prompt_set)])

    response = _open_action(admin_client_logged_in, [good, bad])

    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.status == StudyStatus.DRAFT
    assert good.status == StudyStatus.OPEN
    assert "needs at least 2 systems; it has 1." in response.text


def test_open_study_locks_item_sources(admin_client_logged_in, pairwise_study):
    response = admin_client_logged_in.get(reverse("admin:annotate_study_change", args=[pairwise_study.pk]))

    assert response.status_code == 200
    assert 'name="prompt_set"' not in response.text
    assert 'name="kind"' not in response.text
    assert 'name="overlap"' in response.text


@pytest.mark.parametrize("model_name", ["item", "assignment", "judgment"])
def test_records_are_view_only(admin_client_logged_in, pairwise_study, annotator, model_name):
    assignment = next_assignment(pairwise_study, annotator)
    judgment = submit_judgment(assignment, {"helpfulness": "A", "accuracy": "B"})
    obj = {"item": assignment.item, "assignment": assignment, "judgment": judgment}[model_name]

    change = admin_client_logged_in.get(reverse(f"admin:annotate_{model_name}_change", args=[obj.pk]))
    add = admin_client_logged_in.get(reverse(f"admin:annotate_{model_name}_add"))
    delete = admin_client_logged_in.get(reverse(f"admin:annotate_{model_name}_delete", args=[obj.pk]))

    assert change.status_code == 200
    assert 'name="_save"' not in change.text
    assert add.status_code == 403
    assert delete.status_code == 403


def test_release_leases_action(admin_client_logged_in, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)

    response = admin_client_logged_in.post(
        reverse("admin:annotate_assignment_changelist"),
        {"action": "release_leases", "_selected_action": [assignment.pk]},
        follow=True,
    )

    assignment.refresh_from_db()
    assert assignment.expires_at <= timezone.now()
    assert "Released 1 lease." in response.text
    assert Assignment.objects.count() == 1


def test_admin_pages_load(admin_client_logged_in, pairwise_study):
    for name in ["study", "item", "assignment", "judgment"]:
        response = admin_client_logged_in.get(reverse(f"admin:annotate_{name}_changelist"))
        assert response.status_code == 200, name


def test_user_with_judgments_delete_page_protected(admin_client_logged_in, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)
    submit_judgment(assignment, {"helpfulness": "A", "accuracy": "tie"})
    url = reverse("admin:auth_user_delete", args=[annotator.pk])

    page = admin_client_logged_in.get(url)
    posted = admin_client_logged_in.post(url, {"post": "yes"})

    assert page.status_code == 200
    assert page.context["protected"]
    assert posted.status_code == 200
    assert get_user_model().objects.filter(pk=annotator.pk).exists()


def _study_form(prompt_set, runs, status, criteria=1):
    data = {
        "name": "Form-made study",
        "kind": "pairwise",
        "prompt_set": prompt_set.pk,
        "systems": [run.pk for run in runs],
        "instructions": "",
        "overlap": 1,
        "lease_minutes": 30,
        "gold_rate": 0.1,
        "qualification_min_gold": 5,
        "status": status,
        "criteria-TOTAL_FORMS": criteria,
        "criteria-INITIAL_FORMS": 0,
        "criteria-MIN_NUM_FORMS": 0,
        "criteria-MAX_NUM_FORMS": 1000,
    }
    for index in range(criteria):
        data.update(
            {
                f"criteria-{index}-position": index,
                f"criteria-{index}-name": f"c{index}",
                f"criteria-{index}-question": "Which is better?",
                f"criteria-{index}-scale_min": 1,
                f"criteria-{index}-scale_max": 5,
            }
        )
    return data


def test_saving_open_status_builds_items(admin_client_logged_in, prompt_set):
    runs = [make_run(prompt_set), make_run(prompt_set)]

    response = admin_client_logged_in.post(
        reverse("admin:annotate_study_add"), _study_form(prompt_set, runs, "open"), follow=True
    )

    study = Study.objects.get(name="Form-made study")
    assert study.status == StudyStatus.OPEN
    assert study.items.count() == 3
    assert "3 new items" in response.text


def test_saving_open_status_without_criteria_stays_draft(admin_client_logged_in, prompt_set):
    runs = [make_run(prompt_set), make_run(prompt_set)]

    admin_client_logged_in.post(
        reverse("admin:annotate_study_add"), _study_form(prompt_set, runs, "open", criteria=0), follow=True
    )

    study = Study.objects.get(name="Form-made study")
    assert study.status == StudyStatus.DRAFT
    assert not study.items.exists()


def test_responses_cannot_be_edited_in_admin(admin_client_logged_in, prompt_set):
    response = make_run(prompt_set).responses.first()
    url = reverse("admin:generation_response_change", args=[response.pk])

    page = admin_client_logged_in.get(url)
    posted = admin_client_logged_in.post(url, {"text": "edited by hand", "token_count": 1, "finish_reason": "stop"})

    assert page.status_code == 200
    assert 'name="text"' not in page.text
    assert posted.status_code == 403
    response.refresh_from_db()
    assert response.text != "edited by hand"
