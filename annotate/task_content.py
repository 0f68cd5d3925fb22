"""What an annotator's task shows, as plain data for the REST API: the prompt's turns with the answers in screen order.

Blindness: the data names answers only by their screen label ("A", "B") and
carries their text, never the response, run or model behind them. An
attention check's planted text comes through the same path as a model's
answer (Assignment.shown_answers), so a gold task looks like any other.
"""

from dataclasses import dataclass

from annotate.models import Assignment
from annotate.rendering import render_markdown

# Screen labels of a pairwise task's two answers, left (A) then right (B).
PAIRWISE_LABELS = ("A", "B")


@dataclass(frozen=True)
class RenderedText:
    """Untrusted Markdown with its sanitised HTML (annotate.rendering)."""

    markdown: str
    html: str


@dataclass(frozen=True)
class ScreenAnswerText:
    """One answer to one turn. `label` is "A" or "B" in a pairwise task and None in a rating task."""

    label: str | None
    text: RenderedText


@dataclass(frozen=True)
class TaskTurn:
    """One user turn of the prompt, numbered from 1, with the answers to it in screen order."""

    number: int
    prompt: RenderedText
    answers: list[ScreenAnswerText]


def rendered(text) -> RenderedText:
    """Return `text` with its sanitised HTML; None and non-strings become their str(), None becoming ""."""
    markdown = "" if text is None else str(text)
    return RenderedText(markdown=markdown, html=render_markdown(markdown))


def task_turns(assignment: Assignment) -> list[TaskTurn]:
    """Pair each user turn of the assignment's prompt with the shown answers to it, A first.

    The annotator pages pair turns and answers the same way (annotate.views).
    """
    prompt = assignment.item.prompt
    screen_order = assignment.shown_answers()
    labels = PAIRWISE_LABELS if len(screen_order) == 2 else (None,)

    user_turns = [prompt.text, *(prompt.follow_up_turns or [])]
    turns = []
    for index, user_text in enumerate(user_turns):
        answers = [
            ScreenAnswerText(label=label, text=rendered(answer.turn_text(index)))
            for label, answer in zip(labels, screen_order, strict=True)
        ]
        turns.append(TaskTurn(number=index + 1, prompt=rendered(user_text), answers=answers))
    return turns
