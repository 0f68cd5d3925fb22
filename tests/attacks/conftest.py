# The annotate suite's study fixtures, shared so the attack tests build the same studies.
from tests.annotate.conftest import annotator, pairwise_study, prompt_set  # noqa: F401
