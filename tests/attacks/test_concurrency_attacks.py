"""Races on PostgreSQL, where transactions run in parallel."""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from annotate.assignment import next_assignment
from annotate.items import open_study
from annotate.models import Assignment, AssignmentStatus
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://USER@HOST:PORT/NAME to run")


def test_parallel_next_one_lease_per_annotator():
    """Ten parallel next-task requests of one annotator (double clicks, two tabs) lease one item."""
    prompt_set = make_prompt_set(prompts=[f"Prompt {number}" for number in range(10)])
    study = make_study([make_run(prompt_set), make_run(prompt_set)], overlap=1)
    open_study(study)
    annotator = make_user()
    now = timezone.now()
    barrier = threading.Barrier(10)
    errors = []

    def pick():
        try:
            barrier.wait()
            next_assignment(study, annotator, now=now)
        except Exception as error:  # noqa: BLE001 - asserted below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=pick) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    leases_held = Assignment.objects.filter(annotator=annotator, status=AssignmentStatus.LEASED).count()
    assert leases_held == 1
