"""Annotator pages must not reveal which model wrote which answer."""

import pytest
from django.urls import reverse

from annotate.items import open_study
from annotate.models import Assignment, StudyKind
from generation.models import GenerationRun, LanguageModel, Response
from tests.factories import make_prompt_set, make_run, make_study, make_user

pytestmark = pytest.mark.django_db

SECRETS = {
    "Zyxqor-Alpha": "/weights/qwoptuv",
    "Vexmorn-Beta": "/weights/plmokjn",
    "Traxilo-Gamma": "/weights/zzyqwer",
}


def _study(kind):
    prompt_set = make_prompt_set(prompts=["Say hello.", "用一句话解释光合作用。"])
    runs = [
        make_run(prompt_set, model_name=name, label=f"label-{name[:4].lower()}xq", source=source)
        for name, source in SECRETS.items()
    ]
    annotator = make_user()
    study = make_study(runs, kind=kind, annotators=[annotator], criteria=("overall", "safety"))
    open_study(study)
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


def _walk_pages(client, study, criteria_data):
    """Visit every annotator page of `study` and return their HTML."""
    pages = [client.get(reverse("annotate:home"))]
    next_url = reverse("annotate:next_task", kwargs={"study_uuid": study.uuid})
    for _ in range(study.items.count()):
        redirect = client.get(next_url)
        pages.append(redirect)
        task = client.get(redirect.url)
        pages.append(task)
        # An invalid submit re-renders the page with errors.
        pages.append(client.post(redirect.url + "submit/", {}))
        pages.append(client.post(redirect.url + "submit/", criteria_data))
    pages.append(client.get(next_url))
    pages.append(client.get(reverse("annotate:home")))
    return pages


@pytest.mark.parametrize("kind", [StudyKind.PAIRWISE, StudyKind.RATING])
def test_pages_never_name_models(client, kind):
    study, annotator = _study(kind)
    value = "A" if kind == StudyKind.PAIRWISE else "4"
    data = {f"criterion-{criterion.uuid.hex}": value for criterion in study.criteria.all()}
    client.force_login(annotator)

    pages = _walk_pages(client, study, data)

    assert "Nothing left, thank you!" in pages[-2].text
    assert Assignment.objects.filter(annotator=annotator).count() == study.items.count()
    forbidden = _forbidden_strings()
    for page in pages:
        text = page.text if page.status_code == 200 else page.get("Location", "")
        for secret in forbidden:
            assert secret not in text, f"{secret!r} appears on {page.request['PATH_INFO']}"
        for name in SECRETS:
            assert name.split("-")[0].lower() not in text.lower()


def test_forbidden_strings_cover_models():
    # Guards the test above against an empty forbidden list.
    _study(StudyKind.PAIRWISE)

    forbidden = _forbidden_strings()

    assert "Zyxqor-Alpha" in forbidden
    assert "/weights/qwoptuv" in forbidden
    assert len(forbidden) >= 3 * 4 + 3 * 4 + 6 * 2


def test_task_page_shows_answer_text(client):
    # Counterpart of the blindness test: the page does carry the answers.
    study, annotator = _study(StudyKind.PAIRWISE)
    client.force_login(annotator)
    redirect = client.get(reverse("annotate:next_task", kwargs={"study_uuid": study.uuid}))

    text = client.get(redirect.url).text

    assignment = Assignment.objects.get(annotator=annotator)
    for response in assignment.shown_responses():
        assert response.text in text


def test_cjk_prompt_and_answer_intact(client):
    prompt_text = "用一句话解释光合作用。"
    answer = "光合作用是植物利用阳光，把二氧化碳和水变成葡萄糖和氧气的过程。"
    prompt_set = make_prompt_set(prompts=[prompt_text])
    runs = [
        make_run(prompt_set, answer=answer),
        make_run(prompt_set, answer=answer + "【补充】叶绿素很重要。"),
    ]
    annotator = make_user()
    study = make_study(runs, annotators=[annotator])
    open_study(study)
    client.force_login(annotator)
    redirect = client.get(reverse("annotate:next_task", kwargs={"study_uuid": study.uuid}))

    response = client.get(redirect.url)

    assert response["Content-Type"] == "text/html; charset=utf-8"
    text = response.content.decode("utf-8")
    assert prompt_text in text
    assert answer in text
    assert "【补充】叶绿素很重要。" in text
    assert 'lang="zh-Hans"' in text
