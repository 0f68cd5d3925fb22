from django.core.management.base import BaseCommand, CommandError

from generation.response_import import DEFAULT_LABEL, ResponseImportError, import_response_file


class Command(BaseCommand):
    help = (
        "Import answers made elsewhere as a completed generation run: JSONL, CSV, FastChat answer files "
        "or AlpacaEval model outputs. The file is checked whole; on any error nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of a .jsonl, .json or .csv file, UTF-8.")
        parser.add_argument(
            "--model", required=True, help="Name or UUID of a registered model (add_model NAME --backend imported)."
        )
        parser.add_argument("--prompt-set", required=True, help="Name or UUID of the prompt set the file answers.")
        parser.add_argument(
            "--label", default=DEFAULT_LABEL, help=f"Variant label of the new run (default: {DEFAULT_LABEL})."
        )

    def handle(self, *args, **options):
        try:
            result = import_response_file(
                options["file"], options["model"], options["prompt_set"], label=options["label"]
            )
        except ResponseImportError as exc:
            raise CommandError(str(exc)) from exc
        noun = "response" if result.imported == 1 else "responses"
        self.stdout.write(self.style.SUCCESS(f"Imported {result.imported} {noun} into run {result.run.system_name!r}."))
        if result.unanswered:
            prompt_set = result.run.prompt_set.name
            self.stdout.write(
                self.style.WARNING(
                    f"Warning: {result.unanswered} prompt(s) of prompt set {prompt_set!r} have no answer in the file."
                )
            )
