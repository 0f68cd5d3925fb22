"""The audit log: who created, opened, paused, reopened, closed, exported, deleted or erased what, and when.

`record_event` writes one `AuditEvent`. Callers record an event after the
action has succeeded, except deletions, which are recorded just before
the delete, while the object still has its id and name. The event keeps
the object's type, public id and name as text, so it still reads well
after the object is gone.

Site admins read the log in the admin (annotate.admin_audit); nobody can
change or delete an entry there.

Deletions in the generation admin reach this log through the
`generation.signals.deleted_in_admin` signal, because the generation app
does not import annotate (annotate reads generation, never the reverse).
"""

import logging

from django.db import models

from annotate.models import AuditAction, AuditEvent

logger = logging.getLogger(__name__)

# AuditEvent.object_repr's max_length.
_REPR_LENGTH = 300


def record_event(actor, action: str, obj: models.Model | None = None, details: dict | None = None) -> AuditEvent:
    """Store one audit event and return it.

    `actor` is the user who acted, or None for the system or a command run
    without a user (an anonymous user counts as None). `action` is an
    `AuditAction`. `obj` is the object acted on; its type is stored as
    `app_label.model_name`, its id as its public UUID when it has one, else
    its primary key (user accounts have no UUID). `details` must be JSON-serialisable.
    """
    if actor is not None and not actor.is_authenticated:
        actor = None
    object_type, object_id, object_repr = _describe(obj)
    event = AuditEvent.objects.create(
        actor=actor,
        action=AuditAction(action),
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr,
        details=details or {},
    )
    logger.info(
        "Audit: user %s %s %s %s",
        actor.pk if actor is not None else "-",
        action,
        object_type,
        object_id,
    )
    return event


def _describe(obj: models.Model | None) -> tuple[str, str, str]:
    """Return (type, public id, name) of `obj`, or empty strings for no object."""
    if obj is None:
        return "", "", ""
    object_type = obj._meta.label_lower
    public_id = getattr(obj, "uuid", None) or obj.pk
    return object_type, "" if public_id is None else str(public_id), str(obj)[:_REPR_LENGTH]


def record_deletions(actor, objects) -> None:
    """Record a DELETED event for each object in `objects`; call it before deleting them."""
    for obj in objects:
        record_event(actor, AuditAction.DELETED, obj)


def on_deleted_in_admin(sender, user, objects, **kwargs) -> None:
    """Receive `generation.signals.deleted_in_admin` and record each deletion."""
    record_deletions(user, objects)
