from django.core.management.base import BaseCommand, CommandError

from generation.benchmarks.catalog import parse_shots
from generation.benchmarks.importing import ScoreImportError, import_score_files


class Command(BaseCommand):
    help = (
        "Import benchmark scores computed elsewhere: lm-evaluation-harness results files (results_<time>.json) "
        "or OpenCompass summary CSVs (one column per model). All files are checked first; on any error nothing "
        "is stored. Scores replace earlier ones of the same model, task and shot count."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE", help="Results JSON or summary CSV files.")
        parser.add_argument(
            "--model",
            help="Registered model the scores belong to. Required for lm-evaluation-harness files; for an "
            "OpenCompass summary with one model column, names that column's model.",
        )
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="COLUMN=MODEL",
            help="OpenCompass: the registered model of a model column; repeat for several. Columns named like a "
            "registered model need none.",
        )
        parser.add_argument(
            "--only-mapped", action="store_true", help="OpenCompass: skip model columns with no registered model."
        )
        parser.add_argument(
            "--shots",
            default="",
            help="Shot counts where the file has none (OpenCompass summaries never do): N for every task, or "
            "TASK=N,... per task.",
        )

    def handle(self, *args, **options):
        column_map = {}
        for pair in options["map"]:
            column, separator, model = pair.partition("=")
            if not separator or not column.strip() or not model.strip():
                raise CommandError(f"--map {pair!r}: expected COLUMN=MODEL.")
            column_map[column.strip()] = model.strip()
        try:
            default_shots, shots = parse_shots(options["shots"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

        try:
            imported = import_score_files(
                options["files"],
                model_name=options["model"],
                column_map=column_map,
                shots=shots,
                default_shots=default_shots,
                only_mapped=options["only_mapped"],
            )
        except ScoreImportError as exc:
            raise CommandError(str(exc)) from exc
        for item in imported:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{item.path}: stored {item.count} scores for {item.model.name} ({', '.join(item.tasks)})."
                )
            )
