import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from generation.lookup import NotFound, get_by_name
from generation.models import GenerationRun, LanguageModel, PromptSet, RunStatus
from generation.runner import RunNotClaimable, execute_run
from generation.tasks import generate_run
from generation.validators import (
    validate_max_new_tokens,
    validate_repetition_penalty,
    validate_temperature,
    validate_top_p,
)


class Command(BaseCommand):
    help = (
        "Answer a prompt set with a model. Runs in this process when Celery is in eager mode, "
        "otherwise queues the run for a worker. A rerun answers only the prompts still missing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True, help="Model name or UUID.")
        parser.add_argument("--prompt-set", required=True, help="Prompt set name or UUID.")
        parser.add_argument("--label", default="", help="Variant label that tells runs of one model apart.")
        parser.add_argument("--max-new-tokens", type=int, help="Default: the model's setting.")
        parser.add_argument("--temperature", type=float, help="0 is greedy. Default: the model's setting.")
        parser.add_argument("--top-p", type=float, help="Default: the model's setting.")
        parser.add_argument("--seed", type=int, help="Default: the model's setting.")
        parser.add_argument("--batch-size", type=int, default=8, help="Prompts per forward pass.")
        parser.add_argument("--limit", type=int, help="Answer only the first N prompts of the set.")
        parser.add_argument("--wait", action="store_true", help="With a real worker, wait and show progress.")

    def handle(self, *args, **options):
        try:
            model = get_by_name(LanguageModel, options["model"])
            prompt_set = get_by_name(PromptSet, options["prompt_set"])
        except NotFound as exc:
            raise CommandError(str(exc)) from exc
        for option in ("batch_size", "limit", "max_new_tokens"):
            if options[option] is not None and options[option] < 1:
                raise CommandError(f"--{option.replace('_', '-')} must be at least 1.")

        run = self._get_or_create_run(model, prompt_set, options)
        if settings.CELERY_TASK_ALWAYS_EAGER:
            self._execute_here(run)
        else:
            generate_run.delay(run.pk)
            self.stdout.write(f"Queued generation run {run.uuid}.")
            if options["wait"]:
                self._follow(run)

    def _get_or_create_run(self, model, prompt_set, options):
        decoding = {
            "temperature": _pick(options["temperature"], model.temperature),
            "top_p": _pick(options["top_p"], model.top_p),
            "max_new_tokens": _pick(options["max_new_tokens"], model.max_new_tokens),
            "repetition_penalty": model.repetition_penalty,
            "seed": _pick(options["seed"], model.seed),
        }
        _validate_decoding(decoding)
        run, created = GenerationRun.objects.get_or_create(
            model=model,
            prompt_set=prompt_set,
            label=options["label"],
            defaults={**decoding, "batch_size": options["batch_size"], "prompt_limit": options["limit"]},
        )
        if not created:
            changed = [key for key, value in decoding.items() if getattr(run, key) != value]
            if changed:
                raise CommandError(
                    f"Run {run.system_name!r} exists with other decoding settings ({', '.join(changed)}); "
                    "give a new --label for a new variant."
                )
            self.stdout.write(f"Resuming generation run {run.uuid} ({run.responses.count()} responses so far).")
        return run

    def _execute_here(self, run):
        bar = tqdm(total=len(run.prompts()), desc=run.system_name, unit="prompt", file=self.stderr._out)

        def show(done, total):
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            with logging_redirect_tqdm():
                run = execute_run(run.pk, on_progress=show)
        except RunNotClaimable as exc:
            raise CommandError(str(exc)) from exc
        except Exception as exc:
            # The runner has logged the traceback and stored the error on the run.
            raise CommandError(f"Generation run {run.uuid} failed: {exc}") from exc
        finally:
            bar.close()
        self.stdout.write(
            self.style.SUCCESS(f"Generation run {run.uuid} completed: {run.responses.count()} responses.")
        )

    def _follow(self, run):
        total = len(run.prompts())
        with tqdm(total=total, desc=run.system_name, unit="prompt", file=self.stderr._out) as bar:
            while True:
                run.refresh_from_db()
                bar.n = run.responses.count()
                bar.refresh()
                if run.status in (RunStatus.COMPLETED, RunStatus.FAILED):
                    break
                time.sleep(2)
        if run.status == RunStatus.FAILED:
            raise CommandError(f"Generation run {run.uuid} failed: {run.error}")


def _validate_decoding(decoding):
    validators = {
        "temperature": validate_temperature,
        "top_p": validate_top_p,
        "max_new_tokens": validate_max_new_tokens,
        "repetition_penalty": validate_repetition_penalty,
    }
    for key, validate in validators.items():
        try:
            validate(decoding[key])
        except ValidationError as exc:
            raise CommandError(f"--{key.replace('_', '-')} {decoding[key]}: {' '.join(exc.messages)}") from exc


def _pick(value, default):
    return default if value is None else value
