"""The annotation load benchmark still runs, in its short --smoke mode, on both set-ups."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import missing_service

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parent.parent


def _smoke(*arguments, env=None):
    result = subprocess.run(
        [sys.executable, "benchmarks/annotation_load.py", "--smoke", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_embedded_smoke_counts_every_cycle():
    output = _smoke("--setup", "embedded")

    assert "cycles: 12 in" in output
    assert "errors: 0" in output
    assert "lost: 0, duplicated: 0, over overlap: 0 (acknowledged 12," in output


def test_production_smoke_runs_gunicorn_on_postgresql():
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        missing_service("PostgreSQL: set DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/NAME to run")

    output = _smoke("--setup", "production", "--workers", "2", "--threads", "2")

    assert "gunicorn 2 workers x 2 threads, PostgreSQL" in output
    assert "lost: 0, duplicated: 0, over overlap: 0 (acknowledged 12," in output


def test_floor_smoke_runs_both_cycles():
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        missing_service("PostgreSQL: set DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/NAME to run")

    result = subprocess.run(
        [sys.executable, "benchmarks/request_floor.py", "--smoke", "--workers", "2", "--threads", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "round 1, floor: 12 cycles in" in result.stdout
    assert "round 1, humeval: 12 cycles in" in result.stdout
    assert "humeval judgments: lost 0, duplicated 0, over overlap 0 (acknowledged 12)" in result.stdout
    assert "humeval against the floor:" in result.stdout
