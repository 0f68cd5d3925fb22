"""Gold items seen by an annotator who tries to spot or dodge them."""

import random
import re

import pytest
from django.urls import reverse

from annotate import gold
from annotate.assignment import next_assignment, submit_judgment
from annotate.items import open_study
from annotate.models import Assignment, Judgment, StudyStatus
from annotate.skipping import skip_assignment
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = pytest.mark.django_db

BAD_TEXT = "Bananas are a kind of spaceship, so the answer is purple."
_PROGRESS = re.compile(r'<progress value="(\d+)" max="(\d+)">')


@pytest.fixture(autouse=True)
def seeded_draws(monkeypatch):
    monkeypatch.setattr(gold, "gold_rng", random.Random(7))


@pytest.fixture
def study_with_check():
    """An open pairwise study, overlap 1, four regular items and one attention check, one annotator."""
    prompt_set = make_prompt_set(prompts=["Name a fruit.", "Name a colour.", "Name a city.", "Name a river."])
    runs = [make_run(prompt_set) for _ in range(2)]
    person = make_user()
    study = make_study(runs, overlap=1, annotators=[person])
    open_study(study, seed=3)
    check = gold.create_attention_check(study, prompt_set.prompts.get(position=0), BAD_TEXT, system=runs[0])
    return study, person, check


def _set_gold_rate(study, rate):
    study.gold_rate = rate
    study.save(update_fields=["gold_rate"])


def _progress_on_next_task(client, study):
    """Follow the next-task link and return (done, total) from the task page's progress bar."""
    response = client.get(reverse("annotate:next_task", kwargs={"study_uuid": study.uuid}), follow=True)
    assert response.status_code == 200
    done, total = _PROGRESS.search(response.text).groups()
    return int(done), int(total)


def _judge_current(study, person):
    assignment = next_assignment(study, person)
    submit_judgment(assignment, {"overall": "A"})
    return assignment


def test_progress_total_does_not_reveal_gold(client, study_with_check, monkeypatch):
    """After any submit, "X of Y done" must change the same way, or the annotator learns the last task was gold.

    Knowing that, they can press "Change my last answer" and rethink the
    attention check they just answered carelessly. The study's gold rate
    stays fixed; the test decides each draw of gold or not.
    """
    study, person, check = study_with_check
    client.force_login(person)
    _set_gold_rate(study, 0.5)

    monkeypatch.setattr(gold, "draw_gold", lambda study: False)
    before_regular = _progress_on_next_task(client, study)
    regular = _judge_current(study, person)
    monkeypatch.setattr(gold, "draw_gold", lambda study: True)
    before_gold = _progress_on_next_task(client, study)
    gold_assignment = _judge_current(study, person)
    monkeypatch.setattr(gold, "draw_gold", lambda study: False)
    after_gold = _progress_on_next_task(client, study)

    assert not regular.item.is_gold
    assert gold_assignment.item_id == check.pk
    # A regular submit: done + 1, total unchanged.
    assert before_gold == (before_regular[0] + 1, before_regular[1])
    # A gold submit must look the same.
    assert after_gold == (before_gold[0] + 1, before_gold[1])


def test_gold_page_never_reveals_check_in_headers(client, study_with_check):
    """The gold task's response carries the same headers as a regular task's (no item id, no cache hint)."""
    study, person, check = study_with_check
    other = make_user()
    study.annotators.add(other)
    headers = {}
    for name, rate, annotator in (("regular", 0.0, person), ("gold", 1.0, other)):
        _set_gold_rate(study, rate)
        client.force_login(annotator)
        response = client.get(reverse("annotate:next_task", kwargs={"study_uuid": study.uuid}), follow=True)
        headers[name] = {key: value for key, value in response.headers.items() if key.lower() != "content-length"}

    assert Assignment.objects.get(annotator=other).item_id == check.pk
    assert not Assignment.objects.get(annotator=person).item.is_gold
    assert headers["gold"] == headers["regular"]


def test_skipped_gold_not_offered_again_and_unscored(study_with_check):
    """Skipping a gold item dodges it, but leaves no judgment, so accuracy is unchanged and it never returns."""
    study, person, check = study_with_check
    _set_gold_rate(study, 1.0)
    assignment = next_assignment(study, person)
    assert assignment.item_id == check.pk

    skip_assignment(assignment, "other", "looks odd")

    assert gold.pick_gold_item(study, person) is None
    assert gold.annotator_gold_accuracy(study, person.pk).total == 0


def test_revised_gold_rescored_and_closed_study_refused(client, study_with_check):
    study, person, check = study_with_check
    _set_gold_rate(study, 1.0)
    assignment = next_assignment(study, person)
    label = "A" if assignment.shown_answers()[0].response is None else "B"
    judgment = submit_judgment(assignment, {"overall": label})
    assert judgment.gold_correct is False
    right = "B" if label == "A" else "A"
    client.force_login(person)
    url = reverse("annotate:submit_revision", kwargs={"study_uuid": study.uuid, "judgment_uuid": judgment.uuid})
    field = f"criterion-{study.criteria.get().uuid.hex}"

    client.post(url, {field: right})
    assert Judgment.objects.get(pk=judgment.pk).gold_correct is True

    study.status = StudyStatus.CLOSED
    study.save(update_fields=["status"])
    client.post(url, {field: label})
    assert Judgment.objects.get(pk=judgment.pk).gold_correct is True


def test_excluded_annotator_frees_overlap():
    """A manager excludes a careless annotator: the items they filled must be offered to others again.

    Otherwise the study shows as complete while every report counts one judgment fewer on those items.
    """
    prompt_set = make_prompt_set(prompts=["Only prompt"])
    runs = [make_run(prompt_set) for _ in range(2)]
    careless, careful = make_user(), make_user()
    study = make_study(runs, overlap=1, annotators=[careless, careful])
    open_study(study, seed=3)
    _set_gold_rate(study, 0.0)
    judged = _judge_current(study, careless)

    gold.set_excluded(study, careless.pk, True)

    offered = next_assignment(study, careful)
    assert offered is not None
    assert offered.item_id == judged.item_id
