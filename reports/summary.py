"""Everything the live report page of one study shows, gathered in a few queries."""

from dataclasses import dataclass, field

from django.db.models import Count, Q

from annotate.models import Criterion, Item, Judgment, Study, StudyKind
from reports.agreement import (
    AgreementResult,
    AnnotatorFigures,
    StudyAgreement,
    annotator_figures,
    study_agreement_report,
)
from reports.answers import breakdown_condition, excluded_annotator, prompt_condition
from reports.length_bias import LengthBias, criterion_length_bias
from reports.pairwise import PairwiseSummary, summary_from_ranking
from reports.ranking import DEFAULT_ROUNDS, DEFAULT_SEED, Ranking, study_rankings
from reports.ratings import CriterionRatings, study_ratings


@dataclass
class JudgmentTotals:
    """Counts over a study's judgments on regular items, surplus ones included.

    Judgments of excluded annotators are left out of `judgments`,
    `surplus`, `annotators` and `judged_items` unless the totals were built
    with `include_excluded`; `excluded` counts them either way. `gold` and
    `gold_items` count the gold items and their judgments, which no other
    figure includes.
    """

    judgments: int
    surplus: int
    annotators: int
    judged_items: int
    items: int
    excluded: int = 0
    gold: int = 0
    gold_items: int = 0

    @property
    def counted(self) -> int:
        """Judgments the report counts by default, that is without surplus ones."""
        return self.judgments - self.surplus


@dataclass
class CriterionSection:
    """One criterion's results and agreement. Either `pairwise`, `ranking` and `length_bias`, or `ratings`, are set."""

    criterion: Criterion
    agreement: AgreementResult
    pairwise: PairwiseSummary | None = None
    ratings: CriterionRatings | None = None
    ranking: Ranking | None = None
    length_bias: LengthBias | None = None


@dataclass
class StudyReport:
    study: Study
    include_surplus: bool
    totals: JudgmentTotals
    sections: list[CriterionSection]
    include_excluded: bool = False
    annotators: list[AnnotatorFigures] = field(default_factory=list)
    agreement: StudyAgreement | None = None


def judgment_totals(study: Study, *, include_excluded: bool = False) -> JudgmentTotals:
    """Count the study's judgments, surplus judgments, annotators and items in two queries."""
    counted = Q(item__is_gold=False) if include_excluded else Q(item__is_gold=False, by_excluded=False)
    counts = (
        Judgment.objects.filter(breakdown_condition(), item__study=study)
        .annotate(by_excluded=excluded_annotator())
        .aggregate(
            judgments=Count("pk", filter=counted),
            surplus=Count("pk", filter=counted & Q(is_surplus=True)),
            annotators=Count("annotator", distinct=True, filter=counted),
            judged_items=Count("item", distinct=True, filter=counted),
            excluded=Count("pk", filter=Q(item__is_gold=False, by_excluded=True)),
            gold=Count("pk", filter=Q(item__is_gold=True)),
        )
    )
    items = Item.objects.filter(prompt_condition(""), study=study).aggregate(
        items=Count("pk", filter=Q(is_gold=False)), gold_items=Count("pk", filter=Q(is_gold=True))
    )
    return JudgmentTotals(**counts, **items)


def build_study_report(
    study: Study,
    *,
    include_surplus: bool = False,
    include_excluded: bool = False,
    anchor_run_id: int | None = None,
    level: str | None = None,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = DEFAULT_SEED,
) -> StudyReport:
    """Gather totals, per-criterion results, agreement and annotator quality for one study.

    `anchor_run_id` names the system that pairwise ratings rate 1000;
    without it, 1000 is the geometric mean strength. `level` is the level
    of measurement for agreement, by default the one the study kind needs.
    `rounds` and `seed` set every bootstrap of the report.
    """
    counted = {"include_surplus": include_surplus, "include_excluded": include_excluded}
    bootstrap = {"rounds": rounds, "seed": seed}
    agreement_report = study_agreement_report(study, **counted, **bootstrap, level=level)
    agreement = agreement_report.criteria
    if study.kind == StudyKind.PAIRWISE:
        rankings = study_rankings(study, **counted, **bootstrap, anchor_run_id=anchor_run_id)
        sections = [
            CriterionSection(
                ranking.criterion,
                criterion_agreement,
                # The ranking contains the win counts, so no second grouped query reads them again.
                pairwise=summary_from_ranking(ranking.criterion, ranking, include_surplus),
                ranking=ranking,
                length_bias=criterion_length_bias(ranking.criterion, **counted, **bootstrap),
            )
            for criterion_agreement, ranking in zip(agreement, rankings, strict=True)
        ]
    else:
        summaries = study_ratings(study, **counted, **bootstrap)
        sections = [
            CriterionSection(summary.criterion, criterion_agreement, ratings=summary)
            for summary, criterion_agreement in zip(summaries, agreement, strict=True)
        ]
    return StudyReport(
        study,
        include_surplus,
        judgment_totals(study, include_excluded=include_excluded),
        sections,
        include_excluded=include_excluded,
        annotators=annotator_figures(study, agreement_report),
        agreement=agreement_report,
    )
