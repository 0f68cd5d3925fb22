"""A judgment with a criterion unanswered is refused with a visible error and stores nothing."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from annotate.models import Assignment, AssignmentStatus, CriterionAnswer, Judgment
from tests.browser import content, pages

pytestmark = [pytest.mark.browser]

# (study attribute of the Evaluation fixture, label of the answer given to
# the first criterion, its radio value, the second criterion, and the
# label that then answers it).
CASES = [
    pytest.param("pairwise", "A is better", "A", content.PAIRWISE_CRITERIA[1], "Tie", id="pairwise"),
    pytest.param("rating", "4", "4", content.RATING_CRITERIA[1], "2", id="rating"),
]


def _nothing_stored(assignment_uuid):
    assert Judgment.objects.count() == 0
    assert CriterionAnswer.objects.count() == 0
    assert Assignment.objects.get(uuid=assignment_uuid).status == AssignmentStatus.LEASED


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("study_name", "first_label", "first_value", "missing", "second_label"), CASES)
def test_unanswered_criterion_refused(
    open_session, evaluation, live_server, study_name, first_label, first_value, missing, second_label
):
    study = getattr(evaluation, study_name)
    session = open_session()
    page = session.page
    pages.log_in(page, live_server.url, evaluation.annotator.username)
    page.goto(live_server.url + reverse("annotate:next_task", kwargs={"study_uuid": study.uuid}))
    task_url = page.url
    assignment_uuid = pages.assignment_uuid(page)
    pages.criterion_fieldset(page, 0).get_by_label(first_label, exact=first_label.isdigit()).check()

    # The browser's own validation stops the submit: no request, no new page.
    page.evaluate("window.__samePage = true")
    page.get_by_role("button", name="Submit and continue").click()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__samePage") is True
    assert page.url == task_url
    assert not [request for request in session.requests if request.method == "POST" and "/submit/" in request.url]
    unanswered = pages.criterion_fieldset(page, 1).locator("input[type=radio]").first
    assert unanswered.evaluate("radio => radio.validity.valueMissing") is True
    expect(page.get_by_role("button", name="Submit and continue")).to_be_enabled()
    _nothing_stored(assignment_uuid)

    # Without that validation (an old browser, or scripts off and the attribute
    # stripped), the server re-renders the form with the error.
    page.eval_on_selector("#judgment-form", "form => { form.noValidate = true; }")
    pages.submit_and_wait(page)
    summary = page.get_by_role("alert")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("Your judgment was not saved yet.")
    expect(summary).to_contain_text(f"Please answer: Which answer is better for {missing}?")
    expect(pages.criterion_fieldset(page, 1)).to_have_class("criterion has-error")
    expect(pages.criterion_fieldset(page, 0)).not_to_have_class("criterion has-error")
    assert pages.checked_values(page) == [first_value, ""]
    expect(page.get_by_role("button", name="Submit and continue")).to_be_enabled()
    _nothing_stored(assignment_uuid)

    # Answering the missing criterion on the re-rendered form stores the judgment.
    pages.criterion_fieldset(page, 1).get_by_label(second_label, exact=second_label.isdigit()).check()
    pages.submit_and_wait(page)
    assert pages.assignment_uuid(page) != assignment_uuid
    judgment = Judgment.objects.get(assignment__uuid=assignment_uuid)
    assert judgment.answers.count() == 2
    assert session.page_errors == []
