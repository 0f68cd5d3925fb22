"""create_study sets a study's managers from the file's `managers` list."""

import textwrap

import pytest
from django.core.management import CommandError, call_command

from annotate.models import Study
from tests.factories import make_prompt_set, make_run, make_user


def _spec(tmp_path, run, managers: str) -> str:
    path = tmp_path / "study.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            name: Managed study
            kind: pairwise
            prompt_set: managed-set
            systems:
              - run: {run.uuid}
              - run: {run.second_uuid}
            criteria:
              - name: overall
                question: Which answer is better?
            """
        )
        + managers,
        encoding="utf-8",
    )
    return str(path)


@pytest.fixture
def run(db):
    prompt_set = make_prompt_set(name="managed-set")
    first, second = make_run(prompt_set), make_run(prompt_set)
    first.second_uuid = second.uuid
    return first


def test_managers_set_then_replaced(tmp_path, run):
    lee, kim = make_user("lee", staff=True), make_user("kim", staff=True)

    call_command("create_study", _spec(tmp_path, run, "managers: [lee, kim]\n"))
    study = Study.objects.get(name="Managed study")
    assert set(study.managers.all()) == {lee, kim}

    call_command("create_study", _spec(tmp_path, run, "managers: [kim]\n"), "--update")
    assert list(study.managers.all()) == [kim]


def test_managers_must_be_existing_staff(tmp_path, run):
    make_user("annotator-only")

    with pytest.raises(CommandError) as error:
        call_command("create_study", _spec(tmp_path, run, "managers: [annotator-only, nobody, annotator-only]\n"))

    shown = str(error.value)
    assert "line 10, managers[1]: “annotator-only” is not a staff user" in shown
    assert "line 10, managers[2]: no account named “nobody”" in shown
    assert "line 10, managers[3]: “annotator-only” is already listed on line 10" in shown
    assert not Study.objects.filter(name="Managed study").exists()
