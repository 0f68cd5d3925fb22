"""A study's sign-up link: turning it on and off, registering through it, joining with an account."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from annotate.invitations import signup_path, turn_off_signup, turn_on_signup
from annotate.models import Study, StudyStatus
from tests.factories import make_user

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "a-long-pass-phrase-42"


@pytest.fixture
def signup_url(pairwise_study):
    turn_on_signup(pairwise_study)
    return signup_path(pairwise_study)


def _register(client, url, username="signup-new", password=PASSWORD, password2=None, email=""):
    return client.post(
        url,
        {"username": username, "email": email, "password1": password, "password2": password2 or password},
    )


def test_turn_on_keeps_existing_token(pairwise_study):
    assert turn_on_signup(pairwise_study)
    token = pairwise_study.signup_token

    assert not turn_on_signup(pairwise_study)
    assert pairwise_study.signup_token == token
    assert len(token) >= 40
    assert signup_path(pairwise_study) == f"/signup/{token}/"


def test_tokens_differ_per_study(pairwise_study, rating_study):
    turn_on_signup(pairwise_study)
    turn_on_signup(rating_study)

    assert pairwise_study.signup_token != rating_study.signup_token


def test_new_account_lands_on_first_task(client, pairwise_study, signup_url):
    response = _register(client, signup_url, email="new@example.org")

    user = User.objects.get(username="signup-new")
    assert response.status_code == 302
    assert response.url == reverse("annotate:next_task", kwargs={"study_uuid": pairwise_study.uuid})
    assert user.email == "new@example.org"
    assert user.check_password(PASSWORD)
    assert not user.is_staff
    assert pairwise_study.annotators.filter(pk=user.pk).exists()
    task = client.get(response.url, follow=True)
    assert task.status_code == 200
    assert task.templates[0].name == "annotate/task.html"


def test_signup_page_for_anonymous(client, pairwise_study, signup_url):
    response = client.get(signup_url)

    assert response.status_code == 200
    # The name sits in a directional isolate.
    assert f"Join “<bdi>{pairwise_study.name}</bdi>”" in response.text
    assert 'name="password1"' in response.text
    assert f'href="/accounts/login/?next={signup_url}"' in response.text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"password": "12345678"}, "This password is too common."),
        ({"password": "short"}, "This password is too short."),
        ({"password2": "something-else-42"}, "The two password fields didn’t match."),
        ({"username": "bad!name"}, "Enter a valid username."),
        ({"email": "not-an-email"}, "Enter a valid email address."),
    ],
)
def test_bad_form_creates_nothing(client, pairwise_study, signup_url, fields, message):
    users_before = User.objects.count()

    response = _register(client, signup_url, **fields)

    assert response.status_code == 200
    assert message in response.text
    assert User.objects.count() == users_before
    assert "_auth_user_id" not in client.session


def test_duplicate_username_rejected(client, pairwise_study, signup_url):
    make_user("taken-name")

    exact = _register(client, signup_url, username="taken-name")
    other_case = _register(client, signup_url, username="Taken-Name")

    assert "A user with that username already exists." in exact.text
    assert "A user with that username already exists." in other_case.text
    assert User.objects.filter(username__iexact="taken-name").count() == 1


def test_logged_in_user_confirms_then_joins(client, pairwise_study, signup_url):
    member = make_user("joining-user")
    client.force_login(member)

    confirm = client.get(signup_url)
    assert confirm.status_code == 200
    assert "You are logged in as joining-user." in confirm.text
    assert not pairwise_study.annotators.filter(pk=member.pk).exists()

    joined = client.post(reverse("annotate:signup_join", kwargs={"token": pairwise_study.signup_token}))

    assert joined.status_code == 302
    assert joined.url == reverse("annotate:next_task", kwargs={"study_uuid": pairwise_study.uuid})
    assert pairwise_study.annotators.filter(pk=member.pk).exists()


def test_member_visiting_link_goes_to_study(client, pairwise_study, signup_url, annotator):
    client.force_login(annotator)

    response = client.get(signup_url)

    assert response.status_code == 302
    assert response.url == reverse("annotate:next_task", kwargs={"study_uuid": pairwise_study.uuid})


def test_join_needs_login(client, pairwise_study, signup_url):
    response = client.post(reverse("annotate:signup_join", kwargs={"token": pairwise_study.signup_token}))

    assert response.status_code == 302
    assert response.url == signup_url
    assert pairwise_study.annotators.count() == 1


def test_join_rejects_get(client, pairwise_study, signup_url):
    client.force_login(make_user())

    response = client.get(reverse("annotate:signup_join", kwargs={"token": pairwise_study.signup_token}))

    assert response.status_code == 405


def test_turned_off_token_is_404(client, pairwise_study, signup_url):
    turn_off_signup(pairwise_study)

    page = client.get(signup_url)
    posted = _register(client, signup_url)

    assert page.status_code == 404
    assert posted.status_code == 404
    assert not User.objects.filter(username="signup-new").exists()


@pytest.mark.parametrize("token", ["unknown-token", "x" * 64])
def test_unknown_token_is_404(client, signup_url, token):
    assert client.get(reverse("annotate:signup", kwargs={"token": token})).status_code == 404


def test_closed_study_is_404(client, pairwise_study, signup_url):
    Study.objects.filter(pk=pairwise_study.pk).update(status=StudyStatus.CLOSED)

    assert client.get(signup_url).status_code == 404


def test_paused_study_joins_and_waits(client, pairwise_study, signup_url):
    Study.objects.filter(pk=pairwise_study.pk).update(status=StudyStatus.PAUSED)

    response = _register(client, signup_url)

    assert response.status_code == 302
    assert response.url == reverse("annotate:home")
    assert pairwise_study.annotators.filter(username="signup-new").exists()


def test_signup_page_in_chinese(client, signup_url):
    response = client.get(signup_url, HTTP_ACCEPT_LANGUAGE="zh-Hans")

    assert '<html lang="zh-hans">' in response.text
    # Django's own catalogue translates the form's labels.
    assert "密码" in response.text


def test_signup_page_reveals_no_model(client, pairwise_study, signup_url):
    text = client.get(signup_url).text

    for run in pairwise_study.systems.select_related("model"):
        assert run.model.name not in text


# The admin actions and the change page


@pytest.fixture
def root_client(client):
    client.force_login(User.objects.create_superuser("signup-root", password="pw-for-tests"))
    return client


def _action(client, action, study):
    return client.post(
        reverse("admin:annotate_study_changelist"),
        {"action": action, "_selected_action": [study.pk]},
        follow=True,
    )


def test_turn_on_action_and_change_page(root_client, pairwise_study):
    response = _action(root_client, "turn_on_signup_link", pairwise_study)

    pairwise_study.refresh_from_db()
    link = f"http://testserver/signup/{pairwise_study.signup_token}/"
    assert pairwise_study.signup_token
    assert f"The sign-up link of “{pairwise_study.name}” is on: {link}" in response.text
    change = root_client.get(reverse("admin:annotate_study_change", args=[pairwise_study.pk]))
    assert f'<code id="signup-link">{link}</code>' in change.text
    assert 'name="signup_token"' not in change.text


def test_turn_off_action(root_client, pairwise_study, signup_url):
    response = _action(root_client, "turn_off_signup_link", pairwise_study)

    pairwise_study.refresh_from_db()
    assert pairwise_study.signup_token == ""
    assert "is off; it now shows “not found”." in response.text
    change = root_client.get(reverse("admin:annotate_study_change", args=[pairwise_study.pk]))
    assert "The sign-up link is off." in change.text
