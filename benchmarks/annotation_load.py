"""Drive simulated annotators through humeval's real annotation path and measure it.

Each simulated annotator keeps one HTTP/1.1 keep-alive connection to a server
this script starts on 127.0.0.1 and logs in once. It opens the study from the
home page through the study's instructions page, as a newcomer does, then runs
cycles of: open the next task and post its form. As in a browser, the task
opened is the one the last submit redirected to. At the start, or when the
submit redirected to the next-task address, the cycle opens the task with
GET next and its redirect. The study has Markdown instructions and its answers are Markdown
of about 700 to 1,200 characters, some with a code block, so pages cost
what real ones do. Two set-ups:

- production: gunicorn (gthread workers, 4 of 8 threads by default) against
  PostgreSQL (DATABASE_URL);
- embedded: gunicorn against SQLite, as `make demo` runs it (4 workers of 4
  threads by default, the Makefile's numbers).

Two load shapes:

- closed loop (default): every annotator works without pause for --cycles cycles;
- open loop (--rate R): cycles arrive at random (Poisson) at R per second for
  --duration seconds, each handed to an idle annotator.

It prints cycles per second, p50 and p95 latency of next and submit, errors,
and then counts in the database the judgments the server acknowledged but did
not store (lost), items judged twice by one annotator (duplicated) and items
with more non-surplus judgments than the study's overlap (over overlap).

--preload N stores N judgments by other annotators first, so the next-task
time can be compared at 10,000 and 1,000,000 stored judgments.

Examples:
    python benchmarks/annotation_load.py --smoke
    python benchmarks/annotation_load.py --setup embedded --annotators 50 --cycles 20
    DATABASE_URL=postgres://humeval:humeval@127.0.0.1:5432/humeval \\
        python benchmarks/annotation_load.py --setup production --annotators 200 --cycles 20
    DATABASE_URL=... python benchmarks/annotation_load.py --setup production --rate 100 --duration 30
"""

import argparse
import asyncio
import json
import os
import platform
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "load-test-password-1"
STUDY_NAME = "Load study"
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
FIELD_RE = re.compile(r'name="(criterion-[0-9a-f]{32})"')
CHOICES = ["A", "B", "tie", "both_bad"]


# --------------------------------------------------------------------------
# Server side: database, seed data and the server process, all in subprocesses
# that see the benchmark's own environment.
# --------------------------------------------------------------------------


def server_env(args, data_dir: Path) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HUMEVAL_", "CELERY_")) and key != "DATABASE_URL"
    }
    env.update(
        HUMEVAL_DATA_DIR=str(data_dir),
        HUMEVAL_SECRET_KEY=secrets.token_urlsafe(50),
        HUMEVAL_ALLOWED_HOSTS="127.0.0.1",
        HUMEVAL_LOG_LEVEL="WARNING",
        HUMEVAL_CELERY_EAGER="1",
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(ROOT),
    )
    if args.setup == "production":
        env["DATABASE_URL"] = bench_database_url(args.database_url, args.bench_database)
    return env


def bench_database_url(url: str, name: str) -> str:
    """Return `url` with its database name replaced by `name`, the benchmark's own."""
    parts = urlsplit(url)
    return parts._replace(path=f"/{name}").geturl()


def run_on_postgres_server(url: str, *statements: str) -> None:
    """Run `statements` in the maintenance database of the server that `url` names."""
    import psycopg2

    parts = urlsplit(url)
    # The maintenance database always exists; the one in the URL may not yet.
    connection = psycopg2.connect(
        dbname="postgres",
        user=parts.username,
        password=parts.password,
        host=parts.hostname,
        port=parts.port or 5432,
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    connection.close()


def run_manage(env, *command, quiet=True):
    subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL if quiet else None,
    )


def run_inside(env, *arguments) -> dict:
    """Run this script in a subprocess with Django set up; return its JSON answer."""
    result = subprocess.run(
        [sys.executable, __file__, *arguments], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(args, env, port, log_path: Path) -> subprocess.Popen:
    """Start gunicorn on `port`, its output going to `log_path`, and wait until it listens.

    The output goes to a file, not a pipe: an unread pipe fills up after 64
    KB, which would block every server thread at its next log line.
    """
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "humeval.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(args.threads),
        "--keep-alive",
        "30",
        "--log-level",
        "warning",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"The server stopped at start-up:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("The server did not start listening within 60 s.")


def stop_server(server: subprocess.Popen) -> None:
    """Stop the server and wait for it, killing it if it has not stopped within 20 s."""
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


# --------------------------------------------------------------------------
# Inside Django (subcommands run by run_inside).
# --------------------------------------------------------------------------


def django_setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humeval.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


INSTRUCTIONS = """Read the prompt, then both answers in full.

- Choose the answer that is **more helpful and more accurate**.
- Pick *Tie* when they are about equally good, and *Both are bad* when neither helps.
- Ignore length: a short right answer beats a long wrong one.

Use the rationale box for anything unusual, such as an answer in the wrong language."""

_TOPICS = ["recursion", "hash tables", "photosynthesis", "compound interest", "the water cycle", "binary search"]
_CODE = {
    "python": "def search(items, target):\n    low, high = 0, len(items) - 1\n    while low <= high:\n"
    "        middle = (low + high) // 2\n        if items[middle] == target:\n            return middle\n"
    "        if items[middle] < target:\n            low = middle + 1\n        else:\n            high = middle - 1\n"
    "    return -1\n",
    "javascript": "function total(prices) {\n  return prices.reduce((sum, price) => sum + price, 0);\n}\n",
}


def answer_text(rng: random.Random, chinese: bool) -> str:
    """Return a model-like Markdown answer of about 700 to 1,200 characters: paragraphs, a list, sometimes code.

    Real answers cost more to render than plain sentences (lists, emphasis,
    highlighted code), so the task page is measured with text like theirs.
    """
    topic = rng.choice(_TOPICS)
    steps = rng.randint(3, 5)
    parts = [
        f"Here is a short explanation of **{topic}**, with the main points first.",
        "\n".join(
            f"{number}. Step {number} of {steps}: look at *{topic}* from one more side and note what changes."
            for number in range(1, steps + 1)
        ),
        "Some points to keep in mind:\n\n- It is easier with a small example.\n"
        "- The `edge cases` matter more than the average case.\n- Check the result against a second method.",
    ]
    if rng.random() < 0.4:
        language = rng.choice(sorted(_CODE))
        parts.append(f"```{language}\n{_CODE[language]}```")
    parts.append(f"In short, {topic} is simpler than it first looks once you try it by hand.")
    if chinese:
        parts.append("总之，先用一个小例子试一试，再检查结果。")
    return "\n\n".join(parts)


def seed(annotators: int, items_wanted: int, preload: int, overlap: int) -> dict:
    """Create a pairwise study with enough items, the annotators, and `preload` stored judgments."""
    django_setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from annotate.items import open_study
    from annotate.models import Criterion, Item, Judgment, Study
    from generation.models import GenerationRun, LanguageModel, Prompt, PromptSet, Response

    systems = 4  # 6 pairs per prompt
    pairs = systems * (systems - 1) // 2
    preload_items = -(-preload // overlap)
    prompts = -(-(items_wanted + preload_items) // pairs) + 1
    batch = 5000
    with transaction.atomic():
        prompt_set = PromptSet.objects.create(name="Load prompts")
        Prompt.objects.bulk_create(
            [
                Prompt(
                    prompt_set=prompt_set,
                    position=index,
                    external_id=f"p{index}",
                    category="writing" if index % 2 else "knowledge",
                    language="en" if index % 3 else "zh-Hans",
                    text=f"Prompt {index}: explain a small idea in two sentences. 用两句话解释一个小想法。",
                )
                for index in range(prompts)
            ],
            batch_size=batch,
        )
        prompt_ids = list(Prompt.objects.filter(prompt_set=prompt_set).values_list("pk", flat=True))
        runs = []
        for number in range(systems):
            model = LanguageModel.objects.create(name=f"Load model {number}", source="/nonexistent")
            runs.append(GenerationRun.objects.create(model=model, prompt_set=prompt_set, status="completed"))
        text_rng = random.Random(3)
        chinese_prompts = set(
            Prompt.objects.filter(prompt_set=prompt_set, language="zh-Hans").values_list("pk", flat=True)
        )
        for run in runs:
            Response.objects.bulk_create(
                [
                    Response(
                        run=run,
                        prompt_id=prompt_id,
                        text=answer_text(text_rng, prompt_id in chinese_prompts),
                        token_count=60,
                        finish_reason="stop",
                        latency_seconds=0.5,
                    )
                    for prompt_id in prompt_ids
                ],
                batch_size=batch,
            )
        study = Study.objects.create(
            name=STUDY_NAME, kind="pairwise", prompt_set=prompt_set, overlap=overlap, instructions=INSTRUCTIONS
        )
        study.systems.set(runs)
        Criterion.objects.create(study=study, name="overall", question="Which answer is better overall?")
    open_study(study)

    password_hash = make_password(PASSWORD)
    User = get_user_model()
    User.objects.bulk_create(
        [User(username=f"load{number}", password=password_hash) for number in range(annotators)], batch_size=batch
    )
    study.annotators.add(*User.objects.filter(username__startswith="load"))

    if preload:
        _preload_judgments(study, preload, overlap, password_hash)
    return {
        "study": str(study.uuid),
        "items": Item.objects.filter(study=study).count(),
        "judgments": Judgment.objects.filter(item__study=study).count(),
    }


def _preload_judgments(study, count, overlap, password_hash):
    """Store `count` judgments by other annotators, `overlap` per item, with bulk inserts."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from annotate.judgment_count import recount
    from annotate.models import Assignment, AssignmentStatus, CriterionAnswer, Item, Judgment

    User = get_user_model()
    people = [User(username=f"past{number}", password=password_hash) for number in range(overlap)]
    User.objects.bulk_create(people)
    people = list(User.objects.filter(username__startswith="past").order_by("username"))
    criterion = study.criteria.get()
    rng = random.Random(7)
    now = timezone.now()
    items = list(
        Item.objects.filter(study=study)
        .order_by("sort_key")
        .values_list("pk", "first_response_id", "second_response_id")[: -(-count // overlap)]
    )
    stored = 0
    chunk = 2000
    for start in range(0, len(items), chunk):
        rows = items[start : start + chunk]
        assignments = []
        for item_pk, _first, _second in rows:
            for person in people:
                if stored + len(assignments) >= count:
                    break
                assignments.append(
                    Assignment(
                        item_id=item_pk,
                        annotator=person,
                        first_on_left=rng.random() < 0.5,
                        status=AssignmentStatus.SUBMITTED,
                        leased_at=now,
                        expires_at=now,
                    )
                )
        Assignment.objects.bulk_create(assignments)
        judgments = [
            Judgment(
                assignment=a,
                item_id=a.item_id,
                annotator=a.annotator,
                first_on_left=a.first_on_left,
                time_on_task_seconds=20.0,
            )
            for a in assignments
        ]
        Judgment.objects.bulk_create(judgments)
        winners = {item_pk: (first, second) for item_pk, first, second in rows}
        answers = []
        for judgment in judgments:
            draw = rng.random()
            if draw < 0.8:
                answers.append(
                    CriterionAnswer(
                        judgment=judgment,
                        criterion=criterion,
                        outcome="win",
                        winner_id=winners[judgment.item_id][draw < 0.4],
                    )
                )
            else:
                answers.append(CriterionAnswer(judgment=judgment, criterion=criterion, outcome="tie"))
        CriterionAnswer.objects.bulk_create(answers)
        stored += len(judgments)
    # The judgments went in without annotate.assignment, which keeps each
    # item's counter of judgments; count them once for the whole study.
    recount(Item.objects.filter(study=study))


def verify(acknowledged_path: str) -> dict:
    """Count lost, duplicated and over-overlap judgments after a run."""
    django_setup()
    from django.db.models import Count, Q

    from annotate.models import Assignment, Item, Judgment, Study

    study = Study.objects.get(name=STUDY_NAME)
    acknowledged = json.loads(Path(acknowledged_path).read_text())
    stored = set(
        str(value)
        for value in Judgment.objects.filter(assignment__uuid__in=acknowledged).values_list(
            "assignment__uuid", flat=True
        )
    )
    duplicated = (
        Judgment.objects.filter(item__study=study)
        .values("item_id", "annotator_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    over = (
        Item.objects.filter(study=study)
        .annotate(n=Count("judgments", filter=Q(judgments__is_surplus=False)))
        .filter(n__gt=study.overlap)
        .count()
    )
    return {
        "acknowledged": len(acknowledged),
        "lost": len(set(acknowledged) - stored),
        "duplicated": duplicated,
        "over_overlap": over,
        "surplus": Judgment.objects.filter(item__study=study, is_surplus=True).count(),
        "judgments": Judgment.objects.filter(item__study=study).count(),
        "open_leases": Assignment.objects.filter(item__study=study, status="leased").count(),
    }


# --------------------------------------------------------------------------
# Client side: a small keep-alive HTTP/1.1 client on asyncio streams.
# --------------------------------------------------------------------------


class HttpError(Exception):
    pass


@dataclass
class Reply:
    status: int
    headers: dict
    body: str


class Connection:
    """One annotator's keep-alive connection with its own cookie jar."""

    def __init__(self, port: int):
        self.port = port
        self.reader = None
        self.writer = None
        self.cookies: dict[str, str] = {}

    async def request(self, method: str, path: str, form: dict | None = None) -> Reply:
        for attempt in range(2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                return await self._exchange(method, path, form)
            except (ConnectionError, asyncio.IncompleteReadError):
                # The server closed an idle keep-alive connection: reconnect once.
                await self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, method, path, form) -> Reply:
        body = urlencode(form).encode() if form is not None else b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", "Connection: keep-alive"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if form is not None:
            lines.append("Content-Type: application/x-www-form-urlencoded")
            lines.append(f"Referer: http://127.0.0.1:{self.port}{path}")
            lines.append(f"Origin: http://127.0.0.1:{self.port}")
        lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self.writer.drain()

        status_line = await self.reader.readuntil(b"\r\n")
        if not status_line:
            raise ConnectionError("closed")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while True:
            line = (await self.reader.readuntil(b"\r\n")).decode("latin-1").rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                cookie = value.split(";", 1)[0]
                key, _, cookie_value = cookie.partition("=")
                self.cookies[key] = cookie_value
            headers[name] = value
        if headers.get("transfer-encoding", "").lower() == "chunked":
            payload = bytearray()
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                payload += await self.reader.readexactly(size + 2)
                del payload[-2:]
        else:
            payload = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Reply(status, headers, payload.decode("utf-8", "replace"))

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        self.reader = self.writer = None


@dataclass
class Stats:
    next_ms: list = field(default_factory=list)
    submit_ms: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    acknowledged: list = field(default_factory=list)
    finished_annotators: int = 0
    queued_arrivals: int = 0


class Annotator:
    def __init__(self, number: int, port: int, study: str, stats: Stats, rng: random.Random):
        self.username = f"load{number}"
        self.connection = Connection(port)
        self.study = study
        self.stats = stats
        self.rng = rng
        self.done = False
        # The task the last submit redirected to, opened by the next cycle.
        self.following_task: str | None = None

    async def log_in(self):
        page = await self.connection.request("GET", "/accounts/login/")
        token = CSRF_RE.search(page.body).group(1)
        reply = await self.connection.request(
            "POST",
            "/accounts/login/",
            {"csrfmiddlewaretoken": token, "username": self.username, "password": PASSWORD},
        )
        if reply.status != 302:
            raise HttpError(f"log in of {self.username} answered {reply.status}")

        # As in a browser: the home page lists the study, and its Start link
        # leads a newcomer through the study's instructions page, whose Start
        # button opens the next-task address that every cycle begins with.
        home = await self.connection.request("GET", "/")
        start = re.search(rf'href="(/studies/{self.study}/[^"]*)"', home.body)
        if home.status != 200 or start is None:
            raise HttpError(f"home page of {self.username} returned status {home.status} without a link to the study")
        page = await self.connection.request("GET", start.group(1))
        if page.status != 200 and page.status != 302:
            raise HttpError(f"{start.group(1)} returned status {page.status}")

    async def cycle(self) -> bool:
        """Open the next task and submit it; return False when nothing is left.

        As a browser does, the cycle opens the task the previous submit
        redirected to, and otherwise the next-task address, which redirects
        to a task or shows the done page.
        """
        started = time.perf_counter()
        task_path, self.following_task = self.following_task, None
        if task_path is None:
            reply = await self.connection.request("GET", f"/studies/{self.study}/next/")
            if reply.status == 200:
                self.done = True
                return False
            if reply.status != 302:
                raise HttpError(f"next answered {reply.status}")
            task_path = urlsplit(reply.headers["location"]).path
        page = await self.connection.request("GET", task_path)
        if page.status != 200:
            raise HttpError(f"task page answered {page.status}")
        self.stats.next_ms.append((time.perf_counter() - started) * 1000)

        token = CSRF_RE.search(page.body).group(1)
        form = {"csrfmiddlewaretoken": token, "rationale": "", "time_on_task": "12.5"}
        for name in FIELD_RE.findall(page.body):
            form[name] = self.rng.choice(CHOICES)
        started = time.perf_counter()
        reply = await self.connection.request("POST", task_path + "submit/", form)
        if reply.status != 302:
            raise HttpError(f"submit answered {reply.status}")
        self.stats.submit_ms.append((time.perf_counter() - started) * 1000)
        self.stats.acknowledged.append(task_path.rstrip("/").rsplit("/", 1)[-1])
        following = urlsplit(reply.headers["location"]).path
        if following.startswith(f"/studies/{self.study}/tasks/"):
            self.following_task = following
        return True


async def closed_loop(annotators, cycles):
    async def work(person):
        for _ in range(cycles):
            try:
                if not await person.cycle():
                    person.stats.finished_annotators += 1
                    return
            except Exception as error:  # noqa: BLE001 - counted and printed as an error
                person.stats.errors.append(f"{person.username}: {type(error).__name__}: {error}")
                await person.connection.close()

    await asyncio.gather(*(work(person) for person in annotators))


async def open_loop(annotators, rate, duration, rng):
    idle = asyncio.Queue()
    for person in annotators:
        idle.put_nowait(person)
    stats = annotators[0].stats
    tasks = []

    async def one_cycle(person):
        try:
            await person.cycle()
        except Exception as error:  # noqa: BLE001 - counted and printed as an error
            stats.errors.append(f"{person.username}: {type(error).__name__}: {error}")
            await person.connection.close()
        finally:
            if not person.done:
                idle.put_nowait(person)

    end = time.perf_counter() + duration
    next_arrival = time.perf_counter()
    while next_arrival < end:
        await asyncio.sleep(max(0.0, next_arrival - time.perf_counter()))
        if idle.empty():
            stats.queued_arrivals += 1
        person = await idle.get()
        tasks.append(asyncio.ensure_future(one_cycle(person)))
        next_arrival += rng.expovariate(rate)
    await asyncio.gather(*tasks)


async def drive(args, port, study) -> tuple[Stats, float, float]:
    stats = Stats()
    rng = random.Random(args.seed)
    people = [Annotator(number, port, study, stats, random.Random(rng.random())) for number in range(args.annotators)]
    login_started = time.perf_counter()
    # Log in a few at a time: password hashing is deliberately slow.
    for start in range(0, len(people), 8):
        await asyncio.gather(*(person.log_in() for person in people[start : start + 8]))
    login_seconds = time.perf_counter() - login_started
    started = time.perf_counter()
    if args.rate:
        await open_loop(people, args.rate, args.duration, rng)
    else:
        await closed_loop(people, args.cycles)
    elapsed = time.perf_counter() - started
    for person in people:
        await person.connection.close()
    return stats, elapsed, login_seconds


# --------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------


def percentile(values, share):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def machine_line() -> str:
    load = os.getloadavg()
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


def print_report(args, stats, elapsed, login_seconds, seeded, checked):
    cycles = len(stats.acknowledged)
    shape = f"open loop at {args.rate}/s for {args.duration} s" if args.rate else f"closed loop, {args.cycles} cycles"
    database = "PostgreSQL" if args.setup == "production" else "SQLite"
    server = f"gunicorn {args.workers} workers x {args.threads} threads, {database}"
    print(f"set-up: {args.setup} ({server}); {args.annotators} annotators; {shape}")
    print(f"study: {seeded['items']} items, {seeded['judgments']} judgments stored before the run")
    print(machine_line())
    print(f"log in: {login_seconds:.1f} s for {args.annotators} annotators (not counted below)")
    print(f"cycles: {cycles} in {elapsed:.2f} s = {cycles / elapsed:.1f} cycles/s")
    for name, values in (("next", stats.next_ms), ("submit", stats.submit_ms)):
        print(
            f"{name:>6}: p50 {percentile(values, 0.5):.1f} ms, p95 {percentile(values, 0.95):.1f} ms, "
            f"max {max(values, default=float('nan')):.1f} ms, n={len(values)}"
        )
    if args.rate:
        print(f"arrivals that found every annotator busy: {stats.queued_arrivals}")
    print(f"errors: {len(stats.errors)}")
    for error in stats.errors[:5]:
        print(f"  {error}")
    print(
        f"lost: {checked['lost']}, duplicated: {checked['duplicated']}, over overlap: {checked['over_overlap']} "
        f"(acknowledged {checked['acknowledged']}, surplus {checked['surplus']}, open leases {checked['open_leases']})"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setup", choices=["production", "embedded"], default="embedded")
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--cycles", type=int, default=20, help="Cycles per annotator (closed loop).")
    parser.add_argument("--rate", type=float, help="Offered cycles per second (open loop).")
    parser.add_argument("--duration", type=float, default=30.0, help="Seconds of arrivals (open loop).")
    parser.add_argument("--preload", type=int, default=0, help="Judgments stored before the run.")
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes.")
    parser.add_argument("--threads", type=int, help="Threads per gunicorn worker (8 in production, 4 embedded).")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--smoke", action="store_true", help="4 annotators, 3 cycles each: checks the script works.")
    parser.add_argument("--inside", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.inside:
        command, *rest = args.inside
        if command == "seed":
            answer = seed(*(int(value) for value in rest))
        else:
            answer = verify(rest[0])
        print(json.dumps(answer))
        return

    if args.smoke:
        args.annotators, args.cycles, args.rate = 4, 3, None
    if args.threads is None:
        # Embedded: the numbers of the Makefile's `make demo` server.
        args.threads = 8 if args.setup == "production" else 4
    if args.setup == "production" and not args.database_url.startswith("postgres"):
        raise SystemExit("The production set-up needs DATABASE_URL (or --database-url) naming a PostgreSQL server.")

    # A database of its own per run, so two runs at once (a test suite beside
    # a measurement) never drop each other's database.
    args.bench_database = f"humeval_load_bench_{os.getpid()}"
    data_dir = Path(tempfile.mkdtemp(prefix="humeval-load-"))
    server = None
    created_database = False
    try:
        env = server_env(args, data_dir)
        if args.setup == "production":
            run_on_postgres_server(
                args.database_url,
                f"DROP DATABASE IF EXISTS {args.bench_database}",
                f"CREATE DATABASE {args.bench_database}",
            )
            created_database = True
        run_manage(env, "migrate", "--noinput")
        run_manage(env, "collectstatic", "--noinput", "--verbosity", "0")
        planned = args.annotators * args.cycles if not args.rate else int(args.rate * args.duration * 1.5) + 100
        items_wanted = -(-planned // args.overlap) * 2 + args.annotators
        seeded = run_inside(
            env, "--inside", "seed", str(args.annotators), str(items_wanted), str(args.preload), str(args.overlap)
        )
        port = free_port()
        server = start_server(args, env, port, data_dir / "server.log")
        stats, elapsed, login_seconds = asyncio.run(drive(args, port, seeded["study"]))
        acknowledged = data_dir / "acknowledged.json"
        acknowledged.write_text(json.dumps(stats.acknowledged))
        checked = run_inside(env, "--inside", "verify", str(acknowledged))
        print_report(args, stats, elapsed, login_seconds, seeded, checked)
        failed = stats.errors or checked["lost"] or checked["duplicated"] or checked["over_overlap"]
        sys.exit(1 if failed else 0)
    finally:
        if server is not None:
            stop_server(server)
        if created_database:
            drop_database(args.database_url, args.bench_database)
        shutil.rmtree(data_dir, ignore_errors=True)


def drop_database(url: str, name: str, attempts: int = 10) -> None:
    """Drop the benchmark's database, waiting for PostgreSQL's own processes to leave it.

    WITH (FORCE) ends the benchmark's leftover connections, but a role that
    is not a superuser may not end an autovacuum worker, which may be
    vacuuming the freshly loaded tables. Such a worker leaves within
    seconds, so the drop is tried again. A database still there at the end
    is named in a warning, so that it can be dropped by hand.
    """
    import psycopg2

    for attempt in range(attempts):
        try:
            run_on_postgres_server(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            return
        except psycopg2.errors.InsufficientPrivilege as error:
            last_error = error
            time.sleep(1 + attempt)
    print(f"warning: could not drop database {name} ({last_error}); drop it by hand", file=sys.stderr)


if __name__ == "__main__":
    main()
