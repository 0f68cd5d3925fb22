"""Forms of the generation admin: a new run's settings and the two file imports."""

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from generation.models import Backend, GenerationRun, LanguageModel, PromptSet
from generation.prompt_import import _BCP47
from generation.response_import import DEFAULT_LABEL
from generation.runs import DECODING_FIELDS


class GenerationRunAddForm(forms.ModelForm):
    """A new generation run; decoding fields left empty take the chosen model's defaults.

    The model is chosen in the same form, so the page cannot know its
    defaults when it is first shown, unless the add page is opened with
    `?model=<id>` (the model page links there), which pre-fills them.
    """

    class Meta:
        model = GenerationRun
        fields = ["model", "prompt_set", "label", *DECODING_FIELDS, "batch_size", "prompt_limit"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        given = kwargs.get("initial") or {}
        for name in DECODING_FIELDS:
            field = self.fields[name]
            field.required = False
            field.help_text = _("Leave empty to use the model's default.")
            # A new run's field defaults (0.0, 256, ...) would hide the model's own defaults.
            if name not in given:
                self.initial.pop(name, None)
                field.initial = None

    def clean(self):
        cleaned = super().clean()
        model = cleaned.get("model")
        if model is None:
            return cleaned
        if model.backend == Backend.IMPORTED:
            self.add_error(
                "model",
                gettext(
                    "Model “%(model)s” has imported answers only, so it cannot generate. "
                    "Use “Import responses” on the generation runs page instead."
                )
                % {"model": model.name},
            )
        for name in DECODING_FIELDS:
            if cleaned.get(name) is None and name not in self.errors:
                cleaned[name] = getattr(model, name)
        return cleaned


class PromptImportForm(forms.Form):
    """Upload of a prompt file that becomes a new prompt set."""

    name = forms.CharField(
        label=_("prompt set name"), max_length=100, help_text=_("Name of the new prompt set; it must be unused.")
    )
    description = forms.CharField(label=_("description"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    file = forms.FileField(
        label=_("file"),
        help_text=_(
            "UTF-8 JSONL or CSV with a text column (or prompt, or turns), and optional id, category, "
            "language and reference_answer columns."
        ),
    )
    language = forms.CharField(
        label=_("default language"),
        max_length=35,
        required=False,
        help_text=_("BCP 47 code for rows without a language, such as en or zh-Hans."),
    )
    first_turn_only = forms.BooleanField(
        label=_("first turn only"), required=False, help_text=_("Keep only the first user turn of multi-turn prompts.")
    )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if PromptSet.objects.filter(name=name).exists():
            raise forms.ValidationError(gettext("A prompt set named “%(name)s” exists already.") % {"name": name})
        return name

    def clean_language(self):
        language = self.cleaned_data["language"].strip()
        if language and not _BCP47.match(language):
            raise forms.ValidationError(gettext("Enter a BCP 47 language code such as en or zh-Hans."))
        return language


class ResponseImportForm(forms.Form):
    """Upload of answers made elsewhere, stored as a completed run of one model on one prompt set."""

    model = forms.ModelChoiceField(
        label=_("model"),
        queryset=LanguageModel.objects.all(),
        help_text=_("The model that wrote the answers; register it with the imported backend."),
    )
    prompt_set = forms.ModelChoiceField(
        label=_("prompt set"), queryset=PromptSet.objects.all(), help_text=_("The prompt set the file answers.")
    )
    label = forms.CharField(
        label=_("variant label"),
        max_length=100,
        required=False,
        initial=DEFAULT_LABEL,
        help_text=_("Tells runs of one model apart; the new run must not exist yet or must have no responses."),
    )
    file = forms.FileField(
        label=_("file"),
        help_text=_(
            "UTF-8 JSONL, CSV, a FastChat answer file or AlpacaEval model outputs (.json). "
            "Each row names its prompt by id or exact text."
        ),
    )
