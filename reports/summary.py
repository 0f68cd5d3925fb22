"""Everything the live report page of one study shows, gathered in a few queries."""

from dataclasses import dataclass

from django.db.models import Count, Q

from annotate.models import Criterion, Item, Judgment, Study, StudyKind
from reports.agreement import AgreementResult, study_agreement
from reports.pairwise import PairwiseSummary, study_pairwise_summaries
from reports.ratings import CriterionRatings, study_ratings


@dataclass
class JudgmentTotals:
    """Counts over all judgments of a study, surplus ones included."""

    judgments: int
    surplus: int
    annotators: int
    judged_items: int
    items: int

    @property
    def counted(self) -> int:
        """Judgments the report counts by default, that is without surplus ones."""
        return self.judgments - self.surplus


@dataclass
class CriterionSection:
    """One criterion's results and agreement. Either `pairwise` or `ratings` is set, never both."""

    criterion: Criterion
    agreement: AgreementResult
    pairwise: PairwiseSummary | None = None
    ratings: CriterionRatings | None = None


@dataclass
class StudyReport:
    study: Study
    include_surplus: bool
    totals: JudgmentTotals
    sections: list[CriterionSection]


def judgment_totals(study: Study) -> JudgmentTotals:
    """Count the study's judgments, surplus judgments, annotators and items in two queries."""
    counts = Judgment.objects.filter(item__study=study).aggregate(
        judgments=Count("pk"),
        surplus=Count("pk", filter=Q(is_surplus=True)),
        annotators=Count("annotator", distinct=True),
        judged_items=Count("item", distinct=True),
    )
    return JudgmentTotals(**counts, items=Item.objects.filter(study=study).count())


def build_study_report(study: Study, *, include_surplus: bool = False) -> StudyReport:
    """Gather totals, per-criterion results and agreement for one study."""
    agreement = study_agreement(study, include_surplus=include_surplus)
    if study.kind == StudyKind.PAIRWISE:
        summaries = study_pairwise_summaries(study, include_surplus=include_surplus)
        sections = [
            CriterionSection(summary.criterion, criterion_agreement, pairwise=summary)
            for summary, criterion_agreement in zip(summaries, agreement, strict=True)
        ]
    else:
        summaries = study_ratings(study, include_surplus=include_surplus)
        sections = [
            CriterionSection(summary.criterion, criterion_agreement, ratings=summary)
            for summary, criterion_agreement in zip(summaries, agreement, strict=True)
        ]
    return StudyReport(study, include_surplus, judgment_totals(study), sections)
