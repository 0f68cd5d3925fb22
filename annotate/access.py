"""Fetch annotate objects scoped to the requesting annotator.

Every view and API endpoint fetches through these helpers, so a study the
user does not annotate, or another annotator's assignment, is a 404 and
never a 403 that would confirm it exists.
"""

from django.shortcuts import get_object_or_404

from annotate.models import Assignment, Judgment, Study, StudyStatus


def get_study_for_annotator(user, study_uuid) -> Study:
    """Return the study with `study_uuid` if `user` is one of its annotators, else raise Http404."""
    return get_object_or_404(Study.objects.filter(annotators=user), uuid=study_uuid)


def get_assignment_for_annotator(user, study: Study, assignment_uuid) -> Assignment:
    """Return `user`'s assignment with `assignment_uuid` in `study`, else raise Http404."""
    assignments = Assignment.objects.select_related(
        "item__prompt", "item__first_response", "item__second_response"
    ).filter(item__study=study, annotator=user)
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
    ).filter(item__study=study, annotator=user)
    return get_object_or_404(judgments, uuid=judgment_uuid)


def get_study_for_signup(token: str) -> Study:
    """Return the study whose sign-up link has `token`, else raise Http404.

    A turned-off link (empty token) and a closed study both give 404, so
    nobody joins a study that takes no more annotators.
    """
    studies = Study.objects.exclude(signup_token="").exclude(status=StudyStatus.CLOSED)
    return get_object_or_404(studies, signup_token=token)
