"""Admin permissions read from the table in humeval.policy instead of Django's per-model permissions.

A ModelAdmin that mixes in `PolicyAdminMixin` and names its `policy_kind`
shows a study manager only the rows the table grants (its change list,
search, filters and autocomplete all start from `get_queryset`), and asks
the table whether the user may view, add, change or delete. An object the
user may not view is treated by the admin as missing, the same answer as
for an id that does not exist.
"""

from humeval.policy import Action, Kind, allows, scope


class PolicyAdminMixin:
    """Permissions and row scoping of a ModelAdmin, from the policy table; put it before admin.ModelAdmin."""

    policy_kind: Kind

    def get_queryset(self, request):
        return scope(super().get_queryset(request), request.user, Action.VIEW, self.policy_kind)

    def has_module_permission(self, request):
        return allows(request.user, Action.VIEW, self.policy_kind)

    def has_view_permission(self, request, obj=None):
        return self._permits(request, Action.VIEW, obj) or self._permits(request, Action.CHANGE, obj)

    def has_add_permission(self, request, *args):
        return allows(request.user, Action.CREATE, self.policy_kind)

    def has_change_permission(self, request, obj=None):
        return self._permits(request, Action.CHANGE, obj)

    def has_delete_permission(self, request, obj=None):
        return self._permits(request, Action.DELETE, obj)

    def _permits(self, request, action: Action, obj) -> bool:
        if not allows(request.user, action, self.policy_kind):
            return False
        if obj is None:
            return True
        objects = self.model._default_manager.filter(pk=obj.pk)
        return scope(objects, request.user, action, self.policy_kind).exists()


class PolicyInlineMixin:
    """Permissions of an inline, from the policy table: what the user may do to the parent object.

    `policy_kind` names the parent's kind; `obj` is the parent, as the admin passes it to inlines.
    """

    policy_kind: Kind

    def has_view_permission(self, request, obj=None):
        return self._permits(request, Action.VIEW, obj) or self._permits(request, Action.CHANGE, obj)

    def has_add_permission(self, request, obj=None):
        return self._permits(request, Action.CHANGE, obj)

    def has_change_permission(self, request, obj=None):
        return self._permits(request, Action.CHANGE, obj)

    def has_delete_permission(self, request, obj=None):
        return self._permits(request, Action.CHANGE, obj)

    def _permits(self, request, action: Action, obj) -> bool:
        if not allows(request.user, action, self.policy_kind):
            return False
        if obj is None or obj.pk is None:
            return True
        parents = type(obj)._default_manager.filter(pk=obj.pk)
        return scope(parents, request.user, action, self.policy_kind).exists()
