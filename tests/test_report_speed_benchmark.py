"""The report speed benchmark still runs, in its short --smoke mode."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parent.parent


def test_report_speed_smoke():
    result = subprocess.run(
        [sys.executable, "benchmarks/report_speed.py", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "full report (build_study_report)" in result.stdout
    assert "report page, second view (cached)" in result.stdout
    assert "CSV export of every judgment" in result.stdout
    assert "point estimate and 10 rounds" in result.stdout
    assert "published, CPU: baseline with 10 rounds / full report with 50" in result.stdout
    assert "tuned, CPU: baseline with 10 rounds / full report with 50" in result.stdout
    assert re.search(r"^  rows +2,000 ", result.stdout, re.MULTILINE)
    # The baseline and humeval fit the same maximum-likelihood ratings, by different optimisers.
    for kind in ("published", "tuned"):
        difference = re.search(rf"{kind}: largest rating difference from humeval, Elo points +(\S+)", result.stdout)
        assert difference, kind
        assert float(difference.group(1)) < 0.1, kind
