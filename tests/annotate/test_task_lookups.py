"""The hand-written lookups on the annotator's path return what the policy's ORM queries return.

annotate.access reads the study and the assignment in SQL of its own when
the policy grants the usual annotator scope, apart or in one query with the
item's responses and content warning; humeval.sessions and
humeval.auth_backends read the session and the user in SQL too. These tests
compare them with the ORM path and check that every refusal still holds.
"""

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.http import Http404
from django.urls import reverse

from annotate import access, lease_sql
from annotate.assignment import next_assignment
from annotate.models import ContentWarning, Criterion, Study
from generation.models import Prompt
from humeval.policy import Action
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = pytest.mark.django_db


def _policy_assignment(user, study, assignment_uuid):
    """Fetch through the policy's ORM path, as annotate.access does for scopes it has no SQL for."""
    assignments = access.assignments_for(user, Action.ANNOTATE).select_related(
        "item__prompt", "item__first_response", "item__second_response"
    )
    return assignments.get(item__study=study, uuid=assignment_uuid)


def test_study_lookup_matches_policy(pairwise_study, annotator):
    fast = access.get_study_for_annotator(annotator, pairwise_study.uuid)
    policy = access.get_study_for(annotator, pairwise_study.uuid, Action.ANNOTATE)

    assert fast == policy
    for field in pairwise_study._meta.concrete_fields:
        assert getattr(fast, field.attname) == getattr(policy, field.attname), field.name


def test_study_lookup_refuses_non_member(pairwise_study):
    outsider = make_user()

    with pytest.raises(Http404):
        access.get_study_for_annotator(outsider, pairwise_study.uuid)


def test_study_lookup_refuses_unknown_uuid(annotator):
    with pytest.raises(Http404):
        access.get_study_for_annotator(annotator, uuid.uuid4())


def test_assignment_lookup_matches_policy(pairwise_study, annotator):
    leased = next_assignment(pairwise_study, annotator)
    leased.item.prompt.follow_up_turns = ["And in one word?"]
    leased.item.prompt.save(update_fields=["follow_up_turns"])

    fast = access.get_assignment_for_annotator(annotator, pairwise_study, leased.uuid)
    policy = _policy_assignment(annotator, pairwise_study, leased.uuid)

    for model_field in fast._meta.concrete_fields:
        assert getattr(fast, model_field.attname) == getattr(policy, model_field.attname), model_field.name
    for model_field in fast.item._meta.concrete_fields:
        assert getattr(fast.item, model_field.attname) == getattr(policy.item, model_field.attname), model_field.name
    for model_field in Prompt._meta.concrete_fields:
        expected = getattr(policy.item.prompt, model_field.attname)
        assert getattr(fast.item.prompt, model_field.attname) == expected, model_field.name
    assert fast.item.prompt.follow_up_turns == ["And in one word?"]
    assert fast.item.first_response == policy.item.first_response
    assert fast.item.second_response == policy.item.second_response
    assert fast.item.first_response.text == policy.item.first_response.text
    assert fast.item.study is pairwise_study
    assert fast.shown_answers() == policy.shown_answers()


def test_assignment_lookup_refuses_other_annotator(pairwise_study, annotator):
    other = make_user()
    pairwise_study.annotators.add(other)
    theirs = next_assignment(pairwise_study, other)

    with pytest.raises(Http404):
        access.get_assignment_for_annotator(annotator, pairwise_study, theirs.uuid)


def test_assignment_lookup_refuses_former_member(pairwise_study, annotator):
    leased = next_assignment(pairwise_study, annotator)
    pairwise_study.annotators.remove(annotator)

    with pytest.raises(Http404):
        access.get_assignment_for_annotator(annotator, pairwise_study, leased.uuid)


def test_assignment_lookup_refuses_other_study(pairwise_study, annotator):
    leased = next_assignment(pairwise_study, annotator)
    prompt_set = make_prompt_set()
    other_study = make_study([make_run(prompt_set), make_run(prompt_set)], annotators=[annotator])

    with pytest.raises(Http404):
        access.get_assignment_for_annotator(annotator, other_study, leased.uuid)


def test_study_criteria_in_position_order(pairwise_study):
    Criterion.objects.filter(study=pairwise_study, name="helpfulness").update(position=5)

    names = [criterion.name for criterion in lease_sql.study_criteria(pairwise_study)]

    assert names == ["accuracy", "helpfulness"]


def test_logged_out_session_refused(client, pairwise_study, annotator):
    client.force_login(annotator)
    home = reverse("annotate:home")
    assert client.get(home).status_code == 200

    client.post(reverse("logout"))

    response = client.get(home)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_deactivated_user_session_refused(client, pairwise_study, annotator):
    client.force_login(annotator)
    next_url = reverse("annotate:next_task", kwargs={"study_uuid": pairwise_study.uuid})
    assert "/tasks/" in client.get(next_url)["Location"]

    get_user_model().objects.filter(pk=annotator.pk).update(is_active=False)

    response = client.get(next_url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def _separate_lookups(user, study_uuid, assignment_uuid):
    study = access.get_study_for_annotator(user, study_uuid)
    return study, access.get_assignment_for_annotator(user, study, assignment_uuid)


@pytest.mark.parametrize("kind", ["pairwise", "rating"])
def test_task_lookup_matches_separate_lookups(kind, pairwise_study, rating_study, annotator):
    study = pairwise_study if kind == "pairwise" else rating_study
    leased = next_assignment(study, annotator)

    found = access.get_task_for_annotator(annotator, study.uuid, leased.uuid)
    study_alone, assignment_alone = _separate_lookups(annotator, study.uuid, leased.uuid)

    for model_field in Study._meta.concrete_fields:
        assert getattr(found.study, model_field.attname) == getattr(study_alone, model_field.attname), model_field.name
    for model_field in found.assignment._meta.concrete_fields:
        expected = getattr(assignment_alone, model_field.attname)
        assert getattr(found.assignment, model_field.attname) == expected, model_field.name
    for model_field in Prompt._meta.concrete_fields:
        expected = getattr(assignment_alone.item.prompt, model_field.attname)
        assert getattr(found.assignment.item.prompt, model_field.attname) == expected, model_field.name
    assert found.assignment.item.study is found.study
    assert found.assignment.item.first_response == assignment_alone.item.first_response
    assert found.assignment.item.second_response == assignment_alone.item.second_response
    assert found.assignment.shown_answers() == assignment_alone.shown_answers()
    assert found.warning is None


def test_task_lookup_reads_content_warning(pairwise_study, annotator):
    leased = next_assignment(pairwise_study, annotator)
    prompt = leased.item.prompt
    prompt.category = "violence"
    prompt.save(update_fields=["category"])
    warning = ContentWarning.objects.create(prompt_set=prompt.prompt_set, category="violence", text="Fights.")
    ContentWarning.objects.create(prompt_set=prompt.prompt_set, category="other", text="Not this one.")

    found = access.get_task_for_annotator(annotator, pairwise_study.uuid, leased.uuid)

    assert found.warning == warning
    assert found.warning.text == "Fights."


def test_task_lookup_ignores_warning_of_empty_category(pairwise_study, annotator):
    leased = next_assignment(pairwise_study, annotator)
    prompt = leased.item.prompt
    prompt.category = ""
    prompt.save(update_fields=["category"])
    ContentWarning.objects.create(prompt_set=prompt.prompt_set, category="", text="Never shown.")

    found = access.get_task_for_annotator(annotator, pairwise_study.uuid, leased.uuid)

    assert found.warning is None


def test_task_lookup_refuses_other_annotator(pairwise_study, annotator):
    other = make_user()
    pairwise_study.annotators.add(other)
    theirs = next_assignment(pairwise_study, other)

    with pytest.raises(Http404):
        access.get_task_for_annotator(annotator, pairwise_study.uuid, theirs.uuid)


def test_task_lookup_refuses_former_member(pairwise_study, annotator):
    leased = next_assignment(pairwise_study, annotator)
    pairwise_study.annotators.remove(annotator)

    with pytest.raises(Http404):
        access.get_task_for_annotator(annotator, pairwise_study.uuid, leased.uuid)


def test_task_lookup_refuses_other_study(pairwise_study, annotator):
    leased = next_assignment(pairwise_study, annotator)
    prompt_set = make_prompt_set()
    other_study = make_study([make_run(prompt_set), make_run(prompt_set)], annotators=[annotator])

    with pytest.raises(Http404):
        access.get_task_for_annotator(annotator, other_study.uuid, leased.uuid)


def test_task_lookup_refuses_unknown_study(pairwise_study, annotator):
    leased = next_assignment(pairwise_study, annotator)

    with pytest.raises(Http404):
        access.get_task_for_annotator(annotator, uuid.uuid4(), leased.uuid)
