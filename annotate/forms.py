"""The annotator's judgment form, built from a study's criteria."""

from django import forms
from django.utils.translation import gettext_lazy as _

from annotate.assignment import ScreenChoice, parse_time_on_task
from annotate.models import Criterion, Study, StudyKind


def criterion_field_name(criterion: Criterion) -> str:
    return f"criterion-{criterion.uuid.hex}"


class JudgmentForm(forms.Form):
    """One radio group per criterion, an optional rationale and the time on task."""

    rationale = forms.CharField(
        label=_("Rationale (optional)"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Why you chose as you did, in a sentence or two."),
    )
    # Filled by static/js/task.js. It never blocks a submit: any unusable value
    # cleans to None, and submit_judgment then uses the time since the lease
    # began. A plain Field, because CharField rejects a NUL character.
    time_on_task = forms.Field(required=False, widget=forms.HiddenInput)

    def __init__(self, study: Study, criteria: list[Criterion], *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.study = study
        self.criteria = criteria
        for criterion in criteria:
            self.fields[criterion_field_name(criterion)] = self._criterion_field(criterion)

    def _criterion_field(self, criterion: Criterion) -> forms.Field:
        required_message = _("Answer the question for “%(criterion)s”.") % {"criterion": criterion.name}
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
