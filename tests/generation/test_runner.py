"""Generation runs on the real packaged chat model: commands, resuming, failures."""

import pytest
from django.core.management import CommandError, call_command

from generation.models import GenerationRun, LanguageModel, Response, RunStatus
from generation.packaged import smollm2_gguf_path
from generation.runner import MultiTurnUnsupported, RunNotClaimable, claim_run, execute_run
from tests.factories import make_prompt_set

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.timeout(900)]


class CrashAfterFirstBatch:
    """Wraps a real backend and raises on its second batch, as a killed worker would."""

    def __init__(self, backend):
        self.backend = backend
        self.batches = 0

    def generate(self, requests):
        self.batches += 1
        if self.batches > 1:
            raise RuntimeError("simulated crash")
        return self.backend.generate(requests)


@pytest.fixture
def smollm_model():
    path = smollm2_gguf_path()
    return LanguageModel.objects.create(name="Qorvath-Chat", source=str(path.parent), gguf_file=path.name)


def make_run(model, **fields):
    prompt_set = make_prompt_set(prompts=("Say hi.", "说你好。", "Name a fruit.", "Name a tree."))
    return GenerationRun.objects.create(model=model, prompt_set=prompt_set, max_new_tokens=4, batch_size=2, **fields)


def test_run_stores_every_response(smollm_model, smollm):
    run = make_run(smollm_model)
    seen = []

    execute_run(run.pk, on_progress=lambda done, total: seen.append((done, total)), backend=smollm)

    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert run.responses.count() == 4
    assert seen[-1] == (4, 4)
    for response in run.responses.all():
        assert 0 < response.token_count <= 4
        assert response.finish_reason in {"stop", "length"}


def test_rerun_after_crash_answers_only_missing(smollm_model, smollm):
    run = make_run(smollm_model)

    with pytest.raises(RuntimeError, match="simulated crash"):
        execute_run(run.pk, backend=CrashAfterFirstBatch(smollm))
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "simulated crash" in run.error
    first_batch = set(run.responses.values_list("pk", "text"))
    assert len(first_batch) == 2

    counting = CrashAfterFirstBatch(smollm)
    execute_run(run.pk, backend=counting)

    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert counting.batches == 1
    assert run.responses.count() == 4
    assert first_batch <= set(run.responses.values_list("pk", "text"))


def test_running_run_cannot_be_claimed_twice(smollm_model):
    run = make_run(smollm_model)
    claim_run(run.pk)

    with pytest.raises(RunNotClaimable):
        claim_run(run.pk)


def test_redelivered_task_takes_over_its_run(smollm_model):
    run = make_run(smollm_model)
    claim_run(run.pk, task_id="task-1")

    with pytest.raises(RunNotClaimable):
        claim_run(run.pk, task_id="task-2")
    with pytest.raises(RunNotClaimable):
        claim_run(run.pk)
    taken = claim_run(run.pk, task_id="task-1")

    assert taken.status == RunStatus.RUNNING
    assert taken.worker_task_id == "task-1"


def test_prompt_limit_answers_first_prompts(smollm_model, smollm):
    run = make_run(smollm_model, prompt_limit=3)

    execute_run(run.pk, backend=smollm)

    positions = sorted(Response.objects.filter(run=run).values_list("prompt__position", flat=True))
    assert positions == [0, 1, 2]


def test_commands_register_and_generate(tmp_path):
    path = smollm2_gguf_path()
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"id": "a", "text": "Say hi."}\n{"id": "b", "text": "用中文说你好。"}\n', encoding="utf-8")

    call_command("add_model", "Plimsor-Chat", "--source", str(path.parent), "--gguf-file", path.name)
    call_command("import_prompts", str(prompts), "--prompt-set", "tiny")
    call_command(
        "generate", "--model", "Plimsor-Chat", "--prompt-set", "tiny", "--max-new-tokens", "4", "--batch-size", "2"
    )

    run = GenerationRun.objects.get(model__name="Plimsor-Chat")
    assert run.status == RunStatus.COMPLETED
    assert run.responses.count() == 2
    assert run.max_new_tokens == 4


def test_generate_with_missing_weights_fails_cleanly(tmp_path):
    (tmp_path / "weights").mkdir()
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"text": "Say hi."}\n', encoding="utf-8")
    call_command("add_model", "Broken-Weights", "--source", str(tmp_path / "weights"))
    call_command("import_prompts", str(prompts), "--prompt-set", "one")

    with pytest.raises(CommandError, match="failed"):
        call_command("generate", "--model", "Broken-Weights", "--prompt-set", "one")

    run = GenerationRun.objects.get()
    assert run.status == RunStatus.FAILED
    assert run.error
    assert not run.responses.exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--source", "/no/such/folder"], "is not a folder"),
        (["--source", ".", "--gguf-file", "missing.gguf"], "is not in"),
        (["--source", ".", "--prompt-template", "no placeholder"], "must contain {prompt}"),
    ],
)
def test_add_model_rejects_bad_input(arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("add_model", "Bad-Model", *arguments)
    assert not LanguageModel.objects.exists()


def test_generate_names_unknown_model():
    make_prompt_set(name="known-set")

    with pytest.raises(CommandError, match="No model named 'ghost'"):
        call_command("generate", "--model", "ghost", "--prompt-set", "known-set")


def test_follow_up_turn_answered_in_context(smollm_model, smollm):
    prompt_set = make_prompt_set(prompts=("Name a colour.",))
    prompt_set.prompts.update(follow_up_turns=["Now name another one."])
    run = GenerationRun.objects.create(model=smollm_model, prompt_set=prompt_set, max_new_tokens=4)

    execute_run(run.pk, backend=smollm)

    response = run.responses.get()
    assert response.text.strip()
    assert len(response.follow_up_texts) == 1
    assert response.follow_up_texts[0].strip()
    assert response.token_count > 4


def test_base_model_rejects_follow_up_turns():
    prompt_set = make_prompt_set(prompts=("Name a colour.",))
    prompt_set.prompts.update(follow_up_turns=["Another?"])
    model = LanguageModel.objects.create(
        name="Base-Only", source="/nonexistent", use_chat_template=False, prompt_template="Q: {prompt}\nA:"
    )
    run = GenerationRun.objects.create(model=model, prompt_set=prompt_set)

    with pytest.raises(MultiTurnUnsupported, match="--first-turn-only"):
        execute_run(run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED


def test_resume_answers_only_missing(smollm_model, smollm):
    run = make_run(smollm_model)
    with pytest.raises(RuntimeError, match="simulated crash"):
        execute_run(run.pk, backend=CrashAfterFirstBatch(smollm))
    first_batch = set(run.responses.values_list("pk", "text"))

    call_command("generate", "--resume", str(run.uuid))

    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert run.responses.count() == 4
    assert first_batch <= set(run.responses.values_list("pk", "text"))
    assert run.generated_seconds > 0


def test_resume_rejects_running_run(smollm_model):
    run = make_run(smollm_model)
    claim_run(run.pk, task_id="live-task")

    with pytest.raises(CommandError, match=r"is running .* pass --force"):
        call_command("generate", "--resume", str(run.uuid))

    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert run.worker_task_id == "live-task"
    assert not run.responses.exists()


def test_resume_force_takes_over_running_run(smollm_model):
    run = make_run(smollm_model, prompt_limit=2)
    claim_run(run.pk, task_id="dead-task")

    call_command("generate", "--resume", str(run.uuid), "--force")

    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert run.worker_task_id == ""
    assert run.responses.count() == 2


def test_resume_sets_batch_size(smollm_model):
    run = make_run(smollm_model, prompt_limit=1)

    call_command("generate", "--resume", str(run.uuid), "--batch-size", "1")

    run.refresh_from_db()
    assert run.batch_size == 1
    assert run.status == RunStatus.COMPLETED


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--model", "Qorvath-Chat"], "cannot be combined with --model"),
        (["--prompt-set", "any", "--max-new-tokens", "8"], "cannot be combined with --prompt-set, --max-new-tokens"),
    ],
)
def test_resume_excludes_run_settings(smollm_model, arguments, message):
    run = make_run(smollm_model)

    with pytest.raises(CommandError, match=message):
        call_command("generate", "--resume", str(run.uuid), *arguments)
    run.refresh_from_db()
    assert run.status == RunStatus.PENDING


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--resume", "not-a-uuid"], "not a valid UUID"),
        (["--resume", "00000000-0000-0000-0000-000000000000"], "No generation run with UUID"),
        (["--model", "Qorvath-Chat"], "--model and --prompt-set are required unless --resume is given"),
        (["--model", "Qorvath-Chat", "--prompt-set", "any", "--force"], "--force applies only with --resume"),
    ],
)
def test_generate_rejects_bad_resume_options(arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("generate", *arguments)
