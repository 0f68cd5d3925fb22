"""Server-side highlighting of fenced code in rendered Markdown."""

import re

from annotate import rendering
from annotate.rendering import render_markdown, sanitize_html

PYTHON_FENCE = '```python\ndef add(a, b):\n    return {"sum": a + b}  # <b>done</b>\n```'


def _span_classes(html):
    return set(re.findall(r'<span class="([^"]+)">', html))


def test_python_fence_highlighted():
    html = render_markdown(PYTHON_FENCE)

    assert '<span class="k">def</span>' in html
    assert '<span class="nf">add</span>' in html
    assert '<span class="s2">"sum"</span>' in html or '<span class="s2">&quot;sum&quot;</span>' in html
    assert "&lt;b&gt;done&lt;/b&gt;" in html
    assert "<b>" not in html
    assert html.startswith("<pre><code>")


def _text(html):
    return re.sub(r"<[^>]+>", "", html).replace("&quot;", '"')


def test_highlighted_text_unchanged():
    highlighted = render_markdown(PYTHON_FENCE)
    plain = render_markdown(PYTHON_FENCE.replace("```python", "```"))

    assert "<span" not in plain
    assert _text(highlighted) == _text(plain)


def test_spans_carry_only_token_classes():
    html = render_markdown(PYTHON_FENCE + "\n\n```javascript\nconst x = `a${b}`; // c\n```")

    classes = _span_classes(html)
    assert classes
    assert classes <= rendering._CODE_TOKEN_CLASSES
    assert not re.search(r"<span(?! class=\"[a-z0-9]+\">)", html)


def test_unknown_or_missing_language_stays_plain():
    for source in ("```nosuchlanguage\nx < y\n```", "```\ndef add(a, b): pass\n```", "    indented code"):
        html = render_markdown(source)
        assert "<span" not in html, source
        assert "<pre><code>" in html


def test_html_fence_shows_markup_as_text():
    html = render_markdown('```html\n<script>alert(1)</script>\n<img src=x onerror="alert(2)">\n```')

    assert set(re.findall(r"<([a-z]+)", html)) == {"pre", "code", "span"}
    assert "&lt;" in html
    assert _span_classes(html)


def test_latex_fence_kept_verbatim():
    html = render_markdown("```latex\n\\frac{a}{b} + $x_1$\n```")

    assert _text(html) == "\\frac{a}{b} + $x_1$\n\n"


def test_too_much_code_stays_plain():
    line = "x = [i for i in range(10)]\n"
    big = "```python\n" + line * (rendering._MAX_HIGHLIGHTED_CHARACTERS // len(line) + 1) + "```"
    small = "```python\n" + line + "```"

    assert "<span" not in render_markdown(big)
    assert "<span" not in render_markdown(small + "\n\n" + big)
    assert "<span" in render_markdown(small)


def test_sanitizer_drops_other_span_classes_and_attributes():
    html = sanitize_html('<span class="k evil" onclick="alert(1)" style="color:red" id="x">t</span>')

    assert "onclick" not in html
    assert "style" not in html
    assert "evil" not in html
    assert 'id="x"' not in html
    assert ">t</span>" in html


def test_raw_span_in_prose_is_text():
    html = render_markdown('<span class="k">not code</span>')

    assert "<span" not in html
    assert "&lt;span" in html
