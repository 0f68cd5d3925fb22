"""Annotators are named by pseudonym in every report and export unless a site admin requests names."""

import csv
import io
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from annotate.pseudonyms import (
    AnnotatorLabels,
    NamedAnnotator,
    annotator_label,
    annotator_names_shown,
    may_see_names,
    names_for,
    pseudonym,
)
from reports.export import stream_judgments_csv
from reports.gold_export import stream_gold_judgments_csv
from tests.factories import make_user
from tests.people import EMAILS, NAMES, build_named_study


@pytest.fixture
def named_study(db):
    return build_named_study()


@pytest.fixture
def site_admin(db):
    return make_user("site-boss", superuser=True)


@pytest.fixture
def manager(named_study):
    user = make_user("study-boss", staff=True)
    named_study.study.managers.add(user)
    return user


def _logged_in(client, user):
    client.force_login(user)
    return client


def _text(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode("utf-8")
    return response.content.decode("utf-8")


def _assert_no_account_names(text: str) -> None:
    for name in NAMES:
        assert name.lower() not in text.lower()
    for email in EMAILS:
        assert email not in text


def _report_urls(study) -> list[str]:
    return [
        reverse("reports:study", args=[study.uuid]),
        reverse("reports:judgments_csv", args=[study.uuid]),
        reverse("reports:judgments_csv_metadata", args=[study.uuid]),
        reverse("reports:gold_judgments_csv", args=[study.uuid]),
        reverse("reports:gold_judgments_csv_metadata", args=[study.uuid]),
        reverse("reports:rankings_csv_metadata", args=[study.uuid]),
        reverse("reports:rankings_json", args=[study.uuid]),
    ]


# The pseudonym itself


def test_pseudonym_format_and_stability(db):
    first = pseudonym(42)

    assert re.fullmatch(r"annotator-[0-9a-f]{10}", first)
    assert pseudonym(42) == first
    assert pseudonym(43) != first


def test_pseudonym_differs_per_installation(db):
    here = pseudonym(42)

    with override_settings(SECRET_KEY="another-installation-" * 3):
        elsewhere = pseudonym(42)

    assert elsewhere != here


def test_label_follows_names_block(db):
    assert annotator_label(7, "someone") == pseudonym(7)
    with annotator_names_shown():
        assert annotator_label(7, "someone") == "someone"
        assert str(NamedAnnotator(7, "someone")) == "someone"
    assert str(NamedAnnotator(7, "someone")) == pseudonym(7)


def test_export_labels_computed_once_per_annotator(db):
    labels = AnnotatorLabels(names=False)

    assert labels.label(5, "x") == pseudonym(5)
    assert labels.label(5, "x") == pseudonym(5)
    assert AnnotatorLabels(names=True).label(5, "x") == "x"


def test_only_active_superusers_may_see_names(db):
    boss = make_user("boss", superuser=True)
    retired = make_user("retired", superuser=True)
    retired.is_active = False
    retired.save()

    assert may_see_names(boss)
    assert not may_see_names(retired)
    assert not may_see_names(make_user("mgr", staff=True))
    assert not may_see_names(make_user("ann"))
    assert names_for(boss, True)
    assert not names_for(boss, False)
    assert not names_for(make_user("mgr2", staff=True), True)


# Pages and downloads


@pytest.mark.parametrize("index", range(7))
def test_pages_and_downloads_use_pseudonyms(client, site_admin, named_study, index):
    url = _report_urls(named_study.study)[index]

    response = _logged_in(client, site_admin).get(url)

    assert response.status_code == 200
    _assert_no_account_names(_text(response))


def test_report_page_lists_pseudonyms(client, site_admin, named_study):
    page = _text(_logged_in(client, site_admin).get(reverse("reports:study", args=[named_study.study.uuid])))

    for person in named_study.people:
        assert pseudonym(person.pk) in page
    # Cohen's kappa names the only two annotators.
    assert "judged by both" in page
    assert "Show account names" in page


def test_site_admin_may_ask_for_names(client, site_admin, named_study):
    study = named_study.study
    client = _logged_in(client, site_admin)

    page = _text(client.get(reverse("reports:study", args=[study.uuid]) + "?names=show"))
    body = _text(client.get(reverse("reports:judgments_csv", args=[study.uuid]) + "?names=show"))
    gold = _text(client.get(reverse("reports:gold_judgments_csv", args=[study.uuid]) + "?names=show"))
    meta = json.loads(_text(client.get(reverse("reports:judgments_csv_metadata", args=[study.uuid]) + "?names=show")))

    for name in NAMES:
        assert name in page
        assert name in body
        assert name in gold
    assert "Show pseudonyms" in page
    assert 'judgments.csv?names=show"' in page
    assert meta["format"]["annotator_names"].startswith("account usernames")
    assert {row["annotator"] for row in meta["figures"]["agreement"]["annotators"]} == set(NAMES)


def test_manager_asking_for_names_gets_pseudonyms(client, manager, named_study):
    client = _logged_in(client, manager)

    for url in _report_urls(named_study.study):
        response = client.get(url + "?names=show")
        assert response.status_code == 200, url
        _assert_no_account_names(_text(response))
    page = _text(client.get(reverse("reports:study", args=[named_study.study.uuid])))
    assert "Show account names" not in page


def test_metadata_states_pseudonyms(client, site_admin, named_study):
    url = reverse("reports:gold_judgments_csv_metadata", args=[named_study.study.uuid])

    meta = json.loads(_text(_logged_in(client, site_admin).get(url)))

    assert meta["format"]["annotator_names"].startswith("stable pseudonyms")


def test_csv_columns_hold_pseudonyms(named_study):
    study = named_study.study
    expected = {pseudonym(person.pk) for person in named_study.people}

    rows = list(csv.DictReader(io.StringIO("".join(stream_judgments_csv(study)).lstrip("\ufeff"))))
    gold_rows = list(csv.DictReader(io.StringIO("".join(stream_gold_judgments_csv(study)).lstrip("\ufeff"))))

    assert {row["annotator"] for row in rows} == expected
    assert {row["annotator"] for row in gold_rows} == expected


def test_breakdown_leaves_out_by_pseudonym(client, site_admin, named_study):
    study = named_study.study
    left_out = pseudonym(named_study.people[1].pk)
    client = _logged_in(client, site_admin)

    by_pseudonym = client.get(reverse("reports:study", args=[study.uuid]) + f"?exclude_annotator={left_out}")
    by_name = client.get(reverse("reports:study", args=[study.uuid]) + f"?exclude_annotator={NAMES[1]}")

    assert by_pseudonym.context["report"].totals.judgments == 3
    assert by_name.context["report"].totals.judgments == 6
    assert "No annotator named" in _text(by_name)


def test_admin_pages_use_pseudonyms(client, site_admin, named_study):
    client = _logged_in(client, site_admin)
    study = named_study.study

    for name in ("progress", "quality"):
        page = _text(client.get(reverse(f"admin:annotate_study_{name}", args=[study.pk])))
        named = _text(client.get(reverse(f"admin:annotate_study_{name}", args=[study.pk]) + "?names=show"))
        _assert_no_account_names(page.replace("site-boss", ""))
        assert pseudonym(named_study.people[0].pk) in page
        assert NAMES[0] in named


# REST API


@pytest.fixture
def api(site_admin):
    client = APIClient()
    client.force_authenticate(site_admin)
    return client


def _api_urls(study) -> list[str]:
    base = f"/api/v1/reports/{study.uuid}/"
    return [base, base + "judgments-csv/", base + "judgments-csv/metadata/", base + "gold-judgments-csv/"]


def test_api_uses_pseudonyms(api, named_study):
    for url in _api_urls(named_study.study):
        response = api.get(url)
        assert response.status_code == 200, url
        _assert_no_account_names(_text(response))

    body = api.get(_api_urls(named_study.study)[0]).json()
    labels = [row["annotator"] for row in body["annotators"]]
    assert labels == sorted(pseudonym(person.pk) for person in named_study.people)
    assert "username" not in body["annotators"][0]
    cohen = body["sections"][0]["agreement"]["cohen"]
    assert sorted(cohen["annotators"]) == labels


def test_api_names_for_site_admin_only(api, manager, named_study):
    urls = [url + "?names=true" for url in _api_urls(named_study.study)]

    for url in urls:
        assert all(name in _text(api.get(url)) for name in NAMES), url

    api.force_authenticate(manager)
    for url in urls:
        response = api.get(url)
        assert response.status_code == 200, url
        _assert_no_account_names(_text(response))


def test_api_names_option_must_be_boolean(api, named_study):
    response = api.get(_api_urls(named_study.study)[0] + "?names=perhaps")

    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["names"]


def test_user_lookup_unchanged_by_pseudonyms(named_study):
    """The account itself keeps its name until erased; only what reports show changes."""
    assert get_user_model().objects.filter(username=NAMES[0]).exists()
