"""Answer flags: empty, cut off and identical responses, in code and in the admin."""

import pytest
from django.urls import reverse

from generation.flags import Flag, flag_counts, flagged
from generation.models import FinishReason, Response
from tests.factories import make_prompt_set, make_run

pytestmark = pytest.mark.django_db

PROMPTS = ("Say hello.", "Name a fruit.", "Name a tree.", "Count to three.")


@pytest.fixture
def prompt_set():
    return make_prompt_set(prompts=PROMPTS)


@pytest.fixture
def runs(prompt_set):
    """Two runs on one prompt set with one flagged answer of each kind in `first`."""
    first = make_run(
        prompt_set,
        answers={0: "  \n", 1: "Apple.", 2: "An oak is a", 3: "One, two, three."},
    )
    second = make_run(
        prompt_set,
        answers={0: "Hello!", 1: "\nApple.  ", 2: "Birch.", 3: "1, 2, 3."},
    )
    Response.objects.filter(run=first, prompt__position=2).update(finish_reason=FinishReason.LENGTH)
    return first, second


def texts(responses):
    return sorted(response.text for response in responses)


def test_counts_each_flag(runs):
    first, second = runs

    assert flag_counts(first) == {Flag.EMPTY: 1, Flag.CUT_OFF: 1, Flag.IDENTICAL: 1}
    assert flag_counts(second) == {Flag.EMPTY: 0, Flag.CUT_OFF: 0, Flag.IDENTICAL: 1}


def test_identical_ignores_surrounding_whitespace(runs):
    first, second = runs

    assert texts(flagged(first.responses.all(), Flag.IDENTICAL)) == ["Apple."]
    assert texts(flagged(second.responses.all(), Flag.IDENTICAL)) == ["\nApple.  "]


def test_identical_needs_another_run(prompt_set):
    run = make_run(prompt_set, answers={0: "Same.", 1: "Same.", 2: "Same.", 3: "Same."})

    assert flag_counts(run)[Flag.IDENTICAL] == 0


def test_identical_ignores_other_prompt_sets(prompt_set):
    other_set = make_prompt_set(prompts=PROMPTS)
    answers = {0: "Hi.", 1: "Pear.", 2: "Elm.", 3: "1 2 3."}
    run = make_run(prompt_set, answers=answers)
    make_run(other_set, answers=answers)

    assert flag_counts(run)[Flag.IDENTICAL] == 0


def test_empty_responses_are_not_identical(prompt_set):
    first = make_run(prompt_set, answers={0: "", 1: "A.", 2: "B.", 3: "C."})
    make_run(prompt_set, answers={0: " ", 1: "D.", 2: "E.", 3: "F."})

    assert flag_counts(first) == {Flag.EMPTY: 1, Flag.CUT_OFF: 0, Flag.IDENTICAL: 0}


def test_follow_up_answers_count(prompt_set):
    first = make_run(prompt_set, answers={0: "Hi.", 1: "Pear.", 2: "Elm.", 3: "1 2 3."})
    second = make_run(prompt_set, answers={0: "Hi.", 1: "Pear.", 2: "Elm.", 3: "1 2 3."})
    Response.objects.filter(run=first, prompt__position=0).update(follow_up_texts=["Hello again."])
    Response.objects.filter(run=second, prompt__position=0).update(follow_up_texts=["  "])

    assert texts(flagged(second.responses.all(), Flag.EMPTY)) == ["Hi."]
    assert texts(flagged(first.responses.all(), Flag.IDENTICAL)) == ["1 2 3.", "Elm.", "Pear."]


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("empty", ["  \n"]),
        ("cut_off", ["An oak is a"]),
        ("identical", ["\nApple.  ", "Apple."]),
    ],
)
def test_admin_filters_responses_by_flag(admin_client, runs, flag, expected):
    url = reverse("admin:generation_response_changelist")

    page = admin_client.get(url, {"flag": flag})

    assert page.status_code == 200
    assert texts(page.context["cl"].queryset) == expected


def test_admin_flag_filter_keeps_run_filter(admin_client, runs):
    first, _ = runs
    url = reverse("admin:generation_response_changelist")

    page = admin_client.get(url, {"flag": "identical", "run__id__exact": first.pk})

    assert texts(page.context["cl"].queryset) == ["Apple."]


def test_run_admin_shows_flag_counts(admin_client, runs):
    first, _ = runs

    page = admin_client.get(reverse("admin:generation_generationrun_change", args=[first.pk]))

    assert page.status_code == 200
    changelist = reverse("admin:generation_response_changelist")
    assert f'empty: <a href="{changelist}?run__id__exact={first.pk}&amp;flag=empty">1</a>' in page.text
    assert f'cut off: <a href="{changelist}?run__id__exact={first.pk}&amp;flag=cut_off">1</a>' in page.text
    assert "identical to another run&#x27;s: <a" in page.text
