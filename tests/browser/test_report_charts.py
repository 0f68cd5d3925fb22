"""The report page's charts in Chromium: drawn with a size, on screen and in print, from this server alone."""

import pytest
from django.urls import reverse

from tests.browser import pages
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import PAIRWISE, RATING, judge, make_item, make_study

pytestmark = [pytest.mark.browser]

CHART_BOXES = """charts => charts.map(chart => {
  const box = chart.getBoundingClientRect();
  const style = getComputedStyle(chart);
  return {kind: chart.getAttribute("class"), width: box.width, height: box.height,
          display: style.display, visibility: style.visibility};
})"""


@pytest.fixture
def judged_studies(transactional_db):
    """A pairwise study over three systems and a rating study over two, each judged by two annotators."""
    prompt_set = make_prompt_set(prompts=[f"Question {number}?" for number in range(4)] + ["用一句话解释光合作用。"])
    prompts = list(prompt_set.prompts.order_by("position"))
    x = make_run(prompt_set, model_name="Xenoqua")
    y = make_run(prompt_set, model_name="模型乙")
    z = make_run(prompt_set, model_name="Zephyral")
    annotators = [make_user() for _ in range(2)]

    pairwise = make_study(PAIRWISE, [x, y, z], name="Charts side by side")
    plan = [(x, y, "first", "first"), (x, z, "first", "tie"), (y, z, "first", "second"), (x, y, "second", "first")]
    plan.append((z, x, "second", "second"))
    for prompt, (first, second, *answers) in zip(prompts, plan, strict=True):
        item = make_item(pairwise, prompt, first, second)
        for annotator, answer in zip(annotators, answers, strict=True):
            judge(item, annotator, {"overall": answer})

    rating = make_study(RATING, [x, y], name="Charts one at a time", criteria=("fluency", "accuracy"))
    for position, prompt in enumerate(prompts):
        for run, base in ((x, 4), (y, 2)):
            item = make_item(rating, prompt, run)
            for offset, annotator in enumerate(annotators):
                score = max(1, min(5, base + (position + offset) % 2))
                judge(item, annotator, {"fluency": score, "accuracy": max(1, score - offset)})
    staff = make_user("chart-viewer", superuser=True)
    return pairwise, rating, staff


def _open_report(open_session, live_server, staff, study):
    session = open_session()
    pages.log_in(session.page, live_server.url, staff.username)
    session.page.goto(live_server.url + reverse("reports:study", args=[study.uuid]))
    return session


def _assert_drawn(boxes, expected_kinds):
    kinds = sorted(box["kind"] for box in boxes)
    assert kinds == sorted(expected_kinds)
    for box in boxes:
        assert box["width"] > 100, box
        assert box["height"] > 50, box
        assert box["display"] != "none", box
        assert box["visibility"] == "visible", box


def test_pairwise_report_charts_drawn(open_session, live_server, judged_studies):
    pairwise, _rating, staff = judged_studies
    session = _open_report(open_session, live_server, staff, pairwise)
    expected = ["chart rating-chart", "chart heatmap-chart", "chart agreement-chart"]

    _assert_drawn(session.page.eval_on_selector_all("svg.chart", CHART_BOXES), expected)
    session.page.emulate_media(media="print")
    _assert_drawn(session.page.eval_on_selector_all("svg.chart", CHART_BOXES), expected)
    assert session.outside_requests() == []
    assert session.page_errors == []


def test_rating_report_charts_drawn(open_session, live_server, judged_studies):
    _pairwise, rating, staff = judged_studies
    session = _open_report(open_session, live_server, staff, rating)
    expected = ["chart score-chart", "chart score-chart", "chart agreement-chart"]

    _assert_drawn(session.page.eval_on_selector_all("svg.chart", CHART_BOXES), expected)
    session.page.emulate_media(media="print")
    _assert_drawn(session.page.eval_on_selector_all("svg.chart", CHART_BOXES), expected)
    pdf = session.page.pdf()
    assert pdf.startswith(b"%PDF")
    assert session.outside_requests() == []
    assert session.page_errors == []
