import pytest

from annotate.models import CriterionAnswer, Judgment
from generation.models import Response
from reports.pairwise import pairwise_summary, study_pairwise_summaries, summary_from_ranking
from reports.ranking import study_rankings
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import PAIRWISE, RATING, judge, make_item, make_study


def _records(summary):
    return {record.system.name: record for record in summary.systems}


def _pairs(summary):
    return {(pair.system_a.name, pair.system_b.name): pair for pair in summary.pairs}


def test_pair_counts_fold_both_canonical_orders(tiny_pairwise):
    summary = pairwise_summary(tiny_pairwise.study.criteria.get())
    pairs = _pairs(summary)

    assert set(pairs) == {("Xenoqua", "Yarrowin"), ("Xenoqua", "Zephyral")}
    xy = pairs["Xenoqua", "Yarrowin"]
    assert (xy.wins_a, xy.wins_b, xy.ties, xy.both_bad, xy.comparisons) == (3, 0, 1, 1, 5)
    xz = pairs["Xenoqua", "Zephyral"]
    assert (xz.wins_a, xz.wins_b, xz.ties, xz.both_bad, xz.comparisons) == (0, 1, 0, 0, 1)
    assert summary.answers == 6


def test_system_records_and_win_rates(tiny_pairwise):
    summary = pairwise_summary(tiny_pairwise.study.criteria.get())
    records = _records(summary)

    x = records["Xenoqua"]
    assert (x.wins, x.losses, x.ties, x.both_bad, x.comparisons) == (3, 1, 1, 1, 6)
    assert x.win_rate == pytest.approx(4 / 6)
    y = records["Yarrowin"]
    assert (y.wins, y.losses, y.ties, y.both_bad, y.comparisons) == (0, 3, 1, 1, 5)
    assert y.win_rate == pytest.approx(1 / 5)
    z = records["Zephyral"]
    assert (z.wins, z.losses, z.comparisons) == (1, 0, 1)
    assert z.win_rate == pytest.approx(1.0)


def test_systems_sorted_by_win_rate(tiny_pairwise):
    summary = pairwise_summary(tiny_pairwise.study.criteria.get())

    assert [record.system.name for record in summary.systems] == ["Zephyral", "Xenoqua", "Yarrowin"]


def test_surplus_excluded_by_default_and_included_on_request(tiny_pairwise):
    criterion = tiny_pairwise.study.criteria.get()

    included = pairwise_summary(criterion, include_surplus=True)
    xz = _pairs(included)["Xenoqua", "Zephyral"]
    assert (xz.wins_a, xz.wins_b, xz.comparisons) == (1, 1, 2)
    records = _records(included)
    assert records["Xenoqua"].win_rate == pytest.approx(5 / 7)
    assert records["Zephyral"].win_rate == pytest.approx(1 / 2)
    assert [record.system.name for record in included.systems] == [
        "Xenoqua",
        "Zephyral",
        "Yarrowin",
    ]
    assert included.answers == 7


def test_screen_order_does_not_change_counts(tiny_pairwise):
    criterion = tiny_pairwise.study.criteria.get()
    before = pairwise_summary(criterion)

    # Swap what every annotator saw; the stored winners stay the same responses.
    for judgment in Judgment.objects.all():
        judgment.first_on_left = not judgment.first_on_left
        judgment.save(update_fields=["first_on_left"])
    after = pairwise_summary(criterion)

    assert _pairs(after) == _pairs(before)
    assert [(r.system, r.wins, r.losses, r.ties, r.both_bad) for r in after.systems] == [
        (r.system, r.wins, r.losses, r.ties, r.both_bad) for r in before.systems
    ]


def test_both_bad_counts_as_tie_and_apart(db):
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    a = make_run(prompt_set, model_name="Quillon")
    b = make_run(prompt_set, model_name="Rustavel")
    study = make_study(PAIRWISE, [a, b])
    judge(make_item(study, prompts[0], a, b), make_user(), {"overall": "both_bad"})
    judge(make_item(study, prompts[1], b, a), make_user(), {"overall": "second"})

    records = _records(pairwise_summary(study.criteria.get()))

    quillon, rustavel = records["Quillon"], records["Rustavel"]
    assert (quillon.wins, quillon.losses, quillon.ties, quillon.both_bad) == (1, 0, 0, 1)
    assert (rustavel.wins, rustavel.losses, rustavel.ties, rustavel.both_bad) == (0, 1, 0, 1)
    assert quillon.win_rate == pytest.approx(0.75)
    assert rustavel.win_rate == pytest.approx(0.25)


def test_criteria_are_counted_separately(db):
    prompt_set = make_prompt_set()
    prompt = prompt_set.prompts.first()
    a = make_run(prompt_set, model_name="Quillon")
    b = make_run(prompt_set, model_name="Rustavel")
    study = make_study(PAIRWISE, [a, b], criteria=("helpful", "safe"))
    judge(make_item(study, prompt, a, b), make_user(), {"helpful": "first", "safe": "tie"})

    helpful, safe = study_pairwise_summaries(study)

    assert helpful.criterion.name == "helpful"
    assert _records(helpful)["Quillon"].wins == 1
    assert safe.criterion.name == "safe"
    assert _records(safe)["Quillon"].wins == 0
    assert _records(safe)["Quillon"].ties == 1


def test_system_without_comparisons_goes_last(db):
    prompt_set = make_prompt_set()
    a = make_run(prompt_set, model_name="Aardwin")
    b = make_run(prompt_set, model_name="Quillon")
    c = make_run(prompt_set, model_name="Rustavel")
    study = make_study(PAIRWISE, [a, b, c])
    judge(make_item(study, prompt_set.prompts.first(), b, c), make_user(), {"overall": "second"})

    summary = pairwise_summary(study.criteria.get())

    assert [record.system.name for record in summary.systems] == ["Rustavel", "Quillon", "Aardwin"]
    assert summary.systems[-1].win_rate is None


def test_matrix_cells_from_row_perspective(tiny_pairwise):
    summary = pairwise_summary(tiny_pairwise.study.criteria.get())
    rows = {row.system.name: row for row in summary.matrix()}
    order = [record.system.name for record in summary.systems]

    x_row = rows["Xenoqua"]
    against_y = x_row.cells[order.index("Yarrowin")]
    assert (against_y.wins, against_y.losses, against_y.ties, against_y.both_bad) == (3, 0, 1, 1)
    assert against_y.comparisons == 5
    assert x_row.cells[order.index("Xenoqua")] is None
    y_against_x = rows["Yarrowin"].cells[order.index("Xenoqua")]
    assert (y_against_x.wins, y_against_x.losses) == (0, 3)
    assert rows["Yarrowin"].cells[order.index("Zephyral")] is None


def test_study_summaries_match_single_criterion(tiny_pairwise):
    (from_study,) = study_pairwise_summaries(tiny_pairwise.study)
    single = pairwise_summary(tiny_pairwise.study.criteria.get())

    assert from_study.pairs == single.pairs
    assert from_study.systems == single.systems


def test_no_judgments_gives_empty_counts(db):
    prompt_set = make_prompt_set()
    study = make_study(PAIRWISE, [make_run(prompt_set), make_run(prompt_set)])

    summary = pairwise_summary(study.criteria.get())

    assert summary.pairs == []
    assert summary.answers == 0
    assert all(record.win_rate is None for record in summary.systems)


def test_rating_study_rejected(db):
    prompt_set = make_prompt_set()
    study = make_study(RATING, [make_run(prompt_set)])

    with pytest.raises(ValueError, match="rating study"):
        study_pairwise_summaries(study)


def test_winner_outside_item_skipped_and_logged(tiny_pairwise, caplog):
    item_xz = tiny_pairwise.items[2]
    stray = Response.objects.get(run=tiny_pairwise.y, prompt=item_xz.prompt)
    answer = CriterionAnswer.objects.get(judgment__item=item_xz, judgment__is_surplus=False)
    answer.winner = stray
    answer.save(update_fields=["winner"])

    summary = pairwise_summary(tiny_pairwise.study.criteria.get())

    assert ("Xenoqua", "Zephyral") not in _pairs(summary)
    assert summary.answers == 5
    assert "Skipped 1 answers" in caplog.text


@pytest.mark.parametrize("include_surplus", [False, True])
def test_summary_from_ranking_matches_query(tiny_pairwise, include_surplus):
    (queried,) = study_pairwise_summaries(tiny_pairwise.study, include_surplus=include_surplus)
    (ranking,) = study_rankings(tiny_pairwise.study, include_surplus=include_surplus, rounds=0)

    derived = summary_from_ranking(ranking.criterion, ranking, include_surplus)

    assert derived.pairs == queried.pairs
    assert derived.systems == queried.systems
    assert derived.answers == queried.answers
