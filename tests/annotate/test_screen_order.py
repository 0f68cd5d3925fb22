"""Left/right order of assignments: balanced per item and per pair of systems."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from annotate.assignment import next_assignment, submit_judgment
from annotate.items import open_study
from annotate.models import Assignment, AssignmentStatus, StudyKind
from annotate.screen_order import choose_first_on_left
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = pytest.mark.django_db

NOW = timezone.now()


class _FixedDraw:
    """A random source whose every draw is `value`."""

    def __init__(self, value):
        self.value = value

    def random(self):
        return self.value


def _study(prompts=1, systems=2, overlap=3, kind=StudyKind.PAIRWISE):
    prompt_set = make_prompt_set(prompts=[f"Prompt {n}" for n in range(prompts)])
    study = make_study([make_run(prompt_set) for _ in range(systems)], overlap=overlap, kind=kind)
    open_study(study, seed=1)
    return study


def _judge_all(study, annotators):
    """Let each annotator in turn judge every item they can get."""
    answer = "A" if study.kind == StudyKind.PAIRWISE else 3
    for annotator in annotators:
        while (assignment := next_assignment(study, annotator, now=NOW)) is not None:
            submit_judgment(assignment, {c.name: answer for c in study.criteria.all()}, now=NOW)


@pytest.mark.parametrize("kind", [StudyKind.PAIRWISE, StudyKind.RATING])
def test_orders_alternate_per_item(kind):
    study = _study(prompts=1, systems=2 if kind == StudyKind.PAIRWISE else 1, overlap=5, kind=kind)
    item = study.items.get()

    _judge_all(study, [make_user() for _ in range(5)])

    orders = list(
        Assignment.objects.filter(item=item).order_by("leased_at", "pk").values_list("first_on_left", flat=True)
    )
    assert len(orders) == 5
    assert orders == [orders[0], not orders[0], orders[0], not orders[0], orders[0]]


def test_pair_left_counts_within_one():
    study = _study(prompts=9, systems=2, overlap=3)
    first_run = study.systems.order_by("pk").first()

    _judge_all(study, [make_user() for _ in range(3)])

    assignments = Assignment.objects.filter(item__study=study).select_related("item__first_response")
    assert assignments.count() == 27
    per_item = Counter()
    left_runs = Counter()
    for assignment in assignments:
        per_item[assignment.item_id] += 1 if assignment.first_on_left else -1
        first_is_run = assignment.item.first_response.run_id == first_run.pk
        left_runs["first run" if first_is_run == assignment.first_on_left else "second run"] += 1
    assert all(abs(balance) == 1 for balance in per_item.values())
    assert abs(left_runs["first run"] - left_runs["second run"]) <= 1


def test_pair_balance_across_three_systems():
    study = _study(prompts=6, systems=3, overlap=3)

    _judge_all(study, [make_user() for _ in range(3)])

    left = Counter()
    shown = Counter()
    for assignment in Assignment.objects.filter(item__study=study).select_related(
        "item__first_response", "item__second_response"
    ):
        runs = (assignment.item.first_response.run_id, assignment.item.second_response.run_id)
        pair = frozenset(runs)
        left[pair, runs[0] if assignment.first_on_left else runs[1]] += 1
        shown[pair] += 1
    for pair in shown:
        low, high = sorted(pair)
        assert abs(left[pair, low] - left[pair, high]) <= 1, (pair, left)


@pytest.mark.parametrize("draw, expected", [(0.25, True), (0.75, False)])
def test_first_rating_lease_draws_start(draw, expected):
    study = _study(prompts=1, systems=1, kind=StudyKind.RATING)
    item = study.items.get()

    assert choose_first_on_left(item, NOW, _FixedDraw(draw)) is expected


@pytest.mark.parametrize("draw", [0.25, 0.75])
def test_first_pairwise_lease_shows_canonical_first(draw):
    # The canonical order is the pair's balanced random draw (annotate.items),
    # so the start follows it whatever this draw.
    study = _study(prompts=1)
    item = study.items.get()

    assert choose_first_on_left(item, NOW, _FixedDraw(draw)) is True


def test_expired_lease_not_counted():
    study = _study(prompts=1, systems=1, kind=StudyKind.RATING)
    item = study.items.get()
    Assignment.objects.create(
        item=item,
        annotator=make_user(),
        first_on_left=True,
        leased_at=NOW - timedelta(hours=2),
        expires_at=NOW - timedelta(hours=1),
    )

    # Counted, that lease would make the next order False whatever the draw.
    assert choose_first_on_left(item, NOW, _FixedDraw(0.25)) is True


def test_skipped_assignment_not_counted():
    study = _study(prompts=1, systems=1, kind=StudyKind.RATING)
    item = study.items.get()
    Assignment.objects.create(
        item=item,
        annotator=make_user(),
        first_on_left=True,
        status=AssignmentStatus.SKIPPED,
        leased_at=NOW,
        expires_at=NOW + timedelta(minutes=30),
    )

    assert choose_first_on_left(item, NOW, _FixedDraw(0.25)) is True


def test_pair_starts_follow_balanced_canonical_orders():
    study = _study(prompts=7, systems=2, overlap=1)
    first_run = study.systems.order_by("pk").first()

    _judge_all(study, [make_user()])

    left_runs = Counter()
    for assignment in Assignment.objects.filter(item__study=study).select_related(
        "item__first_response", "item__second_response"
    ):
        shown_left = assignment.item.first_response if assignment.first_on_left else assignment.item.second_response
        left_runs[shown_left.run_id == first_run.pk] += 1
    assert sum(left_runs.values()) == 7
    assert abs(left_runs[True] - left_runs[False]) <= 1
