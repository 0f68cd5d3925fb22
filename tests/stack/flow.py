"""Steps of humeval's main flow, each done through the REST API as docs/api.md describes it."""

import json

import pytest

from generation.packaged import PackagedModelMissing, smollm2_gguf_path
from tests.queue.worker import wait_for
from tests.stack.client import ApiClient

CRITERION = "overall"


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def import_prompts(admin: ApiClient, name: str, prompts: list[str]) -> dict:
    """Create a prompt set and upload the prompts to it as a JSONL file; return the set."""
    prompt_set = admin.post("prompt-sets/", {"name": name}, expect=201)
    rows = [{"id": f"p{index}", "text": text} for index, text in enumerate(prompts)]
    result = admin.post(
        f"prompt-sets/{prompt_set['uuid']}/import/",
        files={"file": ("prompts.jsonl", jsonl(rows), "application/jsonl")},
        data={"language": "en"},
        expect=201,
    )
    assert result["imported"] == len(prompts)
    return result["prompt_set"]


def register_smollm2(admin: ApiClient, name: str, queue: str, max_new_tokens: int) -> dict:
    """Register the packaged SmolLM2 model, routed to `queue`; skip when the package is not installed."""
    try:
        path = smollm2_gguf_path()
    except PackagedModelMissing as exc:
        pytest.skip(f"{exc} (run 'make setup' to install the packaged models)")
    body = {
        "name": name,
        "source": str(path.parent),
        "gguf_file": path.name,
        "worker_queue": queue,
        "max_new_tokens": max_new_tokens,
    }
    return admin.post("models/", body, expect=201)


def run_status(admin: ApiClient, run_uuid: str) -> dict:
    return admin.get(f"runs/{run_uuid}/")


def wait_for_run(admin: ApiClient, run_uuid: str, timeout: float, worker=None) -> dict:
    """Follow the run's progress through the API until it completes; fail at once if it fails."""

    def finished():
        run = run_status(admin, run_uuid)
        if run["status"] == "failed":
            pytest.fail(f"Generation run {run_uuid} failed: {run['error']}")
        return run if run["status"] == "completed" else None

    return wait_for(finished, timeout, f"generation run {run_uuid} to complete", worker)


def create_pairwise_study(admin: ApiClient, name: str, prompt_set: str, systems: list[str], overlap: int) -> dict:
    """Create a pairwise study of `systems` with one criterion and no gold items, and open it."""
    body = {
        "name": name,
        "kind": "pairwise",
        "prompt_set": prompt_set,
        "systems": systems,
        "overlap": overlap,
        "gold_rate": 0,
        "instructions": "Pick the more **helpful** answer.",
        "criteria": [{"name": CRITERION, "question": "Which answer is better?"}],
    }
    study = admin.post("studies/", body, expect=201)
    assert study["status"] == "draft"
    opened = admin.post(f"studies/{study['uuid']}/open/")
    assert opened["study"]["status"] == "open"
    return opened


def add_annotators(stack, study_uuid: str, usernames: list[str]) -> dict[str, ApiClient]:
    """Create the annotators' accounts by adding them to the study, and return an API client for each."""
    invited = stack.admin.post(f"studies/{study_uuid}/annotators/", {"usernames": usernames}, expect=201)
    assert sorted(person["username"] for person in invited) == sorted(usernames)
    assert all(person["is_new_account"] for person in invited)
    return {username: stack.client_of(username) for username in usernames}


def judge_everything(client: ApiClient, study_uuid: str, choose) -> list[dict]:
    """Take and judge tasks until the study has none left for this annotator; return what was submitted.

    `choose(count)` returns the screen label (A, B, tie or both_bad) for the annotator's count-th task.
    """
    submitted = []
    while True:
        offered = client.post(f"annotate/studies/{study_uuid}/next/")
        task = offered["task"]
        if task is None:
            return submitted
        choice = choose(len(submitted))
        result = client.post(
            f"annotate/studies/{study_uuid}/tasks/{task['assignment']}/submit/",
            {"answers": {CRITERION: choice}, "rationale": "Judged by the stack test.", "time_on_task": 3.5},
        )
        submitted.append({"assignment": task["assignment"], "judgment": result["judgment"], "choice": choice})
