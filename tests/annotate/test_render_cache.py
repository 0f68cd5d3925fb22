"""The Markdown render cache of the annotator pages, and the radio buttons they write without widget templates."""

import pytest
from django.forms import RadioSelect
from django.template import Context, Template
from django.urls import reverse

from annotate import rendering
from annotate.assignment import next_assignment
from annotate.forms import JudgmentForm, SkipForm, criterion_field_name
from annotate.models import StudyKind
from annotate.rendering import RenderCache, render_markdown, render_markdown_cached
from annotate.templatetags.form_tags import radio_input, radio_labels


def test_cached_render_equals_render():
    text = "A list:\n\n- **one**\n- `two`\n\n```python\nx = 1\n```"

    first = render_markdown_cached(text)
    again = render_markdown_cached(text)

    assert first == render_markdown(text)
    assert again == first


def test_cached_render_empty_and_none():
    assert render_markdown_cached("") == ""
    assert render_markdown_cached(None) == ""


def test_second_render_skips_parser(monkeypatch):
    text = "Rendered once only: **bold** 渲染一次"
    calls = []
    real_render = rendering.render_markdown

    def counting_render(source):
        calls.append(source)
        return real_render(source)

    monkeypatch.setattr(rendering, "_render_cache", RenderCache(max_characters=100_000))
    monkeypatch.setattr(rendering, "render_markdown", counting_render)

    render_markdown_cached(text)
    render_markdown_cached(text)

    assert calls == [text]


def test_changed_text_rendered_afresh(monkeypatch):
    monkeypatch.setattr(rendering, "_render_cache", RenderCache(max_characters=100_000))

    old = render_markdown_cached("The answer is **old**.")
    new = render_markdown_cached("The answer is **new**.")

    assert "<strong>old</strong>" in old
    assert "<strong>new</strong>" in new


def test_cache_stays_within_character_budget():
    cache = RenderCache(max_characters=1_600)

    for number in range(100):
        cache.put(f"text {number:03d}", "<p>" + "x" * 80 + "</p>")

    assert cache.characters <= 1_600
    assert len(cache) == 1_600 // (8 + 87)
    assert cache.get("text 099") is not None
    assert cache.get("text 000") is None


def test_cache_evicts_least_recently_used():
    cache = RenderCache(max_characters=1_600)
    texts = [f"text {number:02d}" for number in range(16)]  # 16 entries of 100 characters fill the budget
    for text in texts:
        cache.put(text, "H" * 93)

    cache.get(texts[0])  # now texts[1] is the least recently used
    cache.put("one more", "H" * 92)

    assert cache.get(texts[0]) is not None
    assert cache.get(texts[1]) is None
    assert cache.get("one more") is not None


def test_cache_skips_text_too_large_for_budget():
    cache = RenderCache(max_characters=1_600)
    cache.put("small", "<p>small</p>")

    cache.put("huge", "H" * 200)  # above 1,600 / 16 characters

    assert cache.get("huge") is None
    assert cache.get("small") == "<p>small</p>"


@pytest.mark.django_db
def test_task_page_shows_edited_answer(client, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)
    response = assignment.item.first_response
    url = reverse("annotate:task", kwargs={"study_uuid": pairwise_study.uuid, "assignment_uuid": assignment.uuid})
    client.force_login(annotator)
    response.text = "Before the edit: **first wording**"
    response.save()
    assert "<strong>first wording</strong>" in client.get(url).text

    response.text = "After the edit: **second wording**"
    response.save()
    page = client.get(url).text

    assert "<strong>second wording</strong>" in page
    assert "first wording" not in page


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [StudyKind.PAIRWISE, StudyKind.RATING])
def test_radio_input_matches_widget_tag(kind, pairwise_study, rating_study):
    study = pairwise_study if kind == StudyKind.PAIRWISE else rating_study
    criteria = list(study.criteria.all())
    checked = "B" if kind == StudyKind.PAIRWISE else 4
    forms = [
        JudgmentForm(study, criteria),
        JudgmentForm(study, criteria, initial={criterion_field_name(criteria[0]): checked}),
        SkipForm(),
        SkipForm({"skip-reason": "other"}),
    ]

    radios = [
        radio
        for form in forms
        for name, field in form.fields.items()
        if isinstance(field.widget, RadioSelect)
        for radio in form[name]
    ]

    assert radios
    assert any("checked" in radio.tag() for radio in radios)
    for radio in radios:
        assert radio_input(radio) == radio.tag()


_LABEL_LOOP = Template(
    "{% load form_tags %}{% for radio in field %}"
    '<label class="choice" for="{{ radio.id_for_label }}">{% radio_input radio %}<span>{{ radio.choice_label }}</span>'
    "{% if keys %} <kbd>{{ forloop.counter }}</kbd>{% endif %}</label>\n{% endfor %}"
)


@pytest.mark.django_db
@pytest.mark.parametrize("keys", [False, True])
@pytest.mark.parametrize("kind", [StudyKind.PAIRWISE, StudyKind.RATING])
def test_radio_labels_match_template_loop(kind, keys, pairwise_study, rating_study):
    study = pairwise_study if kind == StudyKind.PAIRWISE else rating_study
    criteria = list(study.criteria.all())
    checked = "B" if kind == StudyKind.PAIRWISE else 4
    fields = [
        JudgmentForm(study, criteria)[criterion_field_name(criteria[0])],
        JudgmentForm(study, criteria, initial={criterion_field_name(criteria[0]): checked})[
            criterion_field_name(criteria[0])
        ],
        SkipForm()["reason"],
        SkipForm({"skip-reason": "other"})["reason"],
    ]

    for field in fields:
        expected = _LABEL_LOOP.render(Context({"field": field, "keys": keys})).rstrip("\n")
        assert radio_labels(field, keys=keys) == expected


@pytest.mark.django_db
def test_radio_labels_escape_choice_text(pairwise_study):
    form = SkipForm()
    form.fields["reason"].choices = [("other", 'Not <b>bold</b> & "quoted"')]

    html = radio_labels(form["reason"])

    assert "<span>Not &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;</span>" in html
    assert "<b>" not in html
