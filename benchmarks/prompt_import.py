"""Time `manage.py import_prompts` on a large JSONL and a large CSV file.

The script writes N prompts (English and Chinese, with ids, categories and
languages) to a JSONL and a CSV file in a temporary folder, then imports each
into a fresh SQLite database through the real command, in a subprocess, and
prints the wall time and prompts per second.

Usage, from the repository root:

    python benchmarks/prompt_import.py             # 100,000 prompts
    python benchmarks/prompt_import.py --prompts 1000
"""

import argparse
import csv
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_files(folder: Path, count: int) -> tuple[Path, Path]:
    rows = [
        {
            "id": f"p{number}",
            "category": ("writing", "coding", "reasoning", "knowledge")[number % 4],
            "language": "zh-Hans" if number % 3 == 0 else "en",
            "text": (
                f"第 {number} 题：用三句话解释光合作用，并举一个例子。"
                if number % 3 == 0
                else f"Prompt {number}: explain in three sentences why the sky is blue, with one example."
            ),
        }
        for number in range(count)
    ]
    jsonl = folder / "prompts.jsonl"
    with jsonl.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    csv_path = folder / "prompts.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return jsonl, csv_path


def import_seconds(path: Path, folder: Path, name: str) -> float:
    """Import `path` into a fresh database under `folder`; return the command's wall time."""
    data_dir = folder / name
    data_dir.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(
        HUMEVAL_DATA_DIR=str(data_dir),
        HUMEVAL_SECRET_KEY=secrets.token_urlsafe(50),
        HUMEVAL_LOG_LEVEL="WARNING",
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    started = time.perf_counter()
    subprocess.run(
        [*manage, "import_prompts", str(path), "--prompt-set", name],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=100_000, help="Number of prompts per file (default 100,000).")
    args = parser.parse_args()
    if args.prompts < 1:
        parser.error("--prompts must be at least 1")

    load = os.getloadavg()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    with tempfile.TemporaryDirectory(prefix="humeval-import-") as name:
        folder = Path(name)
        jsonl, csv_path = write_files(folder, args.prompts)
        for path, label in ((jsonl, "jsonl"), (csv_path, "csv")):
            seconds = import_seconds(path, folder, label)
            megabytes = path.stat().st_size / 1e6
            print(
                f"{label}: {args.prompts} prompts ({megabytes:.1f} MB) imported in {seconds:.1f} s, "
                f"{args.prompts / seconds:,.0f} prompts/s (command start-up included)"
            )
    load = os.getloadavg()
    print(f"load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
