"""Who may act on studies through the manager's side of the REST API, and how its views fetch a study.

The rules are the table in humeval.policy: site admins act on every study,
study managers on the studies that list them. Each kind of object has its
own permission class, which names the policy's object kind. A user who may
not act on a study gets 404 on every URL that names it, never 403, so
nobody learns which study UUIDs exist. Collection URLs (list, create) give
403 to a user whom the table grants nothing of that kind.
"""

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission

from annotate.access import studies_for
from annotate.models import Study
from humeval.policy import Action, Kind, allows


def request_action(request, view) -> Action:
    """Return the policy action a request takes: view for reads, create on a collection, change otherwise."""
    if request.method in SAFE_METHODS:
        return Action.VIEW
    names_object = "uuid" in view.kwargs or "study_uuid" in view.kwargs
    if request.method == "POST" and not names_object:
        return Action.CREATE
    return Action.CHANGE


class StudyPermission(BasePermission):
    """Base of the permissions on studies and what belongs to them; each subclass names one kind of object.

    A URL that names a study passes here and the view fetches the study from
    `studies_for`, which hides what the user may not act on, so the response
    is 404.
    """

    kind = Kind.STUDY

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if "study_uuid" in view.kwargs or "uuid" in view.kwargs:
            return True
        return allows(user, request_action(request, view), self.kind)

    def studies_for(self, request, view):
        """Return the studies in which the request's user may take its action on this permission's kind."""
        return studies_for(request.user, request_action(request, view), self.kind)


class CanManageStudies(StudyPermission):
    message = _("Only site admins and study managers may manage studies.")


class CanManageItems(StudyPermission):
    kind = Kind.ITEM
    message = _("Only site admins and study managers may manage the items of studies.")


class CanManageAnnotators(StudyPermission):
    kind = Kind.ANNOTATOR
    message = _("Only site admins and study managers may manage the annotators of studies.")


class StudyScopedMixin:
    """Fetch the study a nested URL names (`study_uuid`), through the view's permission class."""

    def get_study(self) -> Study:
        permission = self.get_permissions()[0]
        studies = permission.studies_for(self.request, self).select_related("prompt_set")
        return get_object_or_404(studies, uuid=self.kwargs["study_uuid"])
