"""Report figures read through reports.answer_table on awkward data, checked against the ORM.

Each test builds its data through the ORM (explicit huge ids, odd times on
task, missing answers) and compares the report's figures with a count or
mean computed here from the stored rows.
"""

import math
import statistics

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate.models import (
    AnnotatorStatus,
    Criterion,
    CriterionAnswer,
    Item,
    Judgment,
    Outcome,
)
from generation.models import Response
from reports.answer_table import load_study_answers
from reports.answers import Breakdown, limited_to
from reports.ranking import study_rankings
from reports.ratings import study_ratings
from reports.summary import judgment_totals
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import PAIRWISE, RATING, judge, make_item, make_study


def _item_with_id(item_id, study, prompt, first_run, second_run=None):
    second = Response.objects.get(run=second_run, prompt=prompt) if second_run else None
    return Item.objects.create(
        pk=item_id,
        study=study,
        prompt=prompt,
        first_response=Response.objects.get(run=first_run, prompt=prompt),
        second_response=second,
        sort_key=0.5,
    )


def _orm_means(study, *, include_excluded=False, left_out=None, category=None):
    """Mean score per (criterion name, run id) from the stored answers, by the report's counting rules."""
    answers = CriterionAnswer.objects.filter(
        criterion__study=study, judgment__item__is_gold=False, judgment__is_surplus=False, score__isnull=False
    )
    if not include_excluded:
        excluded = AnnotatorStatus.objects.filter(study=study, is_excluded=True).values("annotator_id")
        answers = answers.exclude(judgment__annotator_id__in=excluded)
    if left_out is not None:
        answers = answers.exclude(judgment__annotator_id=left_out)
    if category is not None:
        answers = answers.filter(judgment__item__prompt__category=category)
    scores = {}
    for name, run_id, score in answers.values_list(
        "criterion__name", "judgment__item__first_response__run_id", "score"
    ):
        scores.setdefault((name, run_id), []).append(score)
    return {key: statistics.mean(values) for key, values in scores.items()}, {
        key: len(values) for key, values in scores.items()
    }


def _report_means(study, **options):
    means, counts = {}, {}
    for section in study_ratings(study, rounds=0, **options):
        for rating in section.systems:
            if rating.count:
                means[(section.criterion.name, rating.system.run_id)] = rating.mean
                counts[(section.criterion.name, rating.system.run_id)] = rating.count
    return means, counts


# Ids this far apart take the binary search in _known_rows and the np.unique path of unique_ids.
GAP = 10**7


@pytest.fixture
def rating_study_far_ids(db):
    """A rating study whose items and judgments have ids GAP apart, two criteria, gaps in the answers."""
    prompt_set = make_prompt_set(prompts=["Say hello.", "用一句话解释光合作用。", "What is 2+2?", "写一首诗。"])
    x, y = make_run(prompt_set, model_name="模型甲"), make_run(prompt_set, model_name="Yarrowin")
    study = make_study(RATING, [x, y], criteria=("fluency", "accuracy"))
    annotators = [make_user(f"标注员{number}") for number in range(3)]
    AnnotatorStatus.objects.create(study=study, annotator=annotators[2], is_excluded=True)
    prompts = list(prompt_set.prompts.order_by("position"))
    judgment_id = GAP
    for index, prompt in enumerate(prompts):
        for run_number, run in enumerate((x, y)):
            item = _item_with_id(GAP * (1 + index * 2 + run_number), study, prompt, run)
            for number, annotator in enumerate(annotators):
                scores = {"fluency": 1 + (index + number + run_number) % 5, "accuracy": 1 + (index * number) % 5}
                if (index + number) % 3 == 0:
                    del scores["accuracy"]
                if index == 3 and number == 1:
                    scores = {}
                judgment_id += GAP + index
                judge(item, annotator, scores, seconds=3.0 + index, judgment_id=judgment_id)
    # A judgment of an ordinary id, so the judgment ids span from 1 to about 2.5 * 10**8.
    judge(make_item(study, prompts[0], x), annotators[0], {"fluency": 5, "accuracy": 5})
    return study, annotators


def test_far_ids_read_in_few_queries(rating_study_far_ids):
    study, _annotators = rating_study_far_ids

    with CaptureQueriesContext(connection) as queries:
        load_study_answers(study)

    # Slices of 250,000 consecutive ids would take about 1,000 queries for
    # judgment ids up to 2.5 * 10**8. The count must follow the rows, not the span.
    assert len(queries) < 50


def test_item_id_near_bigint_max_reads(db):
    prompt_set = make_prompt_set()
    x, y = make_run(prompt_set, model_name="Xenoqua"), make_run(prompt_set, model_name="Yarrowin")
    study = make_study(PAIRWISE, [x, y])
    prompt = prompt_set.prompts.order_by("position").first()
    # The largest id a BIGINT primary key holds: the only item in the table.
    item = _item_with_id(2**63 - 1, study, prompt, x, y)
    judge(item, make_user(), {"overall": "first"})

    table = load_study_answers(study)

    assert table.items.ids.tolist() == [2**63 - 1]
    assert table.judgments.item.tolist() == [0]


@pytest.mark.parametrize("include_excluded", [False, True])
def test_far_ids_rating_means_match_orm(rating_study_far_ids, include_excluded):
    study, _annotators = rating_study_far_ids

    means, counts = _report_means(study, include_excluded=include_excluded)
    expected_means, expected_counts = _orm_means(study, include_excluded=include_excluded)

    assert counts == expected_counts
    assert means == pytest.approx(expected_means)


def test_far_ids_breakdown_means_match_orm(rating_study_far_ids):
    study, annotators = rating_study_far_ids

    with limited_to(Breakdown(category="writing", left_out_annotator_id=annotators[0].pk)):
        means, counts = _report_means(study)
    expected_means, expected_counts = _orm_means(study, left_out=annotators[0].pk, category="writing")

    assert expected_counts
    assert counts == expected_counts
    assert means == pytest.approx(expected_means)


def test_far_ids_totals_match_orm(rating_study_far_ids):
    study, _annotators = rating_study_far_ids
    judgments = Judgment.objects.filter(item__study=study, item__is_gold=False)
    excluded = AnnotatorStatus.objects.filter(study=study, is_excluded=True).values("annotator_id")
    counted = judgments.exclude(annotator_id__in=excluded)

    totals = judgment_totals(study)

    assert totals.judgments == counted.count()
    assert totals.excluded == judgments.filter(annotator_id__in=excluded).count()
    assert totals.annotators == counted.values("annotator_id").distinct().count()
    assert totals.judged_items == counted.values("item_id").distinct().count()
    assert totals.items == study.items.count()


def test_far_ids_medians_match_orm(rating_study_far_ids):
    study, _annotators = rating_study_far_ids
    times = {}
    for annotator_id, seconds in Judgment.objects.filter(item__study=study).values_list(
        "annotator_id", "time_on_task_seconds"
    ):
        times.setdefault(annotator_id, []).append(seconds)

    medians = load_study_answers(study).median_seconds()

    assert medians == {annotator_id: statistics.median(values) for annotator_id, values in times.items()}


ODD_SECONDS = [
    0.0,
    -0.0,
    -1.0,
    1e-7,
    86400.0,
    1e9,
    999_999_999.999_999,
    1e18,
    0.1 + 0.2,
    math.inf,
    -math.inf,
    math.nan,
    2.5e-6,
    123456.1234565,
]


def _same_time(read, stored):
    if stored is None or (isinstance(stored, float) and math.isnan(stored)):
        return math.isnan(read)
    return read == stored and math.copysign(1, read) == math.copysign(1, stored)


def test_odd_times_read_as_stored(db):
    prompt_set = make_prompt_set(prompts=[f"Prompt {number}" for number in range(len(ODD_SECONDS))])
    x, y = make_run(prompt_set, model_name="Xenoqua"), make_run(prompt_set, model_name="Yarrowin")
    study = make_study(PAIRWISE, [x, y])
    annotator = make_user()
    for prompt, seconds in zip(prompt_set.prompts.order_by("position"), ODD_SECONDS, strict=True):
        judgment = judge(make_item(study, prompt, x, y), annotator, {"overall": "first"})
        Judgment.objects.filter(pk=judgment.pk).update(time_on_task_seconds=seconds)

    table = load_study_answers(study)

    stored = dict(Judgment.objects.filter(item__study=study).values_list("pk", "time_on_task_seconds"))
    read = dict(zip(table.judgments.ids.tolist(), table.judgments.seconds.tolist(), strict=True))
    assert read.keys() == stored.keys()
    mismatched = {pk: (read[pk], stored[pk]) for pk in stored if not _same_time(read[pk], stored[pk])}
    assert mismatched == {}


def test_odd_times_median_matches_sql(db):
    from annotate.progress import median_time_on_task

    prompt_set = make_prompt_set(prompts=[f"Prompt {number}" for number in range(len(ODD_SECONDS))])
    x, y = make_run(prompt_set, model_name="Xenoqua"), make_run(prompt_set, model_name="Yarrowin")
    study = make_study(PAIRWISE, [x, y])
    annotators = [make_user() for _ in range(3)]
    for index, prompt in enumerate(prompt_set.prompts.order_by("position")):
        item = make_item(study, prompt, x, y)
        for number, annotator in enumerate(annotators):
            judgment = judge(item, annotator, {"overall": "first"})
            seconds = ODD_SECONDS[(index + number) % len(ODD_SECONDS)]
            if not math.isnan(seconds):
                Judgment.objects.filter(pk=judgment.pk).update(time_on_task_seconds=seconds)

    assert load_study_answers(study).median_seconds() == median_time_on_task(study)


def _orm_records(study, *, include_surplus=False, include_excluded=False):
    """Wins, losses, ties and both-bad counts per (criterion name, run id), from the stored answers."""
    answers = CriterionAnswer.objects.filter(criterion__study=study, judgment__item__is_gold=False)
    if not include_surplus:
        answers = answers.filter(judgment__is_surplus=False)
    if not include_excluded:
        excluded = AnnotatorStatus.objects.filter(study=study, is_excluded=True).values("annotator_id")
        answers = answers.exclude(judgment__annotator_id__in=excluded)
    records = {}
    rows = answers.values_list(
        "criterion__name",
        "outcome",
        "winner__run_id",
        "judgment__item__first_response__run_id",
        "judgment__item__second_response__run_id",
    )
    for name, outcome, winner_run, first_run, second_run in rows:
        for run in (first_run, second_run):
            record = records.setdefault((name, run), [0, 0, 0, 0])
            if outcome == Outcome.WIN:
                record[0 if winner_run == run else 1] += 1
            elif outcome == Outcome.TIE:
                record[2] += 1
            else:
                record[3] += 1
    return {key: tuple(value) for key, value in records.items()}


@pytest.fixture
def pairwise_study_far_ids(db):
    """Three systems; judgment ids GAP apart; some judgments lack the "style" answer, one has none at all."""
    prompt_set = make_prompt_set(prompts=["2+2?", "三加三等于几？", "写一首诗。", "Name a colour."])
    prompts = list(prompt_set.prompts.order_by("position"))
    x, y, z = (make_run(prompt_set, model_name=name) for name in ("Xenoqua", "模型乙", "Zephyra"))
    study = make_study(PAIRWISE, [x, y, z], criteria=("overall", "style"))
    annotators = [make_user(f"ann-{number}") for number in range(4)]
    AnnotatorStatus.objects.create(study=study, annotator=annotators[3], is_excluded=True, is_paused=True)
    results = ["first", "second", "tie", "both_bad"]
    judgment_id = GAP
    pairs = [(x, y), (z, x), (y, z)]
    for index, prompt in enumerate(prompts):
        for pair_number, (first, second) in enumerate(pairs):
            item = make_item(study, prompt, first, second)
            if index == 3 and pair_number == 0:
                Item.objects.filter(pk=item.pk).update(is_gold=True, gold_outcome=Outcome.TIE)
            for number, annotator in enumerate(annotators):
                answers = {
                    "overall": results[(index + pair_number + number) % 4],
                    "style": results[(index * pair_number + number) % 4],
                }
                if (index + number) % 3 == 1:
                    del answers["style"]
                if index == 2 and number == 0 and pair_number == 1:
                    answers = {}
                judgment_id += GAP * (1 + number)
                judge(
                    item,
                    annotator,
                    answers,
                    surplus=number == 2 and index % 2 == 0,
                    first_on_left=(index + number) % 2 == 0,
                    seconds=4.0,
                    judgment_id=judgment_id,
                )
    return study


def _report_records(study, **options):
    records = {}
    for ranking in study_rankings(study, rounds=0, with_online_elo=False, **options):
        for system in ranking.systems:
            if system.comparisons:
                records[(ranking.criterion.name, system.system.run_id)] = (
                    system.wins,
                    system.losses,
                    system.ties,
                    system.both_bad,
                )
    return records


@pytest.mark.parametrize("include_surplus", [False, True])
@pytest.mark.parametrize("include_excluded", [False, True])
def test_far_ids_win_counts_match_orm(pairwise_study_far_ids, include_surplus, include_excluded):
    options = {"include_surplus": include_surplus, "include_excluded": include_excluded}

    records = _report_records(pairwise_study_far_ids, **options)

    assert records == _orm_records(pairwise_study_far_ids, **options)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _download(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def _formula_cells(body: bytes) -> list[str]:
    """Cells of a CSV file that a spreadsheet would run as a formula: formula-like text that is not a number."""
    import csv
    import io

    text = body.decode("utf-8-sig")
    found = []
    for row in csv.reader(io.StringIO(text, newline="")):
        for cell in row:
            if not cell.startswith(FORMULA_STARTS):
                continue
            try:
                float(cell)
            except ValueError:
                found.append(cell)
    return found


@pytest.fixture
def formula_study(db):
    """A pairwise study whose every text (names, prompts, categories, rationale) looks like a formula."""
    prompt_set = make_prompt_set(prompts=["=1+1 三加三", "@SUM(A1) 写诗", "-2+3 hello"])
    prompts = list(prompt_set.prompts.order_by("position"))
    for prompt, category in zip(prompts, ["=cat", "+类别", "\tcat"], strict=True):
        type(prompt).objects.filter(pk=prompt.pk).update(category=category, external_id=f"={prompt.pk}")
    x = make_run(prompt_set, model_name='=HYPERLINK("http://127.0.0.1/","模型")')
    y = make_run(prompt_set, model_name="+Yarrowin")
    study = make_study(PAIRWISE, [x, y], criteria=("=overall", "@风格"), name="-评测 =1")
    annotators = [make_user("=cmd|' /C calc'!A0"), make_user("+标注员")]
    for index, prompt in enumerate(prompts):
        item = make_item(study, prompt, x, y)
        for number, annotator in enumerate(annotators):
            judge(
                item,
                annotator,
                {"=overall": ["first", "second", "tie"][index], "@风格": "both_bad"},
                rationale=["=2*3", "\r=bad", "-x 理由"][(index + number) % 3],
                first_on_left=number == 0,
                seconds=[-1.0, 1e18, 0.1 + 0.2][index],
            )
    gold = make_item(study, prompts[0], y, x)
    Item.objects.filter(pk=gold.pk).update(is_gold=True, gold_outcome=Outcome.TIE)
    judge(gold, annotators[0], {"=overall": "tie", "@风格": "first"}, rationale="@gold")
    return study


@pytest.mark.parametrize("names", [False, True])
@pytest.mark.parametrize(
    ("table", "api_suffix", "page_name"),
    [
        ("judgments", "judgments-csv/", "reports:judgments_csv"),
        ("gold", "gold-judgments-csv/", "reports:gold_judgments_csv"),
        ("rankings", "rankings-csv/", "reports:rankings_csv"),
    ],
)
def test_formula_downloads_agree_and_neutralise(formula_study, tmp_path, table, api_suffix, page_name, names):
    import io
    import json

    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse
    from rest_framework.test import APIClient

    from reports import export_files

    admin = make_user("site-admin", superuser=True)
    page, api = Client(), APIClient()
    page.force_login(admin)
    api.force_login(admin)
    page_address = reverse(page_name, args=[formula_study.uuid])
    api_address = f"/api/v1/reports/{formula_study.uuid}/{api_suffix}"
    name_query = {"names": "show"} if names else {}
    api_names = {"names": "true"} if names else {}

    files = {}
    for bom, options in ((True, ["--bom"]), (False, [])):
        path = tmp_path / f"{bom}-{export_files.default_filename(formula_study, table, 'csv')}"
        if names and table != "rankings":
            options = [*options, "--names"]
        call_command(
            "export", str(formula_study.uuid), "--what", table, "--out", str(path), *options, stdout=io.StringIO()
        )
        files[bom] = path.read_bytes()
        json.loads(path.with_name(path.name + ".meta.json").read_text(encoding="utf-8"))

    with_bom_page = _download(page.get(page_address, name_query))
    without_bom_page = _download(page.get(page_address, {**name_query, "bom": "no"}))
    with_bom_api = _download(api.get(api_address, api_names))
    without_bom_api = _download(api.get(api_address, {**api_names, "bom": "false"}))

    assert with_bom_page == files[True]
    assert without_bom_page == files[False]
    assert with_bom_api == files[True]
    assert without_bom_api == files[False]
    assert files[True] == b"\xef\xbb\xbf" + files[False]
    assert _formula_cells(files[True]) == []


@pytest.mark.parametrize("slice_rows", [1, 2, 7])
def test_far_ids_small_slices_match_one_read(rating_study_far_ids, monkeypatch, slice_rows):
    from reports import answer_table

    study, _annotators = rating_study_far_ids
    whole = load_study_answers(study)
    monkeypatch.setattr(answer_table, "SLICE_ROWS", slice_rows)
    sliced = load_study_answers(study)

    for part in ("items", "judgments", "answers"):
        for field, expected in vars(getattr(whole, part)).items():
            actual = getattr(getattr(sliced, part), field)
            assert actual.tolist() == expected.tolist(), (part, field)
    assert whole.judgments.ids.size == Judgment.objects.filter(item__study=study).count()


def _sparse_study(kind, shape):
    """A study with no judgment, one judgment, or judgments that have no answer at all."""
    prompt_set = make_prompt_set()
    x, y = make_run(prompt_set, model_name="Xenoqua"), make_run(prompt_set, model_name="模型乙")
    criteria = ("overall", "风格") if kind == PAIRWISE else ("fluency", "风格")
    study = make_study(kind, [x, y], criteria=criteria)
    prompts = list(prompt_set.prompts.order_by("position"))
    items = [make_item(study, prompt, x, y if kind == PAIRWISE else None) for prompt in prompts]
    annotators = [make_user(f"标注员-{shape}-{number}") for number in range(2)]
    value = "first" if kind == PAIRWISE else 4
    if shape == "one judgment":
        judge(items[0], annotators[0], {criteria[0]: value})
    elif shape == "no answers":
        for item in items:
            for annotator in annotators:
                judge(item, annotator, {})
    elif shape == "one criterion":
        for item in items:
            for annotator in annotators:
                judge(item, annotator, {criteria[1]: value})
    return study


SHAPES = ["no judgments", "one judgment", "no answers", "one criterion"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", [PAIRWISE, RATING])
def test_sparse_study_report_builds(db, kind, shape):
    from django.test import Client
    from django.urls import reverse
    from rest_framework.test import APIClient

    from reports.summary import build_study_report

    study = _sparse_study(kind, shape)
    admin = make_user("site-admin", superuser=True)

    report = build_study_report(study, rounds=20)
    page, api = Client(), APIClient()
    page.force_login(admin)
    api.force_login(admin)
    page_response = page.get(reverse("reports:study", args=[study.uuid]))
    api_response = api.get(f"/api/v1/reports/{study.uuid}/")

    assert report.totals.judgments == Judgment.objects.filter(item__study=study).count()
    assert page_response.status_code == 200
    assert api_response.status_code == 200
    assert api_response.json()["totals"]["judgments"] == report.totals.judgments


@pytest.mark.parametrize("level", ["ordinal", "interval"])
def test_far_ids_alpha_matches_krippendorff(rating_study_far_ids, level):
    import krippendorff

    from reports.agreement import study_agreement

    study, _annotators = rating_study_far_ids
    results = study_agreement(study, level=level, rounds=0)

    excluded = set(AnnotatorStatus.objects.filter(study=study, is_excluded=True).values_list("annotator_id", flat=True))
    for criterion, result in zip(study.criteria.order_by("position", "pk"), results, strict=True):
        answers = CriterionAnswer.objects.filter(
            criterion=criterion, judgment__item__is_gold=False, judgment__is_surplus=False
        ).exclude(judgment__annotator_id__in=excluded)
        cells = list(answers.values_list("judgment__annotator_id", "judgment__item_id", "score"))
        coders = sorted({coder for coder, _unit, _score in cells})
        units = sorted({unit for _coder, unit, _score in cells})
        data = np.full((len(coders), len(units)), np.nan)
        for coder, unit, score in cells:
            data[coders.index(coder), units.index(unit)] = score
        expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level, value_domain=[1, 2, 3, 4, 5])

        assert result.alpha == pytest.approx(expected), criterion.name


@pytest.mark.parametrize(
    "values",
    [np.array([-100, 100, 5], dtype=np.int8), np.array([-30_000, 30_000] + [0] * 15_000, dtype=np.int16)],
    ids=["int8", "int16"],
)
def test_unique_ids_small_types_wide_span(values):
    from reports.grouping import unique_ids

    ids, inverse, counts = unique_ids(values, return_inverse=True, return_counts=True)
    expected_ids, expected_inverse, expected_counts = np.unique(values, return_inverse=True, return_counts=True)

    assert ids.tolist() == expected_ids.tolist()
    assert inverse.tolist() == expected_inverse.tolist()
    assert counts.tolist() == expected_counts.tolist()


def test_far_annotator_ids_counts_and_medians(db):
    from django.contrib.auth import get_user_model

    from annotate.progress import median_time_on_task
    from annotate.quality import annotator_quality

    prompt_set = make_prompt_set(prompts=[f"Prompt {number}" for number in range(5)])
    x, y = make_run(prompt_set, model_name="Xenoqua"), make_run(prompt_set, model_name="Yarrowin")
    study = make_study(PAIRWISE, [x, y])
    annotators = [
        get_user_model().objects.create_user(pk=pk, username=f"远-{pk}", password="pw-for-tests")
        # auth_user ids are 32-bit integers.
        for pk in (2_000_000_000, 3, 1_000_000_000)
    ]
    for index, prompt in enumerate(prompt_set.prompts.order_by("position")):
        item = make_item(study, prompt, x, y)
        if index == 4:
            Item.objects.filter(pk=item.pk).update(is_gold=True, gold_outcome=Outcome.TIE)
        for number, annotator in enumerate(annotators[: 1 + (index + 1) % 3]):
            judge(item, annotator, {"overall": "first"}, seconds=[1.5, None, 7.25, 0.1 + 0.2][(index + number) % 4])

    table = load_study_answers(study)

    assert table.median_seconds() == median_time_on_task(study)
    assert annotator_quality(study, regular_counts=table.regular_judgments_per_annotator()) == annotator_quality(study)


def test_rows_added_and_deleted_between_reads(db, monkeypatch):
    from reports import answer_table

    prompt_set = make_prompt_set(prompts=["one", "二", "three", "four"])
    prompts = list(prompt_set.prompts.order_by("position"))
    x, y = make_run(prompt_set, model_name="Xenoqua"), make_run(prompt_set, model_name="Yarrowin")
    study = make_study(RATING, [x, y], criteria=("fluency", "accuracy"))
    annotators = [make_user() for _ in range(2)]
    items = [make_item(study, prompt, x) for prompt in prompts[:2]]
    judgments = [judge(item, annotator, {"fluency": 3, "accuracy": 4}) for item in items for annotator in annotators]
    load_items, load_judgments = answer_table._load_items, answer_table._load_judgments

    def items_then_write(study_read):
        read = load_items(study_read)
        # After the items are read: a new item with a judgment, and a judgment deleted.
        judge(make_item(study, prompts[2], x), annotators[0], {"fluency": 1, "accuracy": 1})
        Judgment.objects.filter(pk=judgments[0].pk).delete()
        return read

    def judgments_then_write(study_read, items_read):
        read = load_judgments(study_read, items_read)
        # After the judgments are read: a judgment on a known item, and one of the read judgments deleted.
        judge(items[1], make_user(), {"fluency": 5, "accuracy": 5})
        Judgment.objects.filter(pk=judgments[1].pk).delete()
        return read

    monkeypatch.setattr(answer_table, "_load_items", items_then_write)
    monkeypatch.setattr(answer_table, "_load_judgments", judgments_then_write)
    table = load_study_answers(study)

    assert table.items.ids.tolist() == [item.pk for item in items]
    assert table.judgments.ids.tolist() == [judgment.pk for judgment in judgments[1:]]
    # The deleted judgment's answers are gone; the new judgment's answers are left out.
    read_judgments = table.judgments.ids[table.answers.judgment].tolist()
    assert sorted(read_judgments) == sorted([judgments[2].pk] * 2 + [judgments[3].pk] * 2)
    assert table.answers.score.tolist() == [3, 4, 3, 4]


def test_api_breakdown_cjk_category_left_out(rating_study_far_ids):
    from rest_framework.test import APIClient

    from annotate.pseudonyms import annotator_label
    from generation.models import Prompt

    study, annotators = rating_study_far_ids
    Prompt.objects.filter(prompt_set=study.prompt_set, category="writing").update(category="写作 =类")
    admin = make_user("site-admin", superuser=True)
    api = APIClient()
    api.force_login(admin)
    left_out = annotators[1]
    query = {"category": "写作 =类", "exclude_annotator": annotator_label(left_out.pk, left_out.username)}

    body = api.get(f"/api/v1/reports/{study.uuid}/", query).json()

    run_ids = {str(run.uuid): run.pk for run in study.systems.all()}
    means, counts = {}, {}
    for section in body["sections"]:
        for rating in section["ratings"]["systems"]:
            if rating["count"]:
                run_id = run_ids[rating["system"]["run"]]
                means[(section["criterion"]["name"], run_id)] = rating["mean"]
                counts[(section["criterion"]["name"], run_id)] = rating["count"]
    expected_means, expected_counts = _orm_means(study, left_out=left_out.pk, category="写作 =类")
    assert expected_counts
    assert counts == expected_counts
    assert means == pytest.approx(expected_means)


# Scores outside the scale: the report leaves them out of every figure and counts them.

SCALES = {"fluency": (1, 5), "detail": (0, 10)}
STORED_SCORES = [1, 5, 0, 6, 10, 11, -1, 32767, -32768, 3]


@pytest.fixture
def odd_scores_study(db):
    """Two criteria on different scales (1-5 and 0-10); stored scores at, inside and beyond both bounds.

    Three annotators, one excluded, one surplus judgment per item, and a
    gold item whose answers are out of scale too.
    """
    prompt_set = make_prompt_set(prompts=[f"题 {number}" for number in range(len(STORED_SCORES))])
    x, y = make_run(prompt_set, model_name="Xenoqua"), make_run(prompt_set, model_name="Yarrowin")
    study = make_study(RATING, [x, y], criteria=tuple(SCALES))
    for name, (low, high) in SCALES.items():
        Criterion.objects.filter(study=study, name=name).update(scale_min=low, scale_max=high)
    annotators = [make_user() for _ in range(3)]
    AnnotatorStatus.objects.create(study=study, annotator=annotators[2], is_excluded=True)
    prompts = list(prompt_set.prompts.order_by("position"))
    for index, prompt in enumerate(prompts):
        for run_number, run in enumerate((x, y)):
            item = make_item(study, prompt, run)
            for number, annotator in enumerate(annotators):
                judgment = judge(item, annotator, {"fluency": 3, "detail": 3}, surplus=number == 1 and index % 3 == 0)
                answers = CriterionAnswer.objects.filter(judgment=judgment)
                answers.filter(criterion__name="fluency").update(
                    score=STORED_SCORES[(index + number + run_number) % len(STORED_SCORES)]
                )
                answers.filter(criterion__name="detail").update(
                    score=STORED_SCORES[(index * 3 + number) % len(STORED_SCORES)]
                )
    gold = make_item(study, prompts[0], y, None)
    Item.objects.filter(pk=gold.pk).update(is_gold=True, gold_min_score=1, gold_max_score=2)
    judge(gold, annotators[0], {"fluency": 99, "detail": -5})
    return study, annotators


def _orm_out_of_scale(study, *, include_surplus=False, include_excluded=False, category=None):
    """Means and counts of in-scale scores, and counts of out-of-scale scores, per criterion, from the ORM."""
    answers = CriterionAnswer.objects.filter(criterion__study=study, judgment__item__is_gold=False, score__isnull=False)
    if not include_surplus:
        answers = answers.filter(judgment__is_surplus=False)
    if not include_excluded:
        excluded = AnnotatorStatus.objects.filter(study=study, is_excluded=True).values("annotator_id")
        answers = answers.exclude(judgment__annotator_id__in=excluded)
    if category is not None:
        answers = answers.filter(judgment__item__prompt__category=category)
    scores, outside = {}, {name: 0 for name in SCALES}
    for name, run_id, score, low, high in answers.values_list(
        "criterion__name",
        "judgment__item__first_response__run_id",
        "score",
        "criterion__scale_min",
        "criterion__scale_max",
    ):
        if low <= score <= high:
            scores.setdefault((name, run_id), []).append(score)
        else:
            outside[name] += 1
    means = {key: statistics.mean(values) for key, values in scores.items()}
    medians = {key: statistics.median(values) for key, values in scores.items()}
    counts = {key: len(values) for key, values in scores.items()}
    return means, medians, counts, outside


@pytest.mark.parametrize("include_surplus", [False, True])
@pytest.mark.parametrize("include_excluded", [False, True])
def test_out_of_scale_figures_match_orm(odd_scores_study, include_surplus, include_excluded):
    study, _annotators = odd_scores_study
    options = {"include_surplus": include_surplus, "include_excluded": include_excluded}

    sections = study_ratings(study, rounds=0, **options)

    means, medians, counts, outside = {}, {}, {}, {}
    for section in sections:
        outside[section.criterion.name] = section.out_of_scale_scores
        for rating in section.systems:
            key = (section.criterion.name, rating.system.run_id)
            if rating.count:
                means[key], medians[key], counts[key] = rating.mean, rating.median, rating.count
            low, high = SCALES[section.criterion.name]
            assert [cell.score for cell in rating.distribution] == list(range(low, high + 1))
    expected_means, expected_medians, expected_counts, expected_outside = _orm_out_of_scale(study, **options)
    assert outside == expected_outside
    assert all(expected_outside.values())
    assert counts == expected_counts
    assert means == pytest.approx(expected_means)
    assert medians == expected_medians


def test_out_of_scale_count_in_category(odd_scores_study):
    study, _annotators = odd_scores_study

    with limited_to(Breakdown(category="knowledge")):
        sections = study_ratings(study, rounds=0)

    _means, _medians, _counts, expected_outside = _orm_out_of_scale(study, category="knowledge")
    assert {section.criterion.name: section.out_of_scale_scores for section in sections} == expected_outside


@pytest.mark.parametrize("level", ["ordinal", "interval"])
def test_out_of_scale_alpha_matches_krippendorff(odd_scores_study, level):
    import krippendorff

    from reports.agreement import study_agreement

    study, _annotators = odd_scores_study
    results = study_agreement(study, level=level, rounds=0)

    excluded = set(AnnotatorStatus.objects.filter(study=study, is_excluded=True).values_list("annotator_id", flat=True))
    for criterion, result in zip(study.criteria.order_by("position", "pk"), results, strict=True):
        cells = [
            (coder, unit, score)
            for coder, unit, score in CriterionAnswer.objects.filter(
                criterion=criterion, judgment__item__is_gold=False, judgment__is_surplus=False
            )
            .exclude(judgment__annotator_id__in=excluded)
            .values_list("judgment__annotator_id", "judgment__item_id", "score")
            if criterion.scale_min <= score <= criterion.scale_max
        ]
        coders = sorted({coder for coder, _unit, _score in cells})
        units = sorted({unit for _coder, unit, _score in cells})
        data = np.full((len(coders), len(units)), np.nan)
        for coder, unit, score in cells:
            data[coders.index(coder), units.index(unit)] = score
        expected = krippendorff.alpha(
            reliability_data=data,
            level_of_measurement=level,
            value_domain=list(range(criterion.scale_min, criterion.scale_max + 1)),
        )

        assert result.alpha == pytest.approx(expected), criterion.name


def test_out_of_scale_cached_report_follows_scale(odd_scores_study):
    from reports.report_cache import cached_study_report

    study, _annotators = odd_scores_study
    before = cached_study_report(study, rounds=0)
    # Widen fluency so that 0 and 6 count; the cached report must not be served.
    Criterion.objects.filter(study=study, name="fluency").update(scale_min=0, scale_max=6)

    after = cached_study_report(study, rounds=0)

    _means, _medians, expected_counts, expected_outside = _orm_out_of_scale(study)
    fluency_before = next(section for section in before.sections if section.criterion.name == "fluency")
    fluency_after = next(section for section in after.sections if section.criterion.name == "fluency")
    assert fluency_after.ratings.out_of_scale_scores == expected_outside["fluency"]
    assert fluency_after.ratings.out_of_scale_scores < fluency_before.ratings.out_of_scale_scores
    assert fluency_after.ratings.answers == sum(
        count for (name, _run), count in expected_counts.items() if name == "fluency"
    )


@pytest.mark.parametrize("seconds", [math.inf, -math.inf, math.nan, 1e18, -1.0])
def test_odd_median_time_pages_render(db, seconds):
    from django.test import Client
    from django.urls import reverse
    from rest_framework.test import APIClient

    prompt_set = make_prompt_set()
    x, y = make_run(prompt_set, model_name="Xenoqua"), make_run(prompt_set, model_name="Yarrowin")
    study = make_study(PAIRWISE, [x, y])
    annotator = make_user("慢的标注员")
    for prompt in prompt_set.prompts.order_by("position"):
        judge(make_item(study, prompt, x, y), annotator, {"overall": "first"})
    Judgment.objects.filter(item__study=study).update(time_on_task_seconds=seconds)
    admin = make_user("site-admin", superuser=True)
    page, api = Client(), APIClient()
    page.force_login(admin)
    api.force_login(admin)

    page_response = page.get(reverse("reports:study", args=[study.uuid]))
    api_response = api.get(f"/api/v1/reports/{study.uuid}/")
    export_response = api.get(f"/api/v1/reports/{study.uuid}/exports/annotators/jsonl/")

    assert page_response.status_code == 200
    assert api_response.status_code == 200
    assert export_response.status_code == 200
    exported = _download(export_response).decode()
    # Strict JSON has no NaN or Infinity tokens.
    for text in (api_response.content.decode(), exported):
        assert "NaN" not in text
        assert "Infinity" not in text


def _pairwise_study_with_prompt_ids(prompt_ids, model_names):
    """A pairwise study over prompts with the given ids, whose data depend only on each prompt's position."""
    from generation.models import FinishReason, GenerationRun, LanguageModel, Prompt, PromptSet

    prompt_set = PromptSet.objects.create(name=f"set-{prompt_ids[0]}")
    prompts = [
        Prompt.objects.create(
            pk=prompt_id,
            prompt_set=prompt_set,
            position=position,
            external_id=f"p{position}",
            category="数学" if position % 3 == 0 else "诗",
            language="zh-Hans",
            text=f"问题 {position}",
        )
        for position, prompt_id in enumerate(prompt_ids)
    ]
    runs = []
    for number, model_name in enumerate(model_names):
        model = LanguageModel.objects.create(name=model_name, source="/nonexistent/weights")
        run = GenerationRun.objects.create(model=model, prompt_set=prompt_set, status="completed")
        for prompt in prompts:
            Response.objects.create(
                run=run,
                prompt=prompt,
                text="答" * (5 + (prompt.position * 7 + number * 3) % 11),
                token_count=5,
                finish_reason=FinishReason.STOP,
                latency_seconds=0.1,
            )
        runs.append(run)
    study = make_study(PAIRWISE, runs, criteria=("overall",))
    annotators = [make_user() for _ in range(3)]
    results = ["first", "second", "tie", "both_bad", "first"]
    pairs = [(0, 1), (2, 0), (1, 2)]
    for prompt in prompts:
        for pair_number, (first, second) in enumerate(pairs):
            item = make_item(study, prompt, runs[first], runs[second])
            for number, annotator in enumerate(annotators):
                value = results[(prompt.position * 2 + pair_number + number) % len(results)]
                judge(item, annotator, {"overall": value}, first_on_left=(prompt.position + number) % 2 == 0)
    return study


def _ranking_figures(study):
    """Rankings and length bias with a bootstrap, keyed by the systems' order of name, not by their ids."""
    from reports.length_bias import criterion_length_bias

    table = load_study_answers(study)
    ranking = study_rankings(study, rounds=50, seed=3, table=table)[0]
    bias = criterion_length_bias(study.criteria.get(), rounds=50, seed=3, table=table)
    systems = [
        (record.rating, record.rating_interval, record.win_rate_interval, record.wins, record.losses, record.ties)
        for record in sorted(ranking.systems, key=lambda record: record.system.name)
    ]
    return systems, ranking.prompts, (bias.longer_wins, bias.compared, bias.prompts, bias.interval)


def test_far_prompt_ids_give_same_figures(db):
    count = 12
    near = _pairwise_study_with_prompt_ids(list(range(100, 100 + count)), ["A-Xenoqua", "B-Yarrowin", "C-Zephyra"])
    far = _pairwise_study_with_prompt_ids(
        [10**12 + position * 10**10 for position in range(count)], ["A-模型", "B-模型", "C-模型"]
    )

    figures = _ranking_figures(near)

    assert all(system[0] is not None and system[1] is not None for system in figures[0])
    assert figures[2][3] is not None
    assert _ranking_figures(far) == figures


# A neutralised cell each table must contain.
NEUTRALISED = {
    "annotators": "'=cmd|' /C calc'!A0",
    "models": "'+Yarrowin",
    "pairs": "'+Yarrowin",
    "agreement": "'@风格",
}


@pytest.mark.parametrize("what", NEUTRALISED)
def test_formula_table_downloads_neutralise(formula_study, what):
    from django.test import Client
    from django.urls import reverse

    admin = make_user("site-admin", superuser=True)
    page = Client()
    page.force_login(admin)
    address = reverse("reports:table_download", args=[formula_study.uuid, what, "csv"])

    with_bom = _download(page.get(address, {"names": "show"}))
    without_bom = _download(page.get(address, {"names": "show", "bom": "no"}))

    assert with_bom.startswith(b"\xef\xbb\xbf")
    assert with_bom == b"\xef\xbb\xbf" + without_bom
    assert _formula_cells(with_bom) == []
    assert NEUTRALISED[what] in with_bom.decode("utf-8-sig")


@pytest.mark.parametrize(
    "breakdown", [{"category": "数学"}, {"language": "zh-Hans"}, {}], ids=["category", "language", "whole"]
)
def test_rankings_breakdown_page_equals_api(db, breakdown):
    from django.test import Client
    from django.urls import reverse
    from rest_framework.test import APIClient

    study = _pairwise_study_with_prompt_ids(list(range(500, 509)), ["A-Xenoqua", "B-Yarrowin", "C-Zephyra"])
    admin = make_user("site-admin", superuser=True)
    page, api = Client(), APIClient()
    page.force_login(admin)
    api.force_login(admin)
    page_address = reverse("reports:rankings_csv", args=[study.uuid])
    api_address = f"/api/v1/reports/{study.uuid}/rankings-csv/"

    from_page = _download(page.get(page_address, {**breakdown, "bom": "no"}))
    from_api = _download(api.get(api_address, {**breakdown, "bom": "false"}))
    whole = _download(api.get(api_address, {"bom": "false"}))

    assert from_page == from_api
    assert from_page.startswith(b"criterion,")
    assert (from_page == whole) == (breakdown == {} or breakdown == {"language": "zh-Hans"})


@pytest.mark.parametrize("interleaved", [1, 3])
def test_other_study_in_item_range_stays_out(db, interleaved):
    from annotate.progress import median_time_on_task

    prompt_set = make_prompt_set(prompts=[f"Prompt {number}" for number in range(12)])
    prompts = list(prompt_set.prompts.order_by("position"))
    x, y = make_run(prompt_set, model_name="Xenoqua"), make_run(prompt_set, model_name="Yarrowin")
    study = make_study(RATING, [x, y], criteria=("fluency",))
    other = make_study(RATING, [x, y], criteria=("fluency",), name="other")
    ours, theirs = [make_user() for _ in range(2)], make_user("其他标注员")
    for index, prompt in enumerate(prompts):
        for run in (x, y):
            mine = index % (interleaved + 1) == 0
            item = make_item(study if mine else other, prompt, run)
            annotators = ours if mine else [*ours, theirs]
            for number, annotator in enumerate(annotators):
                # The other study's judgments have inexact times, read one by one.
                seconds = 2.0 + index + number if mine else 1 / 3 + index
                judge(item, annotator, {"fluency": 1 + (index + number) % 5}, seconds=seconds)

    table = load_study_answers(study)

    stored = Judgment.objects.filter(item__study=study)
    assert sorted(table.judgments.ids.tolist()) == sorted(stored.values_list("pk", flat=True))
    assert table.median_seconds() == median_time_on_task(study)
    assert table.regular_judgments_per_annotator() == {
        annotator.pk: stored.filter(annotator=annotator).count() for annotator in ours
    }
    means, counts = _report_means(study)
    expected_means, expected_counts = _orm_means(study)
    assert counts == expected_counts
    assert means == pytest.approx(expected_means)


@pytest.mark.parametrize("change", ["mark", "unmark"])
def test_cached_report_follows_gold_change(tiny_pairwise, change):
    from annotate.gold import mark_gold, unmark_gold
    from reports.report_cache import cached_study_report

    study, item = tiny_pairwise.study, tiny_pairwise.items[1]
    if change == "unmark":
        # Every judgment on the item is wrong against a "tie", so no gold_correct is true.
        mark_gold(item, outcome=Outcome.TIE)
    before = cached_study_report(study, rounds=0)

    if change == "mark":
        mark_gold(item, outcome=Outcome.TIE)
    else:
        unmark_gold(item)
    after = cached_study_report(study, rounds=0)

    fresh = judgment_totals(study)
    assert Judgment.objects.filter(item=item, gold_correct=True).count() == 0
    assert after.totals.gold == fresh.gold
    assert after.totals.judgments == fresh.judgments
    assert before.totals.gold != fresh.gold


def test_models_download_follows_gold_change(tiny_pairwise, staff):
    import json

    from django.test import Client
    from django.urls import reverse

    from annotate.gold import mark_gold
    from reports.export_files import export_table
    from reports.figure_export import english_report

    study, item = tiny_pairwise.study, tiny_pairwise.items[1]
    page = Client()
    page.force_login(staff)
    address = reverse("reports:table_download", args=[study.uuid, "models", "jsonl"])
    before = _download(page.get(address))

    # Both judgments on the item are wrong against a "tie", so the count of right gold judgments stays 0.
    mark_gold(item, outcome=Outcome.TIE)
    after = _download(page.get(address))

    fresh = export_table(study, "models", report=english_report(study))
    fresh_comparisons = [dict(zip(fresh.header, row, strict=True))["comparisons"] for row in fresh.rows]
    served_comparisons = [json.loads(line)["comparisons"] for line in after.decode().splitlines()]
    assert before != after
    assert served_comparisons == fresh_comparisons


def test_out_of_scale_sentence_in_chinese(odd_scores_study):
    from django.test import Client
    from django.urls import reverse

    study, _annotators = odd_scores_study
    _means, _medians, _counts, expected_outside = _orm_out_of_scale(study)
    admin = make_user("site-admin", superuser=True)
    page = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    page.force_login(admin)

    text = page.get(reverse("reports:study", args=[study.uuid])).content.decode()

    for name, (low, high) in SCALES.items():
        assert f"有 {expected_outside[name]} 个已存储的分数超出了 {low} 至 {high} 的量表范围" in text, name
