"""`manage.py create_study` given bad `gold:` entries: each ends in a CommandError naming the line, writing nothing."""

import io

import pytest
from django.core.management import CommandError, call_command

from annotate.models import Item, Study
from generation.models import Prompt
from tests.annotate.test_create_study import _snapshot, demo_like  # noqa: F401
from tests.annotate.test_study_spec_gold import GEMMA, GREEDY, PAIRWISE, RATING, SAMPLED

pytestmark = pytest.mark.django_db

# PAIRWISE and RATING end with their annotators line, so a `gold:` list starts on this line.
GOLD_LINE = PAIRWISE.strip("\n").count("\n") + 2
RATING_GOLD_LINE = RATING.strip("\n").count("\n") + 2


def _reject(tmp_path, text, *options):
    """Run the command on the spec `text`, which must fail and change nothing; return the error message."""
    path = tmp_path / "study.yaml"
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    before = _snapshot()
    with pytest.raises(CommandError) as error:
        call_command("create_study", str(path), "--open", *options, stdout=io.StringIO(), stderr=io.StringIO())
    assert _snapshot() == before
    assert not Item.objects.filter(is_gold=True).exists()
    return str(error.value)


def _pair(prompt, first, second, right):
    return f"  - prompt: {prompt}\n    systems: [{first}, {second}]\n    right: {right}\n"


def test_unknown_prompt(demo_like, tmp_path):  # noqa: F811
    message = _reject(tmp_path, PAIRWISE + "gold:\n" + _pair("maths-999", GREEDY, GEMMA, "tie"))

    assert f"line {GOLD_LINE + 1}, gold[1].prompt" in message
    assert "no prompt with external id “maths-999”" in message


def test_unknown_system_label(demo_like, tmp_path):  # noqa: F811
    message = _reject(tmp_path, PAIRWISE + "gold:\n" + _pair("maths-001", "SmolLM2-135M-Instruct t=0.7", GEMMA, "tie"))

    assert f"line {GOLD_LINE + 2}, gold[1].systems[1]" in message
    assert "“SmolLM2-135M-Instruct t=0.7” is not one of the study's systems" in message
    assert GREEDY in message


def test_ambiguous_model_name_rejected(demo_like, tmp_path):  # noqa: F811
    # SmolLM2-135M-Instruct has two systems in the study, so its name alone names neither.
    message = _reject(tmp_path, PAIRWISE + "gold:\n" + _pair("maths-001", "SmolLM2-135M-Instruct", GEMMA, "tie"))

    assert "gold[1].systems[1]: “SmolLM2-135M-Instruct” is not one of the study's systems" in message


def test_system_outside_study(demo_like, tmp_path):  # noqa: F811
    text = PAIRWISE.replace("  - model: Gemma-3-270M\n", "")
    message = _reject(tmp_path, text + "gold:\n" + _pair("maths-001", GREEDY, GEMMA, "tie"))

    assert "gold[1].systems[2]: “Gemma-3-270M” is not one of the study's systems" in message


def test_same_system_twice(demo_like, tmp_path):  # noqa: F811
    message = _reject(tmp_path, PAIRWISE + "gold:\n" + _pair("maths-001", GREEDY, GREEDY, "tie"))

    assert f"line {GOLD_LINE + 2}, gold[1].systems[2]: names the same system as systems[1]" in message


def test_right_answer_outside_pair(demo_like, tmp_path):  # noqa: F811
    message = _reject(tmp_path, PAIRWISE + "gold:\n" + _pair("maths-001", GREEDY, GEMMA, SAMPLED))

    assert f"line {GOLD_LINE + 3}, gold[1].right: “{SAMPLED}” is not a system of this pair" in message


def test_right_answer_unknown_word(demo_like, tmp_path):  # noqa: F811
    message = _reject(tmp_path, PAIRWISE + "gold:\n" + _pair("maths-001", GREEDY, GEMMA, "draw"))

    assert "gold[1].right: “draw” is not a system of this pair" in message
    assert "tie, or both_bad" in message


def test_score_range_outside_scale(demo_like, tmp_path):  # noqa: F811
    text = RATING + "gold:\n  - prompt: maths-001\n    system: Gemma-3-270M\n    scores: {min: 6, max: 9}\n"
    message = _reject(tmp_path, text)

    # The rule and its message are annotate.gold's.
    assert f"line {RATING_GOLD_LINE + 3}, gold[1].scores.max" in message
    assert "whole numbers from 1 to 7" in message


def test_score_range_reversed(demo_like, tmp_path):  # noqa: F811
    text = RATING + "gold:\n  - prompt: maths-001\n    system: Gemma-3-270M\n    scores:\n      min: 5\n      max: 2\n"
    message = _reject(tmp_path, text)

    assert f"line {RATING_GOLD_LINE + 5}, gold[1].scores.max" in message
    assert "lowest right score (5) is above the highest (2)" in message


def test_score_range_checked_in_draft(demo_like, tmp_path):  # noqa: F811
    path = tmp_path / "study.yaml"
    path.write_text(RATING + "gold:\n  - prompt: write-001\n    attention_check: Bad.\n    scores: {min: 0, max: 1}\n")

    with pytest.raises(CommandError) as error:
        call_command("create_study", str(path), stdout=io.StringIO(), stderr=io.StringIO())

    assert "gold[1].scores.min" in str(error.value)
    assert not Study.objects.exists()


def test_attention_text_empty(demo_like, tmp_path):  # noqa: F811
    text = PAIRWISE + f"gold:\n  - prompt: code-001\n    attention_check: '   '\n    system: {GEMMA}\n"
    message = _reject(tmp_path, text)

    assert f"line {GOLD_LINE + 2}, gold[1].attention_check: is empty" in message


def test_attention_check_on_multi_turn_prompt(demo_like, tmp_path):  # noqa: F811
    prompt = Prompt.objects.get(external_id="code-001")
    prompt.follow_up_turns = ["Now in C."]
    prompt.save(update_fields=["follow_up_turns"])
    text = PAIRWISE + f"gold:\n  - prompt: code-001\n    attention_check: Nonsense.\n    system: {GEMMA}\n"
    message = _reject(tmp_path, text)

    assert f"line {GOLD_LINE + 1}, gold[1].prompt" in message
    assert "single turn; this one has 2" in message


def test_pairwise_attention_check_without_system(demo_like, tmp_path):  # noqa: F811
    message = _reject(tmp_path, PAIRWISE + "gold:\n  - prompt: code-001\n    attention_check: Nonsense.\n")

    assert f"line {GOLD_LINE + 1}, gold[1].system: missing" in message


def test_rating_attention_check_with_system(demo_like, tmp_path):  # noqa: F811
    text = RATING + "gold:\n  - prompt: code-001\n    attention_check: Nonsense.\n    system: Gemma-3-270M\n"
    message = _reject(tmp_path, text)

    assert f"line {RATING_GOLD_LINE + 3}, gold[1].system: a rating attention check shows your text alone" in message


def test_wrong_types(demo_like, tmp_path):  # noqa: F811
    text = (
        PAIRWISE
        + "gold:\n"
        + "  - prompt: [maths-001]\n    systems: [a, b]\n    right: tie\n"
        + f"  - prompt: maths-001\n    systems: {GREEDY}\n    right: tie\n"
        + "  - just text\n"
        + f"  - prompt: maths-001\n    systems: [{GREEDY}, {GEMMA}]\n    right: true\n"
    )
    message = _reject(tmp_path, text)

    assert f"line {GOLD_LINE + 1}, gold[1].prompt: expected text, found a list" in message
    assert f"line {GOLD_LINE + 5}, gold[2].systems: expected a list" in message
    assert f"line {GOLD_LINE + 7}, gold[3]: expected a mapping" in message
    assert f"line {GOLD_LINE + 10}, gold[4].right: expected text, found true/false" in message


def test_gold_not_a_list(demo_like, tmp_path):  # noqa: F811
    message = _reject(tmp_path, PAIRWISE + "gold: maths-001\n")

    assert f"line {GOLD_LINE}, gold: expected a list" in message


def test_scores_wrong_types(demo_like, tmp_path):  # noqa: F811
    text = RATING + "gold:\n  - prompt: maths-001\n    system: Gemma-3-270M\n    scores: {min: low, max: 2.5}\n"
    message = _reject(tmp_path, text)

    assert "gold[1].scores.min: expected a whole number, found text" in message
    assert "gold[1].scores.max: expected a whole number, found a number" in message


def test_duplicated_entries(demo_like, tmp_path):  # noqa: F811
    # The same pair in the other order is the same gold item.
    text = PAIRWISE + "gold:\n" + _pair("maths-001", GREEDY, GEMMA, "tie") + _pair("maths-001", GEMMA, GREEDY, GEMMA)
    message = _reject(tmp_path, text)

    assert (
        f"line {GOLD_LINE + 4}, gold[2]: describes the same gold item as the entry on line {GOLD_LINE + 1}" in message
    )


def test_pair_with_three_systems(demo_like, tmp_path):  # noqa: F811
    text = PAIRWISE + f"gold:\n  - prompt: maths-001\n    systems: [{GREEDY}, {SAMPLED}, {GEMMA}]\n    right: tie\n"
    message = _reject(tmp_path, text)

    assert "gold[1].systems: lists 3 systems; a pairwise gold item compares exactly two" in message


def test_keys_of_the_other_kind(demo_like, tmp_path):  # noqa: F811
    pairwise = (
        PAIRWISE
        + "gold:\n"
        + _pair("maths-001", GREEDY, GEMMA, "tie").replace("right: tie", "right: tie\n    scores: {min: 1, max: 2}")
    )
    assert "gold[1].scores: applies to rating studies only" in _reject(tmp_path, pairwise)

    rating = RATING + "gold:\n" + _pair("maths-001", GEMMA, GEMMA, "tie")
    assert "gold[1].systems: applies to pairwise studies only" in _reject(tmp_path, rating)


def test_unknown_key_suggests(demo_like, tmp_path):  # noqa: F811
    text = PAIRWISE + "gold:\n" + _pair("maths-001", GREEDY, GEMMA, "tie").replace("right:", "rihgt:")
    message = _reject(tmp_path, text)

    assert "rihgt: unknown key in gold[1]; did you mean `right`?" in message
    assert "gold[1].right: missing" in message


def test_prompt_outside_categories(demo_like, tmp_path):  # noqa: F811
    text = PAIRWISE + "categories: [maths]\ngold:\n" + _pair("write-001", GREEDY, GEMMA, "tie")
    message = _reject(tmp_path, text)

    assert "gold[1].prompt: prompt “write-001” has category “writing”, which the study does not judge" in message


def test_system_without_response(demo_like, tmp_path):  # noqa: F811
    _prompt_set, runs = demo_like
    runs["gemma"].responses.filter(prompt__external_id="maths-001").delete()
    message = _reject(tmp_path, PAIRWISE + "gold:\n" + _pair("maths-001", GREEDY, GEMMA, "tie"))

    assert f"line {GOLD_LINE + 2}, gold[1].systems: system “{GEMMA} greedy” has no response to prompt" in message


def test_every_problem_reported_at_once(demo_like, tmp_path):  # noqa: F811
    text = (
        PAIRWISE.replace("kind: pairwise", "kind: pairwise\noverlap: 0")
        + "gold:\n"
        + _pair("maths-999", GREEDY, GEMMA, "tie")
        + _pair("know-001", GREEDY, GREEDY, "tie")
        + _pair("code-001", GREEDY, GEMMA, SAMPLED)
    )
    message = _reject(tmp_path, text)

    assert "4 errors, nothing written" in message
    assert "overlap: 0 is out of range" in message
    assert "gold[1].prompt" in message
    assert "gold[2].systems[2]" in message
    assert "gold[3].right" in message


def test_rules_of_gold_module_reported_together(demo_like, tmp_path):  # noqa: F811
    # Both problems are found when the entries are applied, and both are listed.
    prompt = Prompt.objects.get(external_id="code-001")
    prompt.follow_up_turns = ["Now in C."]
    prompt.save(update_fields=["follow_up_turns"])
    text = RATING + (
        "gold:\n"
        "  - prompt: maths-001\n    system: Gemma-3-270M\n    scores: {min: 0, max: 3}\n"
        "  - prompt: code-001\n    attention_check: Nonsense.\n"
    )
    message = _reject(tmp_path, text)

    assert "2 errors, nothing written" in message
    assert "gold[1].scores.min" in message
    assert "gold[2].prompt" in message


def test_numeric_prompt_id_hint(demo_like, tmp_path):  # noqa: F811
    message = _reject(tmp_path, PAIRWISE + "gold:\n" + _pair("007", GREEDY, GEMMA, "tie"))

    assert "no prompt with external id “7”" in message
    assert "put an id of digits in quotes" in message
