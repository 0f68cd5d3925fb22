"""Inline SVG charts of the report page, built on the server without JavaScript or outside files.

Each chart draws values that a table on the same page also shows. Every
drawn value carries a `data-value` attribute with the full float (and
`data-lower`/`data-upper` for intervals), so tests can compare a chart with
its table, and a `<title>` child that browsers show on hover and screen
readers read. Colours and fonts come from CSS classes in
reports/static/reports/reports.css, except the heat map and score colours,
which are `fill` presentation attributes because they depend on the value.
"""

import itertools
import math
from dataclasses import dataclass

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from reports.ranking import Interval, Ranking
from reports.ratings import CriterionRatings
from reports.summary import StudyReport
from reports.templatetags.report_numbers import decimals, percent

# Layout in SVG user units; the CSS scales the whole drawing to the page width.
CHART_WIDTH = 640
ROW_HEIGHT = 28
TOP_MARGIN = 36
AXIS_HEIGHT = 44
RIGHT_MARGIN = 24
# Estimated text width per character at the chart font size; CJK characters are about twice as wide.
CHARACTER_WIDTH = 7
# A row's label, right-aligned before the plot: x, y, the full label (shown on hover) and the label as drawn.
ROW_LABEL = (
    '<text class="row-label" x="{}" y="{}" text-anchor="end" dominant-baseline="middle"><title>{}</title>{}</text>'
)
WIDE_CHARACTER_WIDTH = 13
MIN_LABEL_WIDTH = 60
MAX_LABEL_WIDTH = 240
HEAT_CELL = 56
HEAT_MAP_MIN_WIDTH = 480
SLANT_RISE = 0.71  # sin 45°, rounded up

_chart_ids = itertools.count(1)


@dataclass
class IntervalRow:
    """One row of a dot plot: a label, the point estimate and its interval, each possibly missing."""

    label: str
    value: float | None
    interval: Interval | None
    shown_value: str
    shown_interval: str


def _label_width(labels: list[str]) -> int:
    """Estimate the width the longest label needs, within fixed bounds."""
    widest = max((_text_width(label) for label in labels), default=0)
    return max(MIN_LABEL_WIDTH, min(MAX_LABEL_WIDTH, widest + 12))


def _text_width(text: str) -> int:
    return sum(WIDE_CHARACTER_WIDTH if ord(character) > 0x2E7F else CHARACTER_WIDTH for character in text)


def _fit_label(label: str) -> str:
    """Cut a label that would not fit in MAX_LABEL_WIDTH, ending it with "…"; the full label goes in a <title>."""
    if _text_width(label) + 12 <= MAX_LABEL_WIDTH:
        return label
    room = MAX_LABEL_WIDTH - 12 - CHARACTER_WIDTH
    kept = ""
    for character in label:
        if _text_width(kept + character) > room:
            break
        kept += character
    return kept + "…"


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Return round tick values covering [low, high], about `count` of them."""
    if high <= low:
        high = low + 1
    raw_step = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = magnitude
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * magnitude
        if raw_step <= step:
            break
    first = math.floor(low / step) * step
    last = math.ceil(high / step) * step
    ticks = []
    tick = first
    while tick <= last + step / 2:
        ticks.append(round(tick, 10))
        tick += step
    return ticks


def _data_value(value: float) -> str:
    return repr(float(value))


def _open_svg(width: int, height: int, title: str, description: str, css_class: str) -> tuple[str, str]:
    """Return the opening SVG markup with an accessible title and description, and the chart's id."""
    chart_id = f"chart-{next(_chart_ids)}"
    markup = format_html(
        '<svg class="chart {}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="{}" height="{}" '
        'role="img" aria-labelledby="{}-title {}-desc">'
        '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>',
        css_class,
        width,
        height,
        width,
        height,
        chart_id,
        chart_id,
        chart_id,
        title,
        chart_id,
        description,
    )
    return markup, chart_id


def _figure(svg: str, caption: str) -> SafeString:
    return format_html('<figure class="chart-figure">{}<figcaption>{}</figcaption></figure>', mark_safe(svg), caption)


def interval_plot(
    rows: list[IntervalRow], *, title: str, description: str, axis_label: str, css_class: str, reference: float | None
) -> SafeString:
    """Draw a horizontal dot plot: one row per label, a dot for the value and a whisker for its interval.

    `reference` draws a dashed vertical line, such as the rating 1000 or alpha 0.
    """
    label_width = _label_width([row.label for row in rows])
    plot_left = label_width
    plot_right = CHART_WIDTH - RIGHT_MARGIN
    height = TOP_MARGIN + ROW_HEIGHT * max(len(rows), 1) + AXIS_HEIGHT

    drawn = [row.value for row in rows if row.value is not None]
    for row in rows:
        if row.interval is not None:
            drawn += [row.interval.lower, row.interval.upper]
    if reference is not None:
        drawn.append(reference)
    ticks = _nice_ticks(min(drawn), max(drawn)) if drawn else [0.0, 1.0]
    low, high = ticks[0], ticks[-1]

    def x_of(value: float) -> float:
        return round(plot_left + (value - low) / (high - low) * (plot_right - plot_left), 2)

    opening, _chart_id = _open_svg(CHART_WIDTH, height, title, description, css_class)
    parts = [opening]
    axis_y = TOP_MARGIN + ROW_HEIGHT * max(len(rows), 1)
    parts.append(format_html('<text class="chart-title" x="{}" y="20">{}</text>', plot_left, title))
    for tick in ticks:
        x = x_of(tick)
        parts.append(
            format_html(
                '<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}"/>'
                '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                x,
                TOP_MARGIN - 6,
                x,
                axis_y,
                x,
                axis_y + 16,
                _tick_text(tick),
            )
        )
    if reference is not None:
        x = x_of(reference)
        parts.append(
            format_html('<line class="reference" x1="{}" y1="{}" x2="{}" y2="{}"/>', x, TOP_MARGIN - 6, x, axis_y)
        )
    parts.append(
        format_html('<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>', plot_left, axis_y, plot_right, axis_y)
    )
    parts.append(
        format_html(
            '<text class="axis-label" x="{}" y="{}" text-anchor="middle">{}</text>',
            (plot_left + plot_right) / 2,
            axis_y + 36,
            axis_label,
        )
    )

    for position, row in enumerate(rows):
        y = TOP_MARGIN + ROW_HEIGHT * position + ROW_HEIGHT / 2
        parts.append(
            format_html(
                ROW_LABEL,
                plot_left - 8,
                y,
                row.label,
                _fit_label(row.label),
            )
        )
        parts.append(_interval_row(row, y, x_of))
    parts.append("</svg>")
    return _figure("".join(parts), description)


def _interval_row(row: IntervalRow, y: float, x_of) -> str:
    """Draw one row's whisker and dot, or a note that the value is missing."""
    if row.value is None:
        return format_html(
            '<text class="missing" x="{}" y="{}" dominant-baseline="middle" data-label="{}">{}</text>',
            CHART_WIDTH / 2,
            y,
            row.label,
            _("no value"),
        )
    markup = ""
    if row.interval is not None:
        markup += format_html(
            '<g class="whisker" data-label="{}" data-lower="{}" data-upper="{}"><title>{}</title>'
            '<line x1="{}" y1="{}" x2="{}" y2="{}"/><line x1="{}" y1="{}" x2="{}" y2="{}"/>'
            '<line x1="{}" y1="{}" x2="{}" y2="{}"/></g>',
            row.label,
            _data_value(row.interval.lower),
            _data_value(row.interval.upper),
            f"{row.label}: {row.shown_interval}",
            x_of(row.interval.lower),
            y,
            x_of(row.interval.upper),
            y,
            x_of(row.interval.lower),
            y - 6,
            x_of(row.interval.lower),
            y + 6,
            x_of(row.interval.upper),
            y - 6,
            x_of(row.interval.upper),
            y + 6,
        )
    markup += format_html(
        '<circle class="point" cx="{}" cy="{}" r="5" data-label="{}" data-value="{}"><title>{}</title></circle>',
        x_of(row.value),
        y,
        row.label,
        _data_value(row.value),
        f"{row.label}: {row.shown_value}",
    )
    return markup


def _tick_text(tick: float) -> str:
    if float(tick).is_integer():
        return str(int(tick))
    return f"{tick:g}"


def rating_chart(ranking: Ranking) -> SafeString:
    """Draw the Bradley-Terry ratings (Elo scale) of a pairwise criterion with their bootstrap intervals."""
    rows = [
        IntervalRow(
            label=record.system.name,
            value=record.rating,
            interval=record.rating_interval,
            shown_value=decimals(record.rating, 1),
            shown_interval=_shown_interval(record.rating_interval, 1),
        )
        for record in ranking.systems
    ]
    level = percent(ranking.method.confidence, 0)
    return interval_plot(
        rows,
        title=_("Ratings with %(level)s intervals") % {"level": level},
        description=_("Dot: Bradley-Terry rating on the Elo scale. Whiskers: its %(level)s bootstrap interval.")
        % {"level": level},
        axis_label=_("Rating (Elo scale)"),
        css_class="rating-chart",
        reference=1000.0,
    )


def _shown_interval(interval: Interval | None, places: int) -> str:
    if interval is None:
        return "—"
    return f"{decimals(interval.lower, places)} – {decimals(interval.upper, places)}"


def agreement_chart(report: StudyReport) -> SafeString:
    """Draw Krippendorff's alpha per criterion with its bootstrap interval."""
    rows = [
        IntervalRow(
            label=section.criterion.name,
            value=section.agreement.alpha,
            interval=section.agreement.alpha_interval,
            shown_value=decimals(section.agreement.alpha, 3),
            shown_interval=_shown_interval(section.agreement.alpha_interval, 3),
        )
        for section in report.sections
    ]
    return interval_plot(
        rows,
        title=_("Krippendorff’s alpha per criterion"),
        description=_("Dot: alpha. Whiskers: its bootstrap interval. Dashed line: alpha 0, agreement at chance level."),
        axis_label=_("Krippendorff’s alpha"),
        css_class="agreement-chart",
        reference=0.0,
    )


def _heat_colour(probability: float) -> str:
    """Map a probability to a colour from red (0) through white (0.5) to blue (1)."""
    if probability >= 0.5:
        strength = (probability - 0.5) * 2
        red, green, blue = 255 - 205 * strength, 255 - 145 * strength, 255 - 55 * strength
    else:
        strength = (0.5 - probability) * 2
        red, green, blue = 255 - 35 * strength, 255 - 175 * strength, 255 - 175 * strength
    return f"rgb({round(red)},{round(green)},{round(blue)})"


def win_probability_chart(ranking: Ranking) -> SafeString:
    """Draw the predicted win probability matrix of a pairwise criterion as a heat map."""
    names = [record.system.name for record in ranking.systems]
    label_width = _label_width(names)
    size = len(names)
    # Column labels are the full names, slanted at 45 degrees so that long
    # names do not overlap. A slanted label rises and reaches right by its
    # length times sin 45°, so the chart grows by that much.
    slant = round(label_width * SLANT_RISE)
    top = TOP_MARGIN + 16 + slant
    # Wide enough for the title even when there are only two or three systems.
    width = max(label_width + HEAT_CELL * size + RIGHT_MARGIN + slant, HEAT_MAP_MIN_WIDTH)
    height = top + HEAT_CELL * size + AXIS_HEIGHT
    title = _("Predicted win probability, row system against column system")
    description = _(
        "Each cell gives the probability, predicted from the ratings, that the row system beats the column system."
    )
    opening, _chart_id = _open_svg(width, height, title, description, "heatmap-chart")
    parts = [opening, format_html('<text class="chart-title" x="8" y="20">{}</text>', title)]
    for column, name in enumerate(names):
        x, y = label_width + HEAT_CELL * column + HEAT_CELL / 2, top - 8
        parts.append(
            format_html(
                '<text class="column-label" x="{}" y="{}" transform="rotate(-45 {} {})"><title>{}</title>{}</text>',
                x,
                y,
                x,
                y,
                name,
                _fit_label(name),
            )
        )
    for row_index, (record, cells) in enumerate(ranking.win_probability_rows()):
        y = top + HEAT_CELL * row_index
        parts.append(
            format_html(
                ROW_LABEL,
                label_width - 8,
                y + HEAT_CELL / 2,
                record.system.name,
                _fit_label(record.system.name),
            )
        )
        for column, probability in enumerate(cells):
            x = label_width + HEAT_CELL * column
            if column == row_index or probability is None:
                parts.append(
                    format_html(
                        '<rect class="diagonal" x="{}" y="{}" width="{}" height="{}"/>', x, y, HEAT_CELL, HEAT_CELL
                    )
                )
                continue
            shown = percent(probability, 0)
            parts.append(
                format_html(
                    '<g class="cell" data-row="{}" data-column="{}" data-value="{}"><title>{}</title>'
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>'
                    '<text x="{}" y="{}" text-anchor="middle" dominant-baseline="middle">{}</text></g>',
                    record.system.name,
                    names[column],
                    _data_value(probability),
                    f"{record.system.name} – {names[column]}: {shown}",
                    x,
                    y,
                    HEAT_CELL,
                    HEAT_CELL,
                    _heat_colour(probability),
                    x + HEAT_CELL / 2,
                    y + HEAT_CELL / 2,
                    shown,
                )
            )
    parts.append(
        format_html(
            '<text class="axis-label" x="{}" y="{}" text-anchor="middle">{}</text>',
            label_width + HEAT_CELL * size / 2,
            top + HEAT_CELL * size + 24,
            _("Column system (opponent)"),
        )
    )
    parts.append("</svg>")
    return _figure("".join(parts), description)


def _score_colour(position: int, count: int) -> str:
    """Return a colour from light to dark blue for the score at `position` of `count` scores."""
    fraction = position / max(count - 1, 1)
    red, green, blue = 222 - 190 * fraction, 235 - 150 * fraction, 247 - 95 * fraction
    return f"rgb({round(red)},{round(green)},{round(blue)})"


def score_chart(summary: CriterionRatings) -> SafeString:
    """Draw each system's scores on a rating criterion as a bar split by score, each part its share of answers."""
    names = [rating.system.name for rating in summary.systems]
    label_width = _label_width(names)
    plot_left, plot_right = label_width, CHART_WIDTH - RIGHT_MARGIN
    legend_y = TOP_MARGIN + ROW_HEIGHT * max(len(names), 1) + 44
    height = legend_y + 28
    title = _("Scores given, share of each system’s answers")
    description = _(
        "Each bar is split by score; the width of a part is the share of the system’s answers with that score."
    )
    opening, _chart_id = _open_svg(CHART_WIDTH, height, title, description, "score-chart")
    parts = [opening, format_html('<text class="chart-title" x="{}" y="20">{}</text>', plot_left, title)]
    axis_y = TOP_MARGIN + ROW_HEIGHT * max(len(names), 1)
    for tick in (0, 0.25, 0.5, 0.75, 1):
        x = plot_left + tick * (plot_right - plot_left)
        parts.append(
            format_html(
                '<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}"/>'
                '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                x,
                TOP_MARGIN - 6,
                x,
                axis_y,
                x,
                axis_y + 16,
                percent(tick, 0),
            )
        )
    parts.append(
        format_html(
            '<text class="axis-label" x="{}" y="{}" text-anchor="middle">{}</text>',
            (plot_left + plot_right) / 2,
            axis_y + 32,
            _("Share of the system’s answers"),
        )
    )
    score_count = len(summary.scores)
    for row, rating in enumerate(summary.systems):
        y = TOP_MARGIN + ROW_HEIGHT * row + 4
        parts.append(
            format_html(
                ROW_LABEL,
                plot_left - 8,
                y + (ROW_HEIGHT - 8) / 2,
                rating.system.name,
                _fit_label(rating.system.name),
            )
        )
        x = float(plot_left)
        for position, cell in enumerate(rating.distribution):
            share = cell.share or 0.0
            part_width = share * (plot_right - plot_left)
            parts.append(
                format_html(
                    '<rect class="score-part" x="{}" y="{}" width="{}" height="{}" fill="{}" '
                    'data-system="{}" data-score="{}" data-value="{}" data-share="{}"><title>{}</title></rect>',
                    round(x, 2),
                    y,
                    round(part_width, 2),
                    ROW_HEIGHT - 8,
                    _score_colour(position, score_count),
                    rating.system.name,
                    cell.score,
                    cell.count,
                    _data_value(share),
                    _("%(system)s, score %(score)s: %(count)s (%(share)s)")
                    % {
                        "system": rating.system.name,
                        "score": cell.score,
                        "count": cell.count,
                        "share": percent(share, 0),
                    },
                )
            )
            x += part_width
    legend_x = plot_left
    parts.append(
        format_html(
            '<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>', legend_x - 8, legend_y + 12, _("Score")
        )
    )
    for position, score in enumerate(summary.scores):
        parts.append(
            format_html(
                '<rect class="legend" x="{}" y="{}" width="14" height="14" fill="{}"/>'
                '<text class="tick" x="{}" y="{}">{}</text>',
                legend_x,
                legend_y,
                _score_colour(position, score_count),
                legend_x + 18,
                legend_y + 12,
                score,
            )
        )
        legend_x += 24 + 8 * len(str(score))
    parts.append("</svg>")
    return _figure("".join(parts), description)
