"""Rankings of pairwise studies: Bradley-Terry ratings, intervals, ranks, online Elo and position bias.

Expected ratings come from closed forms, hand computation or an
independent fit with scipy.optimize, never from the code under test.
"""

import math

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from scipy.optimize import minimize

from annotate.models import AnnotatorStatus, CriterionAnswer, Item, Judgment, Outcome
from reports import bradley_terry
from reports.prompt_counts import RESULT_CODES, bootstrap_totals, build_prompt_counts, outcome_tables
from reports.ranking import Interval, rank_prompt_counts, rank_with_ties, study_rankings
from reports.systems import System
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import PAIRWISE, RATING, judge, make_item, make_study

FIRST, SECOND, TIE, BOTH_BAD = (RESULT_CODES[key] for key in ("first_wins", "second_wins", "tie", "both_bad"))


def _systems(count):
    return [System(run_id=index + 1, name=f"S{index}") for index in range(count)]


def _counts(systems, rows):
    """Build counts from (prompt, first index, second index, result code, first_on_left, count) rows."""
    columns = list(zip(*rows, strict=True))
    return build_prompt_counts(systems, *(np.array(column) for column in columns))


def _by_name(ranking):
    return {record.system.name: record for record in ranking.systems}


def _elo_gap(strength_ratio):
    return 400 * math.log10(strength_ratio)


# Bradley-Terry against closed forms and an independent fit


def test_two_systems_closed_form():
    systems = _systems(2)
    rows = [
        (1, 0, 1, FIRST, True, 3),
        (2, 1, 0, FIRST, False, 1),  # S1 first on this item: a win for S1
        (3, 0, 1, TIE, True, 2),
        (4, 1, 0, BOTH_BAD, True, 1),
    ]

    ranking = rank_prompt_counts(_counts(systems, rows), rounds=0)

    # Ties and "both bad" as half wins: S0 has 3 + 1.5, S1 has 1 + 1.5.
    gap = _elo_gap((3 + 1.5) / (1 + 1.5))
    records = _by_name(ranking)
    assert records["S0"].rating == pytest.approx(1000 + gap / 2, abs=1e-6)
    assert records["S1"].rating == pytest.approx(1000 - gap / 2, abs=1e-6)


def test_three_systems_hand_computed():
    # Strengths 4 : 2 : 1 fit these counts exactly: each system's wins equal
    # its expected wins (S0: 3 * 2/3 + 5 * 4/5 = 6, S1: 3 * 1/3 + 3 * 2/3 = 3,
    # S2: 3 * 1/3 + 5 * 1/5 = 2), so they are the maximum-likelihood strengths.
    systems = _systems(3)
    rows = [
        (1, 0, 1, FIRST, True, 2),
        (1, 0, 1, SECOND, True, 1),
        (2, 1, 2, FIRST, True, 2),
        (2, 1, 2, SECOND, True, 1),
        (3, 0, 2, FIRST, True, 4),
        (3, 0, 2, SECOND, True, 1),
    ]

    ranking = rank_prompt_counts(_counts(systems, rows), rounds=0)

    # The geometric mean strength, 2, is rated 1000.
    records = _by_name(ranking)
    assert records["S0"].rating == pytest.approx(1000 + _elo_gap(2), abs=1e-5)
    assert records["S1"].rating == pytest.approx(1000, abs=1e-5)
    assert records["S2"].rating == pytest.approx(1000 - _elo_gap(2), abs=1e-5)
    probability = {(pair.system.name, pair.opponent.name): pair.predicted_win_probability for pair in ranking.pairs}
    assert probability["S0", "S2"] == pytest.approx(4 / 5, abs=1e-9)
    assert probability["S2", "S1"] == pytest.approx(1 / 3, abs=1e-9)


def _negative_log_likelihood(free, scores):
    theta = np.concatenate([[0.0], free])
    gaps = theta[:, None] - theta[None, :]
    return float((scores * np.log1p(np.exp(-gaps))).sum())


def _gradient(free, scores):
    theta = np.concatenate([[0.0], free])
    lose = 1 / (1 + np.exp(theta[:, None] - theta[None, :]))  # P(row loses to column)
    gradient = -(scores * lose).sum(axis=1) + (scores.T * lose.T).sum(axis=1)
    return gradient[1:]


def test_fit_matches_scipy_minimize():
    generator = np.random.default_rng(11)
    scores = generator.integers(0, 40, (6, 6)) + generator.integers(0, 6, (6, 6)) / 2
    np.fill_diagonal(scores, 0)

    independent = minimize(
        _negative_log_likelihood,
        np.zeros(5),
        args=(scores,),
        jac=_gradient,
        method="BFGS",
        options={"gtol": 1e-12, "maxiter": 10_000},
    )
    expected = np.concatenate([[0.0], independent.x])
    fitted, converged = bradley_terry.fit_log_strengths(scores)

    assert converged
    np.testing.assert_allclose(fitted - fitted[0], expected, atol=1e-6)
    assert fitted.mean() == pytest.approx(0, abs=1e-12)


def test_batched_fit_matches_single_fits():
    generator = np.random.default_rng(5)
    batch = generator.integers(1, 20, (4, 5, 5)).astype(float)

    together, converged = bradley_terry.fit_log_strengths(batch)

    assert converged.all()
    for round_number in range(4):
        alone, _ = bradley_terry.fit_log_strengths(batch[round_number])
        np.testing.assert_allclose(together[round_number], alone, atol=1e-9)


def test_ties_count_as_half_wins():
    systems = _systems(3)
    decisive = [
        (1, 0, 1, FIRST, True, 2),
        (1, 0, 1, SECOND, True, 1),
        (2, 1, 2, FIRST, True, 2),
        (2, 1, 2, SECOND, True, 1),
    ]
    # 2 - 1 between S0 and S1 becomes 1 win, 2 ties, 0 losses: still 2 - 1 in half wins.
    with_ties = [(1, 0, 1, FIRST, True, 1), (1, 0, 1, TIE, True, 2), *decisive[2:]]
    with_both_bad = [(1, 0, 1, FIRST, True, 1), (1, 0, 1, BOTH_BAD, True, 2), *decisive[2:]]

    ratings = [
        [record.rating for record in rank_prompt_counts(_counts(systems, rows), rounds=0).systems]
        for rows in (decisive, with_ties, with_both_bad)
    ]

    assert ratings[1] == pytest.approx(ratings[0], abs=1e-6)
    assert ratings[2] == pytest.approx(ratings[0], abs=1e-6)


def test_win_rate_halves_ties():
    systems = _systems(2)
    rows = [
        (1, 0, 1, FIRST, True, 2),
        (1, 0, 1, TIE, True, 1),
        (1, 0, 1, BOTH_BAD, True, 1),
        (2, 0, 1, SECOND, True, 4),
    ]

    records = _by_name(rank_prompt_counts(_counts(systems, rows), rounds=0))

    assert (records["S0"].wins, records["S0"].losses, records["S0"].ties, records["S0"].both_bad) == (2, 4, 1, 1)
    assert records["S0"].win_rate == pytest.approx((2 + 2 / 2) / 8)
    assert records["S1"].win_rate == pytest.approx((4 + 2 / 2) / 8)


def test_anchor_system_rated_1000():
    systems = _systems(3)
    rows = []
    for prompt in range(0, 30, 3):
        rows += [(prompt, 0, 1, FIRST, True, 2), (prompt, 0, 1, SECOND, True, 1)]
        rows += [(prompt + 1, 1, 2, FIRST, True, 2), (prompt + 1, 1, 2, SECOND, True, 1)]
        rows += [(prompt + 2, 0, 2, FIRST, True, 4), (prompt + 2, 0, 2, SECOND, True, 1)]

    ranking = rank_prompt_counts(_counts(systems, rows), rounds=200, anchor_run_id=systems[2].run_id)

    records = _by_name(ranking)
    assert records["S2"].rating == pytest.approx(1000, abs=1e-9)
    assert records["S2"].rating_interval.lower == pytest.approx(1000, abs=1e-9)
    assert records["S2"].rating_interval.upper == pytest.approx(1000, abs=1e-9)
    assert records["S0"].rating == pytest.approx(1000 + _elo_gap(4), abs=1e-5)
    assert ranking.method.anchor == systems[2]


def test_ranks_do_not_depend_on_anchor():
    # With these draws, intervals relative to S1 (a point at 1000 for S1
    # itself) would overlap differently: S2 would rank first with S0.
    systems = _systems(3)
    generator = np.random.default_rng(1)
    strengths = np.array([0.5, 0.0, -0.5])
    rows = []
    for prompt in range(40):
        for first in range(3):
            for second in range(first + 1, 3):
                won = generator.random() < 1 / (1 + math.exp(strengths[second] - strengths[first]))
                rows.append((prompt, first, second, FIRST if won else SECOND, True, 1))
    counts = _counts(systems, rows)

    plain = _by_name(rank_prompt_counts(counts, rounds=300))
    anchored = _by_name(rank_prompt_counts(counts, rounds=300, anchor_run_id=systems[1].run_id))

    assert {name: record.rank for name, record in plain.items()} == {"S0": 1, "S1": 1, "S2": 2}
    assert {name: record.rank for name, record in anchored.items()} == {"S0": 1, "S1": 1, "S2": 2}
    assert anchored["S1"].rating_interval == Interval(1000.0, 1000.0)
    anchored_bounds = [(record.rating_interval.lower, record.rating_interval.upper) for record in anchored.values()]
    lower, upper = (np.array(bounds) for bounds in zip(*anchored_bounds, strict=True))
    assert rank_with_ties(lower, upper).tolist() != [anchored[name].rank for name in anchored]


def test_unknown_anchor_rejected():
    systems = _systems(2)
    counts = _counts(systems, [(1, 0, 1, FIRST, True, 1), (1, 0, 1, SECOND, True, 1)])

    with pytest.raises(ValueError, match="anchor run 99 is not a system"):
        rank_prompt_counts(counts, anchor_run_id=99)


@pytest.mark.parametrize(("options", "message"), [({"rounds": -1}, "rounds"), ({"confidence": 1.0}, "Confidence")])
def test_invalid_options_rejected(options, message):
    counts = _counts(_systems(2), [(1, 0, 1, FIRST, True, 1)])

    with pytest.raises(ValueError, match=message):
        rank_prompt_counts(counts, **options)


# Data without a finite rating


def test_undefeated_system_has_no_rating():
    systems = _systems(2)
    counts = _counts(systems, [(1, 0, 1, FIRST, True, 3)])

    ranking = rank_prompt_counts(counts, rounds=50)

    assert all(record.rating is None and record.rank is None for record in ranking.systems)
    assert "S0 won every comparison" in ranking.ratings_reason
    assert _by_name(ranking)["S0"].win_rate == 1.0
    assert ranking.win_probability == [[None, None], [None, None]]


def test_one_tie_makes_rating_finite():
    systems = _systems(2)
    counts = _counts(systems, [(1, 0, 1, FIRST, True, 3), (2, 0, 1, TIE, True, 1)])

    records = _by_name(rank_prompt_counts(counts, rounds=0))

    gap = _elo_gap(3.5 / 0.5)
    assert records["S0"].rating - records["S1"].rating == pytest.approx(gap, abs=1e-5)


def test_disconnected_graph_has_no_rating():
    systems = _systems(4)
    rows = [
        (1, 0, 1, FIRST, True, 2),
        (1, 0, 1, SECOND, True, 1),
        (2, 2, 3, FIRST, True, 1),
        (2, 2, 3, SECOND, True, 3),
    ]

    ranking = rank_prompt_counts(_counts(systems, rows), rounds=50)

    assert all(record.rating is None for record in ranking.systems)
    assert "never compared" in ranking.ratings_reason
    assert "S0, S1; S2, S3" in ranking.ratings_reason
    assert _by_name(ranking)["S0"].win_rate == pytest.approx(2 / 3)


def test_identification_rule():
    cycle = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=float)
    chain = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]], dtype=float)

    assert bradley_terry.identified(cycle)
    assert not bradley_terry.identified(chain)
    assert bradley_terry.unidentified_groups(chain) == ([], [[0]])


def test_system_without_comparisons_left_out_of_fit():
    systems = _systems(3)
    rows = [(1, 0, 1, FIRST, True, 3), (1, 0, 1, SECOND, True, 1)]

    ranking = rank_prompt_counts(_counts(systems, rows), rounds=0)

    records = _by_name(ranking)
    assert records["S2"].rating is None
    assert records["S2"].win_rate is None
    assert ranking.systems[-1].system.name == "S2"
    assert records["S0"].rating - records["S1"].rating == pytest.approx(_elo_gap(3), abs=1e-5)


def test_intervals_withheld_when_many_rounds_unidentified():
    # Three prompts: S0 wins two, S1 wins one. About (2/3)^3 + (1/3)^3 = 33%
    # of resamples hold one prompt kind only and have no finite rating.
    systems = _systems(2)
    rows = [(1, 0, 1, FIRST, True, 1), (2, 0, 1, FIRST, True, 1), (3, 0, 1, SECOND, True, 1)]

    ranking = rank_prompt_counts(_counts(systems, rows), rounds=400)

    assert _by_name(ranking)["S0"].rating is not None
    assert all(record.rating_interval is None and record.rank is None for record in ranking.systems)
    assert 100 < ranking.method.unidentified_rounds < 170
    assert "bootstrap rounds" in ranking.intervals_reason
    assert _by_name(ranking)["S0"].win_rate_interval is not None


# Bootstrap


def _clustered_counts(systems, prompts=20, per_prompt=50):
    """Prompts whose judgments all agree: even prompts S0 wins, odd prompts S1 wins."""
    rows = [(prompt, 0, 1, FIRST if prompt % 2 == 0 else SECOND, True, per_prompt) for prompt in range(prompts)]
    return _counts(systems, rows)


def test_bootstrap_resamples_whole_prompts():
    counts = _clustered_counts(_systems(2))

    totals = bootstrap_totals(counts.matrix, rounds=200, seed=3)

    # Resampling judgments one by one would give counts that are not multiples of 50.
    tables = outcome_tables(totals, 2)
    assert np.all(tables.wins[:, 0, 1] % 50 == 0)
    assert np.all(tables.wins[:, 0, 1] + tables.wins[:, 1, 0] == 20 * 50)
    assert len(np.unique(tables.wins[:, 0, 1])) > 3


def test_interval_reflects_prompt_clustering():
    ranking = rank_prompt_counts(_clustered_counts(_systems(2)), rounds=1000)

    # 20 independent prompts: the win rate's standard error is about
    # 0.5 / sqrt(20) = 0.11, so the 95% interval spans about 0.44. Over
    # 1,000 independent judgments it would span about 0.06.
    interval = _by_name(ranking)["S0"].win_rate_interval
    assert interval.upper - interval.lower > 0.3
    assert interval.lower < 0.5 < interval.upper


def test_bootstrap_reproducible_with_seed():
    systems = _systems(3)
    generator = np.random.default_rng(2)
    rows = [
        (prompt, first, second, int(generator.integers(0, 4)), bool(generator.integers(0, 2)), 1)
        for prompt in range(40)
        for first, second in ((0, 1), (1, 2), (0, 2))
    ]
    counts = _counts(systems, rows)

    first = rank_prompt_counts(counts, rounds=300, seed=7)
    again = rank_prompt_counts(counts, rounds=300, seed=7)
    other = rank_prompt_counts(counts, rounds=300, seed=8)

    intervals = [
        [(r.rating_interval, r.win_rate_interval) for r in ranking.systems] for ranking in (first, again, other)
    ]
    assert intervals[0] == intervals[1]
    assert intervals[0] != intervals[2]
    assert first.position_bias.interval == again.position_bias.interval


def test_bootstrap_round_independent_of_chunking(monkeypatch):
    counts = _clustered_counts(_systems(2), prompts=30)
    whole = bootstrap_totals(counts.matrix, rounds=12, seed=1)

    monkeypatch.setattr("reports.prompt_counts.DRAWS_PER_CHUNK", 30 * 5)
    chunked = bootstrap_totals(counts.matrix, rounds=12, seed=1)

    np.testing.assert_array_equal(whole, chunked)


def test_bootstrap_dense_equals_sparse(monkeypatch):
    counts = _clustered_counts(_systems(4), prompts=30)
    # However few cells are filled, the matrix is multiplied dense, then sparse.
    monkeypatch.setattr("reports.prompt_counts.DENSE_SHARE", 10**9)
    dense = bootstrap_totals(counts.matrix, rounds=40, seed=2)

    monkeypatch.setattr("reports.prompt_counts.DENSE_CELLS", 0)
    sparse_totals = bootstrap_totals(counts.matrix, rounds=40, seed=2)

    assert dense.any()
    np.testing.assert_array_equal(dense, sparse_totals)


def test_rating_interval_contains_estimate():
    systems = _systems(4)
    generator = np.random.default_rng(4)
    strengths = np.array([1.0, 0.3, -0.2, -1.0])
    rows = []
    for prompt in range(60):
        for first in range(4):
            for second in range(first + 1, 4):
                won = generator.random() < 1 / (1 + math.exp(strengths[second] - strengths[first]))
                rows.append((prompt, first, second, FIRST if won else SECOND, True, 1))

    ranking = rank_prompt_counts(_counts(systems, rows), rounds=500)

    for record in ranking.systems:
        assert record.rating_interval.lower <= record.rating <= record.rating_interval.upper
    assert ranking.method.unidentified_rounds == 0
    assert ranking.systems[0].system.name == "S0"


# Ranks


def test_rank_with_ties_from_overlap():
    lower = np.array([10.0, 15.0, 30.0, 0.0])
    upper = np.array([20.0, 25.0, 40.0, 5.0])

    ranks = rank_with_ties(lower, upper)

    assert ranks.tolist() == [2, 2, 1, 4]


def test_equal_systems_share_rank():
    systems = _systems(3)
    rows = []
    for prompt in range(40):
        rows += [(prompt, 0, 1, FIRST, True, 9), (prompt, 0, 1, SECOND, True, 1)]
        rows += [(prompt, 0, 2, FIRST, True, 9), (prompt, 0, 2, SECOND, True, 1)]
        rows += [(prompt, 1, 2, FIRST if prompt % 2 else SECOND, True, 1)]

    ranking = rank_prompt_counts(_counts(systems, rows), rounds=300)

    records = _by_name(ranking)
    assert records["S0"].rank == 1
    assert records["S1"].rank == records["S2"].rank == 2
    assert ranking.systems[0].system.name == "S0"


# Win probability matrix


def test_win_probability_matrix_complementary():
    systems = _systems(3)
    rows = [
        (1, 0, 1, FIRST, True, 5),
        (1, 0, 1, SECOND, True, 2),
        (2, 1, 2, FIRST, True, 3),
        (2, 1, 2, SECOND, True, 3),
    ]

    ranking = rank_prompt_counts(_counts(systems, rows), rounds=0)

    matrix = ranking.win_probability
    for row in range(3):
        assert matrix[row][row] is None
        for column in range(3):
            if row != column:
                assert matrix[row][column] + matrix[column][row] == pytest.approx(1)
    # S0 and S2 were never compared; their ratings still predict a probability.
    names = [record.system.name for record in ranking.systems]
    assert matrix[names.index("S0")][names.index("S2")] > 0.5


# Online Elo


def test_online_elo_hand_computed():
    first = np.array([0, 0])
    second = np.array([1, 1])
    scores = np.array([1.0, 0.5])

    ratings = bradley_terry.online_elo(first, second, scores, 2, k_factor=4)

    # Judgment 1: expected 0.5, S0 gains 4 * 0.5 = 2. Judgment 2 (tie):
    # expected 1 / (1 + 10 ** (-4 / 400)) for S0.
    expected_second = 1 / (1 + 10 ** (-4 / 400))
    s0 = 1002 + 4 * (0.5 - expected_second)
    assert ratings[0] == pytest.approx(s0, abs=1e-12)
    assert ratings[1] == pytest.approx(2000 - s0, abs=1e-12)


def test_online_elo_depends_on_order():
    first = np.array([0, 1, 0, 0])
    second = np.array([1, 0, 1, 1])
    scores = np.array([1.0, 1.0, 0.0, 0.5])

    forward = bradley_terry.online_elo(first, second, scores, 2, k_factor=32)
    backward = bradley_terry.online_elo(first[::-1], second[::-1], scores[::-1], 2, k_factor=32)

    assert forward[0] != pytest.approx(backward[0])


# From the database


def _pairwise_setup(prompt_count=6, systems=("Xenoqua", "Yarrowin")):
    prompt_set = make_prompt_set(prompts=[f"Question {number}?" for number in range(prompt_count)])
    prompts = list(prompt_set.prompts.order_by("position"))
    runs = [make_run(prompt_set, model_name=name) for name in systems]
    study = make_study(PAIRWISE, runs)
    return study, prompts, runs


def test_study_rankings_from_judgments(tiny_pairwise):
    (ranking,) = study_rankings(tiny_pairwise.study, rounds=100)

    records = _by_name(ranking)
    assert ranking.judgments == 6
    assert ranking.prompts == 3
    assert (records["Xenoqua"].wins, records["Xenoqua"].losses) == (3, 1)
    assert (records["Xenoqua"].ties, records["Xenoqua"].both_bad) == (1, 1)
    assert records["Xenoqua"].win_rate == pytest.approx(4 / 6)
    assert ranking.criterion == tiny_pairwise.study.criteria.get()
    # Zephyral won its one comparison and Yarrowin never won: no finite rating.
    assert records["Xenoqua"].rating is None
    assert "Zephyral" in ranking.ratings_reason


def test_position_bias_counts(tiny_pairwise):
    (ranking,) = study_rankings(tiny_pairwise.study, rounds=50)

    # Decisive, not surplus: item_xy first wins seen left and seen right,
    # item_yx second wins shown left, item_xz second wins shown right.
    bias = ranking.position_bias
    assert (bias.left_wins, bias.right_wins) == (2, 2)
    assert bias.left_share == pytest.approx(0.5)
    assert bias.interval.lower <= 0.5 <= bias.interval.upper


def test_surplus_gold_and_excluded_left_out(tiny_pairwise):
    study = tiny_pairwise.study
    excluded = tiny_pairwise.annotators[2]
    AnnotatorStatus.objects.create(study=study, annotator=excluded, is_excluded=True)
    gold = tiny_pairwise.items[1]
    Item.objects.filter(pk=gold.pk).update(is_gold=True)

    (ranking,) = study_rankings(study, rounds=0)
    (with_all,) = study_rankings(study, rounds=0, include_surplus=True, include_excluded=True)

    # Left: item_xy's two first wins (its tie is the excluded annotator's) and item_xz's second win.
    assert ranking.judgments == 3
    assert with_all.judgments == 5
    assert _by_name(ranking)["Zephyral"].wins == 1


def test_rating_matches_counts_path(db):
    study, prompts, (x, y) = _pairwise_setup()
    annotator = make_user()
    item_xy = make_item(study, prompts[0], x, y)
    item_yx = make_item(study, prompts[1], y, x)
    judge(item_xy, annotator, {"overall": "first"})
    judge(item_xy, make_user(), {"overall": "first"}, first_on_left=False)
    judge(item_xy, make_user(), {"overall": "tie"})
    judge(item_yx, annotator, {"overall": "first"})

    (ranking,) = study_rankings(study, rounds=0)

    # Xenoqua: 2 wins + 0.5; Yarrowin: 1 win + 0.5.
    records = _by_name(ranking)
    assert records["Xenoqua"].rating - records["Yarrowin"].rating == pytest.approx(_elo_gap(2.5 / 1.5), abs=1e-5)


def test_judgment_order_changes_only_online_elo(db):
    answers = ["first", "first", "second", "tie", "first", "both_bad", "second", "first"]

    study, prompts, (x, y) = _pairwise_setup(prompt_count=len(answers))
    # Both studies judge the same prompts, so their count matrices match row for row.

    def build(order):
        study = make_study(PAIRWISE, [x, y])
        items = [make_item(study, prompt, x, y) for prompt in prompts]
        for index in order:
            judge(items[index], make_user(), {"overall": answers[index]}, first_on_left=index % 3 == 0)
        (ranking,) = study_rankings(study, rounds=200, k_factor=32)
        return ranking

    forward = build(range(len(answers)))
    backward = build(reversed(range(len(answers))))

    for before, after in zip(forward.systems, backward.systems, strict=True):
        assert after.rating == pytest.approx(before.rating, abs=1e-9)
        assert after.rating_interval == before.rating_interval
        assert after.win_rate_interval == before.win_rate_interval
    assert forward.position_bias == backward.position_bias
    assert forward.systems[0].online_elo != pytest.approx(backward.systems[0].online_elo)


def test_online_elo_from_judgment_order(db):
    study, prompts, (x, y) = _pairwise_setup()
    first_item = make_item(study, prompts[0], x, y)
    second_item = make_item(study, prompts[1], y, x)
    judge(first_item, make_user(), {"overall": "first"})  # Xenoqua wins
    judge(second_item, make_user(), {"overall": "tie"})

    (ranking,) = study_rankings(study, rounds=0, k_factor=4)

    records = _by_name(ranking)
    expected_tie = 1 / (1 + 10 ** (-4 / 400))  # Xenoqua at 1002 against 998
    assert records["Xenoqua"].online_elo == pytest.approx(1002 + 4 * (0.5 - expected_tie), abs=1e-9)
    assert records["Xenoqua"].online_elo + records["Yarrowin"].online_elo == pytest.approx(2000)


def test_criteria_ranked_separately(db):
    prompt_set = make_prompt_set()
    prompt = prompt_set.prompts.first()
    x, y = make_run(prompt_set, model_name="Xenoqua"), make_run(prompt_set, model_name="Yarrowin")
    study = make_study(PAIRWISE, [x, y], criteria=("helpful", "safe"))
    judge(make_item(study, prompt, x, y), make_user(), {"helpful": "first", "safe": "tie"})

    helpful, safe = study_rankings(study, rounds=0)

    assert helpful.criterion.name == "helpful"
    assert _by_name(helpful)["Xenoqua"].wins == 1
    assert _by_name(safe)["Xenoqua"].ties == 1


def test_attention_answers_skipped(db):
    study, prompts, (x, y) = _pairwise_setup()
    item = make_item(study, prompts[0], x, y)
    judgment = judge(item, make_user(), {"overall": "first"})
    answer = CriterionAnswer.objects.get(judgment=judgment)
    CriterionAnswer.objects.filter(pk=answer.pk).update(outcome=Outcome.ATTENTION_TEXT, winner=None)

    (ranking,) = study_rankings(study, rounds=0)

    assert ranking.judgments == 0
    assert "Not enough data" in ranking.ratings_reason


def test_no_judgments(db):
    study, _, _ = _pairwise_setup()

    (ranking,) = study_rankings(study, rounds=100)

    assert ranking.judgments == 0
    assert ranking.prompts == 0
    assert all(record.win_rate is None and record.rating is None for record in ranking.systems)
    assert ranking.position_bias.left_share is None


def test_rating_study_rejected(db):
    prompt_set = make_prompt_set()
    study = make_study(RATING, [make_run(prompt_set)])

    with pytest.raises(ValueError, match="rating study"):
        study_rankings(study)


def test_queries_do_not_grow_with_judgments(db):
    study, prompts, (x, y) = _pairwise_setup()
    item = make_item(study, prompts[0], x, y)
    judge(item, make_user(), {"overall": "first"})
    with CaptureQueriesContext(connection) as few:
        study_rankings(study, rounds=10)

    for prompt in prompts[1:]:
        extra = make_item(study, prompt, y, x)
        for _ in range(3):
            judge(extra, make_user(), {"overall": "second"}, first_on_left=False)
    with CaptureQueriesContext(connection) as many:
        study_rankings(study, rounds=10)

    assert Judgment.objects.count() == 16
    assert len(many.captured_queries) == len(few.captured_queries)
