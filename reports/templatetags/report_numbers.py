"""Number formats of the report pages: fixed decimals, percentages, a dash for missing values."""

from django import template
from django.template.defaultfilters import floatformat

register = template.Library()

MISSING = "—"


@register.filter
def decimals(value, places=2):
    """Format a number with `places` decimals in the active locale, or a dash for None."""
    if value is None:
        return MISSING
    return floatformat(value, places)


@register.filter
def percent(fraction, places=1):
    """Format a fraction such as 0.625 as "62.5%", or a dash for None."""
    if fraction is None:
        return MISSING
    return f"{floatformat(fraction * 100, places)}%"
