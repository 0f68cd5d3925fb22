"""Tables of a study's report figures for `manage.py export`: models, pairs and agreement.

Every figure comes from reports.summary.build_study_report, the function the
report page reads, so a file and the page show the same numbers for the same
options. Each table is a `FigureTable`: columns with descriptions, rows as
lists of cells in column order, and the method the figures rest on for the
sidecar `<file>.meta.json`. Reasons for missing figures are in English, so a
file does not change with the language of whoever ran the command.
"""

from dataclasses import dataclass

from django.utils import translation

from annotate.models import Study, StudyKind
from annotate.pseudonyms import annotator_names_shown
from reports.agreement import AgreementResult
from reports.export import Column
from reports.ranking import DEFAULT_ROUNDS, DEFAULT_SEED, Interval
from reports.ranking_export import _method as ranking_method
from reports.ratings import ratings_metadata
from reports.summary import StudyReport, build_study_report

FIGURE_KINDS = ("models", "pairs", "agreement")


class FigureExportError(Exception):
    """A table that the study cannot have, such as pair counts of a rating study."""


@dataclass
class FigureTable:
    columns: tuple[Column, ...]
    rows: list[list]
    method: dict
    counts: dict


_PAIRWISE_MODEL_COLUMNS = (
    Column("criterion", "Name of the criterion the row ranks on."),
    Column("system", "System name: the model's name plus its variant label."),
    Column(
        "rank",
        "1 plus the number of systems whose rating interval lies wholly above this one's; empty without intervals.",
    ),
    Column("rating", "Bradley-Terry rating on the Elo scale (400 points per factor of 10); empty when undefined."),
    Column("rating_lower", "Lower bound of the rating's percentile bootstrap interval."),
    Column("rating_upper", "Upper bound of the rating's percentile bootstrap interval."),
    Column("win_rate", "(wins + (ties + both_bad) / 2) / comparisons."),
    Column("win_rate_lower", "Lower bound of the win rate's percentile bootstrap interval."),
    Column("win_rate_upper", "Upper bound of the win rate's percentile bootstrap interval."),
    Column("wins", "Comparisons this system won."),
    Column("ties", "Comparisons judged a tie."),
    Column("losses", "Comparisons this system lost."),
    Column("both_bad", "Comparisons judged both bad."),
    Column("comparisons", "wins + ties + losses + both_bad."),
    Column("online_elo", "Elo updated judgment by judgment in storage order; depends on that order."),
)
_RATING_MODEL_COLUMNS = (
    Column("criterion", "Name of the criterion the row scores."),
    Column("system", "System name: the model's name plus its variant label."),
    Column("scores", "Number of scores the system received on the criterion."),
    Column("prompts", "Prompts with at least one score of the system."),
    Column("mean", "Arithmetic mean of the scores."),
    Column("mean_lower", "Lower bound of the mean's percentile bootstrap interval."),
    Column("mean_upper", "Upper bound of the mean's percentile bootstrap interval."),
    Column("median", "Median score; the mean of the two middle scores for an even count."),
    Column("median_lower", "Lower bound of the median's percentile bootstrap interval."),
    Column("median_upper", "Upper bound of the median's percentile bootstrap interval."),
    Column("std_dev", "Sample standard deviation (n - 1 in the denominator)."),
)
PAIR_COLUMNS = (
    Column("criterion", "Name of the criterion."),
    Column("system", "The row's system."),
    Column("opponent", "The system it was compared with; each pair appears in both orders."),
    Column("wins", "Comparisons `system` won against `opponent`."),
    Column("ties", "Comparisons judged a tie."),
    Column("losses", "Comparisons `system` lost against `opponent`."),
    Column("both_bad", "Comparisons judged both bad."),
    Column("comparisons", "wins + ties + losses + both_bad."),
    Column(
        "predicted_win_probability",
        "Share of points the Bradley-Terry ratings predict for `system`, a tie counting half; empty without ratings.",
    ),
)
AGREEMENT_COLUMNS = (
    Column("scope", "`study` for all criteria together, else the criterion's name."),
    Column("level", "Level of measurement of Krippendorff's alpha: nominal, ordinal or interval."),
    Column("alpha", "Krippendorff's alpha; empty when undefined, with the cause in alpha_reason."),
    Column("alpha_lower", "Lower bound of alpha's percentile bootstrap interval over items."),
    Column("alpha_upper", "Upper bound of alpha's percentile bootstrap interval over items."),
    Column("alpha_reason", "Why alpha is undefined; empty when it is given."),
    Column("interval_reason", "Why the intervals are missing; empty when they are given."),
    Column("undefined_rounds", "Bootstrap rounds in which alpha was undefined, left out of the interval."),
    Column("percent_agreement", "Agreeing pairs of judgments / all pairs on the same item, pooled over items."),
    Column("percent_agreement_lower", "Lower bound of the percent agreement's bootstrap interval."),
    Column("percent_agreement_upper", "Upper bound of the percent agreement's bootstrap interval."),
    Column("percent_agreement_without_ties", "Pairwise studies: the same with tie and both_bad judgments left out."),
    Column("fleiss_kappa", "Fleiss' kappa; empty when undefined."),
    Column("fleiss_units", "Units Fleiss' kappa counts: those with its number of judgments per unit."),
    Column("cohen_kappa", "Cohen's kappa when exactly two annotators judged; empty otherwise."),
    Column("cohen_weighting", "Weighting of Cohen's kappa: none for nominal data, else quadratic."),
    Column("units", "Item and criterion pairs with two or more judgments."),
    Column("items", "Items with two or more judgments."),
    Column("judgments", "Answers on those units."),
)


def english_report(
    study: Study, *, names: bool = False, rounds: int = DEFAULT_ROUNDS, seed: int = DEFAULT_SEED
) -> StudyReport:
    """Compute the report with the page's default options, with reasons in English and annotators named per `names`."""
    with translation.override("en"), annotator_names_shown(names):
        return build_study_report(study, rounds=rounds, seed=seed)


def figure_table(study: Study, what: str, report: StudyReport) -> FigureTable:
    """Return the `what` table of FIGURE_KINDS from the study's `report` (see english_report).

    Raises FigureExportError when `what` is `pairs` and the study is a rating study.
    """
    if what == "pairs" and study.kind != StudyKind.PAIRWISE:
        raise FigureExportError(f"Study {study.name!r} is a rating study; pair counts exist for pairwise studies only.")
    with translation.override("en"):
        if what == "models":
            return _models_table(report)
        if what == "pairs":
            return _pairs_table(report)
        return _agreement_table(report)


def _models_table(report: StudyReport) -> FigureTable:
    if report.study.kind == StudyKind.PAIRWISE:
        rankings = [section.ranking for section in report.sections]
        rows = [_ranking_cells(ranking.criterion.name, record) for ranking in rankings for record in ranking.systems]
        method = ranking_method(rankings[0].method) if rankings else {}
        counts = {
            ranking.criterion.name: {"judgments": ranking.judgments, "prompts": ranking.prompts} for ranking in rankings
        }
        return FigureTable(_PAIRWISE_MODEL_COLUMNS, rows, method, counts)

    summaries = [section.ratings for section in report.sections]
    rows = [_rating_cells(summary.criterion.name, rating) for summary in summaries for rating in summary.systems]
    counts = {
        summary.criterion.name: {
            "scores": summary.answers,
            "prompts": summary.prompts,
            "out_of_scale_scores": summary.out_of_scale_scores,
        }
        for summary in summaries
    }
    return FigureTable(_RATING_MODEL_COLUMNS, rows, ratings_metadata(summaries)["method"], counts)


def _ranking_cells(criterion: str, record) -> list:
    return [
        criterion,
        record.system.name,
        record.rank,
        record.rating,
        *_bounds(record.rating_interval),
        record.win_rate,
        *_bounds(record.win_rate_interval),
        record.wins,
        record.ties,
        record.losses,
        record.both_bad,
        record.comparisons,
        record.online_elo,
    ]


def _rating_cells(criterion: str, rating) -> list:
    return [
        criterion,
        rating.system.name,
        rating.count,
        rating.prompts,
        rating.mean,
        *_bounds(rating.mean_interval),
        rating.median,
        *_bounds(rating.median_interval),
        rating.std_dev,
    ]


def _pairs_table(report: StudyReport) -> FigureTable:
    rows = []
    counts = {}
    for section in report.sections:
        ranking = section.ranking
        counts[ranking.criterion.name] = {"judgments": ranking.judgments, "ordered_pairs": len(ranking.pairs)}
        for pair in ranking.pairs:
            rows.append(
                [
                    ranking.criterion.name,
                    pair.system.name,
                    pair.opponent.name,
                    pair.wins,
                    pair.ties,
                    pair.losses,
                    pair.both_bad,
                    pair.comparisons,
                    pair.predicted_win_probability,
                ]
            )
    rankings = [section.ranking for section in report.sections]
    method = ranking_method(rankings[0].method) if rankings else {}
    return FigureTable(PAIR_COLUMNS, rows, method, counts)


def _agreement_table(report: StudyReport) -> FigureTable:
    agreement = report.agreement
    results = [("study", agreement.overall)] + [(result.criterion.name, result) for result in agreement.criteria]
    rows = [_agreement_cells(scope, result) for scope, result in results]
    method = {
        "alpha": "Krippendorff's alpha from the krippendorff package",
        "level": agreement.overall.level,
        "interval": "percentile bootstrap over items, recomputed from the items' coincidence matrices",
        "rounds": agreement.method.rounds,
        "seed": agreement.method.seed,
        "confidence": agreement.method.confidence,
        "resampled_unit": agreement.method.resampled_unit,
        "counted": (
            "gold items never count; surplus judgments and judgments of excluded annotators are left out; "
            "rating scores outside their criterion's scale are left out"
        ),
    }
    counts = {scope: {"units": result.units, "judgments": result.judgments} for scope, result in results}
    return FigureTable(AGREEMENT_COLUMNS, rows, method, counts)


def _agreement_cells(scope: str, result: AgreementResult) -> list:
    fleiss, cohen = result.fleiss, result.cohen
    return [
        scope,
        result.level,
        result.alpha,
        *_bounds(result.alpha_interval),
        result.reason,
        result.interval_reason,
        result.undefined_rounds,
        result.percent_agreement,
        *_bounds(result.percent_agreement_interval),
        result.decisive_percent_agreement if result.pairwise else None,
        fleiss.value if fleiss else None,
        fleiss.items if fleiss else None,
        cohen.value if cohen else None,
        cohen.weighting if cohen else None,
        result.units,
        result.items,
        result.judgments,
    ]


def _bounds(interval: Interval | None) -> tuple:
    return (interval.lower, interval.upper) if interval else (None, None)
