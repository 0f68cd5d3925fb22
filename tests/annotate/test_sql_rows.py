"""annotate.sql_rows reads and inserts rows as the ORM does."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from annotate.assignment import next_assignment
from annotate.models import Assignment, AssignmentStatus, CriterionAnswer, Judgment, Outcome
from annotate.sql_rows import fetch_instances, insert_instances, select_list

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def test_insert_stores_what_save_stores(pairwise_study, annotator):
    leased = next_assignment(pairwise_study, annotator)
    Assignment.objects.filter(pk=leased.pk).delete()
    now = timezone.now()

    assignment = Assignment(
        item=leased.item, annotator=annotator, first_on_left=False, leased_at=now, expires_at=now + timedelta(hours=1)
    )
    insert_instances([assignment])

    assert assignment.pk is not None
    assert not assignment._state.adding
    stored = Assignment.objects.get(pk=assignment.pk)
    assert _fields(stored) == _fields(assignment)
    assert isinstance(stored.uuid, uuid.UUID)
    assert stored.status == AssignmentStatus.LEASED
    assert stored.skip_reason == ""


def test_insert_sets_auto_now_add(pairwise_study, annotator):
    leased = next_assignment(pairwise_study, annotator)
    before = timezone.now()

    judgment = Judgment(
        assignment=leased, item=leased.item, annotator=annotator, first_on_left=True, time_on_task_seconds=None
    )
    insert_instances([judgment])

    stored = Judgment.objects.get(pk=judgment.pk)
    assert stored.created_at >= before
    assert stored.created_at == judgment.created_at
    assert stored.is_surplus is False
    assert stored.gold_correct is None
    assert stored.time_on_task_seconds is None


def test_insert_many_sets_each_pk(pairwise_study, annotator):
    leased = next_assignment(pairwise_study, annotator)
    judgment = Judgment(assignment=leased, item=leased.item, annotator=annotator, first_on_left=True)
    insert_instances([judgment])
    first, second = pairwise_study.criteria.order_by("position", "id")

    answers = [
        CriterionAnswer(judgment=judgment, criterion=first, outcome=Outcome.WIN, winner=leased.item.first_response),
        CriterionAnswer(judgment=judgment, criterion=second, outcome=Outcome.TIE),
    ]
    insert_instances(answers)

    assert answers[0].pk != answers[1].pk
    assert CriterionAnswer.objects.get(pk=answers[0].pk).criterion == first
    assert CriterionAnswer.objects.get(pk=answers[1].pk).outcome == Outcome.TIE


def test_fetch_matches_orm(pairwise_study, annotator):
    next_assignment(pairwise_study, annotator)
    table = Assignment._meta.db_table
    sql = f"SELECT {select_list(Assignment, 'a')} FROM {table} a WHERE a.annotator_id = %s ORDER BY a.id"

    fetched = fetch_instances(Assignment, sql, [annotator.pk])

    expected = list(Assignment.objects.filter(annotator=annotator).order_by("id"))
    assert [_fields(instance) for instance in fetched] == [_fields(instance) for instance in expected]
    assert fetched
