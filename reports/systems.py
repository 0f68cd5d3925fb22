"""Display names of a study's systems, loaded once per report."""

from dataclasses import dataclass

from django.db.models import Q

from annotate.models import Item, Study
from generation.models import GenerationRun


@dataclass(frozen=True)
class System:
    """A generation run as reports show it."""

    run_id: int
    name: str


def load_systems(study: Study) -> dict[int, System]:
    """Return the study's systems keyed by run id, in one query.

    Runs whose responses make up the study's items are included even when
    they were removed from `study.systems` after the items were built, so
    every stored judgment still has a system name.
    """
    item_runs = Item.objects.filter(study=study)
    runs = (
        GenerationRun.objects.filter(
            Q(studies=study)
            | Q(pk__in=item_runs.values("first_response__run_id"))
            | Q(pk__in=item_runs.values("second_response__run_id"))
        )
        .select_related("model")
        .distinct()
    )
    return {run.pk: System(run_id=run.pk, name=run.system_name) for run in runs}
