"""One report across several studies that share language models: their figures side by side, and how they rank.

Rows: one per language model. Systems of different studies share a row
when they are generation runs of the same `LanguageModel`, whatever their
variant labels, and the row is named by the model. Where one study has two
or more systems of a model (two decoding settings, say), that model's
systems are not merged. Each gets a row named as the study report names
systems (the model's name plus the variant label), and systems of other
studies join the row with the same name. When a study has two systems of
the same name, the later ones (by run id) get " (2)", " (3)" and so on.

Columns: one per study and criterion, in the order the studies were given
and the criteria's own order. A pairwise study contributes its
Bradley-Terry ratings on the Elo scale, 1000 being the geometric mean
strength (reports.ranking); a rating study its mean scores (reports.ratings).
Each comes with its percentile bootstrap interval, from the same functions,
rounds and seed as the study's own report, so the figures are equal to it.
A cell is None where the model is not in the study.

Correlations: for every pair of columns, Spearman's rho and Kendall's
tau-b (scipy.stats) over the rows with a figure in both, with percentile
bootstrap intervals over those rows (reports.benchmarks). The intervals
treat each figure as exact: they show how much the coefficient depends on
which models were studied, not the uncertainty of the figures themselves.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from django.utils.translation import gettext
from scipy import stats

from annotate.models import Criterion, Study, StudyKind
from generation.models import GenerationRun
from reports.access import readable_studies
from reports.benchmarks import (
    MIN_MODELS,
    MIN_SYSTEMS,
    PAIRWISE_MEASURE,
    RATING_MEASURE,
    bootstrap_correlations,
    correlation_interval,
)
from reports.ranking import DEFAULT_CONFIDENCE, DEFAULT_ROUNDS, DEFAULT_SEED, Interval, study_rankings
from reports.ratings import study_ratings
from reports.report_cache import cached_figures
from reports.systems import System, load_systems

STUDY_PARAMETER = "study"
MIN_STUDIES = 2
CACHE_KIND = "combined figures"


class StudySelectionError(Exception):
    """The studies asked for cannot be combined. `status` is 400 for malformed input, 404 for an unknown study."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.message = message
        self.status = status


# Figures of one study, as cached


@dataclass(frozen=True)
class Figure:
    """One system's figure on one criterion: a rating or a mean score, with its interval when there is one."""

    value: float
    interval: Interval | None


@dataclass
class CriterionFigures:
    """The figures of one criterion of one study, keyed by run id. `reason` explains missing figures or intervals."""

    criterion: Criterion
    figures: dict[int, Figure]
    reason: str = ""


def study_figures(
    study: Study,
    *,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> list[CriterionFigures]:
    """Return a study's figure per criterion and system, from the report cache or computed and cached there.

    The figures count what the study's report counts by default: no
    surplus judgments, no judgments of excluded annotators, no gold items.
    """
    options = {"rounds": rounds, "seed": seed, "confidence": confidence}
    return cached_figures(CACHE_KIND, study, options, lambda: _compute_figures(study, options))


def _compute_figures(study: Study, options: dict) -> list[CriterionFigures]:
    if study.kind == StudyKind.PAIRWISE:
        return [
            CriterionFigures(
                ranking.criterion,
                {
                    record.system.run_id: Figure(record.rating, record.rating_interval)
                    for record in ranking.systems
                    if record.rating is not None
                },
                ranking.ratings_reason or ranking.intervals_reason,
            )
            for ranking in study_rankings(study, **options, with_online_elo=False)
        ]
    return [
        CriterionFigures(
            summary.criterion,
            {
                rating.system.run_id: Figure(rating.mean, rating.mean_interval)
                for rating in summary.systems
                if rating.mean is not None
            },
            "" if summary.answers else gettext("Not enough data: no scores on this criterion yet."),
        )
        for summary in study_ratings(study, **options)
    ]


# The combined table


@dataclass(frozen=True)
class RowSystem:
    """A system of one study placed in a row: the study report's system and its run's public id."""

    system: System
    run_uuid: uuid.UUID


@dataclass
class Column:
    """One study and criterion: the figures of one column of the table."""

    study: Study
    criterion: Criterion
    measure: str
    reason: str
    position: int

    @property
    def label(self) -> str:
        return f"{self.study.name} · {self.criterion.name}"

    @property
    def decimals(self) -> int:
        """Decimals the page shows, as the study report does: 1 for ratings on the Elo scale, 2 for mean scores."""
        return 1 if self.study.kind == StudyKind.PAIRWISE else 2


@dataclass
class Cell:
    """One row's entry in one column: the study's system, and its figure (None when the data gives it none)."""

    system: RowSystem
    figure: Figure | None


@dataclass
class Row:
    """One language model, or one of its systems where a study has several; `systems` per study, None if absent."""

    name: str
    model_name: str
    model_uuid: uuid.UUID
    systems: list[RowSystem | None]
    cells: list[Cell | None] = field(default_factory=list)

    @property
    def study_count(self) -> int:
        return sum(system is not None for system in self.systems)

    def system_names(self) -> list[str]:
        """Return the distinct names this row's systems have in their studies, where they differ from the row's."""
        return sorted({system.system.name for system in self.systems if system} - {self.name})


@dataclass
class ColumnCorrelation:
    """Rank agreement between two columns over the rows with a figure in both; `reason` explains a missing one."""

    first: Column
    second: Column
    models: int
    spearman: float | None = None
    spearman_interval: Interval | None = None
    kendall: float | None = None
    kendall_interval: Interval | None = None
    reason: str = ""

    @property
    def weak(self) -> bool:
        return self.spearman is not None and self.models < MIN_MODELS


@dataclass
class CombinedReport:
    """Everything the combined page, its CSV file and the API show for the chosen studies."""

    studies: list[Study]
    columns: list[Column]
    rows: list[Row]
    correlations: list[ColumnCorrelation]
    rounds: int
    seed: int
    confidence: float

    @property
    def shared_models(self) -> int:
        """Count the rows present in two or more of the studies."""
        return sum(row.study_count >= 2 for row in self.rows)

    def study_groups(self) -> list[tuple[Study, int]]:
        """Return each study with its number of columns, for a table header that spans them."""
        return [(study, sum(column.study == study for column in self.columns)) for study in self.studies]

    def table(self) -> list[tuple[Row, list[tuple[Column, Cell | None]]]]:
        """Return each row with its cells paired with their columns, for templates."""
        return [(row, list(zip(self.columns, row.cells, strict=True))) for row in self.rows]

    def correlation_matrix(self) -> list[tuple[Column, list[ColumnCorrelation | None]]]:
        """Return each column with its correlation against every column, None on the diagonal."""
        by_pair = {}
        for correlation in self.correlations:
            by_pair[(correlation.first.position, correlation.second.position)] = correlation
            by_pair[(correlation.second.position, correlation.first.position)] = correlation
        return [
            (column, [by_pair.get((column.position, other.position)) for other in self.columns])
            for column in self.columns
        ]


def combined_report(
    studies: list[Study],
    *,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> CombinedReport:
    """Build the combined table and its correlations for `studies`, which the caller has checked the user may read.

    1. Read each study's figures through the report cache.
    2. Place every system of every study in a row (see the module docstring).
    3. Fill one column per study and criterion.
    4. Correlate every pair of columns.
    """
    figures = [study_figures(study, rounds=rounds, seed=seed, confidence=confidence) for study in studies]
    rows = _rows(studies)
    columns = []
    for study_index, (study, criteria) in enumerate(zip(studies, figures, strict=True)):
        measure = str(PAIRWISE_MEASURE if study.kind == StudyKind.PAIRWISE else RATING_MEASURE)
        for criterion_figures in criteria:
            columns.append(Column(study, criterion_figures.criterion, measure, criterion_figures.reason, len(columns)))
            for row in rows:
                placed = row.systems[study_index]
                if placed is None:
                    row.cells.append(None)
                else:
                    row.cells.append(Cell(placed, criterion_figures.figures.get(placed.system.run_id)))

    correlations = [
        _correlation(first, second, rows, rounds, seed, confidence)
        for first, second in itertools.combinations(columns, 2)
    ]
    return CombinedReport(studies, columns, rows, correlations, rounds, seed, confidence)


class _RunModel(NamedTuple):
    run_uuid: uuid.UUID
    model_id: int
    model_name: str
    model_uuid: uuid.UUID


def _rows(studies: list[Study]) -> list[Row]:
    """Place every system of every study in a row, as the module docstring describes; rows sorted by name."""
    systems = [
        sorted(load_systems(study).values(), key=lambda system: (system.name, system.run_id)) for study in studies
    ]
    run_ids = {system.run_id for study_systems in systems for system in study_systems}
    runs = {
        run_id: _RunModel(run_uuid, model_id, model_name, model_uuid)
        for run_id, run_uuid, model_id, model_name, model_uuid in GenerationRun.objects.filter(
            pk__in=run_ids
        ).values_list("pk", "uuid", "model_id", "model__name", "model__uuid")
    }

    # Systems per model and study.
    by_model: dict[int, list[list[System]]] = {}
    for study_index, study_systems in enumerate(systems):
        for system in study_systems:
            by_model.setdefault(runs[system.run_id].model_id, [[] for _ in studies])[study_index].append(system)

    rows: dict[tuple, Row] = {}
    for model_id, per_study in by_model.items():
        some_run = runs[next(system.run_id for study_systems in per_study for system in study_systems)]
        model_name, model_uuid = some_run.model_name, some_run.model_uuid
        split = any(len(study_systems) > 1 for study_systems in per_study)
        for study_index, study_systems in enumerate(per_study):
            seen: dict[str, int] = {}
            for system in study_systems:
                placed = RowSystem(system, runs[system.run_id].run_uuid)
                if not split:
                    key, name = (model_id,), model_name
                else:
                    occurrence = seen.get(system.name, 0)
                    seen[system.name] = occurrence + 1
                    key = (model_id, system.name, occurrence)
                    name = system.name if occurrence == 0 else f"{system.name} ({occurrence + 1})"
                row = rows.setdefault(key, Row(name, model_name, model_uuid, [None] * len(studies)))
                row.systems[study_index] = placed
    return sorted(rows.values(), key=lambda row: (row.name.casefold(), row.name, str(row.model_uuid)))


def _correlation(
    first: Column, second: Column, rows: list[Row], rounds: int, seed: int, confidence: float
) -> ColumnCorrelation:
    paired = [
        (row.cells[first.position].figure.value, row.cells[second.position].figure.value)
        for row in rows
        if _has_figure(row.cells[first.position]) and _has_figure(row.cells[second.position])
    ]
    correlation = ColumnCorrelation(first, second, models=len(paired))
    if len(paired) < MIN_SYSTEMS:
        correlation.reason = gettext(
            "Not enough data: a rank correlation needs at least %(minimum)d models with a figure in both columns, "
            "and these have %(count)d."
        ) % {"minimum": MIN_SYSTEMS, "count": len(paired)}
        return correlation

    first_values = np.array([pair[0] for pair in paired], dtype=np.float64)
    second_values = np.array([pair[1] for pair in paired], dtype=np.float64)
    for column, values in ((first, first_values), (second, second_values)):
        if np.ptp(values) == 0:
            correlation.reason = gettext(
                "No correlation: every model has the same figure in %(column)s, so there is no ranking to compare."
            ) % {"column": column.label}
            return correlation

    correlation.spearman = float(stats.spearmanr(first_values, second_values).statistic)
    correlation.kendall = float(stats.kendalltau(first_values, second_values).statistic)
    if rounds:
        spearman, kendall = bootstrap_correlations(first_values, second_values, rounds, seed)
        correlation.spearman_interval = correlation_interval(spearman, confidence)
        correlation.kendall_interval = correlation_interval(kendall, confidence)
        if correlation.spearman_interval is None:
            correlation.reason = gettext("No interval: too many resampled rounds had a constant side.")
    return correlation


def _has_figure(cell: Cell | None) -> bool:
    return cell is not None and cell.figure is not None


# Choosing the studies


def resolve_studies(user, values: list[str]) -> list[Study]:
    """Return the studies named by `values` (UUIDs from the `study` parameter), in order, without repeats.

    Raises StudySelectionError: 400 for a value that is not a UUID or for
    fewer than two distinct studies, 404 for a UUID that names no study
    `user` may read. A study that exists but is not readable gets the same
    message as one that does not exist.
    """
    requested: list[uuid.UUID] = []
    for value in values:
        try:
            parsed = uuid.UUID(value.strip())
        except ValueError:
            message = gettext("Invalid study UUID “%(value)s”. Use the UUID in the study report's address.")
            raise StudySelectionError(message % {"value": value}, 400) from None
        if parsed not in requested:
            requested.append(parsed)
    if len(requested) < MIN_STUDIES:
        message = gettext("Choose at least %(minimum)d different studies to combine; %(count)d chosen.")
        raise StudySelectionError(message % {"minimum": MIN_STUDIES, "count": len(requested)}, 400)

    found = {study.uuid: study for study in readable_studies(user).filter(uuid__in=requested)}
    unknown = [str(value) for value in requested if value not in found]
    if unknown:
        message = gettext("Study not found: no study you may read has the UUID %(uuids)s.")
        raise StudySelectionError(message % {"uuids": ", ".join(unknown)}, 404)
    return [found[value] for value in requested]


def no_shared_model_message(report: CombinedReport) -> str:
    """Return the warning for studies that share no model, or "" when at least one model is in two of them."""
    if report.shared_models:
        return ""
    return gettext(
        "These studies share no model, so no figure can be compared across them. Combine studies whose systems "
        "include runs of the same model."
    )
