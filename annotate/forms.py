"""The annotator's forms: the judgment form, built from a study's criteria, and the skip form."""

from django import forms
from django.utils.translation import gettext_lazy as _

from annotate import widgets
from annotate.assignment import ScreenChoice, parse_time_on_task
from annotate.models import Criterion, SkipReason, Study, StudyKind
from annotate.skipping import SKIP_NOTE_MAX_LENGTH


def criterion_field_name(criterion: Criterion) -> str:
    return f"criterion-{criterion.uuid.hex}"


class JudgmentForm(forms.Form):
    """One radio group per criterion, an optional rationale and the time on task."""

    rationale = forms.CharField(
        label=_("Rationale (optional)"),
        required=False,
        max_length=5000,
        widget=widgets.Textarea(attrs={"rows": 3}),
        help_text=_("Why you chose as you did, in a sentence or two."),
    )
    # Filled by static/js/task.js. It never blocks a submit: any unusable value
    # cleans to None, and submit_judgment then uses the time since the lease
    # began. A plain Field, because CharField rejects a NUL character.
    time_on_task = forms.Field(required=False, widget=widgets.HiddenInput)

    def __init__(self, study: Study, criteria: list[Criterion], *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.study = study
        self.criteria = criteria
        for criterion in criteria:
            self.fields[criterion_field_name(criterion)] = self._criterion_field(criterion)

    def _criterion_field(self, criterion: Criterion) -> forms.Field:
        # The page shows the question, not the criterion's internal name.
        required_message = _("Please answer: %(question)s") % {"question": criterion.question}
        if self.study.kind == StudyKind.PAIRWISE:
            return forms.ChoiceField(
                label=criterion.question,
                choices=ScreenChoice.choices,
                widget=forms.RadioSelect,
                error_messages={"required": required_message},
            )
        return forms.TypedChoiceField(
            label=criterion.question,
            choices=[(score, str(score)) for score in criterion.scale],
            coerce=int,
            widget=forms.RadioSelect,
            error_messages={"required": required_message},
        )

    def clean_time_on_task(self) -> float | None:
        return parse_time_on_task(self.cleaned_data["time_on_task"])

    def criterion_fields(self) -> list[tuple[Criterion, forms.BoundField]]:
        return [(criterion, self[criterion_field_name(criterion)]) for criterion in self.criteria]

    def answers(self) -> dict:
        """Return {criterion name: choice or score} from the cleaned data."""
        return {criterion.name: self.cleaned_data[criterion_field_name(criterion)] for criterion in self.criteria}


def initial_judgment_data(criteria: list[Criterion], values: dict, rationale: str) -> dict:
    """Return JudgmentForm initial data from {criterion name: screen choice or score} and a rationale."""
    initial = {"rationale": rationale}
    for criterion in criteria:
        if criterion.name in values:
            initial[criterion_field_name(criterion)] = values[criterion.name]
    return initial


class SkipForm(forms.Form):
    """Why the annotator skips a task: one reason, and an optional note."""

    reason = forms.ChoiceField(
        label=_("Why do you skip this task?"),
        choices=SkipReason.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose a reason for skipping this task.")},
    )
    note = forms.CharField(
        label=_("Note (optional)"),
        required=False,
        max_length=SKIP_NOTE_MAX_LENGTH,
        widget=widgets.Textarea(attrs={"rows": 2}),
        help_text=_("Anything the study manager should know, such as what is broken."),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "skip")
        super().__init__(*args, **kwargs)
