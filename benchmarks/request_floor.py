"""Compare humeval's annotator cycle with the least any cycle costs in the same stack.

An annotator's cycle is two requests: open a task page, post its form. The
floor is a cycle of two requests to an empty page (benchmarks/floor_urls.py)
served by the same gunicorn, settings, middleware and PostgreSQL database:
the session and user reads, the log-in check and CSRF all run, the view does
nothing. The ratio between the two shows how much of a cycle is humeval's own
work, and the floor's rate is a ceiling that no change to humeval's views
can pass on this machine.

The script sets up what benchmarks/annotation_load.py sets up for its
production set-up (a PostgreSQL database of its own, the same seeded study
and annotators, gunicorn with gthread workers), then runs --rounds rounds.
Each round runs the floor and then humeval, each on a server of its own
started for it, with every annotator logged in afresh and then working
without pause for --cycles cycles (a closed loop). Log-ins are not counted.

For each run it prints cycles per second, p50 and p95 of each of the two
requests, and CPU per cycle, read from /proc before and after the cycles:

- the gunicorn processes (workers and master);
- PostgreSQL: every postgres process on this machine, with the CPU of
  backends that ended during the run (the postmaster's reaped children), so
  it counts the server's shared processes too. Other databases on the same
  server count as well, so run it on a quiet server. It is left out when
  DATABASE_URL names another host;
- the load generator (this process).

The CPU a cycle costs caps the rate: two cores can serve at most
2,000 / (milliseconds per cycle) cycles per second.

Example:
    DATABASE_URL=postgres://humeval:humeval@127.0.0.1:5432/humeval \\
        python benchmarks/request_floor.py --annotators 200 --cycles 30 --rounds 2
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import annotation_load  # noqa: E402 (the path above makes it importable)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------
# CPU of process trees, from /proc.
# --------------------------------------------------------------------------


def _processes() -> list[tuple[int, int, str, float]]:
    """Return (pid, parent pid, name, CPU seconds) of every process, with the CPU of its reaped children."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # ended since the directory was listed
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        # proc(5) numbers the fields from 1: ppid is field 4, utime to cstime
        # are fields 14 to 17. This list starts at field 3, after the name.
        cpu = sum(int(value) for value in fields[11:15]) / CLOCK_TICKS
        found.append((int(entry.name), int(fields[1]), name, cpu))
    return found


def tree_cpu_seconds(root: int) -> float:
    """Return the CPU seconds of process `root` and its descendants, ended ones included once reaped."""
    processes = _processes()
    children: dict[int, list[int]] = {}
    for pid, parent, _name, _cpu in processes:
        children.setdefault(parent, []).append(pid)
    cpu = {pid: seconds for pid, _parent, _name, seconds in processes}
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += cpu.get(pid, 0.0)
        stack.extend(children.get(pid, []))
    return total


def postgres_cpu_seconds() -> float:
    """Return the CPU seconds of every postgres process on this machine, ended backends included once reaped."""
    return sum(cpu for _pid, _parent, name, cpu in _processes() if name == "postgres" or name.startswith("postgres:"))


def local_database(url: str) -> bool:
    return urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")


# --------------------------------------------------------------------------
# The floor's cycle.
# --------------------------------------------------------------------------


class FloorAnnotator(annotation_load.Annotator):
    """An annotator whose cycle opens the empty page and posts its form."""

    async def cycle(self) -> bool:
        started = time.perf_counter()
        page = await self.connection.request("GET", "/floor/")
        if page.status != 200:
            raise annotation_load.HttpError(f"empty page returned HTTP {page.status}")
        self.stats.next_ms.append((time.perf_counter() - started) * 1000)

        token = annotation_load.CSRF_RE.search(page.body).group(1)
        form = {"csrfmiddlewaretoken": token, "rationale": "", "time_on_task": "12.5", "choice": "A"}
        started = time.perf_counter()
        reply = await self.connection.request("POST", "/floor/", form)
        if reply.status != 302:
            raise annotation_load.HttpError(f"post to the empty page returned HTTP {reply.status}")
        self.stats.submit_ms.append((time.perf_counter() - started) * 1000)
        # Run.cycles counts the acknowledged entries; the floor stores no judgment to check.
        self.stats.acknowledged.append(None)
        return True


@dataclass
class Run:
    name: str
    stats: annotation_load.Stats
    seconds: float
    server_cpu: float
    postgres_cpu: float | None
    client_cpu: float

    @property
    def cycles(self) -> int:
        return len(self.stats.acknowledged)

    def per_cycle_ms(self, seconds: float | None) -> float | None:
        return None if seconds is None else seconds / self.cycles * 1000

    @property
    def total_ms(self) -> float:
        parts = (self.server_cpu, self.postgres_cpu or 0.0, self.client_cpu)
        return sum(parts) / self.cycles * 1000


async def drive(kind, args, port, study, server_pid) -> Run:
    stats = annotation_load.Stats()
    rng = random.Random(args.seed)
    person_class = FloorAnnotator if kind == "floor" else annotation_load.Annotator
    people = [
        person_class(number, port, study, stats, random.Random(rng.random())) for number in range(args.annotators)
    ]
    # Log in a few at a time: password hashing is deliberately slow.
    for start in range(0, len(people), 8):
        await asyncio.gather(*(person.log_in() for person in people[start : start + 8]))

    measure_postgres = local_database(args.database_url)
    server_before = tree_cpu_seconds(server_pid)
    postgres_before = postgres_cpu_seconds() if measure_postgres else None
    client_before = time.process_time()
    started = time.perf_counter()
    await annotation_load.closed_loop(people, args.cycles)
    seconds = time.perf_counter() - started
    client_cpu = time.process_time() - client_before
    server_cpu = tree_cpu_seconds(server_pid) - server_before
    postgres_cpu = postgres_cpu_seconds() - postgres_before if measure_postgres else None
    for person in people:
        await person.connection.close()
    return Run(kind, stats, seconds, server_cpu, postgres_cpu, client_cpu)


def start(kind, args, env, data_dir):
    server_env = dict(env)
    if kind == "floor":
        server_env["DJANGO_SETTINGS_MODULE"] = "floor_settings"
        server_env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{ROOT / 'benchmarks'}"
    port = annotation_load.free_port()
    server = annotation_load.start_server(args, server_env, port, data_dir / f"{kind}.log")
    return server, port


def print_run(run: Run, round_number: int):
    stats = run.stats
    first, second = ("empty page", "post") if run.name == "floor" else ("task page", "submit")
    print(
        f"round {round_number}, {run.name}: {run.cycles} cycles in {run.seconds:.2f} s "
        f"= {run.cycles / run.seconds:.1f} cycles/s"
    )
    for label, values in ((first, stats.next_ms), (second, stats.submit_ms)):
        p50 = annotation_load.percentile(values, 0.5)
        p95 = annotation_load.percentile(values, 0.95)
        print(f"  {label:>10}: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    postgres = run.per_cycle_ms(run.postgres_cpu)
    postgres_text = "not measured (another host)" if postgres is None else f"{postgres:.2f} ms"
    print(
        f"  CPU per cycle: gunicorn {run.per_cycle_ms(run.server_cpu):.2f} ms, PostgreSQL {postgres_text}, "
        f"load generator {run.per_cycle_ms(run.client_cpu):.2f} ms; total {run.total_ms:.2f} ms, "
        f"a cap of {os.cpu_count() * 1000 / run.total_ms:.0f} cycles/s on {os.cpu_count()} cores"
    )
    print(f"  errors: {len(stats.errors)}")
    for error in stats.errors[:5]:
        print(f"    {error}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotators", type=int, default=200)
    parser.add_argument("--cycles", type=int, default=30, help="Cycles per annotator in each run.")
    parser.add_argument("--rounds", type=int, default=2, help="Rounds of a floor run and a humeval run.")
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes.")
    parser.add_argument("--threads", type=int, default=8, help="Threads per gunicorn worker.")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument(
        "--smoke", action="store_true", help="4 annotators, 3 cycles, 1 round: checks the script works."
    )
    args = parser.parse_args()
    if args.smoke:
        args.annotators, args.cycles, args.rounds = 4, 3, 1
    if not args.database_url.startswith("postgres"):
        raise SystemExit("Set DATABASE_URL (or --database-url) to a PostgreSQL server.")
    # What annotation_load's helpers read from its own arguments.
    args.setup, args.preload = "production", 0
    args.bench_database = f"humeval_floor_bench_{os.getpid()}"

    data_dir = Path(tempfile.mkdtemp(prefix="humeval-floor-"))
    env = annotation_load.server_env(args, data_dir)
    annotation_load.run_on_postgres_server(args.database_url, f"CREATE DATABASE {args.bench_database}")
    server = None
    try:
        annotation_load.run_manage(env, "migrate", "--noinput")
        annotation_load.run_manage(env, "collectstatic", "--noinput", "--verbosity", "0")
        # Each humeval run judges up to annotators x cycles tasks; each judgment fills 1/overlap of an item.
        planned = args.annotators * args.cycles * args.rounds
        items_wanted = -(-planned // args.overlap) * 2 + args.annotators
        seeded = annotation_load.run_inside(
            env, "--inside", "seed", str(args.annotators), str(items_wanted), "0", str(args.overlap)
        )
        print(
            f"set-up: gunicorn {args.workers} workers x {args.threads} threads, PostgreSQL; "
            f"{args.annotators} annotators, {args.cycles} cycles each per run; study of {seeded['items']} items"
        )
        print(annotation_load.machine_line())
        runs: dict[str, list[Run]] = {"floor": [], "humeval": []}
        acknowledged = []
        for round_number in range(1, args.rounds + 1):
            for kind in ("floor", "humeval"):
                server, port = start(kind, args, env, data_dir)
                run = asyncio.run(drive(kind, args, port, seeded["study"], server.pid))
                annotation_load.stop_server(server)
                server = None
                runs[kind].append(run)
                if kind == "humeval":
                    acknowledged += run.stats.acknowledged
                print_run(run, round_number)

        path = data_dir / "acknowledged.json"
        path.write_text(json.dumps(acknowledged))
        checked = annotation_load.run_inside(env, "--inside", "verify", str(path))
        print(
            f"humeval judgments: lost {checked['lost']}, duplicated {checked['duplicated']}, "
            f"over overlap {checked['over_overlap']} (acknowledged {checked['acknowledged']})"
        )
        for floor, humeval in zip(runs["floor"], runs["humeval"], strict=True):
            rate = (humeval.cycles / humeval.seconds) / (floor.cycles / floor.seconds)
            print(
                f"humeval against the floor: {rate:.2f} of its cycles/s, "
                f"{humeval.total_ms / floor.total_ms:.2f} times its CPU per cycle"
            )
        failed = any(run.stats.errors for kind_runs in runs.values() for run in kind_runs)
        failed = failed or checked["lost"] or checked["duplicated"] or checked["over_overlap"]
        sys.exit(1 if failed else 0)
    finally:
        if server is not None:
            annotation_load.stop_server(server)
        annotation_load.drop_database(args.database_url, args.bench_database)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
