"""The openai backend against a local HTTP server that imitates an OpenAI-compatible API.

The fake server answers on 127.0.0.1 like vLLM's `/v1/chat/completions` and
`/v1/completions`: it echoes the last user message (or the prompt), records
every request it receives and counts how many are in flight at once. A test
replaces its reply function to script errors, delays and finish reasons.
"""

import json
import logging
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import CommandError, call_command

from generation.backends import GenerationRequest, ModelConfig, load_backend
from generation.backends.openai_backend import API_KEY_VARIABLE, OpenAIBackend, OpenAIServerError
from generation.models import GenerationRun, LanguageModel, RunStatus
from generation.runner import execute_run
from tests.factories import make_prompt_set

pytestmark = pytest.mark.timeout(20)

SERVED_MODEL = "served/tiny-chat"


def echo_reply(server, path, body):
    """Answer like a server that repeats the prompt: status, extra headers, JSON payload."""
    usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    if path.endswith("/chat/completions"):
        content = "echo: " + body["messages"][-1]["content"]
        choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        return 200, {}, {"object": "chat.completion", "model": body["model"], "choices": [choice], "usage": usage}
    choice = {"index": 0, "text": "echo: " + body["prompt"], "finish_reason": "stop"}
    return 200, {}, {"object": "text_completion", "model": body["model"], "choices": [choice], "usage": usage}


class FakeOpenAIServer:
    """ThreadingHTTPServer on a free port of 127.0.0.1 that records requests and replies through `reply`."""

    def __init__(self):
        self.reply = echo_reply
        self.requests = []
        self.request_times = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        # Set at shutdown so that handlers that imitate a hanging server return.
        self.closing = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.base_url = f"http://127.0.0.1:{self.httpd.server_port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with server.lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    server.request_times.append(time.monotonic())
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    status, headers, payload = server.reply(server, self.path, body)
                finally:
                    with server.lock:
                        server.in_flight -= 1
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # The client timed out and closed the connection.

            def log_message(self, format, *args):
                pass

        return Handler

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture(autouse=True)
def no_api_key(monkeypatch):
    monkeypatch.delenv(API_KEY_VARIABLE, raising=False)


def chat_config(server, **fields):
    return ModelConfig(name="Vextrel-Chat", source=SERVED_MODEL, backend="openai", base_url=server.base_url, **fields)


def base_config(server, **fields):
    return ModelConfig(
        name="Vextrel-Base",
        source="served/tiny-base",
        backend="openai",
        base_url=server.base_url,
        use_chat_template=False,
        **fields,
    )


def fast_backend(config, **options):
    """Build a backend with millisecond backoff so retry tests stay fast."""
    settings = {"backoff_base": 0.001, "backoff_max": 0.01, "timeout": 5.0, **options}
    return OpenAIBackend(config, **settings)


# Request bodies and endpoints


def test_chat_request_body(server):
    backend = fast_backend(chat_config(server, stop_strings=["</s>", "\n\nUser:"]))

    [output] = backend.generate([GenerationRequest(prompt="Say hi.", max_new_tokens=7, seed=42)])

    assert output.text == "echo: Say hi."
    [received] = server.requests
    assert received["path"] == "/v1/chat/completions"
    body = received["body"]
    assert body["model"] == SERVED_MODEL
    assert body["messages"] == [{"role": "user", "content": "Say hi."}]
    assert body["max_tokens"] == 7
    assert body["seed"] == 42
    assert body["temperature"] == 0.0
    assert body["top_p"] == 1.0
    assert body["stop"] == ["</s>", "\n\nUser:"]
    assert "repetition_penalty" not in body
    assert "Authorization" not in received["headers"]


def test_chat_sends_messages_as_given(server):
    backend = fast_backend(chat_config(server))
    messages = [
        {"role": "user", "content": "Name a fruit."},
        {"role": "assistant", "content": "Apple."},
        {"role": "user", "content": "Another one?"},
    ]

    [output] = backend.generate([GenerationRequest(messages=messages)])

    assert server.requests[0]["body"]["messages"] == messages
    assert output.text == "echo: Another one?"


def test_completions_apply_prompt_template(server):
    config = base_config(server, prompt_template="Q: {prompt}\nA:", stop_strings=["\nQ:"])
    backend = fast_backend(config)

    [output] = backend.generate([GenerationRequest(prompt="2+2? {x}", max_new_tokens=3, seed=9)])

    [received] = server.requests
    assert received["path"] == "/v1/completions"
    body = received["body"]
    assert body["model"] == "served/tiny-base"
    assert body["prompt"] == "Q: 2+2? {x}\nA:"
    assert "messages" not in body
    assert body["stop"] == ["\nQ:"]
    assert body["max_tokens"] == 3
    assert body["seed"] == 9
    assert output.text == "echo: Q: 2+2? {x}\nA:"


def test_completions_reject_several_turns(server):
    backend = fast_backend(base_config(server))
    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]

    with pytest.raises(ValueError, match="single user turn"):
        backend.generate([GenerationRequest(messages=messages)])

    assert server.requests == []


def test_repetition_penalty_sent_when_not_one(server):
    backend = fast_backend(chat_config(server))

    backend.generate([GenerationRequest(prompt="x", repetition_penalty=1.3, temperature=0.7, top_p=0.9)])

    body = server.requests[0]["body"]
    assert body["repetition_penalty"] == 1.3
    assert body["temperature"] == 0.7
    assert body["top_p"] == 0.9


# Response mapping


def test_finish_reason_and_usage_mapping(server):
    finish_reasons = {"p0": "length", "p1": "stop", "p2": "eos", "p3": None}

    def reply(server, path, body):
        prompt = body["messages"][-1]["content"]
        message = {"role": "assistant", "content": "ok"}
        choice = {"index": 0, "message": message, "finish_reason": finish_reasons[prompt]}
        payload = {"choices": [choice]}
        if prompt != "p3":
            payload["usage"] = {"prompt_tokens": 1, "completion_tokens": 10 + int(prompt[1]), "total_tokens": 0}
        return 200, {}, payload

    server.reply = reply
    backend = fast_backend(chat_config(server))

    outputs = backend.generate([GenerationRequest(prompt=f"p{i}") for i in range(4)])

    assert [output.finish_reason for output in outputs] == ["length", "stop", "stop", "stop"]
    assert [output.token_count for output in outputs] == [10, 11, 12, 0]
    for output in outputs:
        assert output.latency_seconds > 0


def test_text_cut_at_stop_string(server):
    def reply(server, path, body):
        choice = {"index": 0, "text": "four\nQ: and five?", "finish_reason": "stop"}
        return 200, {}, {"choices": [choice], "usage": {"completion_tokens": 6}}

    server.reply = reply
    backend = fast_backend(base_config(server, stop_strings=["\nQ:"]))

    [output] = backend.generate([GenerationRequest(prompt="2+2?")])

    assert output.text == "four"


def test_malformed_response_raises(server):
    server.reply = lambda server, path, body: (200, {}, b"<html>proxy page</html>")
    backend = fast_backend(chat_config(server))

    with pytest.raises(OpenAIServerError, match="not an OpenAI chat completion"):
        backend.generate([GenerationRequest(prompt="x")])

    assert len(server.requests) == 1


# Concurrency


def test_outputs_keep_request_order(server):
    def reply(server, path, body):
        index = int(body["messages"][-1]["content"])
        # Later requests get their responses first.
        time.sleep(0.02 * (8 - index))
        return echo_reply(server, path, body)

    server.reply = reply
    backend = fast_backend(chat_config(server), max_concurrency=8)

    outputs = backend.generate([GenerationRequest(prompt=str(i)) for i in range(8)])

    assert [output.text for output in outputs] == [f"echo: {i}" for i in range(8)]
    assert server.max_in_flight > 1


def test_concurrency_bound_respected(server):
    def reply(server, path, body):
        time.sleep(0.05)
        return echo_reply(server, path, body)

    server.reply = reply
    backend = fast_backend(chat_config(server), max_concurrency=3)

    outputs = backend.generate([GenerationRequest(prompt=str(i)) for i in range(12)])

    assert len(outputs) == 12
    assert len(server.requests) == 12
    assert server.max_in_flight == 3


def test_batch_size_sets_concurrency_bound(server):
    server.reply = lambda server, path, body: (time.sleep(0.05), echo_reply(server, path, body))[1]
    backend = load_backend(chat_config(server), batch_size=2)
    assert isinstance(backend, OpenAIBackend)
    assert backend.max_concurrency == 2

    backend.batch_size = 4
    backend.generate([GenerationRequest(prompt=str(i)) for i in range(8)])

    assert server.max_in_flight == 4


# Retries


def scripted(*statuses, headers=None, message="scripted failure"):
    """Return a reply function that fails with `statuses` in turn and then echoes."""
    remaining = list(statuses)

    def reply(server, path, body):
        with server.lock:
            status = remaining.pop(0) if remaining else 200
        if status == 200:
            return echo_reply(server, path, body)
        return status, headers or {}, {"error": {"message": message, "type": "error", "code": status}}

    return reply


def test_429_retried_after_retry_after(server):
    server.reply = scripted(429, headers={"Retry-After": "1"}, message="rate limit reached")
    backend = fast_backend(chat_config(server))

    [output] = backend.generate([GenerationRequest(prompt="x")])

    assert output.text == "echo: x"
    assert len(server.requests) == 2
    gap = server.request_times[1] - server.request_times[0]
    assert gap >= 0.95


def test_500_three_times_then_success(server, caplog):
    server.reply = scripted(500, 500, 500)
    backend = fast_backend(chat_config(server), max_retries=4)

    with caplog.at_level(logging.WARNING, logger="generation.backends.openai_backend"):
        [output] = backend.generate([GenerationRequest(prompt="x")])

    assert output.text == "echo: x"
    assert len(server.requests) == 4
    retries = [record for record in caplog.records if "retrying" in record.getMessage()]
    assert len(retries) == 3
    assert "HTTP 500: scripted failure" in retries[0].getMessage()


def test_400_not_retried(server):
    server.reply = scripted(400, message="max_tokens must be at most 2048")
    backend = fast_backend(chat_config(server))

    with pytest.raises(OpenAIServerError, match="HTTP 400: max_tokens must be at most 2048") as raised:
        backend.generate([GenerationRequest(prompt="x")])

    assert raised.value.status == 400
    assert raised.value.server_message == "max_tokens must be at most 2048"
    assert len(server.requests) == 1


def test_tgi_style_error_message(server):
    server.reply = lambda server, path, body: (422, {}, {"error": "Input validation error", "error_type": "validation"})
    backend = fast_backend(chat_config(server))

    with pytest.raises(OpenAIServerError, match="HTTP 422: Input validation error"):
        backend.generate([GenerationRequest(prompt="x")])


def test_persistent_503_gives_up(server):
    server.reply = scripted(*[503] * 10, message="model is loading")
    backend = fast_backend(chat_config(server), max_retries=2)

    with pytest.raises(OpenAIServerError, match="failed after 3 attempts.*HTTP 503: model is loading") as raised:
        backend.generate([GenerationRequest(prompt="x")])

    assert raised.value.status == 503
    assert len(server.requests) == 3


def test_hanging_server_times_out(server):
    def hang(server, path, body):
        server.closing.wait(10)
        return echo_reply(server, path, body)

    server.reply = hang
    backend = fast_backend(chat_config(server), timeout=0.5, max_retries=1)

    started = time.monotonic()
    with pytest.raises(OpenAIServerError, match="timed out after 0.5 s") as raised:
        backend.generate([GenerationRequest(prompt="x")])

    assert time.monotonic() - started < 3
    assert raised.value.status is None
    assert len(server.requests) == 2


def test_connection_refused_retried_then_raises():
    with FakeOpenAIServer() as stopped:
        base_url = stopped.base_url
    config = ModelConfig(name="Vextrel-Chat", source=SERVED_MODEL, backend="openai", base_url=base_url)
    backend = fast_backend(config, max_retries=2)

    with pytest.raises(OpenAIServerError, match="failed after 3 attempts.*connection failed"):
        backend.generate([GenerationRequest(prompt="x")])


def test_failure_stops_other_requests(server):
    def reply(server, path, body):
        if body["messages"][-1]["content"] == "0":
            return 400, {}, {"error": {"message": "bad request"}}
        return 503, {}, {"error": {"message": "busy"}}

    server.reply = reply
    backend = fast_backend(chat_config(server), max_concurrency=2, max_retries=50, backoff_base=0.05, backoff_max=0.05)

    with pytest.raises(OpenAIServerError, match="HTTP 400: bad request"):
        backend.generate([GenerationRequest(prompt=str(i)) for i in range(20)])

    assert len(server.requests) < 10


# API key


def test_api_key_sent_and_never_logged(server, monkeypatch, caplog):
    secret = "sk-test-Zq81vXkP0w"
    monkeypatch.setenv(API_KEY_VARIABLE, secret)
    server.reply = scripted(500, message=f"upstream rejected key {secret}")

    with caplog.at_level(logging.DEBUG):
        backend = fast_backend(chat_config(server))
        [output] = backend.generate([GenerationRequest(prompt="x")])

    assert output.text == "echo: x"
    assert len(server.requests) == 2
    for received in server.requests:
        assert received["headers"]["Authorization"] == f"Bearer {secret}"
    assert caplog.records
    assert secret not in caplog.text
    assert "API key set" in caplog.text


# Configuration and loading


def test_openai_config_needs_base_url():
    with pytest.raises(ValueError, match="base URL .* is missing or invalid"):
        ModelConfig(name="Vextrel-Chat", source=SERVED_MODEL, backend="openai")
    with pytest.raises(ValueError, match="base URL .* is missing or invalid"):
        ModelConfig(name="Vextrel-Chat", source=SERVED_MODEL, backend="openai", base_url="file:///etc/passwd")


def test_import_does_not_load_torch():
    code = "import sys, generation.backends.openai_backend; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=15, check=True)

    assert result.stdout.strip() == "False"


@pytest.mark.django_db
def test_add_model_openai_needs_base_url():
    with pytest.raises(CommandError, match="--backend openai needs --base-url"):
        call_command("add_model", "Vextrel-Chat", "--source", SERVED_MODEL, "--backend", "openai")

    assert not LanguageModel.objects.filter(name="Vextrel-Chat").exists()


@pytest.mark.django_db
def test_add_model_openai_stores_base_url():
    base_url = "http://localhost:8000/v1"

    call_command("add_model", "Vextrel-Chat", "--source", SERVED_MODEL, "--backend", "openai", "--base-url", base_url)

    model = LanguageModel.objects.get(name="Vextrel-Chat")
    assert model.backend == "openai"
    assert model.base_url == base_url
    assert model.source == SERVED_MODEL


# End to end


@pytest.mark.django_db
def test_execute_run_stores_responses(server):
    model = LanguageModel.objects.create(
        name="Vextrel-Chat", source=SERVED_MODEL, backend="openai", base_url=server.base_url
    )
    prompt_set = make_prompt_set(prompts=("Say hi.", "说你好。", "Name a fruit."))
    follow_up = prompt_set.prompts.get(position=2)
    follow_up.follow_up_turns = ["And a vegetable?"]
    follow_up.save()
    run = GenerationRun.objects.create(model=model, prompt_set=prompt_set, max_new_tokens=16, batch_size=2, seed=5)

    execute_run(run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    texts = {response.prompt.position: response for response in run.responses.select_related("prompt")}
    assert texts[0].text == "echo: Say hi."
    assert texts[1].text == "echo: 说你好。"
    assert texts[2].text == "echo: Name a fruit."
    assert texts[2].follow_up_texts == ["echo: And a vegetable?"]
    assert texts[2].token_count == 6
    assert texts[0].finish_reason == "stop"
    second_turn = server.requests[-1]["body"]
    assert second_turn["messages"] == [
        {"role": "user", "content": "Name a fruit."},
        {"role": "assistant", "content": "echo: Name a fruit."},
        {"role": "user", "content": "And a vegetable?"},
    ]
    assert {received["body"]["model"] for received in server.requests} == {SERVED_MODEL}
