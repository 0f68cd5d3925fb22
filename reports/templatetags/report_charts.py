"""Template tags that put the report charts (reports.charts) into the page as inline SVG."""

from django import template

from reports import charts

register = template.Library()


@register.simple_tag
def rating_chart(ranking):
    """Render the ratings of one pairwise criterion with their intervals, or nothing without ratings."""
    if ranking is None or ranking.ratings_reason or not ranking.systems:
        return ""
    return charts.rating_chart(ranking)


@register.simple_tag
def win_probability_chart(ranking):
    """Render the predicted win probability heat map of one pairwise criterion, or nothing without ratings."""
    if ranking is None or ranking.ratings_reason or not ranking.win_probability:
        return ""
    return charts.win_probability_chart(ranking)


@register.simple_tag
def agreement_chart(report):
    """Render alpha per criterion, or nothing when the study has no criteria."""
    if not report.sections:
        return ""
    return charts.agreement_chart(report)


@register.simple_tag
def score_chart(summary):
    """Render the score distribution of one rating criterion, or nothing before the first score."""
    if summary is None or not summary.answers:
        return ""
    return charts.score_chart(summary)
