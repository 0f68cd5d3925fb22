"""Fixtures that run generation in a real Celery worker process over Redis.

The worker is `celery -A humeval worker --pool=solo` started as a subprocess
on a queue of its own, with Redis database 15 as the broker. It reads and
writes the test database of this process, so the tests that use it need
`transactional_db`: their rows must be committed before the worker can see
them. The SQLite test database is in memory and cannot be shared, so these
tests skip on SQLite unless its test database is configured as a file.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection
from kombu import Connection

from humeval.celery import app as celery_app
from tests.queue.worker import Worker
from tests.services import missing_service

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
# A database number of its own, so flushing it before and after a test leaves
# the other Redis databases alone.
REDIS_DATABASE = 15
BROKER_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DATABASE}"


def worker_database_url() -> str:
    """Return a DATABASE_URL that points the worker at this process's test database."""
    settings_dict = connection.settings_dict
    if connection.vendor == "postgresql":
        user = quote(settings_dict["USER"] or "", safe="")
        password = quote(settings_dict["PASSWORD"] or "", safe="")
        host = settings_dict["HOST"] or "localhost"
        port = settings_dict["PORT"] or "5432"
        # NAME is the test database here, for example test_humeval.
        return f"postgres://{user}:{password}@{host}:{port}/{quote(settings_dict['NAME'], safe='')}"
    if connection.vendor == "sqlite" and not connection.is_in_memory_db():
        # NOTE: never run here, because the settings configure no file-based SQLite test database.
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    pytest.skip(
        "The Celery worker tests need PostgreSQL: the SQLite test database is in memory, so a worker "
        "process cannot share it. Set DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/NAME to run them."
    )


@pytest.fixture
def redis_broker():
    """Return the broker URL of a flushed, dedicated Redis database, and flush it again afterwards."""
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


@pytest.fixture
def queue_name():
    return f"humeval-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def publish(redis_broker, queue_name):
    """Return a function that sends a task to the worker's queue through Redis.

    The test settings run Celery in eager mode, so this turns eager mode off
    for the test and publishes on an explicit connection, which leaves the
    app's own broker settings untouched.
    """
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    broker = Connection(redis_broker)

    def send(task, *args):
        with broker.Producer() as producer:
            return task.apply_async(args=list(args), queue=queue_name, producer=producer)

    yield send
    broker.release()
    celery_app.conf.task_always_eager = eager


def worker_environment(broker_url: str, database_url: str, visibility_timeout: int | None) -> dict[str, str]:
    """Return this process's environment with the settings a worker process needs."""
    environment = {
        **os.environ,
        "CELERY_BROKER_URL": broker_url,
        "HUMEVAL_CELERY_EAGER": "0",
        "HUMEVAL_DATA_DIR": str(settings.DATA_DIR),
        # The test process may use a generated key, which the worker must share.
        "HUMEVAL_SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": database_url,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    environment.pop("HUMEVAL_BROKER_VISIBILITY_TIMEOUT", None)
    if visibility_timeout is not None:
        environment["HUMEVAL_BROKER_VISIBILITY_TIMEOUT"] = str(visibility_timeout)
    return environment


def worker_command(queue_name: str | None, name: str) -> list[str]:
    """Return the command of a worker that consumes `queue_name`, or Celery's default queue when it is None."""
    celery = Path(sys.executable).with_name("celery")
    queues = ["-Q", queue_name] if queue_name is not None else []
    return [
        str(celery),
        "-A",
        "humeval",
        "worker",
        "--pool=solo",
        "--concurrency=1",
        *queues,
        "--hostname",
        name,
        # Mingle and gossip talk to other workers, and there are none here.
        "--without-mingle",
        "--without-gossip",
        "--loglevel=INFO",
    ]


@pytest.fixture
def start_worker(transactional_db, redis_broker, queue_name, tmp_path):
    """Return a function that starts a Celery worker on the test's queue and waits until it is ready.

    Every worker started is stopped at teardown, before `transactional_db`
    empties the tables. Its log is printed then, and pytest shows it when the
    test fails.
    """
    database_url = worker_database_url()
    workers = []

    def start(visibility_timeout: int | None = None, queue: str | None = queue_name) -> Worker:
        """Start a worker on `queue` (the test's own queue unless given; None: Celery's default queue)."""
        index = len(workers) + 1
        name = f"{queue_name}-{index}@{os.uname().nodename}"
        log_path = tmp_path / f"worker-{index}.log"

        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                worker_command(queue, name),
                cwd=settings.BASE_DIR,
                env=worker_environment(redis_broker, database_url, visibility_timeout),
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
