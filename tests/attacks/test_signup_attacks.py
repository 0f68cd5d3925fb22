"""The public sign-up link under guessing, look-alike usernames, closed studies and forged posts."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from annotate.invitations import turn_off_signup, turn_on_signup
from annotate.models import StudyStatus
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = pytest.mark.django_db

PASSWORD = "Xk3!vq9#Lm2p-long"


@pytest.fixture
def study():
    prompt_set = make_prompt_set()
    study = make_study([make_run(prompt_set), make_run(prompt_set)])
    study.status = StudyStatus.OPEN
    study.save(update_fields=["status"])
    turn_on_signup(study)
    return study


def _signup_url(token):
    return reverse("annotate:signup", kwargs={"token": token})


def test_wrong_tokens_all_look_the_same(client, study):
    """A guessed token, a case variant, an old token and a closed study's token give one and the same 404."""
    old_token = study.signup_token
    bodies = set()
    for token in ("guess", old_token.upper(), old_token[:-1], old_token + "x", "%00"):
        response = client.get(_signup_url(token))
        assert response.status_code == 404
        bodies.add(response.content)
    turn_off_signup(study)
    bodies.add(client.get(_signup_url(old_token)).content)
    turn_on_signup(study)
    study.status = StudyStatus.CLOSED
    study.save(update_fields=["status"])
    bodies.add(client.get(_signup_url(study.signup_token)).content)

    assert len(bodies) == 1


@pytest.mark.parametrize("username", ["Annotator1", "ANNOTATOR1", "ａnnotator1", "annotator1 "])
def test_look_alike_username_rejected(client, study, username):
    make_user("annotator1")

    response = client.post(
        _signup_url(study.signup_token), {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    )

    assert response.status_code == 200
    assert "username" in response.context["form"].errors
    assert get_user_model().objects.count() == 1
    assert not study.annotators.exists()


def test_closed_study_join_refused(client, study):
    person = make_user()
    client.force_login(person)
    token = study.signup_token
    study.status = StudyStatus.CLOSED
    study.save(update_fields=["status"])

    response = client.post(reverse("annotate:signup_join", kwargs={"token": token}))

    assert response.status_code == 404
    assert not study.annotators.filter(pk=person.pk).exists()


def test_forged_join_needs_csrf_token(study):
    person = make_user()
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(person)

    response = forged.post(reverse("annotate:signup_join", kwargs={"token": study.signup_token}))

    assert response.status_code == 403
    assert not study.annotators.filter(pk=person.pk).exists()


def test_login_next_cannot_leave_site(client, study):
    make_user("returning")

    response = client.post(
        reverse("login"), {"username": "returning", "password": "pw-for-tests", "next": "//evil.example/"}
    )

    assert response.status_code == 302
    assert "evil.example" not in response["Location"]
