"""Create generation runs; shared by the `generate` command and the REST API.

A new run copies the decoding defaults of its model, with any overrides
applied, and is identified by (model, prompt set, variant label). Starting
and resuming runs is `generation.run_start`, which goes through
`generation.dispatch.start_run`.
"""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from generation.models import Backend, GenerationRun, LanguageModel, PromptSet
from generation.validators import (
    validate_max_new_tokens,
    validate_repetition_penalty,
    validate_temperature,
    validate_top_p,
)

DEFAULT_BATCH_SIZE = 8

# Run settings that default to the model's and may be overridden per run.
DECODING_FIELDS = ("temperature", "top_p", "max_new_tokens", "repetition_penalty", "seed")

_DECODING_VALIDATORS = {
    "temperature": validate_temperature,
    "top_p": validate_top_p,
    "max_new_tokens": validate_max_new_tokens,
    "repetition_penalty": validate_repetition_penalty,
}


class RunSettingError(Exception):
    """A setting of a new run is invalid; `field` names it and `value` is what was given."""

    def __init__(self, field: str, value, message: str):
        self.field = field
        self.value = value
        self.message = message
        super().__init__(f"{field} {value!r}: {message}")


class RunSettingsConflict(Exception):
    """A run with that model, prompt set and label exists with other decoding settings."""

    def __init__(self, run: GenerationRun, changed: list[str]):
        self.run = run
        self.changed = changed
        super().__init__(
            _("Run %(run)s exists with other decoding settings (%(fields)s); give a new label for a new variant.")
            % {"run": repr(run.system_name), "fields": ", ".join(changed)}
        )


def decoding_settings(model: LanguageModel, overrides: dict | None = None) -> dict:
    """Return the decoding settings of a new run: the model's defaults, replaced by each override that is not None.

    Raises RunSettingError for the first invalid value.
    """
    overrides = overrides or {}
    unknown = set(overrides) - set(DECODING_FIELDS)
    if unknown:
        raise ValueError(f"Unknown decoding settings {sorted(unknown)}; use {DECODING_FIELDS}.")

    settings = {}
    for field in DECODING_FIELDS:
        value = overrides.get(field)
        settings[field] = getattr(model, field) if value is None else value
    for field, validate in _DECODING_VALIDATORS.items():
        try:
            validate(settings[field])
        except ValidationError as exc:
            raise RunSettingError(field, settings[field], " ".join(exc.messages)) from exc
    return settings


def get_or_create_run(
    model: LanguageModel,
    prompt_set: PromptSet,
    *,
    label: str = "",
    overrides: dict | None = None,
    batch_size: int | None = None,
    prompt_limit: int | None = None,
) -> tuple[GenerationRun, bool]:
    """Return the run of `model` on `prompt_set` with variant `label`, creating it when missing, and whether it is new.

    An existing run keeps its own settings; RunSettingsConflict is raised
    when its decoding differs from what the arguments ask for. RunSettingError
    is raised for an invalid value, or for a model whose answers can only be
    imported.
    """
    if model.backend == Backend.IMPORTED:
        raise RunSettingError(
            "model",
            model.name,
            _("Model %(name)s has the imported backend, so it cannot generate; import its answers instead.")
            % {"name": repr(model.name)},
        )
    for field, value in (("batch_size", batch_size), ("prompt_limit", prompt_limit)):
        if value is not None and value < 1:
            raise RunSettingError(field, value, _("Must be at least 1."))
    decoding = decoding_settings(model, overrides)

    run, created = GenerationRun.objects.get_or_create(
        model=model,
        prompt_set=prompt_set,
        label=label,
        defaults={
            **decoding,
            "batch_size": DEFAULT_BATCH_SIZE if batch_size is None else batch_size,
            "prompt_limit": prompt_limit,
        },
    )
    if not created:
        changed = [field for field, value in decoding.items() if getattr(run, field) != value]
        if changed:
            raise RunSettingsConflict(run, changed)
    return run, created
