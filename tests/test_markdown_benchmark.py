"""The Markdown rendering benchmark still runs in its --smoke mode and prints every figure."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(
    r"^(?P<language>\w+)\s+(?P<characters>\d+)\s+(?P<highlighted>[\d.]+)\s+(?P<plain>[\d.]+)"
    r"\s+(?P<ratio>\d+x|-)\s+(?P<wall>[\d.]+)$",
    re.MULTILINE,
)


@pytest.mark.timeout(120)
def test_markdown_rendering_smoke():
    result = subprocess.run(
        [sys.executable, "benchmarks/markdown_rendering.py", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    rows = {match["language"]: match for match in ROW.finditer(result.stdout)}
    assert sorted(rows) == ["cpp", "javascript", "python"], result.stdout
    for row in rows.values():
        assert 1_000 <= int(row["characters"]) <= 2_000, row.group(0)
        assert float(row["highlighted"]) > 0, row.group(0)
        assert float(row["wall"]) > 0, row.group(0)
    assert "load average at start" in result.stdout
