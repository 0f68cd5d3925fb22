import pytest
from django.urls import reverse
from django.utils import translation

from annotate.assignment import next_assignment
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _reset_language():
    yield
    translation.activate("en")


def test_chinese_browser_gets_chinese_home(client, pairwise_study, annotator):
    client.force_login(annotator)

    response = client.get(reverse("annotate:home"), headers={"accept-language": "zh-CN,zh;q=0.9,en;q=0.5"})

    assert response.status_code == 200
    assert '<html lang="zh-hans">' in response.text
    assert "我的评测" in response.text
    assert "已完成 0 个，还剩 9 个任务" in response.text
    assert "My studies" not in response.text


def test_chinese_task_page(client, pairwise_study, annotator):
    assignment = next_assignment(pairwise_study, annotator)
    client.force_login(annotator)
    url = reverse(
        "annotate:task",
        kwargs={"study_uuid": pairwise_study.uuid, "assignment_uuid": assignment.uuid},
    )

    response = client.get(url, headers={"accept-language": "zh-CN"})

    assert "A 更好" in response.text
    assert "都不好" in response.text
    assert "提交并继续" in response.text
    assert "键盘快捷键" in response.text
    assert "A is better" not in response.text


def test_chinese_form_error(client, rating_study, annotator):
    assignment = next_assignment(rating_study, annotator)
    client.force_login(annotator)
    kwargs = {"study_uuid": rating_study.uuid, "assignment_uuid": assignment.uuid}

    response = client.post(reverse("annotate:submit", kwargs=kwargs), {}, headers={"accept-language": "zh-CN"})

    assert "请回答：Which answer is better for fluency?" in response.text


def test_chinese_login_page(client):
    response = client.get(reverse("login"), headers={"accept-language": "zh-Hans"})

    assert "登录" in response.text
    assert "用户名" in response.text


def test_english_stays_default(client):
    client.force_login(make_user())

    response = client.get(reverse("annotate:home"), headers={"accept-language": "fr-FR"})

    assert '<html lang="en">' in response.text
    assert "My studies" in response.text
