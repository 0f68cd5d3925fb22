import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reports.agreement import criterion_agreement
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import PAIRWISE, RATING, judge, make_item, make_study

URL_NAMES = [
    "reports:index",
    "reports:study",
    "reports:judgments_csv",
    "reports:judgments_csv_metadata",
]
STUDY_URL_NAMES = URL_NAMES[1:]


def _url(name, study_uuid):
    if name == "reports:index":
        return reverse(name)
    return reverse(name, args=[study_uuid])


def _report(client, staff, study, query=""):
    client.force_login(staff)
    response = client.get(reverse("reports:study", args=[study.uuid]) + query)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("name", URL_NAMES)
def test_staff_allowed(client, staff, tiny_pairwise, name):
    client.force_login(staff)

    response = client.get(_url(name, tiny_pairwise.study.uuid))

    assert response.status_code == 200


@pytest.mark.parametrize("name", URL_NAMES)
def test_annotator_refused(client, tiny_pairwise, name):
    client.force_login(tiny_pairwise.annotators[0])

    response = client.get(_url(name, tiny_pairwise.study.uuid))

    # A study page is "not found", as for a study that does not exist; the list is forbidden.
    assert response.status_code == (403 if name == "reports:index" else 404)


@pytest.mark.parametrize("name", URL_NAMES)
def test_anonymous_redirected_to_login(client, tiny_pairwise, name):
    response = client.get(_url(name, tiny_pairwise.study.uuid))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", STUDY_URL_NAMES)
def test_unknown_study_not_found(client, staff, tiny_pairwise, name):
    client.force_login(staff)

    response = client.get(_url(name, uuid.uuid4()))

    assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/reports/studies/not-a-uuid/",
        "/reports/studies/42/judgments.csv",
        "/reports/studies/42/judgments.csv.meta.json",
    ],
)
def test_malformed_uuid_not_found(client, staff, path):
    client.force_login(staff)

    assert client.get(path).status_code == 404


@pytest.mark.parametrize("name", URL_NAMES)
def test_post_not_allowed(client, staff, tiny_pairwise, name):
    client.force_login(staff)

    response = client.post(_url(name, tiny_pairwise.study.uuid))

    assert response.status_code == 405


def test_index_counts_judgments(client, staff, tiny_pairwise):
    client.force_login(staff)

    response = client.get(reverse("reports:index"))

    (study,) = response.context["studies"]
    assert (study.item_count, study.judgment_count, study.surplus_count) == (3, 7, 1)
    assert reverse("reports:study", args=[tiny_pairwise.study.uuid]) in response.content.decode()


def test_report_without_judgments(client, staff, db):
    prompt_set = make_prompt_set()
    study = make_study(PAIRWISE, [make_run(prompt_set), make_run(prompt_set)])

    page = _report(client, staff, study)

    assert "Not enough data: there are no judgments yet." in page


def test_report_single_annotator(client, staff, db):
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    a, b = make_run(prompt_set), make_run(prompt_set)
    study = make_study(PAIRWISE, [a, b])
    annotator = make_user()
    judge(make_item(study, prompts[0], a, b), annotator, {"overall": "first"})
    judge(make_item(study, prompts[1], b, a), annotator, {"overall": "tie"})

    page = _report(client, staff, study)

    assert "Not enough data: no item has judgments from two annotators yet." in page
    assert "75.0%" in page


def test_report_pairwise_ranking(client, staff, tiny_pairwise):
    page = _report(client, staff, tiny_pairwise.study)

    positions = [page.index(name) for name in ("Zephyral", "Xenoqua", "Yarrowin")]
    assert positions == sorted(positions)
    for win_rate in ("100.0%", "66.7%", "20.0%"):
        assert win_rate in page
    assert "3–0 of 5" in page
    assert "0–3 of 5" in page


def test_report_pairwise_agreement(client, staff, tiny_pairwise):
    expected = criterion_agreement(tiny_pairwise.study.criteria.get())

    page = _report(client, staff, tiny_pairwise.study)

    assert expected.alpha is not None
    assert f"{expected.alpha:.3f}" in page
    assert "nominal" in page


def test_report_surplus_toggle(client, staff, tiny_pairwise):
    default_page = _report(client, staff, tiny_pairwise.study)
    included_page = _report(client, staff, tiny_pairwise.study, "?surplus=include")

    assert "71.4%" not in default_page
    assert "71.4%" in included_page
    assert "?surplus=include" in default_page


def test_report_links_to_downloads(client, staff, tiny_pairwise):
    page = _report(client, staff, tiny_pairwise.study)

    assert reverse("reports:judgments_csv", args=[tiny_pairwise.study.uuid]) in page
    assert reverse("reports:judgments_csv_metadata", args=[tiny_pairwise.study.uuid]) in page


def test_report_rating(client, staff, db):
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    run = make_run(prompt_set, model_name="Pellamy")
    study = make_study(RATING, [run], criteria=("fluency",))
    first, second = make_user(), make_user()
    for prompt, scores in zip(prompts, [(4, 4), (5, 3), (2, 1)], strict=True):
        item = make_item(study, prompt, run)
        judge(item, first, {"fluency": scores[0]})
        judge(item, second, {"fluency": scores[1]})
    expected = criterion_agreement(study.criteria.get())

    page = _report(client, staff, study)

    assert "Pellamy" in page
    assert "3.17" in page
    assert "ordinal" in page
    assert f"{expected.alpha:.3f}" in page


def test_report_study_without_criteria(client, staff, db):
    prompt_set = make_prompt_set()
    study = make_study(PAIRWISE, [make_run(prompt_set), make_run(prompt_set)], criteria=())

    page = _report(client, staff, study)

    assert "no criteria yet" in page


def test_report_escapes_names_and_has_no_script(client, staff, db):
    prompt_set = make_prompt_set()
    study = make_study(
        PAIRWISE,
        [make_run(prompt_set, model_name="<b>Bold</b>"), make_run(prompt_set)],
        name="<script>alert(1)</script>",
    )

    page = _report(client, staff, study)

    assert "<script" not in page
    assert "&lt;script&gt;" in page
    assert "<b>Bold</b>" not in page


def test_report_queries_do_not_grow_with_judgments(client, staff, tiny_pairwise):
    client.force_login(staff)
    url = reverse("reports:study", args=[tiny_pairwise.study.uuid])
    with CaptureQueriesContext(connection) as before:
        client.get(url)

    item_xz = tiny_pairwise.items[2]
    for value in ("first", "tie", "both_bad"):
        judge(item_xz, make_user(), {"overall": value})
    with CaptureQueriesContext(connection) as after:
        client.get(url)

    assert len(after.captured_queries) == len(before.captured_queries)
