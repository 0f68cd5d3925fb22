"""Who may act on studies through the manager's side of the REST API, and how its views fetch a study.

Site admins (Django staff) may, for now. Each kind of object has its own
permission class, so a finer role rule can replace one class without
touching the views. A user who may not manage a study gets 404 on every URL
that names it, never 403, so nobody learns which study UUIDs exist.
Collection URLs (list, create) give 403.
"""

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission

from annotate.models import Study


class StudyPermission(BasePermission):
    """Base of the permissions on studies and what belongs to them; each subclass names one kind of object.

    `allows` is the rule: for now, site admins only. A URL that names a
    study passes here and the view fetches the study from `studies_for`,
    which hides what the user may not manage, so the response is 404.
    """

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if "study_uuid" in view.kwargs or "uuid" in view.kwargs:
            return True
        return self.allows(user)

    def allows(self, user) -> bool:
        return bool(user.is_staff)

    def studies_for(self, user):
        """Return the studies `user` may act on through this permission."""
        return Study.objects.all() if self.allows(user) else Study.objects.none()


class CanManageStudies(StudyPermission):
    message = _("Only site admins may manage studies.")


class CanManageItems(StudyPermission):
    message = _("Only site admins may manage the items of studies.")


class CanManageAnnotators(StudyPermission):
    message = _("Only site admins may manage the annotators of studies.")


class StudyScopedMixin:
    """Fetch the study a nested URL names (`study_uuid`), through the view's permission class."""

    def get_study(self) -> Study:
        permission = self.get_permissions()[0]
        studies = permission.studies_for(self.request.user).select_related("prompt_set")
        return get_object_or_404(studies, uuid=self.kwargs["study_uuid"])
