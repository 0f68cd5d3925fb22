"""Creating generation runs: the service that `manage.py generate` and the REST API share."""

import pytest
from django.core.management import CommandError, call_command

from generation.models import Backend, GenerationRun, LanguageModel
from generation.runs import RunSettingError, RunSettingsConflict, decoding_settings, get_or_create_run
from tests.factories import make_prompt_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def model():
    return LanguageModel.objects.create(
        name="Trevasc-Chat", source="/nonexistent/weights", temperature=0.7, top_p=0.9, max_new_tokens=64, seed=11
    )


def test_decoding_defaults_come_from_model(model):
    settings = decoding_settings(model, {"temperature": None, "max_new_tokens": 8})

    assert settings == {"temperature": 0.7, "top_p": 0.9, "max_new_tokens": 8, "repetition_penalty": 1.0, "seed": 11}


def test_decoding_zero_override_is_kept(model):
    """0 is a real temperature (greedy), not a missing value."""
    assert decoding_settings(model, {"temperature": 0.0})["temperature"] == 0.0


def test_decoding_rejects_invalid_value(model):
    with pytest.raises(RunSettingError) as raised:
        decoding_settings(model, {"top_p": 0})

    assert raised.value.field == "top_p"
    assert "Top p must be" in raised.value.message


def test_get_or_create_returns_existing_run(model):
    prompt_set = make_prompt_set()
    first, created = get_or_create_run(model, prompt_set, label="sampled", batch_size=2, prompt_limit=1)

    again, created_again = get_or_create_run(model, prompt_set, label="sampled")

    assert created and not created_again
    assert again.pk == first.pk
    assert (first.batch_size, first.prompt_limit, first.seed) == (2, 1, 11)


def test_get_or_create_rejects_other_decoding(model):
    prompt_set = make_prompt_set()
    get_or_create_run(model, prompt_set, label="sampled")

    with pytest.raises(RunSettingsConflict, match=r"other decoding settings \(temperature, seed\)"):
        get_or_create_run(model, prompt_set, label="sampled", overrides={"temperature": 1.0, "seed": 3})
    assert GenerationRun.objects.count() == 1


@pytest.mark.parametrize(("field", "value"), [("batch_size", 0), ("prompt_limit", 0)])
def test_get_or_create_rejects_counts_below_one(model, field, value):
    with pytest.raises(RunSettingError, match="at least 1"):
        get_or_create_run(model, make_prompt_set(), **{field: value})
    assert not GenerationRun.objects.exists()


def test_get_or_create_rejects_imported_model():
    model = LanguageModel.objects.create(name="Elsewhere", source="x", backend=Backend.IMPORTED)

    with pytest.raises(RunSettingError, match="imported backend") as raised:
        get_or_create_run(model, make_prompt_set())
    assert raised.value.field == "model"


def test_generate_command_names_bad_option(model):
    make_prompt_set(name="cmd-set")

    with pytest.raises(CommandError, match=r"^--temperature -1\.0: Temperature must be"):
        call_command("generate", "--model", "Trevasc-Chat", "--prompt-set", "cmd-set", "--temperature", "-1")
    assert not GenerationRun.objects.exists()


def test_generate_command_rejects_changed_decoding(model):
    prompt_set = make_prompt_set(name="cmd-set")
    get_or_create_run(model, prompt_set)

    with pytest.raises(CommandError, match=r"other decoding settings \(temperature\).*--label"):
        call_command("generate", "--model", "Trevasc-Chat", "--prompt-set", "cmd-set", "--temperature", "0.1")


def test_generate_command_rejects_imported_model():
    LanguageModel.objects.create(name="Elsewhere", source="x", backend=Backend.IMPORTED)
    make_prompt_set(name="cmd-set")

    with pytest.raises(CommandError, match="^--model Elsewhere: .*imported backend"):
        call_command("generate", "--model", "Elsewhere", "--prompt-set", "cmd-set")
    assert not GenerationRun.objects.exists()
