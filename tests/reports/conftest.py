from types import SimpleNamespace

import pytest

from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import PAIRWISE, judge, make_item, make_study


@pytest.fixture
def tiny_pairwise(db):
    """Three systems, three items and seven judgments, one of them surplus.

    Without the surplus judgment, Xenoqua against Yarrowin: Xenoqua wins 3,
    1 tie, 1 both bad; Xenoqua against Zephyral: Zephyral wins 1. The
    surplus judgment is a Xenoqua win over Zephyral. Screen order varies on
    purpose: item_yx has Yarrowin first, and some annotators saw the
    second response on the left.
    """
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    x = make_run(prompt_set, model_name="Xenoqua")
    y = make_run(prompt_set, model_name="Yarrowin")
    z = make_run(prompt_set, model_name="Zephyral")
    study = make_study(PAIRWISE, [x, y, z])
    ann1, ann2, ann3 = (make_user() for _ in range(3))

    item_xy = make_item(study, prompts[0], x, y)
    item_yx = make_item(study, prompts[1], y, x)
    item_xz = make_item(study, prompts[2], x, z)

    judge(item_xy, ann1, {"overall": "first"}, first_on_left=True)
    judge(item_xy, ann2, {"overall": "first"}, first_on_left=False)
    judge(item_xy, ann3, {"overall": "tie"})
    judge(item_yx, ann1, {"overall": "second"}, first_on_left=False)
    judge(item_yx, ann2, {"overall": "both_bad"}, first_on_left=True)
    judge(item_xz, ann1, {"overall": "second"})
    judge(item_xz, ann2, {"overall": "first"}, surplus=True)
    return SimpleNamespace(
        study=study,
        x=x,
        y=y,
        z=z,
        prompts=prompts,
        annotators=[ann1, ann2, ann3],
        items=[item_xy, item_yx, item_xz],
    )


@pytest.fixture
def staff(db):
    return make_user("manager", superuser=True)
