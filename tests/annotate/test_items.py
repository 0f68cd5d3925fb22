from collections import Counter
from itertools import combinations

import pytest

from annotate.errors import StudyNotReady
from annotate.items import open_study
from annotate.models import Item, StudyKind, StudyStatus
from generation.models import Response
from tests.factories import make_prompt_set, make_run, make_study

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
