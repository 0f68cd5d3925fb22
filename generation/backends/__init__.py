"""Backend interface: how humeval generates responses with a language model.

A caller builds a `ModelConfig`, calls `load_backend(config)` once, and then
`backend.generate(requests)` for as many batches of requests as it likes.

This module imports neither torch nor transformers, so web processes may
import it. Each backend imports its heavy libraries when it is loaded.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

logger = logging.getLogger(__name__)

BACKENDS = ("transformers", "openai")
DTYPES = ("auto", "bfloat16", "float16", "float32")
DEVICES = ("auto", "cpu", "cuda")

FinishReason = Literal["stop", "length"]


@dataclass
class ModelConfig:
    """Where a model's weights are and how to prompt it.

    `source` is a local folder (or a hub id, read from the local hub cache
    when `HF_HUB_OFFLINE=1`). With `gguf_file`, the weights are that GGUF
    file inside the `source` folder. For the openai backend, `source` is the
    model id the server serves, and `base_url` is the server's API root up to
    and including `/v1`, such as `http://localhost:8000/v1`. Other backends
    ignore `base_url`. `prompt_template` applies when no chat template is
    used and must contain `{prompt}`. `stop_strings` end an answer, and the
    answer text excludes them.
    """

    name: str
    source: str
    gguf_file: str | None = None
    revision: str | None = None
    backend: str = "transformers"
    dtype: str = "auto"
    use_chat_template: bool = True
    prompt_template: str = ""
    stop_strings: list[str] = field(default_factory=list)
    device: str = "auto"
    base_url: str = ""

    def __post_init__(self) -> None:
        if self.backend == "openai" and not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"Model {self.name!r}: base URL {self.base_url!r} is missing or invalid; the openai backend "
                "needs the server's API root starting with http:// or https://, such as http://localhost:8000/v1."
            )
        if self.dtype not in DTYPES:
            raise ValueError(f"Model {self.name!r}: invalid dtype {self.dtype!r}; use one of {DTYPES}.")
        if self.device not in DEVICES:
            raise ValueError(f"Model {self.name!r}: invalid device {self.device!r}; use one of {DEVICES}.")
        if self.prompt_template and "{prompt}" not in self.prompt_template:
            raise ValueError(
                f"Model {self.name!r}: prompt template {self.prompt_template!r} has no {{prompt}} placeholder."
            )
        if any(not stop for stop in self.stop_strings):
            raise ValueError(f"Model {self.name!r}: stop strings must not be empty: {self.stop_strings!r}.")


@dataclass
class GenerationRequest:
    """One prompt to answer and its decoding settings.

    Pass either `prompt` (plain text) or `messages` (chat turns as
    `{"role": ..., "content": ...}` dicts, ending with a user turn).
    A `temperature` of 0 means greedy decoding, and then `top_p` and `seed`
    are unused. `seed` makes sampling reproducible per request.
    """

    prompt: str | None = None
    messages: list[dict[str, str]] | None = None
    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("A generation request needs exactly one of prompt and messages.")
        if self.messages is not None and not self.messages:
            raise ValueError("A generation request's messages must not be empty.")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}.")
        if self.temperature < 0:
            raise ValueError(f"temperature must be 0 or more, got {self.temperature}.")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}.")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be positive, got {self.repetition_penalty}.")


@dataclass
class GenerationOutput:
    """One answer.

    `token_count` counts the generated tokens, including the end-of-sequence
    token or the tokens of a stop string, but not the prompt or padding.
    `finish_reason` is "stop" when an end-of-sequence token or a stop string
    ended the answer and "length" when `max_new_tokens` did.
    `latency_seconds` is, for the transformers backend, the wall time of the
    whole batch that contained the request, so requests answered together
    report the same latency. The openai backend measures each request alone.
    """

    text: str
    token_count: int
    finish_reason: FinishReason
    latency_seconds: float


class Backend(ABC):
    """A loaded model that answers generation requests.

    `model` and `tokenizer` are the backend's loaded objects (for the
    transformers backend, a `PreTrainedModel` and its tokenizer), exposed so
    that automatic benchmarks can reuse them without loading the weights
    again. Both are None for the openai backend, whose weights stay on the
    server. `batch_size` is the maximum number of requests answered together;
    callers may change it between calls.
    """

    config: ModelConfig
    model: Any
    tokenizer: Any
    batch_size: int

    @abstractmethod
    def generate(self, requests: list[GenerationRequest]) -> list[GenerationOutput]:
        """Generate one output per request and return them in request order."""


def default_data_dir() -> Path:
    """Return the folder for the model cache and other data: `HUMEVAL_DATA_DIR`, else `./var`."""
    return Path(os.environ.get("HUMEVAL_DATA_DIR") or "var").resolve()


def load_backend(config: ModelConfig, *, batch_size: int = 8, data_dir: str | Path | None = None) -> Backend:
    """Load the model that `config` describes and return a backend ready to generate.

    `data_dir` contains the converted-model cache (default: `default_data_dir()`)
    and is unused by the openai backend, for which `batch_size` is the maximum
    number of concurrent requests. Raises ValueError for any backend other
    than "transformers" and "openai".
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    if config.backend == "openai":
        # Imported here, not at the top, because openai_backend imports this module.
        from generation.backends.openai_backend import OpenAIBackend

        # NOTE: no model field sets the timeout or the retries, so runs use OpenAIBackend's defaults.
        return OpenAIBackend(config, max_concurrency=batch_size)
    if config.backend != "transformers":
        raise ValueError(
            f"Model {config.name!r}: backend {config.backend!r} is not implemented; "
            f"load_backend supports {', '.join(BACKENDS)} only."
        )

    # Imported here, not at the top, because transformers_backend imports this module.
    from generation.backends.transformers_backend import TransformersBackend

    return TransformersBackend(config, batch_size=batch_size, data_dir=data_dir)
