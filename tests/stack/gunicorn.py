"""gunicorn serving humeval as a subprocess of the stack tests, with its worker processes in reach.

gunicorn runs as the deployment guide starts it (`gunicorn humeval.wsgi`,
sync workers), on a free port of 127.0.0.1. Its access log carries each
request's worker process id, so a test can tell when a restarted worker
serves requests again.
"""

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests

from tests.queue.worker import wait_for

START_TIMEOUT = 90
PROBE_TIMEOUT = 20
STOP_TIMEOUT = 30
# Access log lines: "<pid> METHOD PATH HTTP/1.1 STATUS" (gunicorn writes %(p)s as "<pid>").
ACCESS_LOG_FORMAT = "%(p)s %(r)s %(s)s"
ACCESS_LINE = re.compile(r"^<(?P<pid>\d+)> (?P<request>.+) (?P<status>\d{3})$")


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that no process listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """A gunicorn master process, its log files and the URL it serves."""

    def __init__(self, process: subprocess.Popen, port: int, error_log: Path, access_log: Path, workers: int):
        self.process = process
        self.port = port
        self.error_log = error_log
        self.access_log = access_log
        self.workers = workers
        self.base_url = f"http://127.0.0.1:{port}"

    @classmethod
    def start(cls, environment: dict[str, str], cwd: Path, log_dir: Path, workers: int = 2) -> "Gunicorn":
        """Start gunicorn with `workers` sync workers and wait until each of them has served a request."""
        port = free_port()
        error_log = log_dir / "gunicorn-error.log"
        access_log = log_dir / "gunicorn-access.log"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "humeval.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--error-logfile",
            str(error_log),
            "--access-logfile",
            str(access_log),
            "--access-logformat",
            ACCESS_LOG_FORMAT,
            # gunicorn 27 opens a control socket at one fixed path per user by default,
            # which a second gunicorn on the machine would share.
            "--no-control-socket",
        ]
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        server = cls(process, port, error_log, access_log, workers)
        try:
            server.wait_until_serving()
        except BaseException:
            # Stop it here, because the caller never gets the object to stop.
            server.stop()
            raise
        return server

    def worker_pids(self) -> set[int]:
        """Return the process ids of the master's live worker processes (Linux /proc)."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return {int(pid) for pid in path.read_text().split()}
        except FileNotFoundError:
            return set()

    def serving_pids(self) -> set[int]:
        """Return the ids of every worker process that has served a request so far."""
        if not self.access_log.exists():
            return set()
        pids = set()
        for line in self.access_log.read_text(encoding="utf-8", errors="replace").splitlines():
            match = ACCESS_LINE.match(line)
            if match:
                pids.add(int(match["pid"]))
        return pids

    def wait_until_serving(self) -> None:
        """Wait until every worker has served at least one request, sending requests meanwhile."""

        def all_workers_served():
            self._check_running()
            workers = self.worker_pids()
            if len(workers) < self.workers:
                return False
            try:
                # Each new connection goes to whichever worker accepts first; enough of them reach each one.
                # A worker's first request loads the URL configuration and may take seconds on a busy machine.
                requests.get(f"{self.base_url}/api/v1/", timeout=PROBE_TIMEOUT)
            except (requests.ConnectionError, requests.Timeout):
                return False
            return workers <= self.serving_pids()

        wait_for(all_workers_served, START_TIMEOUT, f"gunicorn's {self.workers} workers to serve requests")

    def kill_worker(self, pid: int) -> None:
        """Kill one worker with SIGKILL, as the out-of-memory killer would; the master starts a new one."""
        if pid not in self.worker_pids():
            raise ValueError(f"Process {pid} is not a worker of gunicorn {self.process.pid}.")
        os.kill(pid, signal.SIGKILL)

    def log(self) -> str:
        return self.error_log.read_text(encoding="utf-8", errors="replace") if self.error_log.exists() else ""

    def stop(self) -> None:
        """Stop gunicorn with SIGTERM (graceful shutdown), and with SIGKILL if it is still running after the timeout."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    def _check_running(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {self.process.returncode}. Its log:\n{self.log()}")
