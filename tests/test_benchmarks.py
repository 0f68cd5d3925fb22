"""Benchmark scripts still run, in their short --smoke mode, and print every figure."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# One row of the throughput table: way, batch, prompts, new tokens, seconds, CPU seconds,
# tokens/s, ratio, load average from-to.
TABLE_ROW = re.compile(
    r"^(?P<way>\S.*?)\s+(?P<batch>\d+)\s+(?P<prompts>\d+)\s+(?P<tokens>\d+)\s+"
    r"(?P<seconds>[\d.]+)\s+(?P<cpu_seconds>[\d.]+)\s+(?P<rate>[\d.]+)\s+(?P<ratio>[\d.]+)x\s+"
    r"(?P<load>[\d.]+-[\d.]+) *$",
    re.MULTILINE,
)
IDENTICAL_LINE = re.compile(r"^identical, (?P<way>.+): (?P<same>\d+) of (?P<total>\d+) \(\d+%\)$", re.MULTILINE)
SMOKE_WAYS = [
    "one at a time, model.generate",
    "transformers.pipeline",
    "humeval runner, batch 2",
    "humeval runner, batch 4",
]


def run_script(*arguments, timeout=850):
    return subprocess.run(
        [sys.executable, "benchmarks/generation_throughput.py", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_generation_throughput_smoke():
    result = run_script("--smoke")

    assert result.returncode == 0, result.stderr[-3000:]
    rows = {match["way"]: match for match in TABLE_ROW.finditer(result.stdout)}
    assert sorted(rows) == sorted(SMOKE_WAYS), result.stdout
    for way in SMOKE_WAYS:
        assert int(rows[way]["prompts"]) == 8, rows[way].group(0)
        # 8 prompts of 1 to 8 new tokens each.
        assert 8 <= int(rows[way]["tokens"]) <= 64, rows[way].group(0)
        assert float(rows[way]["rate"]) > 0, rows[way].group(0)
    assert rows["one at a time, model.generate"]["ratio"] == "1.00"

    identical = {match["way"]: match for match in IDENTICAL_LINE.finditer(result.stdout)}
    assert sorted(identical) == sorted(SMOKE_WAYS[1:]), result.stdout
    for match in identical.values():
        assert int(match["total"]) == 8, match.group(0)
        assert 0 <= int(match["same"]) <= 8, match.group(0)
    # Unpadded greedy decoding of the same prompt ids must give the same tokens;
    # a difference would mean the pipeline got another prompt or other settings.
    assert identical["transformers.pipeline"]["same"] == "8", result.stdout
    assert "load average at start" in result.stdout
    assert "load average at end" in result.stdout


def test_generation_throughput_rejects_bad_batch_size():
    result = run_script("--batch-sizes", "8,0", timeout=60)

    assert result.returncode == 2
    assert "invalid batch size '0'" in result.stderr


def load_benchmark_module():
    """Import benchmarks/generation_throughput.py, which is a script and not in a package."""
    spec = importlib.util.spec_from_file_location(
        "generation_throughput", ROOT / "benchmarks" / "generation_throughput.py"
    )
    module = importlib.util.module_from_spec(spec)
    # dataclasses look the module up in sys.modules while the module runs.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def smollm_tokenizer():
    from django.conf import settings

    from generation.backends import ModelConfig, load_backend
    from generation.packaged import PackagedModelMissing, smollm2_gguf_path

    try:
        path = smollm2_gguf_path()
    except PackagedModelMissing as exc:
        pytest.skip(f"{exc} (run 'make setup' to install the packaged models)")
    config = ModelConfig(name="SmolLM2-135M-Instruct", source=str(path.parent), gguf_file=path.name)
    return load_backend(config, batch_size=1, data_dir=settings.DATA_DIR).tokenizer


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("reference", "other", "shared_text"),
    [
        ("The cat sat on the mat.", "The cat sat on a mat.", "The cat sat on"),
        ("The cat sat on the mat.", "The cat sat on the mat.", "The cat sat on the mat."),
        ("The cat", "The cat sat down.", "The cat"),
        ("Yes.", "No.", ""),
        # Each of these characters takes more than one byte-level token.
        ("天空是蓝色的。", "天空是红色的。", "天空是"),
    ],
)
def test_first_divergence_counts_shared_tokens(smollm_tokenizer, reference, other, shared_text):
    module = load_benchmark_module()
    reference_ids = smollm_tokenizer.encode(reference, add_special_tokens=False)
    reference_answer = module.Answer(reference, len(reference_ids), reference_ids)

    shared = module.first_divergence(smollm_tokenizer, reference_answer, module.Answer(other, 0))

    assert smollm_tokenizer.decode(reference_ids[:shared]) == shared_text
