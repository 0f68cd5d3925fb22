"""Gold mixing under concurrent annotators on PostgreSQL, where row locks decide the races.

SQLite runs one writer at a time, so these races cannot happen there and
the test skips.
"""

import random
import threading
from collections import Counter

import pytest
from django.db import connection

from annotate import gold
from annotate.assignment import next_assignment, submit_judgment
from annotate.items import open_study
from annotate.models import Assignment, AssignmentStatus, Item, Judgment
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://USER@HOST:PORT/NAME to run")


def _work_until_done(study, annotator, barrier, errors, served):
    """Take and judge tasks until none is left; two of these run at once per annotator."""
    try:
        barrier.wait()
        for _ in range(50):
            assignment = next_assignment(study, annotator)
            if assignment is None:
                return
            served.append((annotator.pk, assignment.item_id))
            submit_judgment(assignment, {"overall": random.choice(["A", "B", "tie"])})
    except Exception as error:  # noqa: BLE001 - collected and asserted by the test
        errors.append(error)
    finally:
        connection.close()


@pytest.mark.timeout(120)
def test_concurrent_work_with_gold_mixed_in(monkeypatch):
    monkeypatch.setattr(gold, "gold_rng", random.Random(5))
    prompt_set = make_prompt_set(prompts=[f"Prompt {index}" for index in range(6)])
    runs = [make_run(prompt_set) for _ in range(3)]
    study = make_study(runs, overlap=2)
    open_study(study)
    checks = [
        gold.create_attention_check(study, prompt, f"Planted answer {prompt.position}.", system=runs[0])
        for prompt in prompt_set.prompts.order_by("position")[:3]
    ]
    study.gold_rate = 0.5
    study.save()
    annotators = [make_user() for _ in range(6)]
    errors, served = [], []
    # Two workers per annotator, like two browser tabs, all released at once.
    workers = [person for person in annotators for _ in range(2)]
    barrier = threading.Barrier(len(workers))

    threads = [
        threading.Thread(target=_work_until_done, args=(study, person, barrier, errors, served)) for person in workers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=100)

    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    regular = Item.objects.filter(study=study, is_gold=False)
    counted = Counter(Judgment.objects.filter(item__in=regular, is_surplus=False).values_list("item_id", flat=True))
    # Every regular item got exactly its overlap; nobody judged an item twice.
    assert set(counted.values()) == {2}
    assert len(counted) == regular.count() == 18
    pairs = Counter(Judgment.objects.values_list("annotator_id", "item_id"))
    assert max(pairs.values()) == 1
    # Gold items sit outside the overlap and are never surplus.
    gold_judgments = Judgment.objects.filter(item__in=checks)
    assert gold_judgments.exists()
    assert not gold_judgments.filter(is_surplus=True).exists()
    assert not Judgment.objects.filter(item__in=regular, is_surplus=True).exists()
    per_gold_item = Counter(gold_judgments.values_list("item_id", flat=True))
    assert len(per_gold_item) >= 2
    assert max(per_gold_item.values()) > study.overlap
    # Both tabs of one annotator may hold the same lease; each lease served became one judgment.
    assert set(served) == set(pairs)
    assert not Assignment.objects.filter(status=AssignmentStatus.LEASED).exists()
    assert Judgment.objects.filter(item__in=checks, gold_correct__isnull=True).count() == 0


@pytest.mark.timeout(120)
def test_exclusions_during_concurrent_work_keep_counters_exact():
    """A manager excludes and includes annotators while they work: every item's counter matches a fresh count.

    Submits and exclusions both lock the annotator's status row before any
    item, so they cannot deadlock; the race they guard against is narrow,
    so this test would rarely catch its loss, but it does catch a deadlock
    or a counter that drifts under load.
    """
    from annotate.judgment_count import counted_judgments_expression

    prompt_set = make_prompt_set(prompts=[f"Prompt {index}" for index in range(8)])
    runs = [make_run(prompt_set) for _ in range(3)]
    study = make_study(runs, overlap=2)
    open_study(study)
    study.gold_rate = 0.0
    study.save()
    annotators = [make_user() for _ in range(6)]
    for annotator in annotators:
        # Status rows exist from the start, as they do once a manager has
        # looked at an annotator.
        gold.set_excluded(study, annotator.pk, False)
    errors, served = [], []
    barrier = threading.Barrier(len(annotators) + 1)
    stop = threading.Event()

    def manager():
        draw = random.Random(3)
        try:
            barrier.wait()
            while not stop.is_set():
                gold.set_excluded(study, draw.choice(annotators).pk, draw.random() < 0.5)
        except Exception as error:  # noqa: BLE001 - collected and asserted by the test
            errors.append(error)
        finally:
            connection.close()

    workers = [
        threading.Thread(target=_work_until_done, args=(study, annotator, barrier, errors, served))
        for annotator in annotators
    ]
    toggler = threading.Thread(target=manager)
    for thread in [*workers, toggler]:
        thread.start()
    for thread in workers:
        thread.join()
    stop.set()
    toggler.join()

    assert errors == []
    assert served
    rows = Item.objects.filter(study=study).annotate(fresh=counted_judgments_expression())
    mismatched = [(row.pk, row.counted_judgments, row.fresh) for row in rows if row.counted_judgments != row.fresh]
    assert mismatched == []
