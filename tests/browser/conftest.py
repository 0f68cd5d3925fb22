"""Fixtures for the browser tests: headless Chromium driven by Playwright, and
an open pairwise study and an open rating study built from stored answers.

Every context aborts requests to any host other than 127.0.0.1, so a page
that tries to load something from outside fails the test's request check
without reaching the network.
"""

import itertools
import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from annotate import assignment as assignment_module
from annotate.items import open_study
from annotate.models import Study, StudyKind
from generation.models import GenerationRun
from tests.browser import content
from tests.factories import make_prompt_set, make_run, make_study, make_user
from tests.services import missing_service, require_chromium

# Playwright's sync API runs an event loop in the test thread, and Django's
# ORM refuses to run beside one unless this is set. Django reads it on every
# ORM call, so setting it here, at collection, covers every test.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
# pytest-django binds the live server to "localhost" unless configured
# otherwise, and the request checks below expect the literal address.
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOST = "127.0.0.1"
# Wide enough for the side-by-side layout, which starts at 60rem (960 px).
VIEWPORT = {"width": 1280, "height": 900}
# Playwright waits up to 30 s by default; a broken page should fail sooner
# than the per-test pytest-timeout guard.
ACTION_TIMEOUT_MS = 10_000


@pytest.fixture(scope="package")
def chromium_browser():
    """Launch one headless Chromium for all tests in this folder."""
    executable = require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_service("Playwright for Python is not installed: run \"pip install -e '.[dev]'\"")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class RecordedRequest:
    method: str
    url: str
    post_data: str


@dataclass
class BrowserSession:
    """A page in its own browser context, with what the page did recorded.

    `requests` lists every request of the context (popups included), also
    those aborted because they left 127.0.0.1. `documents` lists (status,
    URL) of every HTML response the main frame received, redirects included.
    `dialogs` lists the message of every alert, confirm or prompt, each
    dismissed at once. `page_errors` lists uncaught JavaScript exceptions.
    """

    page: object
    requests: list[RecordedRequest] = field(default_factory=list)
    documents: list[tuple[int, str]] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def outside_requests(self) -> list[str]:
        """Return the URLs of requests to any host but 127.0.0.1 (data: and blob: URLs excepted)."""
        urls = []
        for request in self.requests:
            parts = urlsplit(request.url)
            if parts.scheme in {"data", "blob"}:
                continue
            if parts.hostname != LOCAL_HOST:
                urls.append(request.url)
        return urls


def _record_request(session, request):
    try:
        post_data = request.post_data or ""
    except UnicodeDecodeError:
        post_data = ""
    session.requests.append(RecordedRequest(request.method, request.url, post_data))


def _route_local_only(route):
    if urlsplit(route.request.url).hostname == LOCAL_HOST:
        route.continue_()
    else:
        route.abort("blockedbyclient")


def _record_document(session, response):
    request = response.request
    if request.resource_type == "document" and request.frame == session.page.main_frame:
        session.documents.append((response.status, response.url))


def _dismiss_dialog(session, dialog):
    session.dialogs.append(f"{dialog.type}: {dialog.message}")
    dialog.dismiss()


@pytest.fixture
def open_session(chromium_browser, live_server):
    """Return a function that opens a page in a fresh context (own cookies, given locale)."""
    server_host = urlsplit(live_server.url).hostname
    if server_host != LOCAL_HOST:
        pytest.fail(
            f"The live server listens on {server_host}, but the browser tests need {LOCAL_HOST}: "
            f"set --liveserver or DJANGO_LIVE_TEST_SERVER_ADDRESS to {LOCAL_HOST}"
        )
    contexts = []

    def open_page(locale="en-US") -> BrowserSession:
        context = chromium_browser.new_context(locale=locale, viewport=VIEWPORT, accept_downloads=True)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        contexts.append(context)
        context.route("**/*", _route_local_only)
        page = context.new_page()
        session = BrowserSession(page)
        context.on("request", lambda request: _record_request(session, request))
        page.on("response", lambda response: _record_document(session, response))
        page.on("dialog", lambda dialog: _dismiss_dialog(session, dialog))
        page.on("pageerror", lambda error: session.page_errors.append(str(error)))
        return session

    yield open_page
    for context in contexts:
        context.close()


class _AlternatingOrder:
    """Stand-in for annotate.screen_order.choose_first_on_left: right, left, right, ...

    A pairwise item's first assignment shows its canonical first response on
    the left, so without this a short test would see few right-hand firsts.
    """

    def __init__(self):
        self._values = itertools.cycle([False, True])

    def __call__(self, item, now, rng, tally=None) -> bool:
        return next(self._values)


@pytest.fixture
def alternating_order(monkeypatch):
    """Make new assignments alternate the item's first response between right and left.

    The live server runs in this process, so patching the function the
    assignment module calls reaches it. Without this the tests could see
    only one order and miss a judgment stored by screen position.
    """
    monkeypatch.setattr(assignment_module, "choose_first_on_left", _AlternatingOrder())


@dataclass
class Evaluation:
    pairwise: Study
    rating: Study
    annotator: object
    staff: object
    runs: list[GenerationRun]


@pytest.fixture
def evaluation(transactional_db) -> Evaluation:
    """Build an open pairwise study over three systems and an open rating study over two.

    Both use the same three prompts (English, Chinese, and one that carries
    hostile HTML) and answers from `tests.browser.content`. The pairwise study
    has 3 pairs x 3 prompts = 9 items, the rating study 2 x 3 = 6.
    """
    prompt_set = make_prompt_set(name="browser-prompts", prompts=content.PROMPTS)
    runs = [
        make_run(
            prompt_set,
            model_name=system.model_name,
            label=system.label,
            source=system.source,
            answers=[content.answer_text(system.tag, position) for position in range(len(content.PROMPTS))],
        )
        for system in content.SYSTEMS
    ]
    annotator = make_user("annotator-kim")
    staff = make_user("manager-lee", superuser=True)

    pairwise = make_study(
        runs,
        name="Chat answers side by side",
        criteria=content.PAIRWISE_CRITERIA,
        annotators=[annotator],
        instructions="Pick the more helpful answer. 请选择更有帮助的回答。",
    )
    open_study(pairwise, seed=1)
    rating = make_study(
        runs[:2],
        name="Chat answers one at a time",
        kind=StudyKind.RATING,
        criteria=content.RATING_CRITERIA,
        annotators=[annotator],
        instructions="Score each answer on each criterion.",
    )
    open_study(rating, seed=1)
    return Evaluation(pairwise=pairwise, rating=rating, annotator=annotator, staff=staff, runs=runs)
