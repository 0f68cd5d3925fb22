"""The agreement benchmark still runs, in its short --smoke mode."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parent.parent


def test_agreement_scale_smoke():
    result = subprocess.run(
        [sys.executable, "benchmarks/agreement_scale.py", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "all figures, 50 rounds (s)" in result.stdout
    assert "package per round, 50 rounds, estimate (s)" in result.stdout
    assert "study_agreement_report, 50 rounds, all in (s)" in result.stdout
    assert "study_ratings, 50 rounds, all in (s)" in result.stdout
