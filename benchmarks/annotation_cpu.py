"""Measure the CPU one annotator cycle costs, in process, on PostgreSQL.

A cycle is what an annotator's browser runs: GET the task page, then POST
the task's form. The submit leases the next task and redirects to its page,
which the next cycle opens, as a browser follows the redirect. Only when the
submit redirects to the next-task address (GET /studies/<uuid>/next/) does
the cycle request that address too, as benchmarks/annotation_load.py does.
Each annotator has its own Django test client (CSRF checks on, logged in
through the log-in form). In turn, each submits the task they hold and
opens the next one, one request at a time, so there is no concurrency. The
others hold a lease meanwhile, as in a closed loop of that many annotators.
The study is the one benchmarks/annotation_load.py seeds.

It prints, per cycle:

- CPU of the Django handler: time.process_time around each request, so the
  test client's own work is left out. It prints the mean, and the sum of
  each kind of request's median. The whole Python process's CPU follows;
- CPU of the PostgreSQL backend serving the connection, from
  /proc/<pid>/stat (clock ticks, so 10 ms resolution over the whole run);
- queries per request (task page, submit, and next when a cycle requested
  it): the statements sent through Django's cursors, savepoints included
  but not BEGIN and COMMIT. Then committed transactions per cycle
  (pg_stat_database.xact_commit, read-only ones included);
- with --profile, the functions with the most cumulative time (cProfile,
  wall clock).

CPU time rather than wall time, so other work on the machine counts less.
The run creates a database of its own, humeval_cpu_bench_<process id>, on
the server that DATABASE_URL names (the database name in the URL is not
used), and drops it at the end.

Example:
    DATABASE_URL=postgres://humeval:humeval@127.0.0.1:5432/humeval \\
        python benchmarks/annotation_cpu.py --annotators 20 --cycles 12
"""

import argparse
import cProfile
import functools
import io
import os
import platform
import pstats
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import annotation_load  # noqa: E402 (the path above makes it importable)

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
FIELD_RE = re.compile(r'name="(criterion-[0-9a-f]{32})"')
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU seconds of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of proc(5), counted from 1 with the pid and name first.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class TimedHandler:
    """Wrap a test client's handler and sum the process CPU spent inside it."""

    def __init__(self, handler):
        self.handler = handler
        self.last_cpu_seconds = 0.0

    def __call__(self, *args, **kwargs):
        start = time.process_time()
        try:
            return self.handler(*args, **kwargs)
        finally:
            self.last_cpu_seconds = time.process_time() - start


@dataclass
class RequestCounts:
    """Queries and handler CPU seconds of each request of one kind."""

    queries: list[int] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)


class QueryCounter:
    """Count the statements that a database connection runs, as a Django execute wrapper."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


class Annotator:
    def __init__(self, number: int, study_uuid: str):
        from django.test import Client

        self.client = Client(enforce_csrf_checks=True, HTTP_HOST="127.0.0.1")
        self.timed = TimedHandler(self.client.handler)
        self.client.handler = self.timed
        self.username = f"load{number}"
        self.study_uuid = study_uuid
        # The task page to open next: the last submit's redirect, or None.
        self.task_url: str | None = None

    def log_in(self):
        page = self.client.get("/accounts/login/")
        token = CSRF_RE.search(page.content.decode()).group(1)
        response = self.client.post(
            "/accounts/login/",
            {"csrfmiddlewaretoken": token, "username": self.username, "password": annotation_load.PASSWORD},
        )
        if response.status_code != 302:
            raise SystemExit(f"Log-in of {self.username} failed with HTTP {response.status_code}.")

    def open_task(self, requests: dict) -> bool:
        """Open the task the last submit redirected to, else the next-task address and its redirect.

        Returns False when the study has nothing left for this annotator.
        """
        if self.task_url is None:
            response = self._request(requests, "next", self.client.get, f"/studies/{self.study_uuid}/next/")
            if response.status_code != 302:
                return False
            self.task_url = response["Location"]
        page = self._request(requests, "task page", self.client.get, self.task_url)
        if page.status_code != 200:
            raise SystemExit(f"The task page {self.task_url} returned HTTP {page.status_code}.")

        html = page.content.decode()
        self.form = {"csrfmiddlewaretoken": CSRF_RE.search(html).group(1), "rationale": "", "time_on_task": "12.5"}
        for name in FIELD_RE.findall(html):
            self.form[name] = "A"
        return True

    def submit_task(self, requests: dict):
        """Post the open task's form and keep the task page it redirected to, if it did."""
        # Form-encoded, as a browser posts a form without file inputs. The
        # test client would otherwise send multipart/form-data.
        body = urlencode(self.form)
        post = functools.partial(self.client.post, content_type="application/x-www-form-urlencoded")
        response = self._request(requests, "submit", post, f"{self.task_url}submit/", body)
        if response.status_code != 302:
            raise SystemExit(f"The submit of {self.task_url} returned HTTP {response.status_code}.")
        following = response["Location"]
        self.task_url = following if following.startswith(f"/studies/{self.study_uuid}/tasks/") else None

    def _request(self, requests, name, method, *arguments):
        from django.db import connection

        # An execute wrapper counts the statements without the debug cursor
        # that CaptureQueriesContext turns on. That cursor formats and logs
        # each query, which costs CPU that a production request does not spend.
        statements = QueryCounter()
        with connection.execute_wrapper(statements):
            response = method(*arguments)
        counts = requests.setdefault(name, RequestCounts())
        counts.queries.append(statements.count)
        counts.cpu_seconds.append(self.timed.last_cpu_seconds)
        return response


def committed_transactions() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        # PostgreSQL 15 backends report their counts at most once a second unless asked.
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def take(annotator: Annotator, requests: dict):
    if not annotator.open_task(requests):
        raise SystemExit(f"{annotator.username} ran out of tasks; the study is too small.")


def backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotators", type=int, default=10)
    parser.add_argument("--cycles", type=int, default=30, help="measured cycles per annotator")
    parser.add_argument("--warm-up", type=int, default=2, help="unmeasured cycles per annotator first")
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="2 annotators, 2 cycles each, 1 warm-up cycle")
    parser.add_argument("--profile", action="store_true", help="print the top functions by cumulative time")
    parser.add_argument("--profile-lines", type=int, default=40)
    args = parser.parse_args()
    if args.smoke:
        args.annotators, args.cycles, args.warm_up = 2, 2, 1

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL server (postgres://USER:PASSWORD@HOST:PORT/NAME).")
    # A database of its own per run, dropped at the end, on the server that
    # DATABASE_URL names.
    database = f"humeval_cpu_bench_{os.getpid()}"
    annotation_load.run_on_postgres_server(url, f"CREATE DATABASE {database}")
    os.environ["DATABASE_URL"] = annotation_load.bench_database_url(url, database)
    os.environ.setdefault("HUMEVAL_SECRET_KEY", "annotation-cpu-benchmark-" + "x" * 40)
    os.environ["HUMEVAL_LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("HUMEVAL_CELERY_EAGER", "1")
    # Static files are collected into a data folder of the run's own, as a
    # deployment collects them. Before collectstatic, every {% static %}
    # tag looks for a manifest entry that is missing, which costs CPU that
    # production does not spend.
    data_dir = tempfile.mkdtemp(prefix="humeval-cpu-")
    os.environ["HUMEVAL_DATA_DIR"] = data_dir
    try:
        run(args)
    finally:
        from django.db import connection

        connection.close()
        annotation_load.drop_database(url, database)
        shutil.rmtree(data_dir, ignore_errors=True)


def run(args):
    annotation_load.django_setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    # One connection for the whole run, so its backend's CPU is all of it.
    # Production closes a connection after 60 s (CONN_MAX_AGE) and opens a
    # new one, which is rare enough not to count.
    settings.DATABASES["default"]["CONN_MAX_AGE"] = None
    connection.settings_dict["CONN_MAX_AGE"] = None

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    # Enough items that no annotator runs out: each judgment fills a third of one.
    judgments = args.annotators * (args.cycles + args.warm_up + 1)
    seeded = annotation_load.seed(args.annotators, judgments // args.overlap * 2 + 60, 0, args.overlap)
    connection.close()

    annotators = [Annotator(number, seeded["study"]) for number in range(args.annotators)]
    for annotator in annotators:
        annotator.log_in()
    # Each annotator submits the task they hold, then opens the next, in
    # turn. Everyone else holds a lease meanwhile, as in a closed loop of
    # that many annotators, so the pick passes over their leased items.
    requests = {}
    for annotator in annotators:
        take(annotator, requests)
    for _ in range(args.warm_up):
        for annotator in annotators:
            annotator.submit_task(requests)
            take(annotator, requests)

    pid = backend_pid()
    commits_before = committed_transactions()
    backend_before = process_cpu_seconds(pid)
    process_before = time.process_time()
    requests = {}
    profiler = cProfile.Profile() if args.profile else None
    cycles = 0
    if profiler:
        profiler.enable()
    for _ in range(args.cycles):
        for annotator in annotators:
            annotator.submit_task(requests)
            take(annotator, requests)
            cycles += 1
    if profiler:
        profiler.disable()
    process_seconds = time.process_time() - process_before
    handler_seconds = sum(sum(counts.cpu_seconds) for counts in requests.values())
    backend_seconds = process_cpu_seconds(pid) - backend_before
    # Read last: the two statements before the read of the count commit too.
    commits = committed_transactions() - commits_before - 2
    if backend_pid() != pid:
        raise SystemExit("The database connection was reopened during the run; its backend CPU is incomplete.")

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"study: {seeded['items']} items, {args.annotators} annotators, {cycles} measured cycles")
    if profiler:
        print("(cProfile was on, which inflates the Python figures)")
    # The median is less sensitive than the mean to other processes that
    # share the cores and slow a few requests down. Each kind of request
    # counts as often as cycles made it: a next request is rare, because a
    # submit redirects straight to the following task page.
    median_seconds = sum(
        statistics.median(counts.cpu_seconds) * len(counts.cpu_seconds) / cycles for counts in requests.values()
    )
    requests_made = sum(len(counts.cpu_seconds) for counts in requests.values())
    print(f"requests:               {requests_made / cycles:6.2f} per cycle")
    print(f"Django handler CPU:     {handler_seconds / cycles * 1000:6.2f} ms per cycle (mean)")
    print(f"Django handler CPU:     {median_seconds * 1000:6.2f} ms per cycle (from the requests' medians)")
    print(f"Python process CPU:     {process_seconds / cycles * 1000:6.2f} ms per cycle")
    print(f"PostgreSQL backend CPU: {backend_seconds / cycles * 1000:6.2f} ms per cycle")
    print(f"transactions committed: {commits / cycles:6.2f} per cycle")
    for request in ("task page", "submit", "next"):
        counts = requests.get(request)
        if counts is None:
            continue
        print(
            f"{request:>9}: {statistics.mean(counts.queries):5.2f} queries, "
            f"median handler CPU {statistics.median(counts.cpu_seconds) * 1000:5.2f} ms, "
            f"{len(counts.queries)} requests"
        )
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.profile_lines)
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.profile_lines)
        print(out.getvalue())


if __name__ == "__main__":
    main()
