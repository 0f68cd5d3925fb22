"""Hostile strings for the XSS tests, and a probe that finds any of them live in a page.

Every payload that could run script calls `__xss(<number>)`, opens a dialog
with `alert(<number>)` or loads a URL on 203.0.113.9. That address is in
TEST-NET-3 (RFC 5737), reserved for documentation, and the browser fixtures
abort any request to it.
The test's init script defines `__xss`, so a payload that runs leaves its
number in `window.__xssHits`.

The payloads cover: script tags in mixed case, event handlers on img, svg,
body and details, javascript: and data: URLs in links, images, objects and
frames, iframe srcdoc, CSS url() and expression(), Markdown links and images
with javascript:, HTML entities that hide a scheme, textarea, script, title
and attribute breakouts, SVG foreignObject, mutation XSS through math and
style, base and meta refresh, template-injection strings for Django, Jinja
and JavaScript template literals, Unicode direction overrides, and a very
long line.
"""

OUTSIDE_HOST = "203.0.113.9"

# (number, payload). Each payload fits in 100 characters, the shortest text
# field it is placed in (criterion name and scale labels).
PAYLOADS = (
    (1, "<script>__xss(1)</script>"),
    (2, "<ScRiPt>__xss(2)</sCrIpT><IMG SRC=x OnErRoR=__xss(2)>"),
    (3, '<img src=x onerror="__xss(3)">'),
    (4, "<svg onload=__xss(4)><circle r=1 /></svg>"),
    (5, "<body onload=__xss(5)>"),
    (6, "<details open ontoggle=__xss(6)><summary>x6</summary></details>"),
    (7, '<a href="javascript:__xss(7)">link seven</a>'),
    (8, '<a href="data:text/html,<script>alert(8)</script>">link eight</a>'),
    (9, '<img src="data:image/svg+xml,<svg onload=alert(9)>">'),
    (10, '<iframe srcdoc="<script>parent.__xss(10)</script>"></iframe>'),
    (11, '<div style="background:url(http://203.0.113.9/11.png)">eleven</div>'),
    (12, '<p style="width:expression(__xss(12))">twelve</p>'),
    (13, "[link thirteen](javascript:__xss(13))"),
    (14, "![image fourteen](javascript:__xss(14)) ![pixel](http://203.0.113.9/14.png)"),
    (15, '<a href="&#106;&#97;vascript:__xss(15)">entity link</a> [md](&#x6A;avascript:__xss(15))'),
    (16, "[mixed](JaVaScRiPt:__xss(16)) <a href=' javascript:__xss(16)'>space</a>"),
    (17, "</textarea><script>__xss(17)</script><textarea>"),
    (18, "</script><script>__xss(18)</script>"),
    (19, "\"><img src=x onerror=__xss(19)>' onmouseover='__xss(19)' x=\""),
    (20, '<svg><foreignObject><iframe src="javascript:__xss(20)"></iframe></foreignObject></svg>'),
    (21, "<math><mtext><table><mglyph><style><img src=x onerror=__xss(21)>"),
    (22, '<meta http-equiv="refresh" content="0;url=javascript:__xss(22)">'),
    (23, '<base href="http://203.0.113.9/23/"><link rel=stylesheet href="http://203.0.113.9/23.css">'),
    (24, "<style>@import 'http://203.0.113.9/24.css';</style>"),
    (25, '<object data="javascript:__xss(25)"></object><embed src="javascript:__xss(25)">'),
    (26, '<form action="http://203.0.113.9/26"><button formaction="javascript:__xss(26)">go</button></form>'),
    (27, "</title><script>__xss(27)</script>"),
    (28, "{{ request.user.password }} {% debug %} {{7*7}} ${__xss(28)} #{7*7}"),
    (29, "\u202eevil\u202c \u2066isolated\u2069 \u200fright-to-left mark"),
    (30, '<video><source onerror="__xss(30)"></video><audio src=x onerror=__xss(30)>'),
)

# Visible text that must reach the page as written: template tags are not
# evaluated, and escaped markup shows as its source.
LITERAL_TEMPLATE_TEXT = "{{ request.user.password }}"

# A line of 20,000 characters without a space, then a payload.
LONG_LINE = "W" * 20_000 + "<img src=x onerror=__xss(31)>"


def joined(numbers=None, *, long_line=True) -> str:
    """Return the payloads with the given numbers (all by default), one paragraph each, then the long line."""
    chosen = [payload for number, payload in PAYLOADS if numbers is None or number in numbers]
    if long_line:
        chosen.append(LONG_LINE)
    return "\n\n".join(chosen)


def short(number: int) -> str:
    """Return payload `number` alone, for fields of at most 100 characters."""
    return dict(PAYLOADS)[number]


# Runs before any script of each page (Playwright injects it, so the
# Content-Security-Policy does not apply to it).
INIT_SCRIPT = """
window.__xssHits = [];
window.__xss = number => window.__xssHits.push(number);
"""

# Finds markup that came from a payload and is live in the DOM, whether or not
# the Content-Security-Policy then stopped it: escaping must hold on its own.
LIVE_PAYLOAD_PROBE = """host => {
  const found = [];
  const describe = element => element.tagName.toLowerCase() + " " + element.outerHTML.slice(0, 100);
  for (const element of document.querySelectorAll("*")) {
    const tag = element.tagName.toLowerCase();
    if (["iframe", "object", "embed", "foreignobject", "base", "video", "audio", "source", "math"].includes(tag)) {
      found.push(describe(element));
    }
    // A page's own <meta http-equiv="Content-Type"> is harmless; refresh or a policy from a payload is not.
    const httpEquiv = (element.getAttribute("http-equiv") || "").toLowerCase();
    if (tag === "meta" && httpEquiv && httpEquiv !== "content-type") {
      found.push(describe(element));
    }
    if ((tag === "script" || tag === "style") && /__xss|203\\.0\\.113/.test(element.textContent)) {
      found.push(describe(element));
    }
    for (const attribute of element.attributes) {
      const name = attribute.name.toLowerCase();
      const value = attribute.value.replace(/\\s/g, "").toLowerCase();
      if (name.startsWith("on") && /__xss|alert/.test(value)) {
        found.push(describe(element));
      }
      if (/^(javascript|data|vbscript):/.test(value) && name !== "content") {
        found.push(describe(element));
      }
      // A plain link to another host loads nothing until clicked, and the
      // browsable API turns URLs in its JSON into such links.
      const isLink = tag === "a" && name === "href" && /^https?:/.test(value);
      if ((value.includes(host) && !isLink) || value.includes("expression(")) {
        found.push(describe(element));
      }
    }
  }
  return found;
}"""


def live_payloads(page) -> list[str]:
    """Return a description of each element in `page` that a payload made live."""
    return page.evaluate(LIVE_PAYLOAD_PROBE, OUTSIDE_HOST)
