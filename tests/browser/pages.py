"""Steps and page readers shared by the browser tests."""

import re

from django.urls import reverse
from playwright.sync_api import Page

from tests.browser import content

PASSWORD = "pw-for-tests"  # the default of tests.factories.make_user

TASK_PATH = re.compile(r"/studies/(?P<study>[0-9a-f-]{36})/tasks/(?P<assignment>[0-9a-f-]{36})/$")


def log_in(page: Page, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Log in through the login form and wait for the page it redirects to."""
    page.goto(base_url + reverse("login"))
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    assert "/accounts/login/" not in page.url, f"login as {username} failed, still on {page.url}"


def assignment_uuid(page: Page) -> str:
    """Return the assignment UUID in the URL of the task page that is open."""
    match = TASK_PATH.search(page.url)
    assert match, f"not on a task page: {page.url}"
    return match["assignment"]


def shortcut_keys(page: Page) -> dict[str, str]:
    """Return {action: key} as the page's keyboard shortcut list shows them."""
    pairs = page.eval_on_selector_all(
        "aside.shortcuts dl dt",
        "terms => terms.map(dt => [dt.nextElementSibling.innerText.trim(), dt.innerText.trim()])",
    )
    return dict(pairs)


def answer_tags(page: Page) -> list[str]:
    """Return the system tags of the answers to the first turn, in screen order (A, B)."""
    texts = page.locator(".turn").first.locator(".answer .markdown").all_inner_texts()
    return [content.tag_in_text(text) for text in texts]


def criterion_fieldset(page: Page, index: int):
    return page.locator("fieldset.criterion").nth(index)


def checked_values(page: Page) -> list[str]:
    """Return the value of the checked radio in each criterion, or "" where none is checked."""
    return page.eval_on_selector_all(
        "fieldset.criterion",
        "sets => sets.map(set => (set.querySelector('input[type=radio]:checked') || {value: ''}).value)",
    )


def submit_and_wait(page: Page, *, keyboard: bool = False) -> None:
    """Submit the judgment form by its button or by Ctrl+Enter, and wait for the next page."""
    with page.expect_navigation():
        if keyboard:
            page.keyboard.press("Control+Enter")
        else:
            page.get_by_role("button", name="Submit and continue").click()


def report_table(page: Page, criterion: str) -> dict[str, dict[str, str]]:
    """Return the first table of the report section of `criterion` as {system: {column: cell}}."""
    section = page.locator("section.criterion").filter(has=page.get_by_role("heading", name=criterion, exact=True))
    table = section.locator("table.report-table").first
    headers = table.locator("thead th").all_inner_texts()
    rows = {}
    for row in table.locator("tbody tr").all():
        system = row.locator("th").inner_text().strip()
        cells = [cell.strip() for cell in row.locator("td").all_inner_texts()]
        rows[system] = dict(zip(headers[1:], cells, strict=True))
    return rows


def report_facts(page: Page) -> dict[str, str]:
    """Return the report's summary list (Kind, Judgments, Items judged, ...) as {term: value}."""
    pairs = page.eval_on_selector_all(
        "dl.facts dt",
        "terms => terms.map(dt => [dt.innerText.trim(), dt.nextElementSibling.innerText.trim()])",
    )
    return dict(pairs)


# Lists the markup a strict Content-Security-Policy (no 'unsafe-inline')
# would block or that runs script without a file: inline <script> elements,
# on* event handler attributes and javascript: URLs.
_INLINE_SCRIPT_PROBE = """() => {
  const problems = [];
  for (const script of document.querySelectorAll("script")) {
    if (!script.getAttribute("src")) {
      problems.push("inline <script>: " + script.outerHTML.slice(0, 120));
    }
  }
  for (const element of document.querySelectorAll("*")) {
    for (const attribute of element.attributes) {
      if (attribute.name.toLowerCase().startsWith("on")) {
        problems.push(element.tagName.toLowerCase() + " has " + attribute.name + "=" + attribute.value.slice(0, 60));
      }
      const value = attribute.value.trim().toLowerCase();
      if (["href", "src", "action", "formaction"].includes(attribute.name) && value.startsWith("javascript:")) {
        problems.push(element.tagName.toLowerCase() + " has " + attribute.name + "=" + value.slice(0, 60));
      }
    }
  }
  return problems;
}"""


def inline_script_problems(page: Page) -> list[str]:
    """Return inline scripts, on* attributes and javascript: URLs in the page's DOM."""
    return page.evaluate(_INLINE_SCRIPT_PROBE)


def script_sources(page: Page) -> list[str]:
    """Return the resolved URL of every <script src> on the page."""
    return page.eval_on_selector_all("script[src]", "scripts => scripts.map(script => script.src)")
