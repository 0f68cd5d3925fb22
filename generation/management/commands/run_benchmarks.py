import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from generation.benchmarks.catalog import DEFAULT_TASKS, UnknownBenchmark, default_shots, parse_shots
from generation.benchmarks.data import BenchmarkDataMissing
from generation.benchmarks.runner import (
    BenchmarkRunNotClaimable,
    BenchmarkSettingError,
    create_benchmark_run,
    execute_benchmark_run,
    start_benchmark_run,
)
from generation.lookup import NotFound, get_by_name
from generation.models import BenchmarkRun, LanguageModel, RunStatus


class Command(BaseCommand):
    help = (
        "Run lm-evaluation-harness benchmarks on a registered model and store the scores. Reads the documents "
        "that import_benchmark_data stored; loads the model once. Runs in this process when Celery is in eager "
        "mode, otherwise sends the run to the model's worker queue. Running a task again replaces its scores."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True, help="Model name or UUID.")
        parser.add_argument(
            "--tasks",
            default=",".join(DEFAULT_TASKS),
            help=f"Comma-separated lm-evaluation-harness task names (default: {','.join(DEFAULT_TASKS)}).",
        )
        parser.add_argument(
            "--shots",
            default="",
            help="Few-shot examples per prompt: N for every task, or TASK=N,... per task. Default: 5 for mmlu "
            "and triviaqa, 0 for the others.",
        )
        parser.add_argument(
            "--limit", type=float, help="Score only the first N documents of each task (below 1: that fraction)."
        )
        parser.add_argument("--batch-size", type=int, default=1, help="Requests per forward pass (default 1).")
        parser.add_argument(
            "--max-gen-toks", type=int, help="Cap on generated tokens per answer in generation tasks such as gsm8k."
        )
        parser.add_argument("--wait", action="store_true", help="With a real worker, wait and show progress.")

    def handle(self, *args, **options):
        try:
            model = get_by_name(LanguageModel, options["model"])
        except NotFound as exc:
            raise CommandError(str(exc)) from exc
        tasks = [task.strip() for task in options["tasks"].split(",") if task.strip()]
        try:
            every_task, per_task = parse_shots(options["shots"])
            shots = {task: every_task for task in tasks} if every_task is not None else {}
            shots.update(per_task)
            run = create_benchmark_run(
                model,
                tasks,
                shots=shots,
                limit=options["limit"],
                batch_size=options["batch_size"],
                max_gen_toks=options["max_gen_toks"],
            )
        except (ValueError, UnknownBenchmark, BenchmarkDataMissing) as exc:
            raise CommandError(str(exc)) from exc

        settings_line = ", ".join(f"{task} {run.shots.get(task, default_shots(task))}-shot" for task in run.tasks)
        self.stdout.write(f"Benchmark run {run.uuid} for {model.name}: {settings_line}.")
        if settings.CELERY_TASK_ALWAYS_EAGER:
            self._execute_here(run)
        else:
            start_benchmark_run(run)
            queue = f"queue {model.worker_queue}" if model.worker_queue else "the default queue"
            self.stdout.write(f"Queued benchmark run {run.uuid} on {queue}.")
            if options["wait"]:
                self._follow(run)

    def _execute_here(self, run):
        bar = tqdm(total=len(run.tasks), desc=run.model.name, unit="task", file=self.stderr._out)

        def show(done, total, current):
            bar.n = done
            bar.set_postfix_str(current, refresh=False)
            bar.refresh()

        try:
            with logging_redirect_tqdm():
                run = execute_benchmark_run(run.pk, on_progress=show)
        except BenchmarkRunNotClaimable as exc:
            raise CommandError(str(exc)) from exc
        except (BenchmarkSettingError, BenchmarkDataMissing) as exc:
            raise CommandError(str(exc)) from exc
        except Exception as exc:
            # The runner has logged the traceback and stored the error on the run.
            raise CommandError(f"Benchmark run {run.uuid} failed: {exc}") from exc
        finally:
            bar.close()
        self._report(run)

    def _follow(self, run):
        with tqdm(total=len(run.tasks), desc=run.model.name, unit="task", file=self.stderr._out) as bar:
            while True:
                run.refresh_from_db()
                bar.n = run.tasks_done
                bar.set_postfix_str(run.current_task, refresh=False)
                bar.refresh()
                if run.status in (RunStatus.COMPLETED, RunStatus.FAILED):
                    break
                time.sleep(2)
        if run.status == RunStatus.FAILED:
            raise CommandError(f"Benchmark run {run.uuid} failed: {run.error}")
        self._report(run)

    def _report(self, run: BenchmarkRun):
        self.stdout.write(self.style.SUCCESS(f"Benchmark run {run.uuid} completed."))
        for result in run.results.filter(task__in=run.tasks).order_by("task", "metric", "filter"):
            stderr = "" if result.stderr is None else f" ± {result.stderr:.4f}"
            self.stdout.write(
                f"  {result.task} {result.shots}-shot {result.metric},{result.filter}: {result.value:.4f}{stderr} "
                f"({result.sample_count} documents)"
            )
        self.stdout.write(f"Results files: {run.results_file.rsplit('/', 1)[0] if run.results_file else '-'}")
