import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from annotate import demo
from annotate.errors import StudyNotReady
from generation.backends import load_backend
from generation.packaged import PackagedModelMissing
from generation.runner import execute_run, model_config


class Command(BaseCommand):
    help = (
        "Build the demo: accounts admin and annotator1-3, the humeval-core prompts, answers generated "
        "live by small packaged models, and an open pairwise and rating study. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--quick", action="store_true", help="A handful of prompts and short answers, for tests.")

    def handle(self, *args, **options):
        size = demo.QUICK if options["quick"] else demo.FULL
        started = time.monotonic()
        annotators = demo.create_accounts(settings.DEMO_PASSWORD)
        prompt_set = demo.import_prompt_sets()
        try:
            smollm, gemma = demo.register_models()
        except PackagedModelMissing as exc:
            raise CommandError(str(exc)) from exc
        runs = demo.create_runs(prompt_set, smollm, gemma, size)

        pending = [run for run in runs if run.responses.count() < len(run.prompts())]
        if pending:
            self.stdout.write(
                f"Generating answers to {size.prompts} prompts with {len(pending)} systems "
                f"(up to {size.max_new_tokens} new tokens each, on {self._device()}). "
                f"Progress moves once per batch of {size.batch_size} prompts."
            )
        else:
            self.stdout.write("All demo answers exist already; nothing to generate.")
        loaded = {}
        for run in pending:
            backend = loaded.get(run.model_id)
            if backend is None:
                backend = load_backend(model_config(run.model), batch_size=run.batch_size, data_dir=settings.DATA_DIR)
                # Keep one model in memory at a time.
                loaded = {run.model_id: backend}
            self._generate(run, backend)

        try:
            studies = demo.create_studies(prompt_set, runs, annotators)
        except StudyNotReady as exc:
            raise CommandError(str(exc)) from exc
        minutes = (time.monotonic() - started) / 60
        self.stdout.write(self.style.SUCCESS(f"Demo ready in {minutes:.1f} min."))
        for study in studies:
            self.stdout.write(f"  {study.kind} study {study.name!r}: {study.items.count()} items")

    def _generate(self, run, backend):
        bar = tqdm(total=len(run.prompts()), desc=f"{run.system_name:<28}", unit="prompt", file=self.stderr._out)

        def show(done, total):
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            # Log lines go above the bar instead of breaking it.
            with logging_redirect_tqdm():
                execute_run(run.pk, on_progress=show, backend=backend)
        finally:
            bar.close()

    @staticmethod
    def _device():
        import torch

        return "GPU" if torch.cuda.is_available() else "CPU"
