"""Benchmark scripts still run, in their short --smoke mode."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent


def test_generation_throughput_smoke():
    result = subprocess.run(
        [sys.executable, "benchmarks/generation_throughput.py", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=850,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "tokens/s" in result.stdout
