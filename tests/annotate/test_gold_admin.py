"""Admin pages for gold items, attention checks and annotator statuses."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from annotate import gold
from annotate.assignment import next_assignment, submit_judgment
from annotate.models import AnnotatorStatus, Item, Outcome
from annotate.pseudonyms import pseudonym
from generation.models import Prompt
from tests.factories import make_user

pytestmark = pytest.mark.django_db

BAD_TEXT = "Bananas are a kind of spaceship."


@pytest.fixture
def admin_client(client):
    admin = get_user_model().objects.create_superuser("root", password="pw-for-tests")
    client.force_login(admin)
    return client


@pytest.fixture
def outsider_client(client):
    """A study manager (staff) who manages none of the test's studies."""
    client.force_login(make_user("outsider", staff=True))
    return client


def _gold_url(item):
    return reverse("admin:annotate_item_gold", args=[item.pk])


def _attention_url(study):
    return reverse("admin:annotate_study_attention_check", args=[study.pk])


def _quality_url(study):
    return reverse("admin:annotate_study_quality", args=[study.pk])


# Item gold page


def test_gold_page_shows_item(admin_client, pairwise_study):
    item = pairwise_study.items.select_related("first_response__run__model").first()

    response = admin_client.get(_gold_url(item))

    assert response.status_code == 200
    assert item.prompt.text in response.text
    assert item.first_response.run.system_name in response.text
    assert 'name="right_answer"' in response.text


def test_gold_page_marks_item(admin_client, pairwise_study):
    item = pairwise_study.items.first()

    response = admin_client.post(_gold_url(item), {"right_answer": "second"}, follow=True)

    item.refresh_from_db()
    assert response.status_code == 200
    assert item.is_gold
    assert (item.gold_outcome, item.gold_winner_id) == (Outcome.WIN, item.second_response_id)
    assert "is a gold item with this right answer" in response.text


def test_gold_page_missing_answer(admin_client, pairwise_study):
    item = pairwise_study.items.first()

    response = admin_client.post(_gold_url(item), {})

    item.refresh_from_db()
    assert response.status_code == 200
    assert "Nothing was changed" in response.text
    assert not item.is_gold


def test_gold_page_rating_range_error(admin_client, rating_study):
    item = rating_study.items.first()

    response = admin_client.post(_gold_url(item), {"min_score": 4, "max_score": 2})

    item.refresh_from_db()
    assert response.status_code == 200
    assert "The lowest right score (4) is above the highest (2)." in response.text
    assert not item.is_gold


def test_gold_page_rating_marks_item(admin_client, rating_study):
    item = rating_study.items.first()

    admin_client.post(_gold_url(item), {"min_score": 4, "max_score": 5})

    item.refresh_from_db()
    assert (item.is_gold, item.gold_min_score, item.gold_max_score) == (True, 4, 5)


def test_remove_gold(admin_client, pairwise_study):
    item = pairwise_study.items.first()
    gold.mark_gold(item, outcome=Outcome.TIE)
    url = reverse("admin:annotate_item_remove_gold", args=[item.pk])

    get = admin_client.get(url)
    post = admin_client.post(url, follow=True)

    item.refresh_from_db()
    assert get.status_code == 405
    assert post.status_code == 200
    assert not item.is_gold
    assert "is a regular item again" in post.text


def test_remove_gold_attention_check_refused(admin_client, pairwise_study):
    check = gold.create_attention_check(
        pairwise_study, pairwise_study.prompt_set.prompts.first(), BAD_TEXT, system=pairwise_study.systems.first()
    )

    response = admin_client.post(reverse("admin:annotate_item_remove_gold", args=[check.pk]), follow=True)

    check.refresh_from_db()
    assert check.is_gold
    assert "cannot become a regular item" in response.text


def test_gold_page_hidden_from_other_managers(outsider_client, pairwise_study):
    item = pairwise_study.items.first()

    assert outsider_client.get(_gold_url(item)).status_code == 404
    assert outsider_client.post(_gold_url(item), {"right_answer": "tie"}).status_code == 404
    item.refresh_from_db()
    assert not item.is_gold


def test_gold_page_unknown_item(admin_client, pairwise_study):
    assert admin_client.get(_gold_url(Item(pk=999999))).status_code == 404


def test_gold_page_anonymous_redirected(client, pairwise_study):
    response = client.get(_gold_url(pairwise_study.items.first()))

    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_item_list_filters_gold(admin_client, pairwise_study):
    gold.mark_gold(pairwise_study.items.first(), outcome=Outcome.TIE)

    response = admin_client.get(reverse("admin:annotate_item_changelist") + "?is_gold__exact=1")

    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert "Change right answer" in response.text


# Attention check page


def test_attention_check_page_loads(admin_client, pairwise_study, rating_study):
    pairwise = admin_client.get(_attention_url(pairwise_study))
    rating = admin_client.get(_attention_url(rating_study))

    assert pairwise.status_code == rating.status_code == 200
    assert 'name="system"' in pairwise.text
    assert 'name="min_score"' not in pairwise.text
    assert 'name="system"' not in rating.text
    assert 'name="min_score" value="1"' in rating.text
    assert 'name="max_score" value="2"' in rating.text


def test_attention_check_added(admin_client, pairwise_study):
    prompt = pairwise_study.prompt_set.prompts.order_by("position").first()
    system = pairwise_study.systems.order_by("pk").last()

    response = admin_client.post(
        _attention_url(pairwise_study), {"prompt": prompt.pk, "system": system.pk, "text": BAD_TEXT}, follow=True
    )

    check = Item.objects.get(study=pairwise_study, is_gold=True)
    assert response.status_code == 200
    assert "Added attention check" in response.text
    assert check.attention_text == BAD_TEXT
    assert check.first_response.run_id == system.pk


def test_attention_check_rating_added(admin_client, rating_study):
    prompt = rating_study.prompt_set.prompts.first()

    admin_client.post(
        _attention_url(rating_study), {"prompt": prompt.pk, "text": BAD_TEXT, "min_score": 1, "max_score": 1}
    )

    check = Item.objects.get(study=rating_study, is_gold=True)
    assert (check.first_response, check.gold_min_score, check.gold_max_score) == (None, 1, 1)


def test_attention_check_multi_turn_error(admin_client, pairwise_study):
    prompt = Prompt.objects.create(
        prompt_set=pairwise_study.prompt_set, position=7, text="Hello", follow_up_turns=["More?"]
    )
    system = pairwise_study.systems.first()

    response = admin_client.post(
        _attention_url(pairwise_study), {"prompt": prompt.pk, "system": system.pk, "text": BAD_TEXT}
    )

    assert response.status_code == 200
    assert "Choose a prompt with a single turn" in response.text
    assert not Item.objects.filter(is_gold=True).exists()


def test_attention_check_empty_text(admin_client, pairwise_study):
    prompt = pairwise_study.prompt_set.prompts.first()
    system = pairwise_study.systems.first()

    response = admin_client.post(_attention_url(pairwise_study), {"prompt": prompt.pk, "system": system.pk, "text": ""})

    assert response.status_code == 200
    assert "Nothing was changed" in response.text
    assert not Item.objects.filter(is_gold=True).exists()


def test_attention_check_hidden_from_other_managers(outsider_client, pairwise_study):
    assert outsider_client.get(_attention_url(pairwise_study)).status_code == 404


# Annotator quality page and statuses


def test_quality_page_lists_accuracy(admin_client, rating_study, annotator):
    check = gold.create_attention_check(rating_study, rating_study.prompt_set.prompts.first(), BAD_TEXT)
    rating_study.gold_rate = 1.0
    rating_study.save()
    assignment = next_assignment(rating_study, annotator)
    assert assignment.item_id == check.pk
    submit_judgment(assignment, {"fluency": 1})

    response = admin_client.get(_quality_url(rating_study))

    assert response.status_code == 200
    (row,) = response.context["rows"]
    assert (row.username, row.gold_judgments, row.gold_correct) == (annotator.username, 1, 1)
    assert "100.0%" in response.text


@pytest.mark.parametrize(
    ("change", "field", "value"),
    [("exclude", "is_excluded", True), ("pause", "is_paused", True)],
)
def test_quality_page_changes_status(admin_client, pairwise_study, annotator, change, field, value):
    url = reverse(f"admin:annotate_study_{change}_annotator", args=[pairwise_study.pk, annotator.pk])

    get = admin_client.get(url)
    post = admin_client.post(url, follow=True)

    status = AnnotatorStatus.objects.get(study=pairwise_study, annotator=annotator)
    assert get.status_code == 405
    assert post.status_code == 200
    assert getattr(status, field) is value
    # The message and the page name the annotator by pseudonym, as reports do.
    assert pseudonym(annotator.pk) in post.text


def test_quality_page_include_and_resume(admin_client, pairwise_study, annotator):
    gold.set_excluded(pairwise_study, annotator.pk, True)
    gold.set_paused(pairwise_study, annotator.pk, True, "Checking.")

    admin_client.post(reverse("admin:annotate_study_include_annotator", args=[pairwise_study.pk, annotator.pk]))
    admin_client.post(reverse("admin:annotate_study_resume_annotator", args=[pairwise_study.pk, annotator.pk]))

    status = AnnotatorStatus.objects.get(study=pairwise_study, annotator=annotator)
    assert (status.is_excluded, status.is_paused, status.paused_reason) == (False, False, "")


def test_quality_hidden_from_other_managers(outsider_client, pairwise_study, annotator):
    url = reverse("admin:annotate_study_exclude_annotator", args=[pairwise_study.pk, annotator.pk])

    view = outsider_client.get(_quality_url(pairwise_study))
    post = outsider_client.post(url)

    assert view.status_code == 404
    assert post.status_code == 404
    assert not AnnotatorStatus.objects.exists()


def test_quality_change_unknown_annotator(admin_client, pairwise_study):
    url = reverse("admin:annotate_study_exclude_annotator", args=[pairwise_study.pk, 999999])

    assert admin_client.post(url).status_code == 404
    assert not AnnotatorStatus.objects.exists()


def test_status_admin_actions(admin_client, pairwise_study, annotator):
    status = gold.set_paused(pairwise_study, annotator.pk, True, "Low accuracy.")
    changelist = reverse("admin:annotate_annotatorstatus_changelist")

    page = admin_client.get(changelist)
    resumed = admin_client.post(changelist, {"action": "resume_selected", "_selected_action": [status.pk]}, follow=True)
    excluded = admin_client.post(
        changelist, {"action": "exclude_selected", "_selected_action": [status.pk]}, follow=True
    )

    status.refresh_from_db()
    assert page.status_code == 200
    assert "Low accuracy." in page.text
    assert "Resumed 1 annotator." in resumed.text
    assert "Excluded 1 annotator." in excluded.text
    assert (status.is_paused, status.is_excluded, status.paused_reason) == (False, True, "")


def test_status_admin_add_and_change_pages(admin_client, pairwise_study, annotator):
    status = gold.set_excluded(pairwise_study, annotator.pk, True)

    add = admin_client.get(reverse("admin:annotate_annotatorstatus_add"))
    change = admin_client.get(reverse("admin:annotate_annotatorstatus_change", args=[status.pk]))

    assert add.status_code == 200
    assert change.status_code == 200
    assert 'name="study"' in add.text
    assert 'name="study"' not in change.text


def test_study_list_links_to_gold_pages(admin_client, pairwise_study):
    response = admin_client.get(reverse("admin:annotate_study_changelist"))

    assert _quality_url(pairwise_study) in response.text
    assert _attention_url(pairwise_study) in response.text
