"""The reports API's breakdown options and its export downloads: every table of `manage.py export`, and the archive.

Each download is compared byte for byte with the file the command writes
for the same study and options; sidecars may differ only in their times.
Breakdown figures are compared with the report built directly inside
`reports.answers.limited_to`.
"""

import io
import json
import zipfile
from types import SimpleNamespace

import pandas
import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotate.models import AuditAction, AuditEvent, Item, Judgment, Outcome
from annotate.pseudonyms import pseudonym
from generation.models import Prompt
from reports import archive, export, export_files, ranking_export
from reports.answers import Breakdown, limited_to
from reports.report_json import report_data
from reports.summary import build_study_report
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import PAIRWISE, RATING, judge, make_item, make_study

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(300)]

MISSING_UUID = "00000000-0000-4000-8000-000000000000"
SYSTEM_NAME = "模型甲 Xenoqua"
RATIONALE = "=1+1 中文理由，含逗号, and an ASCII comma"
TABLES = export_files.TABLE_KINDS
WHOLE = {"category": None, "language": None, "left_out_annotator": None}


@pytest.fixture
def mixed(db):
    """A pairwise study of two systems over p0 math/en, p1 math/zh-Hans, p2 poetry/zh-Hans, plus one gold item.

    Three annotators judge each regular item (SYSTEM_NAME is always the
    first response): p0 first, first, tie; p1 second, tie, second; p2
    second, second, first. The first annotator's rationale on p1 is Chinese
    text that a spreadsheet would read as a formula.
    """
    prompt_set = make_prompt_set(prompts=["2+2?", "三加三等于几？", "写一首诗。"])
    prompts = list(prompt_set.prompts.order_by("position"))
    for prompt, category, language in zip(
        prompts, ["math", "math", "poetry"], ["en", "zh-Hans", "zh-Hans"], strict=True
    ):
        Prompt.objects.filter(pk=prompt.pk).update(category=category, language=language)
    x = make_run(prompt_set, model_name=SYSTEM_NAME)
    y = make_run(prompt_set, model_name="Yarrowin")
    study = make_study(PAIRWISE, [x, y], name="对比研究 api exports")
    annotators = [make_user(name) for name in ("export-ann-one", "export-ann-two", "export-ann-three")]
    study.annotators.set(annotators)
    answers = [("first", "first", "tie"), ("second", "tie", "second"), ("second", "second", "first")]
    for position, (prompt, outcomes) in enumerate(zip(prompts, answers, strict=True)):
        item = make_item(study, prompt, x, y)
        for annotator, outcome in zip(annotators, outcomes, strict=True):
            rationale = RATIONALE if (position, annotator) == (1, annotators[0]) else ""
            judge(item, annotator, {"overall": outcome}, rationale=rationale)
    gold = make_item(study, prompts[0], y, x)
    Item.objects.filter(pk=gold.pk).update(is_gold=True, gold_outcome=Outcome.WIN, gold_winner=gold.first_response)
    judge(gold, annotators[0], {"overall": "first"})
    judge(gold, annotators[1], {"overall": "second"})
    Judgment.objects.filter(item=gold, annotator=annotators[0]).update(gold_correct=True)
    Judgment.objects.filter(item=gold, annotator=annotators[1]).update(gold_correct=False)
    return SimpleNamespace(study=study, x=x, y=y, annotators=annotators)


@pytest.fixture
def admin_user(db):
    return make_user("exports-admin", superuser=True)


@pytest.fixture
def api(admin_user):
    client = APIClient()
    client.force_login(admin_user)
    return client


def url(study, suffix=""):
    return f"/api/v1/reports/{study.uuid}/{suffix}"


def export_url(study, table, file_format, metadata=False):
    return url(study, f"exports/{table}/{file_format}/" + ("metadata/" if metadata else ""))


def content(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def field_errors(response) -> dict:
    errors = {}
    for error in response.json()["errors"]:
        errors.setdefault(error["field"], []).append(error["message"])
    return errors


def without_times(value):
    """Drop every `generated_at` key from a JSON value, at any depth."""
    if isinstance(value, dict):
        return {key: without_times(item) for key, item in value.items() if key != "generated_at"}
    if isinstance(value, list):
        return [without_times(item) for item in value]
    return value


def command_export(study, tmp_path, table, file_format, *options):
    """Run `manage.py export` into tmp_path under the API's file name; return (file bytes, sidecar)."""
    name = export_files.default_filename(study, table, file_format)
    path = tmp_path / name
    call_command(
        "export",
        str(study.uuid),
        "--what",
        table,
        "--format",
        file_format,
        "--out",
        str(path),
        *options,
        stdout=io.StringIO(),
    )
    return path.read_bytes(), json.loads((tmp_path / f"{name}.meta.json").read_text(encoding="utf-8"))


def direct_report(study, breakdown=None, **options) -> dict:
    """Build the report without the cache, inside `limited_to(breakdown)`, as JSON the API would send."""
    with limited_to(breakdown or Breakdown()):
        data = report_data(build_study_report(study, **options))
    return json.loads(json.dumps(data))


def xenoqua_counts(body) -> tuple:
    records = {record["system"]["name"]: record for record in body["sections"][0]["pairwise"]["systems"]}
    record = records[SYSTEM_NAME]
    return record["wins"], record["losses"], record["ties"]


# Breakdowns of the JSON report


@pytest.mark.parametrize(
    ("query", "breakdown", "counts"),
    [
        ({"category": "math"}, Breakdown(category="math"), (2, 2, 2)),
        ({"language": "zh-Hans"}, Breakdown(language="zh-Hans"), (1, 4, 1)),
        ({"category": "math", "language": "zh-Hans"}, Breakdown(category="math", language="zh-Hans"), (0, 2, 1)),
    ],
)
def test_report_prompt_breakdown(api, mixed, query, breakdown, counts):
    body = api.get(url(mixed.study), query).json()

    described = body.pop("breakdown")
    assert body == direct_report(mixed.study, breakdown)
    assert xenoqua_counts(body) == counts
    assert described == {**WHOLE, "category": breakdown.category, "language": breakdown.language}


def test_report_whole_study_unchanged(api, mixed):
    body = api.get(url(mixed.study)).json()

    assert body.pop("breakdown") == WHOLE
    assert body == direct_report(mixed.study)
    assert xenoqua_counts(body) == (3, 4, 2)


def test_report_leaves_annotator_out(api, mixed):
    left_out = mixed.annotators[2]
    label = pseudonym(left_out.pk)

    body = api.get(url(mixed.study), {"exclude_annotator": label}).json()

    assert body.pop("breakdown") == {**WHOLE, "left_out_annotator": label}
    assert body == direct_report(mixed.study, Breakdown(left_out_annotator_id=left_out.pk))
    assert xenoqua_counts(body) == (2, 3, 1)


def test_breakdown_after_cached_whole_report(api, mixed):
    """The report cache keys on the breakdown, so a cached whole-study report is not served for a breakdown."""
    whole = api.get(url(mixed.study)).json()
    poetry = api.get(url(mixed.study), {"category": "poetry"}).json()

    assert whole["totals"]["judgments"] == 9
    assert poetry["totals"]["judgments"] == 3
    assert xenoqua_counts(poetry) == (1, 2, 0)


def test_admin_leaves_out_by_username(api, mixed):
    left_out = mixed.annotators[0]

    by_name = api.get(url(mixed.study), {"exclude_annotator": left_out.username, "names": "true"})
    pseudonym_with_names = api.get(url(mixed.study), {"exclude_annotator": pseudonym(left_out.pk), "names": "true"})

    assert by_name.status_code == 200
    assert by_name.json()["breakdown"]["left_out_annotator"] == left_out.username
    assert by_name.json()["totals"]["judgments"] == 6
    assert pseudonym_with_names.status_code == 400
    assert "exclude_annotator" in field_errors(pseudonym_with_names)


def test_manager_names_option_ignored(mixed):
    """A study manager who sends names=true still names annotators by pseudonym, as on the report page."""
    manager = make_user("exports-manager", staff=True)
    mixed.study.managers.add(manager)
    client = APIClient()
    client.force_login(manager)
    left_out = mixed.annotators[1]

    by_pseudonym = client.get(url(mixed.study), {"exclude_annotator": pseudonym(left_out.pk), "names": "true"})
    by_name = client.get(url(mixed.study), {"exclude_annotator": left_out.username, "names": "true"})

    assert by_pseudonym.status_code == 200
    assert by_pseudonym.json()["breakdown"]["left_out_annotator"] == pseudonym(left_out.pk)
    assert by_name.status_code == 400


@pytest.mark.parametrize(
    ("query", "field", "named"),
    [
        ({"category": "cooking"}, "category", ["cooking", "math", "poetry"]),
        ({"category": ""}, "category", ["math, poetry"]),
        ({"category": "Math"}, "category", ["Math"]),
        ({"category": " math"}, "category", ["“ math”"]),
        ({"language": "fr"}, "language", ["fr", "en, zh-Hans"]),
        ({"exclude_annotator": "annotator-ffff"}, "exclude_annotator", ["annotator-ffff", "pseudonym"]),
    ],
)
def test_unknown_breakdown_value_is_400(api, mixed, query, field, named):
    for suffix in ("", "rankings/", "rankings-csv/", "rankings-csv/metadata/"):
        response = api.get(url(mixed.study, suffix), query)

        assert response.status_code == 400, suffix
        errors = field_errors(response)
        assert list(errors) == [field], suffix
        for text in named:
            assert text in errors[field][0], (suffix, errors)
        assert response.json()["detail"].startswith(f"{field}: "), suffix


def test_unknown_values_each_named(api, mixed):
    response = api.get(url(mixed.study), {"category": "cooking", "language": "fr", "exclude_annotator": "nobody"})

    assert response.status_code == 400
    assert set(field_errors(response)) == {"category", "language", "exclude_annotator"}


def test_category_of_uncategorised_study(api, db):
    prompt_set = make_prompt_set()
    Prompt.objects.filter(prompt_set=prompt_set).update(category="")
    study = make_study(RATING, [make_run(prompt_set)])

    response = api.get(url(study), {"category": "writing"})

    assert response.status_code == 400
    (message,) = field_errors(response)["category"]
    assert "has a category" in message
    assert "writing" in message


def test_bad_breakdown_changes_nothing(api, mixed):
    api.get(url(mixed.study, "rankings/"), {"category": "cooking"})

    assert not AuditEvent.objects.exists()


# Breakdowns of the rankings


def test_rankings_limited_to_breakdown(api, mixed):
    study = mixed.study
    with limited_to(Breakdown(language="zh-Hans")):
        expected = ranking_export.english_rankings(study)

    body = api.get(url(study, "rankings/"), {"language": "zh-Hans"}).json()
    csv_text = content(api.get(url(study, "rankings-csv/"), {"language": "zh-Hans"})).decode("utf-8")
    metadata = api.get(url(study, "rankings-csv/metadata/"), {"language": "zh-Hans"}).json()
    whole = api.get(url(study, "rankings/")).json()

    assert body["breakdown"] == {**WHOLE, "language": "zh-Hans"}
    assert body["criteria"] == json.loads(json.dumps(ranking_export.rankings_json(study, expected)["criteria"]))
    assert csv_text == ranking_export.rankings_csv(expected)
    assert metadata["breakdown"] == {**WHOLE, "language": "zh-Hans"}
    del metadata["breakdown"]
    assert without_times(metadata) == without_times(
        json.loads(json.dumps(ranking_export.rankings_metadata(study, expected)))
    )
    assert whole["breakdown"] == WHOLE
    assert whole["criteria"] != body["criteria"]


# Downloads against `manage.py export`


@pytest.mark.parametrize(
    ("file_format", "query", "command_options"),
    [("csv", {}, ["--bom"]), ("csv", {"bom": "false"}, []), ("jsonl", {}, [])],
    ids=["csv-bom", "csv", "jsonl"],
)
@pytest.mark.parametrize("table", TABLES)
def test_download_matches_command(api, mixed, tmp_path, table, file_format, query, command_options):
    study = mixed.study

    response = api.get(export_url(study, table, file_format), query)
    metadata = api.get(export_url(study, table, file_format, metadata=True), query)
    expected_bytes, expected_metadata = command_export(study, tmp_path, table, file_format, *command_options)

    assert response.status_code == 200
    assert response.streaming
    assert content(response) == expected_bytes
    assert metadata.status_code == 200
    assert without_times(metadata.json()) == without_times(expected_metadata)
    assert metadata.json()["generated_at"]
    file_name = export_files.default_filename(study, table, file_format)
    assert f'filename="{file_name}"' in response["Content-Disposition"]
    assert f'filename="{file_name}.meta.json"' in metadata["Content-Disposition"]
    assert response["Content-Type"] == {"csv": "text/csv", "jsonl": "application/x-ndjson"}[file_format] + (
        "; charset=utf-8"
    )


@pytest.mark.parametrize(
    ("api_query", "page_query", "command_options"),
    [({}, {}, ["--bom"]), ({"bom": "false"}, {"bom": "no"}, [])],
    ids=["bom", "no-bom"],
)
@pytest.mark.parametrize(
    ("table", "api_suffix", "page_name"),
    [
        ("judgments", "judgments-csv/", "reports:judgments_csv"),
        ("gold", "gold-judgments-csv/", "reports:gold_judgments_csv"),
        ("rankings", "rankings-csv/", "reports:rankings_csv"),
    ],
)
def test_report_csv_files_match_command(
    api, admin_user, mixed, tmp_path, table, api_suffix, page_name, api_query, page_query, command_options
):
    page = Client()
    page.force_login(admin_user)

    from_api = content(api.get(url(mixed.study, api_suffix), api_query))
    from_page = content(page.get(reverse(page_name, args=[mixed.study.uuid]), page_query))
    expected_bytes, expected_metadata = command_export(mixed.study, tmp_path, table, "csv", *command_options)
    api_metadata = api.get(url(mixed.study, f"{api_suffix}metadata/"), api_query).json()

    assert from_api == expected_bytes
    assert from_page == expected_bytes
    assert expected_bytes.startswith(b"\xef\xbb\xbf") == bool(command_options)
    assert api_metadata["format"]["encoding"] == expected_metadata["format"]["encoding"]


@pytest.mark.parametrize("table", ["judgments", "gold", "annotators", "agreement"])
def test_download_with_names_matches_command(api, mixed, tmp_path, table):
    response = api.get(export_url(mixed.study, table, "jsonl"), {"names": "true"})
    metadata = api.get(export_url(mixed.study, table, "jsonl", metadata=True), {"names": "true"})
    expected_bytes, expected_metadata = command_export(mixed.study, tmp_path, table, "jsonl", "--names")

    body = content(response)
    assert body == expected_bytes
    assert without_times(metadata.json()) == without_times(expected_metadata)
    if table != "agreement":
        assert mixed.annotators[0].username.encode() in body


def test_rating_study_downloads_match_command(api, tmp_path):
    prompt_set = make_prompt_set()
    run = make_run(prompt_set, model_name="评分模型 Pellamy")
    study = make_study(RATING, [run], criteria=("fluency",))
    raters = [make_user("rater-a"), make_user("rater-b")]
    for prompt, scores in zip(prompt_set.prompts.order_by("position"), [(4, 4), (5, 3), (2, 1)], strict=True):
        item = make_item(study, prompt, run)
        for rater, score in zip(raters, scores, strict=True):
            judge(item, rater, {"fluency": score})

    for table in ("judgments", "models", "agreement"):
        response = api.get(export_url(study, table, "csv"))
        expected_bytes, _metadata = command_export(study, tmp_path, table, "csv", "--bom")
        assert content(response) == expected_bytes, table
    pairs = api.get(export_url(study, "pairs", "csv"))
    assert pairs.status_code == 404
    assert "pairwise" in pairs.json()["detail"]


def test_archive_matches_command(api, mixed, tmp_path):
    path = tmp_path / export_files.default_filename(mixed.study, "archive", "zip")
    call_command("export", str(mixed.study.uuid), "--what", "archive", "--out", str(path), stdout=io.StringIO())

    response = api.get(url(mixed.study, "archive/"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert f'filename="{path.name}"' in response["Content-Disposition"]
    downloaded = zipfile.ZipFile(io.BytesIO(content(response)))
    written = zipfile.ZipFile(path)
    assert downloaded.namelist() == written.namelist()
    assert "exports/judgments.jsonl" in downloaded.namelist()
    for name in written.namelist():
        if name.endswith(".json"):
            got = json.loads(downloaded.read(name))
            assert without_times(got) == without_times(json.loads(written.read(name))), name
        else:
            assert downloaded.read(name) == written.read(name), name
    event = AuditEvent.objects.filter(actor__isnull=False).get(action=AuditAction.EXPORTED)
    assert event.details == {"file": "archive.zip", "annotator_names": False}


def test_archive_streams_before_figures(api, mixed, monkeypatch):
    # The first bytes leave before the report is computed, and the pieces make one valid zip.
    monkeypatch.setattr(archive, "STREAM_BYTES", 1)
    reports_computed = []
    figure_report = export_files.figure_report

    def recording_figure_report(*args, **kwargs):
        reports_computed.append(args[0].pk)
        return figure_report(*args, **kwargs)

    monkeypatch.setattr(export_files, "figure_report", recording_figure_report)

    response = api.get(url(mixed.study, "archive/"))
    pieces = iter(response.streaming_content)
    first = next(pieces)
    computed_before_first = list(reports_computed)
    rest = list(pieces)

    assert response.streaming
    assert first.startswith(b"PK\x03\x04")
    assert computed_before_first == []
    assert reports_computed == [mixed.study.pk]
    assert len(rest) > 10
    streamed = zipfile.ZipFile(io.BytesIO(first + b"".join(rest)))
    assert streamed.testzip() is None
    assert "manifest.json" in streamed.namelist()


def test_archive_head_builds_nothing(api, mixed):
    response = api.head(url(mixed.study, "archive/"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "archive" in response["Content-Disposition"]
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORTED).exists()


def test_archive_with_names_lists_annotators(api, mixed):
    response = api.get(url(mixed.study, "archive/"), {"names": "true"})

    spec = json.loads(zipfile.ZipFile(io.BytesIO(content(response))).read("study.json"))
    assert spec["annotators"] == sorted(user.username for user in mixed.annotators)


# Formats, streaming and options


def test_chinese_text_round_trip_in_csv(api, mixed):
    for query in ({}, {"bom": "no"}):
        judgments = content(api.get(export_url(mixed.study, "judgments", "csv"), query))
        models = content(api.get(export_url(mixed.study, "models", "csv"), query))

        assert judgments.startswith(b"\xef\xbb\xbf") == (query == {})
        frame = pandas.read_csv(io.BytesIO(judgments), encoding="utf-8-sig", dtype=str, keep_default_na=False)
        assert f"'{RATIONALE}" in set(frame["rationale"])
        assert set(frame["study"]) == {"对比研究 api exports"}
        assert {"en", "zh-Hans"} == set(frame["prompt_language"])
        assert SYSTEM_NAME in set(frame["first_system"])
        model_frame = pandas.read_csv(io.BytesIO(models), encoding="utf-8-sig", keep_default_na=False)
        assert set(model_frame["system"]) == {SYSTEM_NAME, "Yarrowin"}


def test_chinese_text_round_trip_in_jsonl(api, mixed):
    body = content(api.get(export_url(mixed.study, "judgments", "jsonl")))

    frame = pandas.read_json(io.BytesIO(body), lines=True)
    assert RATIONALE in set(frame["rationale"])
    assert "\\u" not in body.decode("utf-8")


def test_judgments_streamed_in_chunks(api, mixed, monkeypatch):
    """Rows are written as they are read, one chunk per export.ROWS_PER_CHUNK rows, never the whole file at once."""
    monkeypatch.setattr(export, "ROWS_PER_CHUNK", 1)

    for file_format in ("csv", "jsonl"):
        response = api.get(export_url(mixed.study, "judgments", file_format))
        chunks = list(response.streaming_content)
        # Nine judgments on one criterion, then an empty final chunk; CSV has the header in the first chunk.
        assert len(chunks) == 10, file_format
        assert chunks[-1] == b"", file_format


def test_download_recorded(api, mixed, admin_user):
    content(api.get(export_url(mixed.study, "agreement", "jsonl")))
    api.get(export_url(mixed.study, "agreement", "jsonl", metadata=True))

    event = AuditEvent.objects.get(action=AuditAction.EXPORTED)
    assert event.actor == admin_user
    assert event.details == {"file": "agreement.jsonl", "annotator_names": False}


def test_bom_with_jsonl_is_400(api, mixed):
    for suffix in ("", "metadata/"):
        response = api.get(export_url(mixed.study, "models", "jsonl") + suffix, {"bom": "true"})
        assert response.status_code == 400, suffix
        assert "bom" in field_errors(response), suffix
    assert not AuditEvent.objects.exists()


def test_bad_bom_value_is_400(api, mixed):
    response = api.get(export_url(mixed.study, "models", "csv"), {"bom": "perhaps"})

    assert response.status_code == 400
    assert "bom" in field_errors(response)


@pytest.mark.parametrize(
    ("table", "file_format", "named"),
    [
        ("figures", "csv", "figures"),
        ("models", "xlsx", "xlsx"),
        ("archive", "csv", "archive"),
        ("rankings", "csv", "rankings"),
    ],
)
def test_unknown_table_or_format_is_404(api, mixed, table, file_format, named):
    for metadata in (False, True):
        response = api.get(export_url(mixed.study, table, file_format, metadata=metadata))
        assert response.status_code == 404
        assert named in response.json()["detail"]


def test_accept_header_chooses_file(api, mixed):
    jsonl = api.get(export_url(mixed.study, "models", "jsonl"), HTTP_ACCEPT="application/x-ndjson")
    csv_file = api.get(export_url(mixed.study, "models", "csv"), HTTP_ACCEPT="text/csv")
    archive = api.get(url(mixed.study, "archive/"), HTTP_ACCEPT="application/zip")

    assert jsonl.status_code == 200
    assert csv_file.status_code == 200
    assert archive.status_code == 200


# Access


NEW_ENDPOINTS = [
    "exports/judgments/jsonl/",
    "exports/judgments/jsonl/metadata/",
    "exports/annotators/csv/",
    "exports/pairs/csv/metadata/",
    "archive/",
]


def test_anonymous_gets_401(mixed):
    for suffix in NEW_ENDPOINTS:
        assert APIClient().get(url(mixed.study, suffix)).status_code == 401, suffix


@pytest.mark.parametrize("persona", ["annotator", "other_manager"])
def test_outsiders_get_404_as_for_missing_study(mixed, persona):
    other = make_study(RATING, [make_run(make_prompt_set())], name="someone else's")
    user = mixed.annotators[0] if persona == "annotator" else make_user("exports-other-manager", staff=True)
    if persona == "other_manager":
        other.managers.add(user)
    client = APIClient()
    client.force_login(user)

    for suffix in NEW_ENDPOINTS:
        response = client.get(url(mixed.study, suffix))
        missing = client.get(f"/api/v1/reports/{MISSING_UUID}/{suffix}")
        assert response.status_code == 404, suffix
        assert response.json() == missing.json(), suffix
    assert client.get(url(mixed.study), {"category": "math"}).status_code == 404
    assert not AuditEvent.objects.exists()


def test_manager_of_study_may_download(mixed):
    manager = make_user("exports-own-manager", staff=True)
    mixed.study.managers.add(manager)
    client = APIClient()
    client.force_login(manager)

    for suffix in NEW_ENDPOINTS:
        assert client.get(url(mixed.study, suffix)).status_code == 200, suffix


def test_token_auth_downloads(mixed):
    manager = make_user("exports-token-manager", staff=True, password="token-pass-1")
    mixed.study.managers.add(manager)
    token = Client().post(
        "/api/v1/auth/token/",
        {"username": "exports-token-manager", "password": "token-pass-1"},
        content_type="application/json",
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")

    judgments = client.get(export_url(mixed.study, "judgments", "jsonl"))
    report = client.get(url(mixed.study), {"language": "en"})

    assert judgments.status_code == 200
    assert len(content(judgments).splitlines()) == 9
    assert report.status_code == 200
    assert report.json()["breakdown"]["language"] == "en"


def test_wrong_method_is_405(api, mixed):
    for suffix in NEW_ENDPOINTS:
        assert api.post(url(mixed.study, suffix)).status_code == 405, suffix
        assert api.delete(url(mixed.study, suffix)).status_code == 405, suffix


# OpenAPI schema


def test_schema_describes_new_parameters():
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    def parameters(path):
        return {parameter["name"]: parameter for parameter in schema["paths"][path]["get"]["parameters"]}

    for path in ("/api/v1/reports/{uuid}/", "/api/v1/reports/{uuid}/rankings/"):
        assert {"category", "language", "exclude_annotator", "names"} <= set(parameters(path)), path
    export_parameters = parameters("/api/v1/reports/{uuid}/exports/{table}/{file_format}/")
    assert sorted(export_parameters["table"]["schema"]["enum"]) == sorted(TABLES)
    assert sorted(export_parameters["file_format"]["schema"]["enum"]) == ["csv", "jsonl"]
    assert "bom" in export_parameters
    assert "/api/v1/reports/{uuid}/exports/{table}/{file_format}/metadata/" in schema["paths"]
    assert "/api/v1/reports/{uuid}/archive/" in schema["paths"]
