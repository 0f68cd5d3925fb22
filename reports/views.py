"""Staff pages of the live reports and the CSV export of judgments."""

from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count, Q
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe

from annotate.models import Study
from reports import export
from reports.summary import build_study_report


@require_safe
@staff_member_required
def index(request):
    studies = Study.objects.select_related("prompt_set").annotate(
        item_count=Count("items", distinct=True),
        judgment_count=Count("items__judgments"),
        surplus_count=Count("items__judgments", filter=Q(items__judgments__is_surplus=True)),
    )
    return render(request, "reports/index.html", {"studies": studies})


@require_safe
@staff_member_required
def study_report(request, study_uuid):
    study = get_object_or_404(Study, uuid=study_uuid)
    include_surplus = request.GET.get("surplus") == "include"
    report = build_study_report(study, include_surplus=include_surplus)
    return render(request, "reports/study.html", {"study": study, "report": report})


@require_safe
@staff_member_required
def judgments_csv(request, study_uuid):
    study = get_object_or_404(Study, uuid=study_uuid)
    response = StreamingHttpResponse(export.stream_judgments_csv(study), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=export.csv_filename(study)
    )
    return response


@require_safe
@staff_member_required
def judgments_csv_metadata(request, study_uuid):
    study = get_object_or_404(Study, uuid=study_uuid)
    response = JsonResponse(export.judgments_metadata(study), json_dumps_params={"ensure_ascii": False, "indent": 2})
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{export.csv_filename(study)}.meta.json"
    )
    return response
