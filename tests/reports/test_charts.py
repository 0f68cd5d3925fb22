"""The SVG charts of the report page show the same values as the tables beside them."""

import re
from html.parser import HTMLParser

import pytest
from django.template.defaultfilters import floatformat
from django.urls import reverse

from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import PAIRWISE, RATING, judge, make_item, make_study


class ReportPage(HTMLParser):
    """Collect the report page's tables (cell texts per row) and its chart elements (attributes)."""

    def __init__(self):
        super().__init__()
        self.tables = []  # (class, rows), each row a list of cell texts
        self.charts = []  # (class, list of (tag, attributes))
        self.figure_captions = []
        self._table_class = None
        self._rows = None
        self._cell = None
        self._svg_depth = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "svg":
            self._svg_depth += 1
            self.charts.append((attributes.get("class", ""), []))
        elif self._svg_depth:
            self.charts[-1][1].append((tag, attributes))
        if tag == "table":
            self._table_class = attributes.get("class", "")
            self._rows = []
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in {"td", "th"} and self._rows is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "svg":
            self._svg_depth -= 1
        elif tag in {"td", "th"} and self._cell is not None:
            self._rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table" and self._rows is not None:
            self.tables.append((self._table_class, self._rows))
            self._rows = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def table(self, css_class):
        matches = [rows for table_class, rows in self.tables if css_class in table_class.split()]
        assert len(matches) == 1, f"expected one table of class {css_class}, found {len(matches)}"
        return matches[0]

    def chart(self, css_class):
        matches = [elements for chart_class, elements in self.charts if css_class in chart_class.split()]
        assert len(matches) == 1, f"expected one chart of class {css_class}, found {len(matches)}"
        return matches[0]


def _parse(client, staff, study) -> ReportPage:
    client.force_login(staff)
    response = client.get(reverse("reports:study", args=[study.uuid]))
    assert response.status_code == 200
    page = ReportPage()
    page.feed(response.content.decode())
    return page


def _shown(value: str, places: int) -> str:
    return floatformat(float(value), places)


def _shown_percent(value: str, places: int) -> str:
    return f"{floatformat(float(value) * 100, places)}%"


@pytest.fixture
def staff(db):
    return make_user("chart-manager", superuser=True)


@pytest.fixture
def pairwise_study(db):
    """Three systems over eight prompts; every pair is compared, so every rating is finite."""
    prompt_set = make_prompt_set(prompts=[f"Question {number}?" for number in range(8)])
    prompts = list(prompt_set.prompts.order_by("position"))
    x = make_run(prompt_set, model_name="Xenoqua")
    y = make_run(prompt_set, model_name="模型乙")
    z = make_run(prompt_set, model_name="Zephyral")
    study = make_study(PAIRWISE, [x, y, z])
    annotators = [make_user() for _ in range(2)]
    plan = [
        (x, y, ["first", "first"]),
        (x, y, ["first", "second"]),
        (x, z, ["first", "tie"]),
        (x, z, ["second", "first"]),
        (y, z, ["first", "first"]),
        (y, z, ["second", "both_bad"]),
        (x, y, ["tie", "first"]),
        (z, y, ["first", "second"]),
    ]
    for prompt, (first, second, answers) in zip(prompts, plan, strict=True):
        item = make_item(study, prompt, first, second)
        for annotator, answer in zip(annotators, answers, strict=True):
            judge(item, annotator, {"overall": answer})
    return study


@pytest.fixture
def rating_study(db):
    """Two systems scored on two criteria by two annotators over three prompts."""
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    x = make_run(prompt_set, model_name="Xenoqua")
    y = make_run(prompt_set, model_name="模型乙")
    study = make_study(RATING, [x, y], criteria=("fluency", "accuracy"))
    annotators = [make_user() for _ in range(2)]
    scores = {
        (x, 0): [(5, 4), (4, 4)],
        (x, 1): [(4, 3), (3, 3)],
        (x, 2): [(5, 5), (2, 3)],
        (y, 0): [(2, 1), (3, 2)],
        (y, 1): [(1, 2), (2, 2)],
        (y, 2): [(3, 3), (1, 1)],
    }
    for (run, position), pairs in scores.items():
        item = make_item(study, prompts[position], run)
        for annotator, (fluency, accuracy) in zip(annotators, pairs, strict=True):
            judge(item, annotator, {"fluency": fluency, "accuracy": accuracy})
    return study


def test_rating_chart_matches_ranking_table(client, staff, pairwise_study):
    page = _parse(client, staff, pairwise_study)
    rows = page.table("ranking")[1:]
    chart = page.chart("rating-chart")
    points = {attributes["data-label"]: attributes for tag, attributes in chart if tag == "circle"}
    whiskers = {attributes["data-label"]: attributes for tag, attributes in chart if tag == "g"}

    assert set(points) == {"Xenoqua", "模型乙", "Zephyral"}
    for row in rows:
        name, rating, interval = row[1], row[2], row[3]
        assert _shown(points[name]["data-value"], 1) == rating, name
        lower = _shown(whiskers[name]["data-lower"], 1)
        upper = _shown(whiskers[name]["data-upper"], 1)
        assert f"{lower} – {upper}" == interval, name


def test_heat_map_matches_probability_table(client, staff, pairwise_study):
    page = _parse(client, staff, pairwise_study)
    # The ranking's matrix is the second table of class pair-matrix; pick it by its position after the counts.
    matrices = [rows for table_class, rows in page.tables if "pair-matrix" in table_class.split()]
    header, *rows = matrices[1]
    chart = page.chart("heatmap-chart")
    cells = {
        (attributes["data-row"], attributes["data-column"]): attributes["data-value"]
        for tag, attributes in chart
        if tag == "g"
    }

    columns = header[1:]
    assert len(cells) == len(columns) * (len(columns) - 1)
    for row in rows:
        for column, shown in zip(columns, row[1:], strict=True):
            if column == row[0]:
                assert shown == ""
                continue
            assert _shown_percent(cells[(row[0], column)], 0) == shown, (row[0], column)


def test_heat_map_labelled_predicted(client, staff, pairwise_study):
    page = _parse(client, staff, pairwise_study)
    chart_titles = [attributes for tag, attributes in page.chart("heatmap-chart") if tag == "title"]

    assert chart_titles, "the heat map needs an accessible title"
    client.force_login(staff)
    html = client.get(reverse("reports:study", args=[pairwise_study.uuid])).content.decode()
    assert "Predicted win probability, row system against column system" in html


def test_agreement_chart_matches_tables(client, staff, rating_study):
    page = _parse(client, staff, rating_study)
    agreement_tables = [rows for table_class, rows in page.tables if "agreement" in table_class.split()]
    # The first agreement table is over all criteria; the next two follow the criteria in order.
    per_criterion = agreement_tables[1:]
    chart = page.chart("agreement-chart")
    points = {attributes["data-label"]: attributes for tag, attributes in chart if tag == "circle"}
    whiskers = {attributes["data-label"]: attributes for tag, attributes in chart if tag == "g"}

    assert set(points) == {"fluency", "accuracy"}
    for name, rows in zip(["fluency", "accuracy"], per_criterion, strict=True):
        alpha_row = rows[1]
        assert _shown(points[name]["data-value"], 3) == alpha_row[1], name
        lower = _shown(whiskers[name]["data-lower"], 3)
        upper = _shown(whiskers[name]["data-upper"], 3)
        assert f"{lower} – {upper}" == alpha_row[2], name


def test_score_chart_matches_distribution(client, staff, rating_study):
    page = _parse(client, staff, rating_study)
    distributions = [rows for table_class, rows in page.tables if "score-distribution" in table_class.split()]
    charts = [elements for chart_class, elements in page.charts if "score-chart" in chart_class.split()]

    assert len(charts) == len(distributions) == 2
    for rows, chart in zip(distributions, charts, strict=True):
        header, *systems = rows
        parts = {
            (attributes["data-system"], attributes["data-score"]): attributes
            for tag, attributes in chart
            if tag == "rect" and "data-score" in attributes
        }
        for row in systems:
            for score, shown in zip(header[1:], row[1:], strict=True):
                part = parts[(row[0], score)]
                expected = part["data-value"]
                if part["data-value"] != "0":
                    expected += f" ({_shown_percent(part['data-share'], 0)})"
                assert expected == shown, (row[0], score)


def test_score_chart_shares_add_to_one(client, staff, rating_study):
    page = _parse(client, staff, rating_study)
    chart = [elements for chart_class, elements in page.charts if "score-chart" in chart_class.split()][0]
    totals = {}
    for tag, attributes in chart:
        if tag == "rect" and "data-system" in attributes:
            totals[attributes["data-system"]] = totals.get(attributes["data-system"], 0) + float(
                attributes["data-share"]
            )

    assert totals.keys() == {"Xenoqua", "模型乙"}
    for total in totals.values():
        assert total == pytest.approx(1.0)


def test_charts_have_accessible_names(client, staff, pairwise_study):
    client.force_login(staff)
    html = client.get(reverse("reports:study", args=[pairwise_study.uuid])).content.decode()
    page = ReportPage()
    page.feed(html)

    assert len(page.charts) == 3  # ratings, heat map, agreement per criterion
    assert html.count('role="img" aria-labelledby="chart-') == 3
    assert "Rating (Elo scale)" in html


def test_heat_map_labels_fit_long_names():
    from types import SimpleNamespace

    from reports.charts import win_probability_chart

    names = [
        "SmolLM2-135M-Instruct greedy",
        "SmolLM2-135M-Instruct temperature 0.7 top-p 0.9 seed 12345",
        "通义千问 小模型",
    ]
    systems = [SimpleNamespace(system=SimpleNamespace(name=name)) for name in names]
    rows = [(record, [None if i == j else 0.5 for j in range(3)]) for i, record in enumerate(systems)]
    ranking = SimpleNamespace(systems=systems, win_probability_rows=lambda: rows)

    svg = str(win_probability_chart(ranking))

    column_labels = re.findall(
        r'<text class="column-label"[^>]*transform="rotate\(-45[^>]*><title>([^<]*)</title>([^<]*)<', svg
    )
    assert [full for full, _shown in column_labels] == names
    # Short names in full; a name too long for the label area is cut and ends with an ellipsis.
    assert column_labels[0][1] == names[0]
    assert column_labels[1][1].endswith("…")
    assert names[1].startswith(column_labels[1][1][:-1])
    assert column_labels[2][1] == names[2]
