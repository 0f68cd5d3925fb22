"""A cache of computed study reports, so that viewing a report again does not rerun every bootstrap.

`cached_study_report` stores the result of `build_study_report` in Django's
default cache under a key made of the study, the report's options and a
fingerprint of the data the report reads. `cached_figures` does the same
for other figures the report page computes from judgments, such as the
human scores beside benchmark results. Any change to that data gives a
new fingerprint, hence a new key, so a stale report is never served; old
entries simply age out.

The fingerprint takes a fixed number of small queries, whatever the
study's size:
- all judgments, of every study: their count, highest id, latest revision
  time, how many were right on gold items and how many are surplus, so a
  new, deleted, revised or re-scored judgment shows;
- its items: count and highest id, and the count and id sum of its gold
  items, so marking or unmarking a gold item shows;
- the annotators' statuses (excluded, paused and why) and the study's
  annotator list, read whole, because the admin changes statuses with
  `QuerySet.update`, which leaves `updated_at` alone;
- the criteria and the systems' display names;
- the id of the latest erasure in the audit log, because an erased
  annotator's account name, which a site admin may ask to see, changes.
The options are those of `build_study_report`, the active breakdown
(`reports.answers.limited_to`) and the active language, because reasons
for missing figures are translated when computed.

NOTE: an edit outside these (say, a prompt's category changed in the
admin, which moves items between breakdowns, or a renamed account) is not
seen until CACHE_SECONDS pass.
"""

import contextlib
import contextvars
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from typing import TypeVar

from django.core.cache import cache
from django.db.models import Count, Max, Q, Sum
from django.utils import translation

from annotate.models import AnnotatorStatus, AuditAction, AuditEvent, Item, Judgment, Study
from reports.answer_table import StudyAnswers
from reports.answers import active_breakdown
from reports.summary import StudyReport, build_study_report
from reports.systems import load_systems

logger = logging.getLogger(__name__)

CACHE_SECONDS = 6 * 60 * 60
# Raise the version when the figures or their fields change for the same data, so
# no report computed by the old code is served.
KEY_PREFIX = "humeval:study-report:v2"

T = TypeVar("T")

# Inside `one_fingerprint()`: the fingerprints taken so far, by study id.
_fingerprints: contextvars.ContextVar[dict[int, dict] | None] = contextvars.ContextVar(
    "report_fingerprints", default=None
)


@contextlib.contextmanager
def one_fingerprint() -> Iterator[None]:
    """Take each study's data fingerprint once inside the block, for a view that looks up several cached figures.

    A report page looks up four kinds of figures, and the fingerprint
    reads every judgment: 0.15 s each on a million judgments in SQLite.
    Data stored while the block runs is seen by the next view.
    """
    token = _fingerprints.set({})
    try:
        yield
    finally:
        _fingerprints.reset(token)


def cached_study_report(study: Study, table: StudyAnswers | None = None, **options) -> StudyReport:
    """Return the study's report from the cache, or compute and store it; `options` as build_study_report.

    `table`, the study's answers as `load_study_answers` read them, is read
    only when the report is computed; it is not part of the key.
    """
    return cached_figures("report", study, options, lambda: build_study_report(study, table=table, **options))


def cached_figures(kind: str, study: Study, options: dict, compute: Callable[[], T]) -> T:
    """Return figures of `kind` on `study` with `options` from the cache, or call `compute` and store its result.

    `compute` must read only what the fingerprint covers, through
    `options`, the active breakdown and the active language.
    """
    key = report_cache_key(study, options, kind)
    figures = cache.get(key)
    if figures is not None:
        return figures

    figures = compute()
    cache.set(key, figures, CACHE_SECONDS)
    logger.info("Computed and cached figures %s of study %s", kind, study.pk)
    return figures


def report_cache_key(study: Study, options: dict, kind: str = "report") -> str:
    """Return the cache key of the study's figures of `kind` with `options` on the data as it is now."""
    described = {
        "kind": kind,
        "study": [study.pk, str(study.uuid), study.name, study.kind, study.status],
        "options": sorted((name, repr(value)) for name, value in options.items()),
        "breakdown": repr(active_breakdown()),
        "language": translation.get_language(),
        "data": _current_fingerprint(study),
    }
    digest = hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()
    return f"{KEY_PREFIX}:{study.pk}:{digest}"


def _current_fingerprint(study: Study) -> dict:
    fingerprints = _fingerprints.get()
    if fingerprints is None:
        return data_fingerprint(study)
    if study.pk not in fingerprints:
        fingerprints[study.pk] = data_fingerprint(study)
    return fingerprints[study.pk]


def data_fingerprint(study: Study) -> dict:
    """Describe the study's data cheaply enough to run on every view; see the module docstring."""
    # Over all studies: filtering by study would read every judgment row
    # through the item index, seconds on a million judgments in SQLite,
    # while a plain scan of the table takes a tenth of a second. A judgment
    # stored in another study thus also renews this study's key.
    judgments = Judgment.objects.aggregate(
        count=Count("pk"),
        last_id=Max("pk"),
        last_revision=Max("revised_at"),
        gold_correct=Count("pk", filter=Q(gold_correct=True)),
        surplus=Count("pk", filter=Q(is_surplus=True)),
    )
    # Marking or unmarking a gold item changes no count above when none of
    # its judgments is right, so the gold items are described too.
    items = Item.objects.filter(study=study).aggregate(
        count=Count("pk"),
        last_id=Max("pk"),
        gold=Count("pk", filter=Q(is_gold=True)),
        gold_id_sum=Sum("pk", filter=Q(is_gold=True)),
    )
    statuses = list(
        AnnotatorStatus.objects.filter(study=study)
        .order_by("annotator_id")
        .values_list("annotator_id", "is_excluded", "is_paused", "paused_reason")
    )
    annotators = list(study.annotators.order_by("pk").values_list("pk", flat=True))
    criteria = list(
        study.criteria.order_by("position", "pk").values_list(
            "pk", "name", "question", "scale_min", "scale_max", "low_label", "high_label"
        )
    )
    systems = sorted((system.run_id, system.name) for system in load_systems(study).values())
    last_erasure = AuditEvent.objects.filter(action=AuditAction.ERASED).aggregate(last=Max("pk"))["last"]
    return {
        "judgments": judgments,
        "items": items,
        "statuses": statuses,
        "annotators": annotators,
        "criteria": criteria,
        "systems": systems,
        "last_erasure": last_erasure,
    }
