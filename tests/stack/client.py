"""A small REST API client for the stack tests: token authentication and checked status codes.

`requests` comes with humeval's dependencies (gguf and lm-eval require it).
"""

import requests

REQUEST_TIMEOUT = 30


class UnexpectedStatus(AssertionError):
    """The server answered with another status code than the test expected."""


class ApiClient:
    """Calls /api/v1/ on one server as one user, with that user's API token.

    Each thread needs its own client, because a `requests.Session` is not
    safe to share between threads.
    """

    def __init__(self, base_url: str, token: str):
        self.api_url = f"{base_url}/api/v1/"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        # The test stands where the TLS-terminating proxy of docs/deployment.md stands.
        self.session.headers["X-Forwarded-Proto"] = "https"

    def get(self, path: str, expect: int = 200, **params):
        return self._send("GET", path, expect, params=params or None)

    def post(self, path: str, body=None, expect: int = 200, **kwargs):
        """POST `body` as JSON, or pass `files` and `data` for a multipart upload."""
        return self._send("POST", path, expect, json=body, **kwargs)

    def get_all(self, path: str, **params) -> list:
        """Return every result of a paginated list, following its `next` links."""
        page = self.get(path, **params)
        results = list(page["results"])
        while page["next"]:
            page = self._checked(self.session.get(page["next"], timeout=REQUEST_TIMEOUT), 200)
            results.extend(page["results"])
        return results

    def _send(self, method: str, path: str, expect: int, **kwargs):
        response = self.session.request(method, self.api_url + path, timeout=REQUEST_TIMEOUT, **kwargs)
        return self._checked(response, expect)

    @staticmethod
    def _checked(response: requests.Response, expect: int):
        if response.status_code != expect:
            raise UnexpectedStatus(
                f"{response.request.method} {response.url} returned {response.status_code}, "
                f"expected {expect}: {response.text[:2000]}"
            )
        return response.json()
