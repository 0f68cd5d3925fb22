"""Run progress: counts, tokens per second, time left, and the generation time the runner stores."""

import pytest
from django.urls import reverse

from generation.backends import GenerationOutput
from generation.models import GenerationRun, LanguageModel, RunStatus
from generation.progress import RunProgress, format_duration, run_progress, with_progress
from generation.runner import execute_run
from tests.factories import make_prompt_set, make_run

pytestmark = pytest.mark.django_db


class StepClock:
    """Clock that advances `step` seconds every time it is read."""

    def __init__(self, step):
        self.step = step
        self.now = 0.0

    def __call__(self):
        self.now += self.step
        return self.now


class FixedAnswers:
    """Backend stand-in that returns a three-token output for every request."""

    def __init__(self):
        self.calls = 0

    def generate(self, requests):
        self.calls += 1
        return [GenerationOutput("Fine.", 3, "stop", 0.0) for _ in requests]


@pytest.mark.parametrize(
    ("progress", "tokens_per_second", "seconds_left"),
    [
        (RunProgress(done=10, total=40, tokens=500, seconds=20.0), 25.0, 60.0),
        (RunProgress(done=40, total=40, tokens=800, seconds=32.0), 25.0, 0.0),
        (RunProgress(done=0, total=40, tokens=0, seconds=0.0), None, None),
        # Imported answers: responses but no generation time.
        (RunProgress(done=5, total=40, tokens=50, seconds=0.0), None, None),
    ],
)
def test_rate_and_time_left(progress, tokens_per_second, seconds_left):
    assert progress.tokens_per_second == tokens_per_second
    assert progress.seconds_left == seconds_left


@pytest.mark.parametrize(("seconds", "text"), [(0, "0:00:00"), (59.6, "0:01:00"), (3725, "1:02:05")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_run_progress_reads_stored_responses():
    run = make_run(make_prompt_set(prompts=("A?", "B?", "C?", "D?")))
    run.responses.filter(prompt__position__gte=2).delete()
    GenerationRun.objects.filter(pk=run.pk).update(generated_seconds=4.0)
    run.refresh_from_db()

    progress = run_progress(run)

    assert progress == RunProgress(done=2, total=4, tokens=10, seconds=4.0)
    assert progress.tokens_per_second == 2.5
    assert progress.seconds_left == 4.0


def test_annotated_progress_matches_queries():
    prompt_set = make_prompt_set(prompts=("A?", "B?", "C?"))
    make_run(prompt_set)
    limited = make_run(prompt_set)
    GenerationRun.objects.filter(pk=limited.pk).update(prompt_limit=2)
    make_prompt_set(prompts=("unanswered?",))

    for run in with_progress(GenerationRun.objects.all()):
        fresh = GenerationRun.objects.get(pk=run.pk)
        assert run_progress(run) == run_progress(fresh)
    assert run_progress(GenerationRun.objects.get(pk=limited.pk)).total == 2


def test_runner_adds_batch_time_across_attempts():
    prompt_set = make_prompt_set(prompts=("A?", "B?", "C?", "D?", "E?"))
    model = LanguageModel.objects.create(name="Vextral-Stub", source="/nonexistent/weights")
    run = GenerationRun.objects.create(model=model, prompt_set=prompt_set, prompt_limit=3, batch_size=2)

    execute_run(run.pk, backend=FixedAnswers(), clock=StepClock(1.5))
    run.refresh_from_db()
    # Two batches (2 + 1 prompts), each read the clock twice: 1.5 s per batch.
    assert run.generated_seconds == 3.0

    GenerationRun.objects.filter(pk=run.pk).update(prompt_limit=None)
    execute_run(run.pk, backend=FixedAnswers(), clock=StepClock(4.0))
    run.refresh_from_db()

    assert run.status == RunStatus.COMPLETED
    assert run.generated_seconds == 7.0
    progress = run_progress(run)
    assert progress == RunProgress(done=5, total=5, tokens=15, seconds=7.0)
    assert progress.tokens_per_second == 15 / 7.0


def test_run_admin_shows_progress(admin_client):
    run = make_run(make_prompt_set(prompts=("A?", "B?", "C?", "D?")))
    run.responses.filter(prompt__position=3).delete()
    GenerationRun.objects.filter(pk=run.pk).update(generated_seconds=6.0, status=RunStatus.RUNNING)

    listing = admin_client.get(reverse("admin:generation_generationrun_changelist"))
    change = admin_client.get(reverse("admin:generation_generationrun_change", args=[run.pk]))

    for page in (listing, change):
        assert page.status_code == 200
        assert "3/4" in page.text
        assert "2.5" in page.text
        assert "0:00:02" in page.text
