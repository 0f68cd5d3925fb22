"""The study admin's design fields: categories, pairs per prompt, systems, item preview and warnings."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection, transaction
from django.urls import reverse

from annotate.admin_study_design import StudyDesignForm
from annotate.assignment import next_assignment, submit_judgment
from annotate.invitations import add_annotators, join_study
from annotate.items import open_study
from annotate.models import Study, StudyKind, StudyStatus
from generation.models import Prompt
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged_in(client):
    admin = get_user_model().objects.create_superuser("root", password="pw-for-tests")
    client.force_login(admin)
    return client


def _change_url(study):
    return reverse("admin:annotate_study_change", args=[study.pk])


def _form_data(client, url):
    """Return the POST data the admin page at `url` would send unchanged, inline forms included."""
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {}
    for name in form.fields:
        _put(data, form.add_prefix(name), form[name].value())
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        for name in formset.management_form.fields:
            _put(data, formset.management_form.add_prefix(name), formset.management_form[name].value())
        for inline_form in formset.forms:
            for name in inline_form.fields:
                _put(data, inline_form.add_prefix(name), inline_form[name].value())
    return data


def _put(data, key, value):
    if value is None or value is False:
        return
    if isinstance(value, list | tuple):
        data[key] = [str(item) for item in value]
    else:
        data[key] = value


def _open_pairwise(prompt_set, systems=2, **fields):
    study = make_study([make_run(prompt_set) for _ in range(systems)], **fields)
    open_study(study, seed=1)
    return study


def test_change_page_offers_set_categories(admin_client_logged_in, prompt_set):
    study = _open_pairwise(prompt_set)
    make_prompt_set(name="other-set", prompts=["x"])

    page = admin_client_logged_in.get(_change_url(study))

    choices = page.context["adminform"].form.fields["categories"].choices
    assert choices == [("knowledge", "knowledge"), ("writing", "writing")]


def test_add_page_labels_categories_with_sets(admin_client_logged_in, prompt_set):
    page = admin_client_logged_in.get(reverse("admin:annotate_study_add"))

    choices = dict(page.context["adminform"].form.fields["categories"].choices)
    assert choices["writing"] == f"writing ({prompt_set.name})"


def test_categories_saved_and_used(admin_client_logged_in, prompt_set):
    study = make_study([make_run(prompt_set), make_run(prompt_set)])
    data = _form_data(admin_client_logged_in, _change_url(study))
    data["categories"] = ["writing"]
    data["status"] = StudyStatus.OPEN

    admin_client_logged_in.post(_change_url(study), data, follow=True)

    study.refresh_from_db()
    assert study.categories == ["writing"]
    assert study.status == StudyStatus.OPEN
    assert set(study.items.values_list("prompt__category", flat=True)) == {"writing"}


def test_category_of_other_set_rejected(admin_client_logged_in, prompt_set):
    make_prompt_set(name="poems", prompts=["Write a poem."])
    Prompt.objects.filter(prompt_set__name="poems").update(category="poetry")
    study = make_study([make_run(prompt_set), make_run(prompt_set)])
    data = _form_data(admin_client_logged_in, _change_url(study))
    data["categories"] = ["poetry"]

    page = admin_client_logged_in.post(_change_url(study), data)

    assert page.status_code == 200
    assert f"Prompt set “{prompt_set.name}” has no prompt of category “poetry”" in page.text
    study.refresh_from_db()
    assert study.categories == []


def test_pairs_per_prompt_rejected_for_rating(admin_client_logged_in, prompt_set):
    study = make_study([make_run(prompt_set)], kind=StudyKind.RATING)
    data = _form_data(admin_client_logged_in, _change_url(study))
    data["pairs_per_prompt"] = 2

    page = admin_client_logged_in.post(_change_url(study), data)

    assert "apply to pairwise studies only" in page.text
    study.refresh_from_db()
    assert study.pairs_per_prompt is None


def test_pairs_per_prompt_builds_sample(admin_client_logged_in):
    prompt_set = make_prompt_set(prompts=[f"Prompt {n}" for n in range(6)])
    study = make_study([make_run(prompt_set) for _ in range(4)])
    data = _form_data(admin_client_logged_in, _change_url(study))
    data["pairs_per_prompt"] = 2
    data["status"] = StudyStatus.OPEN

    page = admin_client_logged_in.post(_change_url(study), data, follow=True)

    study.refresh_from_db()
    assert study.pairs_per_prompt == 2
    assert study.items.count() == 12
    assert "12 new items" in page.text


def test_preview_counts_items(admin_client_logged_in, prompt_set):
    study = make_study([make_run(prompt_set) for _ in range(3)])

    page = admin_client_logged_in.get(_change_url(study))

    assert "Opening the study now builds 9 items." in page.text
    assert not study.items.exists()


def test_preview_shows_why_study_cannot_open(admin_client_logged_in, prompt_set):
    study = make_study([make_run(prompt_set)])

    page = admin_client_logged_in.get(_change_url(study))

    assert "needs at least 2 systems; it has 1." in page.text


def test_overlap_above_annotators_warns(admin_client_logged_in, prompt_set):
    study = make_study([make_run(prompt_set), make_run(prompt_set)], overlap=3, annotators=[make_user()])
    data = _form_data(admin_client_logged_in, _change_url(study))

    page = admin_client_logged_in.post(_change_url(study), data, follow=True)

    assert "asks for 3 judgments per item but has 1 annotator" in page.text


def test_enough_annotators_no_warning(admin_client_logged_in, prompt_set):
    study = make_study([make_run(prompt_set), make_run(prompt_set)], overlap=2, annotators=[make_user(), make_user()])
    data = _form_data(admin_client_logged_in, _change_url(study))

    page = admin_client_logged_in.post(_change_url(study), data, follow=True)

    assert "judgments per item but has" not in page.text


def test_adding_system_to_open_study_builds_items(admin_client_logged_in, prompt_set):
    annotator = make_user()
    study = _open_pairwise(prompt_set, annotators=[annotator])
    judgment = submit_judgment(next_assignment(study, annotator), {"overall": "A"})
    before = set(study.items.values_list("pk", "first_response_id", "second_response_id"))
    new_run = make_run(prompt_set)
    data = _form_data(admin_client_logged_in, _change_url(study))
    data["systems"] = [*data["systems"], str(new_run.pk)]

    page = admin_client_logged_in.post(_change_url(study), data, follow=True)

    assert "6 new items" in page.text
    assert study.systems.count() == 3
    assert before <= set(study.items.values_list("pk", "first_response_id", "second_response_id"))
    assert study.items.count() == 9
    judgment.refresh_from_db()
    assert judgment.item_id in {row[0] for row in before}


def test_adding_system_to_paused_study_builds_items(admin_client_logged_in, prompt_set):
    study = _open_pairwise(prompt_set)
    Study.objects.filter(pk=study.pk).update(status=StudyStatus.PAUSED)
    new_run = make_run(prompt_set)
    data = _form_data(admin_client_logged_in, _change_url(study))
    data["systems"] = [*data["systems"], str(new_run.pk)]

    page = admin_client_logged_in.post(_change_url(study), data, follow=True)

    study.refresh_from_db()
    assert study.status == StudyStatus.PAUSED
    assert study.items.count() == 9
    assert f"Built 6 new items for “{study.name}”." in page.text


def test_removing_system_from_opened_study_rejected(admin_client_logged_in, prompt_set):
    study = _open_pairwise(prompt_set, systems=3)
    kept = list(study.systems.order_by("pk"))[:2]
    data = _form_data(admin_client_logged_in, _change_url(study))
    data["systems"] = [str(run.pk) for run in kept]

    page = admin_client_logged_in.post(_change_url(study), data)

    assert page.status_code == 200
    assert "no system can be removed" in page.text
    assert study.systems.count() == 3


def test_narrowing_categories_of_opened_study_rejected(admin_client_logged_in, prompt_set):
    study = _open_pairwise(prompt_set)
    data = _form_data(admin_client_logged_in, _change_url(study))
    data["categories"] = ["writing"]

    page = admin_client_logged_in.post(_change_url(study), data)

    assert "cannot be limited to some now" in page.text
    study.refresh_from_db()
    assert study.categories == []


def test_opened_study_cannot_return_to_draft(admin_client_logged_in, prompt_set):
    study = _open_pairwise(prompt_set)
    data = _form_data(admin_client_logged_in, _change_url(study))
    data["status"] = StudyStatus.DRAFT

    page = admin_client_logged_in.post(_change_url(study), data)

    assert "cannot go back to draft" in page.text
    study.refresh_from_db()
    assert study.status == StudyStatus.OPEN


# Annotators and managers changed while the form was open

MEMBERS_CHANGED = "The annotators or managers of this study changed after you opened this page"


def _members(study):
    return (
        set(study.annotators.values_list("username", flat=True)),
        set(study.managers.values_list("username", flat=True)),
    )


def test_signup_while_form_open_rejects_save(admin_client_logged_in, prompt_set):
    first = make_user()
    study = _open_pairwise(prompt_set, annotators=[first])
    study.managers.add(make_user(staff=True))
    data = _form_data(admin_client_logged_in, _change_url(study))
    join_study(study, make_user("newcomer"))
    data["name"] = "renamed"
    before = _members(study)

    page = admin_client_logged_in.post(_change_url(study), data)

    assert page.status_code == 200
    assert MEMBERS_CHANGED in page.text
    assert "Reload the page" in page.text
    study.refresh_from_db()
    assert study.name != "renamed"
    assert _members(study) == before
    assert "newcomer" in before[0]


def test_annotator_added_by_other_admin_rejects_save(admin_client_logged_in, prompt_set):
    study = _open_pairwise(prompt_set, annotators=[make_user()])
    data = _form_data(admin_client_logged_in, _change_url(study))
    make_user("invited")
    add_annotators(study, "invited", can_create_accounts=False)
    data["overlap"] = "1"

    page = admin_client_logged_in.post(_change_url(study), data)

    assert MEMBERS_CHANGED in page.text
    study.refresh_from_db()
    assert study.overlap == 3
    assert study.annotators.filter(username="invited").exists()


def test_manager_added_while_form_open_is_kept(admin_client_logged_in, prompt_set):
    # The form does not edit managers, so saving it cannot remove one.
    study = _open_pairwise(prompt_set, annotators=[make_user()])
    data = _form_data(admin_client_logged_in, _change_url(study))
    assert "managers" not in admin_client_logged_in.get(_change_url(study)).context["adminform"].form.fields
    study.managers.add(make_user("second-manager", staff=True))
    data["overlap"] = "1"

    page = admin_client_logged_in.post(_change_url(study), data)

    assert page.status_code == 302
    study.refresh_from_db()
    assert study.overlap == 1
    assert set(study.managers.values_list("username", flat=True)) == {"second-manager"}


def test_save_without_fingerprint_rejected(admin_client_logged_in, prompt_set):
    study = _open_pairwise(prompt_set, annotators=[make_user()])
    data = _form_data(admin_client_logged_in, _change_url(study))
    del data["members_fingerprint"]
    data["name"] = "renamed"

    page = admin_client_logged_in.post(_change_url(study), data)

    assert MEMBERS_CHANGED in page.text
    study.refresh_from_db()
    assert study.name != "renamed"


def test_unchanged_members_save_normally(admin_client_logged_in, prompt_set):
    kept, removed, added = make_user("kept"), make_user("removed"), make_user("added")
    study = _open_pairwise(prompt_set, annotators=[kept, removed])
    page = admin_client_logged_in.get(_change_url(study))
    assert 'type="hidden" name="members_fingerprint"' in page.text
    data = _form_data(admin_client_logged_in, _change_url(study))
    assert data["members_fingerprint"]
    data["annotators"] = [str(kept.pk), str(added.pk)]
    data["name"] = "renamed"

    page = admin_client_logged_in.post(_change_url(study), data)

    assert page.status_code == 302
    study.refresh_from_db()
    assert study.name == "renamed"
    assert set(study.annotators.values_list("username", flat=True)) == {"kept", "added"}


def test_new_study_saves_without_fingerprint(admin_client_logged_in, prompt_set):
    runs = [make_run(prompt_set), make_run(prompt_set)]
    page = admin_client_logged_in.get(reverse("admin:annotate_study_add"))
    assert page.context["adminform"].form["members_fingerprint"].value() in (None, "")
    data = {
        "name": "fresh",
        "kind": StudyKind.PAIRWISE,
        "prompt_set": str(prompt_set.pk),
        "systems": [str(run.pk) for run in runs],
        "overlap": "1",
        "lease_minutes": "30",
        "gold_rate": "0",
        "qualification_min_gold": "5",
        "status": StudyStatus.DRAFT,
        "criteria-TOTAL_FORMS": "0",
        "criteria-INITIAL_FORMS": "0",
    }

    page = admin_client_logged_in.post(reverse("admin:annotate_study_add"), data)

    assert page.status_code == 302, page.context["adminform"].form.errors
    assert Study.objects.filter(name="fresh").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_form_check_holds_study_lock_until_save(prompt_set):
    """A sign-up that arrives after the check waits for the save instead of being overwritten."""
    if connection.vendor != "postgresql":
        # CI runs this file on SQLite too, where the test does not apply.
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://USER@HOST:PORT/NAME to run")
    study = _open_pairwise(prompt_set, annotators=[make_user()])
    newcomer = make_user("newcomer")
    loaded = StudyDesignForm(instance=study)
    data = {name: loaded[name].value() for name in loaded.fields}
    data = {name: value for name, value in data.items() if value is not None}
    data["categories"] = []
    data["name"] = "renamed"
    join_errors = []

    def join_with_short_lock_timeout():
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '200ms'")
                join_study(Study.objects.get(pk=study.pk), newcomer)
        except OperationalError as error:
            join_errors.append(error)
        finally:
            connection.close()

    with transaction.atomic():
        form = StudyDesignForm(data, instance=study)
        assert form.is_valid(), form.errors
        thread = threading.Thread(target=join_with_short_lock_timeout)
        thread.start()
        thread.join(timeout=30)
        form.save()

    assert len(join_errors) == 1
    assert "lock timeout" in str(join_errors[0])
    assert not study.annotators.filter(pk=newcomer.pk).exists()
    assert join_study(study, newcomer) is True
    study.refresh_from_db()
    assert study.name == "renamed"
