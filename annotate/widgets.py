"""Form widgets that write their HTML in Python instead of through Django's widget templates.

Django renders each widget through its form renderer: the widget's template
plus django/forms/widgets/attrs.html. On the task page the rationale box, the
hidden time on task and the skip note took about a fifth of the page's
template time that way (benchmarks/annotation_cpu.py). These widgets write
the same markup as Django 5.2's textarea.html and input.html, which
tests/annotate/test_widgets.py compares.
"""

from django import forms
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe


def attributes_html(attrs: dict) -> str:
    """Write `attrs` as Django's attrs.html does: True writes the bare name, False leaves it out."""
    parts = []
    for name, value in attrs.items():
        if value is True:
            parts.append(format_html(" {}", name))
        elif value is not False:
            parts.append(format_html(' {}="{}"', name, str(value)))
    return "".join(parts)


class Textarea(forms.Textarea):
    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        text = conditional_escape(widget["value"]) if widget["value"] else ""
        start = format_html('<textarea name="{}"', widget["name"])
        return mark_safe(f"{start}{attributes_html(widget['attrs'])}>\n{text}</textarea>")  # noqa: S308 - escaped above


class HiddenInput(forms.HiddenInput):
    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        html = format_html('<input type="{}" name="{}"', widget["type"], widget["name"])
        if widget["value"] is not None:
            html += format_html(' value="{}"', str(widget["value"]))
        return mark_safe(f"{html}{attributes_html(widget['attrs'])}>")  # noqa: S308 - escaped above
