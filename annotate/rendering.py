"""Render untrusted Markdown (model answers, prompts, instructions) to safe HTML.

markdown-it-py turns the text into HTML with raw HTML disabled, so tags in
the source come out as visible text. nh3 then cleans the result against a
short allow-list as a second barrier: formatting tags only, no attribute
that can run script or load anything, links to http, https and mailto only.
Images are shown as their Markdown source, so no answer makes the
annotator's browser contact another host. Fenced code blocks that name a
language Pygments has a lexer for are highlighted on the server, as spans whose only
attribute is a Pygments token class. LaTeX stays as text, kept
verbatim instead of being read as Markdown. Text nested deeper than the
parser's limit is shown whole as preformatted plain text, because
markdown-it drops every block below that limit.
"""

import threading
from collections import OrderedDict

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_inline import StateInline
from markdown_it.utils import OptionsDict
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

_ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
    "strong", "em", "del", "s", "sub", "sup", "kbd", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "span",
}  # fmt: skip

# The short class names Pygments' HTML formatter writes for token types,
# such as "k" (keyword) and "s2" (double-quoted string).
_CODE_TOKEN_CLASSES = {name for name in STANDARD_TYPES.values() if name}

_CLEANER = nh3.Cleaner(
    tags=_ALLOWED_TAGS,
    clean_content_tags={"script", "style"},
    attributes={"a": {"href"}, "ol": {"start"}, "th": {"style"}, "td": {"style"}},
    allowed_classes={"span": _CODE_TOKEN_CLASSES},
    # markdown-it writes table column alignment as an inline style.
    filter_style_properties={"text-align"},
    url_schemes={"http", "https", "mailto"},
    # A relative link in an answer would point into humeval itself.
    url_relative="deny",
    link_rel="noopener noreferrer nofollow",
    # Opening links in a new tab keeps the annotator's half-filled form.
    set_tag_attribute_values={"a": {"target": "_blank"}},
    strip_comments=True,
)

# markdown-it's CommonMark preset limit, kept explicit because the fallback
# below depends on it. Each list level takes two (the list and its item), so
# about nine nested list levels still render as Markdown. A higher limit
# makes runs of "[" or "![" slower, because the link-label scan recurses up
# to this depth: with markdown-it-py 4.3, 100 KB of "![" renders 1.8 times
# slower at 40 than at 20.
_MAX_NESTING = 20

# nowrap: markdown-it wraps the spans in <pre><code> itself.
_CODE_FORMATTER = HtmlFormatter(nowrap=True)
# A text with more fenced code than this is rendered without highlighting,
# which bounds the time one answer adds to a page view. Pygments takes about
# 3 ms of CPU per 1,000 characters of Python or C++, against 0.03 ms
# unhighlighted (benchmarks/markdown_rendering.py; figures and machine in
# docs/benchmarks.md), so this limit costs at most about 30 ms of CPU.
_MAX_HIGHLIGHTED_CHARACTERS = 10_000

# Longest opener first, so "$$" is not read as an empty "$" span.
_MATH_DELIMITERS = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))


def _is_inline_dollar_math(src: str, start: int, end: int) -> bool:
    """Apply Pandoc's rule for `$...$`, so prices like "$5 and $10" stay plain text.

    The content must be non-empty, must not start or end with a space, and
    the closing `$` must not be followed by a digit.
    """
    content = src[start + 1 : end]
    if not content or content[0].isspace() or content[-1].isspace():
        return False
    after = src[end + 1 : end + 2]
    return not after.isdigit()


def _math_as_text(state: StateInline, silent: bool) -> bool:
    """Emit a LaTeX span as one plain text token, so `\\(`, `_` and `*` inside it survive."""
    src, start = state.src, state.pos
    for opener, closer in _MATH_DELIMITERS:
        if not src.startswith(opener, start):
            continue
        end = _find_closer(state, closer, start + len(opener))
        if end == -1:
            continue
        if opener == "$" and not _is_inline_dollar_math(src, start, end):
            continue
        if not silent:
            token = state.push("text", "", 0)
            token.content = src[start : end + len(closer)]
        state.pos = end + len(closer)
        return True
    return False


def _find_closer(state: StateInline, closer: str, start: int) -> int:
    """Return the index of the first `closer` at or after `start` and before `state.posMax`, or -1.

    Searches only move forward within one inline state, so a search that
    starts between the previous start and its result has the same result.
    Remembering that result keeps a run of unclosed openers ("\\(" repeated)
    linear instead of scanning to the end once per opener.
    """
    memo = getattr(state, "math_closer_memo", None)
    if memo is None:
        memo = state.math_closer_memo = {}
    # Link text is parsed with posMax at the end of the link text.
    key = (closer, state.posMax)
    if key in memo:
        searched_from, found = memo[key]
        if searched_from <= start and (found == -1 or start <= found):
            return found

    found = _scan(state.src, closer, start, state.posMax)
    memo[key] = (start, found)
    return found


def _scan(src: str, closer: str, start: int, end: int) -> int:
    """Search `src[start:end]` for `closer`: the only step whose cost grows with the text (tests count calls)."""
    return src.find(closer, start, end)


def _highlight_code(code: str, language: str, attributes: str) -> str:
    """Return `code` as Pygments token spans, or "" to have markdown-it escape it unhighlighted.

    Only a fence that names its language is highlighted, because guessing
    the language of a short snippet is often wrong.
    """
    if not language:
        return ""
    try:
        lexer = get_lexer_by_name(language, stripnl=False)
    except ClassNotFound:
        return ""
    return highlight(code, lexer, _CODE_FORMATTER)


def _image_as_source(renderer, tokens, idx, options, env) -> str:
    token = tokens[idx]
    alt = "".join(child.content for child in token.children or [])
    return escapeHtml(f"![{alt}]({token.attrGet('src') or ''})")


def _build_parser() -> MarkdownIt:
    # breaks=True: models write poems and lists with single newlines and
    # expect them kept; plain CommonMark would join those lines.
    options = {"html": False, "breaks": True, "maxNesting": _MAX_NESTING, "highlight": _highlight_code}
    parser = MarkdownIt("commonmark", options).enable("table")
    parser.inline.ruler.before("escape", "math_as_text", _math_as_text)
    parser.add_render_rule("image", _image_as_source)
    return parser


_PARSER = _build_parser()
_PLAIN_OPTIONS = OptionsDict({**_PARSER.options, "highlight": None})


def sanitize_html(html: str) -> str:
    """Strip from `html` every tag, attribute and URL outside the allow-list."""
    return _CLEANER.clean(html)


def render_markdown(text) -> str:
    """Return sanitised HTML for Markdown `text`; the caller may mark it safe.

    Non-string values (a follow-up turn stored as a number, say) are rendered
    as their str().
    """
    if text is None or text == "":
        return ""
    text = str(text)
    env: dict = {}
    tokens = _PARSER.parse(text, env)
    if _exceeds_max_nesting(tokens):
        return sanitize_html(f"<pre>{escapeHtml(text)}</pre>")
    code_length = sum(len(token.content) for token in tokens if token.type == "fence")
    options = _PARSER.options if code_length <= _MAX_HIGHLIGHTED_CHARACTERS else _PLAIN_OPTIONS
    return sanitize_html(_PARSER.renderer.render(tokens, options, env))


class RenderCache:
    """A least-recently-used map from Markdown text to its sanitised HTML, bounded by the characters it holds.

    Keys are the texts themselves, so an edited response or prompt is a new
    key and never gets the old HTML; the stale entry just ages out. An entry
    counts its text and its HTML toward `max_characters`, and a text whose
    entry alone would take more than a sixteenth of the budget is not kept,
    so one huge answer cannot flush everything else. Safe to share between
    the threads of one process.
    """

    def __init__(self, max_characters: int):
        self.max_characters = max_characters
        self.characters = 0
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, text: str) -> str | None:
        """Return the HTML stored for `text`, or None; a hit becomes the most recently used entry."""
        with self._lock:
            html = self._entries.get(text)
            if html is not None:
                self._entries.move_to_end(text)
            return html

    def put(self, text: str, html: str) -> None:
        """Store `html` for `text`, evicting the least recently used entries to stay within the budget."""
        size = len(text) + len(html)
        if size > self.max_characters // 16:
            return
        with self._lock:
            if text in self._entries:
                return
            self._entries[text] = html
            self.characters += size
            while self.characters > self.max_characters:
                old_text, old_html = self._entries.popitem(last=False)
                self.characters -= len(old_text) + len(old_html)


# Every task page renders the prompt, both answers and the study's
# instructions, and the same texts come back on many pages: one prompt sits
# in several items, and each item goes to `overlap` annotators in a row.
# Rendering a 700-character answer with a highlighted code block takes about
# 0.7 ms of CPU (0.3 ms without code) on the machine in docs/benchmarks.md.
# Two million characters is a few megabytes per web process.
_render_cache = RenderCache(max_characters=2_000_000)


def render_markdown_cached(text) -> str:
    """Return render_markdown(text), reusing the HTML of an earlier call with the same text in this process."""
    if text is None or text == "":
        return ""
    text = str(text)
    html = _render_cache.get(text)
    if html is None:
        html = render_markdown(text)
        _render_cache.put(text, html)
    return html


def _exceeds_max_nesting(tokens) -> bool:
    # A block opened at the last allowed level has its contents parsed at
    # the limit, where markdown-it skips the rest of the container's lines.
    return any(token.nesting == 1 and token.level >= _MAX_NESTING - 1 for token in tokens)
