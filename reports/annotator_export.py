"""CSV export of a study's annotator table: each annotator's work, gold accuracy, agreement and status.

The rows are those of the report page's annotator table
(reports.agreement.annotator_figures), sorted by the name they show. Like
every export, the file names annotators by their stable pseudonym unless a
site admin asked for account names (annotate.pseudonyms). The format is
that of the judgments export (reports.export): UTF-8 with a byte order
mark, RFC 4180 with CRLF line ends, formula-like text cells neutralised.
"""

from collections.abc import Iterator
from datetime import UTC

from django.utils import timezone
from django.utils.text import slugify

from annotate.models import Study
from annotate.pseudonyms import annotator_names_shown, naming_description
from reports.agreement import annotator_figures, study_agreement_report
from reports.export import Column, _humeval_version, stream_csv

COLUMNS = (
    Column("annotator", "The annotator's stable pseudonym, or their username when a site admin asked for names."),
    Column("judgments", "Judgments on regular items, surplus ones included."),
    Column("gold_judgments", "Scored judgments on gold items."),
    Column("gold_correct", "Gold judgments that gave the right answer on the study's first criterion."),
    Column("gold_accuracy", "gold_correct / gold_judgments; empty without gold judgments."),
    Column(
        "agreeing_pairs",
        "Pairs of one of this annotator's judgments and another's on the same item and criterion that agree.",
    ),
    Column("pairs", "All such pairs; surplus judgments and excluded annotators left out, as in the report."),
    Column("agreement", "agreeing_pairs / pairs; empty without pairs."),
    Column("median_seconds_per_task", "Median time on task over all their judgments with a time; empty if none."),
    Column("is_excluded", "true when a manager excluded the annotator's judgments from the reports."),
    Column("is_paused", "true when a manager paused the annotator in this study."),
)


def annotators_filename(study: Study) -> str:
    return f"{slugify(study.name) or study.uuid}-annotators.csv"


def stream_annotators_csv(study: Study, names: bool = False) -> Iterator[str]:
    """Yield the annotator table as CSV text; annotators are named by username when `names` is True."""
    with annotator_names_shown(names):
        rows = annotator_figures(study, study_agreement_report(study))
        cells = [_cells(row) for row in sorted(rows, key=lambda row: row.annotator)]
    yield from stream_csv([column.name for column in COLUMNS], cells)


def _cells(row) -> list:
    return [
        row.annotator,
        row.judgments,
        row.gold_judgments,
        row.gold_correct,
        row.gold_accuracy,
        row.agreeing_pairs,
        row.pairs,
        row.agreement,
        row.median_seconds,
        row.is_excluded,
        row.is_paused,
    ]


def annotators_metadata(study: Study, names: bool = False) -> dict:
    """Describe the annotator export of `study` for its sidecar `<file>.meta.json`."""
    return {
        "file": annotators_filename(study),
        "format": {
            "encoding": "UTF-8 with byte order mark; pandas.read_csv(path, encoding='utf-8-sig')",
            "dialect": "RFC 4180, comma separated, CRLF line ends",
            "rows": "one per annotator of the study and everyone else who judged in it, sorted by annotator",
            "annotator_names": naming_description(names),
        },
        "study": {"name": study.name, "uuid": str(study.uuid), "kind": study.kind},
        "generated_at": timezone.now().astimezone(UTC).isoformat(),
        "humeval_version": _humeval_version(),
        "columns": [{"name": column.name, "description": column.description} for column in COLUMNS],
    }
