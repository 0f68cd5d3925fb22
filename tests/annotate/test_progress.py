"""Study progress figures: items, judgments, skips and leases, overall and per annotator."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from annotate.assignment import next_assignment, submit_judgment
from annotate.items import open_study
from annotate.models import Assignment, AssignmentStatus, Item, Judgment, Outcome, SkipReason
from annotate.progress import median_time_on_task, study_progress
from annotate.pseudonyms import pseudonym
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = pytest.mark.django_db

NOW = timezone.now()
ANSWERS = {"overall": "A"}


def _judge(study, annotator, seconds, now=NOW):
    assignment = next_assignment(study, annotator, now=now)
    return submit_judgment(assignment, ANSWERS, time_on_task=seconds, now=now)


def _gold_judgment(item, annotator, seconds):
    """Store a judgment on a gold item directly, so the figures do not depend on how gold items are picked."""
    assignment = Assignment.objects.create(
        item=item,
        annotator=annotator,
        first_on_left=True,
        status=AssignmentStatus.SUBMITTED,
        leased_at=NOW,
        expires_at=NOW + timedelta(minutes=30),
    )
    return Judgment.objects.create(
        assignment=assignment,
        item=item,
        annotator=annotator,
        first_on_left=True,
        time_on_task_seconds=seconds,
        gold_correct=True,
    )


@pytest.fixture
def busy_study():
    """A pairwise study (overlap 2, leases of 30 minutes) with 3 regular items and 1 gold item.

    At NOW: one item is complete, one judgment is surplus, one lease is
    outstanding, one expired without a submit, and one task was skipped.
    """
    prompt_set = make_prompt_set()
    runs = [make_run(prompt_set), make_run(prompt_set)]
    people = {name: make_user(f"progress-{name}") for name in ["u1", "u2", "u3", "u4", "u5", "u6"]}
    study = make_study(runs, overlap=2, lease_minutes=30, annotators=list(people.values()))
    open_study(study, seed=3)
    # u5 takes the first item an hour ago and lets the lease run out.
    late = next_assignment(study, people["u5"], now=NOW - timedelta(minutes=60))
    # u1 judges all three items; the first is the one u5 held.
    for seconds in (10, 20, 60):
        _judge(study, people["u1"], seconds)
    # u2 completes that first item (highest load, then sort key).
    _judge(study, people["u2"], 30)
    # u5 submits late: stored, and surplus because the item is complete.
    submit_judgment(late, ANSWERS, now=NOW)
    # u2 holds an unexpired lease; u3's lease expired ten minutes ago.
    next_assignment(study, people["u2"], now=NOW)
    next_assignment(study, people["u3"], now=NOW - timedelta(minutes=40))
    # u4 skips a task and then leaves the study.
    skipped = next_assignment(study, people["u4"], now=NOW - timedelta(minutes=5))
    Assignment.objects.filter(pk=skipped.pk).update(status=AssignmentStatus.SKIPPED, skip_reason=SkipReason.BROKEN)
    study.annotators.remove(people["u4"])

    # The gold item comes last, so the picker above never offered it.
    response = runs[0].responses.first()
    gold = Item.objects.create(
        study=study,
        prompt=response.prompt,
        first_response=response,
        sort_key=0.5,
        is_gold=True,
        attention_text="A deliberately useless answer.",
        gold_outcome=Outcome.WIN,
        gold_winner=response,
    )
    _gold_judgment(gold, people["u1"], 40)
    return study, people, late.item


def test_study_figures(busy_study):
    study, _people, _late_item = busy_study

    progress = study_progress(study, now=NOW)

    assert progress.items == 3
    assert progress.gold_items == 1
    assert progress.items_complete == 1
    assert progress.items_open == 2
    assert progress.judgments == 6
    assert progress.surplus_judgments == 1
    assert progress.gold_judgments == 1
    assert progress.counted_judgments == 4
    assert progress.judgments_needed == 2
    assert progress.percent_complete == pytest.approx(100 * 4 / 6)
    assert progress.skips == 1
    assert progress.leases_outstanding == 1
    assert progress.leases_expired == 1


def test_lowered_overlap_needs_nothing(busy_study):
    study, _people, _late_item = busy_study
    study.overlap = 1
    study.save(update_fields=["overlap"])

    progress = study_progress(study, now=NOW)

    # Every regular item has at least one counted judgment, and the item
    # with two does not make up for another.
    assert progress.items_complete == 3
    assert progress.judgments_needed == 0
    assert progress.percent_complete == 100.0


def test_late_submit_stored_as_surplus(busy_study):
    study, _people, late_item = busy_study

    judgments = Judgment.objects.filter(item=late_item)

    assert judgments.filter(is_surplus=False).count() == 2
    assert judgments.filter(is_surplus=True).count() == 1


def test_leases_expire_with_clock(busy_study):
    study, _people, _late_item = busy_study

    later = study_progress(study, now=NOW + timedelta(minutes=31))

    assert later.leases_outstanding == 0
    assert later.leases_expired == 2
    assert later.annotators[1].current_lease_expires_at is None


def test_annotator_rows(busy_study):
    study, people, _late_item = busy_study

    rows = {row.username: row for row in study_progress(study, now=NOW).annotators}

    assert list(rows) == sorted(rows)
    u1, u2, u3, u4, u5, u6 = (rows[f"progress-u{number}"] for number in range(1, 7))
    assert (u1.judgments, u1.gold_judgments, u1.surplus_judgments, u1.skips) == (4, 1, 0, 0)
    assert u1.median_seconds == 30.0  # 10, 20, 40, 60
    assert u1.current_lease_expires_at is None
    assert u1.last_activity >= NOW

    assert u2.judgments == 1
    assert u2.current_lease_expires_at == NOW + timedelta(minutes=30)
    assert u2.median_seconds == 30.0

    assert u3.judgments == 0
    assert u3.current_lease_expires_at is None
    assert u3.last_activity == NOW - timedelta(minutes=40)
    assert u3.median_seconds is None

    assert u4.skips == 1
    assert not u4.is_member
    assert u4.last_activity == NOW - timedelta(minutes=5)

    # Without a usable time from the page, the time since the lease began is stored.
    assert (u5.judgments, u5.surplus_judgments) == (1, 1)
    assert u5.median_seconds == 3600.0

    assert u6.is_member
    assert (u6.judgments, u6.skips, u6.last_activity, u6.median_seconds) == (0, 0, None, None)


def test_median_odd_and_even_counts():
    prompt_set = make_prompt_set(prompts=[f"Prompt {number}" for number in range(5)])
    study = make_study([make_run(prompt_set), make_run(prompt_set)], overlap=2)
    open_study(study, seed=1)
    odd, even = make_user(), make_user()
    for seconds in (50, 5, 7):
        _judge(study, odd, seconds)
    for seconds in (9, 1, 4, 100):
        _judge(study, even, seconds)

    medians = median_time_on_task(study)

    assert medians == {odd.pk: 7.0, even.pk: 6.5}


def test_query_count_independent_of_judgments(busy_study):
    study, people, _late_item = busy_study
    with CaptureQueriesContext(connection) as before:
        study_progress(study, now=NOW)

    gold = Item.objects.get(study=study, is_gold=True)
    _gold_judgment(gold, people["u6"], 12)
    _gold_judgment(gold, make_user(), 14)
    with CaptureQueriesContext(connection) as after:
        study_progress(study, now=NOW)

    assert len(after) == len(before)


def test_empty_study():
    prompt_set = make_prompt_set()
    study = make_study([make_run(prompt_set), make_run(prompt_set)])

    progress = study_progress(study)

    assert (progress.items, progress.items_complete, progress.judgments) == (0, 0, 0)
    assert progress.percent_complete == 0.0
    assert progress.annotators == []


# The progress page in the admin


def _superuser(username):
    return get_user_model().objects.create_superuser(username, password="pw-for-tests")


def test_progress_page_shows_figures(busy_study, client):
    study, people, _late_item = busy_study
    client.force_login(_superuser("progress-root"))

    response = client.get(reverse("admin:annotate_study_progress", args=[study.pk]))

    assert response.status_code == 200
    assert response.templates[0].name == "admin/annotate/study/progress.html"
    text = response.text
    assert '<td id="gold-items">1</td>' in text
    assert '<td id="surplus-judgments">1</td>' in text
    assert '<td id="leases-outstanding">1</td>' in text
    assert '<td id="leases-expired">1</td>' in text
    # Annotators appear under their pseudonyms unless a site admin asks for names.
    assert pseudonym(people["u5"].pk) in text
    assert "progress-u5" not in text
    assert "progress-u5" in client.get(reverse("admin:annotate_study_progress", args=[study.pk]) + "?names=show").text
    assert "<script>" not in text


def test_progress_link_in_change_list(busy_study, client):
    study, _people, _late_item = busy_study
    client.force_login(_superuser("progress-root"))

    changelist = client.get(reverse("admin:annotate_study_changelist"))
    change = client.get(reverse("admin:annotate_study_change", args=[study.pk]))

    progress_url = reverse("admin:annotate_study_progress", args=[study.pk])
    assert f'href="{progress_url}"' in changelist.text
    assert f'href="{progress_url}"' in change.text
