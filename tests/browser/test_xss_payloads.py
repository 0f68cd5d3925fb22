"""XSS payloads in every text a person can write, rendered in Chromium on every page that shows them.

The payloads (tests.browser.xss_payloads) sit in prompts, answers,
rationales, model names, run labels, prompt set and study names, criterion
names, questions, descriptions and scale labels, study instructions, a
content warning, an attention check's text and a pause reason. Each page is
checked four ways. No payload ran: `__xss` was not called and no
dialog opened. No request left 127.0.0.1. No payload markup is live in the
DOM, because an escape that failed shows there even when the
Content-Security-Policy stops its script. The template-injection text shows
as written. On annotator pages, a line of 20,000 characters must not make
the page wider than the window.

tests/browser/test_untrusted_output.py covers Markdown answers on the task
pages with a smaller set; this file adds the other fields and pages.
"""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from annotate.assignment import next_assignment, submit_judgment
from annotate.gold import create_attention_check, set_paused
from annotate.items import open_study
from annotate.models import ContentWarning, Criterion, Item, Judgment, StudyKind, StudyStatus
from generation.models import GenerationRun, LanguageModel, Prompt, PromptSet, Response
from tests.browser import xss_payloads
from tests.browser.xss_payloads import LITERAL_TEMPLATE_TEXT, joined, short
from tests.factories import make_prompt_set, make_run, make_study, make_user
from tests.reports.builders import judge

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

# How long each page may run timers and load events before the checks.
SETTLE_MS = 300


# Names the innermost element that reaches past the window's right edge.
WIDEST_ELEMENT = """() => {
  let culprit = "";
  for (const element of document.body.querySelectorAll("*")) {
    if (element.getBoundingClientRect().right > window.innerWidth + 1) {
      culprit = element.tagName.toLowerCase() + "." + element.className + " in " +
        element.parentElement.tagName.toLowerCase() + "." + element.parentElement.className;
    }
  }
  return culprit;
}"""


# Returns whether the letters of the first text node containing `phrase`
# stand left to right on screen, or null when no text node contains it.
READS_LEFT_TO_RIGHT = """phrase => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const start = node.data.indexOf(phrase);
    if (start < 0) continue;
    const boxes = [];
    for (let offset = start; offset < start + phrase.length; offset++) {
      if (node.data[offset] === " ") continue;
      const range = document.createRange();
      range.setStart(node, offset);
      range.setEnd(node, offset + 1);
      boxes.push(range.getBoundingClientRect());
    }
    // Letters on one line must step right; a wrap to the next line starts over.
    return boxes.every((box, index) => {
      const previous = boxes[index - 1];
      return index === 0 || box.top !== previous.top || box.left > previous.left;
    });
  }
  return null;
}"""


def _name_criteria(study, names_and_texts):
    """Give the study's criteria hostile names, questions, descriptions and scale labels."""
    for criterion, (name, question) in zip(study.criteria.order_by("position"), names_and_texts, strict=True):
        criterion.name = name
        criterion.question = question
        criterion.description = joined({1, 7, 13, 17, 19, 28})
        criterion.low_label = short(2)
        criterion.high_label = short(17)
        criterion.save()


@pytest.fixture
def hostile(transactional_db):
    """Build an open pairwise and an open rating study whose every written text carries payloads."""
    prompt_set = make_prompt_set(
        name="prompts " + short(3)[:80],
        prompts=[joined(), "Plain question " + short(19), joined({28, 29, 17, 18})],
    )
    runs = [
        make_run(prompt_set, model_name="<script>__xss(101)</script>A", label=short(3), answers=[joined()] * 3),
        make_run(prompt_set, model_name="<img src=x onerror=__xss(102)>B", label=short(28), answers=[joined()] * 3),
        make_run(prompt_set, model_name="\u202eC " + short(19)[:60], label="", answers=[joined()] * 3),
    ]
    annotator = make_user("annotator-xss")
    others = [make_user(f"annotator-xss-{number}") for number in range(2)]
    admin = make_user("admin-xss", superuser=True)

    pairwise = make_study(
        runs,
        name=short(19) + " pairwise " + LITERAL_TEMPLATE_TEXT,
        criteria=("c1", "c2"),
        annotators=[annotator, *others],
        instructions=joined(),
    )
    _name_criteria(pairwise, [(short(3), short(19)), (short(6), short(28))])
    open_study(pairwise, seed=1)

    rating = make_study(
        runs[:2],
        kind=StudyKind.RATING,
        name=short(17) + " rating " + short(28) + short(27),
        criteria=("c1", "c2"),
        annotators=[annotator, *others],
        instructions=joined({27, 18, 22, 23}),
    )
    _name_criteria(rating, [(short(1), short(21)), (short(29), short(4))])
    open_study(rating, seed=1)

    # Judgments from two other annotators, so the reports draw their tables
    # and charts with the hostile names, and every rationale is hostile.
    pairwise_names = list(pairwise.criteria.values_list("name", flat=True))
    rating_names = list(rating.criteria.values_list("name", flat=True))
    for position, item in enumerate(Item.objects.filter(study=pairwise).order_by("sort_key")[:6]):
        for other, answer in zip(others, ["first", "second" if position % 2 else "first"], strict=True):
            judge(item, other, dict.fromkeys(pairwise_names, answer), rationale=joined())
    for position, item in enumerate(Item.objects.filter(study=rating).order_by("sort_key")):
        for offset, other in enumerate(others):
            judge(item, other, dict.fromkeys(rating_names, 1 + (position + offset) % 5), rationale=joined())

    # The annotator's own last judgment, for the revision page.
    assignment = next_assignment(pairwise, annotator)
    own = submit_judgment(assignment, dict.fromkeys(pairwise_names, "A"), rationale=joined())

    # A paused annotator's reason, an attention check's text and a sign-up link.
    set_paused(pairwise, others[0].pk, True, reason=short(3) + short(19))
    rating_prompt = Prompt.objects.filter(prompt_set=prompt_set).order_by("position").first()
    attention_check = create_attention_check(rating, rating_prompt, joined(), min_score=1, max_score=2)
    rating.signup_token = "xss-signup-token-0123456789"
    rating.save(update_fields=["signup_token"])

    # A study whose only prompt has a content warning, and a paused study on the annotator's list.
    warned_set = make_prompt_set(name="warned " + short(6)[:60], prompts=[joined({1, 3, 28})])
    warned_run = make_run(warned_set, model_name="Warned-model", answers=[joined({5, 9})])
    ContentWarning.objects.create(prompt_set=warned_set, category="writing", text=joined())
    warned = make_study(
        [warned_run],
        kind=StudyKind.RATING,
        name=short(27) + " warned " + LITERAL_TEMPLATE_TEXT,
        criteria=("c1",),
        annotators=[annotator],
    )
    open_study(warned, seed=1)
    # The name opens a right-to-left override and never closes it.
    paused = make_study(runs, name="\u202e" + short(18) + " paused " + LITERAL_TEMPLATE_TEXT, annotators=[annotator])
    open_study(paused, seed=1)
    paused.status = StudyStatus.PAUSED
    paused.save(update_fields=["status"])
    return {
        "pairwise": pairwise,
        "rating": rating,
        "annotator": annotator,
        "admin": admin,
        "own_judgment": own,
        "runs": runs,
        "attention_check": attention_check,
        "warned": warned,
        "paused": paused,
    }


def _log_in(session, live_server, user):
    """Give the browser a session cookie for `user`, skipping the throttled login form."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    session.page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
    )


def _check_page(session, url, label, *, literal=None):
    """Open `url` and return the problems found on it, each labelled."""
    page = session.page
    response = page.goto(url)
    problems = []
    if response is None or response.status != 200:
        problems.append(f"{label}: status {response.status if response else 'none'} at {url}")
        return problems
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(SETTLE_MS)

    hits = page.evaluate("window.__xssHits")
    if hits:
        problems.append(f"{label}: payloads {hits} ran")
    for element in xss_payloads.live_payloads(page):
        problems.append(f"{label}: live payload markup {element}")
    if literal is not None and literal not in page.inner_text("body"):
        problems.append(f"{label}: {literal!r} is not shown as written")
    return problems


def _open(open_session, live_server, user):
    session = open_session()
    session.page.context.add_init_script(xss_payloads.INIT_SCRIPT)
    _log_in(session, live_server, user)
    return session


def _assert_clean(session, problems, visited, expected_pages):
    assert visited == expected_pages
    assert not problems, "\n".join(problems)
    assert session.dialogs == []
    assert session.outside_requests() == []
    assert session.page_errors == []


def test_payloads_fit_short_fields():
    """Each payload fits a 100-character field, and there are at least 30 of them."""
    assert len(xss_payloads.PAYLOADS) >= 30
    for number, payload in xss_payloads.PAYLOADS:
        assert len(payload) <= 100, number


def test_annotator_pages_inert(open_session, live_server, hostile):
    session = _open(open_session, live_server, hostile["annotator"])
    page = session.page
    pairwise, rating = hostile["pairwise"], hostile["rating"]
    own = hostile["own_judgment"]
    base = live_server.url
    visits = [
        ("studies list", reverse("annotate:home"), LITERAL_TEMPLATE_TEXT),
        ("pairwise instructions", reverse("annotate:instructions", args=[pairwise.uuid]), None),
        ("rating instructions", reverse("annotate:instructions", args=[rating.uuid]), None),
        ("pairwise task", reverse("annotate:next_task", args=[pairwise.uuid]), LITERAL_TEMPLATE_TEXT),
        ("rating task", reverse("annotate:next_task", args=[rating.uuid]), None),
        ("revision", reverse("annotate:revise", args=[pairwise.uuid, own.uuid]), None),
        ("content warning", reverse("annotate:next_task", args=[hostile["warned"].uuid]), LITERAL_TEMPLATE_TEXT),
        ("study paused", reverse("annotate:next_task", args=[hostile["paused"].uuid]), LITERAL_TEMPLATE_TEXT),
    ]
    problems = []
    visited = []
    for label, path, literal in visits:
        problems += _check_page(session, base + path, label, literal=literal)
        visited.append(label)
        if label == "pairwise task":
            task_url = page.url
        if label == "study paused":
            # The override in the name ends with the name: the sentence around it still reads left to right.
            phrase = "so it hands out no new tasks"
            if page.evaluate(READS_LEFT_TO_RIGHT, phrase) is not True:
                problems.append(f"{label}: {phrase!r} is not laid out left to right")
        if label == "revision":
            # The hostile rationale is back in its textarea, whole and inert.
            assert page.locator("textarea").first.input_value() == own.rationale
        # The long line wraps instead of widening the page.
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 1:
            widest = page.evaluate(WIDEST_ELEMENT)
            problems.append(f"{label}: the page is {overflow} px wider than the window, widened by {widest}")

    # The rating task re-rendered after an invalid submit, with a hostile rationale typed in.
    page.goto(base + reverse("annotate:next_task", args=[rating.uuid]))
    page.eval_on_selector("#judgment-form", "form => { form.noValidate = true; }")
    # Without the long line: the rationale field takes at most 5,000 characters.
    typed = joined(long_line=False)
    page.locator("textarea").first.fill(typed)
    with page.expect_navigation():
        page.get_by_role("button", name="Submit and continue").click()
    page.wait_for_timeout(SETTLE_MS)
    assert page.locator(".error-summary").count() == 1
    assert page.locator("textarea").first.input_value() == typed
    problems += [f"rating task with errors: {found}" for found in xss_payloads.live_payloads(page)]
    visited.append("rating task with errors")

    problems += _check_page(session, task_url + "skip/", "skip page")
    visited.append("skip page")

    extra_pages = ["rating task with errors", "skip page"]
    _assert_clean(session, problems, visited, [label for label, _, _ in visits] + extra_pages)
    assert page.evaluate("window.__xssHits") == []


def test_signup_page_inert(open_session, live_server, hostile):
    """The sign-up page shows the study name to anyone with the link, before they log in."""
    session = open_session()
    session.page.context.add_init_script(xss_payloads.INIT_SCRIPT)
    url = live_server.url + reverse("annotate:signup", args=[hostile["rating"].signup_token])

    problems = _check_page(session, url, "sign-up page")

    _assert_clean(session, problems, ["sign-up page"], ["sign-up page"])
    assert LITERAL_TEMPLATE_TEXT in session.page.title()


def test_staff_pages_inert(open_session, live_server, hostile):
    session = _open(open_session, live_server, hostile["admin"])
    pairwise, rating = hostile["pairwise"], hostile["rating"]
    own = hostile["own_judgment"]
    first_run = hostile["runs"][0]
    prompt = Prompt.objects.filter(prompt_set=pairwise.prompt_set).order_by("position").first()
    response = Response.objects.filter(run=first_run).first()
    item = Item.objects.filter(study=pairwise).first()
    criterion = Criterion.objects.filter(study=pairwise).first()
    attention_check = hostile["attention_check"]
    visits = [
        ("reports index", reverse("reports:index"), LITERAL_TEMPLATE_TEXT),
        ("pairwise report", reverse("reports:study", args=[pairwise.uuid]), LITERAL_TEMPLATE_TEXT),
        ("rating report", reverse("reports:study", args=[rating.uuid]), None),
        ("study list", reverse("admin:annotate_study_changelist"), LITERAL_TEMPLATE_TEXT),
        ("pairwise study change", reverse("admin:annotate_study_change", args=[pairwise.pk]), None),
        ("rating study change", reverse("admin:annotate_study_change", args=[rating.pk]), None),
        ("pairwise progress", reverse("admin:annotate_study_progress", args=[pairwise.pk]), LITERAL_TEMPLATE_TEXT),
        ("rating progress", reverse("admin:annotate_study_progress", args=[rating.pk]), None),
        ("pairwise quality", reverse("admin:annotate_study_quality", args=[pairwise.pk]), None),
        ("judgment list", reverse("admin:annotate_judgment_changelist"), None),
        ("judgment change", reverse("admin:annotate_judgment_change", args=[own.pk]), None),
        ("item change", reverse("admin:annotate_item_change", args=[item.pk]), None),
        ("attention check change", reverse("admin:annotate_item_change", args=[attention_check.pk]), None),
        ("attention check gold", reverse("admin:annotate_item_gold", args=[attention_check.pk]), None),
        ("prompt set change", reverse("admin:generation_promptset_change", args=[pairwise.prompt_set.pk]), None),
        ("prompt change", reverse("admin:generation_prompt_change", args=[prompt.pk]), None),
        ("response change", reverse("admin:generation_response_change", args=[response.pk]), None),
        ("model change", reverse("admin:generation_languagemodel_change", args=[first_run.model.pk]), None),
        ("run change", reverse("admin:generation_generationrun_change", args=[first_run.pk]), None),
        ("run list", reverse("admin:generation_generationrun_changelist"), None),
        ("browsable API study list", "/api/v1/studies/", LITERAL_TEMPLATE_TEXT),
        ("browsable API study", f"/api/v1/studies/{pairwise.uuid}/", LITERAL_TEMPLATE_TEXT),
        ("browsable API items", f"/api/v1/studies/{rating.uuid}/items/", None),
    ]
    problems = []
    visited = []
    for label, path, literal in visits:
        problems += _check_page(session, live_server.url + path, label, literal=literal)
        visited.append(label)

    _assert_clean(session, problems, visited, [label for label, _, _ in visits])
    # The hostile texts reached the pages checked above, rather than being dropped.
    assert Judgment.objects.filter(rationale=joined()).count() > 1
    assert criterion.name == short(3)
    assert PromptSet.objects.filter(name__startswith="prompts <img").exists()
    assert LanguageModel.objects.filter(name__contains="__xss(101)").exists()
    assert GenerationRun.objects.filter(label=short(28)).exists()
