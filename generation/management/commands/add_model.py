from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from generation.models import Backend, Dtype, LanguageModel


def _unescape(value: str) -> str:
    """Turn the two-character sequences \\n and \\t typed in a shell into a newline and a tab."""
    return value.replace("\\n", "\n").replace("\\t", "\t")


class Command(BaseCommand):
    help = "Register a language model under study, or update the one with that name."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Unique name, used on the command line and in reports.")
        parser.add_argument(
            "--source",
            required=True,
            help="Local folder of the weights, or a hub id; for the openai backend, the model id the server serves.",
        )
        parser.add_argument("--gguf-file", default="", help="GGUF file name inside the source folder.")
        parser.add_argument("--revision", default="", help="Hub revision (branch, tag or commit).")
        parser.add_argument("--backend", default=Backend.TRANSFORMERS, choices=Backend.values)
        parser.add_argument(
            "--base-url",
            default="",
            help="API root of the server for the openai backend, up to and including /v1 "
            "(such as http://localhost:8000/v1); required with --backend openai.",
        )
        parser.add_argument("--dtype", default=Dtype.AUTO, choices=Dtype.values)
        parser.add_argument(
            "--prompt-template",
            default="",
            help="Template for a base model without a chat template; {prompt} marks the prompt. "
            "Setting it turns the chat template off.",
        )
        parser.add_argument("--stop", action="append", default=[], help="Stop string; repeat for several.")
        parser.add_argument("--temperature", type=float, default=0.0, help="Default temperature; 0 is greedy.")
        parser.add_argument("--top-p", type=float, default=1.0)
        parser.add_argument("--max-new-tokens", type=int, default=256)
        parser.add_argument("--repetition-penalty", type=float, default=1.0)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--worker-queue",
            default="",
            help="Celery queue whose workers can hold this model, such as gpu-80gb. Start those workers with "
            "'celery -A humeval worker -Q QUEUE'. Default: the default queue.",
        )

    def handle(self, *args, **options):
        template = _unescape(options["prompt_template"])
        if template and "{prompt}" not in template:
            raise CommandError("--prompt-template must contain {prompt}, where the prompt text goes.")
        if options["gguf_file"] and Path(options["gguf_file"]).name != options["gguf_file"]:
            raise CommandError("--gguf-file must be a file name inside --source, not a path.")
        if options["backend"] == Backend.OPENAI and not options["base_url"]:
            raise CommandError(
                "--backend openai needs --base-url, the server's API root (such as http://localhost:8000/v1)."
            )
        source = options["source"]
        looks_local = source.startswith(("/", ".", "~")) or Path(source).exists()
        if options["backend"] == Backend.TRANSFORMERS and looks_local:
            folder = Path(source).expanduser()
            if not folder.is_dir():
                raise CommandError(f"--source {source!r} is not a folder; give the folder that contains the weights.")
            if options["gguf_file"] and not (folder / options["gguf_file"]).is_file():
                raise CommandError(f"--gguf-file {options['gguf_file']!r} is not in {folder}.")
            source = str(folder.resolve())

        fields = {
            "source": source,
            "gguf_file": options["gguf_file"],
            "revision": options["revision"],
            "backend": options["backend"],
            "base_url": options["base_url"],
            "dtype": options["dtype"],
            "use_chat_template": not template,
            "prompt_template": template,
            "stop_strings": [_unescape(stop) for stop in options["stop"]],
            "temperature": options["temperature"],
            "top_p": options["top_p"],
            "max_new_tokens": options["max_new_tokens"],
            "repetition_penalty": options["repetition_penalty"],
            "seed": options["seed"],
            "worker_queue": options["worker_queue"],
        }
        model = LanguageModel.objects.filter(name=options["name"]).first() or LanguageModel(name=options["name"])
        for key, value in fields.items():
            setattr(model, key, value)
        try:
            model.full_clean()
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            raise CommandError(f"Invalid model: {problems}") from exc
        created = model.pk is None
        model.save()
        verb = "Registered" if created else "Updated"
        self.stdout.write(self.style.SUCCESS(f"{verb} model {model.name!r} ({model.uuid})."))
