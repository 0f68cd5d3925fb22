"""The report's benchmark table: human scores beside benchmark scores, rank correlations and the CSV export."""

import csv
import io
import json

import numpy as np
import pytest
from django.urls import reverse
from scipy import stats

from generation.models import BenchmarkResult, BenchmarkSource, GenerationRun, Response
from reports.benchmarks import MIN_MODELS, benchmark_comparison, kendall_tau_b_rows, spearman_rows
from reports.ranking import study_rankings
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import RATING, judge, make_item, make_study

pytestmark = pytest.mark.django_db


def add_result(model, task, value, *, shots=0, metric="acc", filter_name="none", parent_group="", stderr=0.01):
    return BenchmarkResult.objects.create(
        model=model,
        task=task,
        parent_group=parent_group,
        shots=shots,
        metric=metric,
        filter=filter_name,
        value=value,
        stderr=stderr,
        sample_count=100,
        source=BenchmarkSource.IMPORTED,
    )


def rating_study(means, names=None):
    """A rating study whose systems get the given scores, one prompt each, from one annotator."""
    prompt_set = make_prompt_set(prompts=[f"Prompt {index}" for index in range(2)])
    names = names or [f"Qorvath-{index}" for index in range(len(means))]
    runs = [make_run(prompt_set, model_name=name) for name in names]
    study = make_study(RATING, runs)
    annotator = make_user()
    for run, score in zip(runs, means, strict=True):
        for prompt in prompt_set.prompts.all():
            judge(make_item(study, prompt, run), annotator, {"overall": score})
    return study, runs


def test_rating_study_table_and_perfect_correlation():
    study, runs = rating_study([1, 2, 3, 4, 5])
    for index, run in enumerate(runs):
        add_result(run.model, "boolq", 0.5 + index / 100)

    comparison = benchmark_comparison(study, rounds=200)

    assert [column.task for column in comparison.columns] == ["boolq"]
    assert [row.human[0] for row in comparison.rows] == [5.0, 4.0, 3.0, 2.0, 1.0]
    assert [row.cells[0].value for row in comparison.rows] == [0.54, 0.53, 0.52, 0.51, 0.5]
    (correlation,) = comparison.correlations
    assert correlation.spearman == pytest.approx(1.0)
    assert correlation.kendall == pytest.approx(1.0)
    assert correlation.systems == 5
    assert correlation.models == 5
    assert not correlation.weak
    assert correlation.spearman_interval.upper == pytest.approx(1.0)
    assert correlation.spearman_interval.lower <= 1.0


def test_reversed_order_correlates_negatively():
    study, runs = rating_study([1, 2, 3, 4, 5])
    for index, run in enumerate(runs):
        add_result(run.model, "hellaswag", 0.9 - index / 10, metric="acc_norm")

    (correlation,) = benchmark_comparison(study, rounds=50).correlations

    assert correlation.spearman == pytest.approx(-1.0)
    assert correlation.kendall == pytest.approx(-1.0)


def test_fewer_than_five_models_are_flagged_weak():
    study, runs = rating_study([1, 3, 2])
    for index, run in enumerate(runs):
        add_result(run.model, "piqa", 0.6 + index / 10, metric="acc_norm")

    (correlation,) = benchmark_comparison(study, rounds=50).correlations

    assert MIN_MODELS == 5
    assert correlation.models == 3
    assert correlation.weak
    assert correlation.spearman == pytest.approx(stats.spearmanr([1, 3, 2], [0.6, 0.7, 0.8]).statistic)


def test_two_systems_give_no_correlation():
    study, runs = rating_study([1, 2])
    for run in runs:
        add_result(run.model, "boolq", 0.5)

    (correlation,) = benchmark_comparison(study, rounds=50).correlations

    assert correlation.spearman is None
    assert "at least 3 systems" in correlation.reason


def test_constant_benchmark_gives_no_correlation():
    study, runs = rating_study([1, 2, 3])
    for run in runs:
        add_result(run.model, "boolq", 0.5)

    (correlation,) = benchmark_comparison(study, rounds=50).correlations

    assert correlation.spearman is None
    assert "same score" in correlation.reason


def test_pairwise_study_uses_bradley_terry_ratings(tiny_pairwise):
    study = tiny_pairwise.study
    for index, run in enumerate([tiny_pairwise.x, tiny_pairwise.y, tiny_pairwise.z]):
        add_result(run.model, "arc_easy", 0.3 + index / 10, metric="acc_norm")

    comparison = benchmark_comparison(study, rounds=50)

    (ranking,) = study_rankings(study, rounds=0, with_online_elo=False)
    ratings = {record.system.run_id: record.rating for record in ranking.systems}
    assert {row.system.run_id: row.human[0] for row in comparison.rows} == ratings
    assert comparison.human_measure == "Bradley-Terry rating"


def test_systems_of_one_model_share_its_scores():
    study, runs = rating_study([2, 4, 3])
    variant = GenerationRun.objects.create(
        model=runs[0].model, prompt_set=runs[0].prompt_set, label="t=1.0", status="completed"
    )
    for response in runs[0].responses.all():
        Response.objects.create(
            run=variant, prompt=response.prompt, text=response.text, finish_reason=response.finish_reason
        )
    study.systems.add(variant)
    for prompt in runs[0].prompt_set.prompts.all():
        judge(make_item(study, prompt, variant), make_user(), {"overall": 5})
    for index, run in enumerate(runs):
        add_result(run.model, "boolq", 0.5 + index / 10)

    comparison = benchmark_comparison(study, rounds=50)

    shared = [row for row in comparison.rows if row.model_id == runs[0].model_id]
    assert len(shared) == 2
    assert shared[0].cells[0].value == shared[1].cells[0].value == 0.5
    (correlation,) = comparison.correlations
    assert correlation.systems == 4
    assert correlation.models == 3


def test_columns_use_main_metric_and_skip_subtasks():
    study, runs = rating_study([1, 2, 3])
    model = runs[0].model
    add_result(model, "hellaswag", 0.4, metric="acc")
    add_result(model, "hellaswag", 0.45, metric="acc_norm")
    add_result(model, "mmlu", 0.3, shots=5)
    add_result(model, "mmlu_anatomy", 0.2, shots=5, parent_group="mmlu_stem")
    add_result(model, "gsm8k", 0.1, metric="exact_match", filter_name="strict-match")
    add_result(model, "gsm8k", 0.2, metric="exact_match", filter_name="flexible-extract")
    add_result(model, "ceval", 0.6, metric="accuracy")

    comparison = benchmark_comparison(study, rounds=0)

    described = [(column.task, column.shots, column.metric, column.filter) for column in comparison.columns]
    assert described == [
        ("hellaswag", 0, "acc_norm", "none"),
        ("gsm8k", 0, "exact_match", "flexible-extract"),
        ("mmlu", 5, "acc", "none"),
        ("ceval", 0, "accuracy", "none"),
    ]


def test_vectorized_correlations_match_scipy():
    rng = np.random.default_rng(3)
    first = rng.integers(0, 4, size=(30, 7)).astype(float)
    second = rng.normal(size=(30, 7)).round(1)

    spearman = spearman_rows(first, second)
    kendall = kendall_tau_b_rows(first, second)

    for row in range(30):
        if np.ptp(first[row]) == 0:
            assert np.isnan(spearman[row])
            continue
        assert spearman[row] == pytest.approx(stats.spearmanr(first[row], second[row]).statistic)
        assert kendall[row] == pytest.approx(stats.kendalltau(first[row], second[row]).statistic)


def test_csv_export(client):
    study, runs = rating_study([1, 2, 3], names=["Qorvath-a", "=Qorvath-b", "Qorvath-c"])
    for index, run in enumerate(runs):
        add_result(run.model, "mmlu", 0.25 + index / 10, shots=5)
    client.force_login(make_user(superuser=True))

    response = client.get(reverse("reports:benchmarks_csv", args=[study.uuid]))

    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('-benchmarks.csv"')
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == [
        "system",
        "model",
        "human: overall",
        "mmlu 5-shot acc,none",
        "mmlu 5-shot acc,none stderr",
        "mmlu 5-shot acc,none documents",
    ]
    assert rows[1] == ["Qorvath-c", "Qorvath-c", "3.0", "0.45", "0.01", "100"]
    assert rows[2][0] == "'=Qorvath-b"


def test_csv_metadata_holds_correlations(client):
    study, runs = rating_study([1, 2, 3])
    for index, run in enumerate(runs):
        add_result(run.model, "boolq", 0.5 + index / 10)
    client.force_login(make_user(superuser=True))

    response = client.get(reverse("reports:benchmarks_csv_metadata", args=[study.uuid]))

    metadata = json.loads(response.content)
    (correlation,) = metadata["correlations"]["values"]
    assert correlation["benchmark"] == "boolq 0-shot acc,none"
    assert correlation["spearman"] == pytest.approx(1.0)
    assert correlation["systems"] == 3
    assert correlation["weak"] is True
    assert metadata["correlations"]["seed"] == 0
    assert metadata["benchmarks"][0]["models"][0]["source"] == "imported"


def test_export_access(client):
    study, _runs = rating_study([1, 2])
    url = reverse("reports:benchmarks_csv", args=[study.uuid])

    assert client.get(url).status_code == 302
    client.force_login(make_user())
    assert client.get(url).status_code == 404
    client.force_login(make_user(superuser=True))
    assert client.post(url).status_code == 405
    assert (
        client.get(reverse("reports:benchmarks_csv", args=["00000000-0000-0000-0000-000000000000"])).status_code == 404
    )


def test_report_page_shows_table_and_weak_flag(client):
    study, runs = rating_study([1, 2, 3])
    for index, run in enumerate(runs):
        add_result(run.model, "winogrande", 0.5 + index / 10)
    client.force_login(make_user(superuser=True))

    response = client.get(reverse("reports:study", args=[study.uuid]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Human scores and automatic benchmarks" in page
    assert "WinoGrande" in page
    assert "0.7000" in page
    assert "Weak: fewer than 5 models." in page
    assert reverse("reports:benchmarks_csv", args=[study.uuid]) in page


def test_report_page_without_scores(client):
    study, _runs = rating_study([1, 2])
    client.force_login(make_user(superuser=True))

    page = client.get(reverse("reports:study", args=[study.uuid])).content.decode()

    assert "No model of this study has benchmark scores yet" in page


def test_csv_export_without_bom(client):
    study, runs = rating_study([1, 2, 3])
    for index, run in enumerate(runs):
        add_result(run.model, "mmlu", 0.25 + index / 10, shots=5)
    client.force_login(make_user(superuser=True))
    address = reverse("reports:benchmarks_csv", args=[study.uuid])

    default = client.get(address).content
    without = client.get(address, {"bom": "no"}).content

    assert default.startswith(b"\xef\xbb\xbfsystem,")
    assert without.startswith(b"system,model,")
    assert default == b"\xef\xbb\xbf" + without


def test_csv_metadata_encoding_follows_bom(client):
    study, runs = rating_study([1, 2, 3])
    for index, run in enumerate(runs):
        add_result(run.model, "boolq", 0.5 + index / 10)
    client.force_login(make_user(superuser=True))
    address = reverse("reports:benchmarks_csv_metadata", args=[study.uuid])

    default = json.loads(client.get(address).content)["format"]["encoding"]
    without = json.loads(client.get(address, {"bom": "no"}).content)["format"]["encoding"]

    assert default == "UTF-8 with byte order mark; pandas.read_csv(path, encoding='utf-8-sig')"
    assert without == "UTF-8 without byte order mark; pandas.read_csv(path)"


def test_report_links_csv_without_bom(client):
    study, runs = rating_study([1, 2, 3])
    for index, run in enumerate(runs):
        add_result(run.model, "mmlu", 0.25 + index / 10, shots=5)
    client.force_login(make_user(superuser=True))
    address = reverse("reports:benchmarks_csv", args=[study.uuid])

    page = client.get(reverse("reports:study", args=[study.uuid])).content.decode()
    with_options = client.get(reverse("reports:study", args=[study.uuid]), {"excluded": "include"}).content.decode()

    assert f'href="{address}?bom=no"' in page
    assert f'href="{address}?excluded=include&amp;bom=no"' in with_options
