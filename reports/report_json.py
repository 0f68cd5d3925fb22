"""Turn a study's report (reports.summary.build_study_report) into JSON-ready data for the REST API.

The conversion walks the report's dataclasses, so every figure the report
page reads reaches the API without a second list of fields to keep in step.
Each dataclass becomes an object of its fields plus its public properties,
such as `win_rate`, `comparisons` or `gold_accuracy`. Rules on the way:

- Integer keys stay inside. A system's `run_id` becomes `run`, the
  generation run's UUID. Any other field ending in `_id` is left out, and
  so is a mapping keyed by such ids.
- Annotators are named by the rows' `annotator` property: a pseudonym, or
  the username inside `annotate.pseudonyms.annotator_names_shown()`. The
  rows' `username` field is left out, so an account name appears only when
  a site admin asked for names. The annotator table is sorted by that name,
  so its order says nothing about the account names behind pseudonyms.
- A criterion becomes its name, question and position; the study its
  UUID, name, kind and status.
- numpy numbers become plain ones, and NaN or infinity becomes null.

Reasons for missing figures are in the request's language, as on the page.
"""

import dataclasses
import math
from collections.abc import Mapping
from enum import Enum

import numpy as np

from annotate.models import Criterion, Study
from annotate.pseudonyms import NamedAnnotator
from generation.models import GenerationRun
from reports.summary import StudyReport
from reports.systems import load_systems


class _Converter:
    def __init__(self, run_uuids: dict[int, str]):
        self.run_uuids = run_uuids

    def convert(self, value):
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, NamedAnnotator):
            return str(value)
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, np.generic):
            return self.convert(value.item())
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if isinstance(value, int):
            return value
        if isinstance(value, Criterion):
            return {"name": value.name, "question": value.question, "position": value.position}
        if isinstance(value, Study):
            return {"uuid": str(value.uuid), "name": value.name, "kind": value.kind, "status": value.status}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self._dataclass(value)
        if isinstance(value, Mapping):
            if any(isinstance(key, int) for key in value):
                # Keyed by database ids: the same figures come elsewhere with public names.
                return None
            return {str(key): self.convert(item) for key, item in value.items()}
        if isinstance(value, np.ndarray):
            return [self.convert(item) for item in value.tolist()]
        if isinstance(value, list | tuple | set | frozenset):
            return [self.convert(item) for item in value]
        raise TypeError(f"Cannot convert {type(value).__name__} to JSON")

    def _dataclass(self, value) -> dict:
        data = {}
        for field in dataclasses.fields(value):
            self._put(data, field.name, getattr(value, field.name))
        for name in _property_names(type(value)):
            self._put(data, name, getattr(value, name))
        return data

    def _put(self, data: dict, name: str, value) -> None:
        if name == "run_id":
            data["run"] = self.run_uuids.get(value)
        elif name.endswith("_id") or name == "username":
            return
        else:
            converted = self.convert(value)
            if converted is None and isinstance(value, Mapping):
                return
            data[name] = converted


def _property_names(cls) -> list[str]:
    """Return the public properties defined on `cls` and its bases, in definition order."""
    names = []
    for klass in reversed(cls.__mro__):
        for name, attribute in vars(klass).items():
            if isinstance(attribute, property) and not name.startswith("_") and name not in names:
                names.append(name)
    return names


def report_data(report: StudyReport) -> dict:
    """Return every figure of `report` as JSON-ready data, with public ids only."""
    study = report.study
    run_uuids = {
        run_id: str(run_uuid)
        for run_id, run_uuid in GenerationRun.objects.filter(pk__in=list(load_systems(study))).values_list("pk", "uuid")
    }
    data = _Converter(run_uuids).convert(report)
    data["annotators"].sort(key=lambda row: row["annotator"])
    return data
