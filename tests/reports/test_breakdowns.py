"""Breakdowns of the report page by prompt category, prompt language and a left-out annotator."""

import json
from types import SimpleNamespace

import pytest
from django.urls import reverse

from annotate.models import Criterion
from annotate.pseudonyms import pseudonym
from generation.models import Prompt
from reports.answers import Breakdown, counted_answers, limited_to
from reports.breakdowns import breakdown_choices
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import PAIRWISE, judge, make_item, make_study


@pytest.fixture
def mixed_study(db):
    """Two systems over three prompts: p0 math/en, p1 math/zh-Hans, p2 poetry/zh-Hans.

    Judgments (Xenoqua is always the first response):
    p0: ann1 Xenoqua wins, ann2 Xenoqua wins;
    p1: ann1 Yarrowin wins, ann2 tie;
    p2: ann1 Yarrowin wins, ann2 Yarrowin wins.
    So math: Xenoqua 2 wins, 1 loss, 1 tie; zh-Hans: Xenoqua 0 wins, 3 losses,
    1 tie; without ann2: Xenoqua 1 win, 2 losses.
    """
    prompt_set = make_prompt_set(prompts=["2+2?", "三加三等于几？", "写一首诗。"])
    prompts = list(prompt_set.prompts.order_by("position"))
    for prompt, category, language in zip(
        prompts, ["math", "math", "poetry"], ["en", "zh-Hans", "zh-Hans"], strict=True
    ):
        Prompt.objects.filter(pk=prompt.pk).update(category=category, language=language)
    x = make_run(prompt_set, model_name="Xenoqua")
    y = make_run(prompt_set, model_name="Yarrowin")
    study = make_study(PAIRWISE, [x, y])
    ann1, ann2 = make_user("ann-one"), make_user("ann-two")
    answers = [("first", "first"), ("second", "tie"), ("second", "second")]
    for prompt, (first, second) in zip(prompts, answers, strict=True):
        item = make_item(study, prompt, x, y)
        judge(item, ann1, {"overall": first})
        judge(item, ann2, {"overall": second})
    return SimpleNamespace(study=study, ann1=ann1, ann2=ann2)


@pytest.fixture
def staff_client(client, db):
    client.force_login(make_user("breakdown-manager", superuser=True))
    return client


def _report(staff_client, study, query=""):
    response = staff_client.get(reverse("reports:study", args=[study.uuid]) + query)
    assert response.status_code == 200
    return response


def _xenoqua(report):
    records = {record.system.name: record for record in report.sections[0].pairwise.systems}
    record = records["Xenoqua"]
    return record.wins, record.losses, record.ties


def test_counted_answers_limited_by_category(mixed_study):
    criterion = Criterion.objects.get(study=mixed_study.study)

    with limited_to(Breakdown(category="poetry")):
        inside = counted_answers(include_surplus=False, criterion=criterion).count()
    outside = counted_answers(include_surplus=False, criterion=criterion).count()

    assert inside == 2
    assert outside == 6


def test_report_whole_study(staff_client, mixed_study):
    report = _report(staff_client, mixed_study.study).context["report"]

    assert report.totals.judgments == 6
    assert _xenoqua(report) == (2, 3, 1)


def test_report_by_category(staff_client, mixed_study):
    report = _report(staff_client, mixed_study.study, "?category=math").context["report"]

    assert report.totals.judgments == 4
    assert report.totals.items == 2
    assert _xenoqua(report) == (2, 1, 1)


def test_report_by_language(staff_client, mixed_study):
    report = _report(staff_client, mixed_study.study, "?language=zh-Hans").context["report"]

    assert report.totals.judgments == 4
    assert _xenoqua(report) == (0, 3, 1)


def test_report_without_annotator(staff_client, mixed_study):
    left_out = pseudonym(mixed_study.ann2.pk)
    report = _report(staff_client, mixed_study.study, f"?exclude_annotator={left_out}").context["report"]

    assert report.totals.judgments == 3
    assert report.totals.annotators == 1
    assert _xenoqua(report) == (1, 2, 0)
    assert report.sections[0].length_bias.compared + report.sections[0].length_bias.equal_length == 3


def test_report_category_and_language(staff_client, mixed_study):
    report = _report(staff_client, mixed_study.study, "?category=math&language=zh-Hans").context["report"]

    assert _xenoqua(report) == (0, 1, 1)


def test_unknown_category_explained(staff_client, mixed_study):
    response = _report(staff_client, mixed_study.study, "?category=cooking")
    page = response.content.decode()

    assert "No prompt of this study has the category “cooking”" in page
    assert response.context["report"].totals.judgments == 6


def test_unknown_annotator_explained(staff_client, mixed_study):
    response = _report(staff_client, mixed_study.study, "?exclude_annotator=nobody")

    assert "No annotator named “nobody” judged this study" in response.content.decode()
    assert response.context["report"].totals.judgments == 6


def test_breakdown_links_listed(staff_client, mixed_study):
    page = _report(staff_client, mixed_study.study, "?surplus=include").content.decode()

    assert 'href="?surplus=include&amp;category=math"' in page
    assert 'href="?surplus=include&amp;category=poetry"' in page
    assert 'href="?surplus=include&amp;language=zh-Hans"' in page
    assert f'href="?surplus=include&amp;exclude_annotator={pseudonym(mixed_study.ann1.pk)}"' in page
    assert "ann-one" not in page


def test_rankings_json_follows_breakdown(staff_client, mixed_study):
    url = reverse("reports:rankings_json", args=[mixed_study.study.uuid])

    whole = json.loads(staff_client.get(url).content)
    poetry = json.loads(staff_client.get(url + "?category=poetry").content)

    assert whole["criteria"][0]["judgments"] == 6
    assert poetry["criteria"][0]["judgments"] == 2
    assert whole["breakdown"] == {"category": None, "language": None, "left_out_annotator": None}
    assert poetry["breakdown"] == {"category": "poetry", "language": None, "left_out_annotator": None}


def test_rankings_metadata_names_left_out_annotator(staff_client, mixed_study):
    url = reverse("reports:rankings_csv_metadata", args=[mixed_study.study.uuid])

    left_out = pseudonym(mixed_study.ann2.pk)
    metadata = json.loads(staff_client.get(url + f"?exclude_annotator={left_out}").content)

    assert metadata["breakdown"]["left_out_annotator"] == left_out
    assert metadata["criteria"][0]["judgments"] == 3


def test_rankings_json_unknown_language_rejected(staff_client, mixed_study):
    url = reverse("reports:rankings_json", args=[mixed_study.study.uuid])

    response = staff_client.get(url + "?language=fr")

    assert response.status_code == 400
    assert "No prompt of this study has the language “fr”" in response.content.decode()


def test_choices_list_each_value_once(mixed_study):
    choices = breakdown_choices(mixed_study.study)

    assert choices.categories == ["math", "poetry"]
    assert choices.languages == ["en", "zh-Hans"]
