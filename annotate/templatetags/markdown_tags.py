"""Template filter that renders untrusted Markdown as sanitised HTML."""

from django import template
from django.utils.safestring import mark_safe

from annotate.rendering import render_markdown_cached

register = template.Library()


@register.filter(name="render_markdown")
def render_markdown(text):
    """Render Markdown `text`; the output is safe because nh3 has cleaned it.

    Pages show the same prompts, answers and instructions again and again,
    so the HTML comes from the process's render cache when it can.
    """
    return mark_safe(render_markdown_cached(text))  # noqa: S308 - cleaned by nh3 in rendering.py
