"""Skips racing leases and submits on PostgreSQL, where row locks decide the races.

On SQLite every transaction is IMMEDIATE, so writers run one at a time and
these races cannot happen; the tests skip there.
"""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from annotate.assignment import next_assignment, submit_judgment
from annotate.errors import SkipRejected
from annotate.items import open_study
from annotate.models import Assignment, AssignmentStatus, Item, Judgment, SkipReason
from annotate.skipping import skip_assignment
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://USER@HOST:PORT/NAME to run")


def _run_together(functions):
    """Call each function in its own thread, all released at once; return the exceptions they raised."""
    barrier = threading.Barrier(len(functions))
    errors = []

    def worker(function):
        try:
            barrier.wait()
            function()
        except Exception as error:  # noqa: BLE001 - collected and asserted by the caller
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(function,)) for function in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker thread is still running"
    return errors


def _work_until_done(study, person, skip_every):
    """Take tasks until none is left for `person`, skipping every `skip_every`-th one and submitting the rest."""
    taken = 0
    while True:
        assignment = next_assignment(study, person)
        if assignment is None:
            return
        taken += 1
        if taken % skip_every == 0:
            skip_assignment(assignment, SkipReason.OTHER)
        else:
            submit_judgment(assignment, {"overall": "A"})


def test_skips_and_submits_never_overfill():
    prompt_set = make_prompt_set(prompts=[f"Prompt {number}" for number in range(4)])
    study = make_study([make_run(prompt_set), make_run(prompt_set), make_run(prompt_set)], overlap=2)
    open_study(study)
    annotators = [make_user() for _ in range(10)]

    errors = _run_together(
        [
            lambda person=person, index=index: _work_until_done(study, person, skip_every=2 + index % 2)
            for index, person in enumerate(annotators)
        ]
    )

    assert errors == []
    assert Assignment.objects.filter(status=AssignmentStatus.SKIPPED).exists()
    # Only leases within the overlap were handed out, so no submit came late.
    assert not Judgment.objects.filter(is_surplus=True).exists()
    counted = Item.objects.annotate(n=Count("judgments", filter=Q(judgments__is_surplus=False)))
    assert max(item.n for item in counted) <= 2
    # A skipped item was never judged by the annotator who skipped it.
    skipped_pairs = set(
        Assignment.objects.filter(status=AssignmentStatus.SKIPPED).values_list("item_id", "annotator_id")
    )
    judged_pairs = set(Judgment.objects.values_list("item_id", "annotator_id"))
    assert skipped_pairs.isdisjoint(judged_pairs)

    # Items released by a skip after a worker had already stopped are
    # offered to the next annotators, who fill every item exactly.
    for _ in range(6):
        _work_until_done(study, make_user(), skip_every=10**6)
    counted = Counter(Judgment.objects.filter(is_surplus=False).values_list("item_id", flat=True))
    assert sorted(counted.values()) == [2] * study.items.count()


def test_skip_and_submit_of_one_assignment_race():
    prompt_set = make_prompt_set(prompts=["Only prompt"])
    study = make_study([make_run(prompt_set), make_run(prompt_set)], overlap=1)
    open_study(study)
    item = study.items.get()
    now = timezone.now()

    for _ in range(5):
        assignment = Assignment.objects.create(
            item=item,
            annotator=make_user(),
            first_on_left=True,
            leased_at=now,
            expires_at=now + timedelta(minutes=5),
        )

        errors = _run_together(
            [
                lambda assignment=assignment: skip_assignment(assignment, SkipReason.BROKEN),
                lambda assignment=assignment: submit_judgment(assignment, {"overall": "B"}),
            ]
        )

        # Either the skip came first and the submit was stored after it, or
        # the submit came first and the skip was rejected. Both end submitted.
        assert all(isinstance(error, SkipRejected) for error in errors), errors
        assignment.refresh_from_db()
        assert assignment.status == AssignmentStatus.SUBMITTED
        assert Judgment.objects.filter(assignment=assignment).count() == 1

    assert Judgment.objects.filter(item=item, is_surplus=False).count() == 1
