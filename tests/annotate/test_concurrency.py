"""Concurrent leases and submits on PostgreSQL, where row locks decide the races.

On SQLite every transaction is IMMEDIATE, so writers run one at a time and
these races cannot happen; the tests skip there.
"""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from annotate.assignment import next_assignment, submit_judgment
from annotate.items import open_study
from annotate.models import Assignment, Judgment
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://USER@HOST:PORT/NAME to run")


def _run_together(functions):
    """Call each function in its own thread, all released at once; return their errors."""
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
        thread.join(timeout=60)
    return errors


def test_concurrent_leases_respect_overlap():
    prompt_set = make_prompt_set()
    study = make_study([make_run(prompt_set), make_run(prompt_set)], overlap=2)
    open_study(study)
    annotators = [make_user() for _ in range(12)]
    now = timezone.now()

    errors = _run_together([lambda person=person: next_assignment(study, person, now=now) for person in annotators])

    assert errors == []
    per_item = Counter(Assignment.objects.values_list("item_id", flat=True))
    assert sum(per_item.values()) == 6
    assert max(per_item.values()) == 2


def test_concurrent_late_submits_one_counted():
    prompt_set = make_prompt_set(prompts=["Only prompt"])
    study = make_study([make_run(prompt_set), make_run(prompt_set)], overlap=1)
    open_study(study)
    item = study.items.get()
    now = timezone.now()
    assignments = [
        Assignment.objects.create(
            item=item,
            annotator=make_user(),
            first_on_left=True,
            leased_at=now,
            expires_at=now + timedelta(minutes=1),
        )
        for _ in range(4)
    ]

    errors = _run_together(
        [lambda assignment=assignment: submit_judgment(assignment, {"overall": "A"}) for assignment in assignments]
    )

    assert errors == []
    assert Judgment.objects.filter(item=item).count() == 4
    assert Judgment.objects.filter(item=item, is_surplus=False).count() == 1
