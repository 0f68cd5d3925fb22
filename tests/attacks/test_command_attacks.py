"""Management commands and the generation runner given bad arguments or interrupted."""

import pytest
from django.core.management import CommandError, call_command

from generation.backends import GenerationOutput
from generation.models import GenerationRun, LanguageModel, PromptSet, RunStatus
from generation.runner import execute_run
from tests.factories import make_prompt_set

pytestmark = pytest.mark.django_db


class InterruptedBackend:
    """A backend that returns the first batch, then raises KeyboardInterrupt as Ctrl+C in `generate` would."""

    def __init__(self):
        self.batches = 0

    def generate(self, requests):
        self.batches += 1
        if self.batches > 1:
            raise KeyboardInterrupt
        return [GenerationOutput(text="ok", token_count=1, finish_reason="stop", latency_seconds=0.0) for _ in requests]


class EchoBackend:
    """A backend that returns a fixed text for every request, without loading a model."""

    def generate(self, requests):
        return [GenerationOutput(text="ok", token_count=1, finish_reason="stop", latency_seconds=0.0) for _ in requests]


def test_add_model_nan_temperature(tmp_path):
    """`add_model --temperature nan` ends in IntegrityError on SQLite and stores NaN on PostgreSQL."""
    with pytest.raises(CommandError, match="temperature"):
        call_command("add_model", "Nan-Model", "--source", str(tmp_path), "--temperature", "nan")


@pytest.mark.parametrize(
    "option, value",
    [("--temperature", "-3"), ("--top-p", "7"), ("--repetition-penalty", "-1")],
)
def test_add_model_out_of_range_decoding(tmp_path, option, value):
    """Decoding values that GenerationRequest rejects are stored and fail only after the model has loaded."""
    with pytest.raises(CommandError):
        call_command("add_model", "Bad-Decoding", "--source", str(tmp_path), option, value)


def test_interrupted_run_resumes():
    """After KeyboardInterrupt the run stays 'running' and every later execute_run raises RunNotClaimable."""
    prompt_set = make_prompt_set(prompts=("One.", "Two.", "Three."))
    model = LanguageModel.objects.create(name="Interrupted", source="/nonexistent/weights")
    run = GenerationRun.objects.create(model=model, prompt_set=prompt_set, max_new_tokens=2, batch_size=1)
    with pytest.raises(KeyboardInterrupt):
        execute_run(run.pk, backend=InterruptedBackend())

    resumed = execute_run(run.pk, backend=EchoBackend())

    assert resumed.status == RunStatus.COMPLETED
    assert resumed.responses.count() == 3


def test_follow_up_turns_answered(tmp_path):
    """An imported multi-turn prompt gets no answer to its later turns, so annotators see them empty."""
    path = tmp_path / "turns.jsonl"
    path.write_text('{"id": "q1", "turns": ["First question?", "And a follow-up?"]}\n', encoding="utf-8")
    call_command("import_prompts", str(path), "--prompt-set", "multi-turn")
    model = LanguageModel.objects.create(name="Two-Turns", source="/nonexistent/weights")
    prompt_set = PromptSet.objects.get(name="multi-turn")
    run = GenerationRun.objects.create(model=model, prompt_set=prompt_set, max_new_tokens=2)

    execute_run(run.pk, backend=EchoBackend())

    response = run.responses.get()
    assert response.follow_up_texts == ["ok"]
