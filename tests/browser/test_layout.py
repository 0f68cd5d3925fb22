"""Layout of the pairwise task page: answers side by side on a wide screen, stacked on a narrow one."""

import pytest
from django.urls import reverse

from annotate.items import open_study
from tests.browser import pages
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = [pytest.mark.browser]

LONG_CODE_LINE = "result = compute(" + ", ".join(f"argument_{index}" for index in range(40)) + ")"
LONG_WORD = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 8
LONG_URL = "https://example.org/" + "very-long-path-segment/" * 15


@pytest.fixture
def long_lines_study(transactional_db):
    """A pairwise study of one prompt whose two answers hold a long code line and a long unbroken word."""
    prompt_set = make_prompt_set(prompts=["Show a long line."])
    runs = [
        make_run(prompt_set, answers=["Here it is:\n\n```python\n" + LONG_CODE_LINE + "\n```"]),
        make_run(prompt_set, answers=[f"One word: {LONG_WORD}\n\nOne link: <{LONG_URL}>"]),
    ]
    annotator = make_user()
    study = make_study(runs, annotators=[annotator])
    open_study(study, seed=1)
    return study, annotator


def _answer_boxes(page):
    return page.eval_on_selector_all(
        ".answers-pair .answer",
        """answers => answers.map(answer => {
          const box = answer.getBoundingClientRect();
          return {x: box.x, y: box.y, width: box.width, overflow: answer.scrollWidth - answer.clientWidth};
        })""",
    )


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("width", "side_by_side"), [(1280, True), (1000, True), (600, False), (390, False)])
def test_answers_side_by_side_when_wide(open_session, long_lines_study, live_server, width, side_by_side):
    study, annotator = long_lines_study
    session = open_session()
    page = session.page
    page.set_viewport_size({"width": width, "height": 900})
    pages.log_in(page, live_server.url, annotator.username)
    page.goto(live_server.url + reverse("annotate:next_task", kwargs={"study_uuid": study.uuid}))

    left, right = _answer_boxes(page)
    if side_by_side:
        assert left["y"] == right["y"]
        assert left["x"] < right["x"]
        assert abs(left["width"] - right["width"]) <= 1, f"answer columns differ in width: {left}, {right}"
    else:
        assert left["x"] == right["x"]
        assert left["y"] < right["y"]

    # Long lines neither widen the page nor spill out of their answer box.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert left["overflow"] <= 0
    assert right["overflow"] <= 0
    code_block = page.locator(".answer pre").first
    assert code_block.evaluate("pre => pre.scrollWidth > pre.clientWidth"), "the long code line should scroll"
