"""Changing the last judgment: the service in annotate/revision.py and its views."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotate import gold
from annotate.assignment import next_assignment, submit_judgment
from annotate.errors import InvalidAnswer, RevisionRejected
from annotate.models import Assignment, Judgment, Outcome, StudyStatus
from annotate.revision import last_judgment, revise_judgment, screen_answers
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _revise_url(judgment):
    kwargs = {"study_uuid": judgment.item.study.uuid, "judgment_uuid": judgment.uuid}
    return reverse("annotate:revise", kwargs=kwargs)


def _submit_revision_url(judgment):
    kwargs = {"study_uuid": judgment.item.study.uuid, "judgment_uuid": judgment.uuid}
    return reverse("annotate:submit_revision", kwargs=kwargs)


def _task_url(assignment):
    kwargs = {"study_uuid": assignment.item.study.uuid, "assignment_uuid": assignment.uuid}
    return reverse("annotate:task", kwargs=kwargs)


def _next_url(study):
    return reverse("annotate:next_task", kwargs={"study_uuid": study.uuid})


def _field(study, name):
    return f"criterion-{study.criteria.get(name=name).uuid.hex}"


def _judge(study, annotator, choices, first_on_left=True, **kwargs):
    """Lease the next item with the given screen order and submit `choices`; return the judgment."""
    assignment = next_assignment(study, annotator)
    Assignment.objects.filter(pk=assignment.pk).update(first_on_left=first_on_left)
    assignment.refresh_from_db()
    return submit_judgment(assignment, choices, **kwargs)


def _winners(judgment):
    return {answer.criterion.name: answer.winner_id for answer in judgment.answers.select_related("criterion")}


# The service


@pytest.mark.parametrize("first_on_left", [True, False])
def test_screen_answers_in_order_seen(pairwise_study, annotator, first_on_left):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "tie"}, first_on_left)

    assert screen_answers(judgment) == {"helpfulness": "A", "accuracy": "tie"}


@pytest.mark.parametrize("first_on_left", [True, False])
def test_revise_stores_new_winner(pairwise_study, annotator, first_on_left):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"}, first_on_left)
    shown = judgment.assignment.shown_responses()

    revise_judgment(judgment, {"helpfulness": "B", "accuracy": "both_bad"}, rationale=" B is right. ")

    judgment.refresh_from_db()
    answers = {answer.criterion.name: answer for answer in judgment.answers.select_related("criterion")}
    assert answers["helpfulness"].outcome == Outcome.WIN
    assert answers["helpfulness"].winner_id == shown[1].pk
    assert answers["accuracy"].outcome == Outcome.BOTH_BAD
    assert answers["accuracy"].winner_id is None
    assert judgment.rationale == "B is right."
    assert judgment.first_on_left is first_on_left
    assert judgment.answers.count() == 2


def test_revise_sets_revised_at_and_adds_time(pairwise_study, annotator):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"}, time_on_task=10.0)
    assert judgment.revised_at is None
    when = timezone.now() + timedelta(minutes=1)

    revise_judgment(judgment, {"helpfulness": "B", "accuracy": "A"}, time_on_task="4.5", now=when)

    judgment.refresh_from_db()
    assert judgment.revised_at == when
    assert judgment.time_on_task_seconds == 14.5


def test_revise_unusable_time_keeps_stored_time(pairwise_study, annotator):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"}, time_on_task=10.0)

    revise_judgment(judgment, {"helpfulness": "B", "accuracy": "A"}, time_on_task="-3")

    judgment.refresh_from_db()
    assert judgment.time_on_task_seconds == 10.0


def test_revise_keeps_surplus(pairwise_study, annotator):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    Judgment.objects.filter(pk=judgment.pk).update(is_surplus=True)

    revise_judgment(judgment, {"helpfulness": "tie", "accuracy": "tie"})

    judgment.refresh_from_db()
    assert judgment.is_surplus is True


def test_revise_not_last_rejected(pairwise_study, annotator):
    earlier = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    _judge(pairwise_study, annotator, {"helpfulness": "B", "accuracy": "B"})
    before = _winners(earlier)

    with pytest.raises(RevisionRejected, match="Only your last answer"):
        revise_judgment(earlier, {"helpfulness": "tie", "accuracy": "tie"})

    earlier.refresh_from_db()
    assert earlier.revised_at is None
    assert _winners(earlier) == before


@pytest.mark.parametrize("status", [StudyStatus.PAUSED, StudyStatus.CLOSED])
def test_revise_study_not_open_rejected(pairwise_study, annotator, status):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    before = _winners(judgment)
    pairwise_study.status = status
    pairwise_study.save()

    with pytest.raises(RevisionRejected, match="not open any more"):
        revise_judgment(judgment, {"helpfulness": "B", "accuracy": "B"})

    judgment.refresh_from_db()
    assert judgment.revised_at is None
    assert _winners(judgment) == before


def test_revise_invalid_answer_changes_nothing(pairwise_study, annotator):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"}, rationale="first")
    before = _winners(judgment)

    with pytest.raises(InvalidAnswer, match="accuracy"):
        revise_judgment(judgment, {"helpfulness": "B"}, rationale="second")

    judgment.refresh_from_db()
    assert judgment.rationale == "first"
    assert _winners(judgment) == before


def test_revise_rating_score(rating_study, annotator):
    assignment = next_assignment(rating_study, annotator)
    judgment = submit_judgment(assignment, {"fluency": 2})

    revise_judgment(judgment, {"fluency": 5})

    assert judgment.answers.get().score == 5
    assert screen_answers(judgment) == {"fluency": 5}


def test_revise_leaves_current_lease(pairwise_study, annotator):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    current = next_assignment(pairwise_study, annotator)

    revise_judgment(judgment, {"helpfulness": "B", "accuracy": "B"})

    assert next_assignment(pairwise_study, annotator) == current
    current.refresh_from_db()
    assert current.status == "leased"


def test_last_judgment_is_most_recent(pairwise_study, annotator):
    assert last_judgment(pairwise_study, annotator) is None
    _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    second = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})

    assert last_judgment(pairwise_study, annotator) == second
    assert last_judgment(pairwise_study, make_user()) is None


# The views


def test_next_task_page_links_last_answer(client, pairwise_study, annotator):
    client.force_login(annotator)
    first_page = client.get(client.get(_next_url(pairwise_study)).url)
    assert "Change my last answer" not in first_page.text

    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    page = client.get(client.get(_next_url(pairwise_study)).url)

    assert f'href="{_revise_url(judgment)}"' in page.text
    assert re.search(r"<dt><kbd>Z</kbd></dt><dd>Change my last answer</dd>", page.text)


def test_done_page_links_last_answer(client, pairwise_study, annotator):
    pairwise_study.overlap = 1
    pairwise_study.save()
    client.force_login(annotator)
    judgment = None
    for _ in range(pairwise_study.items.count()):
        judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})

    page = client.get(_next_url(pairwise_study))

    assert "Nothing left, thank you!" in page.text
    assert f'href="{_revise_url(judgment)}"' in page.text


@pytest.mark.parametrize("first_on_left", [True, False])
def test_revise_page_prefilled_in_same_order(client, pairwise_study, annotator, first_on_left):
    assignment = next_assignment(pairwise_study, annotator)
    Assignment.objects.filter(pk=assignment.pk).update(first_on_left=first_on_left)
    item = assignment.item
    item.first_response.text = "First canonical answer text"
    item.first_response.save()
    item.second_response.text = "Second canonical answer text"
    item.second_response.save()
    assignment.refresh_from_db()
    judgment = submit_judgment(assignment, {"helpfulness": "A", "accuracy": "tie"}, rationale="A reads better.")
    client.force_login(annotator)

    response = client.get(_revise_url(judgment))

    assert response.status_code == 200
    text = response.text
    first_at = text.index("First canonical answer text")
    second_at = text.index("Second canonical answer text")
    assert (first_at < second_at) is first_on_left
    assert re.search(rf'name="{_field(pairwise_study, "helpfulness")}" value="A"[^>]*checked', text)
    assert re.search(rf'name="{_field(pairwise_study, "accuracy")}" value="tie"[^>]*checked', text)
    assert "A reads better." in text
    assert f'action="{_submit_revision_url(judgment)}"' in text
    assert "Save my changed answer" in text
    assert "Skip this task" not in text


def test_revise_post_updates_and_returns_to_lease(client, pairwise_study, annotator):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    current = next_assignment(pairwise_study, annotator)
    shown = judgment.assignment.shown_responses()
    client.force_login(annotator)
    data = {
        _field(pairwise_study, "helpfulness"): "B",
        _field(pairwise_study, "accuracy"): "B",
        "rationale": "Changed my mind.",
        "time_on_task": "3",
    }

    response = client.post(_submit_revision_url(judgment), data)

    assert response.status_code == 302
    assert response.url == _next_url(pairwise_study)
    assert client.get(response.url).url == _task_url(current)
    judgment.refresh_from_db()
    assert judgment.revised_at is not None
    assert judgment.rationale == "Changed my mind."
    assert set(_winners(judgment).values()) == {shown[1].pk}
    assert Judgment.objects.filter(annotator=annotator).count() == 1


def test_revise_post_missing_answer_rerenders(client, pairwise_study, annotator):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    before = _winners(judgment)
    client.force_login(annotator)

    response = client.post(_submit_revision_url(judgment), {_field(pairwise_study, "helpfulness"): "B"})

    assert response.status_code == 200
    assert "Please answer: Which answer is better for accuracy?" in response.text
    assert f'action="{_submit_revision_url(judgment)}"' in response.text
    judgment.refresh_from_db()
    assert judgment.revised_at is None
    assert _winners(judgment) == before


def test_revise_not_last_refused_with_message(client, pairwise_study, annotator):
    earlier = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    client.force_login(annotator)
    data = {_field(pairwise_study, "helpfulness"): "B", _field(pairwise_study, "accuracy"): "B"}

    page = client.get(_revise_url(earlier), follow=True)
    post = client.post(_submit_revision_url(earlier), data, follow=True)

    for response in (page, post):
        assert "Only your last answer in a study can be changed, and this is not it." in response.text
        assert response.redirect_chain[0][0] == _next_url(pairwise_study)
    earlier.refresh_from_db()
    assert earlier.revised_at is None


def test_revise_closed_study_refused_with_message(client, pairwise_study, annotator):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    pairwise_study.status = StudyStatus.CLOSED
    pairwise_study.save()
    client.force_login(annotator)
    data = {_field(pairwise_study, "helpfulness"): "B", _field(pairwise_study, "accuracy"): "B"}

    page = client.get(_revise_url(judgment), follow=True)
    post = client.post(_submit_revision_url(judgment), data, follow=True)

    for response in (page, post):
        assert "This study is not open any more, so its answers can no longer be changed." in response.text
        assert response.redirect_chain[0][0] == reverse("annotate:home")
    judgment.refresh_from_db()
    assert judgment.revised_at is None


def test_revise_of_other_annotator_is_404(client, pairwise_study, annotator):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    colleague = make_user()
    pairwise_study.annotators.add(colleague)
    client.force_login(colleague)
    data = {_field(pairwise_study, "helpfulness"): "B", _field(pairwise_study, "accuracy"): "B"}

    assert client.get(_revise_url(judgment)).status_code == 404
    assert client.post(_submit_revision_url(judgment), data).status_code == 404
    judgment.refresh_from_db()
    assert judgment.revised_at is None


def test_revise_under_wrong_study_is_404(client, pairwise_study, rating_study, annotator):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    client.force_login(annotator)
    url = reverse("annotate:revise", kwargs={"study_uuid": rating_study.uuid, "judgment_uuid": judgment.uuid})

    assert client.get(url).status_code == 404


def test_revise_anonymous_redirects_to_login(client, pairwise_study, annotator):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})

    response = client.get(_revise_url(judgment))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_revise_wrong_methods_not_allowed(client, pairwise_study, annotator):
    judgment = _judge(pairwise_study, annotator, {"helpfulness": "A", "accuracy": "A"})
    client.force_login(annotator)

    assert client.post(_revise_url(judgment)).status_code == 405
    assert client.get(_submit_revision_url(judgment)).status_code == 405


# Gold items


def _lease_item(item, annotator, first_on_left):
    now = timezone.now()
    return Assignment.objects.create(
        item=item,
        annotator=annotator,
        first_on_left=first_on_left,
        leased_at=now,
        expires_at=now + timedelta(minutes=30),
    )


@pytest.mark.parametrize("first_on_left", [True, False])
def test_revise_gold_item_rescored(pairwise_study, annotator, first_on_left):
    item = pairwise_study.items.first()
    gold.mark_gold(item, outcome=Outcome.WIN, winner=item.first_response)
    # The first criterion is the scored one; "A" names the first response when it is on the left.
    right, wrong = ("A", "B") if first_on_left else ("B", "A")
    judgment = submit_judgment(_lease_item(item, annotator, first_on_left), {"helpfulness": wrong, "accuracy": "tie"})
    assert judgment.gold_correct is False

    revise_judgment(judgment, {"helpfulness": right, "accuracy": "tie"})

    judgment.refresh_from_db()
    assert judgment.gold_correct is True
    assert judgment.is_surplus is False


@pytest.mark.parametrize("first_on_left", [True, False])
def test_revise_attention_check_round_trip(pairwise_study, annotator, first_on_left):
    prompt = pairwise_study.prompt_set.prompts.first()
    item = gold.create_attention_check(
        pairwise_study, prompt, "Bananas are a kind of spaceship.", system=pairwise_study.systems.first()
    )
    planted = "B" if first_on_left else "A"
    judgment = submit_judgment(
        _lease_item(item, annotator, first_on_left), {"helpfulness": planted, "accuracy": planted}
    )
    assert judgment.gold_correct is False
    assert screen_answers(judgment) == {"helpfulness": planted, "accuracy": planted}

    real = "A" if first_on_left else "B"
    revise_judgment(judgment, {"helpfulness": real, "accuracy": planted})

    judgment.refresh_from_db()
    assert judgment.gold_correct is True
    assert screen_answers(judgment) == {"helpfulness": real, "accuracy": planted}
    outcomes = {answer.criterion.name: answer.outcome for answer in judgment.answers.select_related("criterion")}
    assert outcomes == {"helpfulness": Outcome.WIN, "accuracy": Outcome.ATTENTION_TEXT}
