"""Lease items to annotators and store their judgments.

An item's load is its count of non-surplus judgments plus the unexpired
leases that other annotators hold on it. An item is offered only while its
load is below the study's overlap, so a new lease never raises the load above
the overlap. A late submit (after its lease expired) can, and any judgment
that arrives once the item has its overlap is stored as surplus.

Every decision that reads a load and then writes (a new lease, a judgment's
surplus flag) locks the item row first. A new lease also locks the
annotator's user row before anything else, so one annotator holds at most
one unexpired lease per study. On PostgreSQL those locks are row locks.
SQLite has no row locks, but the settings open every transaction
IMMEDIATE, so each atomic block already holds the database's single write
lock.
"""

import logging
import math
import random
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from annotate import gold, lease_sql
from annotate.errors import AnnotatorPaused, InvalidAnswer
from annotate.models import (
    Assignment,
    AssignmentStatus,
    Criterion,
    CriterionAnswer,
    Item,
    Judgment,
    Outcome,
    Study,
    StudyKind,
)
from annotate.screen_order import choose_first_on_left
from annotate.sql_rows import insert_instances

logger = logging.getLogger(__name__)

# Draws the start of each item's left/right order (annotate.screen_order);
# it needs no seed because the order is stored on the assignment and copied
# onto the judgment.
_order_rng = random.Random()

# A reported time on task above this is treated as missing: a tab left open
# overnight measures nothing useful.
MAX_TIME_ON_TASK_SECONDS = 24 * 60 * 60


class ScreenChoice(models.TextChoices):
    """Pairwise choices as the annotator makes them: by screen position."""

    A = "A", gettext_lazy("A is better")
    B = "B", gettext_lazy("B is better")
    TIE = "tie", gettext_lazy("Tie")
    BOTH_BAD = "both_bad", gettext_lazy("Both are bad")


@dataclass(frozen=True)
class Progress:
    """An annotator's progress in one study."""

    done: int
    left: int

    @property
    def total(self) -> int:
        return self.done + self.left


def next_assignment(study: Study, annotator, now: datetime | None = None) -> Assignment | None:
    """Return the annotator's current lease in `study`, or lease them a new item.

    1. An unexpired lease of theirs is returned unchanged, so reloading the
       next-task page never skips a task.
    2. Otherwise the candidates are the items they have neither submitted
       nor skipped and whose load is below the overlap. An item whose lease
       of theirs expired is a candidate too, and comes first: they may still
       have its page open.
    3. Among the rest, the most counted judgments (closest to completion)
       come first, then `sort_key`. Counted judgments leave out surplus ones
       and those of annotators excluded from the study
       (annotate.judgment_count), so an exclusion reopens their items.
    4. The chosen item is locked and its load counted again before leasing.
       When a concurrent lease has filled it meanwhile, the item is passed
       over and its lock released.
    5. With probability `study.gold_rate`, a gold item they have not been
       given takes its place (annotate.gold.pick_gold_item). Gold items are
       never candidates in steps 2 to 4.

    Returns None when nothing is left for this annotator. Raises
    AnnotatorPaused when their work on the study is paused, even while they
    hold a lease. The study's status is not checked here; the views refuse
    new tasks in a study that is not open.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # Serialises this annotator's pickers, so two requests (a double
        # click, two tabs) cannot both miss the current lease and lease two
        # items. NO KEY UPDATE still lets other transactions insert rows that
        # reference the user, such as a judgment submitted meanwhile.
        lease_sql.lock_annotator(annotator.pk)
        # Read only after the lock is granted: on PostgreSQL a statement sees
        # the rows committed before it started, so the lock query itself
        # could miss a lease that the request it waited for has just made.
        state = lease_sql.annotator_state(study, annotator.pk, now)
        if state.paused:
            raise AnnotatorPaused(_("Your work on this study is paused. Please contact the study manager."))
        if state.current_lease_id is not None:
            return Assignment.objects.get(pk=state.current_lease_id)

        passed_over = []
        wait = False
        while True:
            try:
                return _lease_best_item(study, annotator, now, passed_over, wait, state.has_expired_lease)
            except _ItemFull as full:
                passed_over.append(full.item_pk)
                wait = False
            except _NothingFree:
                # Either nothing is left, or concurrent pickers hold every
                # candidate for a moment. Wait for the best one instead of
                # reporting "nothing left" while items still have room.
                wait = True


class _ItemFull(Exception):
    def __init__(self, item_pk):
        super().__init__(item_pk)
        self.item_pk = item_pk


def _lease_best_item(study, annotator, now, passed_over, wait, has_expired_lease) -> Assignment | None:
    """Pick the best item and lease it, in a savepoint.

    Without `wait`, the pick skips items that other transactions have
    locked (a concurrent picker moves on instead of waiting), and finding
    none raises _NothingFree. With `wait`, it waits for the best item's
    lock, and finding none returns None: nothing is left. Raises _ItemFull
    when the picked item turns out to have no room once locked.

    Raising rolls the savepoint back, which releases the item's row lock
    and any rows a skipping scan locked on its way (see
    annotate.lease_sql.pick_item). A picker then holds no item lock while it
    waits for another, so two pickers cannot deadlock on item rows.
    """
    with transaction.atomic():
        item = lease_sql.pick_item(
            study, annotator.pk, now, passed_over, skip_locked=not wait, has_expired_lease=has_expired_lease
        )
        if item is None:
            if not wait:
                raise _NothingFree
            return None
        # PostgreSQL: the pick query read its loads before this row lock was
        # granted, so a lease committed in between is only seen now. A
        # database without row locks (SQLite) needs no second look: its
        # IMMEDIATE transaction holds the write lock from the start, so no
        # lease can be committed between the pick and this point.
        tally = None
        if connection.features.has_select_for_update:
            load, tally = lease_sql.item_load_and_tally(item.pk, annotator.pk, now)
            if load >= study.overlap:
                raise _ItemFull(item.pk)
        # Gold is drawn only once a regular item is found, so nobody gets
        # gold items after their last regular task.
        if gold.draw_gold(study):
            gold_item = gold.pick_gold_item(study, annotator)
            if gold_item is not None:
                return _lease(gold_item, annotator, study, now, has_own_assignment=None)
        return _lease(item, annotator, study, now, has_own_assignment=item.own_expired, tally=tally)


class _NothingFree(Exception):
    """No candidate item was free of other transactions' locks."""


def _lease(item, annotator, study, now, has_own_assignment: bool | None, tally=None) -> Assignment:
    """Lease `item` to the annotator: renew their expired lease on it, or create an assignment.

    `has_own_assignment` says whether they hold an (expired) assignment of
    the item, as the pick query found out; None looks it up. Passing it on
    saves a query on every new lease. `tally` is the item's left/right
    tally (annotate.screen_order) read under its lock, or None to read it.
    """
    expires_at = now + study.lease_duration
    assignment = None
    if has_own_assignment is not False:
        assignment = Assignment.objects.filter(item=item, annotator=annotator).first()
    if assignment is not None:
        # Renew the annotator's own expired lease on the same row, keeping
        # the left/right order they saw before.
        assignment.leased_at = now
        assignment.expires_at = expires_at
        assignment.save(update_fields=["leased_at", "expires_at"])
        logger.info(
            "Renewed assignment %s of item %s for annotator %s",
            assignment.uuid,
            item.uuid,
            annotator.pk,
        )
        return assignment

    assignment = Assignment(
        item=item,
        annotator=annotator,
        first_on_left=choose_first_on_left(item, now, _order_rng, tally=tally),
        leased_at=now,
        expires_at=expires_at,
    )
    insert_instances([assignment])
    logger.info("Leased item %s to annotator %s as assignment %s", item.uuid, annotator.pk, assignment.uuid)
    return assignment


def submit_judgment(
    assignment: Assignment,
    answers: dict,
    rationale: str = "",
    time_on_task: float | None = None,
    now: datetime | None = None,
    criteria: list[Criterion] | None = None,
) -> Judgment:
    """Store the annotator's judgment for `assignment` and return it.

    `answers` maps each criterion's name to a screen choice (`ScreenChoice`
    values) in pairwise studies or to an integer score in rating studies.
    Pairwise choices are stored canonically: the response shown at the chosen
    position becomes the winner. A second submit of the same assignment
    returns the first judgment and changes nothing. A submit after the lease
    expired is stored; it is marked surplus when the item already has its
    overlap of non-surplus judgments. `time_on_task` falls back to the time
    since the lease began when missing or unusable (see parse_time_on_task).
    Raises InvalidAnswer, naming the criterion, when an answer is missing or
    out of range. `criteria` are the study's criteria when the caller has
    already fetched them (the submit view has, for its form).
    """
    now = now or timezone.now()
    study = assignment.item.study
    if criteria is None:
        criteria = list(study.criteria.all())
    cleaned = validate_answers(study, criteria, answers)
    seconds = _time_on_task(time_on_task, assignment, now)

    try:
        with transaction.atomic():
            return _store_judgment(assignment, study, criteria, cleaned, rationale, seconds)
    except IntegrityError:
        # Two submits of one assignment raced past the existence check on a
        # database without the row lock; the one-to-one key kept the first.
        existing = Judgment.objects.filter(assignment_id=assignment.pk).first()
        if existing is None:
            raise
        return existing


def validate_answers(study: Study, criteria: list[Criterion], answers: dict) -> dict:
    """Return {criterion name: choice or int score}, or raise InvalidAnswer naming the criterion."""
    names = {criterion.name for criterion in criteria}
    unknown = sorted(set(answers) - names)
    if unknown:
        raise InvalidAnswer(
            _("“%(criterion)s” is not a criterion of this study.") % {"criterion": unknown[0]},
            unknown[0],
        )

    cleaned = {}
    for criterion in criteria:
        value = answers.get(criterion.name)
        if value is None or value == "":
            raise InvalidAnswer(
                _("Answer the question for “%(criterion)s”.") % {"criterion": criterion.name},
                criterion.name,
            )
        if study.kind == StudyKind.PAIRWISE:
            cleaned[criterion.name] = _clean_choice(criterion, value)
        else:
            cleaned[criterion.name] = _clean_score(criterion, value)
    return cleaned


def _clean_choice(criterion, value) -> str:
    if value not in ScreenChoice.values:
        raise InvalidAnswer(
            _("“%(value)s” is not a valid choice for “%(criterion)s”; choose A, B, tie or both bad.")
            % {"value": value, "criterion": criterion.name},
            criterion.name,
        )
    return value


def _clean_score(criterion, value) -> int:
    try:
        score = int(value)
    except (TypeError, ValueError):
        score = None
    # bool is an int subclass, and a float like 3.5 would truncate silently.
    if score is None or isinstance(value, bool | float) or score not in criterion.scale:
        raise InvalidAnswer(
            _("The score for “%(criterion)s” must be a whole number from %(low)d to %(high)d; got “%(value)s”.")
            % {
                "criterion": criterion.name,
                "low": criterion.scale_min,
                "high": criterion.scale_max,
                "value": value,
            },
            criterion.name,
        )
    return score


def parse_time_on_task(reported) -> float | None:
    """Return the reported time on task in seconds, or None when it is unusable.

    Unparsable, negative, non-finite and absurdly large values (over
    MAX_TIME_ON_TASK_SECONDS) are all unusable.
    """
    try:
        seconds = float(reported)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_TIME_ON_TASK_SECONDS:
        return None
    return seconds


def _time_on_task(reported, assignment, now) -> float:
    seconds = parse_time_on_task(reported)
    if seconds is not None:
        return seconds
    return max((now - assignment.leased_at).total_seconds(), 0.0)


def _store_judgment(assignment, study, criteria, cleaned, rationale, seconds) -> Judgment:
    # Whether the annotator is excluded decides whether the judgment counts
    # toward the overlap. Their status row is locked before the item, in the
    # order gold.set_excluded takes the two: an exclusion either waits for
    # this submit and recounts its item, or is seen by it.
    excluded = lease_sql.lock_annotator_status(study.pk, assignment.annotator_id)
    # The item lock serialises submits on one item, so two late submits
    # cannot both see room left under the overlap, and the item's counter
    # of judgments stays exact.
    item = lease_sql.lock_item(assignment.item_id)
    # Read after the lock is granted, so a submit of the same assignment
    # that held the lock is seen.
    if lease_sql.has_judgment(assignment.pk):
        existing = Judgment.objects.get(assignment_id=assignment.pk)
        logger.info("Assignment %s submitted again; kept judgment %s", assignment.uuid, existing.uuid)
        return existing

    # Gold items sit outside the overlap, so their judgments are never surplus.
    is_surplus = not item.is_gold and item.counted_judgments >= study.overlap
    judgment = Judgment(
        assignment=assignment,
        item=item,
        annotator_id=assignment.annotator_id,
        first_on_left=assignment.first_on_left,
        rationale=rationale.strip(),
        time_on_task_seconds=seconds,
        is_surplus=is_surplus,
    )
    insert_instances([judgment])
    if not is_surplus and not excluded:
        lease_sql.count_judgment(item.pk)
    screen_order = assignment.shown_answers()
    answers = [_criterion_answer(judgment, criterion, cleaned[criterion.name], screen_order) for criterion in criteria]
    if answers:
        insert_instances(answers)
    if item.is_gold:
        judgment.gold_correct = gold.score_judgment(judgment)
        judgment.save(update_fields=["gold_correct"])
        gold.apply_qualification_rule(study, judgment.annotator_id)
    lease_sql.set_assignment_status(assignment.pk, AssignmentStatus.SUBMITTED)
    assignment.status = AssignmentStatus.SUBMITTED

    logger.info(
        "Stored judgment %s for assignment %s (item %s, surplus=%s)",
        judgment.uuid,
        assignment.uuid,
        item.uuid,
        judgment.is_surplus,
    )
    return judgment


def _criterion_answer(judgment, criterion, value, screen_order) -> CriterionAnswer:
    if isinstance(value, int):
        return CriterionAnswer(judgment=judgment, criterion=criterion, score=value)
    if value in (ScreenChoice.A, ScreenChoice.B):
        chosen = screen_order[0 if value == ScreenChoice.A else 1]
        if chosen.response is None:
            # The annotator preferred an attention check's planted text.
            return CriterionAnswer(judgment=judgment, criterion=criterion, outcome=Outcome.ATTENTION_TEXT)
        return CriterionAnswer(judgment=judgment, criterion=criterion, outcome=Outcome.WIN, winner=chosen.response)
    outcome = Outcome.TIE if value == ScreenChoice.TIE else Outcome.BOTH_BAD
    return CriterionAnswer(judgment=judgment, criterion=criterion, outcome=outcome)


def annotator_progress(study: Study, annotator) -> Progress:
    """Count the annotator's judgments in `study` and the items still open to them.

    `left` counts items they have neither judged nor skipped that still want
    judgments; it ignores leases others hold, so it can exceed what they will get.
    """
    counts = lease_sql.study_counts(study, annotator.pk)
    return Progress(done=counts.done, left=counts.left)


def task_page_counts(study: Study, annotator) -> lease_sql.StudyCounts:
    """Count what the task page shows: the annotator's progress, the study's items left and their last judgment.

    One query (annotate.lease_sql.study_counts) instead of four, because
    every task page view runs it.
    """
    return lease_sql.study_counts(study, annotator.pk)


def items_left_in_study(study: Study) -> int:
    """Count the study's items that still want judgments from anyone.

    Gold items sit outside the overlap count, so they are left out.
    """
    return Item.objects.filter(study=study, is_gold=False, counted_judgments__lt=study.overlap).count()
