from django.core.management.base import BaseCommand, CommandError

from generation.prompt_import import PromptImportError, import_prompt_file


class Command(BaseCommand):
    help = "Import a prompt set from a JSONL or CSV file. The file is checked whole; on any error nothing is written."

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of a .jsonl or .csv file, UTF-8.")
        parser.add_argument("--prompt-set", required=True, help="Name of the new prompt set.")
        parser.add_argument("--language", default="", help="BCP 47 code for rows without a language, such as en.")
        parser.add_argument(
            "--first-turn-only", action="store_true", help="Keep only the first user turn of multi-turn prompts."
        )

    def handle(self, *args, **options):
        try:
            prompt_set = import_prompt_file(
                options["file"],
                options["prompt_set"],
                default_language=options["language"],
                first_turn_only=options["first_turn_only"],
            )
        except PromptImportError as exc:
            raise CommandError(str(exc)) from exc
        count = prompt_set.prompts.count()
        noun = "prompt" if count == 1 else "prompts"
        self.stdout.write(self.style.SUCCESS(f"Imported {count} {noun} into prompt set {prompt_set.name!r}."))
