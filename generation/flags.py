"""Answer flags: responses that a manager should check before a study opens.

- empty: the answer to at least one turn is blank after stripping whitespace.
- cut off: generation stopped at the token limit (finish reason "length").
- identical: the answers to every turn, stripped, equal another run's
  response to the same prompt. Responses with a blank turn are flagged as
  empty only, so two empty responses do not also count as identical.

Whitespace is stripped in Python (`str.strip`), because SQL TRIM removes
spaces only, not newlines, so the empty and identical checks read the texts.
"""

import hashlib
import json

from django.db import models
from django.utils.translation import gettext_lazy as _

from generation.models import FinishReason, GenerationRun, Response


class Flag(models.TextChoices):
    EMPTY = "empty", _("empty")
    CUT_OFF = "cut_off", _("cut off")
    IDENTICAL = "identical", _("identical to another run's")


def flagged(responses, flag: Flag):
    """Return the responses of the queryset `responses` that carry `flag`."""
    if flag == Flag.CUT_OFF:
        return responses.filter(finish_reason=FinishReason.LENGTH)
    if flag == Flag.EMPTY:
        ids = _empty_ids(responses)
    elif flag == Flag.IDENTICAL:
        ids = _identical_ids(responses)
    else:
        raise ValueError(f"Unknown answer flag {flag!r}; use one of {Flag.values}.")
    # NOTE: the ids go into one IN clause. SQLite 3.32+ allows 32,766 bound
    # values and PostgreSQL's protocol 65,535, far above a few hundred prompts per run.
    return responses.filter(pk__in=ids)


def flag_counts(run: GenerationRun) -> dict[Flag, int]:
    """Count the responses of `run` that carry each flag."""
    responses = run.responses.all()
    return {
        Flag.EMPTY: len(_empty_ids(responses)),
        Flag.CUT_OFF: flagged(responses, Flag.CUT_OFF).count(),
        Flag.IDENTICAL: len(_identical_ids(responses)),
    }


def flags_by_response(responses) -> dict[int, list[Flag]]:
    """Map the primary key of each response in the queryset `responses` to its flags, in `Flag` order.

    Meant for one page of responses: it reads their texts and those of every
    other run's response to the same prompts.
    """
    rows = list(responses.order_by().values_list("pk", "finish_reason"))
    flags = {pk: [] for pk, _finish_reason in rows}
    empty = _empty_ids(responses)
    identical = _identical_ids(responses)
    for pk, finish_reason in rows:
        if pk in empty:
            flags[pk].append(Flag.EMPTY)
        if finish_reason == FinishReason.LENGTH:
            flags[pk].append(Flag.CUT_OFF)
        if pk in identical:
            flags[pk].append(Flag.IDENTICAL)
    return flags


def _turns(text: str, follow_up_texts: list[str]) -> list[str]:
    return [answer.strip() for answer in [text, *follow_up_texts]]


def _empty_ids(responses) -> set[int]:
    rows = responses.order_by().values_list("pk", "text", "follow_up_texts")
    return {pk for pk, text, follow_ups in rows.iterator() if not all(_turns(text, follow_ups))}


def _identical_ids(responses) -> set[int]:
    """Return the ids of `responses` whose stripped turns equal another run's response to the same prompt."""
    # Every response to the same prompts, from any run, so comparisons reach
    # runs that `responses` leaves out.
    prompt_ids = responses.order_by().values("prompt_id")
    candidates = Response.objects.filter(prompt_id__in=prompt_ids).order_by()
    rows = candidates.values_list("pk", "prompt_id", "text", "follow_up_texts")

    # A digest instead of the text keeps memory small for long answers.
    ids_by_answer: dict[tuple[int, bytes], list[int]] = {}
    for pk, prompt_id, text, follow_ups in rows.iterator():
        turns = _turns(text, follow_ups)
        if not all(turns):
            continue
        digest = hashlib.sha256(json.dumps(turns).encode()).digest()
        ids_by_answer.setdefault((prompt_id, digest), []).append(pk)

    # One response per run and prompt, so two ids in a group are two runs.
    duplicates = {pk for ids in ids_by_answer.values() if len(ids) > 1 for pk in ids}
    wanted = set(responses.order_by().values_list("pk", flat=True))
    return duplicates & wanted
