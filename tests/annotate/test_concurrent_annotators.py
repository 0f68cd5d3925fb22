"""Twenty annotators working a study at once on PostgreSQL, each in its own thread.

Each thread takes the next task and submits it until nothing is left, as an
annotator does in the browser. The study must end with every item judged
exactly as often as its overlap, nobody judging an item twice, every
acknowledged submit stored, and no lease left open.
"""

import threading
from collections import Counter

import pytest
from django.db import connection

from annotate.assignment import next_assignment, submit_judgment
from annotate.items import open_study
from annotate.models import Assignment, AssignmentStatus, Item, Judgment
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

ANNOTATORS = 20


@pytest.fixture(autouse=True)
def _needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://USER@HOST:PORT/NAME to run")


def test_twenty_annotators_fill_every_item_exactly_to_its_overlap():
    prompt_set = make_prompt_set(prompts=[f"Prompt number {n}" for n in range(6)])
    study = make_study([make_run(prompt_set) for _ in range(4)], overlap=3)
    open_study(study)
    annotators = [make_user() for _ in range(ANNOTATORS)]
    study.annotators.add(*annotators)
    barrier = threading.Barrier(ANNOTATORS)
    acknowledged = []  # assignment ids whose submit returned without error
    errors = []
    lock = threading.Lock()

    def work(person):
        try:
            barrier.wait()
            while True:
                assignment = next_assignment(study, person)
                if assignment is None:
                    return
                submit_judgment(assignment, {"overall": "A"})
                with lock:
                    acknowledged.append(assignment.pk)
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(person,)) for person in annotators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)

    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    items = Item.objects.filter(study=study).count()
    assert items == 36  # 6 pairs of 4 systems on 6 prompts
    # No judgment lost: every acknowledged submit is stored, once.
    stored = list(Judgment.objects.filter(item__study=study).values_list("assignment_id", flat=True))
    assert sorted(stored) == sorted(acknowledged)
    # No item over its overlap, and none short of it: 20 annotators can fill all.
    per_item = Counter(Judgment.objects.filter(item__study=study, is_surplus=False).values_list("item_id", flat=True))
    assert set(per_item.values()) == {3}
    assert len(per_item) == items
    assert not Judgment.objects.filter(item__study=study, is_surplus=True).exists()
    # Nobody judged an item twice.
    pairs = Counter(Judgment.objects.filter(item__study=study).values_list("item_id", "annotator_id"))
    assert max(pairs.values()) == 1
    # Every lease is accounted for: each ended in a stored judgment.
    assert not Assignment.objects.filter(item__study=study).exclude(status=AssignmentStatus.SUBMITTED).exists()
    assert Assignment.objects.filter(item__study=study).count() == len(acknowledged)
