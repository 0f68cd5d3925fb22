"""Untrusted Markdown: what the annotator sees must contain the whole answer, rendered in bounded time."""

from annotate import rendering
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


def test_unclosed_math_openers_scan_the_text_once(monkeypatch):
    r"""100 KB of unclosed "\(" renders in linear time: one scan for a closer, not one per opener.

    A scan to the end per opener took 5 s. Counting scans instead of timing
    the call keeps the test independent of the machine's load.
    """
    scans = []
    real_scan = rendering._scan

    def counting_scan(*arguments):
        scans.append(arguments[2])
        return real_scan(*arguments)

    monkeypatch.setattr(rendering, "_scan", counting_scan)

    html = render_markdown("\\(" * 50_000)

    assert len(scans) == 1
    # Markdown reads each backslash-parenthesis as an escaped "(", so every opener shows as "(".
    assert html.count("(") == 50_000
