"""Time agreement (reports.agreement) and rating figures (reports.ratings) at up to a million judgments.

Two parts:

1. Scale, from value counts made in numpy: each item gets 2, 3 or 4
   judgments (10%, 80%, 10%), each equal to the item's latent value with
   chance 0.7 and uniform otherwise. Pairwise items take one of 4 values
   (nominal), rating items one of 5 scores (ordinal). Timed apart:
   - the `krippendorff` package's alpha alone;
   - every agreement figure with 1,000 bootstrap rounds over items
     (`agreement_from_value_counts`: package alpha, percent agreement,
     Fleiss' kappa, patterns and the bootstrap);
   - for comparison, a bootstrap that calls the package once per round,
     timed over a few rounds and scaled to 1,000 (an estimate);
   - the rating bootstrap for 12 systems on a 5-point scale: prompts
     drawn with replacement, then means and medians per round.
2. Queries, on a throwaway SQLite database: a rating study with three
   judgments per item inserted with bulk_create, then the report's
   agreement (all figures, with the per-annotator and Cohen queries) and
   ratings, each timed whole, and the grouped value-count query alone.

Usage, from the repository root:

    python benchmarks/agreement_scale.py           # 10,000 and 1,000,000 judgments; 60,000 in SQLite
    python benchmarks/agreement_scale.py --smoke   # 3,000 judgments, 50 rounds; 600 in SQLite
    python benchmarks/agreement_scale.py --database-judgments 1000000   # a million through SQLite too
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEED = 0
AGREEMENT_CHANCE = 0.7
SYSTEMS = 12
PACKAGE_ROUNDS_TIMED = 5
ITEMS_PER_CHUNK = 10_000

FULL_SETTINGS = {"scale_judgments": [10_000, 1_000_000], "rounds": 1000, "database_judgments": 60_000}
SMOKE_SETTINGS = {"scale_judgments": [3_000], "rounds": 50, "database_judgments": 600}


def set_up_throwaway_database(folder: Path) -> None:
    """Configure Django on a new SQLite file in `folder` and create its tables, whatever DATABASE_URL names."""
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'benchmark.sqlite3'}"
    os.environ.setdefault("HUMEVAL_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humeval.settings")

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def machine_facts() -> list[str]:
    cpu_model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return [
        f"CPU: {cpu_model}, {os.cpu_count()} cores; load average at start {load:.1f}",
        f"Python {platform.python_version()}, numpy {np.__version__}, krippendorff {metadata.version('krippendorff')}",
    ]


class Stopwatch:
    """Measure the wall time and this process's CPU time of a `with` block.

    On a shared machine the CPU time varies less than the wall time, so
    both are printed.
    """

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc_info):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def scaled(self, factor: float) -> str:
        return f"{self.wall * factor:.2f} wall, {self.cpu * factor:.2f} CPU"

    def __str__(self):
        return self.scaled(1.0)


# Synthetic judgments


def judgments_per_item(judgments: int, generator: np.random.Generator) -> np.ndarray:
    """Draw 2, 3 or 4 judgments per item until about `judgments` judgments are placed."""
    counts = generator.choice([2, 3, 4], p=[0.1, 0.8, 0.1], size=judgments // 3 + 1)
    return counts[: np.searchsorted(np.cumsum(counts), judgments) + 1]


def synthetic_values(per_item: np.ndarray, value_count: int, generator: np.random.Generator) -> np.ndarray:
    """Return one value per judgment, item after item: the item's latent value with chance 0.7, else uniform."""
    latent = np.repeat(generator.integers(0, value_count, size=per_item.size), per_item)
    noise = generator.integers(0, value_count, size=latent.size)
    return np.where(generator.random(latent.size) < AGREEMENT_CHANCE, latent, noise)


def value_counts(per_item: np.ndarray, values: np.ndarray, value_count: int) -> np.ndarray:
    item_of_judgment = np.repeat(np.arange(per_item.size), per_item)
    counts = np.zeros((per_item.size, value_count), dtype=np.int64)
    np.add.at(counts, (item_of_judgment, values), 1)
    return counts


# Scale


def time_agreement(judgments: int, rounds: int, level: str, value_count: int) -> dict:
    import krippendorff

    from reports.agreement import agreement_from_value_counts
    from reports.agreement_statistics import group_patterns

    generator = np.random.default_rng(SEED)
    per_item = judgments_per_item(judgments, generator)
    counts = value_counts(per_item, synthetic_values(per_item, value_count, generator), value_count)
    domain = np.arange(1, value_count + 1)

    with Stopwatch() as package:
        krippendorff.alpha(value_counts=counts, value_domain=domain, level_of_measurement=level)
    with Stopwatch() as everything:
        result = agreement_from_value_counts(
            counts, domain, level=level, pairwise=level == "nominal", rounds=rounds, seed=SEED
        )
    # For comparison, the slow way: draw items again and call the package once per round.
    with Stopwatch() as per_round:
        for round_number in range(PACKAGE_ROUNDS_TIMED):
            drawn = np.random.default_rng([SEED, round_number]).integers(0, counts.shape[0], size=counts.shape[0])
            krippendorff.alpha(value_counts=counts[drawn], value_domain=domain, level_of_measurement=level)
    patterns = group_patterns(counts[:, np.newaxis, :])

    return {
        "judgments": int(per_item.sum()),
        "items": int(per_item.size),
        "level": level,
        "distinct value counts (patterns)": len(patterns.items),
        "package alpha alone (s)": package,
        f"all figures, {rounds} rounds (s)": everything,
        f"package per round, {rounds} rounds, estimate (s)": per_round.scaled(rounds / PACKAGE_ROUNDS_TIMED),
        "alpha [interval]": alpha_text(result),
        "Fleiss' kappa": f"{result.fleiss.value:.4f} on {result.fleiss.items:,} items",
    }


def time_rating_bootstrap(judgments: int, rounds: int) -> dict:
    from scipy import sparse

    from reports.prompt_counts import bootstrap_totals
    from reports.ratings import median_from_counts

    generator = np.random.default_rng(SEED)
    prompts = max(1, judgments // (3 * SYSTEMS))
    scores = np.arange(1, 6)
    # Per judgment: a prompt, a system and a score; grouped the way the query groups them.
    prompt = generator.integers(0, prompts, size=judgments)
    system = generator.integers(0, SYSTEMS, size=judgments)
    score = np.clip(np.round(generator.normal(3 + system / SYSTEMS, 1.0)), 1, 5).astype(np.int64)
    columns = system * scores.size + (score - 1)
    matrix = sparse.coo_matrix((np.ones(judgments), (prompt, columns)), shape=(prompts, SYSTEMS * scores.size)).tocsr()

    with Stopwatch() as drawing:
        samples = bootstrap_totals(matrix, rounds, SEED)
    with Stopwatch() as figures:
        per_system = samples.reshape(rounds, SYSTEMS, scores.size)
        (per_system @ scores) / per_system.sum(axis=2)
        median_from_counts(per_system, scores)
    return {
        "judgments": judgments,
        "prompts": prompts,
        "grouped rows": matrix.nnz,
        f"draw prompts and sum, {rounds} rounds (s)": drawing,
        "means and medians of every round (s)": figures,
    }


# Database


def insert_rating_study(judgments: int, generator: np.random.Generator):
    """Insert a rating study with three judgments per item, two systems and one criterion; return it."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from annotate.models import (
        Assignment,
        AssignmentStatus,
        Criterion,
        CriterionAnswer,
        Item,
        Judgment,
        Study,
        StudyKind,
        StudyStatus,
    )
    from generation.models import FinishReason, GenerationRun, LanguageModel, Prompt, PromptSet, Response

    items_per_system = max(1, judgments // 6)
    prompt_set = PromptSet.objects.create(name="agreement benchmark prompts")
    prompts = Prompt.objects.bulk_create(
        [Prompt(prompt_set=prompt_set, position=index, text=f"Prompt {index}") for index in range(items_per_system)],
        batch_size=5000,
    )
    runs = []
    for index in range(2):
        model = LanguageModel.objects.create(name=f"system-{index}", source="/nonexistent")
        runs.append(GenerationRun.objects.create(model=model, prompt_set=prompt_set, status="completed"))
    responses = Response.objects.bulk_create(
        [
            Response(run=run, prompt=prompt, text="answer", finish_reason=FinishReason.STOP)
            for run in runs
            for prompt in prompts
        ],
        batch_size=5000,
    )
    study = Study.objects.create(
        name="agreement benchmark", kind=StudyKind.RATING, prompt_set=prompt_set, status=StudyStatus.OPEN
    )
    study.systems.set(runs)
    criterion = Criterion.objects.create(study=study, position=0, name="overall", question="How good is it?")
    items = Item.objects.bulk_create(
        [
            Item(study=study, prompt=response.prompt, first_response=response, sort_key=float(generator.random()))
            for response in responses
        ],
        batch_size=5000,
    )
    user_model = get_user_model()
    users = user_model.objects.bulk_create(
        [user_model(username=f"annotator-{index}", password="!") for index in range(12)]
    )

    # Three different annotators per item, and a score per judgment.
    annotator_of = np.argsort(generator.random((len(items), len(users))), axis=1)[:, :3]
    scores = synthetic_values(np.full(len(items), 3), 5, generator).reshape(-1, 3) + 1
    seconds = generator.gamma(2.0, 20.0, size=scores.shape)
    now = timezone.now()
    # Chunks of items keep the model objects of a million judgments out of memory at once.
    for start in range(0, len(items), ITEMS_PER_CHUNK):
        chunk = range(start, min(start + ITEMS_PER_CHUNK, len(items)))
        assignments = Assignment.objects.bulk_create(
            [
                Assignment(
                    item=items[index],
                    annotator=users[annotator],
                    first_on_left=True,
                    status=AssignmentStatus.SUBMITTED,
                    leased_at=now,
                    expires_at=now,
                )
                for index in chunk
                for annotator in annotator_of[index]
            ],
            batch_size=5000,
        )
        judgment_rows = Judgment.objects.bulk_create(
            [
                Judgment(
                    assignment=assignment,
                    item=assignment.item,
                    annotator=assignment.annotator,
                    first_on_left=True,
                    time_on_task_seconds=float(time_on_task),
                )
                for assignment, time_on_task in zip(assignments, seconds[chunk.start : chunk.stop].ravel(), strict=True)
            ],
            batch_size=5000,
        )
        CriterionAnswer.objects.bulk_create(
            [
                CriterionAnswer(judgment=judgment, criterion=criterion, score=int(score))
                for judgment, score in zip(judgment_rows, scores[chunk.start : chunk.stop].ravel(), strict=True)
            ],
            batch_size=5000,
        )
    return study


def time_database(judgments: int, rounds: int) -> dict:
    from django.db.models import Count, F

    from reports.agreement import annotator_figures, study_agreement_report
    from reports.answers import counted_answers
    from reports.ratings import study_ratings

    with Stopwatch() as inserting:
        study = insert_rating_study(judgments, np.random.default_rng(SEED))

    answers = counted_answers(include_surplus=False, criterion__study=study, score__isnull=False)
    with Stopwatch() as counting:
        rows = list(
            answers.values("criterion_id", "score", item_id=F("judgment__item_id"))
            .annotate(count=Count("pk"))
            .values_list("criterion_id", "item_id", "score", "count")
        )
    with Stopwatch() as agreement_time:
        report = study_agreement_report(study, rounds=rounds, seed=SEED)
    with Stopwatch() as annotator_time:
        annotator_figures(study, report)
    with Stopwatch() as ratings_time:
        study_ratings(study, rounds=rounds, seed=SEED)

    (result,) = report.criteria
    return {
        "judgments": result.judgments,
        "items": result.items,
        "grouped value-count rows": len(rows),
        "bulk insert (s)": inserting,
        "value-count query alone (s)": counting,
        f"study_agreement_report, {rounds} rounds, all in (s)": agreement_time,
        "annotator_figures (quality, medians) (s)": annotator_time,
        f"study_ratings, {rounds} rounds, all in (s)": ratings_time,
        "alpha [interval]": alpha_text(result),
    }


def alpha_text(result) -> str:
    interval = result.alpha_interval
    return f"{result.alpha:.4f} [{interval.lower:.4f}, {interval.upper:.4f}]"


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    for row in rows:
        for key, value in row.items():
            if isinstance(value, int):
                value = f"{value:,}"
            print(f"  {key:<50} {value}")
        print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="Run small sizes only, to check that the script works.")
    parser.add_argument(
        "--database-judgments", type=int, help="Judgments to insert into SQLite (default 60,000; 600 with --smoke)."
    )
    arguments = parser.parse_args()
    settings = dict(SMOKE_SETTINGS if arguments.smoke else FULL_SETTINGS)
    if arguments.database_judgments is not None:
        if arguments.database_judgments < 6:
            parser.error("--database-judgments must be at least 6, so that both systems get an item.")
        settings["database_judgments"] = arguments.database_judgments
    rounds = settings["rounds"]

    with tempfile.TemporaryDirectory(prefix="humeval-agreement-bench-") as folder:
        set_up_throwaway_database(Path(folder))
        for line in machine_facts():
            print(line)
        print(f"seed {SEED}, judgments agree with the item's latent value with chance {AGREEMENT_CHANCE}")

        scale = []
        for judgments in settings["scale_judgments"]:
            scale.append(time_agreement(judgments, rounds, "nominal", 4))
            scale.append(time_agreement(judgments, rounds, "ordinal", 5))
        print_table("Scale: agreement from value counts made in numpy", scale)
        ratings = [time_rating_bootstrap(judgments, rounds) for judgments in settings["scale_judgments"]]
        print_table("Scale: rating intervals from per-prompt counts made in numpy", ratings)
        database = time_database(settings["database_judgments"], rounds)
        print_table("Queries: SQLite, a rating study inserted with bulk_create", [database])
    return 0


if __name__ == "__main__":
    sys.exit(main())
