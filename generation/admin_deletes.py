"""An admin mixin that announces deletions, so the audit log can record who deleted what."""

from django.db import transaction

from generation.signals import deleted_in_admin


class AnnouncedDeleteAdminMixin:
    """Send `deleted_in_admin` before the admin deletes one object or a selection.

    The signal and the delete share one transaction, so a delete that fails
    (a protected foreign key, say) leaves no audit entry behind.
    """

    def delete_model(self, request, obj):
        with transaction.atomic():
            deleted_in_admin.send(sender=type(obj), user=request.user, objects=[obj])
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            deleted_in_admin.send(sender=queryset.model, user=request.user, objects=list(queryset))
            super().delete_queryset(request, queryset)
