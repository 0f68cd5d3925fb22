"""The audit log in the admin: a read-only list for site admins, filtered by action, object type and actor."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from annotate.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Nobody adds, changes or deletes entries here, so the log stays a true record; only site admins read it."""

    list_display = ["created_at", "actor_name", "action", "object_type", "object_repr", "object_id"]
    list_filter = ["action", "object_type", ("actor", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["object_repr", "object_id"]
    date_hierarchy = "created_at"
    list_select_related = ["actor"]
    readonly_fields = ["created_at", "actor", "action", "object_type", "object_id", "object_repr", "details"]

    @admin.display(description=_("by"), ordering="actor")
    def actor_name(self, event):
        if event.actor is None:
            return _("system or command line")
        return event.actor.get_username()

    def has_module_permission(self, request):
        return _is_site_admin(request)

    def has_view_permission(self, request, obj=None):
        return _is_site_admin(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _is_site_admin(request) -> bool:
    return request.user.is_active and request.user.is_superuser
