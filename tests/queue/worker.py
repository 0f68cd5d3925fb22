"""A Celery worker subprocess for the queue tests, and a bounded wait."""

import signal
import subprocess
import time
from pathlib import Path

WORKER_READY_TIMEOUT = 60
WORKER_STOP_TIMEOUT = 10
POLL_INTERVAL = 0.25


def wait_for(condition, timeout: float, description: str, worker=None):
    """Call `condition` until it returns a true value, and return that value.

    Raises TimeoutError after `timeout` seconds, and RuntimeError as soon as
    `worker` has exited, with the worker's log in both messages.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if worker is not None and worker.process.poll() is not None:
            raise RuntimeError(
                f"Worker {worker.name} exited with code {worker.process.returncode} while waiting for "
                f"{description}. Its log:\n{worker.log()}"
            )
        if time.monotonic() > deadline:
            log = f" Log of worker {worker.name}:\n{worker.log()}" if worker is not None else ""
            raise TimeoutError(f"Timed out after {timeout} s waiting for {description}.{log}")
        time.sleep(POLL_INTERVAL)


class Worker:
    """A `celery worker` subprocess and the file that receives its output."""

    def __init__(self, name: str, process: subprocess.Popen, log_path: Path):
        self.name = name
        self.process = process
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_until_ready(self, timeout: float = WORKER_READY_TIMEOUT) -> None:
        # Celery logs "<name> ready." once the worker consumes from its queues.
        wait_for(lambda: f"{self.name} ready." in self.log(), timeout, f"worker {self.name} to be ready", self)

    def kill(self) -> None:
        """Kill the worker with SIGKILL, as the OOM killer or a lost machine would."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=WORKER_STOP_TIMEOUT)

    def stop(self) -> None:
        """Stop the worker with SIGTERM, and with SIGKILL if it is still running after the timeout."""
        if self.process.poll() is not None:
            return
        # SIGTERM is Celery's warm shutdown, which waits for the running task.
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=WORKER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=WORKER_STOP_TIMEOUT)
