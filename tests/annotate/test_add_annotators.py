"""Adding annotators from a pasted list: the service, the admin page and who may use it."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from annotate.errors import InvalidInvitation
from annotate.invitations import MAX_INVITATION_LINES, add_annotators, parse_invitation_lines
from tests.factories import make_user

pytestmark = pytest.mark.django_db

User = get_user_model()


def _usernames():
    return set(User.objects.values_list("username", flat=True))


def test_parse_lines_with_separators():
    text = "alice\n\n  bob bob@example.org\ncarol,carol@example.org\n王小明\twang@example.org\n"

    lines = parse_invitation_lines(text)

    assert [(line.number, line.username, line.email) for line in lines] == [
        (1, "alice", ""),
        (3, "bob", "bob@example.org"),
        (4, "carol", "carol@example.org"),
        (5, "王小明", "wang@example.org"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ok\nbad!name", "Line 2: “bad!name” is not a valid username."),
        ("ok\nbob not-an-email", "Line 2: “not-an-email” is not a valid e-mail address."),
        ("ok\nbob b@example.org extra", "Line 2: write a username and at most one e-mail address"),
        ("bob\nBOB", "Line 2: “BOB” is already on line 1."),
        ("x" * 151, "Line 1: “" + "x" * 151 + "” is not a valid username."),
        ("\n \n", "The list is empty; write one username per line."),
    ],
)
def test_parse_lines_errors(text, message):
    with pytest.raises(InvalidInvitation) as raised:
        parse_invitation_lines(text)

    assert any(message in error for error in raised.value.errors), raised.value.errors


def test_parse_lines_limit():
    text = "\n".join(f"user{number}" for number in range(MAX_INVITATION_LINES + 1))

    with pytest.raises(InvalidInvitation) as raised:
        parse_invitation_lines(text)

    assert f"paste at most {MAX_INVITATION_LINES} at a time" in raised.value.errors[0]


def test_add_new_and_existing(pairwise_study, annotator):
    existing = make_user("existing-ann")

    invited = add_annotators(
        pairwise_study,
        f"new-ann new@example.org\nexisting-ann\n{annotator.username}",
        can_create_accounts=True,
    )

    new_user = User.objects.get(username="new-ann")
    assert new_user.email == "new@example.org"
    assert not new_user.has_usable_password()
    assert set(pairwise_study.annotators.all()) == {annotator, existing, new_user}
    by_name = {person.username: person for person in invited}
    assert by_name["new-ann"].is_new_account
    assert by_name["new-ann"].set_password_path.startswith("/accounts/reset/")
    assert not by_name["existing-ann"].is_new_account
    assert not by_name["existing-ann"].was_member
    assert by_name["existing-ann"].set_password_path == ""
    assert by_name[annotator.username].was_member


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fresh-one\nexisting-ann other@example.org", "Line 2: the account “existing-ann” has a different e-mail"),
        ("fresh-one\nExisting-Ann", "Line 2: an account named “existing-ann” exists."),
        ("fresh-one\nbad!name", "Line 2: “bad!name” is not a valid username."),
    ],
)
def test_bad_line_changes_nothing(pairwise_study, text, message):
    User.objects.create_user("existing-ann", email="mine@example.org", password="pw-for-tests")
    users_before = _usernames()
    members_before = set(pairwise_study.annotators.all())

    with pytest.raises(InvalidInvitation) as raised:
        add_annotators(pairwise_study, text, can_create_accounts=True)

    assert any(message in error for error in raised.value.errors), raised.value.errors
    assert _usernames() == users_before
    assert set(pairwise_study.annotators.all()) == members_before


def test_new_account_needs_permission(pairwise_study):
    make_user("known-ann")

    with pytest.raises(InvalidInvitation) as raised:
        add_annotators(pairwise_study, "known-ann\nunknown-ann", can_create_accounts=False)

    assert raised.value.errors == [
        "Line 2: there is no account named “unknown-ann”, and you may not create accounts. "
        "Ask a site admin to create it, or remove the line."
    ]
    assert not pairwise_study.annotators.filter(username="known-ann").exists()


def test_fresh_link_for_unused_account(pairwise_study):
    add_annotators(pairwise_study, "link-ann", can_create_accounts=True)

    again = add_annotators(pairwise_study, "link-ann", can_create_accounts=True)

    assert again[0].was_member
    assert again[0].set_password_path


def test_set_password_link_works(pairwise_study, client):
    invited = add_annotators(pairwise_study, "setpw-ann", can_create_accounts=True)

    form_page = client.get(invited[0].set_password_path, follow=True)
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a-long-pass-phrase-42", "new_password2": "a-long-pass-phrase-42"},
        follow=True,
    )

    assert done.status_code == 200
    assert User.objects.get(username="setpw-ann").check_password("a-long-pass-phrase-42")
    # The token covers the old password hash, so the link is spent.
    reused = client.get(invited[0].set_password_path, follow=True)
    assert "new_password1" not in reused.text


def test_set_password_pages_are_humeval_pages(pairwise_study, client):
    """An annotator setting a password sees the site's own pages, not the admin's, in their language."""
    invited = add_annotators(pairwise_study, "setpw-zh", can_create_accounts=True)

    form_page = client.get(invited[0].set_password_path, follow=True, HTTP_ACCEPT_LANGUAGE="zh-hans")
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a-long-pass-phrase-42", "new_password2": "a-long-pass-phrase-42"},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    reused = client.get(invited[0].set_password_path, follow=True, HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert "Django" not in form_page.text
    assert "设置密码" in form_page.text
    assert "Django" not in done.text
    assert "密码已设置" in done.text
    assert "Django" not in reused.text
    assert "请向评测负责人索取新链接" in reused.text


# The admin page


def _superuser_client(client):
    client.force_login(User.objects.create_superuser("invite-root", password="pw-for-tests"))
    return client


def _page_url(study):
    return reverse("admin:annotate_study_add_annotators", args=[study.pk])


def test_page_creates_and_shows_links(client, pairwise_study):
    _superuser_client(client)

    response = client.post(_page_url(pairwise_study), {"annotators": "page-new page@example.org\n"})

    assert response.status_code == 200
    assert response.templates[0].name == "admin/annotate/study/add_annotators_done.html"
    assert pairwise_study.annotators.filter(username="page-new").exists()
    links = re.findall(r'<code class="set-password-link">([^<]+)</code>', response.text)
    assert len(links) == 1
    assert links[0].startswith("http://testserver/accounts/reset/")
    assert "new account, added" in response.text


def test_page_lists_every_bad_line(client, pairwise_study):
    _superuser_client(client)
    users_before = _usernames()

    response = client.post(_page_url(pairwise_study), {"annotators": "good-one\nbad!name\nalso@bad@x y@\n"})

    assert response.status_code == 200
    assert response.templates[0].name == "admin/annotate/study/add_annotators.html"
    assert "Nothing was changed." in response.text
    assert "Line 2: “bad!name” is not a valid username." in response.text
    assert "Line 3: “y@” is not a valid e-mail address." in response.text
    assert _usernames() == users_before


def test_page_in_chinese(client, pairwise_study):
    _superuser_client(client)

    response = client.get(_page_url(pairwise_study), HTTP_ACCEPT_LANGUAGE="zh-Hans")

    assert response.status_code == 200
    assert '<html lang="zh-hans"' in response.text


def _staff(username, *, manages=None):
    """Create a staff user, who holds the study manager role, managing `manages` when given."""
    user = User.objects.create_user(username, password="pw-for-tests", is_staff=True)
    if manages is not None:
        manages.managers.add(user)
    return user


@pytest.mark.parametrize(
    ("manages", "progress_status", "add_status"),
    [
        # Another study's manager is told the study does not exist, never that it is forbidden.
        (False, 404, 404),
        (True, 200, 200),
    ],
)
def test_staff_access_follows_managers(client, pairwise_study, manages, progress_status, add_status):
    client.force_login(_staff("perm-staff", manages=pairwise_study if manages else None))

    progress = client.get(reverse("admin:annotate_study_progress", args=[pairwise_study.pk]))
    add_page = client.get(_page_url(pairwise_study))

    assert progress.status_code == progress_status
    assert add_page.status_code == add_status


def test_non_staff_sent_to_login(client, pairwise_study, annotator):
    client.force_login(annotator)

    for url in [reverse("admin:annotate_study_progress", args=[pairwise_study.pk]), _page_url(pairwise_study)]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("admin:login")), url


def test_anonymous_post_changes_nothing(client, pairwise_study):
    response = client.post(_page_url(pairwise_study), {"annotators": "sneaky-ann"})

    assert response.status_code == 302
    assert not User.objects.filter(username="sneaky-ann").exists()


def test_manager_adds_existing_accounts_only(client, pairwise_study):
    client.force_login(_staff("manager-only", manages=pairwise_study))
    make_user("known-ann")

    refused = client.post(_page_url(pairwise_study), {"annotators": "known-ann\nbrand-new"})
    accepted = client.post(_page_url(pairwise_study), {"annotators": "known-ann"})

    assert "Line 2: there is no account named “brand-new”" in refused.text
    assert not User.objects.filter(username="brand-new").exists()
    assert accepted.templates[0].name == "admin/annotate/study/add_annotators_done.html"
    assert pairwise_study.annotators.filter(username="known-ann").exists()
    assert "set-password-link" not in accepted.text


def test_unknown_study_id(client):
    _superuser_client(client)

    response = client.get(reverse("admin:annotate_study_progress", args=[999999]))

    assert response.status_code == 404


def test_progress_page_wrong_method(client, pairwise_study):
    _superuser_client(client)

    response = client.post(reverse("admin:annotate_study_progress", args=[pairwise_study.pk]))

    assert response.status_code == 405
