"""The Content-Security-Policy in Chromium: inline script is blocked, and no page of the site breaks it."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.browser import pages
from tests.browser.test_report_charts import judged_studies  # noqa: F401 (a fixture used below)
from tests.factories import make_user

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

# Runs before any script of each page (Playwright injects it, so the policy
# does not apply to it) and keeps the page's policy violations.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", event => {
  window.__cspViolations.push(`${event.effectiveDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


class PolicyWatch:
    """A browser session that records CSP violations from events and from the console."""

    def __init__(self, session):
        self.session = session
        self.page = session.page
        self.console = []
        self.page.context.add_init_script(RECORD_VIOLATIONS)
        self.page.on("console", self._record_console)

    def _record_console(self, message):
        if "Content Security Policy" in message.text:
            self.console.append(message.text)

    def violations(self) -> list[str]:
        return self.page.evaluate("window.__cspViolations || []") + self.console

    def visit(self, url: str) -> list[str]:
        """Open `url`, let its scripts run, and return the violations seen on it."""
        self.console.clear()
        response = self.page.goto(url)
        assert response.status == 200, f"{url} answered {response.status}"
        self.page.wait_for_load_state("networkidle")
        return self.violations()


@pytest.fixture
def watch(open_session):
    return PolicyWatch(open_session())


def test_injected_inline_script_blocked(watch, live_server, transactional_db):
    """Script that reaches the page as markup, a handler attribute or a javascript: link does not run.

    (Playwright's own evaluate() is exempt from the policy, so eval cannot be
    tried from here; the header tests check that 'unsafe-eval' is absent.)
    """
    watch.visit(live_server.url + reverse("login"))

    watch.page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__inlineRan = true;";
          document.body.appendChild(script);
          const button = document.createElement("button");
          button.id = "injected";
          button.setAttribute("onclick", "window.__handlerRan = true;");
          button.textContent = "injected";
          document.body.appendChild(button);
          const link = document.createElement("a");
          link.id = "injected-link";
          link.href = "javascript:window.__linkRan = true";
          link.textContent = "injected link";
          document.body.appendChild(link);
        }"""
    )
    watch.page.click("#injected")
    watch.page.click("#injected-link")

    ran = watch.page.evaluate("[window.__inlineRan, window.__handlerRan, window.__linkRan]")
    assert ran == [None, None, None]
    violations = watch.violations()
    assert any(violation.startswith("script-src-elem blocked inline") for violation in violations), violations
    assert any(violation.startswith("script-src-attr blocked inline") for violation in violations), violations
    assert any("Content Security Policy" in message for message in watch.console)


def test_injected_outside_script_blocked(watch, live_server, transactional_db):
    """A script from another host is refused by the policy (the test's router would also abort it)."""
    watch.visit(live_server.url + reverse("login"))

    watch.page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.src = "https://cdn.example.com/steal.js";
          script.onload = () => { window.__stolen = true; };
          document.body.appendChild(script);
        }"""
    )
    watch.page.wait_for_timeout(200)

    assert any("script-src-elem blocked https://cdn.example.com" in v for v in watch.violations())
    assert watch.page.evaluate("window.__stolen") is None


def test_public_pages_keep_policy(watch, live_server, transactional_db):
    for name in ("login", "password_reset", "password_reset_done"):
        assert watch.visit(live_server.url + reverse(name)) == [], name
    assert watch.visit(live_server.url + "/admin/login/") == []
    assert watch.session.page_errors == []


def test_admin_pages_keep_policy(watch, live_server, evaluation):
    admin = make_user("csp-admin", staff=True, superuser=True)
    pages.log_in(watch.page, live_server.url, admin.username)
    study = evaluation.pairwise
    run = evaluation.runs[0]

    urls = [
        "/admin/",
        "/admin/annotate/study/",
        f"/admin/annotate/study/{study.pk}/change/",
        "/admin/annotate/study/add/",
        "/admin/generation/generationrun/",
        f"/admin/generation/generationrun/{run.pk}/change/",
        "/admin/auth/user/",
        "/admin/auth/user/add/",
    ]
    for url in urls:
        assert watch.visit(live_server.url + url) == [], url
    assert watch.session.page_errors == []


def test_api_docs_keep_policy(watch, live_server, transactional_db):
    staff = make_user("csp-docs", staff=True)
    pages.log_in(watch.page, live_server.url, staff.username)

    violations = watch.visit(live_server.url + reverse("api:docs"))

    expect(watch.page.locator(".opblock").first).to_be_visible()
    assert violations == []
    assert watch.violations() == []
    assert watch.session.page_errors == []


def test_task_pages_keep_policy(watch, live_server, evaluation):
    pages.log_in(watch.page, live_server.url, evaluation.annotator.username)

    for study in (evaluation.pairwise, evaluation.rating):
        watch.console.clear()
        watch.page.goto(live_server.url + reverse("annotate:next_task", args=[study.uuid]))
        watch.page.wait_for_load_state("networkidle")
        assert pages.TASK_PATH.search(watch.page.url), watch.page.url
        assert watch.violations() == [], study.name
    assert watch.visit(live_server.url + reverse("annotate:home")) == []
    assert watch.session.page_errors == []


def test_report_pages_keep_policy(watch, live_server, judged_studies):  # noqa: F811
    pairwise, rating, _staff = judged_studies
    admin = make_user("csp-report-admin", staff=True, superuser=True)
    pages.log_in(watch.page, live_server.url, admin.username)

    assert watch.visit(live_server.url + reverse("reports:index")) == []
    for study in (pairwise, rating):
        violations = watch.visit(live_server.url + reverse("reports:study", args=[study.uuid]))
        assert watch.page.locator("svg.chart").count() > 0
        assert violations == [], study.name
    assert watch.session.page_errors == []
