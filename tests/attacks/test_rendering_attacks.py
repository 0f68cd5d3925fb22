"""Untrusted Markdown: what the annotator sees must contain the whole answer, rendered in bounded time."""

import time

from annotate.rendering import render_markdown


def test_deep_blockquote_text_visible():
    """An answer quoted 30 levels deep, past markdown-it's nesting limit, still shows its text."""
    html = render_markdown("> " * 30 + "the model's actual answer")

    assert "the model&#39;s actual answer" in html or "the model's actual answer" in html


def test_deep_list_text_visible():
    """Items of a list nested deeper than markdown-it's nesting limit still show."""
    text = "\n".join("  " * depth + f"- level {depth}" for depth in range(30))

    html = render_markdown(text)

    assert "level 29" in html


def test_unclosed_math_openers_render_fast():
    r"""100 KB of unclosed "\(" renders in linear time; a scan to the end per opener took 5 s."""
    text = "\\(" * 50_000

    started = time.perf_counter()
    render_markdown(text)
    elapsed = time.perf_counter() - started

    assert elapsed < 1.0
