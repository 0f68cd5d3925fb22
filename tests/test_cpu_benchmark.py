"""The in-process CPU benchmark still runs, in its short --smoke mode, on PostgreSQL."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import missing_service

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parent.parent


def test_cpu_smoke_prints_every_figure():
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        missing_service("PostgreSQL: set DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/NAME to run")

    result = subprocess.run(
        [sys.executable, "benchmarks/annotation_cpu.py", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = result.stdout
    assert "2 annotators, 4 measured cycles" in output
    assert re.search(r"^Django handler CPU: +[\d.]+ ms per cycle \(mean\)$", output, re.MULTILINE), output
    assert re.search(r"^PostgreSQL backend CPU: +[\d.]+ ms per cycle$", output, re.MULTILINE), output
    assert re.search(r"^transactions committed: +[\d.]+ per cycle$", output, re.MULTILINE), output
    # A cycle is the task page and its submit. The submit redirects straight
    # to the next task page, so no request goes to the next-task address.
    assert re.search(r"^requests: +2\.00 per cycle$", output, re.MULTILINE), output
    for request in ("task page", "submit"):
        assert re.search(rf"^ *{request}: +\d+\.\d\d queries, median handler CPU", output, re.MULTILINE), output
    assert not re.search(r"^ *next: ", output, re.MULTILINE), output
