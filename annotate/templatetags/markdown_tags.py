"""Template filter that renders untrusted Markdown as sanitised HTML."""

from django import template
from django.utils.safestring import mark_safe

from annotate.rendering import render_markdown as _render_markdown

register = template.Library()


@register.filter(name="render_markdown")
def render_markdown(text):
    """Render Markdown `text`; the output is safe because nh3 has cleaned it."""
    return mark_safe(_render_markdown(text))  # noqa: S308 - cleaned by nh3 in rendering.py
