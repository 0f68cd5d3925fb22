"""Transformers backend: generate with local weights on CPU or one GPU.

Weights come from a Hugging Face model folder (or hub id) or from a GGUF file
inside a local folder. transformers dequantizes a GGUF file to float32 on
every load, which takes 20 to 60 s, so the first load converts it once into a
safetensors folder under `<data dir>/models/` and later loads read that folder.

torch and transformers are imported inside functions only, so importing this
module stays cheap.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generation.backends import (
    Backend,
    GenerationOutput,
    GenerationRequest,
    ModelConfig,
    default_data_dir,
)

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

# Fixed greedy continuation that a converted GGUF cache must reproduce exactly.
_PROBE_PROMPT = "The capital of France is"
_PROBE_NEW_TOKENS = 16


# Device and dtype


def resolve_device(requested: str) -> str:
    """Return "cuda" or "cpu" for a configured device of "auto", "cpu" or "cuda".

    "auto" picks CUDA when `torch.cuda.is_available()` is true. "cuda" means
    the current CUDA device (`cuda:0` unless `CUDA_VISIBLE_DEVICES` narrows
    it, which is how one worker per GPU is set up). Raises RuntimeError when
    "cuda" is requested and torch finds no GPU.
    """
    import torch

    has_cuda = torch.cuda.is_available()
    if requested == "auto":
        return "cuda" if has_cuda else "cpu"
    if requested == "cuda" and not has_cuda:
        raise RuntimeError(
            "Device 'cuda' was requested but torch finds no CUDA GPU "
            "(torch.cuda.is_available() is False); configure device 'cpu' or 'auto'."
        )
    return requested


def resolve_dtype(requested: str, device: str) -> torch.dtype:
    """Return the torch dtype for a configured dtype name on `device`.

    "auto" means bfloat16 on a CUDA GPU with native support (compute
    capability 8.0 and later), float16 on older GPUs, where torch would only
    emulate bfloat16, and float32 on CPU, where many processors lack fast
    half-precision kernels.
    """
    import torch

    if requested != "auto":
        return getattr(torch, requested)
    if device == "cuda":
        native_bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
        return torch.bfloat16 if native_bf16 else torch.float16
    return torch.float32


# GGUF conversion cache


def gguf_cache_dir(gguf_path: Path, data_dir: Path) -> Path:
    """Return the cache folder for `gguf_path`: its file name plus a hash of its size and mtime.

    A replaced or touched file gets a new folder. Old folders stay until
    someone deletes them.
    """
    stat = gguf_path.stat()
    fingerprint = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return data_dir / "models" / f"{gguf_path.stem}-{fingerprint}"


def convert_gguf(gguf_path: Path, cache_dir: Path) -> None:
    """Dequantize `gguf_path` into a float32 safetensors folder at `cache_dir`.

    The folder is written under a temporary name next to `cache_dir` and
    renamed only after the reloaded copy reproduces the GGUF model's greedy
    output, so an interrupted conversion never leaves a folder at `cache_dir`.
    A process killed mid-conversion leaves a `.<name>.*.partial` folder, which
    is safe to delete. Raises RuntimeError when the copy's output differs.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    logger.info("Converting GGUF file %s into %s", gguf_path, cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    expected = _greedy_probe(gguf_model, tokenizer)

    # transformers (5.25) marks a GGUF-loaded model as quantized and its
    # save_pretrained raises, so the weights move into a plain model first.
    model = AutoModelForCausalLM.from_config(gguf_model.config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict(), strict=True)
    model.generation_config = gguf_model.generation_config
    del gguf_model
    # Without this, the saved config still names the GGUF quantization and
    # transformers would load the plain float32 copy as a quantized model.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config

    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{cache_dir.name}.", suffix=".partial", dir=cache_dir.parent))
    # mkdtemp creates the folder as 0700; other users (such as a web server
    # and a worker under different accounts) may need to read the cache.
    os.chmod(staging, 0o755)
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        del model
        _check_converted_copy(staging, expected, gguf_path)
        _publish(staging, cache_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("Converted %s in %.1f s", gguf_path.name, time.perf_counter() - started)


def _check_converted_copy(folder: Path, expected: list[int], gguf_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    actual = _greedy_probe(model, tokenizer)
    if actual != expected:
        raise RuntimeError(
            f"The converted copy of {gguf_path} generates different greedy tokens than the "
            f"GGUF file ({actual} instead of {expected}); the conversion is not cached."
        )


def _greedy_probe(model: Any, tokenizer: Any) -> list[int]:
    import torch

    inputs = tokenizer(_PROBE_PROMPT, return_tensors="pt")
    pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=_PROBE_NEW_TOKENS, do_sample=False, pad_token_id=pad_token_id)
    return output[0, inputs["input_ids"].shape[1] :].tolist()


def _publish(staging: Path, cache_dir: Path) -> None:
    try:
        os.rename(staging, cache_dir)
    except OSError:
        # Another process may have converted the same file meanwhile, and its folder wins.
        if not (cache_dir / "config.json").exists():
            raise
        logger.info("Another process already cached %s; discarding this copy", cache_dir)


# Generation helpers


class _EndTracker:
    """Stopping criterion that ends rows at an EOS token or a stop string and records where.

    generate() does not report where each row ended, and it fills ended rows
    with the pad token, which may also be a token the model generates. After
    every step this criterion stores, per row, how many tokens the row had
    generated at its first end, which gives exact token counts.

    Stop strings are matched by transformers' StopStringCriteria. The backend
    builds it once, because building it scans the whole vocabulary (0.6 to
    1.7 s for Gemma 3's 262k tokens with transformers 5.25 on a 2-core CPU).
    Passing `stop_strings` to generate() would rebuild it for every batch.
    """

    def __init__(self, prompt_width: int, rows: int, eos_ids: torch.Tensor, stop_criterion: Any | None):
        self.prompt_width = prompt_width
        self.eos_ids = eos_ids
        self.stop_criterion = stop_criterion
        self.lengths: list[int | None] = [None] * rows

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        import torch

        ended = torch.isin(input_ids[:, -1], self.eos_ids)
        if self.stop_criterion is not None:
            ended |= self.stop_criterion(input_ids, scores)
        generated = input_ids.shape[1] - self.prompt_width
        for row in ended.nonzero().flatten().tolist():
            if self.lengths[row] is None:
                self.lengths[row] = generated
        return ended


class _SeededSampler:
    """Logits processor that samples each row's next token with that row's own seeded generator.

    generate() runs greedy (do_sample=False) and applies the repetition
    penalty first. This processor then applies temperature and top-p,
    samples one token per row, and sets every other logit to -inf, so the
    greedy step picks the sampled token. A request's samples thus depend on
    its seed and its own text only, not on batch size or batch neighbours.
    """

    def __init__(self, seeds: list[int], temperature: float, top_p: float, device: Any):
        import torch
        from transformers import TemperatureLogitsWarper, TopPLogitsWarper

        self.warpers = [TemperatureLogitsWarper(temperature)]
        if top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(top_p))
        self.generators = [torch.Generator(device=device).manual_seed(seed) for seed in seeds]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        for warper in self.warpers:
            scores = warper(input_ids, scores)
        probs = torch.softmax(scores.float(), dim=-1)
        chosen = torch.cat([torch.multinomial(probs[row], 1, generator=gen) for row, gen in enumerate(self.generators)])
        only_chosen = torch.full_like(scores, float("-inf"))
        only_chosen[torch.arange(len(chosen), device=scores.device), chosen] = 0.0
        return only_chosen


def _decoding_key(request: GenerationRequest) -> tuple:
    """Return the settings that must be equal for requests to share one generate() call."""
    if request.temperature == 0:
        return (request.max_new_tokens, request.repetition_penalty, 0.0, 1.0)
    return (request.max_new_tokens, request.repetition_penalty, request.temperature, request.top_p)


def _cut_at_stop_strings(text: str, stop_strings: list[str]) -> str:
    """Return `text` up to the first stop string it contains, without the stop string."""
    cut = min((pos for pos in (text.find(stop) for stop in stop_strings) if pos >= 0), default=len(text))
    return text[:cut]


def _is_out_of_memory(exc: RuntimeError) -> bool:
    """Return whether `exc` reports exhausted device memory.

    torch raises `torch.cuda.OutOfMemoryError` for CUDA allocations, while
    some other paths (cuBLAS workspaces, other device types) raise a plain
    RuntimeError whose message contains "out of memory".
    """
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc)


def _split(items: list[int], size: int) -> list[list[int]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _only_user_turn(messages: list[dict[str, str]], model_name: str) -> str:
    if len(messages) == 1 and messages[0].get("role") == "user":
        return messages[0]["content"]
    raise ValueError(
        f"Model {model_name!r} uses no chat template, so it can answer a single user turn "
        f"only, but the request has {len(messages)} messages with roles "
        f"{[message.get('role') for message in messages]}."
    )


# Backend


class TransformersBackend(Backend):
    """Backend that runs a causal language model through transformers' generate().

    On CUDA the weights load straight onto the GPU (`device_map="cuda"`) in
    bfloat16 or float16 as `resolve_dtype` picks, and inputs move to the
    model's device. NOTE: only the CPU path has been run, because the
    development machine has no GPU.

    Requests are grouped by decoding settings, sorted by prompt length and
    answered `batch_size` at a time with left padding. Sampling reseeds per
    request, so results do not depend on batching, except that padded batches
    can change logits in the last bits and so, rarely, a greedy or sampled
    token where two candidates are nearly tied.

    When a batch runs out of device memory, the backend frees the CUDA cache,
    halves `batch_size` for this and every later call, and retries the failed
    requests in smaller batches. A single request that runs out of
    memory raises the error again.
    """

    def __init__(self, config: ModelConfig, *, batch_size: int = 8, data_dir: str | Path | None = None):
        self.config = config
        self.batch_size = batch_size
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.device = resolve_device(config.device)
        self.dtype = resolve_dtype(config.dtype, self.device)
        self.load_seconds = 0.0
        self._load()

    def _load(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        started = time.perf_counter()
        folder, revision = self._weights_folder()
        self.tokenizer = AutoTokenizer.from_pretrained(folder, revision=revision)
        self.model = AutoModelForCausalLM.from_pretrained(
            folder, revision=revision, dtype=self.dtype, device_map=self.device
        )
        self.model.eval()
        self._prepare_tokenizer()
        self.load_seconds = time.perf_counter() - started
        logger.info(
            "Loaded model %s from %s on %s as %s in %.1f s",
            self.config.name,
            folder,
            self.device,
            self.dtype,
            self.load_seconds,
        )

    def _weights_folder(self) -> tuple[str, str | None]:
        """Return the folder (or hub id) and revision to load, converting a GGUF file first."""
        if self.config.gguf_file is None:
            return self.config.source, self.config.revision

        gguf_path = Path(self.config.source) / self.config.gguf_file
        if not gguf_path.is_file():
            raise FileNotFoundError(
                f"Model {self.config.name!r}: GGUF file {gguf_path} not found; GGUF weights "
                "must be a local file, so set source to its folder and gguf_file to its name."
            )
        cache_dir = gguf_cache_dir(gguf_path, self.data_dir)
        if not (cache_dir / "config.json").exists():
            convert_gguf(gguf_path, cache_dir)
        return str(cache_dir), None

    def _prepare_tokenizer(self) -> None:
        import torch

        tokenizer = self.tokenizer
        # Left padding keeps every prompt's last token at the end of the row,
        # where generate() appends new tokens.
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            if tokenizer.eos_token is None:
                raise ValueError(f"Model {self.config.name!r}: tokenizer has neither a pad nor an EOS token.")
            tokenizer.pad_token = tokenizer.eos_token

        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_token_ids = [eos] if isinstance(eos, int) else list(eos)
        self._eos_tensor = torch.tensor(self.eos_token_ids, device=self.model.device)

        self.uses_chat_template = self.config.use_chat_template and bool(tokenizer.chat_template)
        if self.config.use_chat_template and not self.uses_chat_template:
            logger.warning(
                "Model %s: use_chat_template is set but its tokenizer has no chat template; "
                "formatting prompts with the prompt template instead",
                self.config.name,
            )
        self._stop_criterion = None
        if self.config.stop_strings:
            from transformers import StopStringCriteria

            self._stop_criterion = StopStringCriteria(tokenizer, self.config.stop_strings)

    def format_prompt(self, request: GenerationRequest) -> str:
        """Build the model input text with the chat template, the prompt template or neither."""
        if self.uses_chat_template:
            messages = request.messages or [{"role": "user", "content": request.prompt}]
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

        prompt = request.prompt
        if prompt is None:
            prompt = _only_user_turn(request.messages, self.config.name)
        if self.config.prompt_template:
            # str.replace, not str.format, so braces in prompts and templates stay literal.
            return self.config.prompt_template.replace("{prompt}", prompt)
        return prompt

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationOutput]:
        """Generate one output per request and return them in request order."""
        # Chat templates write their own special tokens (such as BOS), so the
        # tokenizer adds them only to plain and prompt-template text.
        add_special_tokens = not self.uses_chat_template
        prompt_ids = []
        for request in requests:
            encoding = self.tokenizer(self.format_prompt(request), add_special_tokens=add_special_tokens)
            prompt_ids.append(encoding["input_ids"])

        outputs: list[GenerationOutput | None] = [None] * len(requests)
        queue = deque(self._plan_batches(requests, prompt_ids))
        while queue:
            batch = queue.popleft()
            if len(batch) > self.batch_size:
                # Planned before an out-of-memory error lowered the batch size.
                queue.extendleft(reversed(_split(batch, self.batch_size)))
                continue
            try:
                answers = self._generate_batch([requests[i] for i in batch], [prompt_ids[i] for i in batch])
            except RuntimeError as exc:
                if not _is_out_of_memory(exc):
                    raise
                if len(batch) == 1:
                    raise type(exc)(
                        f"Model {self.config.name!r} ran out of memory on a single request "
                        f"({len(prompt_ids[batch[0]])} prompt tokens, max_new_tokens "
                        f"{requests[batch[0]].max_new_tokens}), so a smaller batch cannot help; "
                        f"lower max_new_tokens or use a device with more memory. Original error: {exc}"
                    ) from exc
                self._halve_batch_size(len(batch))
                queue.appendleft(batch)
                answers = None
            if answers is None:
                # Freed after the except block ends, because until then the
                # exception's traceback keeps the failed batch's tensors alive.
                self._free_device_cache()
                continue
            for index, answer in zip(batch, answers, strict=True):
                outputs[index] = answer
        return outputs

    def _halve_batch_size(self, failed_size: int) -> None:
        """Lower `batch_size` to half the batch that ran out of memory, for every later call too."""
        old_size = self.batch_size
        self.batch_size = max(1, min(old_size, failed_size) // 2)
        logger.warning(
            "Model %s ran out of memory on a batch of %s requests; batch size lowered from %s to %s",
            self.config.name,
            failed_size,
            old_size,
            self.batch_size,
        )

    def _free_device_cache(self) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _plan_batches(self, requests: list[GenerationRequest], prompt_ids: list[list[int]]) -> list[list[int]]:
        """Split request indices into batches with equal decoding settings and similar length."""
        groups: dict[tuple, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(_decoding_key(request), []).append(index)

        batches = []
        for indices in groups.values():
            # Similar lengths in one batch waste less compute on padding.
            indices.sort(key=lambda i: len(prompt_ids[i]))
            for start in range(0, len(indices), self.batch_size):
                batches.append(indices[start : start + self.batch_size])
        return batches

    def _generate_batch(self, requests: list[GenerationRequest], prompt_ids: list[list[int]]) -> list[GenerationOutput]:
        """Generate outputs for requests that share decoding settings in one generate() call."""
        import torch

        started = time.perf_counter()
        inputs = self.tokenizer.pad({"input_ids": prompt_ids}, padding=True, return_tensors="pt")
        inputs = inputs.to(self.model.device)
        prompt_width = inputs["input_ids"].shape[1]
        tracker = _EndTracker(prompt_width, len(requests), self._eos_tensor, self._stop_criterion)

        options = self._generate_options(requests, tracker)
        with torch.inference_mode():
            sequences = self.model.generate(**inputs, **options)
        generated = sequences[:, prompt_width:]

        answers = []
        for row, length in enumerate(tracker.lengths):
            finish_reason = "length" if length is None else "stop"
            if length is None:
                length = generated.shape[1]
            text = self.tokenizer.decode(generated[row, :length], skip_special_tokens=True)
            # generate() already stopped at the stop string, but the last token
            # may reach past it (Gemma 3 has one token for "\n\n\n"), so cut the text too.
            text = _cut_at_stop_strings(text, self.config.stop_strings)
            if finish_reason == "length":
                # A token limit can split a multi-byte character (common in
                # Chinese); the decoder then ends the text with U+FFFD.
                text = text.rstrip("\ufffd")
            answers.append(GenerationOutput(text, length, finish_reason, 0.0))

        elapsed = time.perf_counter() - started
        for answer in answers:
            answer.latency_seconds = elapsed
        return answers

    def _generate_options(self, requests: list[GenerationRequest], tracker: _EndTracker) -> dict:
        """Return generate() keyword arguments for a batch that shares decoding settings."""
        settings = requests[0]
        options: dict[str, Any] = {
            "max_new_tokens": settings.max_new_tokens,
            "repetition_penalty": settings.repetition_penalty,
            # Always greedy: for temperature > 0, _SeededSampler leaves one token to pick.
            "do_sample": False,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.eos_token_ids,
            "stopping_criteria": [tracker],
        }
        if settings.temperature > 0:
            seeds = [request.seed for request in requests]
            options["logits_processor"] = [
                _SeededSampler(seeds, settings.temperature, settings.top_p, self.model.device)
            ]
        return options
