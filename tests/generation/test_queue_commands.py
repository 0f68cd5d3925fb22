"""Worker queues on the command line: `add_model --worker-queue` and what `generate` does with a broker.

The runs here are not executed: the task that would go to the broker is
captured at commit. tests/queue/test_routing.py runs real workers.
"""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from generation.models import GenerationRun, LanguageModel, RunStatus
from tests.factories import make_prompt_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def with_broker(settings):
    """Take `generate` out of eager mode, as a configured CELERY_BROKER_URL does."""
    settings.CELERY_TASK_ALWAYS_EAGER = False


def test_add_model_stores_worker_queue(tmp_path):
    call_command("add_model", "Trevalic-Chat", "--source", str(tmp_path), "--worker-queue", "gpu-80gb")

    assert LanguageModel.objects.get(name="Trevalic-Chat").worker_queue == "gpu-80gb"


def test_add_model_rejects_bad_queue_name(tmp_path):
    with pytest.raises(CommandError, match="worker_queue: A worker queue name uses letters, digits"):
        call_command("add_model", "Trevalic-Chat", "--source", str(tmp_path), "--worker-queue", "gpu 80gb")

    assert not LanguageModel.objects.exists()


def test_generate_queues_on_model_queue(with_broker, django_capture_on_commit_callbacks):
    LanguageModel.objects.create(name="Trevalic-Chat", source="/nonexistent/weights", worker_queue="gpu-a")
    prompt_set = make_prompt_set()
    out = StringIO()

    with django_capture_on_commit_callbacks() as callbacks:
        call_command("generate", "--model", "Trevalic-Chat", "--prompt-set", prompt_set.name, stdout=out)

    run = GenerationRun.objects.get()
    assert f"Queued generation run {run.uuid} on queue gpu-a." in out.getvalue()
    assert run.status == RunStatus.PENDING
    assert len(callbacks) == 1


def test_generate_names_default_queue(with_broker, django_capture_on_commit_callbacks):
    LanguageModel.objects.create(name="Trevalic-Chat", source="/nonexistent/weights")
    prompt_set = make_prompt_set()
    out = StringIO()

    with django_capture_on_commit_callbacks():
        call_command("generate", "--model", "Trevalic-Chat", "--prompt-set", prompt_set.name, stdout=out)

    assert "on the default queue." in out.getvalue()


def test_resume_marks_failed_run_pending(with_broker, django_capture_on_commit_callbacks):
    model = LanguageModel.objects.create(name="Trevalic-Chat", source="/nonexistent/weights", worker_queue="gpu-a")
    run = GenerationRun.objects.create(
        model=model, prompt_set=make_prompt_set(), status=RunStatus.FAILED, error="RuntimeError: earlier attempt"
    )

    with django_capture_on_commit_callbacks() as callbacks:
        call_command("generate", "--resume", str(run.uuid), stdout=StringIO())

    # Pending until a worker claims it, so `--wait` does not stop at the earlier attempt's status.
    run.refresh_from_db()
    assert run.status == RunStatus.PENDING
    assert len(callbacks) == 1
