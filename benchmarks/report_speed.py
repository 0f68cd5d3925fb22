"""Time a pairwise study's full report and judgment export at a million judgments, read from the database.

The script builds a synthetic pairwise study once and keeps it: 20 models,
2,000 prompts, 100,000 items of 10 judgments each (1,000,000 judgments)
from 300 annotators. Items pair two models on one prompt in either
canonical order, each annotator sees either screen order, and about 15% of
the answers are a tie or "both bad". The small tables go in through the
ORM. Items, assignments, judgments and answers, the million-row tables, go
in as raw rows with explicit ids in one transaction: `executemany` on
SQLite and `COPY ... FROM STDIN` on PostgreSQL. `bulk_create` would build a
million model objects per table. On PostgreSQL most of the build is the
commit, where the deferred foreign-key checks run for every row.

Then, each in a fresh child process so that peak memory belongs to it:

1. Report: `reports.summary.build_study_report` as the report page calls
   it (agreement with its bootstrap interval, win counts and the win
   matrix, Bradley-Terry ratings with 1,000 bootstrap rounds over prompts,
   online Elo, length bias, the per-annotator table), first whole, then
   whole again in the same process, and then part by part: the one read
   of the study's answers (reports.answer_table), then each figure from
   it; then the win counts through their own grouped query, which the
   full report does not run; then the report page's view, first computed
   and then served from the report cache (reports.report_cache). The child checks
   that torch and transformers were never imported, and prints its peak
   memory (resident set size) after the full report and at the end.
2. Export: the streamed CSV export of every judgment into a file, then
   the JSONL export, with the peak memory of that process after each.
3. Baselines: the method public leaderboards use, written here twice
   from its description. Battles are collapsed into weighted rows, one per
   (model A, model B, outcome); Bradley-Terry is fitted by L-BFGS on the
   weighted logistic loss, a tie being half a win each way; the bootstrap
   draws the row weights from a multinomial over the battles, 100 rounds,
   and refits each round. Both start from the battles in memory, so their
   times leave out reading them, which is timed apart.
   - "published": the steps as the leaderboard's published code takes
     them (`published_baseline`). Battles are a pandas table of model
     names and winner labels. The names are factorised, identical rows
     are found by `np.unique` over the rows, and the gradient is summed
     with `np.add.at`. L-BFGS-B runs with at most 100 iterations and gtol
     1e-6, and the rounds are fitted in a pool of one process per CPU.
     This is the baseline the targets name. Its CPU time includes the
     pool's processes.
   - "tuned": the same method written for speed here (`tuned_baseline`):
     battles as integer codes, rows found by `np.unique` over one integer
     key, the gradient by `np.bincount`, every fit in this process. It
     is a stricter reference than the published code.

Usage, from the repository root (SQLite file under HUMEVAL_DATA_DIR, or the
database DATABASE_URL names):

    python benchmarks/report_speed.py                # build once, then time
    python benchmarks/report_speed.py --rebuild      # drop the stored study and build it again
    python benchmarks/report_speed.py --smoke        # small sizes in a throwaway SQLite file
    DATABASE_URL=postgres://humeval:humeval@127.0.0.1:5432/humeval_speed python benchmarks/report_speed.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STUDY_NAME = "report speed benchmark"
SEED = 0
RESULT_PREFIX = "RESULT "
# The two baselines, in the order they are printed: the leaderboard's code as published, and the same method tuned here.
BASELINES = ("published", "tuned")


@dataclass(frozen=True)
class Sizes:
    models: int
    prompts: int
    annotators: int
    items_per_prompt: int
    judgments_per_item: int
    rounds: int
    baseline_rounds: int

    @property
    def items(self) -> int:
        return self.prompts * self.items_per_prompt

    @property
    def judgments(self) -> int:
        return self.items * self.judgments_per_item


FULL = Sizes(
    models=20,
    prompts=2000,
    annotators=300,
    items_per_prompt=50,
    judgments_per_item=10,
    rounds=1000,
    baseline_rounds=100,
)
SMOKE = Sizes(
    models=6, prompts=40, annotators=30, items_per_prompt=10, judgments_per_item=5, rounds=50, baseline_rounds=10
)


# Set-up


def set_up_django(database_file: Path | None) -> None:
    """Configure Django on `database_file` (SQLite) or, when it is None, on the database DATABASE_URL names."""
    if database_file is not None:
        os.environ["DATABASE_URL"] = f"sqlite:///{database_file}"
    os.environ.setdefault("HUMEVAL_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humeval.settings")

    import django

    django.setup()


def machine_facts() -> list[str]:
    import scipy
    from django.db import connection

    cpu_model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    one, five, fifteen = os.getloadavg()
    return [
        f"CPU: {cpu_model}, {os.cpu_count()} cores; load average at start {one:.2f} {five:.2f} {fifteen:.2f}",
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}",
        f"Database: {connection.vendor} {'.'.join(map(str, connection.get_database_version()))}",
    ]


class Stopwatch:
    """Measure the wall time and the CPU time of a `with` block, child processes included.

    On a shared machine the CPU time varies less than the wall time, so
    both are printed. CPU time leaves out the database server's own work
    on PostgreSQL.
    """

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), self._cpu()
        return self

    def __exit__(self, *exc_info):
        self.wall = time.perf_counter() - self.wall
        self.cpu = self._cpu() - self.cpu

    @staticmethod
    def _cpu() -> float:
        """This process's CPU time and that of its child processes that have ended (a baseline's pool)."""
        times = os.times()
        return time.process_time() + times.children_user + times.children_system

    def __str__(self):
        return f"{self.wall:.2f} wall, {self.cpu:.2f} CPU"


def peak_memory_mb() -> float:
    """Return this process's peak resident set size in MB.

    Linux's VmHWM starts afresh at exec, whereas getrusage's ru_maxrss
    keeps the parent's peak from before the fork, here the build's.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Building the study


def study_exists(sizes: Sizes) -> bool:
    from annotate.models import Judgment, Study

    study = Study.objects.filter(name=STUDY_NAME).first()
    return study is not None and Judgment.objects.filter(item__study=study).count() == sizes.judgments


def drop_study() -> None:
    """Delete every row a previous build stored, table by table, fastest first."""
    from django.db import connection, transaction

    from annotate.models import Assignment, CriterionAnswer, Item, Judgment, Study
    from generation.models import GenerationRun, LanguageModel, PromptSet, Response

    with transaction.atomic(), connection.cursor() as cursor:
        for model in (CriterionAnswer, Judgment, Assignment, Item):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")
        Study.objects.filter(name=STUDY_NAME).delete()
        Response.objects.filter(run__prompt_set__name=STUDY_NAME).delete()
        GenerationRun.objects.filter(prompt_set__name=STUDY_NAME).delete()
        LanguageModel.objects.filter(name__startswith="speed-model-").delete()
        PromptSet.objects.filter(name=STUDY_NAME).delete()
        from django.contrib.auth import get_user_model

        get_user_model().objects.filter(username__startswith="speed-").delete()


def build_study(sizes: Sizes) -> None:
    """Insert the synthetic study in one transaction; see the module docstring for its shape.

    1. Users, prompts, models, runs and responses through the ORM.
    2. Items, then assignments, judgments and answers as raw rows with
       explicit ids, drawn in numpy.
    3. Reset the id sequences (PostgreSQL), so later inserts do not collide.
    """
    from django.contrib.auth import get_user_model
    from django.core.management.color import no_style
    from django.db import connection, transaction

    from annotate.models import Assignment, Criterion, CriterionAnswer, Item, Judgment, Study, StudyKind, StudyStatus
    from generation.models import FinishReason, GenerationRun, LanguageModel, Prompt, PromptSet, Response

    generator = np.random.default_rng(SEED)
    with transaction.atomic():
        user_model = get_user_model()
        user_model.objects.create_user(username="speed-admin", password=None, is_staff=True, is_superuser=True)
        users = user_model.objects.bulk_create(
            [user_model(username=f"speed-annotator-{index:03d}", password="!") for index in range(sizes.annotators)]
        )
        prompt_set = PromptSet.objects.create(name=STUDY_NAME)
        prompts = Prompt.objects.bulk_create(
            [
                Prompt(
                    prompt_set=prompt_set,
                    position=index,
                    external_id=f"p{index}",
                    category=("writing", "coding", "reasoning", "knowledge")[index % 4],
                    language="zh-Hans" if index % 5 == 0 else "en",
                    text=f"用一句话回答问题 {index}。" if index % 5 == 0 else f"Answer question {index} in one line.",
                )
                for index in range(sizes.prompts)
            ],
            batch_size=5000,
        )
        runs = []
        for index in range(sizes.models):
            model = LanguageModel.objects.create(name=f"speed-model-{index:02d}", source="/nonexistent")
            runs.append(GenerationRun.objects.create(model=model, prompt_set=prompt_set, status="completed"))
        lengths = generator.integers(20, 400, size=(sizes.models, sizes.prompts))
        responses = Response.objects.bulk_create(
            [
                Response(
                    run=run,
                    prompt=prompt,
                    text="x" * int(lengths[run_index, prompt_index]),
                    finish_reason=FinishReason.STOP,
                )
                for run_index, run in enumerate(runs)
                for prompt_index, prompt in enumerate(prompts)
            ],
            batch_size=5000,
        )
        study = Study.objects.create(
            name=STUDY_NAME,
            kind=StudyKind.PAIRWISE,
            prompt_set=prompt_set,
            status=StudyStatus.OPEN,
            overlap=sizes.judgments_per_item,
        )
        study.systems.set(runs)
        study.annotators.set(users)
        criterion = Criterion.objects.create(study=study, position=0, name="overall", question="Which is better?")

        response_ids = np.array([response.pk for response in responses]).reshape(sizes.models, sizes.prompts)
        prompt_ids = np.array([prompt.pk for prompt in prompts])
        user_ids = np.array([user.pk for user in users])
        synthetic = SyntheticJudgments(sizes, generator)
        _insert_items(study.pk, synthetic, response_ids, prompt_ids)
        _insert_judgments(synthetic, criterion.pk, response_ids, user_ids)

        statements = connection.ops.sequence_reset_sql(no_style(), [Item, Assignment, Judgment, CriterionAnswer])
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)


class SyntheticJudgments:
    """The items and judgments of the study, one numpy array per field.

    Item i is on prompt `item_prompt[i]` and compares models
    `item_first[i]` and `item_second[i]` in canonical order. Judgment j is
    on item `judgment_item[j]` by annotator `judgment_annotator[j]`;
    judgments are stored in a shuffled order, as they would arrive.

    Outcomes follow a Bradley-Terry model with ratings spread over 600 Elo
    points, plus a per-item effect shared by its judges, so that annotators
    agree more than by chance. A judgment is a tie with chance 0.12 and
    "both bad" with chance 0.03.
    """

    def __init__(self, sizes: Sizes, generator: np.random.Generator):
        self.sizes = sizes
        pairs = np.array([(a, b) for a in range(sizes.models) for b in range(sizes.models) if a != b])
        # Distinct ordered pairs per prompt, so no two items of a prompt share their responses.
        keys = generator.random((sizes.prompts, len(pairs)))
        chosen = np.argsort(keys, axis=1)[:, : sizes.items_per_prompt].ravel()
        self.item_prompt = np.repeat(np.arange(sizes.prompts), sizes.items_per_prompt)
        self.item_first = pairs[chosen, 0]
        self.item_second = pairs[chosen, 1]

        # Distinct annotators per item: an arithmetic progression modulo the
        # annotator count, with a step coprime with it.
        steps = np.array([step for step in range(1, sizes.annotators) if np.gcd(step, sizes.annotators) == 1])
        start = generator.integers(0, sizes.annotators, size=sizes.items)
        step = generator.choice(steps, size=sizes.items)
        offsets = np.arange(sizes.judgments_per_item)
        annotators = (start[:, None] + step[:, None] * offsets[None, :]) % sizes.annotators

        ratings = generator.permutation(np.linspace(700, 1300, sizes.models))
        item_logit = (ratings[self.item_first] - ratings[self.item_second]) * np.log(10) / 400
        item_logit += generator.normal(0.0, 1.0, size=sizes.items)
        first_wins = 1 / (1 + np.exp(-item_logit))

        order = generator.permutation(sizes.judgments)
        self.judgment_item = np.repeat(np.arange(sizes.items), sizes.judgments_per_item)[order]
        self.judgment_annotator = annotators.ravel()[order]
        draw = generator.random(sizes.judgments)
        decisive = draw < 0.85
        won_by_first = generator.random(sizes.judgments) < first_wins[self.judgment_item]
        # 0 first wins, 1 second wins, 2 tie, 3 both bad.
        self.result = np.where(decisive, np.where(won_by_first, 0, 1), np.where(draw < 0.97, 2, 3))
        self.first_on_left = generator.random(sizes.judgments) < 0.5
        self.seconds = np.round(generator.gamma(2.0, 20.0, size=sizes.judgments), 3)
        self.with_rationale = generator.random(sizes.judgments) < 0.1


def _random_uuids(count: int) -> list[str]:
    """Return `count` random UUIDs as 32 hex digits, the form both databases accept for a UUID column."""
    text = os.urandom(16 * count).hex()
    return [text[start : start + 32] for start in range(0, 32 * count, 32)]


def _insert_items(study_id: int, synthetic: SyntheticJudgments, response_ids: np.ndarray, prompt_ids: np.ndarray):
    from annotate.models import Item

    sizes = synthetic.sizes
    first = response_ids[synthetic.item_first, synthetic.item_prompt]
    second = response_ids[synthetic.item_second, synthetic.item_prompt]
    sort_keys = np.random.default_rng([SEED, 1]).random(sizes.items)
    counted = np.full(sizes.items, sizes.judgments_per_item)
    rows = zip(
        range(1, sizes.items + 1),
        _random_uuids(sizes.items),
        [study_id] * sizes.items,
        prompt_ids[synthetic.item_prompt].tolist(),
        first.tolist(),
        second.tolist(),
        sort_keys.tolist(),
        [False] * sizes.items,
        [""] * sizes.items,
        [""] * sizes.items,
        [None] * sizes.items,
        [None] * sizes.items,
        [None] * sizes.items,
        counted.tolist(),
        strict=True,
    )
    fields = [
        "id",
        "uuid",
        "study",
        "prompt",
        "first_response",
        "second_response",
        "sort_key",
        "is_gold",
        "attention_text",
        "gold_outcome",
        "gold_winner",
        "gold_min_score",
        "gold_max_score",
        "counted_judgments",
    ]
    insert_rows(Item, fields, rows)


def _insert_judgments(synthetic: SyntheticJudgments, criterion_id: int, response_ids: np.ndarray, user_ids):
    """Insert assignments, judgments and answers, a chunk of judgments at a time to keep memory flat."""
    from annotate.models import Assignment, AssignmentStatus, CriterionAnswer, Judgment

    sizes = synthetic.sizes
    start_time = datetime(2026, 1, 1, tzinfo=UTC)
    chunk_size = 100_000
    for start in range(0, sizes.judgments, chunk_size):
        stop = min(start + chunk_size, sizes.judgments)
        count = stop - start
        ids = list(range(start + 1, stop + 1))
        items = synthetic.judgment_item[start:stop]
        item_ids = (items + 1).tolist()
        annotators = user_ids[synthetic.judgment_annotator[start:stop]].tolist()
        left = synthetic.first_on_left[start:stop].tolist()
        times = [start_time + timedelta(seconds=7 * number) for number in range(start, stop)]

        assignment_rows = zip(
            ids,
            _random_uuids(count),
            item_ids,
            annotators,
            left,
            [AssignmentStatus.SUBMITTED.value] * count,
            times,
            times,
            [""] * count,
            [""] * count,
            strict=True,
        )
        insert_rows(
            Assignment,
            [
                "id",
                "uuid",
                "item",
                "annotator",
                "first_on_left",
                "status",
                "leased_at",
                "expires_at",
                "skip_reason",
                "skip_note",
            ],
            assignment_rows,
        )

        rationales = np.where(synthetic.with_rationale[start:stop], "两个回答都不错, but A is clearer.", "").tolist()
        judgment_rows = zip(
            ids,
            _random_uuids(count),
            ids,
            item_ids,
            annotators,
            left,
            rationales,
            synthetic.seconds[start:stop].tolist(),
            [False] * count,
            [None] * count,
            times,
            [None] * count,
            strict=True,
        )
        insert_rows(
            Judgment,
            [
                "id",
                "uuid",
                "assignment",
                "item",
                "annotator",
                "first_on_left",
                "rationale",
                "time_on_task_seconds",
                "is_surplus",
                "gold_correct",
                "created_at",
                "revised_at",
            ],
            judgment_rows,
        )

        results = synthetic.result[start:stop]
        first = response_ids[synthetic.item_first[items], synthetic.item_prompt[items]]
        second = response_ids[synthetic.item_second[items], synthetic.item_prompt[items]]
        winners = np.where(results == 0, first, second)
        outcomes = np.array(["win", "win", "tie", "both_bad"])[results].tolist()
        answer_rows = zip(
            ids,
            ids,
            [criterion_id] * count,
            outcomes,
            [int(winner) if result <= 1 else None for winner, result in zip(winners, results, strict=True)],
            [None] * count,
            strict=True,
        )
        insert_rows(CriterionAnswer, ["id", "judgment", "criterion", "outcome", "winner", "score"], answer_rows)


def insert_rows(model, field_names: list[str], rows) -> None:
    """Insert rows of values for `field_names` of `model` in bulk: executemany on SQLite, COPY on PostgreSQL.

    Every non-null column without a database default must be listed, because
    the rows bypass the ORM and its Python-side defaults.
    """
    from django.db import connection

    fields = [model._meta.get_field(name) for name in field_names]
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    if connection.vendor == "postgresql":
        _copy_rows(connection, table, columns, rows)
        return
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"
    with connection.cursor() as cursor:
        cursor.executemany(sql, (tuple(_sqlite_value(value) for value in row) for row in rows))


def _sqlite_value(value):
    if isinstance(value, datetime):
        # Django's SQLite backend stores aware times as naive UTC text.
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    return value


def _copy_rows(connection, table: str, columns: str, rows) -> None:
    """Stream rows through COPY in PostgreSQL's text format, a block of rows at a time."""
    import io

    def escape(value) -> str:
        if value is None:
            return "\\N"
        if isinstance(value, bool):
            return "t" if value else "f"
        if isinstance(value, datetime):
            return value.isoformat()
        text = str(value)
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")

    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(escape(value) for value in row))
        buffer.write("\n")
    buffer.seek(0)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", buffer)


# The report, timed in a child process


def time_report(sizes: Sizes) -> dict:
    """Time the report, its parts, the cached page and the export; return figures for the parent to print."""
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.test import RequestFactory

    from annotate.models import Study
    from reports import views
    from reports.agreement import annotator_figures, study_agreement_report
    from reports.answer_table import load_study_answers
    from reports.length_bias import criterion_length_bias
    from reports.pairwise import study_pairwise_summaries
    from reports.ranking import study_rankings
    from reports.summary import build_study_report, judgment_totals

    study = Study.objects.get(name=STUDY_NAME)
    criterion = study.criteria.get()
    start_memory = peak_memory_mb()
    figures: dict = {}

    with Stopwatch() as whole:
        report = build_study_report(study, rounds=sizes.rounds)
    figures["full report (build_study_report)"] = whole
    report_memory = peak_memory_mb()
    # Again in the same process, as a web worker computes its second report:
    # the allocator has its memory by now, so fewer page faults.
    with Stopwatch() as again:
        build_study_report(study, rounds=sizes.rounds)
    figures["full report, second run in the same process"] = again

    # The parts, each from the same read of the answers, as the full report runs them.
    with Stopwatch() as part:
        table = load_study_answers(study)
    figures["  reading the answers"] = part
    with Stopwatch() as part:
        agreement = study_agreement_report(study, rounds=sizes.rounds, table=table)
    figures["  agreement with interval"] = part
    with Stopwatch() as part:
        annotator_figures(study, agreement, table)
    figures["  per-annotator table"] = part
    with Stopwatch() as part:
        (ranking,) = study_rankings(study, rounds=sizes.rounds, with_online_elo=False, table=table)
    figures[f"  Bradley-Terry, {sizes.rounds} rounds"] = part
    with Stopwatch() as part:
        study_rankings(study, rounds=0, table=table)
    figures["  online Elo and point ratings"] = part
    with Stopwatch() as part:
        criterion_length_bias(criterion, rounds=sizes.rounds, table=table)
    figures["  length bias"] = part
    with Stopwatch() as part:
        judgment_totals(study, table=table)
    figures["  totals"] = part
    del table
    # Not part of the full report, which takes the win counts from the ranking.
    with Stopwatch() as part:
        study_pairwise_summaries(study)
    figures["win counts and matrix, own query"] = part

    cache.clear()
    request = RequestFactory().get(f"/reports/{study.uuid}/", HTTP_HOST="127.0.0.1")
    request.user = get_user_model().objects.get(username="speed-admin")
    with Stopwatch() as first_view:
        response = views.study_report(request, study_uuid=study.uuid)
    with Stopwatch() as second_view:
        response = views.study_report(request, study_uuid=study.uuid)
    if response.status_code != 200:
        raise RuntimeError(f"The report page returned status {response.status_code}, expected 200.")
    figures["report page, first view"] = first_view
    figures["report page, second view (cached)"] = second_view

    for name in ("torch", "transformers"):
        assert name not in sys.modules, f"{name} was imported while the report was computed"

    ratings = {system.system.name: system.rating for system in ranking.systems}
    top = ranking.systems[0]
    return {
        "timings": {name: [value.wall, value.cpu] for name, value in figures.items()},
        "judgments": report.totals.judgments,
        "memory at start (MB)": start_memory,
        "peak memory, full report (MB)": report_memory,
        "peak memory, parts and page views (MB)": peak_memory_mb(),
        "ratings": ratings,
        "top system": f"{top.system.name} {top.rating:.1f} [{top.rating_interval.lower:.1f}, "
        f"{top.rating_interval.upper:.1f}]",
        "alpha": agreement.overall.alpha,
        "alpha interval": [agreement.overall.alpha_interval.lower, agreement.overall.alpha_interval.upper],
    }


def time_export(sizes: Sizes) -> dict:
    """Write the CSV and the JSONL export of every judgment into files and time them, in a process of their own."""
    from annotate.models import Study
    from reports import export_files
    from reports.export import stream_judgments_csv

    study = Study.objects.get(name=STUDY_NAME)
    start_memory = peak_memory_mb()
    rows = 0
    with tempfile.TemporaryDirectory(prefix="humeval-report-speed-") as folder:
        path = Path(folder) / "judgments.csv"
        with Stopwatch() as exporting, path.open("w", encoding="utf-8", newline="") as file:
            for chunk in stream_judgments_csv(study):
                file.write(chunk)
                rows += chunk.count("\r\n")
        size = path.stat().st_size
        csv_memory = peak_memory_mb()

        path = Path(folder) / "judgments.jsonl"
        table = export_files.export_table(study, "judgments")
        with Stopwatch() as exporting_jsonl, path.open("w", encoding="utf-8", newline="") as file:
            jsonl_rows = export_files.write_rows(file, table.header, table.rows, "jsonl")
        jsonl_size = path.stat().st_size
    return {
        "CSV export of every judgment": [exporting.wall, exporting.cpu],
        "rows": rows - 1,
        "MB": size / 1e6,
        "JSONL export of every judgment": [exporting_jsonl.wall, exporting_jsonl.cpu],
        "JSONL rows": jsonl_rows,
        "JSONL MB": jsonl_size / 1e6,
        "memory at start (MB)": start_memory,
        "peak memory (MB)": csv_memory,
        "peak memory after JSONL (MB)": peak_memory_mb(),
    }


# The baseline, timed in a child process


def load_battles() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Read every counted answer as a battle: model A, model B (the item's canonical order) and the outcome.

    The outcome is 0 when A won, 1 when B won and 2 for a tie or "both bad".
    """
    from annotate.models import Study
    from reports.answers import counted_answers
    from reports.pairwise import FIRST_WINS, SECOND_WINS, canonical_result
    from reports.ranking import ordered_systems

    study = Study.objects.get(name=STUDY_NAME)
    systems = ordered_systems(study)
    index_of = {system.run_id: index for index, system in enumerate(systems)}
    rows = counted_answers(include_surplus=False, criterion__study=study).values_list(
        "judgment__item__first_response__run_id", "judgment__item__second_response__run_id", canonical_result()
    )
    codes = {FIRST_WINS: 0, SECOND_WINS: 1}
    first, second, outcome = [], [], []
    for first_run, second_run, result in rows.iterator(chunk_size=20_000):
        first.append(index_of[first_run])
        second.append(index_of[second_run])
        outcome.append(codes.get(result, 2))
    return np.array(first), np.array(second), np.array(outcome), [system.name for system in systems]


def tuned_fit(first: np.ndarray, second: np.ndarray, labels: np.ndarray, weights: np.ndarray, size: int):
    """Fit Bradley-Terry log-strengths by L-BFGS on the weighted logistic loss of battle rows.

    Row k stands for `weights[k]` battles of `first[k]` against `second[k]`
    in which `first[k]` scored `labels[k]` (1, 0, or 0.5 for a tie). With
    the gap s = theta_first - theta_second, the loss is the sum of
    weights[k] * (log(1 + exp(s)) - labels[k] * s), the negative
    log-likelihood of the logistic model. Returns log-strengths with mean 0.
    """
    from scipy.optimize import minimize

    def loss_and_gradient(theta):
        gaps = theta[first] - theta[second]
        # -log p(first scores labels) for a logistic p = expit(gap).
        loss = np.sum(weights * (np.logaddexp(0.0, gaps) - labels * gaps))
        residual = weights * (1 / (1 + np.exp(-gaps)) - labels)
        gradient = np.bincount(first, residual, minlength=size) - np.bincount(second, residual, minlength=size)
        return loss, gradient

    result = minimize(loss_and_gradient, np.zeros(size), jac=True, method="L-BFGS-B")
    return result.x - result.x.mean()


def tuned_baseline(first, second, outcome, size: int, rounds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Run the tuned baseline: collapse battles, fit, and refit on `rounds` multinomial resamples of the rows.

    Returns the point ratings and the rounds' ratings on the Elo scale,
    1000 at the geometric mean strength.
    """
    keys = (first * size + second) * 3 + outcome
    unique, weights = np.unique(keys, return_counts=True)
    row_outcome = unique % 3
    row_first = unique // 3 // size
    row_second = unique // 3 % size
    labels = np.select([row_outcome == 0, row_outcome == 1], [1.0, 0.0], 0.5)
    weights = weights.astype(np.float64)
    point = tuned_fit(row_first, row_second, labels, weights, size)

    generator = np.random.default_rng(seed)
    total = int(weights.sum())
    samples = np.empty((rounds, size))
    for round_number in range(rounds):
        drawn = generator.multinomial(total, weights / total).astype(np.float64)
        samples[round_number] = tuned_fit(row_first, row_second, labels, drawn, size)
    scale = 400 / np.log(10)
    return 1000 + scale * point, 1000 + scale * samples


# The published baseline keeps the battles as a table of model names and
# winner labels; a tie or "both bad" is a tie.
WINNER_LABELS = np.array(["model_a", "model_b", "tie"], dtype=object)


def battles_table(first: np.ndarray, second: np.ndarray, outcome: np.ndarray, names: list[str]):
    """Return the battles as the published baseline takes them: a pandas table of names and winner labels."""
    import pandas as pd

    labels = np.array(names, dtype=object)
    return pd.DataFrame({"model_a": labels[first], "model_b": labels[second], "winner": WINNER_LABELS[outcome]})


def _published_rows(battles) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Collapse the battles into distinct (model A, model B, outcome) rows and count each.

    Returns the rows' model pairs, model A's score in each row (1, 0.5 or
    0), the model names in the order of their codes, and the counts.
    """
    import pandas as pd

    count = len(battles)
    codes, models = pd.factorize(pd.concat([battles["model_a"], battles["model_b"]]))
    # Outcome codes: 2 when model A won, 1 for a tie, 0 when model B won.
    schedule = np.ones((count, 3), dtype=np.int32)
    schedule[:, 0], schedule[:, 1] = codes[:count], codes[count:]
    schedule[(battles["winner"] == "model_a").to_numpy(), 2] = 2
    schedule[(battles["winner"] == "model_b").to_numpy(), 2] = 0
    rows, counts = np.unique(schedule, axis=0, return_counts=True)
    return rows[:, :2], rows[:, 2] / 2.0, list(models), counts.astype(np.float64)


def _published_loss(ratings, pairs, scores, weights, alpha):
    """Return the weighted negative log-likelihood of the rows and its gradient, summed per model by np.add.at."""
    from scipy.special import expit

    probabilities = expit(alpha * (ratings[pairs[:, 0]] - ratings[pairs[:, 1]]))
    loss = -np.sum(weights * (scores * np.log(probabilities) + (1 - scores) * np.log(1 - probabilities)))
    per_row = -alpha * weights * (scores - probabilities)
    gradient = np.zeros_like(ratings)
    np.add.at(gradient, pairs, per_row[:, None] * np.array([1.0, -1.0]))
    return loss, gradient


def _published_fit(pairs: np.ndarray, scores: np.ndarray, size: int, weights: np.ndarray) -> np.ndarray:
    """Fit ratings in units of log10 odds by L-BFGS-B, at most 100 iterations, gtol 1e-6."""
    from scipy.optimize import minimize

    result = minimize(
        _published_loss,
        np.zeros(size),
        args=(pairs, scores, weights, np.log(10.0)),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 100, "gtol": 1e-6},
    )
    return result.x


def published_baseline(battles, rounds: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Run the published baseline: a point fit, then `rounds` bootstrap fits in a pool of one process per CPU.

    As published, the point estimate and the bootstrap each collapse the
    battles themselves, and the bootstrap weights are the multinomial
    counts divided by the number of battles. Returns the point ratings,
    the rounds' ratings (Elo scale, 1000 at the geometric mean strength)
    and the model names in the order of both.
    """
    import multiprocessing
    from functools import partial

    pairs, scores, models, counts = _published_rows(battles)
    point = _published_fit(pairs, scores, len(models), counts)
    samples = np.empty((0, len(models)))
    if rounds:
        pairs, scores, models, counts = _published_rows(battles)
        generator = np.random.default_rng(seed)
        drawn = generator.multinomial(len(battles), counts / counts.sum(), size=rounds) / len(battles)
        with multiprocessing.Pool(os.cpu_count()) as pool:
            samples = np.array(pool.map(partial(_published_fit, pairs, scores, len(models)), drawn))
    return 1000 + 400 * point, 1000 + 400 * samples, models


def time_baseline(sizes: Sizes) -> dict:
    """Time both baselines on the study's battles and return their figures and ratings."""
    import scipy.optimize  # noqa: F401 (imported before the clock starts)
    import scipy.special  # noqa: F401

    with Stopwatch() as reading:
        first, second, outcome, names = load_battles()
    figures = {"battles": int(first.size), "reading battles from the database": [reading.wall, reading.cpu]}

    figures["tuned"] = _time_one_baseline(
        sizes, lambda rounds: (*tuned_baseline(first, second, outcome, len(names), rounds, SEED), names)
    )
    battles = battles_table(first, second, outcome, names)
    figures["published"] = _time_one_baseline(sizes, lambda rounds: published_baseline(battles, rounds, SEED))
    return figures


def _time_one_baseline(sizes: Sizes, run) -> dict:
    """Time `run(rounds)` with no rounds, with the baseline's rounds and with the report's rounds."""
    figures = {}
    for rounds in (0, sizes.baseline_rounds, sizes.rounds):
        with Stopwatch() as stopwatch:
            point, samples, models = run(rounds)
        figures[_baseline_label(rounds)] = [stopwatch.wall, stopwatch.cpu]
        if rounds == sizes.baseline_rounds:
            lower, upper = np.percentile(samples, [2.5, 97.5], axis=0)
            figures["ratings"] = dict(zip(models, point.tolist(), strict=True))
            figures["intervals"] = {
                name: [low, high] for name, low, high in zip(models, lower.tolist(), upper.tolist(), strict=True)
            }
    return figures


def _baseline_label(rounds: int) -> str:
    return f"point estimate and {rounds} rounds" if rounds else "point estimate"


# Parent


def run_child(task: str, sizes_name: str, database_file: Path | None) -> dict:
    """Run `task` in a fresh Python process and return the figures it prints."""
    command = [sys.executable, __file__, "--child", task]
    if sizes_name == "smoke":
        command.append("--smoke")
    if database_file is not None:
        command += ["--database-file", str(database_file)]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        raise RuntimeError(f"The {task} child process failed with exit status {completed.returncode}.")
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise RuntimeError(f"The {task} child process printed no result.")


def print_report(sizes: Sizes, report: dict, export: dict, baseline: dict) -> None:
    def seconds(pair) -> str:
        return f"{pair[0]:.2f} wall, {pair[1]:.2f} CPU"

    print(f"\nhumeval report, {report['judgments']:,} judgments (child process)")
    for name, pair in report["timings"].items():
        print(f"  {name:<50} {seconds(pair)}")
    for name in ("memory at start (MB)", "peak memory, full report (MB)", "peak memory, parts and page views (MB)"):
        print(f"  {name:<50} {report[name]:.0f}")
    print(f"  {'top system':<50} {report['top system']}")
    print(f"  {'alpha [interval]':<50} {report['alpha']:.4f} {report['alpha interval']}")

    print("\nExport (child process)")
    print(f"  {'CSV export of every judgment':<50} {seconds(export['CSV export of every judgment'])}")
    print(f"  {'rows':<50} {export['rows']:,} ({export['MB']:.0f} MB)")
    print(f"  {'JSONL export of every judgment':<50} {seconds(export['JSONL export of every judgment'])}")
    print(f"  {'JSONL rows':<50} {export['JSONL rows']:,} ({export['JSONL MB']:.0f} MB)")
    for name in ("memory at start (MB)", "peak memory (MB)", "peak memory after JSONL (MB)"):
        print(f"  {name:<50} {export[name]:.0f}")

    print(f"\nBaselines: weighted rows, L-BFGS, multinomial bootstrap ({baseline['battles']:,} battles)")
    print(f"  {'reading battles from the database':<50} {seconds(baseline['reading battles from the database'])}")
    for kind in BASELINES:
        for rounds in (0, sizes.baseline_rounds, sizes.rounds):
            name = _baseline_label(rounds)
            print(f"  {kind + ': ' + name:<50} {seconds(baseline[kind][name])}")

    print("\nRatios, wall time and CPU time (above 1: humeval is faster)")
    for kind in BASELINES:
        figures = baseline[kind]
        for column, clock in enumerate(("wall", "CPU")):
            full = report["timings"]["full report (build_study_report)"][column]
            fit = report["timings"][f"  Bradley-Terry, {sizes.rounds} rounds"][column]
            with_baseline_rounds = figures[_baseline_label(sizes.baseline_rounds)][column]
            with_report_rounds = figures[_baseline_label(sizes.rounds)][column]
            lines = {
                f"baseline with {sizes.baseline_rounds} rounds / full report with {sizes.rounds}": (
                    with_baseline_rounds / full
                ),
                f"baseline with {sizes.rounds} rounds / full report": with_report_rounds / full,
                # Equal scope: both fit and bootstrap from data in memory, neither reads the database.
                f"baseline with {sizes.rounds} rounds / Bradley-Terry part": with_report_rounds / fit,
            }
            for label, value in lines.items():
                print(f"  {kind + ', ' + clock + ': ' + label:<74} {value:.2f}")
        difference = max(abs(report["ratings"][name] - rating) for name, rating in figures["ratings"].items())
        print(f"  {kind + ': largest rating difference from humeval, Elo points':<74} {difference:.2e}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="Use small sizes in a throwaway SQLite file.")
    parser.add_argument("--rebuild", action="store_true", help="Delete the stored study and build it again.")
    parser.add_argument(
        "--database-file",
        type=Path,
        help="SQLite file to build into and read (default HUMEVAL_DATA_DIR/benchmarks/report_speed.sqlite3; "
        "ignored when DATABASE_URL is set).",
    )
    parser.add_argument("--child", choices=["report", "export", "baseline"], help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    sizes = SMOKE if arguments.smoke else FULL

    if arguments.child:
        set_up_django(arguments.database_file)
        tasks = {"report": time_report, "export": time_export, "baseline": time_baseline}
        result = tasks[arguments.child](sizes)
        print(RESULT_PREFIX + json.dumps(result, ensure_ascii=False))
        return 0

    with tempfile.TemporaryDirectory(prefix="humeval-report-speed-") as folder:
        database_file = arguments.database_file
        if arguments.smoke:
            database_file = Path(folder) / "smoke.sqlite3"
        elif database_file is None and not os.environ.get("DATABASE_URL"):
            data_dir = Path(os.environ.get("HUMEVAL_DATA_DIR", ROOT / "var"))
            database_file = data_dir / "benchmarks" / "report_speed.sqlite3"
        if database_file is not None:
            database_file.parent.mkdir(parents=True, exist_ok=True)
        set_up_django(database_file)

        from django.core.management import call_command

        for line in machine_facts():
            print(line)
        print(
            f"{sizes.models} models, {sizes.prompts:,} prompts, {sizes.items:,} items, {sizes.judgments:,} judgments "
            f"from {sizes.annotators} annotators; {sizes.rounds} bootstrap rounds; seed {SEED}"
        )
        call_command("migrate", verbosity=0, interactive=False)
        if arguments.rebuild:
            drop_study()
        if study_exists(sizes):
            print("Using the stored study.")
        else:
            drop_study()
            with Stopwatch() as building:
                build_study(sizes)
            print(f"Built the study in {building}.")

        from django.db import connections

        connections.close_all()
        report = run_child("report", "smoke" if arguments.smoke else "full", database_file)
        export = run_child("export", "smoke" if arguments.smoke else "full", database_file)
        baseline = run_child("baseline", "smoke" if arguments.smoke else "full", database_file)
        print_report(sizes, report, export, baseline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
