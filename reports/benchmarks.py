"""Human scores beside automatic benchmark scores, and how well their rankings agree.

For each system of a study the table shows its human score per criterion
and, per benchmark, the main metric of its model's stored `BenchmarkResult`.
The human score is the Bradley-Terry rating of a pairwise study (from
reports.ranking) or the mean score of a rating study (from reports.ratings). Benchmark scores belong
to a model, so systems of one model (several decoding settings) share them.

Main metric: the catalog's choice for the benchmarks humeval runs (such as
acc_norm for HellaSwag, see generation.benchmarks.catalog); for other tasks,
the first of `FALLBACK_METRICS` present. Subtasks of a group (mmlu_anatomy
under mmlu) get no column of their own.

Correlations: for each criterion and benchmark, Spearman's rho and
Kendall's tau-b between the human scores and the benchmark values of the
systems that have both, from scipy.stats. Correlating values by rank is
correlating the two rankings. Intervals are percentile bootstrap intervals
over systems: each round draws as many systems as there are, with
replacement, and recomputes both coefficients; rounds where either side is
constant define no coefficient and are left out. With fewer than
`MIN_MODELS` distinct models a correlation is flagged as weak, and below
`MIN_SYSTEMS` systems none is computed.
"""

from __future__ import annotations

import csv
import functools
import io
import math
from dataclasses import dataclass, field

import numpy as np
from django.utils.text import slugify
from django.utils.translation import gettext, gettext_lazy
from scipy import stats

from annotate.models import Criterion, Study, StudyKind
from generation.benchmarks import catalog
from generation.models import BenchmarkResult, GenerationRun
from reports.answer_table import StudyAnswers
from reports.export import BYTE_ORDER_MARK, csv_encoding, neutralise
from reports.ranking import (
    DEFAULT_CONFIDENCE,
    DEFAULT_ROUNDS,
    DEFAULT_SEED,
    Interval,
    percentile_interval,
    study_rankings,
)
from reports.ratings import study_ratings
from reports.report_cache import cached_figures
from reports.systems import System, load_systems

# Correlations over fewer distinct models than this are flagged as weak.
MIN_MODELS = 5
# Below this many systems no correlation is computed: two points always correlate perfectly.
MIN_SYSTEMS = 3
RESAMPLED_UNIT = "system"

PAIRWISE_MEASURE = gettext_lazy("Bradley-Terry rating")
RATING_MEASURE = gettext_lazy("mean score")


@dataclass(frozen=True)
class BenchmarkColumn:
    """One benchmark column: a task at a shot count, shown by its main metric and filter."""

    task: str
    shots: int
    metric: str
    filter: str

    @property
    def title(self) -> str:
        return catalog.title(self.task)

    @property
    def metric_label(self) -> str:
        return self.metric if self.filter == "none" else f"{self.metric} ({self.filter})"

    @property
    def csv_name(self) -> str:
        return f"{self.task} {self.shots}-shot {self.metric},{self.filter}"


@dataclass(frozen=True)
class BenchmarkCell:
    """A model's value on one benchmark column, with what it rests on."""

    value: float
    stderr: float | None
    sample_count: int | None
    limit: float | None
    source: str


@dataclass
class SystemRow:
    """One system: its human score per criterion and its model's benchmark values, in column order."""

    system: System
    model_id: int
    model_name: str
    human: list[float | None]
    cells: list[BenchmarkCell | None]


@dataclass
class Correlation:
    """Rank agreement between the human scores on one criterion and one benchmark column.

    `systems` counts the systems with both scores and `models` their distinct
    models. `reason` explains a missing coefficient or interval.
    """

    criterion: Criterion
    column: BenchmarkColumn
    systems: int
    models: int
    spearman: float | None = None
    spearman_interval: Interval | None = None
    kendall: float | None = None
    kendall_interval: Interval | None = None
    reason: str = ""

    @property
    def weak(self) -> bool:
        return self.models < MIN_MODELS


@dataclass
class BenchmarkComparison:
    """Everything the report's benchmark section and its CSV export show for one study."""

    study: Study
    human_measure: str
    criteria: list[Criterion]
    columns: list[BenchmarkColumn]
    rows: list[SystemRow]
    correlations: list[Correlation] = field(default_factory=list)
    rounds: int = DEFAULT_ROUNDS
    seed: int = DEFAULT_SEED
    confidence: float = DEFAULT_CONFIDENCE

    def correlations_by_column(self) -> list[tuple[BenchmarkColumn, list[Correlation]]]:
        """Group the correlations by column, each column's list in criterion order."""
        return [
            (column, [correlation for correlation in self.correlations if correlation.column == column])
            for column in self.columns
        ]


# Building the table


def benchmark_comparison(
    study: Study,
    *,
    include_surplus: bool = False,
    include_excluded: bool = False,
    rounds: int = DEFAULT_ROUNDS,
    seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
    table: StudyAnswers | None = None,
) -> BenchmarkComparison:
    """Build the benchmark table and its correlations for `study`.

    `table` is the study's answers as `load_study_answers` read them, used
    when the human scores are not in the cache; they are read then when
    not given.

    1. Load the study's systems and their models.
    2. Compute the human score of each system per criterion, with no bootstrap.
    3. Pick one column per benchmark task and shot count among the models' results.
    4. Correlate each criterion's human scores with each column.
    """
    systems = sorted(load_systems(study).values(), key=lambda system: (system.name, system.run_id))
    models = dict(
        GenerationRun.objects.filter(pk__in=[system.run_id for system in systems]).values_list("pk", "model_id")
    )
    criteria = list(study.criteria.order_by("position", "pk"))
    counted = {"include_surplus": include_surplus, "include_excluded": include_excluded}
    # Every view of the report page computes this table, so the ratings are cached with the report's key rules.
    human = cached_figures("human scores", study, counted, lambda: _human_scores(study, counted, table))
    results = list(
        BenchmarkResult.objects.filter(model_id__in=set(models.values()), parent_group="").select_related("model")
    )
    columns = _columns(results)
    cells = {
        (result.model_id, column): _cell(result)
        for result in results
        for column in columns
        if (result.task, result.shots, result.metric, result.filter)
        == (column.task, column.shots, column.metric, column.filter)
    }
    model_names = {result.model_id: result.model.name for result in results}
    model_names.update(_model_names(set(models.values()) - set(model_names)))

    rows = []
    for system in systems:
        model_id = models[system.run_id]
        rows.append(
            SystemRow(
                system=system,
                model_id=model_id,
                model_name=model_names[model_id],
                human=[human.get(criterion.pk, {}).get(system.run_id) for criterion in criteria],
                cells=[cells.get((model_id, column)) for column in columns],
            )
        )
    # Best human score on the first criterion first; systems without one last.
    rows.sort(key=lambda row: (not row.human or row.human[0] is None, -(row.human[0] or 0) if row.human else 0))

    comparison = BenchmarkComparison(
        study=study,
        human_measure=str(PAIRWISE_MEASURE if study.kind == StudyKind.PAIRWISE else RATING_MEASURE),
        criteria=criteria,
        columns=columns,
        rows=rows,
        rounds=rounds,
        seed=seed,
        confidence=confidence,
    )
    for position, criterion in enumerate(criteria):
        for index, column in enumerate(columns):
            comparison.correlations.append(_correlation(criterion, column, rows, position, index, comparison))
    return comparison


def _model_names(model_ids: set[int]) -> dict[int, str]:
    from generation.models import LanguageModel

    return dict(LanguageModel.objects.filter(pk__in=model_ids).values_list("pk", "name"))


def _human_scores(study: Study, counted: dict, table: StudyAnswers | None) -> dict[int, dict[int, float]]:
    """Return {criterion id: {run id: score}}: Bradley-Terry ratings or mean scores, without intervals."""
    scores: dict[int, dict[int, float]] = {}
    if study.kind == StudyKind.PAIRWISE:
        for ranking in study_rankings(study, **counted, rounds=0, with_online_elo=False, table=table):
            scores[ranking.criterion.pk] = {
                record.system.run_id: record.rating for record in ranking.systems if record.rating is not None
            }
    else:
        for summary in study_ratings(study, **counted, rounds=0, table=table):
            scores[summary.criterion.pk] = {
                rating.system.run_id: rating.mean for rating in summary.systems if rating.mean is not None
            }
    return scores


def _main_metric(task: str, available: set[tuple[str, str]]) -> tuple[str, str] | None:
    benchmark = catalog.BENCHMARKS.get(task)
    if benchmark is not None:
        metric, filter_name = benchmark.main_metric.split(",", 1)
        if (metric, filter_name) in available:
            return metric, filter_name
    for metric in catalog.FALLBACK_METRICS:
        filters = sorted(filter_name for name, filter_name in available if name == metric)
        if filters:
            return metric, "none" if "none" in filters else filters[0]
    return min(available) if available else None


def _columns(results: list[BenchmarkResult]) -> list[BenchmarkColumn]:
    """Return one column per task and shot count, catalog tasks first in catalog order, then by name."""
    available: dict[tuple[str, int], set[tuple[str, str]]] = {}
    for result in results:
        available.setdefault((result.task, result.shots), set()).add((result.metric, result.filter))
    order = {name: position for position, name in enumerate(catalog.BENCHMARKS)}
    columns = []
    for task, shots in sorted(available, key=lambda key: (order.get(key[0], len(order)), key[0], key[1])):
        main = _main_metric(task, available[(task, shots)])
        if main is not None:
            columns.append(BenchmarkColumn(task, shots, *main))
    return columns


def _cell(result: BenchmarkResult) -> BenchmarkCell:
    return BenchmarkCell(result.value, result.stderr, result.sample_count, result.limit, result.source)


# Correlations


def _correlation(
    criterion: Criterion,
    column: BenchmarkColumn,
    rows: list[SystemRow],
    position: int,
    index: int,
    comparison: BenchmarkComparison,
) -> Correlation:
    paired = [row for row in rows if row.human[position] is not None and row.cells[index] is not None]
    human = np.array([row.human[position] for row in paired], dtype=np.float64)
    automatic = np.array([row.cells[index].value for row in paired], dtype=np.float64)
    correlation = Correlation(criterion, column, systems=len(paired), models=len({row.model_id for row in paired}))
    if len(paired) < MIN_SYSTEMS:
        correlation.reason = gettext(
            "Not enough data: a correlation needs at least %(count)d systems with both scores."
        ) % {"count": MIN_SYSTEMS}
        return correlation
    if np.ptp(human) == 0 or np.ptp(automatic) == 0:
        correlation.reason = gettext("No correlation: every system has the same score on one side.")
        return correlation

    correlation.spearman = float(stats.spearmanr(human, automatic).statistic)
    correlation.kendall = float(stats.kendalltau(human, automatic).statistic)
    if comparison.rounds:
        spearman, kendall = bootstrap_correlations(human, automatic, comparison.rounds, comparison.seed)
        correlation.spearman_interval = correlation_interval(spearman, comparison.confidence)
        correlation.kendall_interval = correlation_interval(kendall, comparison.confidence)
        if correlation.spearman_interval is None:
            correlation.reason = gettext("No interval: too many resampled rounds had a constant side.")
    return correlation


def correlation_interval(samples: np.ndarray, confidence: float) -> Interval | None:
    """Return the percentile interval of the defined samples, or None when undefined rounds reach into a tail."""
    undefined = int(np.isnan(samples).sum())
    if undefined > math.floor(samples.size * (1 - confidence) / 2):
        return None
    lower, upper = percentile_interval(samples, confidence)
    return Interval(float(lower), float(upper))


def bootstrap_correlations(
    human: np.ndarray, automatic: np.ndarray, rounds: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return Spearman and Kendall tau-b coefficients of `rounds` resamples of the (human, automatic) pairs.

    Round r draws with numpy's default generator seeded with (seed, r), as
    the other report intervals do. A round where either side is constant
    gives NaN.
    """
    picks = _bootstrap_picks(human.size, rounds, seed)
    return spearman_rows(human[picks], automatic[picks]), kendall_tau_b_rows(human[picks], automatic[picks])


@functools.lru_cache(maxsize=32)
def _bootstrap_picks(size: int, rounds: int, seed: int) -> np.ndarray:
    """Return the (rounds, size) indices drawn for every correlation over `size` systems; cached, read-only."""
    picks = np.stack([np.random.default_rng((seed, r)).integers(0, size, size) for r in range(rounds)])
    picks.setflags(write=False)
    return picks


def _pearson_rows(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    first = first - first.mean(axis=1, keepdims=True)
    second = second - second.mean(axis=1, keepdims=True)
    denominator = np.sqrt((first * first).sum(axis=1) * (second * second).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, (first * second).sum(axis=1) / denominator, np.nan)


def spearman_rows(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Spearman's rho per row of two (rounds, n) arrays: Pearson's r of average ranks, as scipy computes it."""
    return _pearson_rows(stats.rankdata(first, axis=1), stats.rankdata(second, axis=1))


def kendall_tau_b_rows(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Kendall's tau-b per row of two (rounds, n) arrays, counting every pair i < j once."""
    size = first.shape[1]
    upper = np.triu(np.ones((size, size), dtype=bool), k=1)
    first_signs = np.sign(first[:, :, None] - first[:, None, :])[:, upper]
    second_signs = np.sign(second[:, :, None] - second[:, None, :])[:, upper]
    pairs = upper.sum()
    untied_first = pairs - (first_signs == 0).sum(axis=1)
    untied_second = pairs - (second_signs == 0).sum(axis=1)
    denominator = np.sqrt(untied_first.astype(np.float64) * untied_second)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, (first_signs * second_signs).sum(axis=1) / denominator, np.nan)


# CSV export


def benchmarks_filename(study: Study) -> str:
    return f"{slugify(study.name) or study.uuid}-benchmarks.csv"


def benchmarks_csv(comparison: BenchmarkComparison, *, bom: bool = True) -> str:
    """Return the table as CSV text, one row per system, with a byte order mark unless `bom` is False.

    Columns: system, model, the human score per criterion, then per benchmark
    its value, standard error and documents scored. Missing values are empty cells.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    header = ["system", "model"]
    header += [f"human: {criterion.name}" for criterion in comparison.criteria]
    for column in comparison.columns:
        header += [column.csv_name, f"{column.csv_name} stderr", f"{column.csv_name} documents"]
    writer.writerow([neutralise(cell) for cell in header])
    for row in comparison.rows:
        cells = [row.system.name, row.model_name, *row.human]
        for cell in row.cells:
            cells += [cell.value, cell.stderr, cell.sample_count] if cell else [None, None, None]
        writer.writerow([neutralise(cell) for cell in cells])
    return (BYTE_ORDER_MARK if bom else "") + buffer.getvalue()


def benchmarks_metadata(comparison: BenchmarkComparison, *, bom: bool = True) -> dict:
    """Describe the CSV file, the method and every correlation, for its sidecar `<file>.meta.json`.

    The encoding states the byte order mark when `bom` is True, as in the CSV.
    """
    return {
        "file": benchmarks_filename(comparison.study),
        "study": {"name": comparison.study.name, "uuid": str(comparison.study.uuid), "kind": comparison.study.kind},
        "format": {
            "encoding": csv_encoding(bom),
            "dialect": "RFC 4180, comma separated, CRLF line ends",
            "rows": "one per system, best human score on the first criterion first",
        },
        "human_score": "Bradley-Terry rating on the Elo scale"
        if comparison.study.kind == StudyKind.PAIRWISE
        else "mean score",
        "benchmarks": [
            {
                "column": column.csv_name,
                "task": column.task,
                "shots": column.shots,
                "metric": column.metric,
                "filter": column.filter,
                "models": _column_sources(comparison, index),
            }
            for index, column in enumerate(comparison.columns)
        ],
        "correlations": {
            "method": (
                "Spearman's rho and Kendall's tau-b (scipy.stats) between human scores and benchmark values of the "
                "systems with both; percentile bootstrap over systems, rounds with a constant side left out"
            ),
            "rounds": comparison.rounds,
            "seed": comparison.seed,
            "confidence": comparison.confidence,
            "resampled_unit": RESAMPLED_UNIT,
            "weak_below_models": MIN_MODELS,
            "values": [_correlation_metadata(correlation) for correlation in comparison.correlations],
        },
    }


def _column_sources(comparison: BenchmarkComparison, index: int) -> list[dict]:
    seen, sources = set(), []
    for row in comparison.rows:
        cell = row.cells[index]
        if cell is None or row.model_id in seen:
            continue
        seen.add(row.model_id)
        sources.append(
            {"model": row.model_name, "source": cell.source, "documents": cell.sample_count, "limit": cell.limit}
        )
    return sources


def _correlation_metadata(correlation: Correlation) -> dict:
    def bounds(interval):
        return [interval.lower, interval.upper] if interval else None

    return {
        "criterion": correlation.criterion.name,
        "benchmark": correlation.column.csv_name,
        "systems": correlation.systems,
        "models": correlation.models,
        "spearman": correlation.spearman,
        "spearman_interval": bounds(correlation.spearman_interval),
        "kendall_tau_b": correlation.kendall,
        "kendall_interval": bounds(correlation.kendall_interval),
        "weak": correlation.weak,
        "reason": correlation.reason,
    }
