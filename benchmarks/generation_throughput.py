"""Measure generation throughput of the transformers backend, unbatched and batched.

The script loads the two packaged models: SmolLM2-135M-Instruct with its chat
template, and Gemma 3 270M base with a few-shot prompt template and stop
strings. Each model answers the same short prompts greedily with batch size 1
and with a larger batch size, and the script prints generated tokens per
second for each and their ratio. Each model is loaded twice, to show the first
load (which converts the GGUF file unless it is cached already) next to a load
from the cache.

Usage, from the repository root:

    python benchmarks/generation_throughput.py           # 8 prompts, 64 new tokens
    python benchmarks/generation_throughput.py --smoke   # 2 prompts, 16 new tokens

The model cache lives in HUMEVAL_DATA_DIR (default ./var). Nothing is
downloaded: the script sets HF_HUB_OFFLINE=1 and TRANSFORMERS_OFFLINE=1.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import time
from dataclasses import dataclass

# Nothing may be downloaded, and transformers 5 tries to fetch kernels from the
# hub when it loads GGUF files unless the hub is off. Set before any import of it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from generation.backends import GenerationOutput, GenerationRequest, ModelConfig, load_backend  # noqa: E402
from generation.packaged import (  # noqa: E402
    GEMMA3_PROMPT_TEMPLATE,
    GEMMA3_STOP_STRINGS,
    gemma3_gguf_path,
    smollm2_gguf_path,
)

PROMPTS = [
    "What is the capital of France?",
    "How many legs does a spider have?",
    "Give one tip for sleeping better.",
    "Why is the sky blue?",
    "Who wrote Romeo and Juliet?",
    "What gas do plants absorb from the air?",
    "Translate 'thank you' into Spanish.",
    "What is the boiling point of water in Celsius?",
]


@dataclass
class RunResult:
    batch_size: int
    seconds: float
    outputs: list[GenerationOutput]

    @property
    def tokens(self) -> int:
        return sum(output.token_count for output in self.outputs)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds


def model_configs() -> list[ModelConfig]:
    smollm2 = smollm2_gguf_path()
    gemma3 = gemma3_gguf_path()
    return [
        ModelConfig(name="SmolLM2-135M-Instruct", source=str(smollm2.parent), gguf_file=smollm2.name),
        ModelConfig(
            name="Gemma-3-270M",
            source=str(gemma3.parent),
            gguf_file=gemma3.name,
            use_chat_template=False,
            prompt_template=GEMMA3_PROMPT_TEMPLATE,
            stop_strings=GEMMA3_STOP_STRINGS,
        ),
    ]


def timed_load(config: ModelConfig, batch_size: int):
    started = time.perf_counter()
    backend = load_backend(config, batch_size=batch_size)
    return backend, time.perf_counter() - started


def timed_generate(backend, requests: list[GenerationRequest], batch_size: int) -> RunResult:
    backend.batch_size = batch_size
    started = time.perf_counter()
    outputs = backend.generate(requests)
    return RunResult(batch_size, time.perf_counter() - started, outputs)


def benchmark_model(config: ModelConfig, prompts: list[str], max_new_tokens: int, batch_size: int) -> None:
    print(f"\n== {config.name}")
    backend, first_load = timed_load(config, batch_size)
    del backend
    gc.collect()
    backend, cached_load = timed_load(config, batch_size)
    print(
        f"first load {first_load:.1f} s (includes GGUF conversion when it was not cached), "
        f"cached load {cached_load:.1f} s"
    )

    # The first generate() call in a process pays one-off set-up costs, so
    # it is timed apart and stays out of the throughput figures.
    warm_up = timed_generate(backend, [GenerationRequest(prompt=prompts[0], max_new_tokens=2)], 1)
    print(f"first generate() call (2 tokens): {warm_up.seconds:.1f} s")

    requests = [GenerationRequest(prompt=prompt, max_new_tokens=max_new_tokens) for prompt in prompts]
    unbatched = timed_generate(backend, requests, 1)
    batched = timed_generate(backend, requests, batch_size)

    for result in (unbatched, batched):
        print(
            f"batch size {result.batch_size}: {result.tokens} tokens in {result.seconds:.1f} s, "
            f"{result.tokens_per_second:.1f} tokens/s"
        )
    print(f"speed-up of batch size {batch_size} over 1: {batched.tokens_per_second / unbatched.tokens_per_second:.2f}x")

    same = sum(a.text == b.text for a, b in zip(unbatched.outputs, batched.outputs, strict=True))
    print(f"greedy answers identical between the two batch sizes: {same} of {len(prompts)}")
    for prompt, output in zip(prompts, batched.outputs, strict=True):
        print(f"  {prompt!r} -> {output.text!r} ({output.token_count} tokens, {output.finish_reason})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="run 2 prompts with 16 new tokens, for tests")
    parser.add_argument("--batch-size", type=int, default=8, help="batch size compared with 1 (default 8)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    prompts, max_new_tokens = (PROMPTS[:2], 16) if args.smoke else (PROMPTS, 64)
    print(f"{len(prompts)} prompts, max_new_tokens {max_new_tokens}, greedy decoding")
    for config in model_configs():
        benchmark_model(config, prompts, max_new_tokens, args.batch_size)


if __name__ == "__main__":
    main()
