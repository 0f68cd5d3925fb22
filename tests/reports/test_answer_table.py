"""The report's one read of a study's answers (reports.answer_table) against the counting rules as ORM queries.

`reports.answers.counted_answers` states the rules as a query; every
figure of the report now counts from the arrays instead, so the two must
select the same answers with the same canonical results under every
option and breakdown.
"""

import itertools

import numpy as np
import pytest

from annotate.models import AnnotatorStatus, CriterionAnswer, Item, Outcome
from annotate.progress import median_time_on_task
from annotate.quality import annotator_quality
from generation.models import Prompt, Response
from reports.answer_table import NO_RESULT, NO_SCORE, load_study_answers
from reports.answers import Breakdown, counted_answers, limited_to
from reports.pairwise import CANONICAL_RESULTS, canonical_result
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import PAIRWISE, RATING, judge, make_item, make_study

OPTIONS = [
    {"include_surplus": surplus, "include_excluded": excluded}
    for surplus, excluded in itertools.product([False, True], repeat=2)
]


@pytest.fixture
def pairwise_study(db):
    """Three systems on four prompts in two categories and two languages, with every kind of answer.

    Two criteria; four annotators, one excluded; surplus judgments; a gold
    item; a judgment without a time on task; a "win" whose winner is a
    response of another item; and a judgment of another study on the same
    prompts, which must never show.
    """
    prompt_set = make_prompt_set(prompts=["2+2?", "三加三等于几？", "写一首诗。", "Name a colour."])
    prompts = list(prompt_set.prompts.order_by("position"))
    for prompt, category, language in zip(
        prompts, ["math", "math", "poetry", "poetry"], ["en", "zh-Hans", "zh-Hans", "en"], strict=True
    ):
        Prompt.objects.filter(pk=prompt.pk).update(category=category, language=language)
    x, y, z = (make_run(prompt_set, model_name=name) for name in ("Xenoqua", "Yarrowin", "Zephyra"))
    study = make_study(PAIRWISE, [x, y, z], criteria=("overall", "style"))
    annotators = [make_user(f"ann-{number}") for number in range(4)]
    AnnotatorStatus.objects.create(study=study, annotator=annotators[3], is_excluded=True)

    results = ["first", "second", "tie", "both_bad"]
    for index, (prompt, (first, second)) in enumerate(itertools.product(prompts, [(x, y), (z, x), (y, z)])):
        item = make_item(study, prompt, first, second)
        for number, annotator in enumerate(annotators[: 2 + index % 3]):
            judge(
                item,
                annotator,
                {"overall": results[(index + number) % 4], "style": results[(index + 2 * number) % 4]},
                first_on_left=(index + number) % 2 == 0,
                surplus=number == 2 and index % 2 == 1,
                seconds=None if index == 5 and number == 0 else 3.0 + index + number,
            )

    gold = make_item(study, prompts[0], x, z)
    Item.objects.filter(pk=gold.pk).update(is_gold=True, gold_outcome=Outcome.TIE)
    judge(gold, annotators[0], {"overall": "tie", "style": "first"})

    stray = judge(make_item(study, prompts[1], z, y), annotators[1], {"overall": "first", "style": "tie"})
    CriterionAnswer.objects.filter(judgment=stray, criterion__name="overall").update(
        winner=Response.objects.get(run=x, prompt=prompts[1])
    )

    other = make_study(PAIRWISE, [x, y], criteria=("overall",))
    judge(make_item(other, prompts[0], x, y), annotators[0], {"overall": "first"})
    return study, annotators


BREAKDOWNS = [
    Breakdown(),
    Breakdown(category="math"),
    Breakdown(language="zh-Hans"),
    Breakdown(category="poetry", language="en"),
    "left out",
]


def _breakdown(value, annotators):
    return Breakdown(left_out_annotator_id=annotators[1].pk) if value == "left out" else value


def _table_answers(table, options, *, pairwise=True):
    answers = table.answers
    counted = table.counted_answers(**options)
    judgment_ids = table.judgments.ids[answers.judgment[counted]]
    criterion_ids = [criterion.pk for criterion in table.criteria]
    rows = set()
    for judgment_id, position, result, score in zip(
        judgment_ids.tolist(),
        answers.criterion[counted].tolist(),
        answers.result[counted].tolist(),
        answers.score[counted].tolist(),
        strict=True,
    ):
        if pairwise:
            value = CANONICAL_RESULTS[result] if result != NO_RESULT else "no result"
        else:
            value = score if score != NO_SCORE else None
        rows.add((judgment_id, criterion_ids[position], value))
    return rows


def _query_answers(study, options, *, pairwise=True):
    answers = counted_answers(**options, criterion__study=study)
    if pairwise:
        rows = answers.annotate(result=canonical_result()).values_list("judgment_id", "criterion_id", "result")
        return {
            (judgment, criterion, result if result in CANONICAL_RESULTS else "no result")
            for judgment, criterion, result in rows
        }
    return set(answers.values_list("judgment_id", "criterion_id", "score"))


@pytest.mark.parametrize("breakdown", BREAKDOWNS, ids=["whole", "category", "language", "both", "left-out"])
@pytest.mark.parametrize("options", OPTIONS, ids=["default", "excluded", "surplus", "surplus+excluded"])
def test_table_counts_what_queries_count(pairwise_study, breakdown, options):
    study, annotators = pairwise_study
    # One read serves every breakdown: the masks apply the one active when they are computed.
    table = load_study_answers(study)
    with limited_to(_breakdown(breakdown, annotators)):
        expected = _query_answers(study, options)
        counted = _table_answers(table, options)

    assert expected
    assert counted == expected


def test_table_keeps_stray_winner_apart(pairwise_study):
    study, _annotators = pairwise_study
    table = load_study_answers(study)

    results = table.answers.result[table.counted_answers(include_surplus=True, include_excluded=True)]

    assert (results == NO_RESULT).sum() == 1


def test_table_reads_one_study_only(pairwise_study):
    study, _annotators = pairwise_study
    table = load_study_answers(study)

    assert set(table.judgments.ids.tolist()) == set(
        study.items.values_list("judgments__pk", flat=True).exclude(judgments__pk=None)
    )
    assert table.items.ids.tolist() == sorted(study.items.values_list("pk", flat=True))


def test_table_medians_match_query(pairwise_study):
    study, _annotators = pairwise_study

    medians = load_study_answers(study).median_seconds()

    assert medians == pytest.approx(median_time_on_task(study))
    assert len(medians) == 4


def test_table_judgment_counts_match_query(pairwise_study):
    study, _annotators = pairwise_study
    table = load_study_answers(study)

    from_table = annotator_quality(study, regular_counts=table.regular_judgments_per_annotator())

    assert from_table == annotator_quality(study)


def test_table_ignores_breakdown_for_annotator_counts(pairwise_study):
    study, annotators = pairwise_study
    whole = load_study_answers(study)
    with limited_to(Breakdown(category="math", left_out_annotator_id=annotators[0].pk)):
        limited = load_study_answers(study)

    assert limited.regular_judgments_per_annotator() == whole.regular_judgments_per_annotator()
    assert limited.median_seconds() == whole.median_seconds()


@pytest.mark.parametrize("options", OPTIONS, ids=["default", "excluded", "surplus", "surplus+excluded"])
def test_table_scores_match_query(db, options):
    prompt_set = make_prompt_set()
    x, y = make_run(prompt_set, model_name="Xenoqua"), make_run(prompt_set, model_name="Yarrowin")
    study = make_study(RATING, [x, y], criteria=("fluency", "accuracy"))
    annotators = [make_user() for _ in range(3)]
    AnnotatorStatus.objects.create(study=study, annotator=annotators[2], is_excluded=True)
    for index, prompt in enumerate(prompt_set.prompts.order_by("position")):
        for run in (x, y):
            item = make_item(study, prompt, run)
            for number, annotator in enumerate(annotators):
                judgment = judge(
                    item, annotator, {"fluency": 1 + (index + number) % 5, "accuracy": 2}, surplus=number == 1
                )
        # A judgment without an answer on one criterion.
        CriterionAnswer.objects.filter(judgment=judgment, criterion__name="accuracy").delete()

    table = load_study_answers(study)

    assert _table_answers(table, options, pairwise=False) == _query_answers(study, options, pairwise=False)


def test_table_of_empty_study(db):
    prompt_set = make_prompt_set()
    study = make_study(PAIRWISE, [make_run(prompt_set), make_run(prompt_set)])

    table = load_study_answers(study)

    assert table.judgments.ids.size == 0
    assert table.answers.judgment.size == 0
    assert table.median_seconds() == {}
    assert table.regular_judgments_per_annotator() == {}


# Times no form would send, each of which a text of too few digits would change.
AWKWARD_SECONDS = [0.1 + 0.2, 1 / 3, 2 / 3 * 1e-5, 86399.99999999999, 5e-324, 2.2250738585072014e-308, 1e300, 0.0]


def test_table_reads_every_time_bit_for_bit(db):
    from annotate.models import Judgment

    prompt_set = make_prompt_set(prompts=[f"Prompt {number}" for number in range(len(AWKWARD_SECONDS))])
    x, y = make_run(prompt_set, model_name="Xenoqua"), make_run(prompt_set, model_name="Yarrowin")
    study = make_study(PAIRWISE, [x, y])
    annotator = make_user()
    for prompt, seconds in zip(prompt_set.prompts.order_by("position"), AWKWARD_SECONDS, strict=True):
        judgment = judge(make_item(study, prompt, x, y), annotator, {"overall": "first"})
        # Stored as given: the form's checks would refuse most of these.
        Judgment.objects.filter(pk=judgment.pk).update(time_on_task_seconds=seconds)

    table = load_study_answers(study)

    stored = dict(Judgment.objects.filter(item__study=study).values_list("pk", "time_on_task_seconds"))
    read = dict(zip(table.judgments.ids.tolist(), table.judgments.seconds.tolist(), strict=True))
    assert read == stored
    assert sorted(read.values()) == sorted(AWKWARD_SECONDS)


def test_table_read_in_many_slices_matches_one(pairwise_study, monkeypatch):
    from reports import answer_table

    study, _annotators = pairwise_study
    whole = load_study_answers(study)
    # Slices of 3 rows: most hold a few rows of the study, some none at all.
    monkeypatch.setattr(answer_table, "SLICE_ROWS", 3)
    sliced = load_study_answers(study)

    for part in ("items", "judgments", "answers"):
        for field, expected in vars(getattr(whole, part)).items():
            actual = getattr(getattr(sliced, part), field)
            assert actual.tolist() == expected.tolist() or (
                field == "seconds" and ((actual == expected) | (actual != actual) & (expected != expected)).all()
            ), (part, field)


@pytest.mark.parametrize(
    "ids",
    [np.array([3, 4, 6, 7]), np.array([3, 10**9, 2 * 10**9, 3 * 10**9])],
    ids=["close together", "far apart"],
)
def test_known_rows_finds_rows_of_ids(ids):
    from reports.answer_table import _known_rows

    wanted = np.array([ids[2], 0, ids[0], ids[3] + 1, ids[1], ids[1] + 1, ids[3]])

    rows, found = _known_rows(ids, wanted)

    assert found.tolist() == [True, False, True, False, True, False, True]
    assert rows[found].tolist() == [2, 0, 1, 3]


@pytest.mark.parametrize("others", [1, 6], ids=["range test", "list of items"])
def test_table_leaves_out_other_studies_between(db, others):
    # Another study's items lie between this study's three. With one, the
    # ids are close enough for the read's range test, so the other study's
    # judgment passes the query and must be dropped after it. With six, the
    # read looks up the list of the study's items.
    prompt_set = make_prompt_set(prompts=[f"Prompt {number}" for number in range(others + 3)])
    prompts = list(prompt_set.prompts.order_by("position"))
    x, y = make_run(prompt_set, model_name="Xenoqua"), make_run(prompt_set, model_name="Yarrowin")
    study, other = make_study(PAIRWISE, [x, y]), make_study(PAIRWISE, [x, y], name="other")
    annotator = make_user()
    first, second = make_item(study, prompts[0], x, y), make_item(study, prompts[1], y, x)
    between = [make_item(other, prompt, x, y) for prompt in prompts[2:-1]]
    last = make_item(study, prompts[-1], y, x)
    for item in [first, second, *between, last]:
        judge(item, annotator, {"overall": "first"})

    table = load_study_answers(study)

    assert table.items.ids.tolist() == [first.pk, second.pk, last.pk]
    assert sorted(table.judgments.ids.tolist()) == sorted(study.items.values_list("judgments__pk", flat=True))
    assert table.judgments.item.tolist() == [0, 1, 2]
    assert table.answers.judgment.tolist() == [0, 1, 2]
