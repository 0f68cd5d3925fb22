"""Start-up with bad configuration: each case must stop with a message naming the variable and no traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from humeval import env

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * 50


def run_manage(*args, **variables):
    """Run manage.py in a child process with `variables` added to a clean environment."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("HUMEVAL_", "DATABASE_URL"))}
    environment.update(variables)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_short_secret_key_file_rejected(tmp_path):
    """A one-character `secret_key` file is accepted as Django's secret key."""
    (tmp_path / "secret_key").write_text("x\n", encoding="utf-8")

    with pytest.raises(ImproperlyConfigured, match="secret_key"):
        env.read_secret_key("HUMEVAL_SECRET_KEY", tmp_path, allow_generated=False)


def test_unusable_data_dir_named(tmp_path):
    """A HUMEVAL_DATA_DIR that is a file gives 'OperationalError: unable to open database file' and a traceback."""
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("", encoding="utf-8")

    result = run_manage("migrate", "--noinput", HUMEVAL_DATA_DIR=str(not_a_folder), HUMEVAL_SECRET_KEY=GOOD_KEY)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "HUMEVAL_DATA_DIR" in result.stderr


def test_bad_log_level_named(tmp_path):
    """HUMEVAL_LOG_LEVEL=LOUD ends start-up with 'ValueError: Unable to configure root logger' and a traceback."""
    result = run_manage("check", HUMEVAL_DATA_DIR=str(tmp_path), HUMEVAL_SECRET_KEY=GOOD_KEY, HUMEVAL_LOG_LEVEL="LOUD")

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "HUMEVAL_LOG_LEVEL" in result.stderr


def test_unreachable_database_named(tmp_path):
    """DATABASE_URL pointing at a closed port on 127.0.0.1 prints psycopg2's traceback, not a configuration error."""
    result = run_manage(
        "migrate",
        "--noinput",
        HUMEVAL_DATA_DIR=str(tmp_path),
        HUMEVAL_SECRET_KEY=GOOD_KEY,
        DATABASE_URL="postgres://nobody:nothing@127.0.0.1:1/humeval",
    )

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "DATABASE_URL" in result.stderr


def test_static_url_before_collectstatic(tmp_path):
    """Outside tests every page is a 500 until collectstatic runs, though settings.py claims WhiteNoise covers it."""
    code = "from django.templatetags.static import static; print(static('css/humeval.css'))"

    result = run_manage("shell", "-c", code, HUMEVAL_DATA_DIR=str(tmp_path), HUMEVAL_SECRET_KEY=GOOD_KEY)

    assert result.returncode == 0, result.stderr[-500:]
    assert "css/humeval" in result.stdout
