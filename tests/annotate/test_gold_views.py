"""Annotator pages with gold items: the same look as any task, the paused page, answers stored canonically."""

import random
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from annotate import gold
from annotate.items import open_study
from annotate.models import Assignment, AssignmentStatus, Judgment, Outcome, StudyKind
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = pytest.mark.django_db

BAD_TEXT = "Bananas are a kind of spaceship, so the answer is purple."


@pytest.fixture(autouse=True)
def seeded_draws(monkeypatch):
    monkeypatch.setattr(gold, "gold_rng", random.Random(7))


def _next_url(study):
    return reverse("annotate:next_task", kwargs={"study_uuid": study.uuid})


def _task_url(assignment):
    kwargs = {"study_uuid": assignment.item.study.uuid, "assignment_uuid": assignment.uuid}
    return reverse("annotate:task", kwargs=kwargs)


def _submit_url(assignment):
    kwargs = {"study_uuid": assignment.item.study.uuid, "assignment_uuid": assignment.uuid}
    return reverse("annotate:submit", kwargs=kwargs)


def _fields(study, value):
    return {f"criterion-{criterion.uuid.hex}": value for criterion in study.criteria.all()}


class _Structure(HTMLParser):
    """Record a page as a list of tags, attributes and texts, with answer texts blanked out.

    Text inside an answer's Markdown (article.answer div.markdown) becomes
    "ANSWER", and the CSRF token's value "TOKEN"; everything else stays.
    """

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tokens = []
        self.stack = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("name") == "csrfmiddlewaretoken":
            attrs["value"] = "TOKEN"
        self.tokens.append(("start", tag, tuple(sorted(attrs.items()))))
        if tag not in {"input", "br", "hr", "meta", "link", "img"}:
            self.stack.append((tag, attrs.get("class", "")))

    def handle_endtag(self, tag):
        self.tokens.append(("end", tag))
        while self.stack:
            opened, _classes = self.stack.pop()
            if opened == tag:
                break

    def handle_data(self, data):
        if not data.strip():
            return
        in_answer = any(tag == "article" and "answer" in classes.split() for tag, classes in self.stack)
        in_markdown = any(tag == "div" and "markdown" in classes.split() for tag, classes in self.stack)
        self.tokens.append(("text", "ANSWER" if in_answer and in_markdown else data.strip()))


def _structure(html, assignment):
    """Return the page's structure with the assignment's id and the annotator's name masked."""
    html = html.replace(str(assignment.uuid), "ASSIGNMENT").replace(assignment.annotator.username, "USER")
    parser = _Structure()
    parser.feed(html)
    return parser.tokens


def _lease(item, annotator, first_on_left=True):
    now = timezone.now()
    return Assignment.objects.create(
        item=item,
        annotator=annotator,
        first_on_left=first_on_left,
        leased_at=now,
        expires_at=now + timedelta(minutes=30),
    )


def _study(kind):
    prompt_set = make_prompt_set(prompts=["Name a fruit.", "Name a colour."])
    runs = [make_run(prompt_set, answer="A banana is a fruit.") for _ in range(2)]
    study = make_study(runs, kind=kind, criteria=("overall", "safety"))
    open_study(study, seed=3)
    return study


@pytest.mark.parametrize("kind", [StudyKind.PAIRWISE, StudyKind.RATING])
@pytest.mark.parametrize("first_on_left", [True, False])
def test_gold_page_same_structure(client, kind, first_on_left):
    study = _study(kind)
    prompt = study.prompt_set.prompts.get(position=0)
    regular_item = study.items.filter(prompt=prompt).order_by("pk").first()
    system = study.systems.order_by("pk").first() if kind == StudyKind.PAIRWISE else None
    check = gold.create_attention_check(study, prompt, BAD_TEXT, system=system)
    pages = {}
    for name, item in (("regular", regular_item), ("gold", check)):
        person = make_user()
        study.annotators.add(person)
        assignment = _lease(item, person, first_on_left)
        client.force_login(person)
        response = client.get(_task_url(assignment))
        assert response.status_code == 200
        pages[name] = (response.text, assignment)

    regular = _structure(*pages["regular"])
    gold_page = _structure(*pages["gold"])

    assert BAD_TEXT in pages["gold"][0]
    assert BAD_TEXT not in pages["regular"][0]
    assert "ANSWER" in [token[1] for token in gold_page if token[0] == "text"]
    assert gold_page == regular


def test_structure_helper_sees_differences(client):
    # Guards the test above: a page whose answer markup differs must not compare equal.
    study = _study(StudyKind.PAIRWISE)
    person = make_user()
    study.annotators.add(person)
    assignment = _lease(study.items.order_by("pk").first(), person)
    client.force_login(person)
    html = client.get(_task_url(assignment)).text

    broken = html.replace('<article class="answer">', '<article class="answer attention">', 1)

    assert _structure(html, assignment) != _structure(broken, assignment)


def test_attention_choice_through_views(client):
    study = _study(StudyKind.PAIRWISE)
    study.gold_rate = 1.0
    study.save()
    person = make_user()
    study.annotators.add(person)
    check = gold.create_attention_check(
        study, study.prompt_set.prompts.get(position=0), BAD_TEXT, system=study.systems.order_by("pk").first()
    )
    client.force_login(person)

    task_url = client.get(_next_url(study)).url
    assignment = Assignment.objects.get(annotator=person)
    label = "A" if assignment.shown_answers()[0].response is None else "B"
    page = client.get(task_url).text
    response = client.post(_submit_url(assignment), _fields(study, label))

    assert assignment.item_id == check.pk
    assert BAD_TEXT in page
    assert response.status_code == 302
    judgment = Judgment.objects.get(assignment=assignment)
    assert set(judgment.answers.values_list("outcome", flat=True)) == {Outcome.ATTENTION_TEXT}
    assert not judgment.answers.filter(winner__isnull=False).exists()
    assert judgment.gold_correct is False


def test_paused_annotator_sees_paused_page(client):
    study = _study(StudyKind.PAIRWISE)
    person = make_user()
    study.annotators.add(person)
    gold.set_paused(study, person.pk, True, "Too many wrong gold answers.")
    client.force_login(person)

    response = client.get(_next_url(study))

    assert response.status_code == 403
    assert "Your work on this study is paused" in response.text
    assert "contact the study manager" in response.text
    assert "Too many wrong gold answers." not in response.text
    assert not Assignment.objects.filter(annotator=person).exists()


def test_qualification_rule_pauses_through_views(client):
    prompt_set = make_prompt_set(prompts=["One", "Two", "Three"])
    study = make_study([make_run(prompt_set)], kind=StudyKind.RATING, criteria=("quality",))
    open_study(study)
    for prompt in prompt_set.prompts.all():
        gold.create_attention_check(study, prompt, f"{BAD_TEXT} {prompt.position}")
    study.gold_rate = 1.0
    study.qualification_min_accuracy = 0.75
    study.qualification_min_gold = 2
    study.save()
    person = make_user()
    study.annotators.add(person)
    client.force_login(person)

    for _ in range(2):
        task_url = client.get(_next_url(study)).url
        assignment = Assignment.objects.get(annotator=person, status=AssignmentStatus.LEASED)
        assert assignment.item.is_gold
        assert client.get(task_url).status_code == 200
        submitted = client.post(_submit_url(assignment), _fields(study, "5"))
        assert submitted.status_code == 302
    paused_page = client.get(submitted.url)

    assert paused_page.status_code == 403
    assert "Your work on this study is paused" in paused_page.text
    assert Judgment.objects.filter(annotator=person, gold_correct=False).count() == 2
    assert Assignment.objects.filter(annotator=person).count() == 2


def test_paused_annotator_can_still_submit_held_task(client):
    study = _study(StudyKind.PAIRWISE)
    person = make_user()
    study.annotators.add(person)
    client.force_login(person)
    client.get(_next_url(study))
    assignment = Assignment.objects.get(annotator=person)
    gold.set_paused(study, person.pk, True)

    response = client.post(_submit_url(assignment), _fields(study, "A"))

    assert response.status_code == 302
    assert Judgment.objects.filter(assignment=assignment).exists()
    assert client.get(_next_url(study)).status_code == 403
