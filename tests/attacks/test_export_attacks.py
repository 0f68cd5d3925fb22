"""Report exports with hostile names and degenerate data, read back the way analysts read them."""

import io
import json

import pandas as pd
import pytest

from annotate import gold
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import PAIRWISE, judge, make_item, make_study

pytestmark = pytest.mark.django_db

FORMULAS = ("=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1")
EXPORTS = (
    "",
    "judgments.csv",
    "judgments.csv.meta.json",
    "gold-judgments.csv",
    "gold-judgments.csv.meta.json",
    "rankings.csv",
    "rankings.csv.meta.json",
    "rankings.json",
)


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _download(client, study, suffix):
    response = client.get(f"/reports/studies/{study.uuid}/{suffix}")
    assert response.status_code == 200, suffix
    return b"".join(response.streaming_content) if response.streaming else response.content


def _check_every_export(client, study):
    """Download the report page and every export; parse JSON strictly and CSV with pandas; return the CSVs."""
    frames = {}
    for suffix in EXPORTS:
        body = _download(client, study, suffix)
        if suffix.endswith(".json"):
            json.loads(body, parse_constant=_reject_constant)
        elif suffix.endswith(".csv"):
            frames[suffix] = pd.read_csv(io.BytesIO(body), encoding="utf-8-sig", keep_default_na=False)
    return frames


@pytest.fixture
def staff_client(client):
    client.force_login(make_user("report-reader", superuser=True))
    return client


@pytest.fixture
def hostile_study():
    """A pairwise study whose every free-text field starts like a spreadsheet formula, with CJK and emoji names."""
    prompt_set = make_prompt_set(prompts=["第一个提示 🚀", "Second prompt"])
    prompts = list(prompt_set.prompts.order_by("position"))
    for prompt, prefix in zip(prompts, FORMULAS, strict=False):
        prompt.category = prefix + "类别"
        prompt.external_id = prefix + "id"
        prompt.save()
    first = make_run(prompt_set, model_name=FORMULAS[0])
    second = make_run(prompt_set, model_name="模型🚀乙")
    study = make_study(PAIRWISE, [first, second], name="+研究 🎉", criteria=("@标准",))
    annotators = [make_user(f"{prefix.strip()}注释者{number}") for number, prefix in enumerate(FORMULAS)]
    item = make_item(study, prompts[1], first, second)
    for annotator, prefix in zip(annotators, FORMULAS, strict=True):
        judge(item, annotator, {"@标准": "first" if prefix != "-2+3" else "second"}, rationale=prefix + "理由")
    check = gold.create_attention_check(study, prompts[0], '=HYPERLINK("http://x")', system=first)
    judge(check, annotators[0], {"@标准": "first"}, rationale="-1")
    return study


def test_no_text_cell_reads_as_formula(staff_client, hostile_study):
    frames = _check_every_export(staff_client, hostile_study)

    for name, frame in frames.items():
        for column in frame.columns:
            for cell in frame[column].astype(str):
                assert not cell.startswith(FORMULAS), (name, column, cell)
    judgments = frames["judgments.csv"]
    assert set(judgments["study"]) == {"'+研究 🎉"}
    assert "模型🚀乙" in set(judgments["system_b"]) | set(judgments["system_a"])
    assert set(frames["gold-judgments.csv"]["attention_text"]) == {'\'=HYPERLINK("http://x")'}


@pytest.mark.parametrize(
    "shape",
    ["one system", "all ties on one prompt", "one sweep", "all both bad", "system without judgments", "no criteria"],
)
def test_degenerate_rankings_export_cleanly(staff_client, shape):
    prompt_set = make_prompt_set(prompts=["Only prompt", "Unused prompt"])
    prompt = prompt_set.prompts.get(position=0)
    runs = [make_run(prompt_set, model_name=f"Qwoxl-{number}") for number in range(3)]
    systems = runs[:1] if shape == "one system" else runs
    criteria = () if shape == "no criteria" else ("overall",)
    study = make_study(PAIRWISE, systems, criteria=criteria)
    outcome = {"all ties on one prompt": "tie", "one sweep": "first", "all both bad": "both_bad"}.get(shape, "tie")
    if len(systems) > 1 and criteria:
        item = make_item(study, prompt, runs[0], runs[1])
        for _ in range(3):
            judge(item, make_user(), {"overall": outcome})

    frames = _check_every_export(staff_client, study)

    assert len(frames["rankings.csv"]) == (0 if shape == "no criteria" else len(systems))
