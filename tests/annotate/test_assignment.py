from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from annotate.assignment import annotator_progress, next_assignment, submit_judgment
from annotate.errors import InvalidAnswer
from annotate.items import open_study
from annotate.models import Assignment, AssignmentStatus, CriterionAnswer, Item, Judgment, Outcome
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = pytest.mark.django_db

NOW = timezone.now()
PAIRWISE_ANSWERS = {"helpfulness": "A", "accuracy": "tie"}


def _single_item_study(overlap=1, lease_minutes=30):
    prompt_set = make_prompt_set(prompts=["Only prompt"])
    study = make_study([make_run(prompt_set), make_run(prompt_set)], overlap=overlap, lease_minutes=lease_minutes)
    open_study(study)
    return study


def _judge(study, annotator, now=NOW, answers=None):
    assignment = next_assignment(study, annotator, now=now)
    answers = answers or {criterion.name: "A" for criterion in study.criteria.all()}
    return submit_judgment(assignment, answers, now=now)


def test_lease_sets_expiry_from_study(pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator, now=NOW)

    assert assignment.status == AssignmentStatus.LEASED
    assert assignment.leased_at == NOW
    assert assignment.expires_at == NOW + timedelta(minutes=30)
    assert assignment.item.study_id == pairwise_study.pk


def test_current_lease_returned_again(pairwise_study, annotator):
    first = next_assignment(pairwise_study, annotator, now=NOW)
    again = next_assignment(pairwise_study, annotator, now=NOW + timedelta(minutes=5))

    assert again.pk == first.pk
    assert Assignment.objects.filter(annotator=annotator).count() == 1


def test_never_same_item_twice(pairwise_study, annotator):
    seen = []
    for _ in range(pairwise_study.items.count()):
        judgment = _judge(pairwise_study, annotator, answers=PAIRWISE_ANSWERS)
        seen.append(judgment.item_id)

    assert len(seen) == len(set(seen)) == 9
    assert next_assignment(pairwise_study, annotator, now=NOW) is None


def test_never_more_leases_than_overlap(prompt_set):
    study = make_study([make_run(prompt_set), make_run(prompt_set)], overlap=2)
    open_study(study)
    annotators = [make_user() for _ in range(7)]

    assignments = [next_assignment(study, person, now=NOW) for person in annotators]

    # 3 items x overlap 2 = 6 leases; the seventh annotator gets nothing.
    assert all(assignment is not None for assignment in assignments[:6])
    assert assignments[6] is None
    per_item = Counter(assignment.item_id for assignment in assignments[:6])
    assert set(per_item.values()) == {2}


def test_judgments_count_toward_overlap(prompt_set):
    study = _single_item_study(overlap=2)
    _judge(study, make_user())
    _judge(study, make_user())

    assert next_assignment(study, make_user(), now=NOW) is None


def test_prefers_item_closest_to_completion(prompt_set):
    study = make_study([make_run(prompt_set), make_run(prompt_set)], overlap=3)
    open_study(study)
    items = list(study.items.order_by("sort_key"))
    last = items[-1]
    _judge(study, make_user())  # takes the first item by sort_key: load 1
    Item.objects.filter(pk=last.pk).update(sort_key=0.99)
    # Two more judgments on the last item push it above the first one.
    for person in (make_user(), make_user()):
        assignment = Assignment.objects.create(
            item=last,
            annotator=person,
            first_on_left=True,
            leased_at=NOW,
            expires_at=NOW + timedelta(minutes=30),
        )
        submit_judgment(assignment, {"overall": "B"}, now=NOW)

    assignment = next_assignment(study, make_user(), now=NOW)

    assert assignment.item_id == last.pk


def test_equal_load_follows_sort_key(prompt_set):
    study = make_study([make_run(prompt_set), make_run(prompt_set)])
    open_study(study)
    lowest = study.items.order_by("sort_key").first()

    assignment = next_assignment(study, make_user(), now=NOW)

    assert assignment.item_id == lowest.pk


def test_expired_lease_returns_item_to_pool():
    study = _single_item_study(overlap=1, lease_minutes=10)
    holder, waiting = make_user(), make_user()
    held = next_assignment(study, holder, now=NOW)

    assert next_assignment(study, waiting, now=NOW + timedelta(minutes=9)) is None
    taken = next_assignment(study, waiting, now=NOW + timedelta(minutes=11))

    assert taken is not None
    assert taken.item_id == held.item_id
    assert taken.annotator == waiting


def test_own_expired_lease_renewed_on_same_row():
    study = _single_item_study(overlap=1, lease_minutes=10)
    annotator = make_user()
    first = next_assignment(study, annotator, now=NOW)
    later = NOW + timedelta(minutes=45)

    again = next_assignment(study, annotator, now=later)

    assert again.pk == first.pk
    assert again.first_on_left == first.first_on_left
    assert again.leased_at == later
    assert again.expires_at == later + timedelta(minutes=10)
    assert Assignment.objects.filter(annotator=annotator).count() == 1


def test_own_expired_lease_preferred(prompt_set):
    study = make_study([make_run(prompt_set), make_run(prompt_set)], lease_minutes=10)
    open_study(study)
    annotator = make_user()
    first = next_assignment(study, annotator, now=NOW)
    Item.objects.filter(pk=first.item_id).update(sort_key=2.0)  # now last by sort_key

    again = next_assignment(study, annotator, now=NOW + timedelta(minutes=20))

    assert again.pk == first.pk


def test_own_expired_lease_not_retaken_when_item_full():
    study = _single_item_study(overlap=1, lease_minutes=10)
    slow, fast = make_user(), make_user()
    next_assignment(study, slow, now=NOW)
    _judge(study, fast, now=NOW + timedelta(minutes=11))

    assert next_assignment(study, slow, now=NOW + timedelta(minutes=12)) is None


def test_late_submit_marked_surplus_when_item_full():
    study = _single_item_study(overlap=1, lease_minutes=10)
    slow, fast = make_user(), make_user()
    slow_assignment = next_assignment(study, slow, now=NOW)
    _judge(study, fast, now=NOW + timedelta(minutes=11))

    late = submit_judgment(slow_assignment, {"overall": "B"}, now=NOW + timedelta(minutes=20))

    assert late.pk is not None
    assert late.is_surplus is True
    assert Judgment.objects.filter(item=late.item).count() == 2
    assert Judgment.objects.filter(item=late.item, is_surplus=False).count() == 1


def test_late_submit_counted_when_item_has_room():
    study = _single_item_study(overlap=1, lease_minutes=10)
    assignment = next_assignment(study, make_user(), now=NOW)

    late = submit_judgment(assignment, {"overall": "A"}, now=NOW + timedelta(hours=3))

    assert late.is_surplus is False


def test_submit_twice_keeps_first_judgment(pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator, now=NOW)
    first = submit_judgment(assignment, PAIRWISE_ANSWERS, rationale="first", now=NOW)

    second = submit_judgment(assignment, {"helpfulness": "B", "accuracy": "both_bad"}, rationale="second", now=NOW)

    assert second.pk == first.pk
    assert Judgment.objects.filter(assignment=assignment).count() == 1
    stored = Judgment.objects.get(pk=first.pk)
    assert stored.rationale == "first"
    outcomes = dict(stored.answers.values_list("criterion__name", "outcome"))
    assert outcomes == {"helpfulness": Outcome.WIN, "accuracy": Outcome.TIE}


def test_submit_marks_assignment_submitted(pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator, now=NOW)
    submit_judgment(assignment, PAIRWISE_ANSWERS, now=NOW)

    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.SUBMITTED


@pytest.mark.parametrize("first_on_left", [True, False])
def test_choice_b_stores_response_shown_right(pairwise_study, annotator, first_on_left):
    assignment = next_assignment(pairwise_study, annotator, now=NOW)
    Assignment.objects.filter(pk=assignment.pk).update(first_on_left=first_on_left)
    assignment.refresh_from_db()
    item = assignment.item
    shown_right = item.second_response if first_on_left else item.first_response

    judgment = submit_judgment(assignment, {"helpfulness": "B", "accuracy": "A"}, now=NOW)

    answers = {answer.criterion.name: answer for answer in judgment.answers.select_related("criterion")}
    assert answers["helpfulness"].outcome == Outcome.WIN
    assert answers["helpfulness"].winner_id == shown_right.pk
    assert answers["accuracy"].winner_id != shown_right.pk
    assert judgment.first_on_left is first_on_left


def test_tie_and_both_bad_store_no_winner(pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator, now=NOW)

    judgment = submit_judgment(assignment, {"helpfulness": "tie", "accuracy": "both_bad"}, now=NOW)

    rows = {a.criterion.name: a for a in judgment.answers.select_related("criterion")}
    assert rows["helpfulness"].outcome == Outcome.TIE
    assert rows["accuracy"].outcome == Outcome.BOTH_BAD
    assert rows["helpfulness"].winner_id is None
    assert rows["accuracy"].winner_id is None


def test_rating_score_stored(rating_study, annotator):
    assignment = next_assignment(rating_study, annotator, now=NOW)

    judgment = submit_judgment(assignment, {"fluency": 4}, now=NOW)

    answer = judgment.answers.get()
    assert answer.score == 4
    assert answer.outcome == ""
    assert answer.winner_id is None


@pytest.mark.parametrize("bad_score", [0, 6, "high", 3.5, True, ""])
def test_rating_score_out_of_scale_rejected(rating_study, annotator, bad_score):
    assignment = next_assignment(rating_study, annotator, now=NOW)

    with pytest.raises(InvalidAnswer) as error:
        submit_judgment(assignment, {"fluency": bad_score}, now=NOW)

    assert "fluency" in str(error.value)
    assert error.value.criterion_name == "fluency"
    assert not Judgment.objects.exists()


def test_missing_criterion_rejected(pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator, now=NOW)

    with pytest.raises(InvalidAnswer) as error:
        submit_judgment(assignment, {"helpfulness": "A"}, now=NOW)

    assert "accuracy" in str(error.value)
    assert not Judgment.objects.exists()
    assert not CriterionAnswer.objects.exists()


@pytest.mark.parametrize("bad_choice", ["C", "a", "left", 1])
def test_unknown_choice_rejected(pairwise_study, annotator, bad_choice):
    assignment = next_assignment(pairwise_study, annotator, now=NOW)

    with pytest.raises(InvalidAnswer) as error:
        submit_judgment(assignment, {"helpfulness": bad_choice, "accuracy": "A"}, now=NOW)

    assert "helpfulness" in str(error.value)
    assert not Judgment.objects.exists()


def test_unknown_criterion_rejected(pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator, now=NOW)

    with pytest.raises(InvalidAnswer) as error:
        submit_judgment(assignment, {**PAIRWISE_ANSWERS, "style": "A"}, now=NOW)

    assert "style" in str(error.value)


def test_time_on_task_reported_value_kept(pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator, now=NOW)

    judgment = submit_judgment(assignment, PAIRWISE_ANSWERS, time_on_task=42.5, now=NOW)

    assert judgment.time_on_task_seconds == 42.5


@pytest.mark.parametrize("reported", [None, -3, float("nan"), float("inf"), "garbage", "1\x002", 24 * 3600 + 1])
def test_time_on_task_falls_back_to_lease(pairwise_study, annotator, reported):
    assignment = next_assignment(pairwise_study, annotator, now=NOW)

    judgment = submit_judgment(assignment, PAIRWISE_ANSWERS, time_on_task=reported, now=NOW + timedelta(seconds=75))

    assert judgment.time_on_task_seconds == 75


def test_progress_counts_done_and_left(pairwise_study, annotator):
    assert annotator_progress(pairwise_study, annotator).left == 9
    _judge(pairwise_study, annotator, answers=PAIRWISE_ANSWERS)
    _judge(pairwise_study, annotator, answers=PAIRWISE_ANSWERS)

    progress = annotator_progress(pairwise_study, annotator)

    assert progress.done == 2
    assert progress.left == 7
    assert progress.total == 9


def test_progress_leaves_out_full_items():
    study = _single_item_study(overlap=1)
    _judge(study, make_user())

    assert annotator_progress(study, make_user()).left == 0
