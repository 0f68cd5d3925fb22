"""Content warnings: the step before a task whose prompt category has one, and their admin."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from annotate.assignment import next_assignment
from annotate.content_warnings import content_warning_for
from annotate.models import AssignmentStatus, ContentWarning, SkipReason
from tests.factories import make_prompt_set, make_user

pytestmark = pytest.mark.django_db

WARNING_TEXT = "Prompts here describe <b>violence</b>.\nRead on only if you are comfortable."


def _task_url(assignment):
    kwargs = {"study_uuid": assignment.item.study.uuid, "assignment_uuid": assignment.uuid}
    return reverse("annotate:task", kwargs=kwargs)


def _submit_url(assignment):
    kwargs = {"study_uuid": assignment.item.study.uuid, "assignment_uuid": assignment.uuid}
    return reverse("annotate:submit", kwargs=kwargs)


def _skip_url(assignment):
    kwargs = {"study_uuid": assignment.item.study.uuid, "assignment_uuid": assignment.uuid}
    return reverse("annotate:skip", kwargs=kwargs)


@pytest.fixture
def warned_assignment(pairwise_study, annotator):
    """A lease on an item whose prompt's category carries a content warning, with distinctive prompt and answers."""
    assignment = next_assignment(pairwise_study, annotator)
    item = assignment.item
    item.prompt.text = "Distinctive prompt text"
    item.prompt.save()
    for response in item.responses():
        response.text = "Distinctive answer text"
        response.save()
    ContentWarning.objects.create(
        prompt_set=pairwise_study.prompt_set, category=item.prompt.category, text=WARNING_TEXT
    )
    return assignment


def test_warning_found_by_category(warned_assignment):
    warning = content_warning_for(warned_assignment.item)

    assert warning is not None
    assert warning.text == WARNING_TEXT


def test_no_warning_without_category(warned_assignment):
    prompt = warned_assignment.item.prompt
    prompt.category = ""
    prompt.save()

    assert content_warning_for(warned_assignment.item) is None


def test_warning_of_other_category_not_shown(client, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)
    other = "knowledge" if assignment.item.prompt.category == "writing" else "writing"
    ContentWarning.objects.create(prompt_set=pairwise_study.prompt_set, category=other, text="Not this one.")
    client.force_login(annotator)

    text = client.get(_task_url(assignment)).text

    assert 'id="judgment-form"' in text
    assert "Not this one." not in text


def test_warning_page_before_content(client, warned_assignment, annotator):
    client.force_login(annotator)

    response = client.get(_task_url(warned_assignment))

    assert response.status_code == 200
    text = response.text
    assert "Content warning" in text
    # Plain text: the markup is escaped and line breaks are kept.
    assert "Prompts here describe &lt;b&gt;violence&lt;/b&gt;.<br>Read on only if you are comfortable." in text
    assert "<b>violence</b>" not in text
    assert "Distinctive prompt text" not in text
    assert "Distinctive answer text" not in text
    assert 'id="judgment-form"' not in text
    assert f'href="{_task_url(warned_assignment)}?show=1"' in text
    assert f'action="{_skip_url(warned_assignment)}"' in text
    assert re.search(r'value="uncomfortable"[^>]*checked', text)


def test_show_the_task_renders_content(client, warned_assignment, annotator):
    client.force_login(annotator)

    text = client.get(_task_url(warned_assignment) + "?show=1").text

    assert "Distinctive prompt text" in text
    assert "Distinctive answer text" in text
    assert 'id="judgment-form"' in text
    assert "Prompts here describe &lt;b&gt;violence&lt;/b&gt;." in text
    assert f'value="{_task_url(warned_assignment)}?show=1"' in text


def test_failed_submit_keeps_content_shown(client, warned_assignment, annotator):
    client.force_login(annotator)

    response = client.post(_submit_url(warned_assignment), {})

    assert response.status_code == 200
    assert "Distinctive prompt text" in response.text
    assert "Your judgment was not saved yet" in response.text


def test_skip_from_warning_as_uncomfortable(client, warned_assignment, annotator):
    client.force_login(annotator)

    response = client.post(_skip_url(warned_assignment), {"skip-reason": SkipReason.UNCOMFORTABLE})

    assert response.status_code == 302
    warned_assignment.refresh_from_db()
    assert warned_assignment.status == AssignmentStatus.SKIPPED
    assert warned_assignment.skip_reason == SkipReason.UNCOMFORTABLE


def test_warning_of_other_prompt_set_ignored(client, warned_assignment, annotator):
    elsewhere = make_prompt_set()
    ContentWarning.objects.filter(prompt_set=warned_assignment.item.prompt.prompt_set).update(prompt_set=elsewhere)
    client.force_login(annotator)

    assert 'id="judgment-form"' in client.get(_task_url(warned_assignment)).text


# Admin


@pytest.fixture
def root_client(client):
    root = get_user_model().objects.create_superuser("root", password="pw-for-tests")
    client.force_login(root)
    return client


def test_admin_adds_warning(root_client, prompt_set):
    response = root_client.post(
        reverse("admin:annotate_contentwarning_add"),
        {"prompt_set": prompt_set.pk, "category": "writing", "text": "Graphic descriptions."},
    )

    assert response.status_code == 302
    warning = ContentWarning.objects.get()
    assert (warning.category, warning.text) == ("writing", "Graphic descriptions.")


def test_admin_unknown_category_rejected(root_client, prompt_set):
    response = root_client.post(
        reverse("admin:annotate_contentwarning_add"),
        {"prompt_set": prompt_set.pk, "category": "Writing", "text": "Graphic descriptions."},
    )

    assert response.status_code == 200
    assert f"No prompt in “{prompt_set.name}” has the category “Writing”" in response.text
    assert "Its categories are: knowledge, writing." in response.text
    assert not ContentWarning.objects.exists()


def test_admin_warning_list(root_client, prompt_set):
    ContentWarning.objects.create(prompt_set=prompt_set, category="writing", text="Graphic descriptions.")

    response = root_client.get(reverse("admin:annotate_contentwarning_changelist"))

    assert response.status_code == 200
    assert "Graphic descriptions." in response.text


def test_admin_warning_needs_staff(client, prompt_set):
    client.force_login(make_user())

    response = client.get(reverse("admin:annotate_contentwarning_changelist"))

    assert response.status_code == 302
