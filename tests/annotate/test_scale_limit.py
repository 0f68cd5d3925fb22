"""A rating scale has at most MAX_SCALE_POINTS points, in the admin's model check, the API and spec files."""

import textwrap

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from annotate.models import MAX_SCALE_POINTS, Criterion, Study
from tests.factories import make_prompt_set, make_run, make_study


def test_model_check_accepts_widest_scale(db):
    study = make_study([make_run(make_prompt_set())], kind="rating")
    criterion = Criterion(study=study, name="quality", question="How good?", scale_min=0, scale_max=10)

    criterion.full_clean()


def test_model_check_rejects_wider_scale(db):
    study = make_study([make_run(make_prompt_set())], kind="rating")
    criterion = Criterion(study=study, name="quality", question="How good?", scale_min=0, scale_max=100)

    with pytest.raises(ValidationError) as error:
        criterion.full_clean()

    assert "scale_max" in error.value.message_dict
    assert f"at most {MAX_SCALE_POINTS}" in error.value.message_dict["scale_max"][0]


def test_spec_rejects_wider_scale(db, tmp_path):
    prompt_set = make_prompt_set(name="scale-set")
    run = make_run(prompt_set)
    spec = tmp_path / "study.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""\
            name: Wide scale
            kind: rating
            prompt_set: scale-set
            systems:
              - run: {run.uuid}
            criteria:
              - name: quality
                question: How good?
                scale: {{min: 1, max: 1000}}
            """
        ),
        encoding="utf-8",
    )

    with pytest.raises(CommandError) as error:
        call_command("create_study", str(spec))

    assert "line 9, criteria[1].scale.max: the scale from 1 to 1000 has 1000 points" in str(error.value)
    assert not Study.objects.filter(name="Wide scale").exists()
