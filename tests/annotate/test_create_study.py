"""`manage.py create_study SPEC.yaml`: valid specs, malformed specs and updates."""

import io
import logging
import textwrap
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from annotate.assignment import next_assignment, submit_judgment
from annotate.models import Criterion, Item, Judgment, Study, StudyKind, StudyStatus
from generation.models import FinishReason, GenerationRun, LanguageModel, Response
from tests.factories import make_prompt_set, make_user

pytestmark = pytest.mark.django_db

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "study.yaml"
CATEGORIES = ["maths", "knowledge", "writing", "coding", "safety", "maths"]
# The first ids of generation/data/prompts/humeval-core.jsonl in those categories,
# so that the example spec's gold entries name prompts of this fixture.
EXTERNAL_IDS = ["maths-001", "know-001", "write-001", "code-001", "safety-001", "maths-002"]


def _add_run(model_name, prompt_set, label):
    model, _ = LanguageModel.objects.get_or_create(name=model_name, defaults={"source": "/nonexistent/weights"})
    run = GenerationRun.objects.create(model=model, prompt_set=prompt_set, label=label, status="completed")
    for prompt in prompt_set.prompts.all():
        Response.objects.create(
            run=run, prompt=prompt, text=f"{label} answer {prompt.position}", finish_reason=FinishReason.STOP
        )
    return run


@pytest.fixture
def demo_like(db):
    """The names the example spec uses: prompt set humeval-core, three runs, three annotators."""
    prompt_set = make_prompt_set(name="humeval-core", prompts=[f"Prompt {n}" for n in range(len(CATEGORIES))])
    for prompt in prompt_set.prompts.all():
        prompt.category = CATEGORIES[prompt.position]
        prompt.external_id = EXTERNAL_IDS[prompt.position]
        prompt.save(update_fields=["category", "external_id"])
    runs = {
        "greedy": _add_run("SmolLM2-135M-Instruct", prompt_set, "greedy"),
        "sampled": _add_run("SmolLM2-135M-Instruct", prompt_set, "t=1.0"),
        "gemma": _add_run("Gemma-3-270M", prompt_set, "greedy"),
    }
    for username in ("annotator1", "annotator2", "annotator3"):
        make_user(username)
    return prompt_set, runs


def _spec(tmp_path, text, name="study.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _run(path, *options):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_study", str(path), *options, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _snapshot():
    """Row counts and study fields that a failed command must leave unchanged."""
    return {
        "studies": list(Study.objects.order_by("pk").values()),
        "criteria": list(Criterion.objects.order_by("pk").values()),
        "items": Item.objects.count(),
        "users": get_user_model().objects.count(),
        "systems": list(Study.systems.through.objects.order_by("pk").values_list("study_id", "generationrun_id")),
        "annotators": list(Study.annotators.through.objects.order_by("pk").values_list("study_id", "user_id")),
    }


VALID = """
name: Spec study
kind: pairwise
prompt_set: humeval-core
systems:
  - model: SmolLM2-135M-Instruct
    label: greedy
  - model: Gemma-3-270M
criteria:
  - name: overall
    question: Which answer is better?
annotators: [annotator1, annotator2, annotator3]
"""


def test_example_spec_creates_study(demo_like):
    out, err = _run(EXAMPLE, "--open")

    study = Study.objects.get(name="Helpfulness: SmolLM2 against Gemma 3")
    assert "Created study" in out
    assert err == ""
    assert study.status == StudyStatus.OPEN
    assert study.kind == StudyKind.PAIRWISE
    assert study.categories == ["maths", "knowledge", "writing", "coding"]
    assert study.systems.count() == 3
    assert study.pairs_per_prompt == 2
    assert study.qualification_min_accuracy == 0.7
    assert list(study.criteria.values_list("name", flat=True)) == ["helpfulness", "correctness"]
    assert "有些提示是中文的" in study.instructions
    assert sorted(study.annotators.values_list("username", flat=True)) == ["annotator1", "annotator2", "annotator3"]
    # 5 prompts in the chosen categories, 2 regular pairs each, and the example's 3 gold items.
    assert study.items.filter(is_gold=False).count() == 10
    assert study.items.filter(is_gold=True).count() == 3
    assert not study.items.filter(prompt__category="safety").exists()


def test_valid_spec_defaults_and_draft(demo_like, tmp_path):
    out, _err = _run(_spec(tmp_path, VALID))

    study = Study.objects.get(name="Spec study")
    assert study.status == StudyStatus.DRAFT
    assert not study.items.exists()
    assert study.overlap == 3
    assert study.lease_minutes == 30
    assert study.categories == []
    assert study.pairs_per_prompt is None
    _prompt_set, runs = demo_like
    assert set(study.systems.all()) == {runs["greedy"], runs["gemma"]}
    assert "0 new items" in out


def test_system_by_run_uuid(demo_like, tmp_path):
    _prompt_set, runs = demo_like
    text = VALID.replace("  - model: Gemma-3-270M\n", f"  - run: {runs['sampled'].uuid}\n")

    _run(_spec(tmp_path, text))

    assert set(Study.objects.get(name="Spec study").systems.all()) == {runs["greedy"], runs["sampled"]}


def test_multiline_chinese_instructions_kept(demo_like, tmp_path):
    text = VALID + "instructions: |\n  第一行：请仔细阅读。\n\n  - 第二点 **加粗**\n"

    _run(_spec(tmp_path, text))

    assert Study.objects.get(name="Spec study").instructions == "第一行：请仔细阅读。\n\n- 第二点 **加粗**\n"


def test_rating_criteria_scale_and_labels(demo_like, tmp_path):
    text = """
    name: Rating spec
    kind: rating
    prompt_set: humeval-core
    systems: [Gemma-3-270M]
    criteria:
      - name: fluency
        question: How fluent is the answer?
        scale: {min: 0, max: 10}
        labels: {low: broken, high: flawless}
    annotators: [annotator1]
    overlap: 1
    status: open
    """
    out, _err = _run(_spec(tmp_path, text))

    study = Study.objects.get(name="Rating spec")
    criterion = study.criteria.get()
    assert (criterion.scale_min, criterion.scale_max) == (0, 10)
    assert (criterion.low_label, criterion.high_label) == ("broken", "flawless")
    assert study.status == StudyStatus.OPEN
    assert study.items.count() == len(CATEGORIES)
    assert f"{len(CATEGORIES)} new items" in out


def test_paused_status_builds_items(demo_like, tmp_path):
    _run(_spec(tmp_path, VALID + "status: paused\n"))

    study = Study.objects.get(name="Spec study")
    assert study.status == StudyStatus.PAUSED
    assert study.items.count() == len(CATEGORIES)


def test_check_writes_nothing(demo_like, tmp_path):
    before = _snapshot()

    out, _err = _run(_spec(tmp_path, VALID), "--open", "--check")

    assert "is valid" in out
    assert f"with {len(CATEGORIES)} new items" in out
    assert _snapshot() == before


def test_check_logs_no_rolled_back_action(demo_like, tmp_path, caplog):
    caplog.set_level(logging.INFO)

    _run(_spec(tmp_path, VALID), "--open", "--check")

    assert [record.getMessage() for record in caplog.records if record.levelno < logging.WARNING] == []
    assert logging.getLogger("annotate").isEnabledFor(logging.INFO)


def test_create_logs_its_actions(demo_like, tmp_path, caplog):
    caplog.set_level(logging.INFO)

    _run(_spec(tmp_path, VALID), "--open")

    assert any(record.levelno == logging.INFO for record in caplog.records)


def test_overlap_above_annotators_warns(demo_like, tmp_path):
    text = VALID.replace("annotators: [annotator1, annotator2, annotator3]", "annotators: [annotator1]")

    _out, err = _run(_spec(tmp_path, text))

    assert "overlap is 3 but the study has 1 annotator" in err


def test_create_users_flag(demo_like, tmp_path):
    text = VALID.replace("annotator3]", "annotator3, newcomer]")

    out, _err = _run(_spec(tmp_path, text), "--create-users")

    newcomer = get_user_model().objects.get(username="newcomer")
    assert not newcomer.has_usable_password()
    assert Study.objects.get(name="Spec study").annotators.filter(pk=newcomer.pk).exists()
    assert "Created account 'newcomer'" in out
    assert "/accounts/reset/" in out


# Malformed specs: (spec text, line, field, part of the message).
MALFORMED = {
    "bad yaml": (
        VALID.replace("kind: pairwise", "kind: pairwise: rating"),
        2,
        "YAML",
        "mapping values are not allowed",
    ),
    "unknown key": (VALID + "overlapp: 2\n", 12, "overlapp", "did you mean `overlap`?"),
    "unknown model": (
        VALID.replace("  - model: Gemma-3-270M", "  - model: Gemma-9"),
        7,
        "systems[2].model",
        "No model named 'Gemma-9'",
    ),
    "unknown run label": (
        VALID.replace("    label: greedy", "    label: greedyy"),
        6,
        "systems[1].label",
        "no run labelled “greedyy”",
    ),
    "model needs label": (
        VALID.replace("    label: greedy\n", ""),
        5,
        "systems[1].model",
        "add `label:` to pick one",
    ),
    "unknown run uuid": (
        VALID.replace("  - model: Gemma-3-270M", "  - run: 00000000-0000-4000-8000-000000000000"),
        7,
        "systems[2].run",
        "no generation run has UUID",
    ),
    "same run twice": (
        VALID.replace("  - model: Gemma-3-270M", "  - model: SmolLM2-135M-Instruct\n    label: greedy"),
        7,
        "systems[2]",
        "names the same run as line 5",
    ),
    "overlap zero": (VALID + "overlap: 0\n", 12, "overlap", "from 1 to"),
    "overlap text": (VALID + "overlap: three\n", 12, "overlap", "expected a whole number"),
    "lease too long": (VALID + "lease_minutes: 100000\n", 12, "lease_minutes", "from 1 to 1440"),
    "gold rate above one": (VALID + "gold_rate: 1.5\n", 12, "gold_rate", "from 0 to 1"),
    "duplicate criterion": (
        VALID.replace("annotators:", "  - name: overall\n    question: Again?\nannotators:"),
        11,
        "criteria[2].name",
        "already the name of the criterion on line 9",
    ),
    "criterion without question": (
        VALID.replace("    question: Which answer is better?\n", ""),
        9,
        "criteria[1].question",
        "missing",
    ),
    "scale on pairwise": (
        VALID.replace("annotators:", "    scale: {min: 1, max: 5}\nannotators:"),
        11,
        "criteria[1].scale",
        "rating studies only",
    ),
    "unknown user": (
        VALID.replace("annotator3]", "annotator3, nobody]"),
        11,
        "annotators[4]",
        "no account named “nobody”",
    ),
    "wrong kind": (VALID.replace("kind: pairwise", "kind: ranking"), 2, "kind", "pairwise, rating"),
    "unknown prompt set": (
        VALID.replace("prompt_set: humeval-core", "prompt_set: humeval-coer"),
        3,
        "prompt_set",
        "No prompt set named 'humeval-coer'",
    ),
    "unknown category": (
        VALID + "categories: [maths, poetry]\n",
        12,
        "categories[2]",
        "no prompt of category “poetry”",
    ),
    "repeated key": (VALID + "name: Other name\n", 12, "name", "appears twice in one mapping (first on line 1)"),
    "missing criteria": (VALID.split("criteria:")[0] + "annotators: [annotator1]\n", 1, "criteria", "missing"),
    "wrong status": (VALID + "status: running\n", 12, "status", "draft, open, paused, closed"),
    "not a mapping": ("- name: a list\n", 1, "file", "expected a mapping"),
    "empty file": ("\n", 1, "file", "the file is empty"),
    "tab indentation": (VALID.replace("  - model: Gemma", "\t- model: Gemma"), 7, "YAML", "invalid YAML"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed_spec_rejected(demo_like, tmp_path, case):
    text, line, field, message = MALFORMED[case]
    path = _spec(tmp_path, text)
    before = _snapshot()

    with pytest.raises(CommandError) as error:
        _run(path, "--open")

    shown = str(error.value)
    assert shown.startswith(f"{path}: ")
    assert "nothing written" in shown
    assert f"line {line}, {field}:" in shown
    assert message in shown
    assert _snapshot() == before


def test_rating_scale_reversed_rejected(demo_like, tmp_path):
    text = """
    name: Reversed
    kind: rating
    prompt_set: humeval-core
    systems: [Gemma-3-270M]
    criteria:
      - name: fluency
        question: How fluent?
        scale:
          min: 5
          max: 1
    pairs_per_prompt: 2
    """
    before = _snapshot()

    with pytest.raises(CommandError) as error:
        _run(_spec(tmp_path, text))

    shown = str(error.value)
    assert "line 9, criteria[1].scale.min: the lowest score (5) must be below the highest (1); swap them" in shown
    assert "line 11, pairs_per_prompt: applies to pairwise studies only" in shown
    assert "2 errors" in shown
    assert _snapshot() == before


def test_every_problem_reported_at_once(demo_like, tmp_path):
    text = VALID.replace("kind: pairwise", "kind: ranking") + "overlap: 0\nstatuss: open\n"

    with pytest.raises(CommandError) as error:
        _run(_spec(tmp_path, text))

    shown = str(error.value)
    assert "3 errors" in shown
    assert "line 2, kind:" in shown
    assert "line 12, overlap:" in shown
    assert "line 13, statuss:" in shown


def test_missing_file_rejected(tmp_path):
    with pytest.raises(CommandError) as error:
        _run(tmp_path / "absent.yaml")

    assert "file not found" in str(error.value)


def test_open_failure_writes_nothing(demo_like, tmp_path):
    text = VALID.replace("  - model: Gemma-3-270M\n", "")
    before = _snapshot()

    with pytest.raises(CommandError) as error:
        _run(_spec(tmp_path, text), "--open")

    shown = str(error.value)
    assert "--open: the study cannot open" in shown
    assert "needs at least 2 systems" in shown
    assert _snapshot() == before


def test_existing_name_needs_update(demo_like, tmp_path):
    path = _spec(tmp_path, VALID)
    _run(path)
    before = _snapshot()

    with pytest.raises(CommandError) as error:
        _run(path)

    assert "line 1, name: a study named “Spec study” exists; run with --update" in str(error.value)
    assert _snapshot() == before


def test_update_changes_only_given_keys(demo_like, tmp_path):
    _run(_spec(tmp_path, VALID + "overlap: 2\nlease_minutes: 45\n"))
    study = Study.objects.get(name="Spec study")
    Study.objects.filter(pk=study.pk).update(instructions="Set in the admin.")
    update = VALID.replace("Which answer is better?", "Which answer helps more?") + "overlap: 4\n"

    out, _err = _run(_spec(tmp_path, update, name="update.yaml"), "--update")

    study.refresh_from_db()
    assert "Updated study" in out
    assert study.overlap == 4
    assert study.lease_minutes == 45
    assert study.instructions == "Set in the admin."
    assert study.criteria.get().question == "Which answer helps more?"


def _open_study_with_judgment(tmp_path):
    _run(_spec(tmp_path, VALID), "--open")
    study = Study.objects.get(name="Spec study")
    annotator = get_user_model().objects.get(username="annotator1")
    judgment = submit_judgment(next_assignment(study, annotator), {"overall": "A"})
    return study, judgment


def test_update_adds_system_to_open_study(demo_like, tmp_path):
    study, judgment = _open_study_with_judgment(tmp_path)
    items_before = {
        item.pk: (item.first_response_id, item.second_response_id, item.sort_key) for item in study.items.all()
    }
    # No annotators key: the update leaves them as they are.
    update = """
    name: Spec study
    systems:
      - model: SmolLM2-135M-Instruct
        label: greedy
      - model: Gemma-3-270M
      - model: SmolLM2-135M-Instruct
        label: t=1.0
    """

    out, _err = _run(_spec(tmp_path, update, name="update.yaml"), "--update")

    study.refresh_from_db()
    assert study.status == StudyStatus.OPEN
    assert study.systems.count() == 3
    # Two new pairs on every prompt, all pairs mode.
    assert f"{2 * len(CATEGORIES)} new items" in out
    for item in study.items.filter(pk__in=items_before):
        assert (item.first_response_id, item.second_response_id, item.sort_key) == items_before[item.pk]
    assert Judgment.objects.filter(pk=judgment.pk, item_id=judgment.item_id).exists()


@pytest.mark.parametrize(
    "change, line, field, message",
    [
        ("kind", 2, "kind", "its kind stays pairwise"),
        ("remove system", 4, "systems", "no system can be removed. Put back: SmolLM2-135M-Instruct greedy."),
        ("rename criterion", 8, "criteria", "keep their names"),
        ("back to draft", 12, "status", "cannot go back to draft"),
        ("narrow categories", 12, "categories", "cannot be limited to some now"),
        ("fewer pairs", 12, "pairs_per_prompt", "cannot be limited to fewer pairs now"),
    ],
)
def test_unsafe_update_rejected(demo_like, tmp_path, change, line, field, message):
    _open_study_with_judgment(tmp_path)
    text = {
        "kind": VALID.replace("kind: pairwise", "kind: rating"),
        "remove system": VALID.replace("systems:\n  - model: SmolLM2-135M-Instruct\n    label: greedy\n", "systems:\n"),
        "rename criterion": VALID.replace("name: overall", "name: quality"),
        "back to draft": VALID + "status: draft\n",
        "narrow categories": VALID + "categories: [maths]\n",
        "fewer pairs": VALID + "pairs_per_prompt: 1\n",
    }[change]
    before = _snapshot()

    with pytest.raises(CommandError) as error:
        _run(_spec(tmp_path, text, name="update.yaml"), "--update")

    assert f"line {line}, {field}:" in str(error.value)
    assert message in str(error.value)
    assert _snapshot() == before


def test_create_users_rejects_invalid_username(demo_like, tmp_path):
    text = VALID.replace("annotator3]", "annotator3, 'two words']")
    before = _snapshot()

    with pytest.raises(CommandError) as error:
        _run(_spec(tmp_path, text), "--create-users")

    assert "line 11, annotators[4]: “two words” is not a valid username" in str(error.value)
    assert _snapshot() == before
