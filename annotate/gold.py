"""Gold items, annotator accuracy on them and the qualification rule.

A gold item has a known right answer and is mixed into an annotator's tasks
at the study's `gold_rate` (see `draw_gold` and annotate.assignment). It sits
outside the overlap count: every annotator may get each gold item once, and
its judgments are never surplus. Reports leave gold items out of every
figure.

Two kinds of gold item exist:
- a regular item the manager marks gold with its right answer
  (`mark_gold`);
- an attention check (`create_attention_check`), where text the manager
  writes stands in for a model response. Pairwise, the item shows one real
  response of a study system beside that text and the real response is the
  right answer. Rating, the item shows the text alone and the right answer
  is a low score range.

Scoring rule: only the study's first criterion (lowest position) is
scored. It is the study's main question, and a planted answer can be right
on one criterion and wrong on another: a nonsense answer is harmless on a
safety question. Answers to the other criteria on gold items are stored but
leave `gold_correct` unchanged. A pairwise judgment is right when its
canonical outcome on that criterion equals the item's right outcome (and,
for a win, the winner is the right response), so screen positions never
matter. A rating judgment is right when its score on that criterion lies
in the item's accepted range, bounds included.
"""

import logging
import random
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import translation
from django.utils.translation import gettext as _

from annotate.errors import InvalidGold
from annotate.judgment_count import recount
from annotate.models import (
    AnnotatorStatus,
    AssignmentStatus,
    Criterion,
    CriterionAnswer,
    Item,
    Judgment,
    Outcome,
    Study,
    StudyKind,
)
from generation.models import GenerationRun, Prompt, Response

logger = logging.getLogger(__name__)

# Decides whether a task is drawn from the gold items. Tests replace it with
# a seeded random.Random to make the mix reproducible.
gold_rng = random.Random()

# The right outcomes a manager may give a regular pairwise gold item.
RIGHT_PAIRWISE_OUTCOMES = (Outcome.WIN, Outcome.TIE, Outcome.BOTH_BAD)


@dataclass(frozen=True)
class GoldAccuracy:
    """An annotator's scored gold judgments in one study."""

    annotator_id: int
    total: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        """Share of right answers from 0 to 1, or None without scored gold judgments."""
        return self.correct / self.total if self.total else None


def scored_criterion(study: Study) -> Criterion | None:
    """Return the criterion that gold items are scored on: the study's first, or None without criteria."""
    return study.criteria.order_by("position", "pk").first()


# Creating gold items


def mark_gold(
    item: Item,
    *,
    outcome: str | None = None,
    winner: Response | None = None,
    min_score: int | None = None,
    max_score: int | None = None,
) -> Item:
    """Make `item` a gold item with the given right answer, or change its right answer.

    Pairwise items take `outcome` (win, tie or both bad) and, for a win,
    `winner`, one of the item's two responses. Rating items take the
    accepted range `min_score` to `max_score` on the scored criterion's
    scale. Judgments the item already has are scored at once and lose any
    surplus flag, because gold judgments are never surplus. Raises
    InvalidGold, changing nothing, when the answer does not fit the item.
    """
    study = item.study
    if study.kind == StudyKind.PAIRWISE:
        _check_pairwise_answer(item, outcome, winner)
    else:
        min_score, max_score = _check_score_range(study, min_score, max_score)

    with transaction.atomic():
        # The item lock orders this change with submits on the same item,
        # so no judgment is stored and then missed by the rescoring below.
        locked = Item.objects.select_for_update().get(pk=item.pk)
        locked.is_gold = True
        if study.kind == StudyKind.PAIRWISE:
            locked.gold_outcome = outcome
            locked.gold_winner = winner if outcome == Outcome.WIN else None
        else:
            locked.gold_min_score, locked.gold_max_score = min_score, max_score
        locked.save(update_fields=["is_gold", "gold_outcome", "gold_winner", "gold_min_score", "gold_max_score"])
        rescored = _rescore(locked)
        recount(Item.objects.filter(pk=locked.pk))

    logger.info("Marked item %s of study %s gold; rescored %d judgments", locked.uuid, study.uuid, rescored)
    return locked


def unmark_gold(item: Item) -> Item:
    """Turn gold item `item` back into a regular item that counts toward the overlap.

    Its judgments lose their gold score, and those beyond the overlap, in
    the order they arrived, become surplus. Raises InvalidGold for an
    attention check, which has no second model response to become a
    regular item with.
    """
    if item.attention_text:
        raise InvalidGold(_("An attention check cannot become a regular item, because part of it is text you wrote."))

    with transaction.atomic():
        # Serialises with submits, which decide surplus under the same lock.
        locked = Item.objects.select_for_update().get(pk=item.pk)
        locked.is_gold = False
        locked.gold_outcome = ""
        locked.gold_winner = None
        locked.gold_min_score = locked.gold_max_score = None
        locked.save(update_fields=["is_gold", "gold_outcome", "gold_winner", "gold_min_score", "gold_max_score"])

        judgments = list(locked.judgments.order_by("created_at", "pk"))
        for position, judgment in enumerate(judgments):
            judgment.gold_correct = None
            judgment.is_surplus = position >= locked.study.overlap
        Judgment.objects.bulk_update(judgments, ["gold_correct", "is_surplus"])
        recount(Item.objects.filter(pk=locked.pk))

    logger.info("Item %s of study %s is no longer gold", locked.uuid, locked.study.uuid)
    return locked


def create_attention_check(
    study: Study,
    prompt: Prompt,
    text: str,
    *,
    system: GenerationRun | None = None,
    min_score: int | None = None,
    max_score: int | None = None,
) -> Item:
    """Create an attention-check gold item in `study` on `prompt` with the manager's `text`.

    Pairwise studies need `system`, one of the study's systems with a
    response to `prompt`: that response is shown beside `text` and is the
    right answer. Rating studies show `text` alone; the accepted range
    defaults to the lowest score and the one above it (see
    `default_attention_range`). The prompt must have a single turn, because
    the text answers only the first turn and an empty answer to a later
    turn would give the check away. Raises InvalidGold, changing nothing.
    """
    text = (text or "").strip()
    if not text:
        raise InvalidGold(_("Write the attention-check answer; it is empty."), "text")
    _check_prompt(study, prompt)

    item = Item(study=study, prompt=prompt, attention_text=text, is_gold=True, sort_key=random.random())
    if study.kind == StudyKind.PAIRWISE:
        item.first_response = _system_response(study, prompt, system)
        item.gold_outcome = Outcome.WIN
        item.gold_winner = item.first_response
    else:
        if system is not None:
            raise InvalidGold(_("A rating attention check shows your text alone; leave the system empty."), "system")
        if min_score is None and max_score is None:
            criterion = _require_scored_criterion(study)
            min_score, max_score = default_attention_range(criterion)
        item.gold_min_score, item.gold_max_score = _check_score_range(study, min_score, max_score)
    item.save()

    logger.info("Created attention check %s in study %s on prompt %s", item.uuid, study.uuid, prompt.pk)
    return item


def default_attention_range(criterion: Criterion) -> tuple[int, int]:
    """Return the accepted scores for an obviously bad answer: the lowest score and the one above it."""
    return criterion.scale_min, min(criterion.scale_min + 1, criterion.scale_max)


def _check_pairwise_answer(item: Item, outcome: str | None, winner: Response | None) -> None:
    if item.attention_text and (outcome != Outcome.WIN or winner is None or winner.pk != item.first_response_id):
        raise InvalidGold(_("The right answer of a pairwise attention check is always its model response."), "outcome")
    if outcome not in RIGHT_PAIRWISE_OUTCOMES:
        raise InvalidGold(
            _("Choose the right outcome: one response better, tie, or both bad; got “%(outcome)s”.")
            % {"outcome": outcome or ""},
            "outcome",
        )
    item_responses = {item.first_response_id, item.second_response_id}
    if outcome == Outcome.WIN and (winner is None or winner.pk not in item_responses):
        raise InvalidGold(_("Choose which of the item's two responses is the better one."), "winner")
    if outcome != Outcome.WIN and winner is not None:
        raise InvalidGold(_("Leave the winner empty unless one response is better."), "winner")


def _require_scored_criterion(study: Study) -> Criterion:
    criterion = scored_criterion(study)
    if criterion is None:
        raise InvalidGold(
            _("Study “%(study)s” has no criteria yet; add its questions before its gold items.") % {"study": study.name}
        )
    return criterion


def _check_score_range(study: Study, min_score, max_score) -> tuple[int, int]:
    """Return the range as integers, or raise InvalidGold unless it lies on the scored criterion's scale."""
    criterion = _require_scored_criterion(study)
    bounds = {}
    for field, value in (("min_score", min_score), ("max_score", max_score)):
        if isinstance(value, bool) or not isinstance(value, int) or value not in criterion.scale:
            raise InvalidGold(
                _(
                    "The right scores must be whole numbers from %(low)d to %(high)d, the scale of "
                    "“%(criterion)s”; got “%(value)s”."
                )
                % {
                    "low": criterion.scale_min,
                    "high": criterion.scale_max,
                    "criterion": criterion.name,
                    "value": value,
                },
                field,
            )
        bounds[field] = value
    if bounds["min_score"] > bounds["max_score"]:
        raise InvalidGold(
            _("The lowest right score (%(low)d) is above the highest (%(high)d).")
            % {"low": bounds["min_score"], "high": bounds["max_score"]},
            "max_score",
        )
    return bounds["min_score"], bounds["max_score"]


def _check_prompt(study: Study, prompt: Prompt) -> None:
    if prompt is None or prompt.prompt_set_id != study.prompt_set_id:
        raise InvalidGold(
            _("Choose a prompt of the study's prompt set “%(prompt_set)s”.") % {"prompt_set": study.prompt_set.name},
            "prompt",
        )
    if study.categories and prompt.category not in study.categories:
        raise InvalidGold(
            _("The prompt's category “%(category)s” is not one the study judges (%(categories)s).")
            % {"category": prompt.category, "categories": ", ".join(study.categories)},
            "prompt",
        )
    if prompt.follow_up_turns:
        raise InvalidGold(
            _("Choose a prompt with a single turn; this one has %(turns)d, and the check answers only the first.")
            % {"turns": 1 + len(prompt.follow_up_turns)},
            "prompt",
        )


def _system_response(study: Study, prompt: Prompt, system: GenerationRun | None) -> Response:
    if system is None or not study.systems.filter(pk=system.pk).exists():
        raise InvalidGold(_("Choose one of the study's systems to supply the real response."), "system")
    response = Response.objects.filter(run=system, prompt=prompt).first()
    if response is None:
        raise InvalidGold(
            _("System “%(system)s” has no response to this prompt; choose another system or prompt.")
            % {"system": system.system_name},
            "system",
        )
    return response


# Scoring


def score_judgment(judgment: Judgment) -> bool | None:
    """Return whether `judgment` gives its gold item's right answer, or None when there is nothing to score.

    None means the item is not gold, the judgment has no answer on the
    scored criterion, or the item lacks a right answer. The module
    docstring gives the rule.
    """
    item = judgment.item
    if not item.is_gold:
        return None
    criterion = scored_criterion(item.study)
    answer = judgment.answers.filter(criterion=criterion).first() if criterion else None
    if answer is None:
        return None
    return answer_is_right(item, answer)


def answer_is_right(item: Item, answer: CriterionAnswer) -> bool | None:
    """Compare one criterion answer with the gold item's right answer; None when the item has none."""
    if item.study.kind == StudyKind.PAIRWISE:
        if not item.gold_outcome:
            logger.warning("Gold item %s has no right outcome; its judgments stay unscored", item.uuid)
            return None
        if answer.outcome != item.gold_outcome:
            return False
        return item.gold_outcome != Outcome.WIN or answer.winner_id == item.gold_winner_id

    if item.gold_min_score is None or item.gold_max_score is None:
        logger.warning("Gold item %s has no accepted score range; its judgments stay unscored", item.uuid)
        return None
    return answer.score is not None and item.gold_min_score <= answer.score <= item.gold_max_score


def _rescore(item: Item) -> int:
    """Score every judgment of gold item `item` again and clear its surplus flags; return how many."""
    criterion = scored_criterion(item.study)
    answers = {}
    if criterion is not None:
        scored = CriterionAnswer.objects.filter(judgment__item=item, criterion=criterion)
        answers = {answer.judgment_id: answer for answer in scored}
    judgments = list(item.judgments.all())
    for judgment in judgments:
        answer = answers.get(judgment.pk)
        judgment.gold_correct = answer_is_right(item, answer) if answer is not None else None
        judgment.is_surplus = False
    Judgment.objects.bulk_update(judgments, ["gold_correct", "is_surplus"])
    return len(judgments)


# Accuracy and the qualification rule


def gold_accuracy(study: Study) -> dict[int, GoldAccuracy]:
    """Return {annotator id: GoldAccuracy} for everyone with a scored gold judgment in `study`, in one query.

    Judgments of excluded annotators count too: exclusion concerns the
    reports, and a manager deciding on an annotator needs their accuracy.
    """
    rows = (
        Judgment.objects.filter(item__study=study, item__is_gold=True, gold_correct__isnull=False)
        .values("annotator")
        .order_by()
        .annotate(total=Count("pk"), correct=Count("pk", filter=Q(gold_correct=True)))
    )
    return {row["annotator"]: GoldAccuracy(row["annotator"], row["total"], row["correct"]) for row in rows}


def annotator_gold_accuracy(study: Study, annotator_id: int) -> GoldAccuracy:
    """Return one annotator's scored gold judgments in `study`, in one query."""
    counts = Judgment.objects.filter(
        item__study=study, item__is_gold=True, gold_correct__isnull=False, annotator_id=annotator_id
    ).aggregate(total=Count("pk"), correct=Count("pk", filter=Q(gold_correct=True)))
    return GoldAccuracy(annotator_id, counts["total"], counts["correct"])


def apply_qualification_rule(study: Study, annotator_id: int) -> bool:
    """Pause the annotator when their gold accuracy fell below the study's minimum; return True if paused now.

    The rule applies once the annotator has `qualification_min_gold` scored
    gold judgments (at least one), and only when the study sets
    `qualification_min_accuracy`. An annotator who is paused already keeps
    their status and reason. A manager may unpause them, and the next gold
    judgment applies the rule again.
    """
    minimum = study.qualification_min_accuracy
    if minimum is None:
        return False
    result = annotator_gold_accuracy(study, annotator_id)
    if result.total < max(study.qualification_min_gold, 1) or result.accuracy >= minimum:
        return False

    status, _created = AnnotatorStatus.objects.get_or_create(study=study, annotator_id=annotator_id)
    if status.is_paused:
        return False
    status.is_paused = True
    status.paused_reason = _pause_reason(result, minimum)
    status.save(update_fields=["is_paused", "paused_reason", "updated_at"])

    logger.info(
        "Paused annotator %s in study %s: gold accuracy %d of %d, minimum %.3f",
        annotator_id,
        study.uuid,
        result.correct,
        result.total,
        minimum,
    )
    return True


def _pause_reason(result: GoldAccuracy, minimum: float) -> str:
    # Stored for managers, so in the site's language rather than the
    # language of the annotator whose submit triggered the rule.
    with translation.override(settings.LANGUAGE_CODE):
        return _(
            "Gold accuracy %(accuracy).0f%% (%(correct)d of %(total)d right) fell below the study's "
            "minimum of %(minimum).0f%%."
        ) % {
            "accuracy": 100 * result.accuracy,
            "correct": result.correct,
            "total": result.total,
            "minimum": 100 * minimum,
        }


def is_paused(study: Study, annotator) -> bool:
    """Return whether `annotator`'s work on `study` is paused."""
    return AnnotatorStatus.objects.filter(study=study, annotator=annotator, is_paused=True).exists()


def set_excluded(study: Study, annotator_id: int, excluded: bool) -> AnnotatorStatus:
    """Exclude the annotator's judgments in `study` from the reports, or include them again.

    Nothing is deleted: the judgments stay stored, and reports can include
    them on request. An excluded annotator's judgments stop counting toward
    the overlap, so their items are offered to other annotators again until
    they have enough judgments the reports use.
    """
    with transaction.atomic():
        status, _created = AnnotatorStatus.objects.get_or_create(study=study, annotator_id=annotator_id)
        status.is_excluded = excluded
        status.save(update_fields=["is_excluded", "updated_at"])
        judged = Judgment.objects.filter(item__study=study, annotator_id=annotator_id).values("item_id")
        recount(Item.objects.filter(study=study, pk__in=judged))
    logger.info("Annotator %s in study %s: excluded=%s", annotator_id, study.uuid, excluded)
    return status


def set_paused(study: Study, annotator_id: int, paused: bool, reason: str = "") -> AnnotatorStatus:
    """Pause the annotator's work on `study` with `reason`, or let them resume (which clears the reason)."""
    status, _created = AnnotatorStatus.objects.get_or_create(study=study, annotator_id=annotator_id)
    status.is_paused = paused
    status.paused_reason = reason.strip()[:500] if paused else ""
    status.save(update_fields=["is_paused", "paused_reason", "updated_at"])
    logger.info("Annotator %s in study %s: paused=%s", annotator_id, study.uuid, paused)
    return status


# Mixing


def draw_gold(study: Study) -> bool:
    """Draw whether the next task comes from the gold items, with probability `study.gold_rate`."""
    return study.gold_rate > 0 and gold_rng.random() < study.gold_rate


def pick_gold_item(study: Study, annotator) -> Item | None:
    """Return a gold item of `study` that `annotator` has not judged, skipped or been given, or None.

    The item is drawn at random from those left, so annotators meet the
    gold items in different orders and cannot tell each other "the third
    check is this one". A gold item whose lease of theirs expired
    unsubmitted may come back, because they have not judged it yet. No row
    lock is needed: gold items have no overlap to protect, and the unique
    (item, annotator) key of assignments keeps each annotator to one
    assignment per item.
    """
    done = Q(assignments__annotator=annotator) & ~Q(assignments__status=AssignmentStatus.LEASED)
    left = list(
        Item.objects.filter(study=study, is_gold=True)
        .exclude(pk__in=Item.objects.filter(done, study=study).values("pk"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not left:
        return None
    return Item.objects.get(pk=gold_rng.choice(left))
