"""Template filters for short texts that people write, such as study names."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.filter
def isolate_direction(text) -> SafeString:
    """Wrap `text`, escaped, in a <bdi> element so its direction marks apply only inside it.

    Browsers lay out a <bdi> as a directional isolate, which also ends every
    embedding and override opened inside it. So a name that opens a
    right-to-left override and never closes it cannot reverse the sentence
    around it; tests/browser/test_xss_payloads.py checks this in Chromium.
    Use it in HTML only: inside <title> the tags would show as text.
    """
    return format_html("<bdi>{}</bdi>", text)
