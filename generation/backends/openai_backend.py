"""OpenAI backend: generate through any server that speaks the OpenAI HTTP API.

vLLM, TGI, SGLang and llama.cpp's server all serve `POST /v1/chat/completions`
and `POST /v1/completions`. This backend sends one non-streaming request per
generation request, at most `max_concurrency` at a time, with the standard
library only (urllib, json and a thread pool), so it adds no dependency and
never imports torch.

When the environment variable `HUMEVAL_OPENAI_API_KEY` is set, its value is
sent as `Authorization: Bearer <key>`. The key is never logged, and it is
masked in server messages that this module logs or raises.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any

from generation.backends import Backend, GenerationOutput, GenerationRequest, ModelConfig

logger = logging.getLogger(__name__)

API_KEY_VARIABLE = "HUMEVAL_OPENAI_API_KEY"

# Server messages quoted in errors and logs are cut to this many characters,
# because a proxy in front of the server may return a whole HTML page.
_MAX_MESSAGE_CHARS = 500


class OpenAIServerError(RuntimeError):
    """A request to an OpenAI-compatible server failed for good.

    `status` is the HTTP status of the last attempt, or None when the last
    attempt got no HTTP response (connection refused or reset, or timed out).
    `server_message` is the error message the server returned, or "".
    """

    def __init__(self, message: str, *, status: int | None = None, server_message: str = ""):
        super().__init__(message)
        self.status = status
        self.server_message = server_message


class _RetryableFailure(Exception):
    """One attempt failed in a way that a later attempt may not (HTTP 429 or 5xx, connection error, timeout)."""

    def __init__(self, description: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(description)
        self.status = status
        self.retry_after = retry_after


class _Aborted(Exception):
    """Another request of the same generate() call failed, so this one stops retrying."""


class OpenAIBackend(Backend):
    """Backend that sends each generation request to an OpenAI-compatible server.

    With `config.use_chat_template`, requests go to `{base_url}/chat/completions`
    and the server applies the model's chat template: a plain prompt becomes
    one user message, and `GenerationRequest.messages` are sent as they are.
    Otherwise requests go to `{base_url}/completions` with
    `config.prompt_template` applied, which only a single user turn allows.
    The model id sent is `config.source`.

    Each request sends `temperature`, `top_p`, `max_tokens`, `seed` and the
    config's stop strings as `stop`, and `repetition_penalty` only when it is
    not 1.0. `repetition_penalty` is an extra parameter that vLLM accepts and
    other servers may reject or ignore.

    Outputs: `finish_reason` is "length" when the server reports "length" and
    "stop" for anything else. `token_count` is the server's
    `usage.completion_tokens`, and 0 when the response has no usage.
    `latency_seconds` is the wall time of the request's successful attempt,
    without earlier failed attempts or backoff. The text is also cut at the
    first stop string, because not every server removes it.

    At most `max_concurrency` requests are in flight at once. `batch_size` is
    the same number, so callers that change `batch_size` change the bound.
    `timeout` is urllib's socket timeout in seconds: connecting, and each wait
    for response bytes, may block that long. Because responses are not
    streamed, a server that takes longer than `timeout` to generate the whole
    completion times the request out.

    An attempt that fails with HTTP 429 or 5xx, a connection error or a
    timeout is retried up to `max_retries` times. Before retry n (from 1) the
    backend sleeps the server's `Retry-After` when the response has one,
    capped at `max_retry_after` seconds, and otherwise a random time between
    half of and all of `min(backoff_max, backoff_base * 2 ** (n - 1))`.
    Any other HTTP error raises OpenAIServerError at once. When one request
    fails for good, generate() raises its error, requests not yet sent are
    cancelled, and requests in flight make no further attempts.

    `model` and `tokenizer` are None, because the weights and the tokenizer
    stay on the server, so automatic benchmarks cannot reuse them.

    NOTE: tested against a local imitation of the API only, not against a
    running vLLM, TGI, SGLang or llama.cpp server.
    """

    def __init__(
        self,
        config: ModelConfig,
        *,
        max_concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 4,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        max_retry_after: float = 60.0,
    ):
        if config.backend != "openai":
            raise ValueError(f"Model {config.name!r}: OpenAIBackend needs backend 'openai', got {config.backend!r}.")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}.")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}.")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}.")

        self.config = config
        self.model = None
        self.tokenizer = None
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.base_url = config.base_url.rstrip("/")
        path = "/chat/completions" if config.use_chat_template else "/completions"
        self.endpoint = self.base_url + path
        # Read once here, kept out of every log line and exception.
        self._api_key = os.environ.get(API_KEY_VARIABLE) or None
        logger.info(
            "Model %s: generating through %s as model id %r, at most %d concurrent requests, API key %s",
            config.name,
            self.endpoint,
            config.source,
            max_concurrency,
            "set" if self._api_key else "not set",
        )

    @property
    def batch_size(self) -> int:
        return self.max_concurrency

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        self.max_concurrency = value

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationOutput]:
        """Send every request to the server, at most `max_concurrency` at once, and return outputs in request order.

        Raises OpenAIServerError when a request fails for good, and ValueError
        when a request cannot be expressed for this model (several turns for
        a model without a chat template).
        """
        if not requests:
            return []
        bodies = [self.request_body(request) for request in requests]
        abort = threading.Event()
        workers = min(self.max_concurrency, len(bodies))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai-backend") as executor:
            futures = [executor.submit(self._send_with_retries, body, abort) for body in bodies]
            try:
                wait(futures, return_when=FIRST_EXCEPTION)
            finally:
                # After the first failure (or an interrupt), unsent requests are cancelled and
                # requests in flight stop retrying. After success this changes nothing.
                abort.set()
                for future in futures:
                    future.cancel()

        # The first failure in request order, skipping requests that stopped because of it.
        for future in futures:
            if future.cancelled():
                continue
            error = future.exception()
            if error is not None and not isinstance(error, _Aborted):
                raise error
        return [future.result() for future in futures]

    def request_body(self, request: GenerationRequest) -> dict[str, Any]:
        """Build the JSON body for one request: chat messages or a templated prompt, plus decoding settings."""
        body: dict[str, Any] = {"model": self.config.source}
        if self.config.use_chat_template:
            body["messages"] = request.messages or [{"role": "user", "content": request.prompt}]
        else:
            prompt = request.prompt if request.prompt is not None else self._only_user_turn(request.messages)
            if self.config.prompt_template:
                # str.replace, not str.format, so braces in prompts and templates stay literal.
                prompt = self.config.prompt_template.replace("{prompt}", prompt)
            body["prompt"] = prompt

        body["max_tokens"] = request.max_new_tokens
        body["temperature"] = request.temperature
        body["top_p"] = request.top_p
        body["seed"] = request.seed
        if self.config.stop_strings:
            body["stop"] = list(self.config.stop_strings)
        if request.repetition_penalty != 1.0:
            body["repetition_penalty"] = request.repetition_penalty
        return body

    def _only_user_turn(self, messages: list[dict[str, str]]) -> str:
        if len(messages) == 1 and messages[0].get("role") == "user":
            return messages[0]["content"]
        raise ValueError(
            f"Model {self.config.name!r} uses no chat template, so it accepts a single user turn "
            f"only, but the request has {len(messages)} messages with roles "
            f"{[message.get('role') for message in messages]}."
        )

    # Sending and retrying

    def _send_with_retries(self, body: dict[str, Any], abort: threading.Event) -> GenerationOutput:
        attempts = self.max_retries + 1
        for attempt in range(1, attempts + 1):
            if abort.is_set():
                raise _Aborted()
            try:
                return self._send_once(body)
            except _RetryableFailure as failure:
                if attempt == attempts:
                    raise OpenAIServerError(
                        f"Model {self.config.name!r}: request to {self.endpoint} failed after "
                        f"{attempts} attempts; last error: {failure}",
                        status=failure.status,
                    ) from failure
                delay = self._retry_delay(attempt, failure.retry_after)
                logger.warning(
                    "Model %s: request to %s failed (%s), attempt %d of %d; retrying in %.2f s",
                    self.config.name,
                    self.endpoint,
                    failure,
                    attempt,
                    attempts,
                    delay,
                )
                # Event.wait, not time.sleep, so a failure elsewhere ends the wait early.
                if abort.wait(delay):
                    raise _Aborted() from failure
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _retry_delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    def _send_once(self, body: dict[str, Any]) -> GenerationOutput:
        """Send one attempt and parse its response; raise _RetryableFailure or OpenAIServerError on failure."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        http_request = urllib.request.Request(
            self.endpoint, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST"
        )

        started = time.perf_counter()
        try:
            with urllib.request.urlopen(http_request, timeout=self.timeout) as http_response:
                raw = http_response.read()
        except urllib.error.HTTPError as error:
            self._raise_for_status(error)
        except (TimeoutError, ConnectionError, urllib.error.URLError, http.client.HTTPException) as error:
            # urllib wraps connect failures (refused, DNS, connect timeout) in URLError;
            # a read timeout arrives as TimeoutError and a dropped connection as
            # ConnectionError or http.client.HTTPException.
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            if isinstance(reason, TimeoutError):
                raise _RetryableFailure(f"timed out after {self.timeout} s") from error
            raise _RetryableFailure(f"connection failed: {type(reason).__name__}: {reason}") from error
        latency = time.perf_counter() - started

        return self._parse_response(raw, latency)

    def _raise_for_status(self, error: urllib.error.HTTPError) -> None:
        """Raise _RetryableFailure for HTTP 429 and 5xx and OpenAIServerError for any other status."""
        try:
            payload = error.read()
        except (OSError, http.client.HTTPException):
            payload = b""
        message = self._mask_key(_server_message(payload) or error.reason or "")
        description = f"HTTP {error.code}: {message}" if message else f"HTTP {error.code}"
        if error.code == 429 or 500 <= error.code < 600:
            retry_after = _parse_retry_after(error.headers.get("Retry-After"))
            raise _RetryableFailure(description, status=error.code, retry_after=retry_after) from error
        raise OpenAIServerError(
            f"Model {self.config.name!r}: {self.endpoint} rejected the request with {description} "
            "(not retried, because only HTTP 429 and 5xx are).",
            status=error.code,
            server_message=message,
        ) from error

    def _parse_response(self, raw: bytes, latency: float) -> GenerationOutput:
        try:
            payload = json.loads(raw)
            choice = payload["choices"][0]
            if self.config.use_chat_template:
                # content is null when a chat model returns only a tool call.
                text = choice["message"].get("content") or ""
            else:
                text = choice["text"]
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
            snippet = raw[:_MAX_MESSAGE_CHARS].decode("utf-8", errors="replace")
            raise OpenAIServerError(
                f"Model {self.config.name!r}: {self.endpoint} returned a response that is not an OpenAI "
                f"{'chat completion' if self.config.use_chat_template else 'completion'} "
                f"({type(error).__name__}: {error}): {self._mask_key(snippet)!r}"
            ) from error

        finish_reason = "length" if choice.get("finish_reason") == "length" else "stop"
        usage = payload.get("usage") or {}
        token_count = usage.get("completion_tokens") or 0
        text = _cut_at_stop_strings(text, self.config.stop_strings)
        return GenerationOutput(text, int(token_count), finish_reason, latency)

    def _mask_key(self, text: str) -> str:
        if self._api_key and self._api_key in text:
            return text.replace(self._api_key, "***")
        return text


def _server_message(payload: bytes) -> str:
    """Return the error message in an error response body, whichever server's format it has.

    OpenAI, llama.cpp and recent vLLM send `{"error": {"message": ...}}`,
    TGI sends `{"error": "..."}`, and older vLLM `{"message": ...}`. Any
    other body is returned as text.
    """
    text = payload.decode("utf-8", errors="replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text[:_MAX_MESSAGE_CHARS]
    message: Any = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message")
        elif isinstance(error, str):
            message = error
        if message is None:
            message = body.get("message")
    if message is None:
        message = text
    return str(message)[:_MAX_MESSAGE_CHARS]


def _parse_retry_after(value: str | None) -> float | None:
    """Return the delay in seconds that a `Retry-After` header requests, or None when it is missing or invalid.

    RFC 9110 allows whole seconds or an HTTP date. Fractional seconds are
    accepted too, although the RFC does not allow them.
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _cut_at_stop_strings(text: str, stop_strings: list[str]) -> str:
    """Return `text` up to the first stop string it contains, without the stop string."""
    cut = min((pos for pos in (text.find(stop) for stop in stop_strings) if pos >= 0), default=len(text))
    return text[:cut]
