"""Instructions before the first task, the progress shown on the task page, and paused studies on the home page."""

import re
import uuid

import pytest
from django.urls import reverse

from annotate.assignment import items_left_in_study, next_assignment, submit_judgment
from annotate.items import open_study
from annotate.models import StudyStatus
from tests.factories import make_run, make_study, make_user

pytestmark = pytest.mark.django_db


def _instructions_url(study):
    return reverse("annotate:instructions", kwargs={"study_uuid": study.uuid})


def _next_url(study):
    return reverse("annotate:next_task", kwargs={"study_uuid": study.uuid})


def _task_url(assignment):
    kwargs = {"study_uuid": assignment.item.study.uuid, "assignment_uuid": assignment.uuid}
    return reverse("annotate:task", kwargs=kwargs)


def _start_link(text):
    match = re.search(r'<a class="button primary" href="([^"]+)">(Start|Continue)</a>', text)
    assert match, "no Start or Continue link on the page"
    return match[1]


def test_home_start_leads_to_instructions(client, pairwise_study, annotator):
    client.force_login(annotator)

    assert _start_link(client.get(reverse("annotate:home")).text) == _instructions_url(pairwise_study)


def test_home_start_skips_instructions_once_begun(client, pairwise_study, annotator):
    next_assignment(pairwise_study, annotator)
    client.force_login(annotator)

    assert _start_link(client.get(reverse("annotate:home")).text) == _next_url(pairwise_study)


def test_home_start_without_instructions_goes_to_task(client, prompt_set, annotator):
    study = make_study([make_run(prompt_set), make_run(prompt_set)], annotators=[annotator], instructions="  ")
    open_study(study)
    client.force_login(annotator)

    assert _start_link(client.get(reverse("annotate:home")).text) == _next_url(study)


def test_instructions_page_renders_markdown(client, pairwise_study, annotator):
    pairwise_study.instructions = "Prefer the **correct** answer.\n\n<script>alert(1)</script>"
    pairwise_study.save()
    client.force_login(annotator)

    response = client.get(_instructions_url(pairwise_study))

    assert response.status_code == 200
    assert "Prefer the <strong>correct</strong> answer." in response.text
    assert "<script>alert(1)" not in response.text
    assert _start_link(response.text) == _next_url(pairwise_study)
    # Reading the instructions leases nothing.
    assert not pairwise_study.items.filter(assignments__annotator=annotator).exists()


def test_instructions_page_of_paused_study(client, pairwise_study, annotator):
    pairwise_study.status = StudyStatus.PAUSED
    pairwise_study.save()
    client.force_login(annotator)

    response = client.get(_instructions_url(pairwise_study))

    assert response.status_code == 200
    assert "This study is not open for new tasks right now." in response.text
    assert _next_url(pairwise_study) not in response.text


def test_instructions_outsider_is_404(client, pairwise_study):
    client.force_login(make_user())

    assert client.get(_instructions_url(pairwise_study)).status_code == 404


def test_instructions_unknown_study_is_404(client, annotator):
    client.force_login(annotator)

    url = reverse("annotate:instructions", kwargs={"study_uuid": uuid.uuid4()})
    assert client.get(url).status_code == 404


def test_instructions_anonymous_redirects_to_login(client, pairwise_study):
    response = client.get(_instructions_url(pairwise_study))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_instructions_post_not_allowed(client, pairwise_study, annotator):
    client.force_login(annotator)

    assert client.post(_instructions_url(pairwise_study)).status_code == 405


def test_task_page_instructions_on_demand(client, pairwise_study, annotator):
    client.force_login(annotator)
    first = next_assignment(pairwise_study, annotator)
    submit_judgment(first, {"helpfulness": "A", "accuracy": "A"})
    second = next_assignment(pairwise_study, annotator)

    text = client.get(_task_url(second)).text

    # Collapsed after the first judgment, with the key that opens it listed.
    assert '<details class="instructions" id="instructions">' in text
    assert pairwise_study.instructions in text
    assert re.search(r"<dt><kbd>I</kbd></dt><dd>Show or hide the instructions</dd>", text)


def test_task_page_shows_items_left_in_study(client, pairwise_study, annotator):
    pairwise_study.overlap = 1
    pairwise_study.save()
    submit_judgment(next_assignment(pairwise_study, make_user()), {"helpfulness": "A", "accuracy": "A"})
    client.force_login(annotator)

    text = client.get(_task_url(next_assignment(pairwise_study, annotator))).text

    assert "0 of 8 done" in text
    assert "8 items left in the study" in text


def test_items_left_in_study_counts_overlap(pairwise_study):
    assert items_left_in_study(pairwise_study) == 9
    pairwise_study.overlap = 1
    pairwise_study.save()
    assignment = next_assignment(pairwise_study, make_user())

    submit_judgment(assignment, {"helpfulness": "A", "accuracy": "A"})

    assert items_left_in_study(pairwise_study) == 8


def test_items_left_in_study_leaves_out_gold(pairwise_study):
    pairwise_study.items.filter(pk=pairwise_study.items.first().pk).update(is_gold=True)

    assert items_left_in_study(pairwise_study) == 8


def test_home_lists_paused_study_without_start(client, pairwise_study, annotator, prompt_set):
    closed = make_study([make_run(prompt_set), make_run(prompt_set)], annotators=[annotator])
    closed.status = StudyStatus.CLOSED
    closed.save()
    pairwise_study.status = StudyStatus.PAUSED
    pairwise_study.save()
    client.force_login(annotator)

    text = client.get(reverse("annotate:home")).text

    assert pairwise_study.name in text
    assert "Paused by the study manager: no new tasks for now." in text
    assert _next_url(pairwise_study) not in text
    assert _instructions_url(pairwise_study) not in text
    assert closed.name not in text
