"""CSV export of a study's benchmark table, beside the report page's other downloads.

The file starts with a byte order mark unless the query string has `bom=no`, as the other CSV downloads do.
"""

from django.http import HttpResponse, JsonResponse
from django.utils import translation
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe

from annotate.audit import record_event
from annotate.models import AuditAction
from reports import benchmarks
from reports.access import get_report_study, report_reader_required
from reports.export_views import bom_requested


def _comparison(request, study):
    # English, like the other exports: the file is data for analysts, whatever the page language.
    with translation.override("en"):
        return benchmarks.benchmark_comparison(
            study,
            include_surplus=request.GET.get("surplus") == "include",
            include_excluded=request.GET.get("excluded") == "include",
        )


@require_safe
@report_reader_required
def benchmarks_csv(request, study_uuid):
    study = get_report_study(request.user, study_uuid)
    comparison = _comparison(request, study)
    record_event(request.user, AuditAction.EXPORTED, study, {"file": "benchmarks.csv"})
    text = benchmarks.benchmarks_csv(comparison, bom=bom_requested(request))
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=benchmarks.benchmarks_filename(study)
    )
    return response


@require_safe
@report_reader_required
def benchmarks_csv_metadata(request, study_uuid):
    study = get_report_study(request.user, study_uuid)
    comparison = _comparison(request, study)
    metadata = benchmarks.benchmarks_metadata(comparison, bom=bom_requested(request))
    response = JsonResponse(metadata, json_dumps_params={"ensure_ascii": False, "indent": 2})
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{benchmarks.benchmarks_filename(study)}.meta.json"
    )
    return response
