"""Every model field and model name of the project's apps is translatable, so the admin shows it in zh-Hans too.

Without a verbose_name Django labels a field with its raw name, which no
catalogue can translate ("Leased at", "Run" in a Chinese admin).
"""

import pytest
from django.apps import apps
from django.utils.functional import Promise

APPS = ("annotate", "generation", "reports")

MODELS = [model for label in APPS for model in apps.get_app_config(label).get_models()]


def _declared_fields(model):
    """Return the fields a model declares: concrete or many-to-many, without reverse relations or the implicit id."""
    return [
        field for field in model._meta.get_fields() if (field.concrete or field.many_to_many) and not field.auto_created
    ]


def test_apps_have_models():
    assert MODELS


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
def test_model_names_are_translatable(model):
    for option in ("verbose_name", "verbose_name_plural"):
        value = getattr(model._meta, option)
        assert isinstance(value, Promise), f"{model._meta.label}: Meta.{option} {value!r} is not a lazy translation"


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
def test_field_labels_are_translatable(model):
    untranslated = [
        f"{model._meta.label}.{field.name} ({field.verbose_name!r})"
        for field in _declared_fields(model)
        if not isinstance(field.verbose_name, Promise)
    ]
    assert not untranslated, "fields without a lazy-translated verbose_name: " + ", ".join(untranslated)
