"""Fixtures that run humeval as in production: gunicorn and Celery workers over PostgreSQL and Redis.

The stack tests drive the platform through HTTP only, as a team's scripts
would. The test session creates a PostgreSQL database of its own
(`humeval_stack_<random>`) on the server that DATABASE_URL names, migrates it
with `manage.py migrate`, and starts gunicorn on it with two sync workers.
Each test starts its own Celery workers. The database named in DATABASE_URL
itself is never touched.

Redis database 7 is the broker, apart from database 15 of the queue tests,
and every model the tests register names a worker queue of its own, so a
worker here never takes another test's task. These tests skip when
PostgreSQL or Redis is missing, and fail then with HUMEVAL_REQUIRE_SERVICES=1.
"""

import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest
import redis
from django.conf import settings

from tests.queue.conftest import worker_command, worker_environment
from tests.queue.worker import Worker
from tests.services import missing_service
from tests.stack.client import ApiClient
from tests.stack.gunicorn import Gunicorn

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
REDIS_DATABASE = 7
BROKER_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DATABASE}"
COMMAND_TIMEOUT = 120
ADMIN_USERNAME = "stack-admin"
ADMIN_EMAIL = "stack-admin@example.org"
TOKEN_LINE = re.compile(r"Generated token (?P<token>[0-9a-f]{40}) for user")


@dataclass
class StackDatabase:
    """The test session's own PostgreSQL database, and read access to it for checks."""

    url: str

    def query(self, sql: str, params=()) -> list[tuple]:
        """Run one SQL statement on a fresh connection and return its rows."""
        connection = _connect(self.url)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()
        finally:
            connection.close()


@dataclass
class Stack:
    """gunicorn on the stack database, the broker, and an API client of a site admin."""

    database: StackDatabase
    broker_url: str
    server: Gunicorn
    log_dir: Path
    environment: dict[str, str] = field(repr=False)
    admin: ApiClient | None = None

    def client_of(self, username: str) -> ApiClient:
        """Return an API client of an existing user, with a token made by `drf_create_token` as docs/api.md shows."""
        output = run_manage(self.environment, "drf_create_token", username)
        match = TOKEN_LINE.search(output)
        if match is None:
            raise RuntimeError(f"drf_create_token printed no token for {username}: {output}")
        return ApiClient(self.server.base_url, match["token"])

    def new_queue(self) -> str:
        """Return a worker queue name that no other test uses."""
        return f"humeval-stack-{uuid.uuid4().hex[:12]}"


def run_manage(environment: dict[str, str], *arguments: str) -> str:
    """Run a management command as an operator would, in a subprocess, and return its output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(arguments)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def _connect(url: str, database: str | None = None):
    parts = urlsplit(url)
    return psycopg2.connect(
        dbname=database or parts.path.lstrip("/"),
        user=parts.username,
        password=parts.password,
        host=parts.hostname or "localhost",
        port=parts.port or 5432,
        connect_timeout=5,
    )


def _run_on_server(url: str, statement: str) -> None:
    """Run `statement` in the server's maintenance database, outside any transaction."""
    connection = _connect(url, database="postgres")
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


@pytest.fixture(scope="session")
def stack_broker():
    """Return the broker URL of Redis database 7, flushed before and after the session."""
    client = redis.Redis(
        host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DATABASE, socket_connect_timeout=2, socket_timeout=10
    )
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        client.close()
        missing_service("Redis is not running: apt-get install redis-server, then redis-server --daemonize yes")
    client.flushdb()
    yield BROKER_URL
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def stack_database():
    """Create and migrate the session's own PostgreSQL database; drop it at the end of the session."""
    server_url = os.environ.get("DATABASE_URL", "")
    if urlsplit(server_url).scheme not in {"postgres", "postgresql"}:
        missing_service(
            "The stack tests need PostgreSQL: set DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/NAME "
            "(the user needs CREATEDB; the tests create and drop a database of their own)"
        )
    name = f"humeval_stack_{uuid.uuid4().hex[:12]}"
    try:
        _run_on_server(server_url, f'CREATE DATABASE "{name}"')
    except psycopg2.OperationalError as exc:
        missing_service(f"PostgreSQL is not reachable at DATABASE_URL ({exc}); start it, or apt-get install postgresql")

    url = urlsplit(server_url)._replace(path=f"/{name}").geturl()
    try:
        run_manage(worker_environment(BROKER_URL, url, None), "migrate", "--noinput")
        yield StackDatabase(url)
    finally:
        # FORCE ends connections that a killed process left behind.
        _run_on_server(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def stack(stack_database, stack_broker, tmp_path_factory):
    """Start gunicorn (2 sync workers) on the stack database and give it a site admin with an API token."""
    log_dir = tmp_path_factory.mktemp("stack")
    environment = worker_environment(stack_broker, stack_database.url, None)
    server = Gunicorn.start(environment, settings.BASE_DIR, log_dir, workers=2)
    try:
        running = Stack(stack_database, stack_broker, server, log_dir, environment)
        run_manage(environment, "createsuperuser", "--noinput", "--username", ADMIN_USERNAME, "--email", ADMIN_EMAIL)
        running.admin = running.client_of(ADMIN_USERNAME)
        yield running
    finally:
        server.stop()
        print(f"--- gunicorn error log (exit code {server.process.returncode}) ---")
        print(server.log())


@pytest.fixture
def start_worker(stack, request):
    """Return a function that starts a Celery worker on a queue and waits until it is ready.

    Workers are stopped at teardown; their logs are printed then, so pytest shows them when the test fails.
    """
    workers = []

    def start(queue: str, visibility_timeout: int | None = None) -> Worker:
        index = len(workers) + 1
        name = f"{queue}-{index}@{os.uname().nodename}"
        log_path = stack.log_dir / f"{request.node.name}-worker-{index}.log"
        environment = worker_environment(stack.broker_url, stack.database.url, visibility_timeout)
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                worker_command(queue, name),
                cwd=settings.BASE_DIR,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        worker = Worker(name, process, log_path)
        workers.append(worker)
        worker.wait_until_ready()
        return worker

    yield start

    for worker in workers:
        worker.stop()
    for worker in workers:
        print(f"--- log of worker {worker.name} (exit code {worker.process.returncode}) ---")
        print(worker.log())
