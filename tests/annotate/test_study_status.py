"""Pausing, closing and reopening studies: the service rules and the admin actions."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from annotate.assignment import next_assignment, submit_judgment
from annotate.errors import InvalidStatusChange
from annotate.items import open_study
from annotate.lifecycle import close_study, outstanding_leases, pause_study, reopen_study
from annotate.models import Judgment, Study, StudyStatus
from tests.factories import make_run, make_study

pytestmark = pytest.mark.django_db

ANSWERS = {"helpfulness": "A", "accuracy": "tie"}


@pytest.fixture
def root_client(client):
    client.force_login(get_user_model().objects.create_superuser("status-root", password="pw-for-tests"))
    return client


def _action(client, action, studies):
    return client.post(
        reverse("admin:annotate_study_changelist"),
        {"action": action, "_selected_action": [study.pk for study in studies]},
        follow=True,
    )


def _status(study):
    return Study.objects.values_list("status", flat=True).get(pk=study.pk)


def test_pause_close_reopen_cycle(pairwise_study):
    pause_study(pairwise_study)
    assert _status(pairwise_study) == StudyStatus.PAUSED

    close_study(pairwise_study)
    assert _status(pairwise_study) == StudyStatus.CLOSED

    created = reopen_study(pairwise_study)
    assert created == 0
    assert _status(pairwise_study) == StudyStatus.OPEN


@pytest.mark.parametrize(
    ("status", "change", "message"),
    [
        (StudyStatus.DRAFT, pause_study, "is draft; only an open study can be paused."),
        (StudyStatus.PAUSED, pause_study, "is already paused."),
        (StudyStatus.CLOSED, pause_study, "is closed; only an open study can be paused."),
        (StudyStatus.DRAFT, close_study, "is draft; only an open or paused study can be closed."),
        (StudyStatus.CLOSED, close_study, "is already closed."),
        (StudyStatus.DRAFT, reopen_study, "is draft; only a paused or closed study can be reopened."),
        (StudyStatus.OPEN, reopen_study, "is already open."),
    ],
)
def test_refused_status_changes(pairwise_study, status, change, message):
    Study.objects.filter(pk=pairwise_study.pk).update(status=status)
    pairwise_study.refresh_from_db()

    with pytest.raises(InvalidStatusChange) as raised:
        change(pairwise_study)

    assert message in str(raised.value)
    assert _status(pairwise_study) == status


def test_reopen_builds_new_items(prompt_set):
    runs = [make_run(prompt_set), make_run(prompt_set)]
    study = make_study(runs)
    open_study(study, seed=1)
    close_study(study)
    study.systems.add(make_run(prompt_set))

    created = reopen_study(study)

    # Two new pairs (each old system with the new one) on each of 3 prompts.
    assert created == 6
    assert study.items.count() == 9


def test_closed_study_keeps_lease_and_stores_late_submit(pairwise_study, annotator, client):
    now = timezone.now()
    assignment = next_assignment(pairwise_study, annotator, now=now - timedelta(minutes=40))
    close_study(pairwise_study)
    client.force_login(annotator)

    next_page = client.get(reverse("annotate:next_task", kwargs={"study_uuid": pairwise_study.uuid}))
    judgment = submit_judgment(assignment, ANSWERS, now=now)

    assert next_page.status_code == 404
    assert Judgment.objects.filter(pk=judgment.pk).exists()
    assert not judgment.is_surplus


def test_outstanding_leases_count(pairwise_study, annotator):
    now = timezone.now()
    next_assignment(pairwise_study, annotator, now=now)

    assert outstanding_leases(pairwise_study, now=now) == 1
    assert outstanding_leases(pairwise_study, now=now + timedelta(minutes=31)) == 0


# Admin actions


def test_pause_action_message(root_client, pairwise_study, annotator):
    next_assignment(pairwise_study, annotator)

    response = _action(root_client, "pause_selected", [pairwise_study])

    assert _status(pairwise_study) == StudyStatus.PAUSED
    assert (
        f"Paused “{pairwise_study.name}”: annotators get no new task. 1 task is still reserved; "
        "a judgment submitted for it is stored." in response.text
    )


def test_close_action_message(root_client, pairwise_study):
    response = _action(root_client, "close_selected", [pairwise_study])

    assert _status(pairwise_study) == StudyStatus.CLOSED
    assert f"Closed “{pairwise_study.name}”: annotators get no new task" in response.text
    assert "0 tasks are still reserved" in response.text


def test_reopen_action_message(root_client, pairwise_study):
    Study.objects.filter(pk=pairwise_study.pk).update(status=StudyStatus.PAUSED)

    response = _action(root_client, "reopen_selected", [pairwise_study])

    assert _status(pairwise_study) == StudyStatus.OPEN
    assert f"Reopened “{pairwise_study.name}”: annotators get tasks again (0 new items)." in response.text


def test_actions_report_each_study(root_client, pairwise_study, prompt_set):
    draft = make_study([make_run(prompt_set), make_run(prompt_set)])

    response = _action(root_client, "close_selected", [pairwise_study, draft])

    assert _status(pairwise_study) == StudyStatus.CLOSED
    assert _status(draft) == StudyStatus.DRAFT
    assert f"Study “{draft.name}” is draft; only an open or paused study can be closed." in response.text


def test_actions_skip_studies_of_other_managers(client, pairwise_study):
    outsider = get_user_model().objects.create_user("status-outsider", password="pw-for-tests", is_staff=True)
    client.force_login(outsider)

    response = _action(client, "pause_selected", [pairwise_study])

    assert _status(pairwise_study) == StudyStatus.OPEN
    assert response.status_code == 200
