"""Fixtures that load the packaged models once per test session.

Loading goes through the GGUF cache under HUMEVAL_DATA_DIR, so only the
first run on a machine pays for the conversion.
"""

import pytest
from django.conf import settings

from generation.backends import ModelConfig, load_backend
from generation.packaged import (
    GEMMA3_PROMPT_TEMPLATE,
    GEMMA3_STOP_STRINGS,
    PackagedModelMissing,
    gemma3_gguf_path,
    smollm2_gguf_path,
)


def _packaged(path_function, *args):
    try:
        return path_function(*args)
    except PackagedModelMissing as exc:
        pytest.skip(f"{exc} (run 'make setup' to install the packaged models)")


@pytest.fixture(scope="session")
def smollm_config():
    path = _packaged(smollm2_gguf_path)
    return ModelConfig(name="SmolLM2-135M-Instruct", source=str(path.parent), gguf_file=path.name)


@pytest.fixture(scope="session")
def gemma_config():
    path = _packaged(gemma3_gguf_path, settings.DATA_DIR)
    return ModelConfig(
        name="Gemma-3-270M",
        source=str(path.parent),
        gguf_file=path.name,
        use_chat_template=False,
        prompt_template=GEMMA3_PROMPT_TEMPLATE,
        stop_strings=GEMMA3_STOP_STRINGS,
    )


@pytest.fixture(scope="session")
def smollm(smollm_config):
    return load_backend(smollm_config, batch_size=4, data_dir=settings.DATA_DIR)


@pytest.fixture(scope="session")
def gemma(gemma_config):
    return load_backend(gemma_config, batch_size=4, data_dir=settings.DATA_DIR)
