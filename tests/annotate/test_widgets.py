"""annotate.widgets writes the same markup as Django's widget templates."""

import pytest
from django import forms
from django.utils.safestring import mark_safe

from annotate import widgets
from annotate.forms import JudgmentForm, SkipForm

VALUES = [None, "", "plain", 'quote " and <b>tag</b> & amp', "line one\nline two", mark_safe("<i>safe</i>"), 12.5]
ATTRS = [None, {"rows": 3}, {"rows": 2, "required": True, "disabled": False, "aria-describedby": 'x"y'}]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("attrs", ATTRS)
def test_textarea_matches_template(value, attrs):
    ours = widgets.Textarea(attrs={"rows": 3}).render("rationale", value, attrs)
    django = forms.Textarea(attrs={"rows": 3}).render("rationale", value, attrs)

    assert ours == django


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("attrs", ATTRS)
def test_hidden_input_matches_template(value, attrs):
    ours = widgets.HiddenInput().render("time_on_task", value, attrs)
    django = forms.HiddenInput().render("time_on_task", value, attrs)

    assert ours == django


@pytest.mark.django_db
def test_bound_fields_match_template(pairwise_study):
    data = {"rationale": "Too <long>", "time_on_task": "oops"}
    form = JudgmentForm(pairwise_study, list(pairwise_study.criteria.all()), data)
    form.is_valid()
    skip_form = SkipForm({"skip-note": "Broken & empty"})
    skip_form.is_valid()

    for bound_field, template_class in [
        (form["rationale"], forms.Textarea),
        (form["time_on_task"], forms.HiddenInput),
        (skip_form["note"], forms.Textarea),
    ]:
        # The same attributes as the field's own widget, max length included.
        template_widget = template_class(attrs=dict(bound_field.field.widget.attrs))
        assert str(bound_field) == bound_field.as_widget(widget=template_widget), bound_field.name
