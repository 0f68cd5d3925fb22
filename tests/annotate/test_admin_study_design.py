"""The study admin's design fields: categories, pairs per prompt, systems, item preview and warnings."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from annotate.assignment import next_assignment, submit_judgment
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
