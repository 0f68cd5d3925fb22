"""Admin forms for gold items: an item's right answer and a new attention check.

The forms only collect input. annotate.gold validates it and saves, and its
InvalidGold errors land on the field they name (`add_gold_error`).
"""

from django import forms
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from annotate.gold import default_attention_range, scored_criterion
from annotate.models import Item, Outcome, Study, StudyKind

# Right answers of a regular pairwise gold item, as the form offers them.
FIRST, SECOND = "first", "second"


def add_gold_error(form: forms.Form, error) -> None:
    """Attach an InvalidGold error to the form field it names, or to the whole form."""
    field = form.gold_fields.get(error.field)
    form.add_error(field, str(error))


def _response_label(response) -> str:
    return f"{response.run.system_name}: {Truncator(response.text).chars(80)}"


class GoldAnswerForm(forms.Form):
    """The right answer of one item: an outcome for pairwise items, a score range for rating ones."""

    def __init__(self, item: Item, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.item = item
        if item.study.kind == StudyKind.PAIRWISE:
            self.fields["right_answer"] = forms.ChoiceField(
                label=_("Right answer"),
                choices=self._pairwise_choices(),
                initial=self._pairwise_initial(),
                widget=forms.RadioSelect,
            )
            self.gold_fields = {"outcome": "right_answer", "winner": "right_answer"}
        else:
            self.fields["min_score"] = forms.IntegerField(label=_("Lowest right score"), initial=item.gold_min_score)
            self.fields["max_score"] = forms.IntegerField(label=_("Highest right score"), initial=item.gold_max_score)
            self.gold_fields = {"min_score": "min_score", "max_score": "max_score"}

    def _pairwise_choices(self) -> list[tuple[str, str]]:
        first, second = self.item.first_response, self.item.second_response
        choices = [(FIRST, _("Better: %(response)s") % {"response": _response_label(first)})]
        if second is not None:
            choices.append((SECOND, _("Better: %(response)s") % {"response": _response_label(second)}))
            choices += [(Outcome.TIE.value, _("Tie")), (Outcome.BOTH_BAD.value, _("Both are bad"))]
        return choices

    def _pairwise_initial(self) -> str | None:
        item = self.item
        if item.gold_outcome == Outcome.WIN:
            return FIRST if item.gold_winner_id == item.first_response_id else SECOND
        return item.gold_outcome or None

    def gold_answer(self) -> dict:
        """Return the keyword arguments of annotate.gold.mark_gold for the cleaned input."""
        if self.item.study.kind != StudyKind.PAIRWISE:
            return {"min_score": self.cleaned_data["min_score"], "max_score": self.cleaned_data["max_score"]}
        choice = self.cleaned_data["right_answer"]
        if choice == FIRST:
            return {"outcome": Outcome.WIN, "winner": self.item.first_response}
        if choice == SECOND:
            return {"outcome": Outcome.WIN, "winner": self.item.second_response}
        return {"outcome": choice, "winner": None}


class AttentionCheckForm(forms.Form):
    """A new attention check: a prompt, the planted text and, per study kind, a system or a score range."""

    prompt = forms.ModelChoiceField(
        label=_("Prompt"), queryset=None, help_text=_("A single-turn prompt of the study's prompt set.")
    )
    text = forms.CharField(
        label=_("Attention-check answer"),
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_(
            "An obviously bad answer that a careful annotator rejects. Markdown; it is shown exactly like a "
            "model's answer."
        ),
    )

    def __init__(self, study: Study, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.study = study
        self.fields["prompt"].queryset = study.prompt_set.prompts.order_by("position")
        self.fields["prompt"].label_from_instance = self._prompt_label
        self.gold_fields = {"prompt": "prompt", "text": "text"}
        if study.kind == StudyKind.PAIRWISE:
            self.fields["system"] = forms.ModelChoiceField(
                label=_("System"),
                queryset=study.systems.select_related("model").order_by("pk"),
                help_text=_("Its response to the prompt is shown beside your text and is the right answer."),
            )
            self.gold_fields["system"] = "system"
        else:
            criterion = scored_criterion(study)
            low, high = default_attention_range(criterion) if criterion else (None, None)
            self.fields["min_score"] = forms.IntegerField(label=_("Lowest right score"), initial=low)
            self.fields["max_score"] = forms.IntegerField(label=_("Highest right score"), initial=high)
            self.gold_fields.update(min_score="min_score", max_score="max_score")

    @staticmethod
    def _prompt_label(prompt) -> str:
        name = prompt.external_id or f"#{prompt.position}"
        return f"{name}: {Truncator(prompt.text).chars(80)}"

    def attention_check(self) -> dict:
        """Return the keyword arguments of annotate.gold.create_attention_check for the cleaned input."""
        data = self.cleaned_data
        arguments = {"study": self.study, "prompt": data["prompt"], "text": data["text"]}
        if self.study.kind == StudyKind.PAIRWISE:
            arguments["system"] = data["system"]
        else:
            arguments.update(min_score=data["min_score"], max_score=data["max_score"])
        return arguments
