"""Studies, criteria, items, assignments and judgments."""

import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from generation.models import GenerationRun, Prompt, PromptSet, Response

# A day: a longer lease keeps an abandoned item out of the pool for longer
# than a study's annotators are likely to wait for it.
MAX_LEASE_MINUTES = 24 * 60

# The widest rating scale: 0 to 10 is the widest in common use, and more
# buttons than that no longer fit one row of a task page or one keystroke
# per score.
MAX_SCALE_POINTS = 11


class StudyKind(models.TextChoices):
    PAIRWISE = "pairwise", _("pairwise")
    RATING = "rating", _("rating")


class StudyStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    OPEN = "open", _("open")
    PAUSED = "paused", _("paused")
    CLOSED = "closed", _("closed")


class Study(models.Model):
    """One human evaluation comparing systems (generation runs) on a prompt set."""

    uuid = models.UUIDField(_("UUID"), default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=StudyKind.choices)
    prompt_set = models.ForeignKey(
        PromptSet, on_delete=models.PROTECT, related_name="studies", verbose_name=_("prompt set")
    )
    systems = models.ManyToManyField(
        GenerationRun, related_name="studies", verbose_name=_("systems"), help_text=_("Generation runs to compare.")
    )
    instructions = models.TextField(_("instructions"), blank=True, help_text=_("Shown to annotators; Markdown."))
    overlap = models.PositiveIntegerField(
        _("judgments per item"), default=3, help_text=_("How many annotators judge each item.")
    )
    lease_minutes = models.PositiveIntegerField(
        _("lease minutes"),
        default=30,
        # A lease of 0 minutes expires at once, so further annotators are
        # offered an item whose task is still open on someone's screen.
        validators=[MinValueValidator(1), MaxValueValidator(MAX_LEASE_MINUTES)],
        help_text=_("Time an annotator holds a task before it returns to the pool."),
    )
    status = models.CharField(_("status"), max_length=20, choices=StudyStatus.choices, default=StudyStatus.DRAFT)
    annotators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="annotated_studies", blank=True, verbose_name=_("annotators")
    )
    managers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="managed_studies",
        blank=True,
        verbose_name=_("study managers"),
        help_text=_("Staff users who manage this study and read its reports. Site admins manage every study."),
    )
    categories = models.JSONField(
        _("prompt categories"),
        default=list,
        blank=True,
        help_text=_("Judge only prompts of these categories. Empty: every prompt of the set."),
    )
    pairs_per_prompt = models.PositiveIntegerField(
        _("model pairs per prompt"),
        null=True,
        blank=True,
        help_text=_(
            "Pairwise only. Empty: every pair of systems on every prompt. A number: that many pairs per "
            "prompt, drawn so that every pair appears about equally often."
        ),
    )
    gold_rate = models.FloatField(
        _("gold item rate"),
        default=0.1,
        help_text=_("Share of tasks drawn from the gold items, from 0 to 1, while an annotator has gold left."),
    )
    qualification_min_accuracy = models.FloatField(
        _("minimum gold accuracy"),
        null=True,
        blank=True,
        help_text=_("Pause an annotator whose gold accuracy falls below this share (0 to 1). Empty: never."),
    )
    qualification_min_gold = models.PositiveIntegerField(
        _("gold judgments before the rule applies"),
        default=5,
        help_text=_("The accuracy rule waits for this many gold judgments."),
    )
    signup_token = models.CharField(
        _("sign-up token"),
        max_length=64,
        blank=True,
        help_text=_("Secret part of the study's sign-up link. Empty: the link is off."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("study")
        verbose_name_plural = _("studies")
        constraints = [
            models.CheckConstraint(condition=models.Q(overlap__gte=1), name="study_overlap_positive"),
            models.CheckConstraint(
                condition=models.Q(lease_minutes__gte=1, lease_minutes__lte=MAX_LEASE_MINUTES),
                name="study_lease_minutes_range",
            ),
            models.CheckConstraint(
                condition=models.Q(gold_rate__gte=0, gold_rate__lte=1), name="study_gold_rate_range"
            ),
            models.CheckConstraint(
                condition=models.Q(qualification_min_accuracy__isnull=True)
                | models.Q(qualification_min_accuracy__gte=0, qualification_min_accuracy__lte=1),
                name="study_min_accuracy_range",
            ),
            models.CheckConstraint(
                condition=models.Q(pairs_per_prompt__isnull=True) | models.Q(pairs_per_prompt__gte=1),
                name="study_pairs_per_prompt_positive",
            ),
            models.UniqueConstraint(
                fields=["signup_token"], condition=~models.Q(signup_token=""), name="study_unique_signup_token"
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def lease_duration(self) -> timedelta:
        return timedelta(minutes=self.lease_minutes)


class Criterion(models.Model):
    """One question a judgment answers: A/B/tie/both bad, or a Likert score."""

    uuid = models.UUIDField(_("UUID"), default=uuid.uuid4, unique=True, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="criteria", verbose_name=_("study"))
    position = models.PositiveIntegerField(_("position"), default=0)
    name = models.CharField(_("name"), max_length=100)
    question = models.CharField(_("question"), max_length=500)
    description = models.TextField(_("description"), blank=True)
    scale_min = models.PositiveSmallIntegerField(_("lowest score"), default=1, help_text=_("Rating studies only."))
    scale_max = models.PositiveSmallIntegerField(_("highest score"), default=5, help_text=_("Rating studies only."))
    low_label = models.CharField(_("label of the lowest score"), max_length=100, blank=True)
    high_label = models.CharField(_("label of the highest score"), max_length=100, blank=True)

    class Meta:
        ordering = ["study", "position"]
        verbose_name = _("criterion")
        verbose_name_plural = _("criteria")
        constraints = [
            models.UniqueConstraint(fields=["study", "name"], name="criterion_unique_name"),
            models.CheckConstraint(
                condition=models.Q(scale_max__gt=models.F("scale_min")), name="criterion_scale_order"
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        if self.scale_min is not None and self.scale_max is not None:
            points = self.scale_max - self.scale_min + 1
            if points > MAX_SCALE_POINTS:
                raise ValidationError(
                    {
                        "scale_max": _(
                            "The scale from %(low)d to %(high)d has %(points)d points; a scale has at most "
                            "%(most)d. Raise the lowest score or lower the highest."
                        )
                        % {"low": self.scale_min, "high": self.scale_max, "points": points, "most": MAX_SCALE_POINTS}
                    }
                )

    @property
    def scale(self) -> range:
        return range(self.scale_min, self.scale_max + 1)


@dataclass(frozen=True)
class ScreenAnswer:
    """One answer as an annotator sees it: a model's response or an attention check's text.

    Pages render only `text` and `follow_up_texts`, through the same
    template markup either way, so an attention check looks like any other
    answer. `response` is None for the attention-check text; the submit
    path uses it to store the canonical outcome.
    """

    text: str
    follow_up_texts: tuple[str, ...]
    response: Response | None

    def turn_text(self, turn_index: int) -> str:
        """Return the answer to the prompt's turn `turn_index` (0 for the first), or "" when missing."""
        if turn_index == 0:
            return self.text
        if turn_index - 1 < len(self.follow_up_texts):
            return self.follow_up_texts[turn_index - 1]
        return ""


class Outcome(models.TextChoices):
    WIN = "win", _("one response better")
    TIE = "tie", _("tie")
    BOTH_BAD = "both_bad", _("both bad")
    # Only on attention-check gold items: the manager's planted answer was
    # chosen. It is not a response, so `winner` stays empty.
    ATTENTION_TEXT = "attention", _("the attention-check answer")


class Item(models.Model):
    """One unit to judge: a prompt with two responses (pairwise) or one (rating).

    `first_response` and `second_response` are in canonical order, which is
    not the order an annotator sees; each assignment stores its own order.

    A gold item has a known right answer and sits outside the overlap count:
    pairwise, `gold_outcome` (with `gold_winner` for a win); rating, the
    accepted score range. An attention check is a gold item whose
    `attention_text`, written by the manager, stands in for the second
    response (pairwise; the real response is the right answer) or for the
    only one (rating; `first_response` is then empty).
    """

    uuid = models.UUIDField(_("UUID"), default=uuid.uuid4, unique=True, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="items", verbose_name=_("study"))
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="items", verbose_name=_("prompt"))
    first_response = models.ForeignKey(
        Response, on_delete=models.PROTECT, related_name="+", null=True, blank=True, verbose_name=_("first response")
    )
    second_response = models.ForeignKey(
        Response, on_delete=models.PROTECT, related_name="+", null=True, blank=True, verbose_name=_("second response")
    )
    # Random per item so that the pick order never follows the order items
    # were built in, which would follow model pairs.
    sort_key = models.FloatField(_("sort key"), db_index=True)
    is_gold = models.BooleanField(_("gold item"), default=False, db_index=True)
    attention_text = models.TextField(
        _("attention-check answer"), blank=True, help_text=_("An obviously bad answer written by the manager.")
    )
    gold_outcome = models.CharField(_("right outcome"), max_length=10, choices=Outcome.choices, blank=True)
    gold_winner = models.ForeignKey(
        Response, on_delete=models.PROTECT, related_name="+", null=True, blank=True, verbose_name=_("right winner")
    )
    gold_min_score = models.SmallIntegerField(_("lowest right score"), null=True, blank=True)
    gold_max_score = models.SmallIntegerField(_("highest right score"), null=True, blank=True)
    # Judgments that count toward the overlap: not surplus, and not by an
    # annotator excluded from the study. Kept by annotate.assignment under
    # the item's row lock, so the next-task query can stop at the first item
    # with room instead of counting every item's judgments.
    counted_judgments = models.PositiveIntegerField(_("counted judgments"), default=0, editable=False)

    class Meta:
        ordering = ["study", "sort_key"]
        verbose_name = _("item")
        verbose_name_plural = _("items")
        indexes = [
            models.Index(fields=["study", "is_gold", "-counted_judgments", "sort_key", "id"], name="item_pick_order"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "first_response", "second_response"], name="item_unique_responses"
            ),
            models.CheckConstraint(
                condition=models.Q(first_response__isnull=False)
                | (models.Q(is_gold=True) & ~models.Q(attention_text="")),
                name="item_has_an_answer",
            ),
        ]

    def __str__(self):
        return str(self.uuid)

    def responses(self) -> list[Response]:
        return [r for r in (self.first_response, self.second_response) if r is not None]

    def canonical_answers(self) -> list[ScreenAnswer]:
        """Return the answers to show in canonical order; an attention check's text comes last."""
        answers = [
            ScreenAnswer(text=response.text, follow_up_texts=tuple(response.follow_up_texts or ()), response=response)
            for response in self.responses()
        ]
        if self.attention_text:
            answers.append(ScreenAnswer(text=self.attention_text, follow_up_texts=(), response=None))
        return answers


class AssignmentStatus(models.TextChoices):
    LEASED = "leased", _("leased")
    SUBMITTED = "submitted", _("submitted")
    SKIPPED = "skipped", _("skipped")


class SkipReason(models.TextChoices):
    CANNOT_JUDGE = "cannot_judge", _("I cannot judge this (language or expertise)")
    BROKEN = "broken", _("The prompt or an answer is broken or empty")
    UNCOMFORTABLE = "uncomfortable", _("I do not want to read this content")
    OTHER = "other", _("Other reason")


class Assignment(models.Model):
    """An item leased to one annotator, with the left/right order they see."""

    uuid = models.UUIDField(_("UUID"), default=uuid.uuid4, unique=True, editable=False)
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments", verbose_name=_("item"))
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments", verbose_name=_("annotator")
    )
    first_on_left = models.BooleanField(
        _("first response on the left"), help_text=_("True when the item's first response is shown as A.")
    )
    status = models.CharField(
        _("status"), max_length=20, choices=AssignmentStatus.choices, default=AssignmentStatus.LEASED
    )
    leased_at = models.DateTimeField(_("leased at"))
    expires_at = models.DateTimeField(_("expires at"), db_index=True)
    skip_reason = models.CharField(_("skip reason"), max_length=20, choices=SkipReason.choices, blank=True)
    skip_note = models.CharField(_("skip note"), max_length=500, blank=True)

    class Meta:
        ordering = ["-leased_at"]
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        constraints = [
            # An annotator judges an item at most once.
            models.UniqueConstraint(fields=["item", "annotator"], name="assignment_unique_annotator"),
        ]

    def __str__(self):
        return str(self.uuid)

    def shown_responses(self) -> list[Response]:
        """Return the item's model responses in screen order (A first), without any attention-check text."""
        responses = self.item.responses()
        if not self.first_on_left:
            responses.reverse()
        return responses

    def shown_answers(self) -> list[ScreenAnswer]:
        """Return every answer the page shows, in screen order (A first)."""
        answers = self.item.canonical_answers()
        if not self.first_on_left:
            answers.reverse()
        return answers


class Judgment(models.Model):
    """What an annotator answered for an assignment."""

    uuid = models.UUIDField(_("UUID"), default=uuid.uuid4, unique=True, editable=False)
    assignment = models.OneToOneField(
        Assignment, on_delete=models.CASCADE, related_name="judgment", verbose_name=_("assignment")
    )
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="judgments", verbose_name=_("item"))
    # PROTECT: deleting a user who made judgments fails, so deactivate them instead.
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="judgments", verbose_name=_("annotator")
    )
    first_on_left = models.BooleanField(_("first response on the left"), help_text=_("The order the annotator saw."))
    rationale = models.TextField(_("rationale"), blank=True)
    time_on_task_seconds = models.FloatField(_("time on task (seconds)"), null=True, blank=True)
    is_surplus = models.BooleanField(
        _("surplus"), default=False, help_text=_("Submitted after the item already had enough judgments.")
    )
    gold_correct = models.BooleanField(
        _("right on a gold item"), null=True, blank=True, help_text=_("Empty for items that are not gold.")
    )
    created_at = models.DateTimeField(_("submitted at"), auto_now_add=True)
    revised_at = models.DateTimeField(
        _("last changed"), null=True, blank=True, help_text=_("Set when the annotator went back and changed it.")
    )

    class Meta:
        ordering = ["created_at"]
        verbose_name = _("judgment")
        verbose_name_plural = _("judgments")

    def __str__(self):
        return str(self.uuid)


class CriterionAnswer(models.Model):
    """A judgment's answer to one criterion.

    Pairwise answers store the winning response itself (or tie / both bad),
    never the screen position. Rating answers store the score.
    """

    judgment = models.ForeignKey(Judgment, on_delete=models.CASCADE, related_name="answers", verbose_name=_("judgment"))
    criterion = models.ForeignKey(
        Criterion, on_delete=models.CASCADE, related_name="answers", verbose_name=_("criterion")
    )
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices, blank=True)
    winner = models.ForeignKey(
        Response, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("winner")
    )
    score = models.SmallIntegerField(_("score"), null=True, blank=True)

    class Meta:
        verbose_name = _("criterion answer")
        verbose_name_plural = _("criterion answers")
        constraints = [
            models.UniqueConstraint(fields=["judgment", "criterion"], name="answer_unique_criterion"),
            models.CheckConstraint(
                condition=(
                    models.Q(outcome="win", winner__isnull=False, score__isnull=True)
                    | models.Q(outcome__in=["tie", "both_bad", "attention"], winner__isnull=True, score__isnull=True)
                    | models.Q(outcome="", winner__isnull=True, score__isnull=False)
                ),
                name="answer_outcome_or_score",
            ),
        ]

    def __str__(self):
        return f"{self.judgment_id}/{self.criterion_id}"


class AnnotatorStatus(models.Model):
    """A manager's decisions about one annotator in one study.

    Excluded judgments stay stored but leave the reports; a paused annotator
    gets no new task. The qualification rule pauses automatically.
    """

    study = models.ForeignKey(
        Study, on_delete=models.CASCADE, related_name="annotator_statuses", verbose_name=_("study")
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="study_statuses", verbose_name=_("annotator")
    )
    is_excluded = models.BooleanField(_("excluded from reports"), default=False)
    is_paused = models.BooleanField(_("paused"), default=False, help_text=_("Gets no new task in this study."))
    paused_reason = models.CharField(_("reason for the pause"), max_length=500, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("annotator status")
        verbose_name_plural = _("annotator statuses")
        constraints = [
            models.UniqueConstraint(fields=["study", "annotator"], name="annotator_status_unique"),
        ]

    def __str__(self):
        return f"{self.study_id}/{self.annotator_id}"


class ContentWarning(models.Model):
    """A warning annotators read before an item whose prompt has this category."""

    prompt_set = models.ForeignKey(
        PromptSet, on_delete=models.CASCADE, related_name="content_warnings", verbose_name=_("prompt set")
    )
    category = models.CharField(_("category"), max_length=100)
    text = models.TextField(_("warning"), help_text=_("Shown before such items; plain text."))

    class Meta:
        ordering = ["prompt_set", "category"]
        verbose_name = _("content warning")
        verbose_name_plural = _("content warnings")
        constraints = [
            models.UniqueConstraint(fields=["prompt_set", "category"], name="content_warning_unique_category"),
        ]

    def __str__(self):
        return f"{self.prompt_set}: {self.category}"


class AuditAction(models.TextChoices):
    CREATED = "created", _("created")
    OPENED = "opened", _("opened")
    PAUSED = "paused", _("paused")
    REOPENED = "reopened", _("reopened")
    CLOSED = "closed", _("closed")
    EXPORTED = "exported", _("exported")
    DELETED = "deleted", _("deleted")
    CHANGED = "changed", _("changed")
    ERASED = "erased", _("personal data erased")


class AuditEvent(models.Model):
    """One entry of the audit log: who did what to which object, and when.

    `object_repr` keeps the object's name as it was, so the entry still
    reads well after the object is deleted. `actor` is empty for actions
    taken by the system or a shell command run without a user.
    """

    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    action = models.CharField(_("action"), max_length=20, choices=AuditAction.choices)
    object_type = models.CharField(_("object type"), max_length=100)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=300, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_event_object")]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.object_type} {self.object_repr}"
