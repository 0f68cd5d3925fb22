"""Gold items: creating them, scoring judgments, accuracy, the qualification rule and mixing."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from annotate import gold
from annotate.assignment import annotator_progress, next_assignment, submit_judgment
from annotate.errors import AnnotatorPaused, InvalidGold
from annotate.items import open_study
from annotate.models import (
    AnnotatorStatus,
    Assignment,
    AssignmentStatus,
    Item,
    Judgment,
    Outcome,
    StudyKind,
)
from generation.models import Prompt, Response
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = pytest.mark.django_db

NOW = timezone.now()
BAD_TEXT = "Bananas are a kind of spaceship, so the answer is purple."


@pytest.fixture
def seeded_draws(monkeypatch):
    """Make the gold draws reproducible."""
    monkeypatch.setattr(gold, "gold_rng", random.Random(20240611))


def _set(study, **fields):
    for name, value in fields.items():
        setattr(study, name, value)
    study.save()
    return study


def _first_prompt(study):
    return study.prompt_set.prompts.order_by("position").first()


def _attention(study, prompt=None, text=BAD_TEXT, **kwargs):
    prompt = prompt or _first_prompt(study)
    if study.kind == StudyKind.PAIRWISE and "system" not in kwargs:
        kwargs["system"] = study.systems.order_by("pk").first()
    return gold.create_attention_check(study, prompt, text, **kwargs)


def _choose(assignment, *, attention: bool) -> str:
    """Return the screen choice (A or B) that picks the attention text, or the real response."""
    shown = assignment.shown_answers()
    index = next(i for i, answer in enumerate(shown) if (answer.response is None) == attention)
    return "AB"[index]


def _submit_gold(study, annotator, *, right: bool, now=NOW):
    """Lease the annotator's next task with gold drawn every time and answer it right or wrong."""
    assignment = next_assignment(study, annotator, now=now)
    assert assignment.item.is_gold
    if study.kind == StudyKind.PAIRWISE:
        choice = _choose(assignment, attention=not right)
        answers = {criterion.name: choice for criterion in study.criteria.all()}
    else:
        answers = {criterion.name: (1 if right else 5) for criterion in study.criteria.all()}
    return submit_judgment(assignment, answers, now=now)


# Marking items gold


def test_mark_gold_pairwise_win(pairwise_study):
    item = pairwise_study.items.first()

    gold.mark_gold(item, outcome=Outcome.WIN, winner=item.second_response)

    item.refresh_from_db()
    assert item.is_gold
    assert item.gold_outcome == Outcome.WIN
    assert item.gold_winner_id == item.second_response_id


def test_mark_gold_tie_clears_winner(pairwise_study):
    item = pairwise_study.items.first()
    gold.mark_gold(item, outcome=Outcome.WIN, winner=item.first_response)

    gold.mark_gold(item, outcome=Outcome.TIE)

    item.refresh_from_db()
    assert item.gold_outcome == Outcome.TIE
    assert item.gold_winner is None


@pytest.mark.parametrize(
    ("outcome", "winner_kind", "field"),
    [
        (None, None, "outcome"),
        ("", None, "outcome"),
        (Outcome.ATTENTION_TEXT, None, "outcome"),
        ("first_wins", None, "outcome"),
        (Outcome.WIN, None, "winner"),
        (Outcome.WIN, "foreign", "winner"),
        (Outcome.TIE, "own", "winner"),
    ],
)
def test_mark_gold_pairwise_rejects(pairwise_study, outcome, winner_kind, field):
    item = pairwise_study.items.first()
    foreign = Response.objects.exclude(pk__in=[item.first_response_id, item.second_response_id]).first()
    winner = {"own": item.first_response, "foreign": foreign, None: None}[winner_kind]

    with pytest.raises(InvalidGold) as raised:
        gold.mark_gold(item, outcome=outcome, winner=winner)

    assert raised.value.field == field
    item.refresh_from_db()
    assert not item.is_gold


@pytest.mark.parametrize(
    ("low", "high", "field"),
    [(0, 2, "min_score"), (2, 6, "max_score"), (4, 2, "max_score"), (None, 3, "min_score"), (True, 3, "min_score")],
)
def test_mark_gold_rating_rejects_range(rating_study, low, high, field):
    item = rating_study.items.first()

    with pytest.raises(InvalidGold) as raised:
        gold.mark_gold(item, min_score=low, max_score=high)

    assert raised.value.field == field
    assert "1 to 5" in str(raised.value) or "above the highest" in str(raised.value)
    item.refresh_from_db()
    assert not item.is_gold


def test_mark_gold_scores_existing_judgments(pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator, now=NOW)
    judgment = submit_judgment(assignment, {"helpfulness": "A", "accuracy": "A"}, now=NOW)
    assert judgment.gold_correct is None
    item = assignment.item
    shown_a = assignment.shown_responses()[0]

    gold.mark_gold(item, outcome=Outcome.WIN, winner=shown_a)

    judgment.refresh_from_db()
    assert judgment.gold_correct is True
    gold.mark_gold(item, outcome=Outcome.BOTH_BAD)
    judgment.refresh_from_db()
    assert judgment.gold_correct is False


def test_unmark_gold_restores_surplus(prompt_set):
    study = make_study([make_run(prompt_set), make_run(prompt_set)], overlap=1)
    open_study(study)
    item = study.items.first()
    gold.mark_gold(item, outcome=Outcome.TIE)
    _set(study, gold_rate=1.0)
    for _ in range(3):
        assignment = next_assignment(study, make_user(), now=NOW)
        assert assignment.item_id == item.pk
        submit_judgment(assignment, {"overall": "tie"}, now=NOW)
    assert not Judgment.objects.filter(item=item, is_surplus=True).exists()

    gold.unmark_gold(item)

    item.refresh_from_db()
    flags = list(item.judgments.order_by("created_at", "pk").values_list("is_surplus", "gold_correct"))
    assert not item.is_gold
    assert flags == [(False, None), (True, None), (True, None)]


def test_unmark_attention_check_rejected(pairwise_study):
    item = _attention(pairwise_study)

    with pytest.raises(InvalidGold):
        gold.unmark_gold(item)

    item.refresh_from_db()
    assert item.is_gold


# Attention checks


def test_attention_check_pairwise(pairwise_study):
    system = pairwise_study.systems.order_by("pk").last()
    prompt = _first_prompt(pairwise_study)

    item = gold.create_attention_check(pairwise_study, prompt, f"  {BAD_TEXT}\n", system=system)

    real = Response.objects.get(run=system, prompt=prompt)
    assert item.is_gold
    assert item.attention_text == BAD_TEXT
    assert item.first_response == real
    assert item.second_response is None
    assert (item.gold_outcome, item.gold_winner) == (Outcome.WIN, real)
    assert [answer.text for answer in item.canonical_answers()] == [real.text, BAD_TEXT]


def test_attention_check_rating_default_range(rating_study):
    item = _attention(rating_study)

    assert item.first_response is None
    assert (item.gold_min_score, item.gold_max_score) == (1, 2)
    assert [answer.text for answer in item.canonical_answers()] == [BAD_TEXT]


def test_attention_check_rating_own_range(rating_study):
    item = _attention(rating_study, min_score=1, max_score=1)

    assert (item.gold_min_score, item.gold_max_score) == (1, 1)


def test_attention_check_rejects_empty_text(pairwise_study):
    with pytest.raises(InvalidGold) as raised:
        _attention(pairwise_study, text="  \n ")

    assert raised.value.field == "text"
    assert not Item.objects.filter(is_gold=True).exists()


def test_attention_check_rejects_foreign_prompt(pairwise_study):
    foreign = make_prompt_set(prompts=["Elsewhere"]).prompts.get()

    with pytest.raises(InvalidGold) as raised:
        _attention(pairwise_study, prompt=foreign)

    assert raised.value.field == "prompt"
    assert pairwise_study.prompt_set.name in str(raised.value)


def test_attention_check_rejects_multi_turn_prompt(pairwise_study):
    prompt = Prompt.objects.create(
        prompt_set=pairwise_study.prompt_set, position=9, text="Hi", follow_up_turns=["And then?"]
    )

    with pytest.raises(InvalidGold) as raised:
        _attention(pairwise_study, prompt=prompt)

    assert raised.value.field == "prompt"
    assert "has 2" in str(raised.value)


def test_attention_check_rejects_other_category(pairwise_study):
    _set(pairwise_study, categories=["knowledge"])
    writing = pairwise_study.prompt_set.prompts.get(position=0)

    with pytest.raises(InvalidGold) as raised:
        _attention(pairwise_study, prompt=writing)

    assert raised.value.field == "prompt"
    assert "writing" in str(raised.value)


def test_attention_check_rejects_outside_system(pairwise_study):
    outsider = make_run(pairwise_study.prompt_set, model_name="Outsider")

    with pytest.raises(InvalidGold) as raised:
        _attention(pairwise_study, system=outsider)

    assert raised.value.field == "system"


def test_attention_check_rejects_system_without_response(pairwise_study):
    system = pairwise_study.systems.order_by("pk").first()
    prompt = _first_prompt(pairwise_study)
    Item.objects.filter(first_response__prompt=prompt).delete()
    Item.objects.filter(second_response__prompt=prompt).delete()
    Response.objects.filter(run=system, prompt=prompt).delete()

    with pytest.raises(InvalidGold) as raised:
        _attention(pairwise_study, system=system)

    assert raised.value.field == "system"
    assert "no response" in str(raised.value)


def test_attention_check_rating_rejects_system(rating_study):
    with pytest.raises(InvalidGold) as raised:
        _attention(rating_study, system=rating_study.systems.first())

    assert raised.value.field == "system"


def test_attention_check_needs_criteria(prompt_set):
    study = make_study([make_run(prompt_set)], kind=StudyKind.RATING, criteria=())

    with pytest.raises(InvalidGold) as raised:
        _attention(study)

    assert "no criteria" in str(raised.value)


# Scoring on submit


@pytest.mark.parametrize("first_on_left", [True, False])
def test_attention_choice_stored_as_attention_text(pairwise_study, annotator, first_on_left, seeded_draws):
    _attention(pairwise_study)
    _set(pairwise_study, gold_rate=1.0)
    assignment = next_assignment(pairwise_study, annotator, now=NOW)
    Assignment.objects.filter(pk=assignment.pk).update(first_on_left=first_on_left)
    assignment.refresh_from_db()
    choice = _choose(assignment, attention=True)

    judgment = submit_judgment(assignment, {"helpfulness": choice, "accuracy": choice}, now=NOW)

    answers = list(judgment.answers.values_list("outcome", "winner"))
    assert answers == [(Outcome.ATTENTION_TEXT, None), (Outcome.ATTENTION_TEXT, None)]
    assert judgment.gold_correct is False
    assert not judgment.is_surplus


def test_attention_real_choice_is_right(pairwise_study, annotator, seeded_draws):
    item = _attention(pairwise_study)
    _set(pairwise_study, gold_rate=1.0)
    assignment = next_assignment(pairwise_study, annotator, now=NOW)
    choice = _choose(assignment, attention=False)

    judgment = submit_judgment(assignment, {"helpfulness": choice, "accuracy": "tie"}, now=NOW)

    answer = judgment.answers.get(criterion__name="helpfulness")
    assert (answer.outcome, answer.winner_id) == (Outcome.WIN, item.first_response_id)
    assert judgment.gold_correct is True


def test_only_first_criterion_scored(pairwise_study, seeded_draws):
    item = pairwise_study.items.first()
    gold.mark_gold(item, outcome=Outcome.TIE)
    _set(pairwise_study, gold_rate=1.0)
    right_first = submit_judgment(
        next_assignment(pairwise_study, make_user(), now=NOW), {"helpfulness": "tie", "accuracy": "A"}, now=NOW
    )
    wrong_first = submit_judgment(
        next_assignment(pairwise_study, make_user(), now=NOW), {"helpfulness": "A", "accuracy": "tie"}, now=NOW
    )

    assert [criterion.name for criterion in pairwise_study.criteria.order_by("position")][0] == "helpfulness"
    assert right_first.gold_correct is True
    assert wrong_first.gold_correct is False


def test_win_needs_right_winner(pairwise_study, seeded_draws):
    item = pairwise_study.items.first()
    gold.mark_gold(item, outcome=Outcome.WIN, winner=item.first_response)
    _set(pairwise_study, gold_rate=1.0)
    results = {}
    for first_on_left in (True, False):
        assignment = next_assignment(pairwise_study, make_user(), now=NOW)
        Assignment.objects.filter(pk=assignment.pk).update(first_on_left=first_on_left)
        assignment.refresh_from_db()
        # A is the first response only when it is shown on the left.
        results[first_on_left] = submit_judgment(assignment, {"helpfulness": "A", "accuracy": "A"}, now=NOW)

    assert results[True].gold_correct is True
    assert results[False].gold_correct is False


@pytest.mark.parametrize(("score", "expected"), [(1, False), (2, True), (3, True), (4, True), (5, False)])
def test_rating_range_bounds_included(rating_study, annotator, score, expected, seeded_draws):
    item = rating_study.items.first()
    gold.mark_gold(item, min_score=2, max_score=4)
    _set(rating_study, gold_rate=1.0)

    judgment = submit_judgment(next_assignment(rating_study, annotator, now=NOW), {"fluency": score}, now=NOW)

    assert judgment.item_id == item.pk
    assert judgment.gold_correct is expected


def test_regular_judgment_unscored(pairwise_study, annotator):
    judgment = submit_judgment(
        next_assignment(pairwise_study, annotator, now=NOW), {"helpfulness": "A", "accuracy": "B"}, now=NOW
    )

    assert judgment.gold_correct is None
    assert gold.score_judgment(judgment) is None


def test_score_judgment_without_right_answer(pairwise_study, annotator):
    item = pairwise_study.items.first()
    Item.objects.filter(pk=item.pk).update(is_gold=True)
    assignment = Assignment.objects.create(
        item=item, annotator=annotator, first_on_left=True, leased_at=NOW, expires_at=NOW + timedelta(minutes=5)
    )

    judgment = submit_judgment(assignment, {"helpfulness": "A", "accuracy": "B"}, now=NOW)

    assert judgment.gold_correct is None


# Accuracy and the qualification rule


def test_accuracy_per_annotator(rating_study, seeded_draws):
    for index in range(3):
        _attention(rating_study, text=f"{BAD_TEXT} {index}")
    _set(rating_study, gold_rate=1.0)
    good, poor, idle = make_user(), make_user(), make_user()
    for right in (True, True, False):
        _submit_gold(rating_study, good, right=right)
    _submit_gold(rating_study, poor, right=False)
    _submit_gold(rating_study, poor, right=False)

    figures = gold.gold_accuracy(rating_study)

    assert set(figures) == {good.pk, poor.pk}
    assert (figures[good.pk].correct, figures[good.pk].total) == (2, 3)
    assert figures[good.pk].accuracy == pytest.approx(2 / 3)
    assert figures[poor.pk].accuracy == 0.0
    assert gold.annotator_gold_accuracy(rating_study, idle.pk).accuracy is None
    assert gold.annotator_gold_accuracy(rating_study, good.pk) == figures[good.pk]


def test_qualification_pauses_after_minimum(rating_study, annotator, seeded_draws):
    for index in range(4):
        _attention(rating_study, text=f"{BAD_TEXT} {index}")
    _set(rating_study, gold_rate=1.0, qualification_min_accuracy=0.6, qualification_min_gold=3)

    _submit_gold(rating_study, annotator, right=True)
    _submit_gold(rating_study, annotator, right=False)
    assert not gold.is_paused(rating_study, annotator)
    _submit_gold(rating_study, annotator, right=False)

    status = AnnotatorStatus.objects.get(study=rating_study, annotator=annotator)
    assert status.is_paused
    assert status.paused_reason == "Gold accuracy 33% (1 of 3 right) fell below the study's minimum of 60%."
    with pytest.raises(AnnotatorPaused):
        next_assignment(rating_study, annotator, now=NOW)
    assert not Assignment.objects.filter(annotator=annotator, status=AssignmentStatus.LEASED).exists()


def test_qualification_keeps_good_annotator(rating_study, annotator, seeded_draws):
    for index in range(3):
        _attention(rating_study, text=f"{BAD_TEXT} {index}")
    _set(rating_study, gold_rate=1.0, qualification_min_accuracy=0.6, qualification_min_gold=3)

    for right in (True, False, True):
        _submit_gold(rating_study, annotator, right=right)

    assert not gold.is_paused(rating_study, annotator)
    assert not AnnotatorStatus.objects.exists()


def test_qualification_off_without_minimum(rating_study, annotator, seeded_draws):
    for index in range(3):
        _attention(rating_study, text=f"{BAD_TEXT} {index}")
    _set(rating_study, gold_rate=1.0, qualification_min_accuracy=None, qualification_min_gold=1)

    for _ in range(3):
        _submit_gold(rating_study, annotator, right=False)

    assert not gold.is_paused(rating_study, annotator)


def test_qualification_applies_again_after_resume(rating_study, annotator, seeded_draws):
    for index in range(3):
        _attention(rating_study, text=f"{BAD_TEXT} {index}")
    _set(rating_study, gold_rate=1.0, qualification_min_accuracy=0.5, qualification_min_gold=1)
    _submit_gold(rating_study, annotator, right=False)
    assert gold.is_paused(rating_study, annotator)

    gold.set_paused(rating_study, annotator.pk, False)
    _submit_gold(rating_study, annotator, right=True)

    # 1 of 2 right is not below 50%, so the annotator keeps working.
    assert not gold.is_paused(rating_study, annotator)
    _submit_gold(rating_study, annotator, right=False)
    assert gold.is_paused(rating_study, annotator)


def test_manager_pause_blocks_tasks(pairwise_study, annotator):
    gold.set_paused(pairwise_study, annotator.pk, True, "Checking their work.")

    with pytest.raises(AnnotatorPaused):
        next_assignment(pairwise_study, annotator, now=NOW)

    gold.set_paused(pairwise_study, annotator.pk, False)
    assert next_assignment(pairwise_study, annotator, now=NOW) is not None
    assert AnnotatorStatus.objects.get().paused_reason == ""


def test_pause_is_per_study(pairwise_study, rating_study, annotator):
    gold.set_paused(pairwise_study, annotator.pk, True)

    assert next_assignment(rating_study, annotator, now=NOW) is not None


# Mixing


def test_gold_never_drawn_at_rate_zero(pairwise_study, annotator, seeded_draws):
    _attention(pairwise_study)
    _set(pairwise_study, gold_rate=0.0)

    items = []
    while (assignment := next_assignment(pairwise_study, annotator, now=NOW)) is not None:
        items.append(assignment.item)
        submit_judgment(assignment, {"helpfulness": "A", "accuracy": "A"}, now=NOW)

    assert len(items) == 9
    assert not any(item.is_gold for item in items)


def test_marked_gold_leaves_normal_pick(pairwise_study, annotator, seeded_draws):
    marked = pairwise_study.items.order_by("sort_key").first()
    gold.mark_gold(marked, outcome=Outcome.TIE)
    _set(pairwise_study, gold_rate=0.0)

    assignment = next_assignment(pairwise_study, annotator, now=NOW)

    assert assignment.item_id != marked.pk
    assert annotator_progress(pairwise_study, annotator).left == 8


def test_gold_rate_one_serves_each_gold_once(pairwise_study, annotator, seeded_draws):
    gold_items = {_attention(pairwise_study, text=f"{BAD_TEXT} {index}").pk for index in range(3)}
    _set(pairwise_study, gold_rate=1.0)

    served = []
    while (assignment := next_assignment(pairwise_study, annotator, now=NOW)) is not None:
        served.append(assignment.item_id)
        submit_judgment(assignment, {"helpfulness": "A", "accuracy": "A"}, now=NOW)

    assert set(served[:3]) == gold_items
    assert len(served) == 3 + 9
    assert len(set(served)) == len(served)


def test_every_annotator_gets_gold_outside_overlap(prompt_set, seeded_draws):
    study = make_study([make_run(prompt_set), make_run(prompt_set)], overlap=1)
    open_study(study)
    check = _attention(study)
    _set(study, gold_rate=1.0)
    people = [make_user() for _ in range(4)]

    judgments = [_submit_gold(study, person, right=True) for person in people]

    assert {judgment.item_id for judgment in judgments} == {check.pk}
    assert Judgment.objects.filter(item=check, is_surplus=False).count() == 4
    # The gold judgments left every regular item's overlap untouched.
    for person in people:
        assert annotator_progress(study, person).left == 3


def test_no_gold_after_regular_work_done(prompt_set, annotator, seeded_draws):
    study = make_study([make_run(prompt_set), make_run(prompt_set)], overlap=1)
    open_study(study)
    _attention(study)
    _set(study, gold_rate=0.0)
    for _ in range(3):
        submit_judgment(next_assignment(study, make_user(), now=NOW), {"overall": "A"}, now=NOW)
    _set(study, gold_rate=1.0)

    assert next_assignment(study, annotator, now=NOW) is None
    assert not Assignment.objects.filter(annotator=annotator).exists()


def test_expired_gold_lease_offered_again(pairwise_study, annotator, seeded_draws):
    check = _attention(pairwise_study)
    _set(pairwise_study, gold_rate=1.0)
    first = next_assignment(pairwise_study, annotator, now=NOW)

    later = NOW + timedelta(hours=2)
    again = next_assignment(pairwise_study, annotator, now=later)

    assert first.item_id == again.item_id == check.pk
    assert again.pk == first.pk
    assert again.expires_at == later + pairwise_study.lease_duration


def test_skipped_gold_not_offered_again(pairwise_study, annotator, seeded_draws):
    check = _attention(pairwise_study)
    _set(pairwise_study, gold_rate=1.0)
    first = next_assignment(pairwise_study, annotator, now=NOW)
    Assignment.objects.filter(pk=first.pk).update(status=AssignmentStatus.SKIPPED)

    following = next_assignment(pairwise_study, annotator, now=NOW)

    assert first.item_id == check.pk
    assert following.item_id != check.pk
    assert not following.item.is_gold


def test_mixing_rate_near_gold_rate(prompt_set, seeded_draws):
    # One gold item and many fresh annotators: each first task is gold with
    # probability gold_rate, and every draw is independent of the others.
    study = make_study([make_run(prompt_set), make_run(prompt_set)], overlap=1000)
    open_study(study)
    _attention(study)
    _set(study, gold_rate=0.2)
    draws = 200

    gold_leases = sum(next_assignment(study, make_user(), now=NOW).item.is_gold for _ in range(draws))

    # Binomial(200, 0.2): mean 40, standard deviation about 5.7; the bounds are 3 deviations.
    assert 23 <= gold_leases <= 57


def test_mixing_rate_over_one_annotators_tasks(seeded_draws):
    # One annotator working through many regular items with plenty of gold:
    # the share of gold tasks follows gold_rate too.
    prompt_set = make_prompt_set(prompts=[f"Prompt {index}" for index in range(40)])
    study = make_study([make_run(prompt_set), make_run(prompt_set), make_run(prompt_set)], overlap=1)
    open_study(study)
    for prompt in prompt_set.prompts.order_by("position"):
        _attention(study, prompt=prompt)
    _set(study, gold_rate=0.3)
    annotator = make_user()

    served = []
    for _ in range(100):
        assignment = next_assignment(study, annotator, now=NOW)
        served.append(assignment.item.is_gold)
        submit_judgment(assignment, {"overall": "tie"}, now=NOW)

    # Binomial(100, 0.3): mean 30, standard deviation about 4.6; the bounds are 3 deviations.
    assert 17 <= sum(served) <= 43
    assert Judgment.objects.filter(annotator=annotator, item__is_gold=True).count() == sum(served)


def test_gold_order_differs_between_annotators(prompt_set, seeded_draws):
    study = make_study([make_run(prompt_set), make_run(prompt_set)], overlap=3)
    open_study(study)
    prompts = list(prompt_set.prompts.order_by("position"))
    checks = [_attention(study, prompt=prompts[index % len(prompts)], text=f"{BAD_TEXT} {index}") for index in range(5)]
    _set(study, gold_rate=1.0)

    orders = []
    for person in (make_user(), make_user(), make_user()):
        served = []
        while len(served) < len(checks):
            assignment = next_assignment(study, person, now=NOW)
            served.append(assignment.item_id)
            submit_judgment(assignment, {criterion.name: "A" for criterion in study.criteria.all()}, now=NOW)
        orders.append(served)

    for served in orders:
        assert sorted(served) == sorted(check.pk for check in checks)
    # Drawn at random per annotator, not handed out in one fixed order.
    assert len({tuple(served) for served in orders}) > 1
