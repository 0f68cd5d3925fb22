"""Pause, close and reopen studies.

A study moves draft -> open (annotate.items.open_study builds its items),
open -> paused, open or paused -> closed, and paused or closed -> open again.

Only an open study hands out new tasks. Pausing or closing leaves the
outstanding leases alone: each one runs until its expiry, and a judgment
submitted for it, on time or late, is stored like any late submit (surplus
when its item already has its overlap). Reopening a closed study also builds
any item its systems gained meanwhile.

Each function takes the `actor` who asked for the change and records it in
the audit log (annotate.audit) once the change has succeeded; `actor` is
None for the system or a command run without a user.
"""

import logging
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from annotate.audit import record_event
from annotate.errors import InvalidStatusChange
from annotate.items import open_study
from annotate.models import Assignment, AssignmentStatus, AuditAction, Study, StudyStatus

logger = logging.getLogger(__name__)


def open_draft_study(study: Study, actor=None) -> int:
    """Open `study` for the first time (annotate.items.open_study), record who did, and return the new items.

    Raises StudyNotReady, from open_study, when the study does not validate;
    nothing changes and nothing is recorded then.
    """
    created = open_study(study)
    record_event(actor, AuditAction.OPENED, study, {"items_created": created})
    return created


def pause_study(study: Study, actor=None) -> None:
    """Set an open study to paused, or raise InvalidStatusChange naming its status."""
    if not _change_status(study, allowed=[StudyStatus.OPEN], new=StudyStatus.PAUSED):
        if study.status == StudyStatus.PAUSED:
            raise InvalidStatusChange(_("Study “%(study)s” is already paused.") % {"study": study.name})
        raise InvalidStatusChange(
            _("Study “%(study)s” is %(status)s; only an open study can be paused.") % _names(study)
        )
    record_event(actor, AuditAction.PAUSED, study)


def close_study(study: Study, actor=None) -> None:
    """Set an open or paused study to closed, or raise InvalidStatusChange naming its status."""
    if not _change_status(study, allowed=[StudyStatus.OPEN, StudyStatus.PAUSED], new=StudyStatus.CLOSED):
        if study.status == StudyStatus.CLOSED:
            raise InvalidStatusChange(_("Study “%(study)s” is already closed.") % {"study": study.name})
        raise InvalidStatusChange(
            _("Study “%(study)s” is %(status)s; only an open or paused study can be closed.") % _names(study)
        )
    record_event(actor, AuditAction.CLOSED, study)


def reopen_study(study: Study, actor=None) -> int:
    """Open a paused or closed study again and return the number of new items.

    Raises InvalidStatusChange for a draft or open study, and StudyNotReady
    (from open_study) when the study no longer validates; either way nothing
    changes.
    """
    study.refresh_from_db(fields=["status"])
    if study.status == StudyStatus.OPEN:
        raise InvalidStatusChange(_("Study “%(study)s” is already open.") % {"study": study.name})
    if study.status not in (StudyStatus.PAUSED, StudyStatus.CLOSED):
        raise InvalidStatusChange(
            _("Study “%(study)s” is %(status)s; only a paused or closed study can be reopened.") % _names(study)
        )
    created = open_study(study)
    record_event(actor, AuditAction.REOPENED, study, {"items_created": created})
    return created


def outstanding_leases(study: Study, now: datetime | None = None) -> int:
    """Count the unexpired leases in `study`: tasks annotators may still submit before they expire."""
    now = now or timezone.now()
    return Assignment.objects.filter(item__study=study, status=AssignmentStatus.LEASED, expires_at__gt=now).count()


def _change_status(study: Study, allowed: list[str], new: str) -> bool:
    """Move `study` to `new` if its status is in `allowed`; return False, with `study.status` refreshed, if not."""
    # A conditional update: two admins acting at once cannot both move the
    # study out of the same old status.
    changed = Study.objects.filter(pk=study.pk, status__in=allowed).update(status=new)
    if not changed:
        study.refresh_from_db(fields=["status"])
        return False

    logger.info("Study %s changed to %s", study.uuid, new)
    study.status = new
    return True


def _names(study: Study) -> dict[str, str]:
    return {"study": study.name, "status": study.get_status_display()}
