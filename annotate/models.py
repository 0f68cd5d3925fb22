"""Studies, criteria, items, assignments and judgments."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from generation.models import GenerationRun, Prompt, PromptSet, Response

# A day: a longer lease keeps an abandoned item out of the pool for longer
# than a study's annotators are likely to wait for it.
MAX_LEASE_MINUTES = 24 * 60


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

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=StudyKind.choices)
    prompt_set = models.ForeignKey(PromptSet, on_delete=models.PROTECT, related_name="studies")
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
    created_at = models.DateTimeField(auto_now_add=True)

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
        ]

    def __str__(self):
        return self.name

    @property
    def lease_duration(self) -> timedelta:
        return timedelta(minutes=self.lease_minutes)


class Criterion(models.Model):
    """One question a judgment answers: A/B/tie/both bad, or a Likert score."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="criteria")
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

    @property
    def scale(self) -> range:
        return range(self.scale_min, self.scale_max + 1)


class Item(models.Model):
    """One unit to judge: a prompt with two responses (pairwise) or one (rating).

    `first_response` and `second_response` are in canonical order, which is
    not the order an annotator sees; each assignment stores its own order.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="items")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="items")
    first_response = models.ForeignKey(Response, on_delete=models.PROTECT, related_name="+")
    second_response = models.ForeignKey(Response, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    # Random per item so that the pick order never follows the order items
    # were built in, which would follow model pairs.
    sort_key = models.FloatField(db_index=True)

    class Meta:
        ordering = ["study", "sort_key"]
        verbose_name = _("item")
        verbose_name_plural = _("items")
        constraints = [
            models.UniqueConstraint(
                fields=["study", "first_response", "second_response"], name="item_unique_responses"
            ),
        ]

    def __str__(self):
        return str(self.uuid)

    def responses(self) -> list[Response]:
        return [r for r in (self.first_response, self.second_response) if r is not None]


class AssignmentStatus(models.TextChoices):
    LEASED = "leased", _("leased")
    SUBMITTED = "submitted", _("submitted")


class Assignment(models.Model):
    """An item leased to one annotator, with the left/right order they see."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    first_on_left = models.BooleanField(
        _("first response on the left"), help_text=_("True when the item's first response is shown as A.")
    )
    status = models.CharField(max_length=20, choices=AssignmentStatus.choices, default=AssignmentStatus.LEASED)
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

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
        """Return the item's responses in screen order (A first)."""
        responses = self.item.responses()
        if not self.first_on_left:
            responses.reverse()
        return responses


class Judgment(models.Model):
    """What an annotator answered for an assignment."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="judgment")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="judgments")
    # PROTECT: deleting a user who made judgments fails, so deactivate them instead.
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="judgments")
    first_on_left = models.BooleanField(_("first response on the left"), help_text=_("The order the annotator saw."))
    rationale = models.TextField(_("rationale"), blank=True)
    time_on_task_seconds = models.FloatField(_("time on task (seconds)"), null=True, blank=True)
    is_surplus = models.BooleanField(
        _("surplus"), default=False, help_text=_("Submitted after the item already had enough judgments.")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = _("judgment")
        verbose_name_plural = _("judgments")

    def __str__(self):
        return str(self.uuid)


class Outcome(models.TextChoices):
    WIN = "win", _("one response better")
    TIE = "tie", _("tie")
    BOTH_BAD = "both_bad", _("both bad")


class CriterionAnswer(models.Model):
    """A judgment's answer to one criterion.

    Pairwise answers store the winning response itself (or tie / both bad),
    never the screen position. Rating answers store the score.
    """

    judgment = models.ForeignKey(Judgment, on_delete=models.CASCADE, related_name="answers")
    criterion = models.ForeignKey(Criterion, on_delete=models.CASCADE, related_name="answers")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    winner = models.ForeignKey(Response, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    score = models.SmallIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("criterion answer")
        verbose_name_plural = _("criterion answers")
        constraints = [
            models.UniqueConstraint(fields=["judgment", "criterion"], name="answer_unique_criterion"),
            models.CheckConstraint(
                condition=(
                    models.Q(outcome="win", winner__isnull=False, score__isnull=True)
                    | models.Q(outcome__in=["tie", "both_bad"], winner__isnull=True, score__isnull=True)
                    | models.Q(outcome="", winner__isnull=True, score__isnull=False)
                ),
                name="answer_outcome_or_score",
            ),
        ]

    def __str__(self):
        return f"{self.judgment_id}/{self.criterion_id}"
