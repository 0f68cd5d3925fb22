"""Processes of the production stack killed with SIGKILL under load: nothing acknowledged is lost or doubled.

1. A gunicorn worker dies while annotators submit through the API. Clients
   whose connection was cut send the request again, as a browser or script
   would. Submitting twice is harmless, so afterwards every acknowledged
   judgment is stored exactly once and no item has more judgments than its
   overlap.
2. The Celery worker dies in the middle of a generation run. Redis hands the
   unacknowledged task to a new worker once the visibility timeout has
   passed, and the run completes with exactly one response per prompt.
"""

import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest
import requests

from tests.queue.worker import wait_for
from tests.stack.client import ApiClient
from tests.stack.flow import (
    CRITERION,
    add_annotators,
    create_pairwise_study,
    import_prompts,
    jsonl,
    register_smollm2,
    run_status,
    wait_for_run,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.queue, pytest.mark.timeout(900)]

# Study under load: 3 systems give 3 pairs per prompt, so 180 items wanting 360 judgments from 6
# annotators. That is more than the kills need: the annotators stop once the kills are over.
LOAD_PROMPTS = [f"Name a thing whose name has {count} letters." for count in range(3, 63)]
LOAD_SYSTEMS = ["Zentrovax-North", "Zentrovax-South", "Zentrovax-East"]
ANSWER_STYLES = ["in brief", "at length", "as a list"]
LOAD_OVERLAP = 2
LOAD_ANNOTATORS = [f"stack-load-{number}" for number in range(1, 7)]
CHOICES = ["A", "B", "tie", "both_bad"]
# A SIGKILL that lands while a worker is idle cuts no request, so the test
# kills again (after the replacement serves) until a client has seen a cut.
MAX_KILLS = 6
# Submits acknowledged after the last restart, before the load stops.
SUBMITS_AFTER_RESTART = 10
RETRIES = 8
RETRY_PAUSE = 0.2
RESTART_TIMEOUT = 60
LOAD_TIMEOUT = 300

# Generation run killed mid-way: batch size 1, so each prompt's response is committed on its own.
KILL_PROMPTS = [f"Name a {thing}." for thing in ("fruit", "tree", "river", "city", "colour", "metal", "bird", "tool")]
KILL_MAX_NEW_TOKENS = 4
# Redis redelivers the killed worker's task this many seconds after delivering it (default 12 hours).
VISIBILITY_TIMEOUT = 2
RUN_TIMEOUT = 300
REDELIVERY_TIMEOUT = 60
TASK_RECEIVED = re.compile(r"Task generation\.tasks\.generate_run\[(?P<task>[0-9a-f-]+)\] received")


class LoadRecord:
    """What the annotator threads saw: acknowledged judgments and requests cut off by a dead worker."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acknowledged: list[tuple[str, str]] = []
        self.cut: list[str] = []

    def acknowledge(self, assignment: str, judgment: str) -> None:
        with self.lock:
            self.acknowledged.append((assignment, judgment))

    def record_cut(self, description: str, error: Exception) -> None:
        with self.lock:
            self.cut.append(f"{description}: {type(error).__name__}")


def with_retries(record: LoadRecord, description: str, call):
    """Return `call()`, sending the request again after a connection error, as a client of a restarted server would."""
    for _attempt in range(RETRIES):
        try:
            return call()
        except requests.ConnectionError as exc:
            record.record_cut(description, exc)
            time.sleep(RETRY_PAUSE)
    raise AssertionError(f"{description} failed with a connection error {RETRIES} times in a row.")


def annotate_until_done(client: ApiClient, study_uuid: str, record: LoadRecord, seed: int, stop) -> int:
    """Take and submit tasks until none is left for this annotator or `stop` is set; return how many were submitted."""
    submitted = 0
    next_url = f"annotate/studies/{study_uuid}/next/"
    while not stop.is_set():
        offered = with_retries(record, "next", partial(client.post, next_url))
        task = offered["task"]
        if task is None:
            break
        assignment = task["assignment"]
        body = {"answers": {CRITERION: CHOICES[(seed + submitted) % len(CHOICES)]}, "time_on_task": 2.0}
        submit_url = f"annotate/studies/{study_uuid}/tasks/{assignment}/submit/"
        result = with_retries(record, f"submit {assignment}", partial(client.post, submit_url, body))
        record.acknowledge(assignment, result["judgment"])
        submitted += 1
    return submitted


def kill_workers_under_load(server, futures, record: LoadRecord) -> list[int]:
    """Kill one gunicorn worker at a time while the load runs, until a request was cut; return the killed ids.

    After each kill, wait until the master's new worker has served
    requests, so at most one worker is down at a time.
    """

    def load_running():
        return not all(future.done() for future in futures)

    wait_for(lambda: len(record.acknowledged) >= 3 or not load_running(), LOAD_TIMEOUT, "the load to start")
    killed = []
    while load_running() and not record.cut and len(killed) < MAX_KILLS:
        before = server.worker_pids()
        victim = min(before)
        server.kill_worker(victim)
        killed.append(victim)

        def replacement_serving(before=before, victim=victim):
            workers = server.worker_pids()
            started = workers - before
            if victim in workers or len(workers) < server.workers or not started:
                return False
            # A load that has ended sends the replacement nothing; the test checks later that it serves.
            return started <= server.serving_pids() or not load_running()

        wait_for(replacement_serving, RESTART_TIMEOUT, f"gunicorn to replace killed worker {victim}")

    # Some more submits, so that judgments acknowledged by the restarted worker are checked too.
    acknowledged = len(record.acknowledged)
    wait_for(
        lambda: len(record.acknowledged) >= acknowledged + SUBMITS_AFTER_RESTART or not load_running(),
        LOAD_TIMEOUT,
        "submits after the restart",
    )
    return killed


def create_imported_systems(admin: ApiClient, prompt_set: dict) -> list[str]:
    """Register models whose answers were made elsewhere and import one file of answers for each; return the runs."""
    runs = []
    for name, style in zip(LOAD_SYSTEMS, ANSWER_STYLES, strict=True):
        model = admin.post("models/", {"name": name, "backend": "imported", "source": "imported"}, expect=201)
        # Model names never occur in answers, as in every test of this suite.
        rows = [{"id": f"p{index}", "response": f"Answer {index}, {style}."} for index in range(len(LOAD_PROMPTS))]
        result = admin.post(
            "runs/import-responses/",
            files={"file": ("answers.jsonl", jsonl(rows), "application/jsonl")},
            data={"model": model["uuid"], "prompt_set": prompt_set["uuid"], "label": "v1"},
            expect=201,
        )
        assert result["imported"] == len(LOAD_PROMPTS)
        runs.append(result["run"]["uuid"])
    return runs


def test_gunicorn_worker_killed_while_annotators_submit(stack):
    admin = stack.admin
    prompt_set = import_prompts(admin, "stack-load-prompts", LOAD_PROMPTS)
    systems = create_imported_systems(admin, prompt_set)
    opened = create_pairwise_study(admin, "stack-load-study", prompt_set["uuid"], systems, LOAD_OVERLAP)
    study_uuid = opened["study"]["uuid"]
    items = opened["items_created"]
    assert items == len(LOAD_PROMPTS) * 3
    clients = add_annotators(stack, study_uuid, LOAD_ANNOTATORS)

    # 1. Annotators submit in threads while workers are killed, and stop once a restarted worker has served them.
    record = LoadRecord()
    stop = threading.Event()
    with ThreadPoolExecutor(len(clients)) as pool:
        futures = [
            pool.submit(annotate_until_done, client, study_uuid, record, seed, stop)
            for seed, client in enumerate(clients.values())
        ]
        try:
            killed = kill_workers_under_load(stack.server, futures, record)
        finally:
            stop.set()
        submitted = [future.result(timeout=LOAD_TIMEOUT) for future in futures]
    print(f"killed gunicorn workers {killed}; requests cut: {record.cut}; judgments per annotator: {submitted}")

    assert killed, "The load ended before a worker could be killed; give the study more items."
    assert record.cut, f"No request was cut off by {len(killed)} kills; the fault was not exercised."
    assert stack.server.process.poll() is None
    assert len(stack.server.worker_pids()) == stack.server.workers
    stack.server.wait_until_serving()

    # 2. Each acknowledged assignment has one judgment, and a retried submit returned the same one.
    judgment_of = {}
    for assignment, judgment in record.acknowledged:
        assert judgment_of.setdefault(assignment, judgment) == judgment, f"assignment {assignment} got two judgments"
    assert len(judgment_of) == sum(submitted)

    # 3. The database contains exactly the acknowledged judgments, at most one per item and annotator.
    rows = stack.database.query(
        """
        SELECT judgment.uuid::text, assignment.uuid::text, judgment.item_id, judgment.annotator_id, judgment.is_surplus
        FROM annotate_judgment AS judgment
        JOIN annotate_assignment AS assignment ON assignment.id = judgment.assignment_id
        JOIN annotate_item AS item ON item.id = judgment.item_id
        JOIN annotate_study AS study ON study.id = item.study_id
        WHERE study.uuid = %s
        """,
        (study_uuid,),
    )
    stored = {judgment: assignment for judgment, assignment, _item, _annotator, _surplus in rows}
    assert len(stored) == len(rows)
    assert stored == {judgment: assignment for assignment, judgment in judgment_of.items()}
    per_annotator_and_item = Counter((item, annotator) for _judgment, _assignment, item, annotator, _surplus in rows)
    assert max(per_annotator_and_item.values()) == 1
    # Leases last 30 minutes by default, so no submit here came late enough to be surplus.
    assert not [row for row in rows if row[4]], "a judgment was marked surplus"

    # 4. No item has more judgments than its overlap, and each item's kept count agrees with its judgments.
    counted = Counter(item for _judgment, _assignment, item, _annotator, _surplus in rows)
    item_rows = stack.database.query(
        """
        SELECT item.id, item.counted_judgments FROM annotate_item AS item
        JOIN annotate_study AS study ON study.id = item.study_id
        WHERE study.uuid = %s AND NOT item.is_gold
        """,
        (study_uuid,),
    )
    assert len(item_rows) == items
    for item_id, kept_count in item_rows:
        assert counted[item_id] <= LOAD_OVERLAP, f"item {item_id} has {counted[item_id]} judgments"
        assert kept_count == counted[item_id], f"item {item_id} counts {kept_count} of {counted[item_id]} judgments"

    progress = admin.get(f"studies/{study_uuid}/progress/")
    assert progress["counted_judgments"] == len(rows)
    assert progress["surplus_judgments"] == 0


def received_tasks(worker) -> list[str]:
    return TASK_RECEIVED.findall(worker.log())


def test_celery_worker_killed_mid_run(stack, start_worker):
    admin = stack.admin
    queue = stack.new_queue()
    first = start_worker(queue, visibility_timeout=VISIBILITY_TIMEOUT)
    prompt_set = import_prompts(admin, "stack-kill-prompts", KILL_PROMPTS)
    model = register_smollm2(admin, "Vorqueth-Killed", queue, KILL_MAX_NEW_TOKENS)
    run = admin.post("runs/", {"model": model["uuid"], "prompt_set": prompt_set["uuid"], "batch_size": 1}, expect=201)

    # 1. Kill the worker once the first responses are stored.
    wait_for(lambda: run_status(admin, run["uuid"])["progress"]["done"] >= 1, RUN_TIMEOUT, "the first response", first)
    first.kill()
    killed_at = time.monotonic()

    before_kill = {
        (response["uuid"], response["prompt"], response["text"])
        for response in admin.get_all(f"runs/{run['uuid']}/responses/")
    }
    if len(before_kill) >= len(KILL_PROMPTS):
        pytest.fail("The run finished before the worker was killed; give it more prompts or tokens.")
    assert run_status(admin, run["uuid"])["status"] == "running"

    # 2. A new worker on the queue gets the same task once the visibility
    # timeout has passed. Kombu 5.7 restores unacknowledged tasks when a
    # worker starts polling, so the new worker starts after the timeout.
    time.sleep(max(0.0, killed_at + VISIBILITY_TIMEOUT + 0.5 - time.monotonic()))
    second = start_worker(queue, visibility_timeout=VISIBILITY_TIMEOUT)
    wait_for(lambda: received_tasks(second), REDELIVERY_TIMEOUT, "the task to be redelivered", second)
    completed = wait_for_run(admin, run["uuid"], RUN_TIMEOUT, second)

    # 3. One response per prompt; those stored before the kill are kept as they were.
    assert completed["progress"]["done"] == len(KILL_PROMPTS)
    responses = admin.get_all(f"runs/{run['uuid']}/responses/")
    assert len(responses) == len(KILL_PROMPTS)
    prompts = {prompt["uuid"] for prompt in admin.get_all(f"prompt-sets/{prompt_set['uuid']}/prompts/")}
    assert Counter(response["prompt"] for response in responses) == Counter(prompts)
    assert before_kill <= {(response["uuid"], response["prompt"], response["text"]) for response in responses}
    assert received_tasks(first) == received_tasks(second), "the second worker ran another task than the first"
    assert len(received_tasks(second)) == 1
