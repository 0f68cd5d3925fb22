import json
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotate.audit import record_event
from annotate.models import AuditAction, Study, StudyKind
from generation.lookup import NotFound, get_by_name
from reports import archive, export_files, ranking_export

WHAT = (*export_files.TABLE_KINDS, "rankings", "archive")
SUFFIX_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".zip": "zip"}


class Command(BaseCommand):
    help = (
        "Write one of a study's exports as CSV or JSONL with its sidecar <file>.meta.json, or with --what archive "
        "one zip file with everything needed to recompute the study's figures. "
        "Annotators are named by stable pseudonyms unless --names is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", help="The study's name or UUID.")
        parser.add_argument(
            "--what",
            choices=WHAT,
            default="judgments",
            help="judgments (regular items), gold (gold items), annotators (the annotator table), models "
            "(ratings or scores per system), pairs (counts per ordered pair, pairwise studies), agreement (study "
            "and per criterion), rankings (the report page's rankings CSV, pairwise studies) or archive (a zip "
            "file). Default: judgments.",
        )
        parser.add_argument(
            "--out",
            help="Path of the file to write; default: <study>-<what>.<format> in the current folder. "
            "The folder must exist.",
        )
        parser.add_argument(
            "--format",
            choices=export_files.FORMATS,
            help="csv or jsonl; default: from the --out suffix (.jsonl for JSONL), else csv. "
            "Not used with --what archive, which writes both.",
        )
        parser.add_argument(
            "--bom",
            action="store_true",
            help="Start a CSV file with a UTF-8 byte order mark, so that Excel opens Chinese text correctly.",
        )
        parser.add_argument("--force", action="store_true", help="Overwrite the file and its sidecar if they exist.")
        parser.add_argument(
            "--rounds",
            type=int,
            help="Bootstrap rounds of the models, pairs and agreement figures; default: the report page's 1000.",
        )
        parser.add_argument("--seed", type=int, help="Seed of those bootstraps; default: the report page's seed, 0.")
        parser.add_argument(
            "--names",
            action="store_true",
            help="Name annotators by username instead of pseudonym. The option is not restricted, because "
            "whoever can run manage.py holds the database credentials.",
        )

    def handle(self, *args, **options):
        try:
            study = get_by_name(Study, options["study"])
        except NotFound as exc:
            raise CommandError(str(exc)) from exc
        what, names = options["what"], options["names"]
        if options["rounds"] is not None and options["rounds"] < 1:
            raise CommandError(f"--rounds must be 1 or more, not {options['rounds']}.")
        file_format = _file_format(what, options["format"], options["out"], options["bom"])
        if what in ("rankings", "pairs") and study.kind != StudyKind.PAIRWISE:
            raise CommandError(
                f"Study {study.name!r} is a rating study; --what {what} exists for pairwise studies only."
            )

        path = Path(options["out"] or export_files.default_filename(study, what, file_format))
        sidecar = path.with_name(path.name + ".meta.json")
        _check_target(path, sidecar, options["force"])

        if what == "archive":
            metadata = _write_atomically(
                path,
                lambda handle: archive.write_archive(
                    study, handle, names=names, rounds=options["rounds"], seed=options["seed"]
                ),
                binary=True,
            )
        elif what == "rankings":
            metadata = _write_rankings(study, path, options["bom"])
        else:
            metadata = _write_table(study, what, path, file_format, options)
        _write_atomically(sidecar, lambda handle: json.dump(metadata, handle, ensure_ascii=False, indent=2))

        record_event(
            None, AuditAction.EXPORTED, study, {"file": path.name, "via": "export command", "annotator_names": names}
        )
        self.stdout.write(self.style.SUCCESS(f"Wrote {path} and {sidecar}."))


def _file_format(what: str, requested: str | None, out: str | None, bom: bool) -> str:
    """Return csv, jsonl or zip for the export; raise CommandError when the options contradict each other."""
    suffix_format = SUFFIX_FORMATS.get(Path(out).suffix.lower()) if out else None
    if what == "archive":
        if requested:
            raise CommandError("--format does not apply to --what archive, which writes a zip file; leave it out.")
        if out and suffix_format != "zip":
            raise CommandError(f"--what archive writes a zip file; give --out a name ending in .zip, not {out!r}.")
        return "zip"
    if suffix_format == "zip":
        raise CommandError(f"Only --what archive writes a zip file; choose another --out than {out!r}.")
    file_format = requested or suffix_format or "csv"
    if what == "rankings" and file_format != "csv":
        raise CommandError("--what rankings writes CSV only; use --what models for JSONL.")
    if bom and file_format != "csv":
        raise CommandError("--bom applies to CSV files only; leave it out for JSONL.")
    return file_format


def _check_target(path: Path, sidecar: Path, force: bool) -> None:
    if not path.parent.is_dir():
        raise CommandError(f"Folder {str(path.parent)!r} does not exist; create it or choose another --out.")
    for target in (path, sidecar):
        if target.is_dir():
            raise CommandError(f"{str(target)!r} is a folder; give --out a file name.")
        if target.exists() and not force:
            raise CommandError(
                f"File {str(target)!r} already exists; add --force to overwrite it or choose another --out."
            )


def _write_table(study: Study, what: str, path: Path, file_format: str, options: dict) -> dict:
    """Write one table export to `path`; return its sidecar metadata."""
    report = None
    if what in ("models", "pairs", "agreement"):
        report = export_files.figure_report(
            study, names=options["names"], rounds=options["rounds"], seed=options["seed"]
        )
    try:
        table = export_files.export_table(study, what, names=options["names"], report=report)
    except export_files.ExportError as exc:
        raise CommandError(str(exc)) from exc

    _write_atomically(
        path, lambda handle: export_files.write_rows(handle, table.header, table.rows, file_format, options["bom"])
    )
    return export_files.sidecar_metadata(table, path.name, file_format, options["bom"], options["names"])


def _write_rankings(study: Study, path: Path, bom: bool) -> dict:
    rankings = ranking_export.english_rankings(study)
    text = ranking_export.rankings_csv(rankings, bom=bom)
    _write_atomically(path, lambda handle: handle.write(text))
    metadata = ranking_export.rankings_metadata(study, rankings, bom=bom)
    metadata["file"] = path.name
    metadata["versions"] = export_files.package_versions()
    return metadata


def _write_atomically(path: Path, write, binary: bool = False):
    """Call `write` with a handle on a temporary file beside `path`, then move it to `path`; return what it returns.

    A failure leaves no partial file behind. Text files are UTF-8 opened with newline="", so the CSV writer's
    CRLF line ends stay as written.
    """
    partial = path.with_name(f".{path.name}.partial")
    try:
        if binary:
            with partial.open("wb") as handle:
                result = write(handle)
        else:
            with partial.open("w", encoding="utf-8", newline="") as handle:
                result = write(handle)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return result
