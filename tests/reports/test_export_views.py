"""Report page downloads of the table exports in CSV and JSONL, with their sidecar descriptions."""

import io
import json
import uuid

import pandas
import pytest
from django.urls import reverse

from annotate.models import AuditAction, AuditEvent
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import RATING, make_study

pytestmark = pytest.mark.django_db

KINDS = ("judgments", "gold", "annotators", "models", "pairs", "agreement")


def _download(client, study, what, file_format, query=""):
    return client.get(reverse("reports:table_download", args=[study.uuid, what, file_format]) + query)


def _content(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.mark.parametrize("file_format", ["csv", "jsonl"])
@pytest.mark.parametrize("what", KINDS)
def test_download_each_kind(client, staff, tiny_pairwise, what, file_format):
    client.force_login(staff)

    response = _download(client, tiny_pairwise.study, what, file_format)
    content = _content(response)
    metadata = client.get(reverse("reports:table_metadata", args=[tiny_pairwise.study.uuid, what, file_format]))

    assert response.status_code == 200
    assert metadata.status_code == 200
    columns = [column["name"] for column in json.loads(metadata.content)["columns"]]
    if file_format == "csv":
        assert content.startswith(b"\xef\xbb\xbf")
        frame = pandas.read_csv(io.BytesIO(content), encoding="utf-8-sig", dtype=str, keep_default_na=False)
        assert list(frame.columns) == columns
    elif what == "gold":
        # The fixture has no gold items, so the JSONL file is empty.
        assert content == b""
    else:
        frame = pandas.read_json(io.BytesIO(content), lines=True)
        assert list(frame.columns) == columns
    assert response["Content-Disposition"].endswith(f'.{file_format}"')


def test_download_without_bom(client, staff, tiny_pairwise):
    client.force_login(staff)

    content = _content(_download(client, tiny_pairwise.study, "models", "csv", "?bom=no"))

    assert content.startswith(b"criterion,")


def test_pairs_counts_match(client, staff, tiny_pairwise):
    client.force_login(staff)

    rows = [
        json.loads(line) for line in _content(_download(client, tiny_pairwise.study, "pairs", "jsonl")).splitlines()
    ]

    by_pair = {(row["system"], row["opponent"]): row for row in rows}
    x, y = tiny_pairwise.x.model.name, tiny_pairwise.y.model.name
    assert (by_pair[x, y]["wins"], by_pair[x, y]["ties"], by_pair[x, y]["both_bad"]) == (3, 1, 1)


def test_download_recorded(client, staff, tiny_pairwise):
    client.force_login(staff)

    _content(_download(client, tiny_pairwise.study, "agreement", "csv"))

    event = AuditEvent.objects.get(action=AuditAction.EXPORTED)
    assert event.details == {"file": "agreement.csv", "annotator_names": False}


def test_manager_of_study_allowed(client, tiny_pairwise):
    manager = make_user(staff=True)
    tiny_pairwise.study.managers.add(manager)
    client.force_login(manager)

    assert _download(client, tiny_pairwise.study, "models", "csv").status_code == 200


def test_manager_of_other_study_not_found(client, tiny_pairwise):
    other = make_study(RATING, [make_run(make_prompt_set())], name="other")
    manager = make_user(staff=True)
    other.managers.add(manager)
    client.force_login(manager)

    assert _download(client, tiny_pairwise.study, "models", "csv").status_code == 404
    assert not AuditEvent.objects.exists()


def test_annotator_rejected(client, tiny_pairwise):
    tiny_pairwise.study.annotators.add(tiny_pairwise.annotators[0])
    client.force_login(tiny_pairwise.annotators[0])

    assert _download(client, tiny_pairwise.study, "judgments", "csv").status_code in (302, 403, 404)
    assert not AuditEvent.objects.exists()


def test_anonymous_sent_to_login(client, tiny_pairwise):
    response = _download(client, tiny_pairwise.study, "judgments", "csv")

    assert response.status_code == 302


@pytest.mark.parametrize(
    ("what", "file_format"), [("figures", "csv"), ("models", "xlsx"), ("archive", "csv"), ("rankings", "csv")]
)
def test_unknown_kind_or_format_not_found(client, staff, tiny_pairwise, what, file_format):
    client.force_login(staff)

    assert _download(client, tiny_pairwise.study, what, file_format).status_code == 404


def test_pairs_of_rating_study_not_found(client, staff, db):
    study = make_study(RATING, [make_run(make_prompt_set())], name="scores-only")
    client.force_login(staff)

    assert _download(client, study, "pairs", "csv").status_code == 404


def test_unknown_study_not_found(client, staff, db):
    client.force_login(staff)

    response = client.get(reverse("reports:table_download", args=[uuid.uuid4(), "models", "csv"]))

    assert response.status_code == 404


def test_post_not_allowed(client, staff, tiny_pairwise):
    client.force_login(staff)

    response = client.post(reverse("reports:table_download", args=[tiny_pairwise.study.uuid, "models", "csv"]))

    assert response.status_code == 405


def test_report_links_to_table_downloads(client, staff, tiny_pairwise):
    client.force_login(staff)

    page = client.get(reverse("reports:study", args=[tiny_pairwise.study.uuid])).content.decode()

    for what in ("models", "pairs", "agreement"):
        assert reverse("reports:table_download", args=[tiny_pairwise.study.uuid, what, "jsonl"]) in page
        assert reverse("reports:table_metadata", args=[tiny_pairwise.study.uuid, what, "csv"]) in page


def test_figure_downloads_share_one_report(client, staff, tiny_pairwise, monkeypatch):
    from django.core.cache import cache

    from reports import figure_export

    computed = []
    build = figure_export.build_study_report

    def recording_build(study, **options):
        computed.append(options)
        return build(study, **options)

    monkeypatch.setattr(figure_export, "build_study_report", recording_build)
    cache.clear()
    client.force_login(staff)

    for what in ("models", "pairs", "agreement"):
        for file_format in ("csv", "jsonl"):
            assert _download(client, tiny_pairwise.study, what, file_format).status_code == 200
        metadata = client.get(reverse("reports:table_metadata", args=[tiny_pairwise.study.uuid, what, "csv"]))
        assert metadata.status_code == 200
    names_shown = _download(client, tiny_pairwise.study, "models", "csv", "?names=show")

    assert names_shown.status_code == 200
    # One report with pseudonyms for every download, and one with names for the last.
    assert len(computed) == 2
    cache.clear()
