import pytest
from django.template import Context, Template

from annotate.rendering import render_markdown, sanitize_html


def test_script_tag_shown_as_text():
    html = render_markdown("Hi <script>alert('x')</script>")

    assert "<script" not in html
    assert "&lt;script&gt;" in html


def test_raw_iframe_shown_as_text():
    html = render_markdown('<iframe src="https://example.org/evil"></iframe>')

    assert "<iframe" not in html
    assert "&lt;iframe" in html


def test_onerror_attribute_never_an_attribute():
    html = render_markdown('<img src="x" onerror="alert(1)">')

    assert "<img" not in html
    assert "&lt;img" in html


@pytest.mark.parametrize(
    "source",
    [
        "[click](javascript:alert(1))",
        "[click](JavaScript:alert(1))",
        "[click](  javascript:alert(1))",
        "[click](vbscript:msgbox(1))",
        "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "<javascript:alert(1)>",
    ],
)
def test_script_links_not_linked(source):
    html = render_markdown(source)

    assert "<a" not in html
    assert "href" not in html


def test_http_link_gets_safe_rel():
    html = render_markdown("[docs](https://example.org/page)")

    assert 'href="https://example.org/page"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert 'target="_blank"' in html


def test_relative_link_loses_href():
    html = render_markdown("[admin](/admin/)")

    assert "href" not in html


def test_remote_image_not_loaded():
    html = render_markdown("![a cat](https://example.org/cat.png)")

    assert "<img" not in html
    assert "![a cat](https://example.org/cat.png)" in html


@pytest.mark.parametrize(
    ("dirty", "forbidden"),
    [
        ("<script>alert(1)</script><p>ok</p>", "<script"),
        ('<img src="https://example.org/x.png" onerror="alert(1)">', "<img"),
        ('<iframe src="https://example.org"></iframe>', "<iframe"),
        ('<a href="javascript:alert(1)">x</a>', "javascript:"),
        ('<p onclick="alert(1)">x</p>', "onclick"),
        ('<td style="background:url(javascript:alert(1))">x</td>', "url("),
        ('<svg onload="alert(1)"></svg>', "<svg"),
        ("<style>body{display:none}</style>", "display"),
    ],
)
def test_sanitizer_strips_active_html(dirty, forbidden):
    assert forbidden not in sanitize_html(dirty).lower()


def test_fenced_code_block_escaped():
    html = render_markdown('```python\nprint("<b>bold</b>")\n```')

    assert "<pre><code>" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_table_rendered_with_alignment():
    html = render_markdown("| a | b |\n|:--|--:|\n| 1 | 2 |")

    assert "<table>" in html
    assert '<td style="text-align:right">2</td>' in html


def test_single_newline_kept_as_break():
    assert "<br>" in render_markdown("Line one\nLine two")


@pytest.mark.parametrize(
    "latex",
    [r"\(x^2 + y_1\)", r"\[\frac{a}{b}\]", r"$$a_1 * b_2 * c$$", r"$a_1*b_2*c$"],
)
def test_latex_left_verbatim(latex):
    html = render_markdown(f"Formula {latex} here.")

    assert latex in html
    assert "<em>" not in html


def test_dollar_prices_stay_plain():
    html = render_markdown("It costs $5 and *then* $10.")

    assert "$5 and <em>then</em> $10." in html


def test_cjk_text_intact():
    text = "光合作用是植物利用阳光把二氧化碳和水转化为葡萄糖的过程。**重点**：需要叶绿素。"

    html = render_markdown(text)

    assert "光合作用是植物利用阳光把二氧化碳和水转化为葡萄糖的过程。" in html
    assert "<strong>重点</strong>：需要叶绿素。" in html


def test_empty_text_renders_empty():
    assert render_markdown("") == ""
    assert render_markdown(None) == ""


def test_template_filter_not_escaped_twice():
    template = Template("{% load markdown_tags %}{{ text|render_markdown }}")

    html = template.render(Context({"text": "**bold** <script>x</script>"}))

    assert "<strong>bold</strong>" in html
    assert "&lt;script&gt;" in html
    assert "&amp;lt;" not in html


def test_latex_kept_after_unclosed_openers():
    html = render_markdown(r"Open \[ and \( then $a_1*b_2$ and \(x_1 * y_1\) done.")

    assert r"$a_1*b_2$" in html
    assert r"\(x_1 * y_1\)" in html
    assert "<em>" not in html


def test_nesting_within_limit_stays_markdown():
    text = "\n".join("  " * depth + f"- level {depth}" for depth in range(8))

    html = render_markdown(text)

    assert html.count("<ul>") == 8
    assert "<pre>" not in html


def test_nesting_past_limit_shown_as_escaped_text():
    text = (
        "> " * 30
        + "<script>alert(1)</script> **bold**\n"
        + "\n".join("  " * depth + f"- {depth}" for depth in range(40))
    )

    html = render_markdown(text)

    assert html.startswith("<pre>")
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; **bold**" in html
    assert "- 39" in html
    assert "<blockquote>" not in html
