"""Fetch annotate objects scoped to the requesting annotator.

Every view and API endpoint fetches through these helpers, so a study the
user does not annotate, or another annotator's assignment, is a 404 and
never a 403 that would confirm it exists.
"""

from django.shortcuts import get_object_or_404

from annotate.models import Assignment, Study


def get_study_for_annotator(user, study_uuid) -> Study:
    """Return the study with `study_uuid` if `user` is one of its annotators, else raise Http404."""
    return get_object_or_404(Study.objects.filter(annotators=user), uuid=study_uuid)


def get_assignment_for_annotator(user, study: Study, assignment_uuid) -> Assignment:
    """Return `user`'s assignment with `assignment_uuid` in `study`, else raise Http404."""
    assignments = Assignment.objects.select_related(
        "item__study", "item__prompt", "item__first_response", "item__second_response"
    ).filter(item__study=study, annotator=user)
    return get_object_or_404(assignments, uuid=assignment_uuid)
