import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from annotate.assignment import next_assignment, submit_judgment
from annotate.models import Assignment, Judgment, Study
from tests.factories import make_run, make_study

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("minutes", [1, 30, 1440])
def test_lease_minutes_in_range_valid(prompt_set, minutes):
    study = make_study([make_run(prompt_set), make_run(prompt_set)], lease_minutes=minutes)

    study.full_clean()


@pytest.mark.parametrize("minutes", [0, 1441])
def test_lease_minutes_out_of_range_invalid(prompt_set, minutes):
    study = make_study([make_run(prompt_set), make_run(prompt_set)])
    study.lease_minutes = minutes

    with pytest.raises(ValidationError) as error:
        study.full_clean()

    assert "lease_minutes" in error.value.message_dict


@pytest.mark.parametrize("minutes", [0, 1441])
def test_lease_minutes_out_of_range_rejected_by_database(pairwise_study, minutes):
    with pytest.raises(IntegrityError), transaction.atomic():
        Study.objects.filter(pk=pairwise_study.pk).update(lease_minutes=minutes)


def test_annotator_with_judgments_not_deleted(pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)
    submit_judgment(assignment, {"helpfulness": "A", "accuracy": "tie"})

    with pytest.raises(ProtectedError):
        annotator.delete()

    assert Judgment.objects.filter(annotator=annotator).count() == 1


def test_annotator_with_only_leases_deleted(pairwise_study, annotator):
    next_assignment(pairwise_study, annotator)

    annotator.delete()

    assert not Assignment.objects.exists()
