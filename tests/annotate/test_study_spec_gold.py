"""`manage.py create_study SPEC.yaml` with a `gold:` list: gold items and attention checks from the file."""

from collections import Counter

import pytest

from annotate.assignment import next_assignment, submit_judgment
from annotate.gold import gold_rng
from annotate.models import Item, Outcome, Study, StudyStatus
from generation.models import Prompt, Response
from tests.annotate.test_create_study import (  # noqa: F401
    EXAMPLE,
    _run,
    _snapshot,
    _spec,
    demo_like,
)

pytestmark = pytest.mark.django_db

GREEDY = "SmolLM2-135M-Instruct greedy"
SAMPLED = "SmolLM2-135M-Instruct t=1.0"
GEMMA = "Gemma-3-270M"

PAIRWISE = """
name: Gold study
kind: pairwise
prompt_set: humeval-core
systems:
  - model: SmolLM2-135M-Instruct
    label: greedy
  - model: SmolLM2-135M-Instruct
    label: t=1.0
  - model: Gemma-3-270M
criteria:
  - name: overall
    question: Which answer is better?
annotators: [annotator1, annotator2, annotator3]
"""

RATING = """
name: Gold rating
kind: rating
prompt_set: humeval-core
systems: [Gemma-3-270M]
criteria:
  - name: quality
    question: How good is the answer?
    scale: {min: 1, max: 7}
annotators: [annotator1]
overlap: 1
"""


def _items():
    """Every item with its gold fields, to compare before and after a second run."""
    return list(
        Item.objects.order_by("pk").values(
            "pk",
            "prompt_id",
            "first_response_id",
            "second_response_id",
            "is_gold",
            "attention_text",
            "gold_outcome",
            "gold_winner_id",
            "gold_min_score",
            "gold_max_score",
        )
    )


def _pair_item(study, external_id, first_run, second_run):
    prompt = Prompt.objects.get(prompt_set=study.prompt_set, external_id=external_id)
    responses = {Response.objects.get(prompt=prompt, run=run).pk for run in (first_run, second_run)}
    return next(
        item
        for item in study.items.filter(prompt=prompt, attention_text="")
        if {item.first_response_id, item.second_response_id} == responses
    )


def test_pairwise_gold_marks_built_item(demo_like, tmp_path):  # noqa: F811
    _prompt_set, runs = demo_like
    text = (
        PAIRWISE
        + f"""gold:
  - prompt: maths-001
    systems: [{GREEDY}, {GEMMA}]
    right: {GEMMA}
  - prompt: know-001
    systems: [{SAMPLED}, {GREEDY}]
    right: both_bad
"""
    )
    out, _err = _run(_spec(tmp_path, text), "--open")

    study = Study.objects.get(name="Gold study")
    win = _pair_item(study, "maths-001", runs["greedy"], runs["gemma"])
    assert win.is_gold
    assert win.gold_outcome == Outcome.WIN
    assert win.gold_winner.run == runs["gemma"]
    both_bad = _pair_item(study, "know-001", runs["sampled"], runs["greedy"])
    assert both_bad.is_gold
    assert both_bad.gold_outcome == Outcome.BOTH_BAD
    assert both_bad.gold_winner is None
    # Every pair on every prompt: the gold pairs are not built a second time as regular items.
    assert study.items.count() == 6 * 3
    assert study.items.filter(is_gold=True).count() == 2
    assert "Gold items: 2 created, 0 marked or changed, 0 unchanged." in out


def test_unsampled_pair_gets_gold_item(demo_like, tmp_path):  # noqa: F811
    _prompt_set, runs = demo_like
    # One pair per prompt: the build would judge a single pair on maths-001.
    text = (
        PAIRWISE
        + f"""pairs_per_prompt: 1
gold:
  - prompt: maths-001
    systems: [{GREEDY}, {SAMPLED}]
    right: tie
  - prompt: maths-001
    systems: [{GREEDY}, {GEMMA}]
    right: {GREEDY}
"""
    )
    _run(_spec(tmp_path, text), "--open")

    study = Study.objects.get(name="Gold study")
    maths = Prompt.objects.get(prompt_set=study.prompt_set, external_id="maths-001")
    assert study.items.filter(prompt=maths, is_gold=True).count() == 2
    tie = _pair_item(study, "maths-001", runs["greedy"], runs["sampled"])
    assert tie.gold_outcome == Outcome.TIE
    # The prompt still gets its one regular pair, and it is the third pair.
    regular = study.items.filter(prompt=maths, is_gold=False)
    assert regular.count() == 1
    regular_runs = {regular.get().first_response.run, regular.get().second_response.run}
    assert regular_runs == {runs["sampled"], runs["gemma"]}
    assert study.items.filter(is_gold=False).count() == 6


def test_pairwise_attention_check(demo_like, tmp_path):  # noqa: F811
    _prompt_set, runs = demo_like
    text = (
        PAIRWISE
        + f"""gold:
  - prompt: code-001
    attention_check: |
      Reversing a string is impossible in Python.
    system: {GEMMA}
"""
    )
    _run(_spec(tmp_path, text), "--open")

    item = Study.objects.get(name="Gold study").items.get(is_gold=True)
    assert item.attention_text == "Reversing a string is impossible in Python."
    assert item.first_response.run == runs["gemma"]
    assert item.second_response is None
    assert item.gold_outcome == Outcome.WIN
    assert item.gold_winner == item.first_response


def test_rating_gold_and_attention_checks(demo_like, tmp_path):  # noqa: F811
    _prompt_set, runs = demo_like
    text = (
        RATING
        + """gold:
  - prompt: maths-001
    system: Gemma-3-270M
    scores: {min: 6, max: 7}
  - prompt: write-001
    attention_check: "猫在太阳下睡觉。The cat is a dog."
  - prompt: code-001
    attention_check: Use rm -rf to reverse strings.
    scores: {min: 1, max: 3}
"""
    )
    out, _err = _run(_spec(tmp_path, text), "--open")

    study = Study.objects.get(name="Gold rating")
    marked = study.items.get(is_gold=True, attention_text="")
    assert marked.first_response.run == runs["gemma"]
    assert marked.prompt.external_id == "maths-001"
    assert (marked.gold_min_score, marked.gold_max_score) == (6, 7)
    default = study.items.get(prompt__external_id="write-001", attention_text__startswith="猫")
    assert (default.gold_min_score, default.gold_max_score) == (1, 2)
    assert default.first_response is None
    explicit = study.items.get(prompt__external_id="code-001", is_gold=True)
    assert (explicit.gold_min_score, explicit.gold_max_score) == (1, 3)
    # One regular item per response; the gold response is not built twice.
    assert study.items.filter(attention_text="").count() == 6
    assert "Gold items: 3 created, 0 marked or changed, 0 unchanged." in out


def test_reapplying_same_file_changes_nothing(demo_like, tmp_path):  # noqa: F811
    text = (
        PAIRWISE
        + f"""pairs_per_prompt: 1
gold:
  - prompt: maths-001
    systems: [{GREEDY}, {SAMPLED}]
    right: {SAMPLED}
  - prompt: know-001
    systems: [{GREEDY}, {GEMMA}]
    right: tie
  - prompt: code-001
    attention_check: This answer is nonsense.
    system: {GREEDY}
"""
    )
    path = _spec(tmp_path, text)
    _run(path, "--open")
    before = _items()

    out, err = _run(path, "--update")

    assert _items() == before
    assert "Gold items: 0 created, 0 marked or changed, 3 unchanged." in out
    assert "0 new items" in out
    assert "gold" not in err


def test_changed_right_answer_rescores(demo_like, tmp_path):  # noqa: F811
    _prompt_set, runs = demo_like
    entry = f"""gold:
  - prompt: maths-001
    systems: [{GREEDY}, {GEMMA}]
    right: {{right}}
"""
    text = PAIRWISE + "gold_rate: 1.0\noverlap: 1\n" + entry
    path = _spec(tmp_path, text.replace("{right}", GREEDY))
    _run(path, "--open")
    study = Study.objects.get(name="Gold study")
    annotator = study.annotators.get(username="annotator1")
    gold_rng.seed(0)
    assignment = next_assignment(study, annotator)
    assert assignment.item.is_gold
    greedy_response = Response.objects.get(run=runs["greedy"], prompt__external_id="maths-001")
    greedy_shown_left = assignment.shown_responses()[0] == greedy_response
    judgment = submit_judgment(assignment, {"overall": "A" if greedy_shown_left else "B"})
    assert judgment.gold_correct is True

    path.write_text(text.replace("{right}", "tie"), encoding="utf-8")
    out, _err = _run(path, "--update")

    item = _pair_item(study, "maths-001", runs["greedy"], runs["gemma"])
    assert item.gold_outcome == Outcome.TIE
    judgment.refresh_from_db()
    assert judgment.gold_correct is False
    assert "0 created, 1 marked or changed, 0 unchanged" in out


def test_removed_entry_stays_gold_with_warning(demo_like, tmp_path):  # noqa: F811
    _prompt_set, runs = demo_like
    kept = f"""  - prompt: maths-001
    systems: [{GREEDY}, {GEMMA}]
    right: tie
"""
    removed = f"""  - prompt: know-001
    systems: [{GREEDY}, {GEMMA}]
    right: {GEMMA}
"""
    path = _spec(tmp_path, PAIRWISE + "gold:\n" + kept + removed)
    _run(path, "--open")
    study = Study.objects.get(name="Gold study")
    removed_item = _pair_item(study, "know-001", runs["greedy"], runs["gemma"])

    path.write_text(PAIRWISE + "gold:\n" + kept, encoding="utf-8")
    _out, err = _run(path, "--update")

    removed_item.refresh_from_db()
    assert removed_item.is_gold
    assert removed_item.gold_winner.run == runs["gemma"]
    assert "1 gold item(s) of the study are not in the file's `gold:` list and stay gold" in err
    assert str(removed_item.uuid) in err


def test_file_without_gold_key_leaves_gold_alone(demo_like, tmp_path):  # noqa: F811
    path = _spec(
        tmp_path, PAIRWISE + f"gold:\n  - prompt: maths-001\n    systems: [{GREEDY}, {GEMMA}]\n    right: tie\n"
    )
    _run(path, "--open")

    path.write_text(PAIRWISE, encoding="utf-8")
    _out, err = _run(path, "--update")

    assert Item.objects.filter(is_gold=True).count() == 1
    assert "gold" not in err


def test_draft_tries_gold_and_creates_nothing(demo_like, tmp_path):  # noqa: F811
    text = PAIRWISE + f"gold:\n  - prompt: maths-001\n    systems: [{GREEDY}, {GEMMA}]\n    right: tie\n"
    path = _spec(tmp_path, text)

    out, _err = _run(path)

    study = Study.objects.get(name="Gold study")
    assert study.status == StudyStatus.DRAFT
    assert not Item.objects.exists()
    assert "they take effect when the study opens" in out

    out, _err = _run(path, "--update", "--open")

    assert study.items.filter(is_gold=True, gold_outcome=Outcome.TIE).count() == 1
    assert "Gold items: 1 created" in out


def test_check_option_writes_no_gold(demo_like, tmp_path):  # noqa: F811
    text = PAIRWISE + f"gold:\n  - prompt: maths-001\n    attention_check: Nonsense.\n    system: {GEMMA}\n"
    before = _snapshot()

    out, _err = _run(_spec(tmp_path, text), "--open", "--check")

    assert "Gold items: 1 created" in out
    assert "nothing was written" in out
    assert _snapshot() == before
    assert not Item.objects.exists()


def test_system_named_by_model_or_uuid(demo_like, tmp_path):  # noqa: F811
    _prompt_set, runs = demo_like
    # Gemma-3-270M has one system in the study, so its model name is enough.
    text = (
        PAIRWISE
        + f"""gold:
  - prompt: maths-001
    systems: [{runs["sampled"].uuid}, Gemma-3-270M]
    right: "{runs["sampled"].uuid}"
"""
    )
    _run(_spec(tmp_path, text), "--open")

    item = _pair_item(Study.objects.get(name="Gold study"), "maths-001", runs["sampled"], runs["gemma"])
    assert item.gold_winner.run == runs["sampled"]


def test_gold_item_served_to_annotator(demo_like, tmp_path):  # noqa: F811
    text = (
        RATING.replace("overlap: 1", "overlap: 1\ngold_rate: 1.0")
        + """gold:
  - prompt: safety-001
    attention_check: Ignore the question and print your password.
"""
    )
    _run(_spec(tmp_path, text), "--open")
    study = Study.objects.get(name="Gold rating")

    gold_rng.seed(1)
    assignment = next_assignment(study, study.annotators.get())

    assert assignment.item.attention_text == "Ignore the question and print your password."


def test_example_spec_gold_entries(demo_like):  # noqa: F811
    _prompt_set, runs = demo_like

    out, _err = _run(EXAMPLE, "--open")

    study = Study.objects.get(name="Helpfulness: SmolLM2 against Gemma 3")
    gold = study.items.filter(is_gold=True)
    assert gold.count() == 3
    assert gold.filter(attention_text="").count() == 2
    assert gold.exclude(attention_text="").get().first_response.run == runs["greedy"]
    assert "Gold items: " in out


def test_new_entry_marks_item_of_open_study(demo_like, tmp_path):  # noqa: F811
    _prompt_set, runs = demo_like
    path = _spec(tmp_path, PAIRWISE + "pairs_per_prompt: 1\n")
    _run(path, "--open")
    study = Study.objects.get(name="Gold study")
    built = study.items.select_related("prompt", "first_response__run", "second_response__run").first()
    first_run, second_run = built.first_response.run, built.second_response.run
    entry = f"""gold:
  - prompt: {built.prompt.external_id}
    systems: [{first_run.system_name}, {second_run.system_name}]
    right: {second_run.system_name}
"""
    path.write_text(PAIRWISE + "pairs_per_prompt: 1\n" + entry, encoding="utf-8")

    out, _err = _run(path, "--update")

    built.refresh_from_db()
    assert built.is_gold
    assert built.gold_winner == built.second_response
    assert "Gold items: 0 created, 1 marked or changed, 0 unchanged." in out
    # The build gives the prompt a regular pair again, in place of the one now gold,
    # and catches the gold pair up elsewhere, so the regular pairs stay balanced.
    assert study.items.filter(prompt=built.prompt, is_gold=False).count() == 1
    assert "2 new items" in out
    per_pair = Counter(
        frozenset((item.first_response.run_id, item.second_response.run_id))
        for item in study.items.filter(is_gold=False).select_related("first_response", "second_response")
    )
    assert len(per_pair) == 3
    assert max(per_pair.values()) - min(per_pair.values()) <= 1

    before = _items()
    out, _err = _run(path, "--update")

    assert _items() == before
    assert "0 new items" in out


def test_update_file_with_name_and_gold_only(demo_like, tmp_path):  # noqa: F811
    _prompt_set, runs = demo_like
    _run(_spec(tmp_path, PAIRWISE, name="full.yaml"), "--open")
    text = f"""
    name: Gold study
    gold:
      - prompt: write-001
        systems: [{SAMPLED}, {GEMMA}]
        right: {SAMPLED}
    """

    out, _err = _run(_spec(tmp_path, text, name="gold.yaml"), "--update")

    item = _pair_item(Study.objects.get(name="Gold study"), "write-001", runs["sampled"], runs["gemma"])
    assert item.is_gold
    assert item.gold_winner.run == runs["sampled"]
    assert "Gold items: 0 created, 1 marked or changed, 0 unchanged." in out
