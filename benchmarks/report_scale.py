"""Time the pairwise ranking (reports.ranking) at study sizes up to a million judgments.

Two parts:

1. Scale, from counts made in numpy: judgments on 12 systems are drawn
   from a Bradley-Terry model (ratings spread over 400 Elo points, 15% ties,
   5% "both bad", 20 judgments per prompt), grouped per prompt, pair, result
   and screen order the way the report counts them, and ranked with
   1,000 bootstrap rounds. Timed apart: building the per-prompt count matrix,
   the ranking (fit, bootstrap, intervals), and online Elo over every
   judgment in order.
2. Database, on a throwaway SQLite database: judgments inserted with
   bulk_create, then `reports.ranking.study_rankings` timed whole, and apart
   its read of the study's answers (`reports.answer_table`) and the counts
   and judgment order taken from them.

Usage, from the repository root:

    python benchmarks/report_scale.py           # 10,000 and 1,000,000 judgments; 100,000 in SQLite
    python benchmarks/report_scale.py --smoke   # 2,000 judgments, 50 rounds; 2,000 in SQLite
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SYSTEMS = 12
JUDGMENTS_PER_PROMPT = 20
PAIRS_PER_PROMPT = 4
SEED = 0

FULL_SETTINGS = {"scale_judgments": [10_000, 1_000_000], "rounds": 1000, "database_judgments": 100_000}
SMOKE_SETTINGS = {"scale_judgments": [2_000], "rounds": 50, "database_judgments": 2_000}


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
    import scipy

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
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}",
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

    def __str__(self):
        return f"{self.wall:.2f} wall, {self.cpu:.2f} CPU"


# Synthetic judgments


class SyntheticJudgments:
    """Judgments drawn in numpy: one array per field, one entry per judgment, in storage order."""

    def __init__(self, judgments: int, generator: np.random.Generator):
        prompts = max(1, judgments // JUDGMENTS_PER_PROMPT)
        pairs = np.array([(a, b) for a in range(SYSTEMS) for b in range(a + 1, SYSTEMS)])
        # Each prompt gets PAIRS_PER_PROMPT pairs, and each judgment one of them.
        prompt_pairs = generator.integers(0, len(pairs), size=(prompts, PAIRS_PER_PROMPT))
        self.prompt = generator.integers(0, prompts, size=judgments)
        chosen = pairs[prompt_pairs[self.prompt, generator.integers(0, PAIRS_PER_PROMPT, size=judgments)]]
        swap = generator.random(judgments) < 0.5
        self.first = np.where(swap, chosen[:, 1], chosen[:, 0])
        self.second = np.where(swap, chosen[:, 0], chosen[:, 1])

        ratings = np.linspace(800, 1200, SYSTEMS)
        first_wins = 1 / (1 + 10 ** ((ratings[self.second] - ratings[self.first]) / 400))
        draw = generator.random(judgments)
        decisive = 0.8
        self.result = np.select(
            [draw < decisive * first_wins, draw < decisive, draw < 0.95], [0, 1, 2], 3
        )  # first wins, second wins, tie, both bad
        self.first_on_left = generator.random(judgments) < 0.5

    def grouped_rows(self) -> tuple[np.ndarray, ...]:
        """Group judgments per prompt, pair, result and screen order, as the report's query does."""
        keys = np.stack([self.prompt, self.first, self.second, self.result, self.first_on_left.astype(int)], axis=1)
        unique, counts = np.unique(keys, axis=0, return_counts=True)
        return unique[:, 0], unique[:, 1], unique[:, 2], unique[:, 3], unique[:, 4].astype(bool), counts


def time_scale(judgments: int, rounds: int) -> dict:
    from reports import bradley_terry
    from reports.prompt_counts import build_prompt_counts
    from reports.ranking import rank_prompt_counts
    from reports.systems import System

    systems = [System(run_id=index + 1, name=f"system-{index:02d}") for index in range(SYSTEMS)]
    synthetic = SyntheticJudgments(judgments, np.random.default_rng(SEED))
    rows = synthetic.grouped_rows()

    with Stopwatch() as building:
        counts = build_prompt_counts(systems, *rows)
    with Stopwatch() as ranking_time:
        ranking = rank_prompt_counts(counts, rounds=rounds, seed=SEED)
    first_score = np.select([synthetic.result == 0, synthetic.result == 1], [1.0, 0.0], 0.5)
    with Stopwatch() as online:
        bradley_terry.online_elo(synthetic.first, synthetic.second, first_score, SYSTEMS, k_factor=4)

    top = ranking.systems[0]
    return {
        "judgments": judgments,
        "prompts": ranking.prompts,
        "grouped rows": len(rows[0]),
        "build counts (s)": building,
        f"rank, {rounds} rounds (s)": ranking_time,
        "online Elo (s)": online,
        "top system": f"{top.system.name} {top.rating:.1f} [{top.rating_interval.lower:.1f}, "
        f"{top.rating_interval.upper:.1f}]",
        "unidentified rounds": ranking.method.unidentified_rounds,
    }


# Database


def insert_study(judgments: int, generator: np.random.Generator):
    """Insert a pairwise study with `judgments` judgments through bulk_create and return it."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from annotate.models import (
        Assignment,
        AssignmentStatus,
        Criterion,
        CriterionAnswer,
        Item,
        Judgment,
        Outcome,
        Study,
        StudyKind,
        StudyStatus,
    )
    from generation.models import FinishReason, GenerationRun, LanguageModel, Prompt, PromptSet, Response

    synthetic = SyntheticJudgments(judgments, generator)
    prompt_count = int(synthetic.prompt.max()) + 1
    prompt_set = PromptSet.objects.create(name="benchmark prompts")
    prompts = Prompt.objects.bulk_create(
        [Prompt(prompt_set=prompt_set, position=index, text=f"Prompt {index}") for index in range(prompt_count)]
    )
    runs = []
    for index in range(SYSTEMS):
        model = LanguageModel.objects.create(name=f"system-{index:02d}", source="/nonexistent")
        runs.append(GenerationRun.objects.create(model=model, prompt_set=prompt_set, status="completed"))
    responses = Response.objects.bulk_create(
        [
            Response(run=run, prompt=prompt, text="answer", finish_reason=FinishReason.STOP)
            for run in runs
            for prompt in prompts
        ],
        batch_size=5000,
    )
    response_of = {(response.run_id, response.prompt_id): response for response in responses}

    study = Study.objects.create(
        name="benchmark study", kind=StudyKind.PAIRWISE, prompt_set=prompt_set, status=StudyStatus.OPEN
    )
    study.systems.set(runs)
    criterion = Criterion.objects.create(study=study, position=0, name="overall", question="Which is better?")

    # One item per prompt and ordered pair; one annotator per judgment of an item.
    item_of, judgment_number = {}, {}
    items = []
    for prompt_index, first, second in zip(synthetic.prompt, synthetic.first, synthetic.second, strict=True):
        key = (int(prompt_index), int(first), int(second))
        if key not in item_of:
            prompt = prompts[key[0]]
            item_of[key] = len(items)
            items.append(
                Item(
                    study=study,
                    prompt=prompt,
                    first_response=response_of[runs[key[1]].pk, prompt.pk],
                    second_response=response_of[runs[key[2]].pk, prompt.pk],
                    sort_key=float(generator.random()),
                )
            )
    items = Item.objects.bulk_create(items, batch_size=5000)

    numbers = []
    for key in zip(synthetic.prompt.tolist(), synthetic.first.tolist(), synthetic.second.tolist(), strict=True):
        judgment_number[key] = judgment_number.get(key, -1) + 1
        numbers.append(judgment_number[key])
    user_model = get_user_model()
    users = user_model.objects.bulk_create(
        [user_model(username=f"annotator-{index}", password="!") for index in range(max(numbers) + 1)]
    )

    now = timezone.now()
    keys = list(zip(synthetic.prompt.tolist(), synthetic.first.tolist(), synthetic.second.tolist(), strict=True))
    assignments = Assignment.objects.bulk_create(
        [
            Assignment(
                item=items[item_of[key]],
                annotator=users[number],
                first_on_left=bool(left),
                status=AssignmentStatus.SUBMITTED,
                leased_at=now,
                expires_at=now,
            )
            for key, number, left in zip(keys, numbers, synthetic.first_on_left.tolist(), strict=True)
        ],
        batch_size=5000,
    )
    judgment_rows = Judgment.objects.bulk_create(
        [
            Judgment(
                assignment=assignment,
                item=assignment.item,
                annotator=assignment.annotator,
                first_on_left=assignment.first_on_left,
            )
            for assignment in assignments
        ],
        batch_size=5000,
    )
    answers = []
    for judgment, result in zip(judgment_rows, synthetic.result.tolist(), strict=True):
        item = judgment.item
        if result == 0:
            answers.append(
                CriterionAnswer(judgment=judgment, criterion=criterion, outcome=Outcome.WIN, winner=item.first_response)
            )
        elif result == 1:
            answers.append(
                CriterionAnswer(
                    judgment=judgment, criterion=criterion, outcome=Outcome.WIN, winner=item.second_response
                )
            )
        else:
            outcome = Outcome.TIE if result == 2 else Outcome.BOTH_BAD
            answers.append(CriterionAnswer(judgment=judgment, criterion=criterion, outcome=outcome))
    CriterionAnswer.objects.bulk_create(answers, batch_size=5000)
    return study


def time_database(judgments: int, rounds: int) -> dict:
    from reports.answer_table import load_study_answers
    from reports.prompt_counts import judgment_sequences_from_outcomes, pairwise_outcomes, prompt_counts_from_outcomes
    from reports.ranking import ordered_systems, study_rankings

    with Stopwatch() as inserting:
        study = insert_study(judgments, np.random.default_rng(SEED))

    systems = ordered_systems(study)
    counted = {"include_surplus": False, "include_excluded": False}
    with Stopwatch() as reading:
        table = load_study_answers(study)
    with Stopwatch() as counting:
        outcomes = pairwise_outcomes(table, systems, **counted)
        prompt_counts_from_outcomes(outcomes)
    with Stopwatch() as sequencing:
        judgment_sequences_from_outcomes(outcomes)
    with Stopwatch() as ranking_time:
        (ranking,) = study_rankings(study, rounds=rounds, seed=SEED)

    return {
        "judgments": ranking.judgments,
        "prompts": ranking.prompts,
        "bulk insert (s)": inserting,
        "reading the answers (s)": reading,
        "counts from the answers (s)": counting,
        "judgment order for online Elo (s)": sequencing,
        f"study_rankings, {rounds} rounds, all in (s)": ranking_time,
    }


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    for row in rows:
        for key, value in row.items():
            if isinstance(value, int):
                value = f"{value:,}"
            print(f"  {key:<45} {value}")
        print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="Run small sizes only, to check that the script works.")
    arguments = parser.parse_args()
    settings = SMOKE_SETTINGS if arguments.smoke else FULL_SETTINGS

    with tempfile.TemporaryDirectory(prefix="humeval-report-bench-") as folder:
        set_up_throwaway_database(Path(folder))
        for line in machine_facts():
            print(line)
        print(f"{SYSTEMS} systems, {JUDGMENTS_PER_PROMPT} judgments per prompt, seed {SEED}")

        scale = [time_scale(judgments, settings["rounds"]) for judgments in settings["scale_judgments"]]
        print_table("Scale: ranking from counts made in numpy", scale)
        database = time_database(settings["database_judgments"], settings["rounds"])
        print_table("Queries: SQLite, judgments inserted with bulk_create", [database])
    return 0


if __name__ == "__main__":
    sys.exit(main())
