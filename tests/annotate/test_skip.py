"""Skipping a task: the service in annotate/skipping.py and the skip view."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotate.assignment import annotator_progress, next_assignment, submit_judgment
from annotate.errors import SkipRejected
from annotate.items import open_study
from annotate.models import Assignment, AssignmentStatus, Judgment, SkipReason
from annotate.skipping import skip_assignment, skip_counts
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def one_item_study():
    """An open pairwise study of one prompt and two systems, so one item, judged once."""
    prompt_set = make_prompt_set(prompts=["Only prompt"])
    study = make_study([make_run(prompt_set), make_run(prompt_set)], overlap=1)
    open_study(study)
    return study


def _skip_url(assignment):
    kwargs = {"study_uuid": assignment.item.study.uuid, "assignment_uuid": assignment.uuid}
    return reverse("annotate:skip", kwargs=kwargs)


def _task_url(assignment):
    kwargs = {"study_uuid": assignment.item.study.uuid, "assignment_uuid": assignment.uuid}
    return reverse("annotate:task", kwargs=kwargs)


def _next_url(study):
    return reverse("annotate:next_task", kwargs={"study_uuid": study.uuid})


# The service


def test_skip_releases_item_to_others(one_item_study):
    first, second = make_user(), make_user()
    assignment = next_assignment(one_item_study, first)
    assert next_assignment(one_item_study, second) is None

    skip_assignment(assignment, SkipReason.BROKEN, "The answer stops mid-sentence.")

    taken = next_assignment(one_item_study, second)
    assert taken is not None
    assert taken.item_id == assignment.item_id
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.SKIPPED
    assert assignment.skip_reason == SkipReason.BROKEN
    assert assignment.skip_note == "The answer stops mid-sentence."


def test_skipped_item_not_offered_again(one_item_study):
    annotator = make_user()
    assignment = next_assignment(one_item_study, annotator)
    skip_assignment(assignment, SkipReason.CANNOT_JUDGE)

    assert next_assignment(one_item_study, annotator) is None
    # Still nothing after the skipped assignment's lease time has passed.
    later = timezone.now() + timedelta(days=2)
    assert next_assignment(one_item_study, annotator, now=later) is None
    assert Assignment.objects.filter(annotator=annotator).count() == 1


def test_skipped_items_never_come_back(pairwise_study, annotator):
    skipped_items = set()
    for _ in range(pairwise_study.items.count()):
        assignment = next_assignment(pairwise_study, annotator)
        skipped_items.add(assignment.item_id)
        skip_assignment(assignment, SkipReason.OTHER)

    assert len(skipped_items) == pairwise_study.items.count()
    assert next_assignment(pairwise_study, annotator) is None


def test_skip_twice_keeps_first_reason(one_item_study):
    assignment = next_assignment(one_item_study, make_user())

    skip_assignment(assignment, SkipReason.BROKEN, "first")
    again = skip_assignment(assignment, SkipReason.OTHER, "second")

    assert again.status == AssignmentStatus.SKIPPED
    assert again.skip_reason == SkipReason.BROKEN
    assert again.skip_note == "first"


def test_skip_after_submit_rejected(one_item_study):
    assignment = next_assignment(one_item_study, make_user())
    submit_judgment(assignment, {"overall": "A"})

    with pytest.raises(SkipRejected, match="already submitted"):
        skip_assignment(assignment, SkipReason.BROKEN)

    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.SUBMITTED
    assert assignment.skip_reason == ""


@pytest.mark.parametrize(
    ("reason", "note", "message"),
    [
        ("bored", "", "not a reason for skipping"),
        ("", "", "not a reason for skipping"),
        (SkipReason.OTHER, "x" * 501, "shorten it to 500"),
    ],
)
def test_skip_bad_input_changes_nothing(one_item_study, reason, note, message):
    assignment = next_assignment(one_item_study, make_user())

    with pytest.raises(SkipRejected, match=message):
        skip_assignment(assignment, reason, note)

    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.LEASED


def test_skip_of_expired_lease_allowed(one_item_study):
    long_ago = timezone.now() - timedelta(hours=2)
    assignment = next_assignment(one_item_study, make_user(), now=long_ago)

    skip_assignment(assignment, SkipReason.CANNOT_JUDGE)

    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.SKIPPED


def test_submit_after_skip_is_stored(one_item_study):
    assignment = next_assignment(one_item_study, make_user())
    skip_assignment(assignment, SkipReason.OTHER)

    judgment = submit_judgment(assignment, {"overall": "B"})

    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.SUBMITTED
    assert judgment.is_surplus is False


def test_submit_after_skip_surplus_when_item_full(one_item_study):
    assignment = next_assignment(one_item_study, make_user())
    skip_assignment(assignment, SkipReason.OTHER)
    other = next_assignment(one_item_study, make_user())
    submit_judgment(other, {"overall": "A"})

    late = submit_judgment(assignment, {"overall": "B"})

    assert late.is_surplus is True
    assert Judgment.objects.filter(item=assignment.item, is_surplus=False).count() == 1


def test_progress_leaves_out_skipped(pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)

    skip_assignment(assignment, SkipReason.CANNOT_JUDGE)

    progress = annotator_progress(pairwise_study, annotator)
    assert progress.done == 0
    assert progress.left == 8


def test_skip_counts_per_reason(pairwise_study, annotator):
    colleague = make_user()
    skip_assignment(next_assignment(pairwise_study, annotator), SkipReason.BROKEN)
    skip_assignment(next_assignment(pairwise_study, annotator), SkipReason.BROKEN)
    skip_assignment(next_assignment(pairwise_study, colleague), SkipReason.UNCOMFORTABLE)
    next_assignment(pairwise_study, colleague)

    counts = skip_counts(pairwise_study)
    assert counts == {
        SkipReason.CANNOT_JUDGE: 0,
        SkipReason.BROKEN: 2,
        SkipReason.UNCOMFORTABLE: 1,
        SkipReason.OTHER: 0,
    }
    assert skip_counts(pairwise_study, annotator=colleague)[SkipReason.UNCOMFORTABLE] == 1
    assert sum(skip_counts(pairwise_study, annotator=colleague).values()) == 1


# The views


def test_task_page_offers_skip(client, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)
    client.force_login(annotator)

    text = client.get(_task_url(assignment)).text

    assert f'action="{_skip_url(assignment)}"' in text
    assert "Skip this task" in text
    assert re.search(r"<dt><kbd>S</kbd></dt><dd>Skip this task</dd>", text)
    for reason in SkipReason.values:
        assert f'value="{reason}"' in text


def test_skip_post_skips_and_moves_on(client, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)
    client.force_login(annotator)

    response = client.post(_skip_url(assignment), {"skip-reason": "broken", "skip-note": " Empty answer B. "})

    assert response.status_code == 302
    assert response.url == _next_url(pairwise_study)
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.SKIPPED
    assert assignment.skip_reason == SkipReason.BROKEN
    assert assignment.skip_note == "Empty answer B."
    following = client.get(response.url, follow=True)
    assert "You skipped that task. It will not be offered to you again." in following.text
    assert following.redirect_chain[-1][0] != _task_url(assignment)


def test_skip_post_without_reason_shows_error(client, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)
    client.force_login(annotator)

    response = client.post(_skip_url(assignment), {"skip-note": "no reason given"})

    assert response.status_code == 200
    assert "Choose a reason for skipping this task." in response.text
    assert "no reason given" in response.text
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.LEASED


def test_skip_page_get_shows_form(client, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)
    client.force_login(annotator)

    response = client.get(_skip_url(assignment))

    assert response.status_code == 200
    assert 'name="skip-reason"' in response.text
    assert assignment.item.prompt.text not in response.text


def test_skip_submitted_task_refused(client, one_item_study):
    annotator = make_user()
    one_item_study.annotators.add(annotator)
    assignment = next_assignment(one_item_study, annotator)
    submit_judgment(assignment, {"overall": "A"})
    client.force_login(annotator)

    response = client.post(_skip_url(assignment), {"skip-reason": "broken"}, follow=True)

    assert "You have already submitted that task." in response.text
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.SUBMITTED


def test_skip_twice_by_post_harmless(client, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)
    client.force_login(annotator)

    first = client.post(_skip_url(assignment), {"skip-reason": "broken"})
    second = client.post(_skip_url(assignment), {"skip-reason": "other"})

    assert first.status_code == second.status_code == 302
    assignment.refresh_from_db()
    assert assignment.skip_reason == SkipReason.BROKEN
    assert Assignment.objects.filter(annotator=annotator, status=AssignmentStatus.SKIPPED).count() == 1


def test_task_page_of_skipped_task_redirects(client, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)
    skip_assignment(assignment, SkipReason.OTHER)
    client.force_login(annotator)

    response = client.get(_task_url(assignment))

    assert response.status_code == 302
    assert response.url == _next_url(pairwise_study)


def test_skip_of_other_annotator_is_404(client, pairwise_study, annotator):
    colleague = make_user()
    pairwise_study.annotators.add(colleague)
    assignment = next_assignment(pairwise_study, annotator)
    client.force_login(colleague)

    assert client.get(_skip_url(assignment)).status_code == 404
    assert client.post(_skip_url(assignment), {"skip-reason": "broken"}).status_code == 404
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.LEASED


def test_skip_anonymous_redirects_to_login(client, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)

    response = client.post(_skip_url(assignment), {"skip-reason": "broken"})

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.LEASED


def test_skip_wrong_method_not_allowed(client, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)
    client.force_login(annotator)

    assert client.put(_skip_url(assignment)).status_code == 405
