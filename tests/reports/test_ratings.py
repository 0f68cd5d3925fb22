import math

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate.models import CriterionAnswer
from reports.ranking import Interval
from reports.ratings import median_from_counts, ratings_metadata, study_ratings
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import PAIRWISE, RATING, judge, make_item, make_study


@pytest.fixture
def rating_study(db):
    """Two systems rated on fluency and accuracy.

    Fluency: Pellamy 4, 5, 3; Quorrin 2, 2 and a surplus 5. Accuracy: Pellamy 1.
    """
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    p = make_run(prompt_set, model_name="Pellamy")
    q = make_run(prompt_set, model_name="Quorrin")
    study = make_study(RATING, [p, q], criteria=("fluency", "accuracy"))
    ann1, ann2, ann3 = (make_user() for _ in range(3))

    p_item = make_item(study, prompts[0], p)
    judge(p_item, ann1, {"fluency": 4, "accuracy": 1})
    judge(p_item, ann2, {"fluency": 5})
    judge(make_item(study, prompts[1], p), ann1, {"fluency": 3})
    q_item = make_item(study, prompts[0], q)
    judge(q_item, ann1, {"fluency": 2})
    judge(q_item, ann2, {"fluency": 2})
    judge(q_item, ann3, {"fluency": 5}, surplus=True)
    return study


def _by_name(criterion_ratings):
    return {rating.system.name: rating for rating in criterion_ratings.systems}


def test_mean_count_and_std_dev(rating_study):
    fluency, _ = study_ratings(rating_study)
    ratings = _by_name(fluency)

    assert fluency.criterion.name == "fluency"
    assert ratings["Pellamy"].count == 3
    assert ratings["Pellamy"].mean == pytest.approx(4.0)
    assert ratings["Pellamy"].std_dev == pytest.approx(1.0)
    assert ratings["Quorrin"].count == 2
    assert ratings["Quorrin"].mean == pytest.approx(2.0)
    assert ratings["Quorrin"].std_dev == pytest.approx(0.0)
    assert fluency.answers == 5


def test_surplus_included_on_request(rating_study):
    fluency, _ = study_ratings(rating_study, include_surplus=True)
    quorrin = _by_name(fluency)["Quorrin"]

    assert quorrin.count == 3
    assert quorrin.mean == pytest.approx(3.0)
    assert quorrin.std_dev == pytest.approx(math.sqrt(3))


def test_single_score_and_missing_system(rating_study):
    _, accuracy = study_ratings(rating_study)
    ratings = _by_name(accuracy)

    assert accuracy.criterion.name == "accuracy"
    assert ratings["Pellamy"].count == 1
    assert ratings["Pellamy"].mean == pytest.approx(1.0)
    assert ratings["Pellamy"].std_dev is None
    assert ratings["Quorrin"].count == 0
    assert ratings["Quorrin"].mean is None


def test_sorted_by_mean_with_unscored_last(rating_study):
    fluency, accuracy = study_ratings(rating_study)

    assert [rating.system.name for rating in fluency.systems] == ["Pellamy", "Quorrin"]
    assert [rating.system.name for rating in accuracy.systems] == ["Pellamy", "Quorrin"]


def test_pairwise_study_rejected(db):
    prompt_set = make_prompt_set()
    study = make_study(PAIRWISE, [make_run(prompt_set), make_run(prompt_set)])

    with pytest.raises(ValueError, match="pairwise study"):
        study_ratings(study)


def test_median_and_distribution(rating_study):
    fluency, accuracy = study_ratings(rating_study)
    pellamy, quorrin = _by_name(fluency)["Pellamy"], _by_name(fluency)["Quorrin"]

    assert pellamy.median == 4.0
    assert quorrin.median == 2.0
    assert fluency.scores == [1, 2, 3, 4, 5]
    assert [(cell.score, cell.count) for cell in pellamy.distribution] == [(1, 0), (2, 0), (3, 1), (4, 1), (5, 1)]
    assert [cell.share for cell in quorrin.distribution] == [0, 1, 0, 0, 0]
    assert _by_name(accuracy)["Quorrin"].distribution[0].share is None
    assert (pellamy.prompts, quorrin.prompts, fluency.prompts) == (2, 1, 2)


def test_median_of_even_count(db):
    prompt_set = make_prompt_set()
    prompt = prompt_set.prompts.first()
    run = make_run(prompt_set)
    study = make_study(RATING, [run])
    item = make_item(study, prompt, run)
    for score in (2, 3, 5, 1):
        judge(item, make_user(), {"overall": score})

    (overall,) = study_ratings(study)

    assert overall.systems[0].median == 2.5
    assert overall.systems[0].mean == pytest.approx(2.75)


@pytest.mark.parametrize("seed", range(5))
def test_median_from_counts_matches_numpy(seed):
    generator = np.random.default_rng(seed)
    scores = np.array([1, 2, 4, 7])
    counts = generator.integers(0, 4, size=(50, 4))
    counts[0] = 0

    medians = median_from_counts(counts, scores)

    assert np.isnan(medians[0])
    for row, median in zip(counts[1:], medians[1:], strict=True):
        if row.sum():
            assert median == np.median(np.repeat(scores, row))


def _prompt_study(scores_per_prompt, annotators=None):
    """One system; the item on prompt p gets the scores in scores_per_prompt[p], one annotator each."""
    prompt_set = make_prompt_set(prompts=[f"Prompt {number}" for number in range(len(scores_per_prompt))])
    run = make_run(prompt_set)
    study = make_study(RATING, [run])
    people = annotators or [make_user() for _ in range(max(len(scores) for scores in scores_per_prompt))]
    for prompt, scores in zip(prompt_set.prompts.order_by("position"), scores_per_prompt, strict=True):
        item = make_item(study, prompt, run)
        for person, score in zip(people, scores, strict=False):
            judge(item, person, {"overall": score})
    return study


def test_bootstrap_resamples_prompts(db):
    # Ten 1s on one prompt and ten 5s on the other. Drawing prompts gives a
    # mean of 1, 3 or 5 with chances 1/4, 1/2, 1/4, so the interval spans
    # 1 to 5. Drawing the twenty scores one by one would give about 3 ± 0.9.
    study = _prompt_study([[1] * 10, [5] * 10])

    (overall,) = study_ratings(study)
    rating = overall.systems[0]

    assert rating.mean == 3.0
    assert (rating.mean_interval.lower, rating.mean_interval.upper) == (1.0, 5.0)
    assert (rating.median_interval.lower, rating.median_interval.upper) == (1.0, 5.0)
    assert overall.method.resampled_unit == "prompt"


def test_bootstrap_reproducible_and_covering(db):
    generator = np.random.default_rng(3)
    study = _prompt_study([[int(score) for score in generator.integers(1, 6, size=3)] for _ in range(25)])

    (first,) = study_ratings(study, seed=5)
    (again,) = study_ratings(study, seed=5)
    (other,) = study_ratings(study, seed=6)
    rating = first.systems[0]

    assert rating.mean_interval == again.systems[0].mean_interval
    assert rating.median_interval == again.systems[0].median_interval
    assert rating.mean_interval != other.systems[0].mean_interval
    assert rating.mean_interval.lower < rating.mean < rating.mean_interval.upper
    assert rating.median_interval.lower <= rating.median <= rating.median_interval.upper
    assert (first.method.rounds, first.method.seed, first.method.confidence) == (1000, 5, 0.95)


def test_no_rounds_no_intervals(rating_study):
    fluency, _ = study_ratings(rating_study, rounds=0)

    assert all(rating.mean_interval is None for rating in fluency.systems)
    assert fluency.method.rounds == 0


def test_sparse_system_gets_no_interval(db):
    # Quorrin has a score on one prompt of 40, and a round misses that
    # prompt with chance (39/40)^40, about 0.36: far more than the 5 rounds
    # of 200 that one tail of a 95% interval leaves out.
    prompt_set = make_prompt_set(prompts=[f"Prompt {number}" for number in range(40)])
    prompts = list(prompt_set.prompts.order_by("position"))
    p = make_run(prompt_set, model_name="Pellamy")
    q = make_run(prompt_set, model_name="Quorrin")
    study = make_study(RATING, [p, q])
    annotator = make_user()
    for prompt in prompts:
        judge(make_item(study, prompt, p), annotator, {"overall": 3})
    judge(make_item(study, prompts[0], q), annotator, {"overall": 4})

    (overall,) = study_ratings(study, rounds=200)
    ratings = _by_name(overall)

    assert ratings["Quorrin"].mean == 4.0
    assert ratings["Quorrin"].mean_interval is None
    assert ratings["Quorrin"].empty_rounds > 5
    assert ratings["Pellamy"].mean_interval == Interval(3.0, 3.0)


def test_score_outside_scale_left_out(rating_study):
    item = rating_study.items.first()
    criterion = rating_study.criteria.get(name="fluency")
    judge(item, make_user(), {"fluency": 4})
    CriterionAnswer.objects.filter(criterion=criterion, score=4).update(score=9)

    fluency, accuracy = study_ratings(rating_study)

    assert fluency.scores == [1, 2, 3, 4, 5]
    assert fluency.out_of_scale_scores == 2
    assert accuracy.out_of_scale_scores == 0
    # Pellamy keeps 5 and 3 of its fluency scores.
    assert (_by_name(fluency)["Pellamy"].count, _by_name(fluency)["Pellamy"].mean) == (2, 4.0)


def test_ratings_query_count_does_not_grow(db):
    small = _prompt_study([[1, 2, 3]] * 2)
    large = _prompt_study([[1, 2, 3, 4, 5]] * 20)

    with CaptureQueriesContext(connection) as small_queries:
        study_ratings(small)
    with CaptureQueriesContext(connection) as large_queries:
        study_ratings(large)

    assert len(small_queries.captured_queries) == len(large_queries.captured_queries)


def test_ratings_metadata(rating_study):
    described = ratings_metadata(study_ratings(rating_study))

    assert described["method"]["rounds"] == 1000
    assert described["method"]["seed"] == 0
    assert described["method"]["resampled_unit"] == "prompt"
    fluency = described["criteria"][0]
    assert fluency["criterion"] == "fluency"
    pellamy = next(row for row in fluency["systems"] if row["system"] == "Pellamy")
    assert pellamy["distribution"] == {"1": 0, "2": 0, "3": 1, "4": 1, "5": 1}
    assert pellamy["median"] == 4.0
    assert len(pellamy["mean_interval"]) == 2
