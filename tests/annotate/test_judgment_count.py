"""Item.counted_judgments stays equal to a fresh count through every way judgments come and go."""

import random
from datetime import timedelta

from django.utils import timezone

from annotate import gold
from annotate.assignment import next_assignment, submit_judgment
from annotate.items import open_study
from annotate.judgment_count import counted_judgments_expression, recount
from annotate.models import AnnotatorStatus, Item, Judgment, Outcome
from tests.factories import make_prompt_set, make_run, make_study, make_user

ANSWERS = {"overall": "A"}


def _stored_and_fresh(study):
    rows = Item.objects.filter(study=study).annotate(fresh=counted_judgments_expression())
    return {item.pk: (item.counted_judgments, item.fresh) for item in rows}


def _assert_counts_exact(study):
    for item_id, (stored, fresh) in _stored_and_fresh(study).items():
        assert stored == fresh, f"item {item_id}: stored {stored}, counted afresh {fresh}"


def test_counter_follows_submits_surplus_exclusions_and_gold(db):
    """A random day of work: late submits that turn surplus, exclusions and their reversal, gold marked and unmarked."""
    draw = random.Random(11)
    prompt_set = make_prompt_set(prompts=[f"Prompt {n}" for n in range(4)])
    runs = [make_run(prompt_set) for _ in range(3)]
    people = [make_user() for _ in range(6)]
    study = make_study(runs, overlap=2, annotators=people)
    open_study(study, seed=5)
    study.gold_rate = 0.0
    study.save(update_fields=["gold_rate"])
    now = timezone.now()

    held = []
    judged_items_marked_gold = 0
    for _step in range(150):
        now += timedelta(minutes=draw.choice([1, 1, 1, study.lease_minutes + 1]))
        person = draw.choice(people)
        action = draw.random()
        if action < 0.6:
            assignment = next_assignment(study, person, now=now)
            if assignment is not None:
                held.append(assignment)
        elif action < 0.85 and held:
            # Submitting a lease that may have expired meanwhile: a late
            # submit past the overlap is stored as surplus.
            submit_judgment(held.pop(draw.randrange(len(held))), ANSWERS, now=now)
        elif action < 0.95:
            gold.set_excluded(study, person.pk, draw.random() < 0.6)
        else:
            judged = list(Item.objects.filter(study=study, judgments__isnull=False).distinct().order_by("pk"))
            if judged:
                item = draw.choice(judged)
                if item.is_gold:
                    gold.unmark_gold(item)
                else:
                    gold.mark_gold(item, outcome=Outcome.TIE)
                    judged_items_marked_gold += 1
        _assert_counts_exact(study)

    # The walk went through every path it is meant to test.
    judgments = Judgment.objects.filter(item__study=study)
    assert judgments.filter(is_surplus=True).exists()
    assert judgments.filter(is_surplus=False).exists()
    assert AnnotatorStatus.objects.filter(study=study, is_excluded=True).exists()
    assert judged_items_marked_gold > 0


def test_exclusion_reopens_items_and_inclusion_closes_them(db):
    prompt_set = make_prompt_set(prompts=["Only prompt"])
    careless, careful = make_user(), make_user()
    study = make_study([make_run(prompt_set), make_run(prompt_set)], overlap=1, annotators=[careless, careful])
    open_study(study, seed=3)
    study.gold_rate = 0.0
    study.save(update_fields=["gold_rate"])
    submit_judgment(next_assignment(study, careless), ANSWERS)
    item = Item.objects.get(study=study)
    assert item.counted_judgments == 1
    assert next_assignment(study, careful) is None

    gold.set_excluded(study, careless.pk, True)
    item.refresh_from_db()
    assert item.counted_judgments == 0
    offered = next_assignment(study, careful)
    assert offered.item_id == item.pk
    judgment = submit_judgment(offered, ANSWERS)
    assert judgment.is_surplus is False

    gold.set_excluded(study, careless.pk, False)
    item.refresh_from_db()
    # Both count again: the item holds more than its overlap, and nobody is offered it.
    assert item.counted_judgments == 2
    assert next_assignment(study, make_user()) is None


def test_recount_repairs_a_wrong_counter(db):
    prompt_set = make_prompt_set(prompts=["A prompt", "Another"])
    people = [make_user() for _ in range(2)]
    study = make_study([make_run(prompt_set), make_run(prompt_set)], overlap=2, annotators=people)
    open_study(study, seed=1)
    study.gold_rate = 0.0
    study.save(update_fields=["gold_rate"])
    for person in people:
        submit_judgment(next_assignment(study, person), ANSWERS)
    Item.objects.filter(study=study).update(counted_judgments=7)

    assert recount(Item.objects.filter(study=study)) == 2
    _assert_counts_exact(study)
