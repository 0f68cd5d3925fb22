"""Skipping a task: the annotator gives a reason and the item goes back to the pool.

A skipped assignment keeps its row, so the unique (item, annotator) key and
the pick query in annotate/assignment.py keep the item away from that
annotator for good. It stops counting toward the item's load, because only
unexpired leases and judgments count, so another annotator can take the
item at once. Reports read judgments only, so skips never reach them.
"""

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from annotate.errors import SkipRejected
from annotate.models import Assignment, AssignmentStatus, Item, Judgment, SkipReason, Study

logger = logging.getLogger(__name__)

SKIP_NOTE_MAX_LENGTH = Assignment._meta.get_field("skip_note").max_length


def skip_assignment(assignment: Assignment, reason: str, note: str = "", now: datetime | None = None) -> Assignment:
    """Mark `assignment` skipped for `reason` (a SkipReason value) and return it.

    Skipping an assignment that is already skipped changes nothing and keeps
    the first reason. Raises SkipRejected when the assignment has a judgment,
    when `reason` is not a SkipReason or when `note` is too long. A submit
    that arrives after the skip is still stored, like any late submit.
    """
    if reason not in SkipReason.values:
        raise SkipRejected(
            _("“%(reason)s” is not a reason for skipping; choose one of: %(choices)s.")
            % {"reason": reason, "choices": ", ".join(SkipReason.values)}
        )
    note = note.strip()
    if len(note) > SKIP_NOTE_MAX_LENGTH:
        raise SkipRejected(
            _("The note is %(length)d characters long; shorten it to %(limit)d.")
            % {"length": len(note), "limit": SKIP_NOTE_MAX_LENGTH}
        )

    with transaction.atomic():
        # Submits lock the item row before they look for a judgment, so
        # taking the same lock first orders this skip against a concurrent
        # submit of the assignment, and the later of the two finds the
        # earlier one's result.
        Item.objects.select_for_update().filter(pk=assignment.item_id).first()
        current = Assignment.objects.select_for_update().get(pk=assignment.pk)
        if current.status == AssignmentStatus.SUBMITTED or Judgment.objects.filter(assignment=current).exists():
            logger.info("Rejected a skip of assignment %s: it has a judgment", current.uuid)
            raise SkipRejected(_("You have already submitted this task, so it cannot be skipped."))
        if current.status == AssignmentStatus.SKIPPED:
            logger.info("Assignment %s skipped again; kept reason %s", current.uuid, current.skip_reason)
            return current

        current.status = AssignmentStatus.SKIPPED
        current.skip_reason = reason
        current.skip_note = note
        # Ending the lease as well keeps "unexpired lease" and "leased" the
        # same thing for anything that reads only the expiry.
        current.expires_at = min(current.expires_at, now or timezone.now())
        current.save(update_fields=["status", "skip_reason", "skip_note", "expires_at"])

    logger.info("Assignment %s of item %s skipped (%s)", current.uuid, assignment.item.uuid, reason)
    return current


def skip_counts(study: Study, annotator=None) -> dict[str, int]:
    """Count the skipped assignments of `study` per reason, for one annotator when given.

    Every SkipReason value is a key, with 0 where nobody skipped for it.
    """
    skipped = Assignment.objects.filter(item__study=study, status=AssignmentStatus.SKIPPED)
    if annotator is not None:
        skipped = skipped.filter(annotator=annotator)
    counted = dict(skipped.order_by().values_list("skip_reason").annotate(n=Count("pk")))
    return {reason: counted.get(reason, 0) for reason in SkipReason.values}
