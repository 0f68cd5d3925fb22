"""Report page downloads of every table export in CSV or JSONL, with its sidecar description.

The files are those of `manage.py export` (reports.export_files). CSV
downloads start with a byte order mark, so that Excel opens Chinese text
correctly; `?bom=no` leaves it out. Annotators are named by pseudonym unless
a site admin adds `?names=show`. Each data file download is recorded in the
audit log; the sidecar descriptions are not.
"""

from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe

from annotate.audit import record_event
from annotate.models import AuditAction, StudyKind
from annotate.pseudonyms import names_requested
from reports import export_files
from reports.access import get_report_study, report_reader_required

CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


@require_safe
@report_reader_required
def table_download(request, study_uuid, what, file_format):
    study, table, names = _table(request, study_uuid, what, file_format)
    bom = file_format == "csv" and bom_requested(request)
    file_name = export_files.default_filename(study, what, file_format)
    record_event(request.user, AuditAction.EXPORTED, study, {"file": f"{what}.{file_format}", "annotator_names": names})

    chunks = export_files.stream_rows(table.header, table.rows, file_format, bom)
    response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPES[file_format])
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=file_name)
    return response


@require_safe
@report_reader_required
def table_metadata(request, study_uuid, what, file_format):
    study, table, names = _table(request, study_uuid, what, file_format)
    bom = file_format == "csv" and bom_requested(request)
    file_name = export_files.default_filename(study, what, file_format)

    metadata = export_files.sidecar_metadata(table, file_name, file_format, bom, names)
    response = JsonResponse(metadata, json_dumps_params={"ensure_ascii": False, "indent": 2})
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=f"{file_name}.meta.json")
    return response


def bom_requested(request) -> bool:
    """Read the `bom` option of a CSV download: True unless the query string has exactly `bom=no`."""
    return request.GET.get("bom") != "no"


def _table(request, study_uuid, what: str, file_format: str):
    """Return (study, export table, names shown) for a download, or raise Http404 for a file the study lacks."""
    if what not in export_files.TABLE_KINDS or file_format not in export_files.FORMATS:
        raise Http404
    filters = {"kind": StudyKind.PAIRWISE} if what == "pairs" else {}
    study = get_report_study(request.user, study_uuid, **filters)
    names = names_requested(request)
    # NOTE: the models, pairs and agreement tables recompute the report (1,000 bootstrap rounds) for each
    # download instead of reading the page's cached report, because the cached one is in the reader's language.
    return study, export_files.export_table(study, what, names=names), names
