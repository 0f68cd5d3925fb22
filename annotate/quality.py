"""Per-annotator quality figures of a study: gold accuracy and the manager's decisions.

The admin's quality page and the report page both show them. Everything
comes from a fixed number of aggregated queries, whatever the number of
judgments or annotators.
"""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Count, Q

from annotate.gold import gold_accuracy
from annotate.models import AnnotatorStatus, Judgment, Study
from annotate.pseudonyms import annotator_label


@dataclass(frozen=True)
class AnnotatorQuality:
    """One annotator's work and status in a study.

    `judgments` counts their judgments on regular items, surplus ones
    included; `gold_judgments` their scored judgments on gold items, of
    which `gold_correct` were right.
    """

    user_id: int
    username: str
    judgments: int
    gold_judgments: int
    gold_correct: int
    is_excluded: bool
    is_paused: bool
    paused_reason: str

    @property
    def annotator(self) -> str:
        """The name reports show: a pseudonym, or the account name inside `annotator_names_shown()`."""
        return annotator_label(self.user_id, self.username)

    @property
    def gold_accuracy(self) -> float | None:
        """Share of right gold answers from 0 to 1, or None without scored gold judgments."""
        return self.gold_correct / self.gold_judgments if self.gold_judgments else None


def annotator_quality(study: Study, regular_counts: dict[int, int] | None = None) -> list[AnnotatorQuality]:
    """Return a row for every annotator of `study` and everyone else who judged in it, by username.

    `regular_counts` maps annotators to their judgments on regular items;
    it is counted here when not given.
    """
    regular = regular_counts
    if regular is None:
        regular = dict(
            Judgment.objects.filter(item__study=study, item__is_gold=False)
            .values("annotator")
            .order_by()
            .annotate(count=Count("pk"))
            .values_list("annotator", "count")
        )
    accuracy = gold_accuracy(study)
    statuses = {status.annotator_id: status for status in AnnotatorStatus.objects.filter(study=study)}
    members = get_user_model().objects.filter(annotated_studies=study).values("pk")

    user_ids = set(regular) | set(accuracy) | set(statuses)
    users = (
        get_user_model()
        .objects.filter(Q(pk__in=user_ids) | Q(pk__in=members))
        .order_by("username")
        .values_list("pk", "username")
    )
    rows = []
    for user_id, username in users:
        gold = accuracy.get(user_id)
        status = statuses.get(user_id)
        rows.append(
            AnnotatorQuality(
                user_id=user_id,
                username=username,
                judgments=regular.get(user_id, 0),
                gold_judgments=gold.total if gold else 0,
                gold_correct=gold.correct if gold else 0,
                is_excluded=bool(status and status.is_excluded),
                is_paused=bool(status and status.is_paused),
                paused_reason=status.paused_reason if status else "",
            )
        )
    return rows
