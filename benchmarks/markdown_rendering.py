"""Measure how long annotate.rendering.render_markdown takes on fenced code, with and without highlighting.

For each language and code size it renders one answer made of a single
fenced block twice: with the language named (highlighted by Pygments) and
without it (escaped only). It prints the median CPU time of --repeats runs
of each, in milliseconds, and their ratio, then the median wall time of the
highlighted render, plus the load average at the start. On a shared machine
the CPU time is the figure to compare, because rendering is single-threaded.

The highlighting budget in annotate/rendering.py (_MAX_HIGHLIGHTED_CHARACTERS)
is lifted for the run, so sizes above it are measured too.

Examples:
    python benchmarks/markdown_rendering.py --smoke
    python benchmarks/markdown_rendering.py --sizes 1000 5000 20000 100000 --repeats 7
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# One line per language, repeated to the requested size; each has keywords,
# names, strings, numbers and a comment, so every lexer does its usual work.
SAMPLE_LINES = {
    "python": "def scale(values, factor=2.5):  # keep order\n    return [v * factor for v in values if v != 'x']\n",
    "javascript": "function scale(values, factor = 2.5) { // keep order\n  return values.map(v => v * factor); }\n",
    "cpp": "int scale(const std::vector<int>& v, double f) { /* keep */ return v.size() * f + 0x1F; }\n",
}


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 5_000, 20_000, 100_000])
    parser.add_argument("--repeats", type=int, default=5, help="Runs per measurement; the median is printed.")
    parser.add_argument("--smoke", action="store_true", help="One small size and 2 repeats, for the test suite.")
    arguments = parser.parse_args()
    if arguments.smoke:
        arguments.sizes, arguments.repeats = [2_000], 2
    if arguments.repeats < 1 or any(size < 1 for size in arguments.sizes):
        parser.error("--sizes and --repeats must be positive integers")
    return arguments


def median_milliseconds(render, text, repeats) -> tuple[float, float]:
    """Return the median CPU time and the median wall time of `render(text)`, in milliseconds."""
    cpu_times, wall_times = [], []
    for _ in range(repeats):
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        render(text)
        cpu_times.append((time.process_time() - cpu_started) * 1000)
        wall_times.append((time.perf_counter() - wall_started) * 1000)
    return statistics.median(cpu_times), statistics.median(wall_times)


def main():
    arguments = parse_arguments()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humeval.settings")
    from annotate import rendering

    rendering._MAX_HIGHLIGHTED_CHARACTERS = sys.maxsize
    # The first highlight of a language loads its lexer; keep that out of the figures.
    for language in SAMPLE_LINES:
        rendering.render_markdown(f"```{language}\nx = 1\n```")

    print(f"load average at start: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    header = ["language".ljust(12), "characters".rjust(12), "highlighted CPU ms".rjust(20)]
    header += ["plain CPU ms".rjust(14), "ratio".rjust(8), "wall ms".rjust(10)]
    print("".join(header))
    for language, line in SAMPLE_LINES.items():
        for size in arguments.sizes:
            code = line * max(1, size // len(line))
            highlighted, wall = median_milliseconds(
                rendering.render_markdown, f"```{language}\n{code}```", arguments.repeats
            )
            plain, _wall = median_milliseconds(rendering.render_markdown, f"```\n{code}```", arguments.repeats)
            # process_time can read 0 for a very short plain render.
            ratio = f"{highlighted / plain:>7.0f}x" if plain > 0 else f"{'-':>8}"
            print(f"{language:<12}{len(code):>12}{highlighted:>20.1f}{plain:>14.2f}{ratio}{wall:>10.1f}")


if __name__ == "__main__":
    main()
