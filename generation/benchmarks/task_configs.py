"""Write lm-evaluation-harness task configurations that read humeval's local benchmark documents.

The built-in task definitions of lm-evaluation-harness name hub datasets,
which cannot be reached here nor on many GPU clusters. For every benchmark
with imported documents, humeval writes a YAML file into
`<HUMEVAL_DATA_DIR>/benchmarks/tasks/`. The file includes the built-in
definition, so prompt, choices, preprocessing, metrics and filters stay
lm-eval's own. It replaces only the data source: `dataset_path: json` with
absolute `data_files`, the splits that exist locally and the default shot count.
MMLU gets one file per subject plus lm-eval's group files, so its results
carry the usual `mmlu`, `mmlu_stem` ... entries.

The same folder works with the plain command line:
`lm_eval --include_path <that folder> --tasks boolq ...`. The files name
absolute paths inside this installation (the data and the lm_eval package),
so they are rewritten before every run and after every import.
"""

from __future__ import annotations

import logging
import os
import tempfile
from importlib.util import find_spec
from pathlib import Path

import yaml

from generation.benchmarks.catalog import BENCHMARKS, Benchmark
from generation.benchmarks.data import benchmarks_root, data_files, stored_data

logger = logging.getLogger(__name__)

HEADER = (
    "# Written by humeval from the benchmark documents it imported; rewritten before every run,\n"
    "# so edits here are lost. It includes lm-evaluation-harness's own definition of the task\n"
    "# and replaces only where the documents come from.\n"
)
MMLU_GROUP_FILES = (
    "_mmlu.yaml",
    "_mmlu_humanities.yaml",
    "_mmlu_other.yaml",
    "_mmlu_social_sciences.yaml",
    "_mmlu_stem.yaml",
)


class LmEvalMissing(RuntimeError):
    """lm-evaluation-harness is not installed."""


def lm_eval_tasks_folder() -> Path:
    """Return the `tasks` folder of the installed lm_eval package, found without importing it."""
    spec = find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        raise LmEvalMissing(
            "lm-evaluation-harness is not installed; install it with: pip install 'lm-eval>=0.4.13,<0.5'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "tasks"


def tasks_folder(data_dir: str | Path | None = None) -> Path:
    """Return the folder of humeval's task configurations, for `lm_eval --include_path`."""
    return benchmarks_root(data_dir) / "tasks"


def _splits(benchmark: Benchmark, available: set[str]) -> dict:
    """Return the split settings for the splits present locally.

    lm-evaluation-harness scores the test split when one is set and the
    validation split otherwise, so the test split is set only when it is the
    split to score.
    """
    scored = next(split for split in benchmark.eval_splits if split in available)
    fewshot = next((split for split in benchmark.fewshot_splits if split in available), None)
    return {
        "training_split": "train" if "train" in available else None,
        "validation_split": "validation" if "validation" in available else None,
        "test_split": "test" if scored == "test" else None,
        "fewshot_split": fewshot,
    }


def _task_config(benchmark: Benchmark, include: Path, task: str, files: dict[str, Path]) -> dict:
    return {
        "include": str(include),
        "task": task,
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": {split: str(path) for split, path in sorted(files.items())}},
        **_splits(benchmark, set(files)),
        "num_fewshot": benchmark.default_shots,
    }


def _configs_for(benchmark: Benchmark, data_dir: str | Path | None) -> dict[str, dict]:
    """Return {relative file name: YAML content} for one benchmark with stored documents."""
    builtin = lm_eval_tasks_folder() / benchmark.lm_eval_config
    files_by_subset = data_files(benchmark.name, data_dir)
    if benchmark.name != "mmlu":
        return {f"{benchmark.name}.yaml": _task_config(benchmark, builtin, benchmark.name, files_by_subset[""])}

    configs = {}
    for subject, files in files_by_subset.items():
        configs[f"mmlu/mmlu_{subject}.yaml"] = _task_config(
            benchmark, builtin / f"mmlu_{subject}.yaml", f"mmlu_{subject}", files
        )
    for name in MMLU_GROUP_FILES:
        configs[f"mmlu/{name}"] = {"include": str(builtin / name)}
    return configs


def _write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a renamed temporary file, so concurrent runs never read half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def write_task_configs(data_dir: str | Path | None = None) -> Path:
    """Write a task configuration for every benchmark with stored documents; return the folder.

    Files of benchmarks whose documents are gone are removed.
    """
    folder = tasks_folder(data_dir)
    wanted: dict[str, dict] = {}
    for benchmark in BENCHMARKS.values():
        if stored_data(benchmark.name, data_dir) is not None:
            wanted.update(_configs_for(benchmark, data_dir))

    for relative, config in wanted.items():
        text = HEADER + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
        _write_atomically(folder / relative, text)
    if folder.is_dir():
        for path in folder.rglob("*.yaml"):
            if path.relative_to(folder).as_posix() not in wanted:
                path.unlink()
    logger.info("Wrote %s lm-evaluation-harness task configurations to %s", len(wanted), folder)
    return folder
