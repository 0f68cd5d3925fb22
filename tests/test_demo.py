"""`manage.py demo --quick` on the real packaged models, end to end."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from annotate.models import Item, Study, StudyKind, StudyStatus
from generation.models import GenerationRun, Response

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.timeout(1200)]


def counts():
    return (
        get_user_model().objects.count(),
        GenerationRun.objects.count(),
        Response.objects.count(),
        Study.objects.count(),
        Item.objects.count(),
    )


def test_quick_demo_builds_everything_and_reruns_safely(client, settings):
    call_command("demo", "--quick")

    users = get_user_model().objects
    assert users.get(username="admin").is_staff
    assert users.filter(username__startswith="annotator").count() == 3
    assert GenerationRun.objects.count() == 3
    for run in GenerationRun.objects.all():
        assert run.responses.count() == 4
        assert all(response.text.strip() for response in run.responses.all())
    studies = {study.kind: study for study in Study.objects.all()}
    assert set(studies) == {StudyKind.PAIRWISE, StudyKind.RATING}
    assert all(study.status == StudyStatus.OPEN for study in studies.values())
    assert studies[StudyKind.PAIRWISE].items.count() == 3 * 4
    assert studies[StudyKind.RATING].criteria.count() >= 2

    before = counts()
    call_command("demo", "--quick")
    assert counts() == before

    assert client.login(username="annotator1", password=settings.DEMO_PASSWORD)
    home = client.get("/")
    assert studies[StudyKind.PAIRWISE].name in home.content.decode()
    task = client.get(f"/studies/{studies[StudyKind.PAIRWISE].uuid}/next/", follow=True)
    page = task.content.decode()
    assert task.status_code == 200
    for name in ("SmolLM2", "Gemma", "smollm", "gemma"):
        assert name not in page


def test_accounts_kept_on_rerun(db, settings):
    from annotate.demo import create_accounts

    create_accounts(settings.DEMO_PASSWORD)
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("changed-by-the-admin")
    admin.save()

    create_accounts(settings.DEMO_PASSWORD)

    admin.refresh_from_db()
    assert admin.check_password("changed-by-the-admin")
    assert admin.is_superuser
    assert get_user_model().objects.get(username="annotator2").check_password(settings.DEMO_PASSWORD)
