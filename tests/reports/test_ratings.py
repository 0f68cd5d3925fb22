import math

import pytest

from reports.ratings import study_ratings
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
