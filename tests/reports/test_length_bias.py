"""Length bias: the share of decisive pairwise judgments won by the longer answer."""

import pytest
from django.urls import reverse

from annotate.models import Criterion
from generation.models import Response
from reports.answer_table import load_study_answers
from reports.length_bias import criterion_length_bias, final_turn_length
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import PAIRWISE, judge, make_item, make_study


@pytest.fixture
def length_study(db):
    """Two systems over four prompts with answers of known length.

    Final-turn lengths (Xenoqua, Yarrowin): p0 (10, 2), p1 (5, 18), p2 (5, 5),
    p3 (22, 2). On p3 the first-turn texts have the opposite order (1 and 5),
    so only the final turn gives the counts below.
    Decisive judgments: p0 Xenoqua wins once (longer) and Yarrowin once
    (shorter); p1 Yarrowin wins twice (longer); p2 one win between equal
    lengths; p3 Xenoqua wins once (longer). A tie on p0 and a surplus
    shorter-answer win on p1 must not count.
    So the longer answer won 4 of 5, with 1 decisive judgment of equal length.
    """
    prompt_set = make_prompt_set(prompts=["p0?", "p1?", "p2?", "p3?"])
    prompts = list(prompt_set.prompts.order_by("position"))
    x = make_run(prompt_set, model_name="Xenoqua", answers=["a" * 10, "short", "same1", "x"])
    y = make_run(prompt_set, model_name="Yarrowin", answers=["yy", "much longer answer", "same2", "yyyyy"])
    Response.objects.filter(run=x, prompt=prompts[3]).update(follow_up_texts=["first follow-up", "b" * 22])
    Response.objects.filter(run=y, prompt=prompts[3]).update(follow_up_texts=["yy"])
    study = make_study(PAIRWISE, [x, y])
    annotators = [make_user() for _ in range(3)]

    p0 = make_item(study, prompts[0], x, y)
    judge(p0, annotators[0], {"overall": "first"})
    judge(p0, annotators[1], {"overall": "second"})
    judge(p0, annotators[2], {"overall": "tie"})
    p1 = make_item(study, prompts[1], x, y)
    judge(p1, annotators[0], {"overall": "second"})
    judge(p1, annotators[1], {"overall": "second"}, first_on_left=False)
    judge(p1, annotators[2], {"overall": "first"}, surplus=True)
    p2 = make_item(study, prompts[2], x, y)
    judge(p2, annotators[0], {"overall": "first"})
    p3 = make_item(study, prompts[3], y, x)
    judge(p3, annotators[0], {"overall": "second"})
    return study


def test_final_turn_length():
    assert final_turn_length("abc", []) == 3
    assert final_turn_length("abc", None) == 3
    assert final_turn_length("abc", ["de", "fghij"]) == 5
    assert final_turn_length("光合作用", []) == 4


def test_length_bias_counts(length_study):
    bias = criterion_length_bias(Criterion.objects.get(study=length_study))

    assert bias.longer_wins == 4
    assert bias.compared == 5
    assert bias.equal_length == 1
    assert bias.prompts == 3
    assert bias.longer_share == pytest.approx(0.8)


def test_length_bias_counts_surplus_on_request(length_study):
    bias = criterion_length_bias(Criterion.objects.get(study=length_study), include_surplus=True)

    assert bias.longer_wins == 4
    assert bias.compared == 6


def test_length_bias_interval(length_study):
    # Per prompt (longer wins, compared): p0 (1, 2), p1 (2, 2), p3 (1, 1).
    # A round drawing p0 three times gives 0.5, the lowest share possible,
    # with probability 1/27 (3.7%, above the 2.5% tail); a round without p0
    # gives 1.0, the highest, with probability 8/27. So the 95% bounds are
    # those two extremes.
    bias = criterion_length_bias(Criterion.objects.get(study=length_study), seed=0)

    assert bias.interval.lower == pytest.approx(0.5)
    assert bias.interval.upper == pytest.approx(1.0)


def test_length_bias_reads_response_of_other_prompt(length_study):
    # An item's response answering another prompt than the item's is still measured.
    other_set = make_prompt_set(prompts=["elsewhere?"])
    Response.objects.filter(text="a" * 10).update(prompt=other_set.prompts.get())

    bias = criterion_length_bias(Criterion.objects.get(study=length_study))

    assert bias.longer_wins == 4
    assert bias.compared == 5


def test_length_bias_reads_lengths_once_per_table(length_study, django_assert_max_num_queries):
    # The report reads the same responses' lengths for every pairwise criterion.
    table = load_study_answers(length_study)
    criterion = Criterion.objects.get(study=length_study)
    first = criterion_length_bias(criterion, table=table)

    with django_assert_max_num_queries(0):
        again = criterion_length_bias(criterion, table=table)

    assert again == first


def test_length_bias_one_prompt_no_interval(db):
    prompt_set = make_prompt_set(prompts=["only?"])
    prompt = prompt_set.prompts.get()
    x = make_run(prompt_set, model_name="Xenoqua", answers=["long answer"])
    y = make_run(prompt_set, model_name="Yarrowin", answers=["short"])
    study = make_study(PAIRWISE, [x, y])
    judge(make_item(study, prompt, x, y), make_user(), {"overall": "second"})

    bias = criterion_length_bias(Criterion.objects.get(study=study))

    assert (bias.longer_wins, bias.compared) == (0, 1)
    assert bias.interval is None


def test_length_bias_on_report_page(client, length_study):
    client.force_login(make_user("length-manager", superuser=True))

    page = client.get(reverse("reports:study", args=[length_study.uuid])).content.decode()

    assert "The longer answer won 4 of 5 decisive judgments (80.0%)." in page
    assert "95% interval: 50.0% – 100.0%." in page
    assert "1 decisive judgment between answers of equal length is left out." in page
