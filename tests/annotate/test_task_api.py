"""The annotator's REST API under /api/v1/annotate/: studies, next task, submit, skip, progress and changes.

Also the blindness audit of that API: every JSON body and header an
annotator receives is searched for the models' names, sources and ids, in
studies whose models have distinctive names that never occur in answers.
"""

import json
import random

import pytest
from rest_framework.test import APIClient

from annotate import gold
from annotate.items import open_study
from annotate.models import (
    Assignment,
    AssignmentStatus,
    ContentWarning,
    Item,
    Judgment,
    Outcome,
    StudyKind,
    StudyStatus,
)
from generation.models import GenerationRun, LanguageModel, Response
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

MISSING_UUID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(autouse=True)
def seeded_gold_draws(monkeypatch):
    monkeypatch.setattr(gold, "gold_rng", random.Random(11))


def client_for(user):
    client = APIClient()
    client.force_login(user)
    return client


def field_errors(response):
    errors = {}
    for error in response.json()["errors"]:
        errors.setdefault(error["field"], []).append(error["message"])
    return errors


def base(study):
    return f"/api/v1/annotate/studies/{study.uuid}"


def take_task(client, study):
    response = client.post(f"{base(study)}/next/")
    assert response.status_code == 200, response.json()
    return response.json()["task"]


def pairwise_answers(study, choice="A"):
    return {criterion.name: choice for criterion in study.criteria.all()}


# Access


def test_study_list_shows_own_open_and_paused_studies(pairwise_study, rating_study, annotator):
    rating_study.status = StudyStatus.PAUSED
    rating_study.save()
    make_study([make_run(pairwise_study.prompt_set) for _ in range(2)], annotators=[annotator])  # a draft

    body = client_for(annotator).get("/api/v1/annotate/studies/").json()

    rows = {row["uuid"]: row for row in body["results"]}
    assert set(rows) == {str(pairwise_study.uuid), str(rating_study.uuid)}
    row = rows[str(pairwise_study.uuid)]
    assert row["status"] == "open"
    assert row["progress"] == {"done": 0, "left": 9, "total": 9}
    assert row["instructions"]["html"] == "<p>Pick the more helpful answer.</p>\n"
    assert [criterion["name"] for criterion in row["criteria"]] == ["helpfulness", "accuracy"]
    assert [choice["value"] for choice in row["criteria"][0]["choices"]] == ["A", "B", "tie", "both_bad"]
    assert rows[str(rating_study.uuid)]["criteria"][0]["scale"] == {
        "min": 1,
        "max": 5,
        "low_label": "Poor",
        "high_label": "Excellent",
    }


def test_anonymous_gets_401(pairwise_study):
    for method, url in [
        ("get", "/api/v1/annotate/studies/"),
        ("post", f"{base(pairwise_study)}/next/"),
        ("get", f"{base(pairwise_study)}/progress/"),
    ]:
        response = getattr(APIClient(), method)(url)
        assert response.status_code == 401, url


@pytest.mark.parametrize("who", ["annotator of another study", "staff member", "user without studies"])
def test_outsiders_get_404(pairwise_study, annotator, prompt_set, who):
    if who == "annotator of another study":
        outsider = make_user()
        make_study([make_run(prompt_set), make_run(prompt_set)], annotators=[outsider])
    else:
        outsider = make_user(staff=who == "staff member")
    task = take_task(client_for(annotator), pairwise_study)
    client = client_for(outsider)
    urls = [
        ("get", f"{base(pairwise_study)}/"),
        ("post", f"{base(pairwise_study)}/next/"),
        ("get", f"{base(pairwise_study)}/progress/"),
        ("get", f"{base(pairwise_study)}/tasks/{task['assignment']}/"),
        ("post", f"{base(pairwise_study)}/tasks/{task['assignment']}/submit/"),
        ("post", f"{base(pairwise_study)}/tasks/{task['assignment']}/skip/"),
    ]

    for method, url in urls:
        response = getattr(client, method)(url, {"answers": pairwise_answers(pairwise_study), "reason": "other"})
        missing = getattr(client, method)(url.replace(str(pairwise_study.uuid), MISSING_UUID), {})
        assert response.status_code == 404, (who, url)
        assert response.json() == missing.json()
    assert not Judgment.objects.exists()
    assert Assignment.objects.get().status == AssignmentStatus.LEASED
    assert not client.get("/api/v1/annotate/studies/").json()["results"]


def test_other_annotators_task_is_404(pairwise_study, annotator):
    colleague = make_user()
    pairwise_study.annotators.add(colleague)
    theirs = take_task(client_for(colleague), pairwise_study)
    client = client_for(annotator)

    submitted = client.post(
        f"{base(pairwise_study)}/tasks/{theirs['assignment']}/submit/",
        {"answers": pairwise_answers(pairwise_study)},
    )
    skipped = client.post(f"{base(pairwise_study)}/tasks/{theirs['assignment']}/skip/", {"reason": "other"})

    assert submitted.status_code == 404
    assert skipped.status_code == 404
    assert not Judgment.objects.exists()
    assert Assignment.objects.get().status == AssignmentStatus.LEASED


# The flow


def test_next_returns_task_and_same_lease_again(pairwise_study, annotator):
    client = client_for(annotator)

    first = client.post(f"{base(pairwise_study)}/next/").json()
    again = client.post(f"{base(pairwise_study)}/next/").json()

    task = first["task"]
    assignment = Assignment.objects.get(annotator=annotator)
    assert task["assignment"] == str(assignment.uuid)
    assert again["task"] == task
    assert first["progress"] == {"done": 0, "left": 9, "total": 9}
    assert first["last_judgment"] is None
    shown = assignment.shown_responses()
    assert [answer["label"] for answer in task["turns"][0]["answers"]] == ["A", "B"]
    assert [answer["text"]["markdown"] for answer in task["turns"][0]["answers"]] == [r.text for r in shown]
    assert task["turns"][0]["prompt"]["markdown"] == assignment.item.prompt.text
    assert task["turns"][0]["answers"][0]["text"]["html"].startswith("<p>")
    assert task["language"] == assignment.item.prompt.language
    assert [criterion["name"] for criterion in task["criteria"]] == ["helpfulness", "accuracy"]
    assert task["content_warning"] is None


def test_submit_stores_canonical_answer(pairwise_study, annotator):
    client = client_for(annotator)
    task = take_task(client, pairwise_study)

    response = client.post(
        f"{base(pairwise_study)}/tasks/{task['assignment']}/submit/",
        {"answers": {"helpfulness": "B", "accuracy": "tie"}, "rationale": "B is clearer.", "time_on_task": 12.5},
    )

    assert response.status_code == 200, response.json()
    judgment = Judgment.objects.get()
    assignment = Assignment.objects.get()
    assert response.json() == {
        "judgment": str(judgment.uuid),
        "study_open": True,
        "progress": {"done": 1, "left": 8, "total": 9},
    }
    answers = {answer.criterion.name: answer for answer in judgment.answers.select_related("criterion")}
    assert answers["helpfulness"].winner == assignment.shown_responses()[1]
    assert answers["accuracy"].outcome == Outcome.TIE
    assert judgment.rationale == "B is clearer."
    assert judgment.time_on_task_seconds == 12.5
    assert assignment.status == AssignmentStatus.SUBMITTED


def test_double_submit_is_harmless(pairwise_study, annotator):
    client = client_for(annotator)
    task = take_task(client, pairwise_study)
    url = f"{base(pairwise_study)}/tasks/{task['assignment']}/submit/"

    first = client.post(url, {"answers": pairwise_answers(pairwise_study, "A")})
    second = client.post(url, {"answers": pairwise_answers(pairwise_study, "B")})

    assert second.status_code == 200
    assert second.json()["judgment"] == first.json()["judgment"]
    assert Judgment.objects.count() == 1
    winner = Judgment.objects.get().answers.first().winner
    assert winner == Assignment.objects.get().shown_responses()[0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"answers": {"helpfulness": "A"}}, "answers.accuracy"),
        ({"answers": {"helpfulness": "C", "accuracy": "A"}}, "answers.helpfulness"),
        ({"answers": {"helpfulness": "A", "accuracy": "A", "style": "A"}}, "answers.style"),
        ({"answers": {"helpfulness": True, "accuracy": "A"}}, "answers.helpfulness"),
        ({"answers": "A"}, "answers"),
        ({}, "answers"),
        ({"answers": {"helpfulness": "A", "accuracy": "A"}, "time_on_task": -1}, "time_on_task"),
        ({"answers": {"helpfulness": "A", "accuracy": "A"}, "rationale": "x" * 5001}, "rationale"),
        ({"answers": {"helpfulness": "A", "accuracy": "A"}, "time_on_taks": 3}, "time_on_taks"),
    ],
)
def test_submit_rejects_bad_answers(pairwise_study, annotator, body, field):
    client = client_for(annotator)
    task = take_task(client, pairwise_study)

    response = client.post(f"{base(pairwise_study)}/tasks/{task['assignment']}/submit/", body)

    assert response.status_code == 400
    assert field in field_errors(response), response.json()
    assert not Judgment.objects.exists()
    assert Assignment.objects.get().status == AssignmentStatus.LEASED


def test_rating_submit_checks_scale(rating_study, annotator):
    client = client_for(annotator)
    task = take_task(client, rating_study)
    url = f"{base(rating_study)}/tasks/{task['assignment']}/submit/"

    too_high = client.post(url, {"answers": {"fluency": 6}})
    fraction = client.post(url, {"answers": {"fluency": "3.5"}})
    good = client.post(url, {"answers": {"fluency": 4}})

    assert too_high.status_code == 400
    assert "answers.fluency" in field_errors(too_high)
    assert "from 1 to 5" in field_errors(too_high)["answers.fluency"][0]
    assert fraction.status_code == 400
    assert good.status_code == 200
    assert [answer["label"] for answer in task["turns"][0]["answers"]] == [None]
    assert Judgment.objects.get().answers.get().score == 4


def test_skip_then_next_gives_another_item(pairwise_study, annotator):
    client = client_for(annotator)
    task = take_task(client, pairwise_study)

    skipped = client.post(
        f"{base(pairwise_study)}/tasks/{task['assignment']}/skip/", {"reason": "broken", "note": "Empty answer."}
    )
    following = take_task(client, pairwise_study)

    assert skipped.status_code == 200
    assert skipped.json()["progress"] == {"done": 0, "left": 8, "total": 8}
    assignment = Assignment.objects.get(uuid=task["assignment"])
    assert assignment.status == AssignmentStatus.SKIPPED
    assert (assignment.skip_reason, assignment.skip_note) == ("broken", "Empty answer.")
    assert following["assignment"] != task["assignment"]
    reread = client.get(f"{base(pairwise_study)}/tasks/{task['assignment']}/")
    assert reread.status_code == 409


@pytest.mark.parametrize(("body", "field"), [({"reason": "bored"}, "reason"), ({}, "reason")])
def test_skip_rejects_bad_reason(pairwise_study, annotator, body, field):
    client = client_for(annotator)
    task = take_task(client, pairwise_study)

    response = client.post(f"{base(pairwise_study)}/tasks/{task['assignment']}/skip/", body)

    assert response.status_code == 400
    assert field in field_errors(response)
    assert Assignment.objects.get().status == AssignmentStatus.LEASED


def test_skip_after_submit_is_409(pairwise_study, annotator):
    client = client_for(annotator)
    task = take_task(client, pairwise_study)
    client.post(
        f"{base(pairwise_study)}/tasks/{task['assignment']}/submit/", {"answers": pairwise_answers(pairwise_study)}
    )

    response = client.post(f"{base(pairwise_study)}/tasks/{task['assignment']}/skip/", {"reason": "other"})

    assert response.status_code == 409
    assert Assignment.objects.get().status == AssignmentStatus.SUBMITTED
    assert Judgment.objects.count() == 1


def test_whole_study_through_the_api(pairwise_study, annotator):
    """Judge, skip one task, and finish: next/ then returns a null task, and progress agrees."""
    client = client_for(annotator)
    handled = 0
    while True:
        task = client.post(f"{base(pairwise_study)}/next/").json()["task"]
        if task is None:
            break
        if handled == 3:
            client.post(f"{base(pairwise_study)}/tasks/{task['assignment']}/skip/", {"reason": "cannot_judge"})
        else:
            response = client.post(
                f"{base(pairwise_study)}/tasks/{task['assignment']}/submit/",
                {"answers": pairwise_answers(pairwise_study, "A")},
            )
            assert response.status_code == 200
        handled += 1
        assert handled <= 9

    progress = client.get(f"{base(pairwise_study)}/progress/").json()
    assert handled == 9
    assert Judgment.objects.filter(annotator=annotator).count() == 8
    assert progress["progress"] == {"done": 8, "left": 0, "total": 8}
    assert progress["items_left_in_study"] == 9
    assert progress["last_judgment"] == str(Judgment.objects.latest("created_at").uuid)


def test_next_in_paused_and_closed_study(pairwise_study, annotator):
    client = client_for(annotator)
    pairwise_study.status = StudyStatus.PAUSED
    pairwise_study.save()
    paused = client.post(f"{base(pairwise_study)}/next/")
    pairwise_study.status = StudyStatus.CLOSED
    pairwise_study.save()
    closed = client.post(f"{base(pairwise_study)}/next/")

    assert paused.status_code == 409
    assert "paused" in paused.json()["detail"]
    assert closed.status_code == 404
    assert not Assignment.objects.exists()


def test_submit_after_study_closed_is_stored(pairwise_study, annotator):
    client = client_for(annotator)
    task = take_task(client, pairwise_study)
    pairwise_study.status = StudyStatus.CLOSED
    pairwise_study.save()

    response = client.post(
        f"{base(pairwise_study)}/tasks/{task['assignment']}/submit/", {"answers": pairwise_answers(pairwise_study)}
    )

    assert response.status_code == 200
    assert response.json()["study_open"] is False
    assert Judgment.objects.count() == 1


def test_content_warning_is_in_task(pairwise_study, annotator):
    for category in ("writing", "knowledge"):
        ContentWarning.objects.create(prompt_set=pairwise_study.prompt_set, category=category, text="Mentions war.")

    task = take_task(client_for(annotator), pairwise_study)

    assert task["content_warning"] == "Mentions war."


def test_revise_last_judgment_only(pairwise_study, annotator):
    client = client_for(annotator)
    judgments = []
    for _ in range(2):
        task = take_task(client, pairwise_study)
        response = client.post(
            f"{base(pairwise_study)}/tasks/{task['assignment']}/submit/",
            {"answers": pairwise_answers(pairwise_study, "A")},
        )
        judgments.append(response.json()["judgment"])

    shown = client.get(f"{base(pairwise_study)}/judgments/{judgments[1]}/").json()
    revised = client.post(
        f"{base(pairwise_study)}/judgments/{judgments[1]}/revise/",
        {"answers": {"helpfulness": "B", "accuracy": "both_bad"}, "rationale": "Second look."},
    )
    earlier = client.post(
        f"{base(pairwise_study)}/judgments/{judgments[0]}/revise/", {"answers": pairwise_answers(pairwise_study, "B")}
    )

    assert shown["answers"] == {"helpfulness": "A", "accuracy": "A"}
    assert shown["can_change"] is True
    assert revised.status_code == 200, revised.json()
    judgment = Judgment.objects.get(uuid=judgments[1])
    assert judgment.revised_at is not None
    assert judgment.rationale == "Second look."
    assert client.get(f"{base(pairwise_study)}/judgments/{judgments[1]}/").json()["answers"] == {
        "helpfulness": "B",
        "accuracy": "both_bad",
    }
    assert earlier.status_code == 409
    assert client.get(f"{base(pairwise_study)}/judgments/{judgments[0]}/").json()["can_change"] is False
    assert Judgment.objects.get(uuid=judgments[0]).revised_at is None


def test_cjk_text_intact(annotator):
    prompt_text = "用一句话解释光合作用。"
    answer = "光合作用是植物利用阳光，把二氧化碳和水变成葡萄糖和氧气的过程。"
    prompt_set = make_prompt_set(prompts=[prompt_text])
    runs = [make_run(prompt_set, answer=answer), make_run(prompt_set, answer=answer + "【补充】")]
    study = make_study(runs, annotators=[annotator])
    open_study(study)

    response = client_for(annotator).post(f"{base(study)}/next/")

    assert response["Content-Type"] == "application/json"
    text = response.content.decode("utf-8")
    assert prompt_text in text
    assert answer in text
    task = response.json()["task"]
    assert task["language"] == "zh-Hans"
    assert {item["text"]["markdown"] for item in task["turns"][0]["answers"]} == {answer, answer + "【补充】"}


def test_answer_html_is_sanitised(annotator):
    prompt_set = make_prompt_set(prompts=["Hi"])
    runs = [
        make_run(prompt_set, answers={0: "<script>alert(1)</script> **bold**"}),
        make_run(prompt_set, answers={0: "[x](javascript:alert(1))"}),
    ]
    study = make_study(runs, annotators=[annotator])
    open_study(study)

    task = take_task(client_for(annotator), study)

    html = " ".join(answer["text"]["html"] for answer in task["turns"][0]["answers"])
    assert "<script" not in html
    assert "href" not in html.replace('href="https://', "")
    assert "javascript:alert(1)" in html  # shown as text, not as a link
    assert "<strong>bold</strong>" in html


# Blindness

SECRETS = {
    "Zyxqor-Alpha": "/weights/qwoptuv",
    "Vexmorn-Beta": "/weights/plmokjn",
    "Traxilo-Gamma": "/weights/zzyqwer",
}


def _blind_study(kind):
    """A study of models with distinctive names, with a marked gold item and an attention check."""
    prompt_set = make_prompt_set(prompts=["Say hello.", "用一句话解释光合作用。", "Name a colour."])
    runs = [
        make_run(prompt_set, model_name=name, label=f"label-{name[:4].lower()}xq", source=source)
        for name, source in SECRETS.items()
    ]
    annotator = make_user()
    study = make_study(runs, kind=kind, annotators=[annotator], criteria=("overall", "safety"))
    study.gold_rate = 0.5
    study.save()
    open_study(study)
    item = study.items.first()
    if kind == StudyKind.PAIRWISE:
        gold.mark_gold(item, outcome=Outcome.WIN, winner=item.first_response)
        gold.create_attention_check(study, prompt_set.prompts.first(), "Bananas are spaceships.", system=runs[0])
    else:
        gold.mark_gold(item, min_score=4, max_score=5)
        gold.create_attention_check(study, prompt_set.prompts.first(), "Bananas are spaceships.")
    return study, annotator


def _forbidden_strings():
    strings = set()
    for model in LanguageModel.objects.all():
        strings |= {model.name, model.source, str(model.uuid), model.uuid.hex}
    for run in GenerationRun.objects.all():
        strings |= {run.label, run.system_name, str(run.uuid), run.uuid.hex}
    for response in Response.objects.all():
        strings |= {str(response.uuid), response.uuid.hex}
    return strings


def _walk_api(client, study, kind):
    """Call every annotator endpoint of `study` until it is done; return (url, response) pairs."""
    root = base(study)
    value = "A" if kind == StudyKind.PAIRWISE else 4
    answers = {criterion.name: value for criterion in study.criteria.all()}
    seen = [("list", client.get("/api/v1/annotate/studies/")), ("study", client.get(f"{root}/"))]
    for _round in range(study.items.count() + 1):
        response = client.post(f"{root}/next/")
        seen.append(("next", response))
        task = response.json()["task"]
        if task is None:
            break
        tasks = f"{root}/tasks/{task['assignment']}"
        seen.append(("task", client.get(f"{tasks}/")))
        seen.append(("bad submit", client.post(f"{tasks}/submit/", {"answers": {}})))
        submitted = client.post(f"{tasks}/submit/", {"answers": answers})
        seen.append(("submit", submitted))
        seen.append(("double submit", client.post(f"{tasks}/submit/", {"answers": answers})))
        seen.append(("skip submitted", client.post(f"{tasks}/skip/", {"reason": "other"})))
        judgment = submitted.json()["judgment"]
        seen.append(("judgment", client.get(f"{root}/judgments/{judgment}/")))
        seen.append(("revise", client.post(f"{root}/judgments/{judgment}/revise/", {"answers": answers})))
        seen.append(("progress", client.get(f"{root}/progress/")))
    return seen


@pytest.mark.parametrize("kind", [StudyKind.PAIRWISE, StudyKind.RATING])
def test_api_never_names_models(kind):
    study, annotator = _blind_study(kind)
    client = client_for(annotator)

    seen = _walk_api(client, study, kind)

    gold_items = set(Item.objects.filter(study=study, is_gold=True).values_list("pk", flat=True))
    given = set(Assignment.objects.filter(annotator=annotator).values_list("item_id", flat=True))
    assert given & gold_items, "the walk met no gold task, so it proves nothing about them"
    assert seen[-1][1].json()["task"] is None
    forbidden = _forbidden_strings()
    fragments = [name.split("-")[0].lower() for name in SECRETS]
    for name, response in seen:
        headers = "\n".join(f"{key}: {value}" for key, value in response.items())
        text = response.content.decode("utf-8") + "\n" + headers
        for secret in forbidden:
            assert secret not in text, f"{secret!r} appears in the {name} response"
        for fragment in fragments:
            assert fragment not in text.lower(), f"{fragment!r} appears in the {name} response"


def _shape(value):
    """Return the keys and types of a JSON value, with every string, number and list length blanked."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [_shape(item) for item in value[:1]]
    return type(value).__name__


@pytest.mark.parametrize("kind", [StudyKind.PAIRWISE, StudyKind.RATING])
def test_gold_tasks_look_like_others(kind):
    study, annotator = _blind_study(kind)
    client = client_for(annotator)

    shapes = {}
    for name, response in _walk_api(client, study, kind):
        if name != "next" or response.json()["task"] is None:
            continue
        assignment = Assignment.objects.select_related("item").get(uuid=response.json()["task"]["assignment"])
        shapes.setdefault(assignment.item.is_gold, set()).add(json.dumps(_shape(response.json()["task"])))

    assert set(shapes) == {True, False}
    assert shapes[True] == shapes[False]


def test_forbidden_strings_cover_models():
    # Guards the blindness test against an empty forbidden list.
    _blind_study(StudyKind.PAIRWISE)

    forbidden = _forbidden_strings()

    assert "Zyxqor-Alpha" in forbidden
    assert "/weights/qwoptuv" in forbidden
    assert len(forbidden) >= 3 * 4 + 3 * 4 + 9 * 2
