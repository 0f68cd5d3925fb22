"""Staff pages of the live reports and the CSV export of judgments.

Pages and files name annotators by pseudonym; a site admin may ask for
account names with `?names=show` (annotate.pseudonyms). CSV files start with
a byte order mark, so that Excel opens Chinese text correctly; `?bom=no`
leaves it out, as for the table downloads (reports.export_views). Each
download of a data file is recorded in the audit log; the sidecar
descriptions are not.
"""

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.functional import SimpleLazyObject
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe

from annotate.audit import record_event
from annotate.models import AuditAction, StudyKind
from annotate.pseudonyms import (
    NAMES_OPTION,
    SHOW_NAMES,
    may_see_names,
    names_are_shown,
    names_requested,
    with_annotator_naming,
)
from reports import agreement, breakdowns, export, gold_export, ranking, ranking_export, report_cache
from reports.access import get_report_study, readable_studies, report_reader_required
from reports.answer_table import load_study_answers
from reports.answers import counted_judgments, limited_to
from reports.export_views import bom_requested
from reports.report_cache import cached_study_report


@require_safe
@report_reader_required
def index(request):
    judgments = counted_judgments(include_surplus=True, item__study=OuterRef("pk"))
    studies = (
        readable_studies(request.user)
        .select_related("prompt_set")
        .annotate(
            item_count=Count("items", filter=Q(items__is_gold=False)),
            judgment_count=_count_per_study(judgments),
            surplus_count=_count_per_study(judgments.filter(is_surplus=True)),
        )
    )
    return render(request, "reports/index.html", {"studies": studies})


def _count_per_study(judgments) -> Coalesce:
    counts = judgments.values("item__study").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


@require_safe
@report_reader_required
@with_annotator_naming
def study_report(request, study_uuid):
    with report_cache.one_fingerprint():
        return _study_report(request, study_uuid)


def _study_report(request, study_uuid):
    study = get_report_study(request.user, study_uuid)
    include_surplus = request.GET.get("surplus") == "include"
    include_excluded = request.GET.get("excluded") == "include"
    anchor_run_id, anchor_error = None, ""
    if study.kind == StudyKind.PAIRWISE:
        anchor_run_id, anchor_error = ranking.resolve_anchor(study, request.GET.get("anchor", ""))
    level, level_error = agreement.resolve_level(study, request.GET.get("level", ""))
    # Read the study's answers at most once per view, and only for figures
    # missing from the report cache.
    table = SimpleLazyObject(lambda: load_study_answers(study))
    breakdown, breakdown_errors = breakdowns.resolve_breakdown(study, request.GET, table)
    with limited_to(breakdown):
        report = cached_study_report(
            study,
            table=table,
            include_surplus=include_surplus,
            include_excluded=include_excluded,
            anchor_run_id=anchor_run_id,
            level=level,
        )
    # The ranking downloads take the page's options, less an anchor or a breakdown value that matched nothing.
    export_query = request.GET.copy()
    if anchor_run_id is None:
        export_query.pop("anchor", None)
    if breakdown.category is None:
        export_query.pop(breakdowns.CATEGORY, None)
    if breakdown.language is None:
        export_query.pop(breakdowns.LANGUAGE, None)
    if breakdown.left_out_annotator_id is None:
        export_query.pop(breakdowns.EXCLUDE_ANNOTATOR, None)
    choices = breakdowns.breakdown_choices(study, table)
    context = {
        "study": study,
        "report": report,
        "answer_table": table,
        "surplus_toggle_url": _toggled(request, "surplus", not include_surplus),
        "excluded_toggle_url": _toggled(request, "excluded", not include_excluded),
        "anchor_choices": ranking.anchor_choices(study) if study.kind == StudyKind.PAIRWISE else [],
        "anchor": export_query.get("anchor", ""),
        "anchor_error": anchor_error,
        "ranking_export_query": export_query.urlencode(),
        "level_error": level_error,
        "level_toggle_url": _level_toggled(request, study, level),
        "breakdown_errors": breakdown_errors,
        "category_links": breakdowns.option_links(export_query, breakdowns.CATEGORY, choices.categories),
        "language_links": breakdowns.option_links(export_query, breakdowns.LANGUAGE, choices.languages),
        "annotator_links": breakdowns.option_links(export_query, breakdowns.EXCLUDE_ANNOTATOR, choices.annotators),
        "may_see_names": may_see_names(request.user),
        "names_shown": names_are_shown(),
        "names_toggle_url": _names_toggled(request),
        "names_query": f"?{NAMES_OPTION}={SHOW_NAMES}" if names_are_shown() else "",
        "no_bom_query": f"?{NAMES_OPTION}={SHOW_NAMES}&bom=no" if names_are_shown() else "?bom=no",
    }
    return render(request, "reports/study.html", context)


def _names_toggled(request) -> str:
    """Return the page's query string switching between pseudonyms and account names.

    It keeps the other options but drops a left-out annotator, because that
    option names the annotator the way the page currently does.
    """
    query = request.GET.copy()
    query.pop(breakdowns.EXCLUDE_ANNOTATOR, None)
    if names_are_shown():
        query.pop(NAMES_OPTION, None)
    else:
        query[NAMES_OPTION] = SHOW_NAMES
    return f"?{query.urlencode()}"


def _level_toggled(request, study, level: str | None) -> str:
    """Return the page's query string switching a rating study's agreement between ordinal and interval level."""
    query = request.GET.copy()
    if study.kind != StudyKind.RATING or level == agreement.INTERVAL:
        query.pop("level", None)
    else:
        query["level"] = agreement.INTERVAL
    return f"?{query.urlencode()}"


def _toggled(request, name: str, include: bool) -> str:
    """Return the page's query string with option `name` set to include or left out, keeping the others."""
    query = request.GET.copy()
    if include:
        query[name] = "include"
    else:
        query.pop(name, None)
    return f"?{query.urlencode()}"


@require_safe
@report_reader_required
def judgments_csv(request, study_uuid):
    study = get_report_study(request.user, study_uuid)
    names = names_requested(request)
    record_event(request.user, AuditAction.EXPORTED, study, {"file": "judgments.csv", "annotator_names": names})
    response = StreamingHttpResponse(
        export.stream_judgments_csv(study, names=names, bom=bom_requested(request)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=export.csv_filename(study)
    )
    return response


@require_safe
@report_reader_required
def judgments_csv_metadata(request, study_uuid):
    study = get_report_study(request.user, study_uuid)
    metadata = export.judgments_metadata(study, names=names_requested(request), bom=bom_requested(request))
    response = JsonResponse(metadata, json_dumps_params={"ensure_ascii": False, "indent": 2})
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{export.csv_filename(study)}.meta.json"
    )
    return response


@require_safe
@report_reader_required
def gold_judgments_csv(request, study_uuid):
    study = get_report_study(request.user, study_uuid)
    names = names_requested(request)
    record_event(request.user, AuditAction.EXPORTED, study, {"file": "gold-judgments.csv", "annotator_names": names})
    response = StreamingHttpResponse(
        gold_export.stream_gold_judgments_csv(study, names=names, bom=bom_requested(request)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=export.gold_csv_filename(study)
    )
    return response


@require_safe
@report_reader_required
def gold_judgments_csv_metadata(request, study_uuid):
    study = get_report_study(request.user, study_uuid)
    metadata = gold_export.gold_judgments_metadata(study, names=names_requested(request), bom=bom_requested(request))
    response = JsonResponse(metadata, json_dumps_params={"ensure_ascii": False, "indent": 2})
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{export.gold_csv_filename(study)}.meta.json"
    )
    return response


@require_safe
@report_reader_required
@with_annotator_naming
def rankings_csv(request, study_uuid):
    study = get_report_study(request.user, study_uuid, kind=StudyKind.PAIRWISE)
    rankings, breakdown, error = _rankings_for_export(request, study)
    if error:
        return error
    record_event(request.user, AuditAction.EXPORTED, study, {"file": "rankings.csv"})
    text = ranking_export.rankings_csv(rankings, bom=bom_requested(request))
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=ranking_export.rankings_filename(study, "csv")
    )
    return response


@require_safe
@report_reader_required
@with_annotator_naming
def rankings_csv_metadata(request, study_uuid):
    study = get_report_study(request.user, study_uuid, kind=StudyKind.PAIRWISE)
    rankings, breakdown, error = _rankings_for_export(request, study)
    if error:
        return error
    metadata = ranking_export.rankings_metadata(study, rankings, bom=bom_requested(request))
    metadata["breakdown"] = breakdowns.breakdown_description(breakdown)
    response = JsonResponse(metadata, json_dumps_params={"ensure_ascii": False, "indent": 2})
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{ranking_export.rankings_filename(study, 'csv')}.meta.json"
    )
    return response


@require_safe
@report_reader_required
@with_annotator_naming
def rankings_json(request, study_uuid):
    study = get_report_study(request.user, study_uuid, kind=StudyKind.PAIRWISE)
    rankings, breakdown, error = _rankings_for_export(request, study)
    if error:
        return error
    record_event(request.user, AuditAction.EXPORTED, study, {"file": "rankings.json"})
    data = ranking_export.rankings_json(study, rankings)
    data["breakdown"] = breakdowns.breakdown_description(breakdown)
    response = JsonResponse(data, json_dumps_params={"ensure_ascii": False, "indent": 2})
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=ranking_export.rankings_filename(study, "json")
    )
    return response


def _rankings_for_export(request, study):
    """Compute the study's rankings for a download, with the options and breakdown the query string sets.

    Returns (rankings, breakdown, None), or (None, None, a 400 response) when an option is invalid.
    """
    options, breakdown, error = _export_options(request, study)
    if error:
        return None, None, HttpResponseBadRequest(error, content_type="text/plain; charset=utf-8")
    with limited_to(breakdown):
        rankings = ranking_export.english_rankings(study, **options)
    return rankings, breakdown, None


def _export_options(request, study) -> tuple[dict, breakdowns.Breakdown, str]:
    """Read the report page's options for an export: ranking options, breakdown, and an error naming a bad value."""
    anchor_run_id, anchor_error = ranking.resolve_anchor(study, request.GET.get("anchor", ""))
    options = {
        "include_surplus": request.GET.get("surplus") == "include",
        "include_excluded": request.GET.get("excluded") == "include",
        "anchor_run_id": anchor_run_id,
    }
    breakdown, breakdown_errors = breakdowns.resolve_breakdown(study, request.GET)
    return options, breakdown, " ".join([anchor_error, *breakdown_errors]).strip()
