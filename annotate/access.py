"""Fetch annotate objects scoped to the requesting user, as the table in humeval.policy grants them.

Every view, admin page and API endpoint fetches through these helpers, so
a study the user may not see, or another annotator's assignment, is a 404
and never a 403 that would confirm it exists. There is one helper per kind
of object: `studies_for` and `get_study_for` for studies (and, with
`kind`, for what belongs to a study), `items_for`, `assignments_for` and
`judgments_for`, and the annotator's own-task helpers below.
"""

from django.shortcuts import get_object_or_404

from annotate.models import Assignment, Item, Judgment, Study, StudyStatus
from humeval.policy import Action, Kind, scope, scope_filter


def studies_for(user, action: Action, kind: Kind = Kind.STUDY):
    """Return the studies in which `user` may take `action` on objects of `kind` (the study itself by default).

    With kind=Kind.ITEM, for example, these are the studies whose items the
    user may act on; the API's nested URLs fetch their study this way.
    """
    condition = scope_filter(user, action, kind, study_path="pk")
    return Study.objects.all() if condition is None else Study.objects.filter(condition)


def get_study_for(user, study_uuid, action: Action, kind: Kind = Kind.STUDY) -> Study:
    """Return the study with `study_uuid` if `user` may take `action` on its objects of `kind`, else raise Http404."""
    return get_object_or_404(studies_for(user, action, kind), uuid=study_uuid)


def items_for(user, action: Action):
    """Return the items `user` may take `action` on."""
    return scope(Item.objects.all(), user, action, Kind.ITEM)


def assignments_for(user, action: Action):
    """Return the assignments `user` may take `action` on."""
    return scope(Assignment.objects.all(), user, action, Kind.ASSIGNMENT)


def judgments_for(user, action: Action):
    """Return the judgments `user` may take `action` on."""
    return scope(Judgment.objects.all(), user, action, Kind.JUDGMENT)


def get_study_for_annotator(user, study_uuid) -> Study:
    """Return the study with `study_uuid` if `user` is one of its annotators, else raise Http404."""
    return get_study_for(user, study_uuid, Action.ANNOTATE)


def get_assignment_for_annotator(user, study: Study, assignment_uuid) -> Assignment:
    """Return `user`'s assignment with `assignment_uuid` in `study`, else raise Http404."""
    assignments = Assignment.objects.select_related(
        "item__prompt", "item__first_response", "item__second_response"
    ).filter(item__study=study)
    assignments = scope(assignments, user, Action.ANNOTATE, Kind.ASSIGNMENT)
    assignment = get_object_or_404(assignments, uuid=assignment_uuid)
    # The item's study is `study` (the filter requires it), so it is set here
    # instead of being joined in again on every task page and submit.
    assignment.item.study = study
    return assignment


def get_judgment_for_annotator(user, study: Study, judgment_uuid) -> Judgment:
    """Return `user`'s judgment with `judgment_uuid` in `study`, else raise Http404."""
    judgments = Judgment.objects.select_related(
        "item__study",
        "assignment__item__prompt",
        "assignment__item__first_response",
        "assignment__item__second_response",
    ).filter(item__study=study)
    judgments = scope(judgments, user, Action.ANNOTATE, Kind.JUDGMENT)
    return get_object_or_404(judgments, uuid=judgment_uuid)


def get_study_for_signup(token: str) -> Study:
    """Return the study whose sign-up link has `token`, else raise Http404.

    A turned-off link (empty token) and a closed study both give 404, so
    nobody joins a study that takes no more annotators.
    """
    studies = Study.objects.exclude(signup_token="").exclude(status=StudyStatus.CLOSED)
    return get_object_or_404(studies, signup_token=token)
