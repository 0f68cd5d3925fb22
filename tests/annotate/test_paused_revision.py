"""A paused annotator changes nothing in the study: no new task and no change of their last judgment.

Covers the service (annotate.revision), the annotator pages and the REST
API, and the qualification rule, whose pause must keep the submit or
revision that triggered it.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotate import gold
from annotate.assignment import next_assignment, submit_judgment
from annotate.errors import AnnotatorPaused
from annotate.models import Assignment, AssignmentStatus, Judgment, Outcome
from annotate.revision import revise_judgment

pytestmark = pytest.mark.django_db

PAUSED_MESSAGE = "Your work on this study is paused. Please contact the study manager."


def _revise_url(judgment):
    kwargs = {"study_uuid": judgment.item.study.uuid, "judgment_uuid": judgment.uuid}
    return reverse("annotate:revise", kwargs=kwargs)


def _submit_revision_url(judgment):
    kwargs = {"study_uuid": judgment.item.study.uuid, "judgment_uuid": judgment.uuid}
    return reverse("annotate:submit_revision", kwargs=kwargs)


def _api_judgment_url(judgment):
    return f"/api/v1/annotate/studies/{judgment.item.study.uuid}/judgments/{judgment.uuid}/"


def _field(study, name):
    return f"criterion-{study.criteria.get(name=name).uuid.hex}"


def _judge(study, annotator, choices):
    assignment = next_assignment(study, annotator)
    return submit_judgment(assignment, choices)


def _winners(judgment):
    return {answer.criterion.name: answer.winner_id for answer in judgment.answers.select_related("criterion")}


def _lease_item(item, annotator, first_on_left=True):
    now = timezone.now()
    return Assignment.objects.create(
        item=item,
        annotator=annotator,
        first_on_left=first_on_left,
        leased_at=now,
        expires_at=now + timedelta(minutes=30),
    )


def _gold_item_with_rule(study):
    """Make the study's first item gold (the first response wins) and pause anyone with one wrong gold answer."""
    item = study.items.order_by("pk").first()
    gold.mark_gold(item, outcome=Outcome.WIN, winner=item.first_response)
    study.qualification_min_accuracy = 0.5
    study.qualification_min_gold = 1
    study.save(update_fields=["qualification_min_accuracy", "qualification_min_gold"])
    return item


# The service


def test_revise_paused_annotator_rejected(pairwise_study, annotator):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    before = _winners(judgment)
    gold.set_paused(pairwise_study, annotator.pk, True, "Checking their work.")

    with pytest.raises(AnnotatorPaused, match="Please contact the study manager"):
        revise_judgment(judgment, {"helpfulness": "B", "accuracy": "B"}, rationale="Changed.")

    judgment.refresh_from_db()
    assert judgment.revised_at is None
    assert judgment.rationale == ""
    assert _winners(judgment) == before


def test_revise_allowed_again_after_resume(pairwise_study, annotator):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    gold.set_paused(pairwise_study, annotator.pk, True)
    gold.set_paused(pairwise_study, annotator.pk, False)

    revise_judgment(judgment, {"helpfulness": "B", "accuracy": "B"})

    judgment.refresh_from_db()
    assert judgment.revised_at is not None


# The annotator pages


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_revise_page_shows_paused_page(client, pairwise_study, annotator, language):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    gold.set_paused(pairwise_study, annotator.pk, True)
    client.force_login(annotator)

    response = client.get(_revise_url(judgment), HTTP_ACCEPT_LANGUAGE=language)

    assert response.status_code == 403
    assert response.templates[0].name == "annotate/paused.html"
    if language == "en":
        assert "Your work on this study is paused" in response.text
        assert "Please contact the study manager" in response.text
    else:
        assert "你在此评测中的工作已暂停" in response.text
    assert _submit_revision_url(judgment) not in response.text


def test_revise_post_paused_changes_nothing(client, pairwise_study, annotator):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    before = _winners(judgment)
    client.force_login(annotator)
    # The form was opened before the pause; the submit comes after it.
    assert client.get(_revise_url(judgment)).status_code == 200
    gold.set_paused(pairwise_study, annotator.pk, True)
    data = {
        _field(pairwise_study, "helpfulness"): "B",
        _field(pairwise_study, "accuracy"): "B",
        "rationale": "Changed my mind.",
    }

    response = client.post(_submit_revision_url(judgment), data)

    assert response.status_code == 403
    assert response.templates[0].name == "annotate/paused.html"
    assert "Please contact the study manager" in response.text
    judgment.refresh_from_db()
    assert judgment.revised_at is None
    assert judgment.rationale == ""
    assert _winners(judgment) == before


# The REST API


def test_api_revise_paused_gives_403(pairwise_study, annotator):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    before = _winners(judgment)
    gold.set_paused(pairwise_study, annotator.pk, True)
    api = APIClient()
    api.force_login(annotator)

    response = api.post(
        f"{_api_judgment_url(judgment)}revise/", {"answers": {"helpfulness": "B", "accuracy": "B"}}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["detail"] == PAUSED_MESSAGE
    judgment.refresh_from_db()
    assert judgment.revised_at is None
    assert _winners(judgment) == before


def test_api_judgment_of_paused_cannot_change(pairwise_study, annotator):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    gold.set_paused(pairwise_study, annotator.pk, True)
    api = APIClient()
    api.force_login(annotator)

    body = api.get(_api_judgment_url(judgment)).json()

    assert body["can_change"] is False
    assert body["reason"] == PAUSED_MESSAGE


# The qualification rule


def test_pausing_submit_is_kept_and_blocks_revision(client, pairwise_study, annotator):
    item = _gold_item_with_rule(pairwise_study)
    assignment = _lease_item(item, annotator)
    client.force_login(annotator)
    submit_url = reverse(
        "annotate:submit", kwargs={"study_uuid": pairwise_study.uuid, "assignment_uuid": assignment.uuid}
    )
    # "B" names the second response, the wrong answer to this gold item.
    wrong = {_field(pairwise_study, "helpfulness"): "B", _field(pairwise_study, "accuracy"): "B"}

    submitted = client.post(submit_url, wrong, follow=True)

    assert submitted.status_code == 403
    assert submitted.templates[0].name == "annotate/paused.html"
    assert gold.is_paused(pairwise_study, annotator)
    judgment = Judgment.objects.get(assignment=assignment)
    assert judgment.gold_correct is False
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.SUBMITTED

    right = {_field(pairwise_study, "helpfulness"): "A", _field(pairwise_study, "accuracy"): "A"}
    revised = client.post(_submit_revision_url(judgment), right)

    assert revised.status_code == 403
    judgment.refresh_from_db()
    assert judgment.revised_at is None
    assert judgment.gold_correct is False


def test_pausing_api_submit_is_kept(pairwise_study, annotator):
    item = _gold_item_with_rule(pairwise_study)
    assignment = _lease_item(item, annotator)
    api = APIClient()
    api.force_login(annotator)
    root = f"/api/v1/annotate/studies/{pairwise_study.uuid}"

    submitted = api.post(
        f"{root}/tasks/{assignment.uuid}/submit/", {"answers": {"helpfulness": "B", "accuracy": "B"}}, format="json"
    )

    assert submitted.status_code == 200, submitted.json()
    assert gold.is_paused(pairwise_study, annotator)
    judgment = Judgment.objects.get(uuid=submitted.json()["judgment"])
    assert judgment.gold_correct is False
    revised = api.post(
        f"{root}/judgments/{judgment.uuid}/revise/", {"answers": {"helpfulness": "A", "accuracy": "A"}}, format="json"
    )
    assert revised.status_code == 403
    assert api.post(f"{root}/next/").status_code == 403


def test_pausing_revision_is_kept(pairwise_study, annotator):
    item = _gold_item_with_rule(pairwise_study)
    judgment = submit_judgment(_lease_item(item, annotator), {"helpfulness": "A", "accuracy": "A"})
    assert judgment.gold_correct is True
    assert not gold.is_paused(pairwise_study, annotator)

    revise_judgment(judgment, {"helpfulness": "B", "accuracy": "B"})

    judgment.refresh_from_db()
    assert gold.is_paused(pairwise_study, annotator)
    assert judgment.revised_at is not None
    assert judgment.gold_correct is False
    with pytest.raises(AnnotatorPaused):
        revise_judgment(judgment, {"helpfulness": "A", "accuracy": "A"})
