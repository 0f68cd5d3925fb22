import pytest

from annotate.items import open_study
from annotate.models import StudyKind
from tests.factories import make_prompt_set, make_run, make_study, make_user


@pytest.fixture
def prompt_set(db):
    return make_prompt_set()


@pytest.fixture
def annotator(db):
    return make_user()


@pytest.fixture
def pairwise_study(prompt_set, annotator):
    """An open pairwise study: 3 systems, 3 prompts, 2 criteria, so 9 items."""
    runs = [make_run(prompt_set) for _ in range(3)]
    study = make_study(runs, criteria=("helpfulness", "accuracy"), annotators=[annotator])
    open_study(study, seed=1)
    return study


@pytest.fixture
def rating_study(prompt_set, annotator):
    """An open rating study: 2 systems, 3 prompts, 1 criterion on a 1 to 5 scale, so 6 items."""
    runs = [make_run(prompt_set) for _ in range(2)]
    study = make_study(runs, kind=StudyKind.RATING, criteria=("fluency",), annotators=[annotator])
    open_study(study, seed=1)
    return study
