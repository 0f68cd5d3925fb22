"""Everything the live report page of one study shows, computed from one read of its answers."""

from dataclasses import dataclass, field

from annotate.models import Criterion, Study, StudyKind
from reports.agreement import (
    AgreementResult,
    AnnotatorFigures,
    StudyAgreement,
    annotator_figures,
    study_agreement_report,
)
from reports.answer_table import StudyAnswers, load_study_answers
from reports.grouping import unique_ids
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
    include_surplus: bool = False

    @property
    def counted(self) -> int:
        """Judgments the report's figures count: without surplus ones unless `include_surplus`."""
        return self.judgments if self.include_surplus else self.judgments - self.surplus


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


def judgment_totals(
    study: Study,
    *,
    include_excluded: bool = False,
    include_surplus: bool = False,
    table: StudyAnswers | None = None,
) -> JudgmentTotals:
    """Count the study's judgments, surplus judgments, annotators and items under the active breakdown.

    `table` is the study's answers as `load_study_answers` read them; it is
    read here when not given.
    """
    table = table or load_study_answers(study)
    judgments = table.judgments
    inside = table.judgments_in_breakdown()
    gold = table.items.is_gold[judgments.item]
    regular = inside & ~gold
    counted = regular if include_excluded else regular & ~judgments.is_excluded
    items_inside = table.items.in_breakdown()
    return JudgmentTotals(
        judgments=int(counted.sum()),
        surplus=int((counted & judgments.is_surplus).sum()),
        annotators=int(unique_ids(judgments.annotator_ids[counted]).size),
        judged_items=int(unique_ids(judgments.item[counted]).size),
        items=int((items_inside & ~table.items.is_gold).sum()),
        excluded=int((regular & judgments.is_excluded).sum()),
        gold=int((inside & gold).sum()),
        gold_items=int((items_inside & table.items.is_gold).sum()),
        include_surplus=include_surplus,
    )


def build_study_report(
    study: Study,
    *,
    include_surplus: bool = False,
    include_excluded: bool = False,
    anchor_run_id: int | None = None,
    level: str | None = None,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = DEFAULT_SEED,
    table: StudyAnswers | None = None,
) -> StudyReport:
    """Gather totals, per-criterion results, agreement and annotator quality for one study.

    `anchor_run_id` names the system that pairwise ratings rate 1000;
    without it, 1000 is the geometric mean strength. `level` is the level
    of measurement for agreement, by default the one the study kind needs.
    `rounds` and `seed` set every bootstrap of the report. `table` is the
    study's answers as `load_study_answers` read them; they are read here
    when not given.
    """
    if table is None:
        table = load_study_answers(study)
    counted = {"include_surplus": include_surplus, "include_excluded": include_excluded}
    bootstrap = {"rounds": rounds, "seed": seed}
    agreement_report = study_agreement_report(study, **counted, **bootstrap, level=level, table=table)
    agreement = agreement_report.criteria
    if study.kind == StudyKind.PAIRWISE:
        rankings = study_rankings(study, **counted, **bootstrap, anchor_run_id=anchor_run_id, table=table)
        sections = [
            CriterionSection(
                ranking.criterion,
                criterion_agreement,
                # The ranking contains the win counts, so no second grouped query reads them again.
                pairwise=summary_from_ranking(ranking.criterion, ranking, include_surplus),
                ranking=ranking,
                length_bias=criterion_length_bias(ranking.criterion, **counted, **bootstrap, table=table),
            )
            for criterion_agreement, ranking in zip(agreement, rankings, strict=True)
        ]
    else:
        summaries = study_ratings(study, **counted, **bootstrap, table=table)
        sections = [
            CriterionSection(summary.criterion, criterion_agreement, ratings=summary)
            for summary, criterion_agreement in zip(summaries, agreement, strict=True)
        ]
    return StudyReport(
        study,
        include_surplus,
        judgment_totals(study, include_excluded=include_excluded, include_surplus=include_surplus, table=table),
        sections,
        include_excluded=include_excluded,
        annotators=annotator_figures(study, agreement_report, table),
        agreement=agreement_report,
    )
