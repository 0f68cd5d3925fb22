"""CSV export of a study's judgments on gold items, unblinded, for staff and analysts.

Gold judgments get a file of their own instead of rows in the main export,
because they measure annotators rather than systems. Every annotator may
judge each gold item, and an attention check shows text the manager wrote
where a system's response would be. Mixed into the main file, such rows
would skew any per-system figure an analyst computes from it.

The file has one row per judgment and criterion, in the format of the main
export (reports.export): UTF-8 with a byte order mark unless asked
without, RFC 4180 with CRLF line ends, formula-like text cells
neutralised, booleans as true / false, times in UTC. Each row carries the
item's right answer and whether the judgment got it (`gold_correct`). Only
the study's first criterion is scored (`is_scored_criterion`), so
`gold_correct` repeats that criterion's result on the judgment's other
rows. The sidecar `<file>.meta.json` (`gold_judgments_metadata`)
describes the columns and the counts.
"""

from collections.abc import Iterator
from datetime import UTC

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q
from django.utils import timezone

from annotate.gold import scored_criterion
from annotate.models import CriterionAnswer, Item, Judgment, Study, StudyKind
from annotate.pseudonyms import AnnotatorLabels, naming_description
from reports.answers import excluded_annotator
from reports.export import (
    Column,
    _humeval_version,
    _system_name,
    csv_encoding,
    gold_csv_filename,
    stream_csv,
)
from reports.systems import System, load_systems

# Column descriptions stay in English, like those of the main export,
# because the sidecar file is data for scripts.
_LEADING_COLUMNS = (
    Column("study", "Study name."),
    Column("item_uuid", "Public id of the gold item judged."),
    Column("prompt_external_id", "The prompt's id in the imported prompt file; empty when it had none."),
    Column("prompt_category", "Category of the prompt."),
    Column("prompt_language", "Language of the prompt as a BCP 47 code, such as en or zh-Hans."),
    Column("annotator", "The annotator's stable pseudonym, or their username when a site admin asked for names."),
    Column("criterion", "Name of the criterion this row answers."),
    Column("is_scored_criterion", "true for the study's first criterion, the only one gold items are scored on."),
    Column("is_attention_check", "true when the item shows text the manager wrote in place of a response."),
    Column("attention_text", "The manager's attention-check text; empty for other gold items."),
)
_PAIRWISE_COLUMNS = (
    Column("system_a", "System whose response the annotator saw as A; empty for the attention-check text."),
    Column("system_b", "System whose response the annotator saw as B; empty for the attention-check text."),
    Column("outcome", "win, tie, both_bad, or attention when the annotator preferred the attention-check text."),
    Column("winner_system", "System whose response won when outcome is win; empty otherwise."),
    Column("right_outcome", "The item's right outcome: win, tie or both_bad."),
    Column("right_winner_system", "System whose response is the right winner when right_outcome is win."),
)
_RATING_COLUMNS = (
    Column("system", "System whose response was rated; empty for an attention check."),
    Column("score", "Score as stored, an integer; the report leaves out a score outside the criterion's scale."),
    Column("right_min_score", "Lowest score accepted as right, on the scored criterion's scale."),
    Column("right_max_score", "Highest score accepted as right, on the scored criterion's scale."),
)
_TRAILING_COLUMNS = (
    Column("gold_correct", "true or false: whether the judgment gave the right answer; empty when unscored."),
    Column("annotator_excluded", "true when a manager excluded the annotator's judgments from the reports."),
    Column("rationale", "The annotator's optional rationale for the whole judgment."),
    Column("time_on_task_seconds", "Seconds the annotator spent on the task; empty when not measured."),
    Column("created_at", "Time the judgment was stored, ISO 8601 in UTC."),
    Column("revised_at", "Time the annotator last changed the judgment, ISO 8601 in UTC; empty when never changed."),
)


def gold_columns(kind: str) -> tuple[Column, ...]:
    """Return the gold export's columns for a study kind, in file order."""
    middle = _PAIRWISE_COLUMNS if kind == StudyKind.PAIRWISE else _RATING_COLUMNS
    return _LEADING_COLUMNS + middle + _TRAILING_COLUMNS


def stream_gold_judgments_csv(study: Study, names: bool = False, *, bom: bool = True) -> Iterator[str]:
    """Yield the gold export in chunks of text, in three queries, starting with a byte order mark unless `bom` is False.

    Annotators are named by pseudonym, or by username when `names` is True.
    """
    header = [column.name for column in gold_columns(study.kind)]
    yield from stream_csv(header, gold_judgment_rows(study, names), bom=bom)


def gold_judgment_rows(study: Study, names: bool = False) -> Iterator[list]:
    """Yield the gold export's rows as lists of cells in `gold_columns(study.kind)` order, before neutralising."""
    systems = load_systems(study)
    criterion = scored_criterion(study)
    scored_id = criterion.pk if criterion else None
    make_row = _pairwise_cells if study.kind == StudyKind.PAIRWISE else _rating_cells
    labels = AnnotatorLabels(names)
    for values in _gold_rows(study).iterator(chunk_size=2000):
        leading = _leading_cells(values, scored_id, labels)
        yield [study.name, *leading, *make_row(values, systems), *_trailing_cells(values)]


def _gold_rows(study: Study):
    username_field = get_user_model().USERNAME_FIELD
    return (
        CriterionAnswer.objects.filter(criterion__study=study, judgment__item__is_gold=True)
        .annotate(annotator_excluded=excluded_annotator("judgment__"))
        .order_by("judgment__created_at", "judgment_id", "criterion__position", "criterion_id")
        .values(
            "outcome",
            "score",
            "criterion_id",
            "annotator_excluded",
            item_uuid=F("judgment__item__uuid"),
            prompt_external_id=F("judgment__item__prompt__external_id"),
            prompt_category=F("judgment__item__prompt__category"),
            prompt_language=F("judgment__item__prompt__language"),
            annotator=F(f"judgment__annotator__{username_field}"),
            annotator_id=F("judgment__annotator_id"),
            criterion_name=F("criterion__name"),
            attention_text=F("judgment__item__attention_text"),
            first_on_left=F("judgment__first_on_left"),
            first_run=F("judgment__item__first_response__run_id"),
            second_run=F("judgment__item__second_response__run_id"),
            winner_run=F("winner__run_id"),
            right_outcome=F("judgment__item__gold_outcome"),
            right_winner_run=F("judgment__item__gold_winner__run_id"),
            right_min_score=F("judgment__item__gold_min_score"),
            right_max_score=F("judgment__item__gold_max_score"),
            gold_correct=F("judgment__gold_correct"),
            rationale=F("judgment__rationale"),
            time_on_task_seconds=F("judgment__time_on_task_seconds"),
            created_at=F("judgment__created_at"),
            revised_at=F("judgment__revised_at"),
        )
    )


def _leading_cells(values: dict, scored_id: int | None, labels: AnnotatorLabels) -> list:
    return [
        str(values["item_uuid"]),
        values["prompt_external_id"],
        values["prompt_category"],
        values["prompt_language"],
        labels.label(values["annotator_id"], values["annotator"]),
        values["criterion_name"],
        _flag(values["criterion_id"] == scored_id),
        _flag(bool(values["attention_text"])),
        values["attention_text"],
    ]


def _pairwise_cells(values: dict, systems: dict[int, System]) -> list:
    # Canonical order puts an attention check's text second, where the
    # missing second response would be, so the empty name stands for it.
    first = _system_name(systems, values["first_run"])
    second = _system_name(systems, values["second_run"])
    shown_a, shown_b = (first, second) if values["first_on_left"] else (second, first)
    return [
        shown_a,
        shown_b,
        values["outcome"],
        _system_name(systems, values["winner_run"]),
        values["right_outcome"],
        _system_name(systems, values["right_winner_run"]),
    ]


def _rating_cells(values: dict, systems: dict[int, System]) -> list:
    return [
        _system_name(systems, values["first_run"]),
        values["score"],
        values["right_min_score"],
        values["right_max_score"],
    ]


def _trailing_cells(values: dict) -> list:
    correct = values["gold_correct"]
    revised = values["revised_at"]
    return [
        None if correct is None else _flag(correct),
        _flag(values["annotator_excluded"]),
        values["rationale"],
        values["time_on_task_seconds"],
        values["created_at"].astimezone(UTC).isoformat(),
        None if revised is None else revised.astimezone(UTC).isoformat(),
    ]


def _flag(value) -> bool:
    return bool(value)


def gold_judgments_metadata(study: Study, names: bool = False, *, bom: bool = True) -> dict:
    """Describe the gold export of `study` for its sidecar `<file>.meta.json`; `names` and `bom` as in the CSV."""
    criterion = scored_criterion(study)
    judgments = Judgment.objects.filter(item__study=study, item__is_gold=True).aggregate(
        judgments=Count("pk"),
        correct=Count("pk", filter=Q(gold_correct=True)),
        wrong=Count("pk", filter=Q(gold_correct=False)),
        annotators=Count("annotator", distinct=True),
    )
    items = Item.objects.filter(study=study, is_gold=True).aggregate(
        items=Count("pk"), attention_checks=Count("pk", filter=~Q(attention_text=""))
    )
    return {
        "file": gold_csv_filename(study),
        "format": {
            "encoding": csv_encoding(bom),
            "dialect": "RFC 4180, comma separated, CRLF line ends",
            "rows": "one per judgment on a gold item and criterion",
            "formula_cells": "text cells starting with =, +, -, @, tab or carriage return carry a leading apostrophe",
            "annotator_names": naming_description(names),
        },
        "study": {
            "name": study.name,
            "uuid": str(study.uuid),
            "kind": study.kind,
            "gold_rate": study.gold_rate,
            "qualification_min_accuracy": study.qualification_min_accuracy,
            "qualification_min_gold": study.qualification_min_gold,
        },
        "scoring": {
            "criterion": criterion.name if criterion else None,
            "rule": (
                "Only the study's first criterion is scored. Pairwise: the canonical outcome (and winner for a "
                "win) must equal the right one. Rating: the score must lie in the right range, bounds included."
            ),
        },
        "counts": {
            "rows": CriterionAnswer.objects.filter(criterion__study=study, judgment__item__is_gold=True).count(),
            "judgments": judgments["judgments"],
            "correct": judgments["correct"],
            "wrong": judgments["wrong"],
            "annotators": judgments["annotators"],
            "gold_items": items["items"],
            "attention_checks": items["attention_checks"],
        },
        "generated_at": timezone.now().astimezone(UTC).isoformat(),
        "humeval_version": _humeval_version(),
        "columns": [{"name": column.name, "description": column.description} for column in gold_columns(study.kind)],
    }
