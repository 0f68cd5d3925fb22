"""One zip file with everything needed to recompute a study's figures elsewhere.

The archive contains (paths inside the zip):

- `study.json`: the study's configuration as a `create_study` spec (JSON is
  valid YAML). Systems are named by their generation run's UUID.
  Annotators are listed only when account names were requested, because
  the spec names them by username.
- `criteria.jsonl`, `prompts.jsonl`, `runs.jsonl` (each run's model and
  generation settings, seed included), `responses.jsonl` (every turn's
  answer with token counts, finish reason and latency), `items.jsonl`
  (the responses each item shows, and the right answer of gold items).
- `exports/<kind>.csv` and `exports/<kind>.jsonl` with their
  `.meta.json`, for every kind in reports.export_files.TABLE_KINDS that the
  study has: judgments, gold judgments, annotators, models, pairs, agreement.
- `manifest.json`: the study, the files with their row counts, the
  package versions and the generation time.

Each member is written straight into the zip through `ZipFile.open(name,
"w")`, and judgments, responses and prompts are read from the database
with `iterator()`, so memory stays flat however large the study is.
`write_archive` writes the zip to a file and `stream_archive` yields it
in pieces for a download, from the same steps.
"""

import io
import json
import zipfile
from collections.abc import Generator, Iterable, Iterator
from datetime import UTC
from typing import BinaryIO

from django.utils import timezone

from annotate.models import Item, Study, StudyKind
from generation.models import GenerationRun, Prompt, Response
from reports import export_files

CHUNK_SIZE = 2000
# A streamed archive sends its bytes in pieces of about this size.
STREAM_BYTES = 1 << 20


def write_archive(
    study: Study, handle: BinaryIO, *, names: bool = False, rounds: int | None = None, seed: int | None = None
) -> dict:
    """Write the study's archive as a zip to the binary `handle`; return the manifest that it also contains.

    `names`, `rounds` and `seed` are passed to every export, as for `manage.py export`.
    """
    return export_files.run_steps(_archive_steps(study, handle, names=names, rounds=rounds, seed=seed))


def stream_archive(
    study: Study, *, names: bool = False, rounds: int | None = None, seed: int | None = None
) -> Iterator[bytes]:
    """Yield the study's archive as pieces of a zip file, for a streamed download; options as write_archive.

    A piece goes out whenever STREAM_BYTES of the zip are ready, so the
    first bytes leave before the figures are computed, and memory stays
    flat. Without a seekable file, each member's sizes follow its data
    in a data descriptor, which every zip reader accepts.
    """
    sink = _Sink()
    steps = _archive_steps(study, sink, names=names, rounds=rounds, seed=seed)
    for _pause in steps:
        if sink.size >= STREAM_BYTES:
            yield sink.drain()
    # The central directory, written when the zip was closed.
    yield sink.drain()


def _archive_steps(
    study: Study, target: BinaryIO, *, names: bool, rounds: int | None, seed: int | None
) -> Generator[None, None, dict]:
    """Write the archive into `target`, yielding None after each member and each chunk of rows; return the manifest."""
    files = {}
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _write_json(archive, "study.json", study_spec(study, names))
        files["study.json"] = {"description": "The study's configuration as a create_study spec."}
        yield
        for name, description, records in _records(study):
            rows = yield from _write_jsonl(archive, name, records)
            files[name] = {"description": description, "rows": rows}

        # One report serves the models, pairs and agreement tables in both formats.
        report = export_files.figure_report(study, names=names, rounds=rounds, seed=seed)
        for kind in export_files.TABLE_KINDS:
            if kind == "pairs" and study.kind != StudyKind.PAIRWISE:
                continue
            for file_format in export_files.FORMATS:
                name = f"exports/{kind}.{file_format}"
                table = export_files.export_table(study, kind, names=names, report=report)
                with _text_member(archive, name) as text:
                    rows = yield from export_files.write_rows_in_steps(
                        text, table.header, table.rows, file_format, bom=False
                    )
                sidecar = export_files.sidecar_metadata(table, name.rsplit("/", 1)[1], file_format, False, names)
                _write_json(archive, f"{name}.meta.json", sidecar)
                files[name] = {"rows": rows}
                yield

        manifest = {
            "study": {"name": study.name, "uuid": str(study.uuid), "kind": study.kind, "status": study.status},
            "files": files,
            "versions": export_files.package_versions(),
            "generated_at": timezone.now().astimezone(UTC).isoformat(),
        }
        _write_json(archive, "manifest.json", manifest)
    return manifest


class _Sink:
    """A binary file that only appends, keeping what was written until `drain()`.

    It has no tell() or seek(), so zipfile writes to it as to a stream.
    """

    def __init__(self):
        self._pieces: list[bytes] = []
        self.size = 0

    def write(self, data) -> int:
        self._pieces.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self._pieces)
        self._pieces, self.size = [], 0
        return data


def study_spec(study: Study, names: bool) -> dict:
    """Return the study's configuration in the shape `manage.py create_study` reads."""
    runs = GenerationRun.objects.filter(pk__in=study.systems.values("pk")).order_by("created_at", "pk")
    spec = {
        "name": study.name,
        "kind": study.kind,
        "prompt_set": study.prompt_set.name,
        "systems": [{"run": str(run.uuid)} for run in runs],
        "criteria": [_criterion(study, criterion) for criterion in study.criteria.order_by("position", "pk")],
        "instructions": study.instructions,
        "overlap": study.overlap,
        "lease_minutes": study.lease_minutes,
        "gold_rate": study.gold_rate,
        "qualification": {"min_gold": study.qualification_min_gold},
    }
    if study.categories:
        spec["categories"] = list(study.categories)
    if study.kind == StudyKind.PAIRWISE and study.pairs_per_prompt:
        spec["pairs_per_prompt"] = study.pairs_per_prompt
    if study.qualification_min_accuracy is not None:
        spec["qualification"]["min_accuracy"] = study.qualification_min_accuracy
    if names:
        spec["annotators"] = sorted(user.get_username() for user in study.annotators.all())
    return spec


def _criterion(study: Study, criterion) -> dict:
    described = {"name": criterion.name, "question": criterion.question, "description": criterion.description}
    if study.kind == StudyKind.RATING:
        described.update(
            scale_min=criterion.scale_min,
            scale_max=criterion.scale_max,
            low_label=criterion.low_label,
            high_label=criterion.high_label,
        )
    return described


def _records(study: Study) -> Iterator[tuple[str, str, Iterable[dict]]]:
    """Yield (member name, description, records) for the study's data files."""
    yield "criteria.jsonl", "The study's criteria in order.", _criteria(study)
    yield "prompts.jsonl", "Prompts of the study's items.", _prompts(study)
    yield "runs.jsonl", "Generation runs of the study's systems, with model and settings.", _runs(study)
    yield "responses.jsonl", "The study's systems' responses to its prompts.", _responses(study)
    yield "items.jsonl", "Items: the responses each shows, and the right answer of gold items.", _items(study)


def _criteria(study: Study) -> Iterator[dict]:
    for position, criterion in enumerate(study.criteria.order_by("position", "pk")):
        yield {"position": position, "uuid": str(criterion.uuid), **_criterion(study, criterion)}


def _prompts(study: Study) -> Iterator[dict]:
    prompts = Prompt.objects.filter(pk__in=Item.objects.filter(study=study).values("prompt")).order_by("position")
    for prompt in prompts.iterator(chunk_size=CHUNK_SIZE):
        yield {
            "uuid": str(prompt.uuid),
            "id": prompt.external_id,
            "position": prompt.position,
            "category": prompt.category,
            "language": prompt.language,
            "text": prompt.text,
            "follow_up_turns": prompt.follow_up_turns,
            "reference_answer": prompt.reference_answer,
        }


def _runs(study: Study) -> Iterator[dict]:
    runs = GenerationRun.objects.filter(pk__in=study.systems.values("pk")).select_related("model")
    for run in runs.order_by("created_at", "pk"):
        model = run.model
        yield {
            "uuid": str(run.uuid),
            "label": run.label,
            "model": {
                "name": model.name,
                "source": model.source,
                "gguf_file": model.gguf_file,
                "revision": model.revision,
                "backend": model.backend,
                "dtype": model.dtype,
                "use_chat_template": model.use_chat_template,
                "prompt_template": model.prompt_template,
                "stop_strings": model.stop_strings,
            },
            "temperature": run.temperature,
            "top_p": run.top_p,
            "max_new_tokens": run.max_new_tokens,
            "repetition_penalty": run.repetition_penalty,
            "seed": run.seed,
            "batch_size": run.batch_size,
            "prompt_limit": run.prompt_limit,
            "status": run.status,
            "generated_seconds": run.generated_seconds,
        }


def _responses(study: Study) -> Iterator[dict]:
    prompts = Item.objects.filter(study=study).values("prompt")
    responses = Response.objects.filter(run__in=study.systems.values("pk"), prompt__in=prompts).order_by("pk")
    rows = responses.values(
        "uuid",
        "run__uuid",
        "prompt__uuid",
        "text",
        "follow_up_texts",
        "token_count",
        "finish_reason",
        "latency_seconds",
    )
    for row in rows.iterator(chunk_size=CHUNK_SIZE):
        yield {
            "uuid": str(row["uuid"]),
            "run": str(row["run__uuid"]),
            "prompt": str(row["prompt__uuid"]),
            "text": row["text"],
            "follow_up_texts": row["follow_up_texts"],
            "token_count": row["token_count"],
            "finish_reason": row["finish_reason"],
            "latency_seconds": row["latency_seconds"],
        }


def _items(study: Study) -> Iterator[dict]:
    rows = (
        Item.objects.filter(study=study)
        .order_by("pk")
        .values(
            "uuid",
            "prompt__uuid",
            "first_response__uuid",
            "second_response__uuid",
            "is_gold",
            "gold_outcome",
            "gold_winner__uuid",
            "gold_min_score",
            "gold_max_score",
        )
    )
    for row in rows.iterator(chunk_size=CHUNK_SIZE):
        yield {
            "uuid": str(row["uuid"]),
            "prompt": str(row["prompt__uuid"]),
            "first_response": _text(row["first_response__uuid"]),
            "second_response": _text(row["second_response__uuid"]),
            "is_gold": row["is_gold"],
            "gold_outcome": row["gold_outcome"] or None,
            "gold_winner": _text(row["gold_winner__uuid"]),
            "gold_min_score": row["gold_min_score"],
            "gold_max_score": row["gold_max_score"],
        }


def _text(value) -> str | None:
    return str(value) if value is not None else None


def _text_member(archive: zipfile.ZipFile, name: str) -> io.TextIOWrapper:
    # newline="" keeps the CSV writer's CRLF line ends as written.
    return io.TextIOWrapper(archive.open(name, "w", force_zip64=True), encoding="utf-8", newline="")


def _write_json(archive: zipfile.ZipFile, name: str, data: dict) -> None:
    with _text_member(archive, name) as text:
        json.dump(data, text, ensure_ascii=False, indent=2)


def _write_jsonl(archive: zipfile.ZipFile, name: str, records: Iterable[dict]) -> Generator[None, None, int]:
    """Write `records` as a JSONL member, yielding None after every CHUNK_SIZE records; return the count."""
    written = 0
    with _text_member(archive, name) as text:
        for record in records:
            text.write(json.dumps(record, ensure_ascii=False))
            text.write("\n")
            written += 1
            if written % CHUNK_SIZE == 0:
                yield
    yield
    return written
