from collections import Counter
from itertools import combinations

import pytest

from annotate.assignment import next_assignment, submit_judgment
from annotate.errors import StudyNotReady
from annotate.items import add_systems, count_new_items, open_study
from annotate.models import Item, Study, StudyKind, StudyStatus
from generation.models import Response
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = pytest.mark.django_db


def _run_pairs(study):
    return Counter(
        frozenset((item.first_response.run_id, item.second_response.run_id))
        for item in study.items.select_related("first_response", "second_response")
    )


def test_pairwise_builds_every_pair_for_every_prompt(prompt_set):
    runs = [make_run(prompt_set) for _ in range(3)]
    study = make_study(runs)

    created = open_study(study, seed=7)

    assert created == 9
    assert study.items.count() == 9
    pair_counts = _run_pairs(study)
    for run_a, run_b in combinations(runs, 2):
        assert pair_counts[frozenset((run_a.pk, run_b.pk))] == 3


def test_pairwise_item_answers_share_the_prompt(prompt_set):
    study = make_study([make_run(prompt_set), make_run(prompt_set)])
    open_study(study, seed=7)

    for item in study.items.select_related("first_response", "second_response"):
        assert item.first_response.prompt_id == item.prompt_id
        assert item.second_response.prompt_id == item.prompt_id
        assert item.first_response.run_id != item.second_response.run_id


def test_pairwise_first_position_is_balanced():
    prompt_set = make_prompt_set(prompts=[f"Prompt {n}" for n in range(21)])
    runs = [make_run(prompt_set) for _ in range(4)]
    study = make_study(runs)
    open_study(study, seed=3)

    items = list(study.items.select_related("first_response", "second_response"))
    assert len(items) == 6 * 21
    first_counts = Counter(item.first_response.run_id for item in items)
    # Each system is in 3 pairs of 21 items, so it appears in 63 items.
    for run in runs:
        assert abs(first_counts[run.pk] - 31.5) <= 3, first_counts
    for run_a, run_b in combinations(runs, 2):
        a_first = sum(
            1 for item in items if (item.first_response.run_id, item.second_response.run_id) == (run_a.pk, run_b.pk)
        )
        assert a_first in (10, 11)


def test_pairwise_skips_prompts_one_system_lacks(prompt_set):
    run_a, run_b = make_run(prompt_set), make_run(prompt_set)
    Response.objects.filter(run=run_b, prompt__position=0).delete()
    study = make_study([run_a, run_b])

    open_study(study, seed=1)

    assert study.items.count() == 2
    assert not study.items.filter(prompt__position=0).exists()


def test_sort_keys_do_not_follow_build_order(prompt_set):
    study = make_study([make_run(prompt_set) for _ in range(3)])
    open_study(study, seed=5)

    by_pk = list(study.items.order_by("pk").values_list("pk", flat=True))
    by_sort_key = list(study.items.order_by("sort_key").values_list("pk", flat=True))
    assert by_pk != by_sort_key
    assert len(set(study.items.values_list("sort_key", flat=True))) == 9


def test_same_seed_builds_same_order(prompt_set):
    runs = [make_run(prompt_set) for _ in range(3)]
    first = make_study(runs)
    second = make_study(runs)

    open_study(first, seed=11)
    open_study(second, seed=11)

    def orders(study):
        return sorted(study.items.values_list("first_response_id", "second_response_id", "sort_key"))

    assert orders(first) == orders(second)


def test_rating_builds_one_item_per_response(prompt_set):
    runs = [make_run(prompt_set) for _ in range(2)]
    study = make_study(runs, kind=StudyKind.RATING)

    created = open_study(study)

    assert created == 6
    assert not study.items.filter(second_response__isnull=False).exists()
    response_ids = set(Response.objects.filter(run__in=runs).values_list("pk", flat=True))
    assert set(study.items.values_list("first_response_id", flat=True)) == response_ids


def test_open_sets_status_open(prompt_set):
    study = make_study([make_run(prompt_set), make_run(prompt_set)])
    open_study(study)

    study.refresh_from_db()
    assert study.status == StudyStatus.OPEN


@pytest.mark.parametrize("kind", [StudyKind.PAIRWISE, StudyKind.RATING])
def test_open_twice_adds_no_items(prompt_set, kind):
    study = make_study([make_run(prompt_set), make_run(prompt_set)], kind=kind)
    open_study(study)
    before = study.items.count()

    created = open_study(study)
    # Another seed draws other canonical orders; the rebuild must still see the pairs exist.
    created_other_seed = open_study(study, seed=999)

    assert created == 0
    assert created_other_seed == 0
    assert study.items.count() == before


def test_reopen_adds_items_for_new_system(prompt_set):
    runs = [make_run(prompt_set), make_run(prompt_set)]
    study = make_study(runs)
    open_study(study)
    study.systems.add(make_run(prompt_set))

    created = open_study(study)

    assert created == 6
    assert study.items.count() == 9


def _assert_not_opened(study, message_part):
    with pytest.raises(StudyNotReady) as error:
        open_study(study)
    assert message_part in str(error.value)
    study.refresh_from_db()
    assert study.status == StudyStatus.DRAFT
    assert not Item.objects.filter(study=study).exists()


def test_pairwise_needs_two_systems(prompt_set):
    study = make_study([make_run(prompt_set)])
    _assert_not_opened(study, "at least 2 systems")


def test_rating_needs_one_system(prompt_set):
    run = make_run(prompt_set)
    study = make_study([run], kind=StudyKind.RATING)
    study.systems.clear()
    _assert_not_opened(study, "at least 1 system")


def test_system_on_other_prompt_set_rejected(prompt_set):
    stray = make_run(make_prompt_set(name="other-set"), model_name="Zyxqor-Stray")
    study = make_study([make_run(prompt_set), stray], prompt_set=prompt_set)
    _assert_not_opened(study, "other-set")


def test_study_without_criteria_rejected(prompt_set):
    study = make_study([make_run(prompt_set), make_run(prompt_set)], criteria=())
    _assert_not_opened(study, "no criteria")


def test_study_without_shared_responses_rejected(prompt_set):
    runs = [make_run(prompt_set), make_run(prompt_set)]
    Response.objects.filter(run=runs[0]).delete()
    study = make_study(runs)
    _assert_not_opened(study, "no item to judge")


# Balance of built studies


def _prompts(count):
    return make_prompt_set(prompts=[f"Prompt {n}" for n in range(count)])


def _pair_orders(study):
    """Map each unordered pair of run ids to a Counter of the run whose response is first."""
    orders = {}
    items = study.items.filter(is_gold=False).select_related("first_response", "second_response")
    for item in items:
        first, second = item.first_response.run_id, item.second_response.run_id
        orders.setdefault(frozenset((first, second)), Counter())[first] += 1
    return orders


def _assert_balanced(study, runs):
    """Assert every pair's item count is within 1 of every other's, and each pair's first-response split within 1."""
    orders = _pair_orders(study)
    all_pairs = {frozenset((a.pk, b.pk)) for a, b in combinations(runs, 2)}
    assert set(orders) <= all_pairs
    totals = [sum(orders.get(pair, Counter()).values()) for pair in all_pairs]
    assert max(totals) - min(totals) <= 1, totals
    for pair, counter in orders.items():
        low, high = sorted(pair)
        assert abs(counter[low] - counter[high]) <= 1, (pair, counter)


BALANCE_SHAPES = [
    # (systems, prompts, pairs per prompt)
    (3, 5, None),
    (4, 5, None),
    (12, 3, None),
    (3, 7, 1),
    (4, 9, 2),
    (4, 10, 3),
    (12, 12, 6),
    (12, 20, 4),
    (12, 7, 4),
]


@pytest.mark.parametrize("systems, prompts, per_prompt", BALANCE_SHAPES)
def test_built_study_is_balanced(systems, prompts, per_prompt):
    prompt_set = _prompts(prompts)
    runs = [make_run(prompt_set) for _ in range(systems)]
    study = make_study(runs)
    study.pairs_per_prompt = per_prompt
    study.save()

    created = open_study(study, seed=4)

    pairs = systems * (systems - 1) // 2
    assert created == prompts * (per_prompt or pairs)
    _assert_balanced(study, runs)
    per_prompt_pairs = Counter(
        (item.prompt_id, frozenset((item.first_response.run_id, item.second_response.run_id)))
        for item in study.items.select_related("first_response", "second_response")
    )
    assert set(per_prompt_pairs.values()) == {1}


def test_sample_pairs_evenly_per_prompt():
    prompt_set = _prompts(6)
    runs = [make_run(prompt_set) for _ in range(12)]
    study = make_study(runs)
    study.pairs_per_prompt = 6
    study.save()

    open_study(study, seed=8)

    for prompt in prompt_set.prompts.all():
        items = study.items.filter(prompt=prompt).select_related("first_response", "second_response")
        systems = [run for item in items for run in (item.first_response.run_id, item.second_response.run_id)]
        # 6 disjoint pairs: each of the 12 systems once.
        assert sorted(systems) == sorted(run.pk for run in runs)


def test_sample_with_missing_responses_stays_balanced():
    prompt_set = _prompts(12)
    runs = [make_run(prompt_set) for _ in range(4)]
    Response.objects.filter(run=runs[3], prompt__position__in=[0, 5, 11]).delete()
    study = make_study(runs)
    study.pairs_per_prompt = 2
    study.save()

    open_study(study, seed=2)

    _assert_balanced(study, runs)
    assert not study.items.filter(first_response__run=runs[3], prompt__position__in=[0, 5, 11]).exists()
    assert not study.items.filter(second_response__run=runs[3], prompt__position__in=[0, 5, 11]).exists()


def test_all_pairs_with_missing_responses_relaxed():
    prompt_set = _prompts(5)
    runs = [make_run(prompt_set) for _ in range(3)]
    Response.objects.filter(run=runs[2], prompt__position=0).delete()
    study = make_study(runs)

    open_study(study, seed=2)

    orders = _pair_orders(study)
    # Every pair on every prompt both systems answered: the pairs with the
    # third system lack prompt 0, and nothing makes up for it.
    assert sum(orders[frozenset((runs[0].pk, runs[1].pk))].values()) == 5
    assert sum(orders[frozenset((runs[0].pk, runs[2].pk))].values()) == 4
    assert sum(orders[frozenset((runs[1].pk, runs[2].pk))].values()) == 4
    for pair, counter in orders.items():
        low, high = sorted(pair)
        assert abs(counter[low] - counter[high]) <= 1


def test_pairs_per_prompt_above_pair_count_takes_all(prompt_set):
    study = make_study([make_run(prompt_set) for _ in range(3)])
    study.pairs_per_prompt = 50
    study.save()

    assert open_study(study, seed=1) == 9


def test_sample_same_seed_same_items():
    prompt_set = _prompts(8)
    runs = [make_run(prompt_set) for _ in range(5)]
    first, second = make_study(runs), make_study(runs)
    for study in (first, second):
        study.pairs_per_prompt = 2
        study.save()
        open_study(study, seed=21)

    def slots(study):
        return sorted(study.items.values_list("prompt_id", "first_response_id", "second_response_id", "sort_key"))

    assert slots(first) == slots(second)


def test_categories_limit_prompts(prompt_set):
    runs = [make_run(prompt_set) for _ in range(2)]
    study = make_study(runs)
    study.categories = ["knowledge"]
    study.save()

    open_study(study)

    assert study.items.count() == 1
    assert set(study.items.values_list("prompt__category", flat=True)) == {"knowledge"}


def test_categories_limit_rating_items(prompt_set):
    study = make_study([make_run(prompt_set)], kind=StudyKind.RATING)
    study.categories = ["writing"]
    study.save()

    assert open_study(study) == 2


def test_unknown_category_rejected(prompt_set):
    study = make_study([make_run(prompt_set), make_run(prompt_set)])
    study.categories = ["poetry"]
    study.save()

    _assert_not_opened(study, "does not use: poetry. Its categories are: knowledge, writing.")


def test_count_new_items_writes_nothing():
    prompt_set = _prompts(6)
    study = make_study([make_run(prompt_set) for _ in range(4)])
    study.pairs_per_prompt = 2
    study.save()

    planned = count_new_items(study)

    assert planned == 12
    assert not study.items.exists()
    assert open_study(study) == planned
    assert count_new_items(study) == 0


def _judge_first_item(study):
    annotator = make_user()
    study.annotators.add(annotator)
    assignment = next_assignment(study, annotator)
    answers = {criterion.name: "A" for criterion in study.criteria.all()}
    return submit_judgment(assignment, answers)


def _item_rows(study):
    return set(study.items.values_list("pk", "prompt_id", "first_response_id", "second_response_id", "sort_key"))


@pytest.mark.parametrize("per_prompt", [None, 2])
def test_add_systems_keeps_judged_items(per_prompt):
    prompt_set = _prompts(10)
    runs = [make_run(prompt_set) for _ in range(4)]
    study = make_study(runs)
    study.pairs_per_prompt = per_prompt
    study.save()
    open_study(study, seed=3)
    judgment = _judge_first_item(study)
    before = _item_rows(study)
    new_run = make_run(prompt_set)

    created = add_systems(study, [new_run])

    assert created > 0
    assert before <= _item_rows(study)
    assert study.items.count() == len(before) + created
    judgment.refresh_from_db()
    assert judgment.item.study_id == study.pk
    new_items = study.items.exclude(pk__in=[row[0] for row in before]).select_related(
        "first_response", "second_response"
    )
    assert all(new_run.pk in (item.first_response.run_id, item.second_response.run_id) for item in new_items)
    _assert_balanced(study, [*runs, new_run])


def test_add_systems_to_draft_builds_nothing(prompt_set):
    study = make_study([make_run(prompt_set), make_run(prompt_set)])

    assert add_systems(study, [make_run(prompt_set)]) == 0
    assert study.systems.count() == 3
    assert not study.items.exists()


def test_add_systems_keeps_paused_status(prompt_set):
    study = make_study([make_run(prompt_set), make_run(prompt_set)])
    open_study(study)
    Study.objects.filter(pk=study.pk).update(status=StudyStatus.PAUSED)
    study.refresh_from_db()

    created = add_systems(study, [make_run(prompt_set)])

    study.refresh_from_db()
    assert created == 6
    assert study.status == StudyStatus.PAUSED


def test_reopen_with_new_system_balances_sample():
    prompt_set = _prompts(9)
    runs = [make_run(prompt_set) for _ in range(3)]
    study = make_study(runs)
    study.pairs_per_prompt = 1
    study.save()
    open_study(study)
    new_run = make_run(prompt_set)
    study.systems.add(new_run)

    created = open_study(study)

    # Old pairs have 3 items each; the 3 new pairs get within 1 of that.
    assert 6 <= created <= 9
    _assert_balanced(study, [*runs, new_run])


def test_canonical_order_balanced_across_builds():
    prompt_set = _prompts(7)
    runs = [make_run(prompt_set) for _ in range(2)]
    Response.objects.filter(run=runs[1], prompt__position__in=[4, 5, 6]).delete()
    study = make_study(runs)
    open_study(study, seed=1)
    for prompt in prompt_set.prompts.filter(position__in=[4, 5, 6]):
        Response.objects.create(run=runs[1], prompt=prompt, text="late answer", finish_reason="stop")

    open_study(study, seed=2)

    counter = _pair_orders(study)[frozenset(run.pk for run in runs)]
    assert sum(counter.values()) == 7
    assert abs(counter[runs[0].pk] - counter[runs[1].pk]) == 1
