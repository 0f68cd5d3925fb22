"""`manage.py export STUDY --what ... --out FILE [--names]`."""

import csv
import io
import json
import zipfile
from types import SimpleNamespace

import pandas
import pytest
from django.core.management import CommandError, call_command

from annotate.models import AuditAction, AuditEvent, Item, Outcome
from annotate.pseudonyms import pseudonym
from annotate.study_spec import read_study_spec
from reports import export_files
from reports.summary import build_study_report
from tests.factories import make_prompt_set, make_run, make_user
from tests.people import NAMES, build_named_study
from tests.reports.builders import PAIRWISE, RATING, judge, make_item, make_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def named_study(db):
    return build_named_study()


def _export(study, tmp_path, *options, filename="out.csv"):
    path = tmp_path / filename
    call_command("export", study.name, "--out", str(path), *options, stdout=io.StringIO())
    # Bytes, so the CSV's CRLF line ends are read as written.
    text = path.read_bytes().decode("utf-8")
    metadata = json.loads((tmp_path / f"{filename}.meta.json").read_text(encoding="utf-8"))
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff")))), text, metadata


@pytest.mark.parametrize("what", ["judgments", "gold", "annotators"])
def test_export_uses_pseudonyms(named_study, tmp_path, what):
    rows, text, metadata = _export(named_study.study, tmp_path, "--what", what)

    assert {row["annotator"] for row in rows} == {pseudonym(person.pk) for person in named_study.people}
    assert all(name not in text for name in NAMES)
    assert metadata["format"]["annotator_names"].startswith("stable pseudonyms")
    assert not text.startswith("\ufeff")
    assert "\r\n" in text


@pytest.mark.parametrize("what", ["judgments", "gold", "annotators"])
def test_export_with_names(named_study, tmp_path, what):
    rows, _text, metadata = _export(named_study.study, tmp_path, "--what", what, "--names")

    assert {row["annotator"] for row in rows} == set(NAMES)
    assert metadata["format"]["annotator_names"].startswith("account usernames")


def test_annotator_figures(named_study, tmp_path):
    rows, _text, _metadata = _export(named_study.study, tmp_path, "--what", "annotators")

    first = next(row for row in rows if row["annotator"] == pseudonym(named_study.people[0].pk))
    assert first["judgments"] == "3"
    assert first["gold_judgments"] == "1"
    assert first["gold_correct"] == "1"
    assert first["is_excluded"] == "false"


def test_rankings_export(named_study, tmp_path):
    rows, _text, metadata = _export(named_study.study, tmp_path, "--what", "rankings")

    assert {row["system"] for row in rows} == {"Xenoqua", "Yarrowin"}
    assert metadata["method"]


def test_export_recorded(named_study, tmp_path):
    _export(named_study.study, tmp_path, "--names")

    event = AuditEvent.objects.get(action=AuditAction.EXPORTED)
    assert event.actor is None
    assert event.details == {"file": "out.csv", "via": "export command", "annotator_names": True}


def test_export_by_uuid_default_name(named_study, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    call_command("export", str(named_study.study.uuid), stdout=io.StringIO())

    assert (tmp_path / f"{named_study.study.name}-judgments.csv").exists()


def test_unknown_study(db, tmp_path):
    with pytest.raises(CommandError, match="No study named 'no-such-study'"):
        call_command("export", "no-such-study", "--out", str(tmp_path / "x.csv"))

    assert not AuditEvent.objects.exists()


def test_missing_folder(named_study, tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export", named_study.study.name, "--out", str(tmp_path / "missing" / "x.csv"))

    assert not AuditEvent.objects.exists()


# Every kind in both formats, read back with pandas

TABLE_KINDS = ("judgments", "gold", "annotators", "models", "pairs", "agreement")
FORMULA = '=HYPERLINK("http://127.0.0.1/")'


@pytest.fixture
def cjk_study(db):
    """A pairwise study with a Chinese system name, a Chinese rationale and a formula-like rationale.

    Xenoqua against 通义-小: Xenoqua wins 2, one tie; one surplus judgment
    (a 通义-小 win) that the figures leave out; one judgment on a gold item.
    """
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    x = make_run(prompt_set, model_name="Xenoqua")
    t = make_run(prompt_set, model_name="通义-小")
    study = make_study(PAIRWISE, [x, t], name="对比 study")
    ann1, ann2 = make_user("ann-one"), make_user("ann-two")
    study.annotators.set([ann1, ann2])
    first, second = make_item(study, prompts[0], x, t), make_item(study, prompts[1], t, x)
    judge(first, ann1, {"overall": "first"}, rationale="回答清楚，正确。")
    judge(first, ann2, {"overall": "first"}, rationale=FORMULA)
    judge(second, ann1, {"overall": "tie"}, rationale="-5 points")
    judge(second, ann2, {"overall": "first"}, surplus=True)
    gold = make_item(study, prompts[2], x, t)
    Item.objects.filter(pk=gold.pk).update(is_gold=True, gold_outcome=Outcome.WIN, gold_winner=gold.first_response)
    judge(gold, ann1, {"overall": "first"})
    return SimpleNamespace(study=study, x=x, t=t)


def _write(study, path, *options):
    call_command("export", study.name, "--out", str(path), "--rounds", "50", *options, stdout=io.StringIO())
    return json.loads(path.with_name(path.name + ".meta.json").read_text(encoding="utf-8"))


def _read(path, file_format):
    if file_format == "csv":
        return pandas.read_csv(path, encoding="utf-8-sig", keep_default_na=False, dtype=str)
    return pandas.read_json(path, lines=True, dtype=False)


@pytest.mark.parametrize("file_format", ["csv", "jsonl"])
@pytest.mark.parametrize("what", TABLE_KINDS)
def test_each_kind_round_trip(cjk_study, tmp_path, what, file_format):
    path = tmp_path / f"out.{file_format}"

    metadata = _write(cjk_study.study, path, "--what", what)
    frame = _read(path, file_format)

    assert list(frame.columns) == [column["name"] for column in metadata["columns"]]
    assert len(frame) > 0
    assert metadata["file"] == f"out.{file_format}"
    assert metadata["export"] == what
    assert set(metadata["versions"]) == {"humeval", "numpy", "scipy", "krippendorff", "Django"}
    assert metadata["format"]["annotator_names"].startswith("stable pseudonyms")
    assert not path.read_bytes().startswith(b"\xef\xbb\xbf")


def test_format_from_suffix(cjk_study, tmp_path):
    path = tmp_path / "judgments.jsonl"

    metadata = _write(cjk_study.study, path)

    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert first["study"] == "对比 study"
    assert metadata["format"]["dialect"].startswith("JSON Lines")


def test_format_option_overrides_suffix(cjk_study, tmp_path):
    path = tmp_path / "judgments.txt"

    _write(cjk_study.study, path, "--format", "jsonl")

    assert json.loads(path.read_text(encoding="utf-8").splitlines()[0])["study"] == "对比 study"


@pytest.mark.parametrize("file_format", ["csv", "jsonl"])
def test_cjk_round_trip(cjk_study, tmp_path, file_format):
    judgments_path, models_path = tmp_path / f"j.{file_format}", tmp_path / f"m.{file_format}"

    _write(cjk_study.study, judgments_path)
    _write(cjk_study.study, models_path, "--what", "models")
    judgments, models = _read(judgments_path, file_format), _read(models_path, file_format)

    assert "回答清楚，正确。" in set(judgments["rationale"])
    assert set(judgments["study"]) == {"对比 study"}
    assert set(models["system"]) == {"Xenoqua", "通义-小"}


def test_csv_formulas_neutralised(cjk_study, tmp_path):
    path = tmp_path / "j.csv"

    _write(cjk_study.study, path)
    rationales = set(_read(path, "csv")["rationale"])

    assert "'" + FORMULA in rationales
    assert "'-5 points" in rationales
    assert FORMULA not in rationales


def test_jsonl_keeps_text_as_written(cjk_study, tmp_path):
    path = tmp_path / "j.jsonl"

    _write(cjk_study.study, path)

    assert {FORMULA, "-5 points"} <= set(_read(path, "jsonl")["rationale"])


def test_csv_numbers_not_neutralised(db, tmp_path):
    prompt_set = make_prompt_set()
    run = make_run(prompt_set, model_name="Scorer")
    study = make_study(RATING, [run], name="negative-scores")
    item = make_item(study, prompt_set.prompts.order_by("position").first(), run)
    judge(item, make_user(), {"overall": -1})
    path = tmp_path / "j.csv"

    _write(study, path)

    assert list(_read(path, "csv")["score"]) == ["-1"]


def test_bom_option(cjk_study, tmp_path):
    path = tmp_path / "j.csv"

    metadata = _write(cjk_study.study, path, "--bom")

    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert _read(path, "csv").columns[0] == "study"
    assert "with byte order mark" in metadata["format"]["encoding"]


def test_bom_rejected_for_jsonl(cjk_study, tmp_path):
    with pytest.raises(CommandError, match="--bom applies to CSV files only"):
        _write(cjk_study.study, tmp_path / "j.jsonl", "--bom")

    assert list(tmp_path.iterdir()) == []


# Figures match the report page's computation


def test_pairs_counts(tiny_pairwise, tmp_path):
    path = tmp_path / "pairs.csv"

    metadata = _write(tiny_pairwise.study, path, "--what", "pairs")
    rows = {(row["system"], row["opponent"]): row for row in _read(path, "csv").to_dict("records")}

    x, y, z = (run.model.name for run in (tiny_pairwise.x, tiny_pairwise.y, tiny_pairwise.z))
    assert (rows[x, y]["wins"], rows[x, y]["ties"], rows[x, y]["losses"], rows[x, y]["both_bad"]) == (
        "3",
        "1",
        "0",
        "1",
    )
    assert (rows[y, x]["wins"], rows[y, x]["losses"], rows[y, x]["comparisons"]) == ("0", "3", "5")
    assert (rows[z, x]["wins"], rows[z, x]["comparisons"]) == ("1", "1")
    assert (y, z) not in rows
    assert metadata["method"]["bootstrap_rounds"] == 50
    assert metadata["method"]["seed"] == 0


def test_models_match_report(tiny_pairwise, tmp_path):
    path = tmp_path / "models.jsonl"

    _write(tiny_pairwise.study, path, "--what", "models", "--seed", "7")
    exported = {row["system"]: row for row in _read(path, "jsonl").to_dict("records")}

    report = build_study_report(tiny_pairwise.study, rounds=50, seed=7)
    for record in report.sections[0].ranking.systems:
        row = exported[record.system.name]
        assert row["wins"] == record.wins
        assert row["comparisons"] == record.comparisons
        assert row["win_rate"] == pytest.approx(record.win_rate)
        if record.win_rate_interval:
            assert row["win_rate_lower"] == pytest.approx(record.win_rate_interval.lower)


def test_rating_models_match_report(db, tmp_path):
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    a, b = make_run(prompt_set, model_name="Alder"), make_run(prompt_set, model_name="Birch")
    study = make_study(RATING, [a, b], name="scores")
    people = [make_user() for _ in range(2)]
    for position, prompt in enumerate(prompts):
        for person in people:
            judge(make_item(study, prompt, a), person, {"overall": 4 + position % 2})
            judge(make_item(study, prompt, b), person, {"overall": 2})
    path = tmp_path / "models.csv"

    metadata = _write(study, path, "--what", "models")
    rows = {row["system"]: row for row in _read(path, "csv").to_dict("records")}

    report = build_study_report(study, rounds=50)
    for rating in report.sections[0].ratings.systems:
        assert float(rows[rating.system.name]["mean"]) == pytest.approx(rating.mean)
        assert int(rows[rating.system.name]["scores"]) == rating.count
    assert metadata["method"]["rounds"] == 50


def test_agreement_matches_report(tiny_pairwise, tmp_path):
    path = tmp_path / "agreement.jsonl"

    metadata = _write(tiny_pairwise.study, path, "--what", "agreement")
    rows = _read(path, "jsonl").to_dict("records")

    agreement = build_study_report(tiny_pairwise.study, rounds=50).agreement
    assert [row["scope"] for row in rows] == ["study", "overall"]
    for row, result in zip(rows, [agreement.overall, *agreement.criteria], strict=True):
        assert row["level"] == result.level == "nominal"
        assert row["percent_agreement"] == pytest.approx(result.percent_agreement)
        assert row["judgments"] == result.judgments
        if result.alpha is None:
            assert row["alpha"] is None
            assert row["alpha_reason"]
        else:
            assert row["alpha"] == pytest.approx(result.alpha)
    assert metadata["method"]["rounds"] == 50


def test_pairs_rejected_for_rating_study(db, tmp_path):
    prompt_set = make_prompt_set()
    study = make_study(RATING, [make_run(prompt_set)], name="only-scores")

    with pytest.raises(CommandError, match="rating study"):
        _write(study, tmp_path / "pairs.csv", "--what", "pairs")

    assert list(tmp_path.iterdir()) == []


# Archive


def test_archive_contents(cjk_study, tmp_path):
    path = tmp_path / "study.zip"

    manifest = _write(cjk_study.study, path, "--what", "archive")

    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        spec = json.loads(archive.read("study.json"))
        runs = [json.loads(line) for line in archive.read("runs.jsonl").decode().splitlines()]
        responses = archive.read("responses.jsonl").decode().splitlines()
    for kind in TABLE_KINDS:
        for file_format in ("csv", "jsonl"):
            assert f"exports/{kind}.{file_format}" in names
            assert f"exports/{kind}.{file_format}.meta.json" in names
    assert {"criteria.jsonl", "prompts.jsonl", "items.jsonl", "manifest.json"} <= names
    assert spec["name"] == "对比 study"
    assert {system["run"] for system in spec["systems"]} == {str(cjk_study.x.uuid), str(cjk_study.t.uuid)}
    assert "annotators" not in spec
    assert {run["model"]["name"] for run in runs} == {"Xenoqua", "通义-小"}
    assert all("seed" in run and "temperature" in run for run in runs)
    assert len(responses) == 6
    assert manifest["files"]["exports/judgments.csv"]["rows"] == 4
    assert set(manifest["versions"]) == {"humeval", "numpy", "scipy", "krippendorff", "Django"}


def test_archive_recomputes_pair_counts(tiny_pairwise, tmp_path):
    path = tmp_path / "study.zip"

    _write(tiny_pairwise.study, path, "--what", "archive")

    with zipfile.ZipFile(path) as archive:
        with archive.open("exports/judgments.csv") as handle:
            judgments = pandas.read_csv(handle, keep_default_na=False, dtype=str)
        with archive.open("exports/pairs.jsonl") as handle:
            pairs = pandas.read_json(handle, lines=True)
    counted = judgments[(judgments["is_surplus"] == "false") & (judgments["annotator_excluded"] == "false")]
    recomputed = {}
    for row in counted.to_dict("records"):
        for system, opponent in (
            (row["first_system"], row["second_system"]),
            (row["second_system"], row["first_system"]),
        ):
            counts = recomputed.setdefault((system, opponent), {"wins": 0, "ties": 0, "losses": 0, "both_bad": 0})
            if row["outcome"] == "win":
                counts["wins" if row["winner_system"] == system else "losses"] += 1
            else:
                counts["ties" if row["outcome"] == "tie" else "both_bad"] += 1
    exported = {
        (row["system"], row["opponent"]): {key: row[key] for key in ("wins", "ties", "losses", "both_bad")}
        for row in pairs.to_dict("records")
    }
    assert recomputed == exported
    assert len(exported) == 4


def test_archive_spec_readable_by_create_study(cjk_study, tmp_path):
    path = tmp_path / "study.zip"
    _write(cjk_study.study, path, "--what", "archive", "--names")
    with zipfile.ZipFile(path) as archive:
        spec = json.loads(archive.read("study.json"))
    spec["name"] = "copy of the study"
    spec_path = tmp_path / "copy.yaml"
    spec_path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")

    read = read_study_spec(spec_path)

    assert read.kind == cjk_study.study.kind
    assert set(read.systems) == {cjk_study.x, cjk_study.t}
    assert [criterion.name for criterion in read.criteria] == ["overall"]
    assert sorted(read.annotators) == ["ann-one", "ann-two"]


def test_archive_needs_zip_name(cjk_study, tmp_path):
    with pytest.raises(CommandError, match="ending in .zip"):
        _write(cjk_study.study, tmp_path / "study.csv", "--what", "archive")

    assert list(tmp_path.iterdir()) == []


# Streaming and errors


def test_rows_written_as_they_come(tmp_path):
    written = io.StringIO()

    def rows():
        yield ["a", 1]
        yield ["=b", 2]
        assert written.getvalue().count("\r\n") == 3, "rows must reach the file before the iterator ends"
        yield ["c", 3]

    count = export_files.write_rows(written, ["name", "value"], rows(), "csv")

    assert count == 3
    assert written.getvalue() == "name,value\r\na,1\r\n'=b,2\r\nc,3\r\n"


def test_judgment_rows_are_lazy(cjk_study):
    rows = export_files.export_table(cjk_study.study, "judgments").rows

    assert not isinstance(rows, list)
    assert len(list(rows)) == 4


def test_unknown_what(cjk_study, tmp_path):
    with pytest.raises(CommandError, match="invalid choice: 'figures'"):
        _write(cjk_study.study, tmp_path / "x.csv", "--what", "figures")

    assert list(tmp_path.iterdir()) == []


def test_existing_file_refused(cjk_study, tmp_path):
    path = tmp_path / "j.csv"
    path.write_text("keep me", encoding="utf-8")

    with pytest.raises(CommandError, match="already exists; add --force"):
        _write(cjk_study.study, path)

    assert path.read_text(encoding="utf-8") == "keep me"
    assert sorted(item.name for item in tmp_path.iterdir()) == ["j.csv"]
    assert not AuditEvent.objects.exists()


def test_existing_sidecar_refused(cjk_study, tmp_path):
    (tmp_path / "j.csv.meta.json").write_text("{}", encoding="utf-8")

    with pytest.raises(CommandError, match="j.csv.meta.json' already exists"):
        _write(cjk_study.study, tmp_path / "j.csv")

    assert sorted(item.name for item in tmp_path.iterdir()) == ["j.csv.meta.json"]


def test_force_overwrites(cjk_study, tmp_path):
    path = tmp_path / "j.csv"
    path.write_text("old", encoding="utf-8")

    _write(cjk_study.study, path, "--force")

    assert len(_read(path, "csv")) == 4
    assert sorted(item.name for item in tmp_path.iterdir()) == ["j.csv", "j.csv.meta.json"]


def test_failed_export_leaves_nothing(cjk_study, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        yield ["half", "a row"]
        raise RuntimeError("database went away")

    monkeypatch.setattr(export_files.export, "judgment_rows", broken)

    with pytest.raises(RuntimeError):
        _write(cjk_study.study, tmp_path / "j.csv")

    assert list(tmp_path.iterdir()) == []


def test_out_is_folder(cjk_study, tmp_path):
    (tmp_path / "folder").mkdir()

    with pytest.raises(CommandError, match="is a folder; give --out a file name"):
        _write(cjk_study.study, tmp_path / "folder")

    assert [item.name for item in tmp_path.iterdir()] == ["folder"]


def test_rounds_must_be_positive(cjk_study, tmp_path):
    with pytest.raises(CommandError, match="--rounds must be 1 or more, not 0"):
        call_command(
            "export", cjk_study.study.name, "--out", str(tmp_path / "m.csv"), "--what", "models", "--rounds", "0"
        )

    assert list(tmp_path.iterdir()) == []
