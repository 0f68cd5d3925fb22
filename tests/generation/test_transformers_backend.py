"""The transformers backend on the real packaged models, on CPU."""

import pytest
import torch
from django.conf import settings

from generation.backends import GenerationRequest, load_backend
from generation.backends.transformers_backend import gguf_cache_dir

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PROMPTS = [
    "What is the capital of France?",
    "用一句话介绍长城。",
    "Write a Python function that adds two numbers.",
]


def test_chat_model_answers_real_prompts(smollm):
    outputs = smollm.generate([GenerationRequest(prompt=p, max_new_tokens=12) for p in PROMPTS])

    assert len(outputs) == len(PROMPTS)
    for output in outputs:
        assert output.text.strip()
        assert 0 < output.token_count <= 12
        assert output.finish_reason in {"stop", "length"}
        assert output.latency_seconds > 0


def test_chat_template_is_applied(smollm):
    formatted = smollm.format_prompt(GenerationRequest(prompt="Hello there"))

    assert "<|im_start|>user" in formatted
    assert formatted.rstrip().endswith("<|im_start|>assistant")


def test_token_limit_reports_length(smollm):
    [output] = smollm.generate([GenerationRequest(prompt="Tell me a long story about a dragon.", max_new_tokens=5)])

    assert output.finish_reason == "length"
    assert output.token_count == 5


def test_batching_keeps_order_and_greedy_text(smollm):
    requests = [GenerationRequest(prompt=p, max_new_tokens=10) for p in PROMPTS]

    batched = smollm.generate(requests)
    one_by_one = [smollm.generate([request])[0] for request in requests]

    assert [o.text for o in batched] == [o.text for o in one_by_one]


def test_sampling_is_reproducible_per_seed(smollm):
    def sample(seed):
        request = GenerationRequest(prompt="Name a colour.", max_new_tokens=16, temperature=1.0, seed=seed)
        return smollm.generate([request])[0].text

    assert sample(7) == sample(7)
    assert len({sample(seed) for seed in (1, 2, 3)}) > 1


def test_base_model_stops_at_stop_strings(gemma):
    requests = [
        GenerationRequest(prompt="What is the capital of Japan?", max_new_tokens=60),
        GenerationRequest(prompt="How many legs does a dog have?", max_new_tokens=60),
    ]

    outputs = gemma.generate(requests)

    for output in outputs:
        assert output.finish_reason == "stop"
        assert output.token_count < 60
        assert "\n\n" not in output.text
        assert "Question:" not in output.text
        assert output.text.strip()


def test_gguf_cache_is_reused(smollm_config, smollm):
    from pathlib import Path

    cache = gguf_cache_dir(Path(smollm_config.source) / smollm_config.gguf_file, settings.DATA_DIR)
    assert (cache / "config.json").is_file()
    assert list(cache.glob("*.safetensors"))

    reloaded = load_backend(smollm_config, batch_size=1, data_dir=settings.DATA_DIR)

    assert reloaded.load_seconds < 30
    request = GenerationRequest(prompt=PROMPTS[0], max_new_tokens=8)
    assert reloaded.generate([request])[0].text == smollm.generate([request])[0].text


def test_cut_answer_has_no_broken_character(smollm):
    """A token limit inside a multi-byte character drops the partial character."""
    requests = [GenerationRequest(prompt="用中文介绍一下长城。", max_new_tokens=limit) for limit in range(2, 12)]

    outputs = smollm.generate(requests)

    assert [output.text for output in outputs if output.text.endswith("\ufffd")] == []


OUT_OF_MEMORY_PROMPTS = [*PROMPTS, "Name three colours."]


def fail_batches_above(backend, monkeypatch, max_size, error):
    """Patch `backend` so that a batch of more than `max_size` requests raises `error`; return the batch sizes tried."""
    generate_batch = backend._generate_batch
    sizes = []

    def generate_or_fail(requests, prompt_ids):
        sizes.append(len(requests))
        if len(requests) > max_size:
            raise error
        return generate_batch(requests, prompt_ids)

    monkeypatch.setattr(backend, "_generate_batch", generate_or_fail)
    return sizes


def greedy_texts_unbatched(backend, requests):
    return [backend.generate([request])[0].text for request in requests]


@pytest.mark.parametrize(
    ("max_size", "error", "expected_sizes"),
    [
        (1, torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), [4, 2, 1, 1, 1, 1]),
        (2, RuntimeError("CUDA error: out of memory"), [4, 2, 2]),
    ],
)
def test_out_of_memory_halves_batch_size(smollm, monkeypatch, caplog, max_size, error, expected_sizes):
    requests = [GenerationRequest(prompt=p, max_new_tokens=6) for p in OUT_OF_MEMORY_PROMPTS]
    expected = greedy_texts_unbatched(smollm, requests)
    monkeypatch.setattr(smollm, "batch_size", 4)
    sizes = fail_batches_above(smollm, monkeypatch, max_size, error)

    outputs = smollm.generate(requests)

    assert [output.text for output in outputs] == expected
    assert all(output.token_count > 0 for output in outputs)
    assert smollm.batch_size == max_size
    assert sizes == expected_sizes
    assert "batch size lowered from 4 to 2" in caplog.text


def test_lowered_batch_size_holds_for_later_calls(smollm, monkeypatch):
    requests = [GenerationRequest(prompt=p, max_new_tokens=4) for p in OUT_OF_MEMORY_PROMPTS]
    monkeypatch.setattr(smollm, "batch_size", 4)
    sizes = fail_batches_above(smollm, monkeypatch, 2, torch.cuda.OutOfMemoryError("out of memory"))
    smollm.generate(requests)
    sizes.clear()

    smollm.generate(requests)

    assert sizes == [2, 2]


def test_out_of_memory_on_one_request_is_raised(smollm, monkeypatch):
    monkeypatch.setattr(smollm, "batch_size", 2)
    fail_batches_above(smollm, monkeypatch, 0, torch.cuda.OutOfMemoryError("CUDA out of memory."))
    requests = [GenerationRequest(prompt=p, max_new_tokens=4) for p in PROMPTS[:2]]

    with pytest.raises(torch.cuda.OutOfMemoryError, match="ran out of memory on a single request"):
        smollm.generate(requests)
    assert smollm.batch_size == 1


def test_other_runtime_error_is_not_retried(smollm, monkeypatch):
    monkeypatch.setattr(smollm, "batch_size", 4)
    sizes = fail_batches_above(smollm, monkeypatch, 0, RuntimeError("shape mismatch"))

    with pytest.raises(RuntimeError, match="shape mismatch"):
        smollm.generate([GenerationRequest(prompt=p, max_new_tokens=4) for p in PROMPTS])
    assert sizes == [3]
    assert smollm.batch_size == 4
