import time
import uuid

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from generation.dispatch import queue_name
from generation.lookup import NotFound, get_by_name
from generation.models import GenerationRun, LanguageModel, PromptSet, RunStatus
from generation.progress import format_duration, run_progress
from generation.run_start import begin_attempt
from generation.runner import RunNotClaimable, execute_run
from generation.runs import DEFAULT_BATCH_SIZE, RunSettingError, RunSettingsConflict, get_or_create_run

# Options that describe a new run; a resumed run keeps the settings it was created with.
RUN_SETTING_OPTIONS = ("model", "prompt_set", "label", "max_new_tokens", "temperature", "top_p", "seed", "limit")

# tqdm's own rate and remaining time would count the responses of earlier
# attempts as produced now, so the postfix shows the run's stored figures instead.
BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"


class Command(BaseCommand):
    help = (
        "Answer a prompt set with a model. Runs in this process when Celery is in eager mode, "
        "otherwise sends the run to its model's worker queue. A rerun answers only the prompts still missing. "
        "--resume RUN restarts one existing run by its UUID."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", help="Model name or UUID. Required unless --resume is given.")
        parser.add_argument("--prompt-set", help="Prompt set name or UUID. Required unless --resume is given.")
        parser.add_argument("--label", default="", help="Variant label that tells runs of one model apart.")
        parser.add_argument("--max-new-tokens", type=int, help="Default: the model's setting.")
        parser.add_argument("--temperature", type=float, help="0 is greedy. Default: the model's setting.")
        parser.add_argument("--top-p", type=float, help="Default: the model's setting.")
        parser.add_argument("--seed", type=int, help="Default: the model's setting.")
        parser.add_argument(
            "--batch-size",
            type=int,
            help=f"Prompts per forward pass (default {DEFAULT_BATCH_SIZE}). With --resume, replaces the run's setting.",
        )
        parser.add_argument("--limit", type=int, help="Answer only the first N prompts of the set.")
        parser.add_argument("--wait", action="store_true", help="With a real worker, wait and show progress.")
        parser.add_argument(
            "--resume",
            metavar="RUN",
            help="UUID of a generation run to restart; answers only its missing prompts with its own settings. "
            "Excludes --model, --prompt-set and the decoding options.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="With --resume, restart the run even though its status is running. Only for a run whose "
            "process died with no Celery worker left to redeliver its task.",
        )

    def handle(self, *args, **options):
        self._check_options(options)
        if options["resume"]:
            run = self._run_to_resume(options)
        else:
            try:
                model = get_by_name(LanguageModel, options["model"])
                prompt_set = get_by_name(PromptSet, options["prompt_set"])
            except NotFound as exc:
                raise CommandError(str(exc)) from exc
            run = self._get_or_create_run(model, prompt_set, options)

        if settings.CELERY_TASK_ALWAYS_EAGER:
            self._execute_here(run, force=options["force"])
        else:
            begin_attempt(run, force=options["force"])
            queue = f"queue {queue_name(run)}" if queue_name(run) else "the default queue"
            self.stdout.write(f"Queued generation run {run.uuid} on {queue}.")
            if options["wait"]:
                self._follow(run)

    def _check_options(self, options):
        if options["resume"]:
            conflicting = [f"--{name.replace('_', '-')}" for name in RUN_SETTING_OPTIONS if options[name]]
            if conflicting:
                raise CommandError(
                    f"--resume cannot be combined with {', '.join(conflicting)}: a resumed run keeps its own model, "
                    "prompt set and decoding settings. Give a new --label without --resume for a new variant."
                )
        else:
            if options["force"]:
                raise CommandError("--force applies only with --resume.")
            if not options["model"] or not options["prompt_set"]:
                raise CommandError("--model and --prompt-set are required unless --resume is given.")
        for option in ("batch_size", "limit", "max_new_tokens"):
            if options[option] is not None and options[option] < 1:
                raise CommandError(f"--{option.replace('_', '-')} must be at least 1.")

    def _run_to_resume(self, options):
        value = options["resume"]
        try:
            run_uuid = uuid.UUID(value)
        except ValueError:
            raise CommandError(f"--resume takes a generation run UUID; {value!r} is not a valid UUID.") from None
        try:
            run = GenerationRun.objects.select_related("model", "prompt_set").get(uuid=run_uuid)
        except GenerationRun.DoesNotExist:
            raise CommandError(f"No generation run with UUID {run_uuid}.") from None

        if run.status == RunStatus.RUNNING:
            if not options["force"]:
                raise CommandError(
                    f"Generation run {run.uuid} ({run.system_name}) is running (started at {run.started_at}, "
                    f"worker task {run.worker_task_id or 'none'}). If the process that ran it is dead and no Celery "
                    "worker will redeliver its task, pass --force to restart it."
                )
            self.stderr.write(
                f"Taking over generation run {run.uuid}, whose status is running, because --force is given."
            )
        if options["batch_size"] is not None and options["batch_size"] != run.batch_size:
            run.batch_size = options["batch_size"]
            run.save(update_fields=["batch_size"])

        progress = run_progress(run)
        self.stdout.write(
            f"Resuming generation run {run.uuid} ({run.system_name}): "
            f"{progress.done} of {progress.total} prompts answered."
        )
        return run

    def _get_or_create_run(self, model, prompt_set, options):
        overrides = {
            "temperature": options["temperature"],
            "top_p": options["top_p"],
            "max_new_tokens": options["max_new_tokens"],
            "seed": options["seed"],
        }
        try:
            run, created = get_or_create_run(
                model,
                prompt_set,
                label=options["label"],
                overrides=overrides,
                batch_size=options["batch_size"],
                prompt_limit=options["limit"],
            )
        except RunSettingError as exc:
            option = "--model" if exc.field == "model" else f"--{exc.field.replace('_', '-')}"
            raise CommandError(f"{option} {exc.value}: {exc.message}") from exc
        except RunSettingsConflict as exc:
            raise CommandError(f"{exc} Pass it with --label.") from exc
        if not created:
            self.stdout.write(f"Resuming generation run {run.uuid} ({run.responses.count()} responses so far).")
        return run

    def _execute_here(self, run, force=False):
        bar = self._progress_bar(run)

        def show(done, total):
            bar.total = total
            bar.n = done
            bar.set_postfix_str(_speed_and_time_left(run), refresh=False)
            bar.refresh()

        try:
            with logging_redirect_tqdm():
                run = execute_run(run.pk, on_progress=show, force=force)
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

    def _progress_bar(self, run):
        return tqdm(
            total=len(run.prompts()), desc=run.system_name, unit="prompt", file=self.stderr._out, bar_format=BAR_FORMAT
        )

    def _follow(self, run):
        with self._progress_bar(run) as bar:
            while True:
                run.refresh_from_db()
                bar.n = run.responses.count()
                bar.set_postfix_str(_speed_and_time_left(run), refresh=False)
                bar.refresh()
                if run.status in (RunStatus.COMPLETED, RunStatus.FAILED):
                    break
                time.sleep(2)
        if run.status == RunStatus.FAILED:
            raise CommandError(f"Generation run {run.uuid} failed: {run.error}")


def _speed_and_time_left(run):
    """Return "12.3 tokens/s, 0:04:10 left" for the bar's postfix, from the run's stored responses."""
    run.refresh_from_db(fields=["generated_seconds"])
    progress = run_progress(run)
    rate = progress.tokens_per_second
    seconds_left = progress.seconds_left
    speed = "- tokens/s" if rate is None else f"{rate:.1f} tokens/s"
    left = "- left" if seconds_left is None else f"{format_duration(seconds_left)} left"
    return f"{speed}, {left}"
