import re
import uuid

import pytest
from django.urls import reverse

from annotate.assignment import next_assignment
from annotate.models import Assignment, AssignmentStatus, Judgment, StudyStatus
from tests.factories import make_run, make_study, make_user

pytestmark = pytest.mark.django_db


def _next_url(study):
    return reverse("annotate:next_task", kwargs={"study_uuid": study.uuid})


def _task_url(assignment):
    kwargs = {"study_uuid": assignment.item.study.uuid, "assignment_uuid": assignment.uuid}
    return reverse("annotate:task", kwargs=kwargs)


def _submit_url(assignment):
    kwargs = {"study_uuid": assignment.item.study.uuid, "assignment_uuid": assignment.uuid}
    return reverse("annotate:submit", kwargs=kwargs)


def _field(criterion):
    return f"criterion-{criterion.uuid.hex}"


def _pairwise_post(study, choice="B", **extra):
    data = {_field(criterion): choice for criterion in study.criteria.all()}
    data.update(extra)
    return data


@pytest.fixture
def client_as(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def outsider(prompt_set):
    """An annotator of another study on the same prompt set."""
    person = make_user()
    other = make_study([make_run(prompt_set), make_run(prompt_set)], annotators=[person])
    other.status = StudyStatus.OPEN
    other.save()
    return person


# Home


def test_home_lists_open_studies_with_progress(client_as, pairwise_study, annotator, prompt_set):
    draft = make_study([make_run(prompt_set), make_run(prompt_set)], annotators=[annotator])

    response = client_as(annotator).get(reverse("annotate:home"))

    assert response.status_code == 200
    assert pairwise_study.name in response.text
    assert draft.name not in response.text
    assert "0 done, 9 tasks left for you" in response.text
    # The study has instructions and the annotator has not begun, so Start leads to them first.
    assert reverse("annotate:instructions", kwargs={"study_uuid": pairwise_study.uuid}) in response.text


def test_home_hides_studies_of_others(client_as, pairwise_study, outsider):
    response = client_as(outsider).get(reverse("annotate:home"))

    assert response.status_code == 200
    assert pairwise_study.name not in response.text


def test_home_anonymous_redirects_to_login(client):
    response = client.get(reverse("annotate:home"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_home_post_not_allowed(client_as, annotator):
    assert client_as(annotator).post(reverse("annotate:home")).status_code == 405


# Next task


def test_next_redirects_to_leased_task(client_as, pairwise_study, annotator):
    response = client_as(annotator).get(_next_url(pairwise_study))

    assignment = Assignment.objects.get(annotator=annotator)
    assert response.status_code == 302
    assert response.url == _task_url(assignment)


def test_next_shows_done_page_when_nothing_left(client_as, pairwise_study, annotator):
    pairwise_study.overlap = 1
    pairwise_study.save()
    for _ in range(9):
        next_assignment(pairwise_study, make_user())

    response = client_as(annotator).get(_next_url(pairwise_study))

    assert response.status_code == 200
    assert "Nothing left, thank you!" in response.text
    assert not Assignment.objects.filter(annotator=annotator).exists()


@pytest.mark.parametrize(
    ("status", "code", "heading"),
    [
        (StudyStatus.PAUSED, 200, "This study is paused"),
        (StudyStatus.CLOSED, 404, "This study is closed"),
        (StudyStatus.DRAFT, 404, "This study has not opened yet"),
    ],
)
def test_next_study_not_open_shows_page(client_as, pairwise_study, annotator, status, code, heading):
    pairwise_study.status = status
    pairwise_study.save()

    response = client_as(annotator).get(_next_url(pairwise_study))

    assert response.status_code == code
    assert heading in response.text
    assert not Assignment.objects.filter(annotator=annotator).exists()


def test_next_outsider_is_404(client_as, pairwise_study, outsider):
    response = client_as(outsider).get(_next_url(pairwise_study))

    assert response.status_code == 404
    assert not Assignment.objects.exists()


def test_next_site_admin_not_annotator_is_404(client_as, pairwise_study):
    admin = make_user(superuser=True)

    assert client_as(admin).get(_next_url(pairwise_study)).status_code == 404


def test_next_unknown_study_is_404(client_as, annotator):
    response = client_as(annotator).get(reverse("annotate:next_task", kwargs={"study_uuid": uuid.uuid4()}))

    assert response.status_code == 404


def test_next_anonymous_redirects_to_login(client, pairwise_study):
    response = client.get(_next_url(pairwise_study))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_next_post_not_allowed(client_as, pairwise_study, annotator):
    assert client_as(annotator).post(_next_url(pairwise_study)).status_code == 405


# Task page


def test_task_page_shows_pairwise_form(client_as, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)

    response = client_as(annotator).get(_task_url(assignment))

    assert response.status_code == 200
    text = response.text
    assert text.index("Answer A") < text.index("Answer B")
    assert text.count("A is better") >= 2  # one per criterion, plus the shortcut list
    assert "Both are bad" in text
    assert 'name="time_on_task"' in text
    assert "0 of 9 done" in text
    assert "<progress" in text
    assert pairwise_study.instructions in text
    assert "js/task.js" in text
    assert _submit_url(assignment) in text


def test_task_page_shows_answers_in_screen_order(client_as, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)
    item = assignment.item
    item.first_response.text = "First canonical answer text"
    item.first_response.save()
    item.second_response.text = "Second canonical answer text"
    item.second_response.save()

    for first_on_left in (True, False):
        Assignment.objects.filter(pk=assignment.pk).update(first_on_left=first_on_left)
        text = client_as(annotator).get(_task_url(assignment)).text
        first_at = text.index("First canonical answer text")
        second_at = text.index("Second canonical answer text")
        assert (first_at < second_at) is first_on_left


def test_task_page_shows_rating_scale(client_as, rating_study, annotator):
    assignment = next_assignment(rating_study, annotator)

    response = client_as(annotator).get(_task_url(assignment))

    assert response.status_code == 200
    assert "Poor" in response.text
    assert "Excellent" in response.text
    for score in range(1, 6):
        assert f'value="{score}"' in response.text
    assert "A is better" not in response.text


def test_task_page_has_no_inline_script(client_as, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)

    text = client_as(annotator).get(_task_url(assignment)).text

    assert "<script>" not in text
    assert " onclick=" not in text
    assert " onload=" not in text


def test_task_of_other_annotator_is_404(client_as, pairwise_study, annotator):
    colleague = make_user()
    pairwise_study.annotators.add(colleague)
    assignment = next_assignment(pairwise_study, annotator)

    assert client_as(colleague).get(_task_url(assignment)).status_code == 404
    assert client_as(colleague).post(_submit_url(assignment), _pairwise_post(pairwise_study)).status_code == 404
    assert not Judgment.objects.exists()


def test_task_outsider_is_404(client_as, pairwise_study, annotator, outsider):
    assignment = next_assignment(pairwise_study, annotator)

    assert client_as(outsider).get(_task_url(assignment)).status_code == 404


def test_task_under_wrong_study_is_404(client_as, pairwise_study, rating_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)
    url = reverse(
        "annotate:task",
        kwargs={"study_uuid": rating_study.uuid, "assignment_uuid": assignment.uuid},
    )

    assert client_as(annotator).get(url).status_code == 404


def test_task_unknown_assignment_is_404(client_as, pairwise_study, annotator):
    url = reverse("annotate:task", kwargs={"study_uuid": pairwise_study.uuid, "assignment_uuid": uuid.uuid4()})

    assert client_as(annotator).get(url).status_code == 404


def test_task_anonymous_redirects_to_login(client, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)

    response = client.get(_task_url(assignment))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_task_post_not_allowed(client_as, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)

    assert client_as(annotator).post(_task_url(assignment)).status_code == 405


def test_submitted_task_redirects_to_next(client_as, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)
    client = client_as(annotator)
    client.post(_submit_url(assignment), _pairwise_post(pairwise_study))

    response = client.get(_task_url(assignment))

    assert response.status_code == 302
    assert response.url == _next_url(pairwise_study)


# Submit


def test_submit_stores_judgment_and_redirects(client_as, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)

    response = client_as(annotator).post(
        _submit_url(assignment),
        _pairwise_post(pairwise_study, rationale="B is clearer.", time_on_task="12.5"),
    )

    assert response.status_code == 302
    following = Assignment.objects.get(annotator=annotator, status=AssignmentStatus.LEASED)
    assert response.url == _task_url(following)
    judgment = Judgment.objects.get(assignment=assignment)
    assert judgment.rationale == "B is clearer."
    assert judgment.time_on_task_seconds == 12.5
    assert judgment.answers.count() == 2
    assert all(answer.winner_id == assignment.shown_responses()[1].pk for answer in judgment.answers.all())


def test_submit_rating_stores_score(client_as, rating_study, annotator):
    assignment = next_assignment(rating_study, annotator)
    criterion = rating_study.criteria.get()

    response = client_as(annotator).post(_submit_url(assignment), {_field(criterion): "5"})

    assert response.status_code == 302
    assert Judgment.objects.get(assignment=assignment).answers.get().score == 5


def test_submit_garbled_time_falls_back(client_as, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)

    client_as(annotator).post(_submit_url(assignment), _pairwise_post(pairwise_study, time_on_task="soon"))

    judgment = Judgment.objects.get(assignment=assignment)
    assert judgment.time_on_task_seconds is not None
    assert judgment.time_on_task_seconds >= 0


def test_submit_missing_answer_rerenders_with_error(client_as, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)
    helpfulness = pairwise_study.criteria.get(name="helpfulness")

    response = client_as(annotator).post(_submit_url(assignment), {_field(helpfulness): "A"})

    assert response.status_code == 200
    assert "Please answer: Which answer is better for accuracy?" in response.text
    assert "Your judgment was not saved yet" in response.text
    # The choice already made stays selected.
    assert re.search(r'value="A"[^>]*checked', response.text)
    assert not Judgment.objects.exists()
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.LEASED


def test_submit_invalid_choice_rerenders(client_as, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)

    response = client_as(annotator).post(_submit_url(assignment), _pairwise_post(pairwise_study, choice="C"))

    assert response.status_code == 200
    assert not Judgment.objects.exists()


def test_submit_twice_stores_one_judgment(client_as, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)
    client = client_as(annotator)

    first = client.post(_submit_url(assignment), _pairwise_post(pairwise_study, choice="A"))
    second = client.post(_submit_url(assignment), _pairwise_post(pairwise_study, choice="B"))

    assert first.status_code == second.status_code == 302
    judgment = Judgment.objects.get(assignment=assignment)
    assert all(answer.winner_id == assignment.shown_responses()[0].pk for answer in judgment.answers.all())


def test_submit_in_paused_study_is_saved(client_as, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)
    pairwise_study.status = StudyStatus.PAUSED
    pairwise_study.save()

    response = client_as(annotator).post(_submit_url(assignment), _pairwise_post(pairwise_study))

    assert response.status_code == 302
    assert response.url == reverse("annotate:home")
    assert Judgment.objects.filter(assignment=assignment).exists()


def test_submit_anonymous_redirects_to_login(client, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)

    response = client.post(_submit_url(assignment), _pairwise_post(pairwise_study))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert not Judgment.objects.exists()


def test_submit_get_not_allowed(client_as, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)

    assert client_as(annotator).get(_submit_url(assignment)).status_code == 405


def test_walk_through_whole_study(client_as, rating_study, annotator):
    client = client_as(annotator)
    criterion = rating_study.criteria.get()

    for _ in range(6):
        task = client.get(_next_url(rating_study))
        assert task.status_code == 302
        submit_url = task.url + "submit/"
        assert client.post(submit_url, {_field(criterion): "3"}).status_code == 302

    assert "Nothing left, thank you!" in client.get(_next_url(rating_study)).text
    assert Judgment.objects.filter(annotator=annotator).count() == 6


def test_last_submit_redirects_to_done_page(client_as, pairwise_study, annotator):
    client = client_as(annotator)
    while (assignment := next_assignment(pairwise_study, annotator)) is not None:
        response = client.post(_submit_url(assignment), _pairwise_post(pairwise_study))
        assert response.status_code == 302

    assert response.url == _next_url(pairwise_study)
    assert not Assignment.objects.filter(annotator=annotator, status=AssignmentStatus.LEASED).exists()
    assert "annotate/done.html" in [template.name for template in client.get(response.url).templates]


def test_submit_then_paused_redirects_to_next_address(client_as, pairwise_study, annotator):
    from annotate.models import AnnotatorStatus

    assignment = next_assignment(pairwise_study, annotator)
    client = client_as(annotator)
    # Paused by the qualification rule while the task was open: the judgment is kept, no new task is leased.
    AnnotatorStatus.objects.create(study=pairwise_study, annotator=annotator, is_paused=True)

    response = client.post(_submit_url(assignment), _pairwise_post(pairwise_study))

    assert response.status_code == 302
    assert response.url == _next_url(pairwise_study)
    assert not Assignment.objects.filter(annotator=annotator, status=AssignmentStatus.LEASED).exists()
