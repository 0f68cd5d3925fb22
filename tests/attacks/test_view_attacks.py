"""Annotator views and study settings under forged or odd input."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from annotate.assignment import next_assignment
from annotate.models import Judgment
from tests.factories import make_run, make_study

pytestmark = pytest.mark.django_db


def test_garbled_time_on_task_still_saves(client, pairwise_study, annotator):
    """A NUL in the hidden time_on_task field must not block the submit."""
    assignment = next_assignment(pairwise_study, annotator)
    data = {f"criterion-{criterion.uuid.hex}": "A" for criterion in pairwise_study.criteria.all()}
    data["time_on_task"] = "1\x002"
    client.force_login(annotator)
    url = reverse(
        "annotate:submit",
        kwargs={"study_uuid": pairwise_study.uuid, "assignment_uuid": assignment.uuid},
    )

    response = client.post(url, data)

    assert response.status_code == 302
    assert Judgment.objects.filter(assignment=assignment).exists()


def test_zero_minute_lease_rejected(prompt_set):
    """A 0-minute lease expires at once and would let more annotators than the overlap hold an item."""
    study = make_study([make_run(prompt_set), make_run(prompt_set)])
    # Set after saving: the database's check constraint rejects 0 on insert.
    study.lease_minutes = 0

    with pytest.raises(ValidationError):
        study.full_clean()
