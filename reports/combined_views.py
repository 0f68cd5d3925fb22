"""The combined report page across studies, `/reports/combined/?study=UUID&study=UUID`, and its CSV download.

A study the user may not read gets the same response as one that does not
exist: status 404 and the same message. CSV files and their sidecars are
in English, like the other exports; `?bom=no` leaves out the byte order
mark. Each CSV download is recorded in the audit log once per study.
"""

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe

from annotate.audit import record_event
from annotate.models import AuditAction
from reports import combined, combined_export
from reports.access import readable_studies, report_reader_required


@require_safe
@report_reader_required
def combined_report(request):
    values = request.GET.getlist(combined.STUDY_PARAMETER)
    context = {"readable": readable_studies(request.user).order_by("name"), "chosen": set(values)}
    if not values:
        return render(request, "reports/combined.html", context)
    try:
        studies = combined.resolve_studies(request.user, values)
    except combined.StudySelectionError as error:
        context["error"] = error.message
        return render(request, "reports/combined.html", context, status=error.status)

    report = combined.combined_report(studies)
    context.update(
        report=report,
        chosen={str(study.uuid) for study in studies},
        warning=combined.no_shared_model_message(report),
        study_query=_study_query(studies),
        min_models=combined.MIN_MODELS,
    )
    return render(request, "reports/combined.html", context)


@require_safe
@report_reader_required
def combined_csv(request):
    report, error = _english_report(request)
    if error:
        return error
    bom = request.GET.get("bom") != "no"
    for study in report.studies:
        details = {"file": combined_export.FILENAME, "studies": [str(other.uuid) for other in report.studies]}
        record_event(request.user, AuditAction.EXPORTED, study, details)
    response = HttpResponse(combined_export.combined_csv(report, bom=bom), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=combined_export.FILENAME)
    return response


@require_safe
@report_reader_required
def combined_csv_metadata(request):
    report, error = _english_report(request)
    if error:
        return error
    metadata = combined_export.combined_metadata(report, bom=request.GET.get("bom") != "no")
    response = JsonResponse(metadata, json_dumps_params={"ensure_ascii": False, "indent": 2})
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{combined_export.FILENAME}.meta.json"
    )
    return response


def _english_report(request):
    """Return (report, None) in English for a download, or (None, a plain-text 400 or 404 response)."""
    try:
        studies = combined.resolve_studies(request.user, request.GET.getlist(combined.STUDY_PARAMETER))
    except combined.StudySelectionError as error:
        return None, HttpResponse(error.message, status=error.status, content_type="text/plain; charset=utf-8")
    with translation.override("en"):
        return combined.combined_report(studies), None


def _study_query(studies) -> str:
    return "&".join(f"{combined.STUDY_PARAMETER}={study.uuid}" for study in studies)
