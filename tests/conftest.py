import os

import pytest

# Nothing in the suite may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pytest_configure(config):
    from django.conf import settings

    # WhiteNoise warns on every request when STATIC_ROOT is missing; tests
    # serve static files from the app folders and never run collectstatic.
    settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)


@pytest.fixture(autouse=True)
def _default_language():
    """End each test in the default language: a test client request activates the language it asks for and leaves it."""
    from django.utils import translation

    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _empty_cache():
    """Start each test with an empty cache, so log-in failures and API rate counts of one test never limit another."""
    from django.core.cache import cache

    cache.clear()
    yield
