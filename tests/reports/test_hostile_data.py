"""Report figures on data a hostile tester stored through the ORM, checked against rules computed here.

The report reads a pairwise answer as one number (the winner's response
id, or a negative code for the other outcomes), a rating answer as its
score, and response lengths by run; the page takes the data fingerprint
once per view. Each test stores data those shortcuts could misread and
compares with the stored rows.
"""

import random

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse

from annotate.models import Criterion, CriterionAnswer, Item, Judgment, Outcome
from generation.models import FinishReason, GenerationRun, LanguageModel, Response
from reports import answer_table, report_cache
from reports.agreement_statistics import group_patterns
from reports.answer_table import (
    BOTH_BAD_CODE,
    FIRST_WINS_CODE,
    NO_RESULT,
    NO_SCORE,
    SECOND_WINS_CODE,
    TIE_CODE,
    load_study_answers,
)
from reports.length_bias import criterion_length_bias, final_turn_length
from reports.ratings import study_ratings
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import PAIRWISE, RATING, judge, make_item, make_study

SCALE = (1, 5)


def _expected_answers(study):
    """{(judgment id, criterion id): (result, score)} by the report's rules, from the stored rows."""
    expected = {}
    for answer in CriterionAnswer.objects.filter(criterion__study=study).select_related("judgment__item"):
        item = answer.judgment.item
        result, score = NO_RESULT, NO_SCORE
        if study.kind == PAIRWISE:
            if answer.outcome == Outcome.WIN and answer.winner_id == item.first_response_id:
                result = FIRST_WINS_CODE
            if answer.outcome == Outcome.WIN and answer.winner_id == item.second_response_id:
                result = SECOND_WINS_CODE
            if answer.outcome == Outcome.TIE:
                result = TIE_CODE
            if answer.outcome == Outcome.BOTH_BAD:
                result = BOTH_BAD_CODE
        elif answer.score is not None and SCALE[0] <= answer.score <= SCALE[1]:
            score = answer.score
        expected[(answer.judgment_id, answer.criterion_id)] = (result, score)
    return expected


def _table_answers(study):
    table = load_study_answers(study)
    answers = table.answers
    order = list(zip(answers.judgment.tolist(), answers.criterion.tolist(), strict=True))
    assert order == sorted(order)
    criterion_ids = [criterion.pk for criterion in table.criteria]
    return {
        (judgment_id, criterion_ids[position]): (result, score)
        for judgment_id, position, result, score in zip(
            table.judgments.ids[answers.judgment].tolist(),
            answers.criterion.tolist(),
            answers.result.tolist(),
            answers.score.tolist(),
            strict=True,
        )
    }


PAIRWISE_ANSWERS = ["first", "second", "tie", "both_bad", "attention", "stray", "score"]
RATING_ANSWERS = [1, 3, 5, 0, 6, -7, 32767, -32768, "tie", "first", "attention"]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind", [PAIRWISE, RATING])
def test_answers_of_every_kind_match_stored_rows(db, kind, seed):
    # One to three criteria with ids far apart or positions out of id order;
    # answers missing, attention-check answers, winners of another run,
    # pairwise answers that hold a score, rating answers that hold an outcome.
    rng = random.Random(seed)
    prompt_set = make_prompt_set(prompts=[f"Prompt {number}" for number in range(4)])
    runs = [make_run(prompt_set, model_name=name) for name in ("Xenoqua", "Yarrowin", "Zephyra")]
    study = make_study(kind, runs[:2], criteria=())
    names = [f"criterion {number}" for number in range(rng.choice([1, 2, 3]))]
    far = rng.choice([False, True])
    for name in names:
        Criterion.objects.create(
            pk=10**12 + rng.randrange(10**6) if far else None,
            study=study,
            position=rng.choice([0, 1, 5]),
            name=name,
            question="Which is better?",
            scale_min=SCALE[0],
            scale_max=SCALE[1],
        )
    criteria = {criterion.name: criterion for criterion in study.criteria.all()}
    strays = list(Response.objects.filter(run=runs[2]))
    for prompt in prompt_set.prompts.all():
        item = make_item(study, prompt, runs[0], runs[1] if kind == PAIRWISE else None)
        for _ in range(rng.randrange(4)):
            chosen = {name: rng.choice(PAIRWISE_ANSWERS if kind == PAIRWISE else RATING_ANSWERS) for name in names}
            chosen = {name: value for name, value in chosen.items() if rng.random() > 0.2}
            plain = {name: value for name, value in chosen.items() if value not in ("attention", "stray", "score")}
            judgment = judge(item, make_user(), plain, first_on_left=rng.random() < 0.5)
            for name, value in chosen.items():
                fields = {
                    "attention": {"outcome": Outcome.ATTENTION_TEXT},
                    "stray": {"outcome": Outcome.WIN, "winner": rng.choice(strays)},
                    "score": {"outcome": "", "score": rng.choice([-3, -2, -1, 0, 4])},
                }.get(value)
                if fields is not None:
                    CriterionAnswer.objects.create(judgment=judgment, criterion=criteria[name], **fields)

    assert _table_answers(study) == _expected_answers(study)


def _response_with_id(run, prompt, response_id):
    """Give `run`'s response to `prompt` the id `response_id` (the database accepts any id it is given)."""
    old = Response.objects.get(run=run, prompt=prompt)
    fields = {
        field.attname: getattr(old, field.attname)
        for field in Response._meta.concrete_fields
        if field.attname not in ("id", "uuid")
    }
    old.delete()
    return Response.objects.create(pk=response_id, **fields)


@pytest.mark.parametrize("response_id", [-1, -2, -3, 2**63 - 1])
def test_odd_response_ids_keep_their_results(db, response_id):
    # Neither PostgreSQL nor SQLite rejects an explicit id below 1 (say, from
    # a hand-made fixture or a restored dump), so a winner's id could equal
    # one of the negative outcome codes. The highest id must read back too.
    prompt_set = make_prompt_set(prompts=["Only prompt"])
    prompt = prompt_set.prompts.get()
    x, y, z = (make_run(prompt_set, model_name=name) for name in ("Xenoqua", "Yarrowin", "Zephyra"))
    _response_with_id(x, prompt, response_id)
    study = make_study(PAIRWISE, [x, y])
    item = make_item(study, prompt, x, y)
    judge(item, make_user(), {"overall": "first"})
    judge(item, make_user(), {"overall": "second"})
    judge(item, make_user(), {"overall": "tie"})
    judge(item, make_user(), {"overall": "both_bad"})
    attention = judge(item, make_user(), {})
    CriterionAnswer.objects.create(judgment=attention, criterion=study.criteria.get(), outcome=Outcome.ATTENTION_TEXT)

    assert Item.objects.get(pk=item.pk).first_response_id == response_id
    assert _table_answers(study) == _expected_answers(study)


@pytest.mark.parametrize("response_id", [-1, -2, -3])
def test_stray_negative_winner_is_no_result(db, response_id):
    prompt_set = make_prompt_set(prompts=["Only prompt"])
    prompt = prompt_set.prompts.get()
    x, y, z = (make_run(prompt_set, model_name=name) for name in ("Xenoqua", "Yarrowin", "Zephyra"))
    stray = _response_with_id(z, prompt, response_id)
    study = make_study(PAIRWISE, [x, y])
    judgment = judge(make_item(study, prompt, x, y), make_user(), {"overall": "first"})
    CriterionAnswer.objects.filter(judgment=judgment).update(winner=stray)

    assert _table_answers(study) == _expected_answers(study)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL's smallint refuses such a score")
@pytest.mark.parametrize("stored", [2**32 + 3, -(2**32) + 2, 2**40])
def test_score_beyond_32_bits_counts_out_of_scale(db, stored):
    # SQLite keeps any integer in a SmallIntegerField column. Cut to 32 bits,
    # 2**32 + 3 would read as 3, a score on the scale.
    prompt_set = make_prompt_set(prompts=["Only prompt"])
    prompt = prompt_set.prompts.get()
    x = make_run(prompt_set, model_name="Xenoqua")
    study = make_study(RATING, [x])
    Criterion.objects.filter(study=study).update(scale_min=1, scale_max=5)
    judgment = judge(make_item(study, prompt, x), make_user(), {"overall": 4})
    judge(make_item(study, prompt, x), make_user(), {"overall": 2})
    CriterionAnswer.objects.filter(judgment=judgment).update(score=stored)

    [ratings] = study_ratings(study, rounds=0)

    assert CriterionAnswer.objects.get(judgment=judgment).score == stored
    assert ratings.out_of_scale_scores == 1
    assert [(rating.count, rating.mean) for rating in ratings.systems] == [(1, 2.0)]


def _expected_length_bias(criterion):
    """(longer wins, compared, equal length) of the criterion's counted decisive answers, from the stored rows."""
    longer_wins = compared = equal = 0
    answers = CriterionAnswer.objects.filter(
        criterion=criterion, outcome=Outcome.WIN, judgment__is_surplus=False, judgment__item__is_gold=False
    ).select_related("judgment__item__first_response", "judgment__item__second_response")
    for answer in answers:
        item = answer.judgment.item
        if answer.winner_id not in (item.first_response_id, item.second_response_id):
            continue
        first, second = (
            final_turn_length(response.text, response.follow_up_texts)
            for response in (item.first_response, item.second_response)
        )
        if first == second:
            equal += 1
            continue
        compared += 1
        longer_wins += (first > second) == (answer.winner_id == item.first_response_id)
    return longer_wins, compared, equal


def test_length_bias_with_shared_and_moved_runs(db):
    # Run Xenoqua serves two studies. One of Yarrowin's responses was moved
    # to a run of another prompt set, which no item of the study names. Some
    # responses have follow-up turns whose last answer reverses the order of
    # the first-turn lengths.
    prompt_set = make_prompt_set(prompts=[f"Prompt {number}" for number in range(5)])
    prompts = list(prompt_set.prompts.order_by("position"))
    x = make_run(prompt_set, model_name="Xenoqua", answers=["a" * 9, "b" * 2, "c" * 5, "d" * 7, "e"])
    y = make_run(prompt_set, model_name="Yarrowin", answers=["f" * 3, "g" * 8, "h" * 5, "i" * 2, "j" * 4])
    z = make_run(prompt_set, model_name="Zephyra", answers=["k" * 30] * 5)
    elsewhere = make_run(make_prompt_set(prompts=["Elsewhere"]), model_name="Wistaria")
    Response.objects.filter(run=x, prompt=prompts[3]).update(follow_up_texts=["x" * 40, "y"])
    Response.objects.filter(run=y, prompt=prompts[4]).update(follow_up_texts=["z" * 50])
    study = make_study(PAIRWISE, [x, y], criteria=("overall", "style"))
    other = make_study(PAIRWISE, [x, z])
    annotators = [make_user() for _ in range(3)]
    for index, prompt in enumerate(prompts):
        first, second = (x, y) if index % 2 == 0 else (y, x)
        item = make_item(study, prompt, first, second)
        for number, annotator in enumerate(annotators):
            choices = ["first", "second", "tie", "both_bad"]
            judge(
                item,
                annotator,
                {"overall": choices[(index + number) % 4], "style": choices[(index * number) % 2]},
                surplus=number == 2 and index == 1,
            )
        judge(make_item(other, prompt, x, z), annotators[0], {"overall": "second"})
    Response.objects.filter(run=y, prompt=prompts[1]).update(run=elsewhere)

    for criterion in study.criteria.all():
        bias = criterion_length_bias(criterion, rounds=0)
        assert (bias.longer_wins, bias.compared, bias.equal_length) == _expected_length_bias(criterion)
        assert bias.compared > 0


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser("report-admin", password="pw-for-tests")


@pytest.mark.parametrize("when", ["before the read", "after the read"])
def test_judgment_stored_during_view_shows_on_next_view(client, staff, tiny_pairwise, monkeypatch, when):
    # A judgment stored while the page reads the answers: the page may show
    # either count, but the next view must show the new one. With a
    # fingerprint taken after the read, the next view would be served the
    # figures that lack it.
    client.force_login(staff)
    load_judgments = answer_table._load_judgments
    stored = []

    def racing_read(study, items):
        if when == "before the read" and not stored:
            stored.append(judge(tiny_pairwise.items[2], tiny_pairwise.annotators[2], {"overall": "first"}))
        read = load_judgments(study, items)
        if when == "after the read" and not stored:
            stored.append(judge(tiny_pairwise.items[2], tiny_pairwise.annotators[2], {"overall": "first"}))
        return read

    def judgments_shown():
        response = client.get(reverse("reports:study", args=[tiny_pairwise.study.uuid]))
        assert response.status_code == 200
        return response.context["report"].totals.judgments

    monkeypatch.setattr(answer_table, "_load_judgments", racing_read)
    judgments_shown()
    monkeypatch.setattr(answer_table, "_load_judgments", load_judgments)

    assert stored
    assert judgments_shown() == Judgment.objects.filter(item__study=tiny_pairwise.study).count()


def test_fingerprints_forgotten_after_view(client, staff, tiny_pairwise):
    # Fingerprints kept past the view would serve stale figures to later
    # code in the same thread, such as a worker's next request.
    client.force_login(staff)
    page = client.get(reverse("reports:study", args=[tiny_pairwise.study.uuid]))

    assert page.status_code == 200
    assert report_cache._fingerprints.get() is None

    missing = client.get(reverse("reports:study", args=["00000000-0000-0000-0000-000000000000"]))

    assert missing.status_code == 404
    assert report_cache._fingerprints.get() is None


def _unique_rows(counts):
    flat = counts.reshape(counts.shape[0], -1)
    unique, items = np.unique(flat, axis=0, return_counts=True)
    return unique.reshape(-1, *counts.shape[1:]), items


@pytest.mark.parametrize(
    "counts",
    [
        np.zeros((5, 1, 3), dtype=np.int64),
        np.array([[[0, 2**62]], [[2**62, 0]], [[0, 2**62]]]),
        np.array([[[2**63 - 1]], [[0]], [[2**63 - 1]]]),
        # Base 2**21 over three columns: exactly 2**63, one past what a key holds.
        np.array([[[2**21 - 1, 0, 1]], [[0, 2**21 - 1, 2**21 - 1]], [[2**21 - 1] * 3]]),
        np.array([[[2**21 - 2, 0, 1]], [[0, 2**21 - 2, 2**21 - 2]], [[2**21 - 2] * 3]]),
        np.array([[[-1, 3]], [[2, -5]], [[-1, 3]]]),
        np.array([[[1.9, 2.2]], [[1.2, 2.9]]]),
    ],
    ids=["zeros", "huge", "int64 max", "base at the limit", "base below the limit", "negative", "fractions"],
)
def test_group_patterns_as_unique_rows(counts):
    patterns = group_patterns(counts)
    unique, items = _unique_rows(np.asarray(counts, dtype=np.int64))

    assert patterns.counts.tolist() == unique.tolist()
    assert patterns.items.tolist() == items.tolist()


def test_group_patterns_as_unique_rows_at_random():
    generator = np.random.default_rng(5)
    for _ in range(500):
        shape = (int(generator.integers(1, 40)), int(generator.integers(1, 4)), int(generator.integers(1, 6)))
        highest = int(generator.choice([1, 2, 3, 10, 2**20, 2**40, 2**62]))
        counts = generator.integers(0, highest, size=shape, dtype=np.int64)
        counts[-1] = counts[0]
        patterns = group_patterns(counts)
        unique, items = _unique_rows(counts)
        assert patterns.counts.tolist() == unique.tolist(), (shape, highest)
        assert patterns.items.tolist() == items.tolist(), (shape, highest)


def _run_with_id(prompt_set, run_id, name, answers):
    """Create a completed run with the id `run_id` whose answer to prompt position p is answers[p]."""
    model = LanguageModel.objects.create(name=name, source="/nonexistent/weights")
    run = GenerationRun.objects.create(pk=run_id, model=model, prompt_set=prompt_set, status="completed")
    for prompt in prompt_set.prompts.all():
        Response.objects.create(
            run=run, prompt=prompt, text=answers[prompt.position], token_count=5, finish_reason=FinishReason.STOP
        )
    return run


def test_length_bias_of_run_with_negative_id(db):
    # As for responses, the database stores any run id given explicitly.
    prompt_set = make_prompt_set(prompts=["Prompt 0", "Prompt 1"])
    x = _run_with_id(prompt_set, -5, "Xenoqua", ["a" * 9, "b" * 7])
    y = make_run(prompt_set, model_name="Yarrowin", answers=["c" * 3, "d" * 2])
    study = make_study(PAIRWISE, [x, y])
    for prompt in prompt_set.prompts.all():
        item = make_item(study, prompt, x, y)
        for result in ("first", "first", "second"):
            judge(item, make_user(), {"overall": result})

    criterion = study.criteria.get()
    bias = criterion_length_bias(criterion, rounds=0)

    assert (bias.longer_wins, bias.compared, bias.equal_length) == _expected_length_bias(criterion) == (4, 6, 0)
