"""Content-Security-Policy header on every response.

The policy allows script, style, fonts and requests from this site only,
and no inline script at all. A `<script>` element without `src`, an `on...`
attribute or a `javascript:` URL does not run, even if markup from a model,
a prompt file or a study's text slipped past the sanitiser. Django 5.2 has
no CSP support of its own, hence this middleware.

Pages therefore load their scripts and styles from files under /static/.
"""

POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}


def header_value(policy: dict[str, list[str]]) -> str:
    """Join a policy into the header's `directive source source; ...` form."""
    return "; ".join(" ".join([directive, *sources]) for directive, sources in policy.items())


class ContentSecurityPolicyMiddleware:
    """Add the Content-Security-Policy header to each response that has none yet."""

    header = header_value(POLICY)

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.header)
        return response
