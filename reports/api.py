"""REST API for reports, under /api/v1/reports/: every figure of a study's report as JSON, and every export file.

Reports are unblinded: they name the systems. Site admins read every
study's report and study managers those of their studies, as the table in
humeval.policy grants (`CanReadReports`); anyone else gets 403 on the list
and 404 on any URL that names a study.

Annotators are named by a stable pseudonym (annotate.pseudonyms). A site
admin may ask for account names with `names=true`; from anyone else the
option is ignored without an error, and the files' sidecars state which
kind of name they hold.

The figures come from reports.summary.build_study_report through the
report cache (reports.report_cache), as on the report page, turned into
JSON by reports.report_json. The report and the rankings take the page's
breakdown options (`category`, `language`, `exclude_annotator`, see
reports.breakdowns), applied through reports.answers.limited_to. A value
the study does not have is a 400 naming the parameter, whereas the page
shows a warning and ignores it.

`combined/` puts several studies side by side (reports.combined); its
studies come as repeated `study` parameters, and one the user may not read
gets the same 404 as one that does not exist.

The files come from the export modules the report page links to
(reports.export, reports.gold_export, reports.ranking_export,
reports.export_files, reports.archive), so the API's files and the page's
downloads are the same bytes, and each table file equals the one
`manage.py export` writes with the same options.
"""

import json

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import translation
from django.utils.http import content_disposition_header
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response as ApiResponse

from annotate.api_access import StudyPermission
from annotate.audit import record_event
from annotate.models import AuditAction, Study, StudyKind
from annotate.pseudonyms import annotator_names_shown, names_for
from humeval.policy import Kind
from reports import (
    agreement,
    breakdowns,
    combined,
    combined_export,
    export,
    export_files,
    gold_export,
    ranking,
    ranking_export,
)
from reports.answers import WHOLE_STUDY, Breakdown, counted_judgments, limited_to
from reports.archive import stream_archive
from reports.export_views import CONTENT_TYPES
from reports.report_cache import cached_study_report
from reports.report_json import report_data


def register_routes(router) -> None:
    """Add the report viewset to the API router."""
    router.register("reports", ReportViewSet, basename="report")


class CanReadReports(StudyPermission):
    kind = Kind.REPORT
    message = _("Only site admins and study managers may read reports.")


class CSVRenderer(BaseRenderer):
    """Lets a client ask for text/csv; the export views return their file themselves, so only errors pass here."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data, ensure_ascii=False).encode("utf-8")


class JSONLinesRenderer(CSVRenderer):
    """Lets a client ask for JSON Lines. As with CSVRenderer, only error bodies pass here, as JSON."""

    media_type = "application/x-ndjson"
    format = "jsonl"


class ZipRenderer(CSVRenderer):
    """Lets a client ask for a zip file. As with CSVRenderer, only error bodies pass here, as JSON."""

    media_type = "application/zip"
    format = "zip"
    charset = None


# Serializers


class ReportStudySerializer(serializers.ModelSerializer):
    prompt_set_name = serializers.CharField(source="prompt_set.name", read_only=True)
    items = serializers.IntegerField(source="item_count", help_text=_("Regular items; gold items are left out."))
    judgments = serializers.IntegerField(
        source="judgment_count", help_text=_("Judgments on regular items, surplus ones included.")
    )
    surplus_judgments = serializers.IntegerField(source="surplus_count")

    class Meta:
        model = Study
        fields = ["uuid", "name", "kind", "status", "prompt_set_name", "items", "judgments", "surplus_judgments"]
        read_only_fields = fields


class NamesOptionSerializer(serializers.Serializer):
    names = serializers.BooleanField(
        required=False,
        default=False,
        help_text=_(
            "Name annotators by username instead of by pseudonym. Honoured for site admins only; "
            "anyone else gets pseudonyms."
        ),
    )


class BreakdownOptionsSerializer(NamesOptionSerializer):
    """The report page's breakdown options (reports.breakdowns), under the same names."""

    category = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text=_("Count only judgments on prompts of this category, as the report page's breakdown does."),
    )
    language = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text=_("Count only judgments on prompts in this language, a BCP 47 code such as en or zh-Hans."),
    )
    exclude_annotator = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text=_(
            "Leave out the judgments of this annotator, named as the report names annotators: by pseudonym, "
            "or by username when a site admin sends names=true."
        ),
    )


class RankingOptionsSerializer(BreakdownOptionsSerializer):
    include_surplus = serializers.BooleanField(
        required=False, default=False, help_text=_("Count judgments that arrived after their item had its overlap.")
    )
    include_excluded = serializers.BooleanField(
        required=False, default=False, help_text=_("Count the judgments of annotators excluded from the reports.")
    )
    anchor = serializers.UUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text=_("Pairwise: UUID of the system (generation run) rated 1000; default the geometric mean."),
    )


class ReportOptionsSerializer(RankingOptionsSerializer):
    level = serializers.ChoiceField(
        choices=agreement.LEVELS,
        required=False,
        allow_blank=True,
        default="",
        help_text=_(
            "Level of measurement for agreement: nominal (pairwise), ordinal (rating, the default) or interval."
        ),
    )


def _report_options(study: Study, query, serializer_class=ReportOptionsSerializer) -> dict:
    """Read the options from the query string; an anchor or level that does not fit the study is a 400 naming it."""
    form = serializer_class(data=query)
    form.is_valid(raise_exception=True)
    data = form.validated_data
    options = {"include_surplus": data["include_surplus"], "include_excluded": data["include_excluded"]}

    anchor = data["anchor"]
    if anchor is not None:
        if study.kind != StudyKind.PAIRWISE:
            raise ValidationError({"anchor": [gettext("Only pairwise studies have an anchor; leave it out.")]})
        anchor_run_id, error = ranking.resolve_anchor(study, str(anchor))
        if error:
            # The page's message names the default it shows instead, but the API shows nothing.
            message = gettext("The anchor %(value)s is not the run UUID of a system of this study.")
            raise ValidationError({"anchor": [message % {"value": anchor}]})
        options["anchor_run_id"] = anchor_run_id
    if data.get("level"):
        level, error = agreement.resolve_level(study, data["level"])
        if error:
            allowed = ", ".join(agreement.allowed_levels(study))
            message = gettext("Unknown level of measurement “%(level)s” for this study: use one of %(allowed)s.")
            raise ValidationError({"level": [message % {"level": data["level"], "allowed": allowed}]})
        options["level"] = level
    return options


class ExportOptionsSerializer(NamesOptionSerializer):
    bom = serializers.BooleanField(
        required=False,
        default=True,
        help_text=_(
            "CSV only: start the file with a UTF-8 byte order mark, so that Excel opens Chinese text correctly. "
            "Send false for the file that manage.py export writes without --bom."
        ),
    )


class BomOptionSerializer(serializers.Serializer):
    bom = serializers.BooleanField(
        required=False,
        default=True,
        help_text=_("Start the CSV file with a UTF-8 byte order mark, so that Excel opens Chinese text correctly."),
    )


class CombinedExportSerializer(BomOptionSerializer):
    """The combined CSV file's option: `bom`."""


class CsvFileOptionsSerializer(NamesOptionSerializer, BomOptionSerializer):
    """The options of the judgments and gold judgments CSV files and of their sidecars: `names` and `bom`."""


class RankingCsvOptionsSerializer(RankingOptionsSerializer, BomOptionSerializer):
    """The options of the rankings CSV file and of its sidecar: the ranking options and `bom`."""


class StudyNotFound(ValidationError):
    """A 404 whose body names the query parameter at fault, as a 400 does."""

    status_code = 404
    default_code = "not_found"


COMBINED_STUDY_PARAMETER = OpenApiParameter(
    combined.STUDY_PARAMETER,
    OpenApiTypes.UUID,
    OpenApiParameter.QUERY,
    required=True,
    many=True,
    description=str(
        _(
            "UUID of a study to combine; repeat the parameter for each study, at least two. A study you may not "
            "read gets the same 404 as one that does not exist."
        )
    ),
)


def _combined_studies(request) -> list[Study]:
    """Return the studies the `study` parameters name, or raise a 400 or 404 naming the parameter."""
    try:
        return combined.resolve_studies(request.user, request.query_params.getlist(combined.STUDY_PARAMETER))
    except combined.StudySelectionError as error:
        if error.status == 404:
            raise StudyNotFound({combined.STUDY_PARAMETER: [error.message]}) from None
        raise ValidationError({combined.STUDY_PARAMETER: [error.message]}) from None


def _english_combined_report(request) -> tuple[combined.CombinedReport, bool]:
    """Return the combined report in English, as the other exports are, and the `bom` option; errors as above."""
    form = CombinedExportSerializer(data=request.query_params)
    form.is_valid(raise_exception=True)
    studies = _combined_studies(request)
    with translation.override("en"):
        return combined.combined_report(studies), form.validated_data["bom"]


def _requested_breakdown(study: Study, request) -> Breakdown:
    """Read the breakdown options as the report page does, but raise a 400 naming a value the study does not have."""
    form = BreakdownOptionsSerializer(data=request.query_params)
    form.is_valid(raise_exception=True)
    requested = {option: form.validated_data[option] for option in breakdowns.OPTIONS if option in form.validated_data}
    if not requested:
        return WHOLE_STUDY

    # Annotators are named as in the report: by username only when a site admin asked for names.
    with annotator_names_shown(_names_requested(request)):
        breakdown, page_warnings = breakdowns.resolve_breakdown(study, requested)
    if not page_warnings:
        return breakdown

    choices = breakdowns.breakdown_choices(study)
    errors = {}
    if breakdowns.CATEGORY in requested and breakdown.category is None:
        errors[breakdowns.CATEGORY] = [_unknown_category(requested[breakdowns.CATEGORY], choices.categories)]
    if breakdowns.LANGUAGE in requested and breakdown.language is None:
        errors[breakdowns.LANGUAGE] = [_unknown_language(requested[breakdowns.LANGUAGE], choices.languages)]
    if breakdowns.EXCLUDE_ANNOTATOR in requested and breakdown.left_out_annotator_id is None:
        errors[breakdowns.EXCLUDE_ANNOTATOR] = [
            gettext(
                "No annotator named “%(value)s” judged this study's regular items. Use a name from the report's "
                "annotator list: a pseudonym, or a username when a site admin sends names=true."
            )
            % {"value": requested[breakdowns.EXCLUDE_ANNOTATOR]}
        ]
    raise ValidationError(errors)


def _unknown_category(value: str, categories: list[str]) -> str:
    if not categories:
        message = gettext("No prompt of this study has a category, so “%(value)s” matches nothing; leave it out.")
        return message % {"value": value}
    return gettext("No prompt of this study has the category “%(value)s”; the categories are: %(choices)s.") % {
        "value": value,
        "choices": ", ".join(categories),
    }


def _unknown_language(value: str, languages: list[str]) -> str:
    if not languages:
        message = gettext("No prompt of this study has a language, so “%(value)s” matches nothing; leave it out.")
        return message % {"value": value}
    return gettext("No prompt of this study has the language “%(value)s”; the languages are: %(choices)s.") % {
        "value": value,
        "choices": ", ".join(languages),
    }


def _breakdown_description(request, breakdown: Breakdown) -> dict:
    """Describe the breakdown a response covers, naming a left-out annotator as the request names annotators."""
    with annotator_names_shown(_names_requested(request)):
        return breakdowns.breakdown_description(breakdown)


# Views


FILE_RESPONSE = OpenApiResponse(
    OpenApiTypes.BINARY, description=str(_("A CSV file, UTF-8 with a byte order mark unless bom=false."))
)
JSON_FILE_RESPONSE = OpenApiResponse(OpenApiTypes.OBJECT, description=str(_("The file's sidecar metadata.")))
EXPORT_RESPONSE = OpenApiResponse(
    OpenApiTypes.BINARY,
    description=str(
        _("The table as CSV (UTF-8, with a byte order mark unless bom=false) or as JSON Lines (UTF-8), streamed.")
    ),
)
ARCHIVE_RESPONSE = OpenApiResponse(
    OpenApiTypes.BINARY, description=str(_("A zip file with everything needed to recompute the study's figures."))
)
EXPORT_PATH_PARAMETERS = [
    OpenApiParameter(
        "table",
        OpenApiTypes.STR,
        OpenApiParameter.PATH,
        enum=export_files.TABLE_KINDS,
        description=str(_("The table, as manage.py export --what names it; pairs for pairwise studies only.")),
    ),
    OpenApiParameter(
        "file_format", OpenApiTypes.STR, OpenApiParameter.PATH, enum=export_files.FORMATS, description="csv or jsonl"
    ),
]


class ReportViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Studies with their judgment counts, each study's report figures, and its CSV exports."""

    serializer_class = ReportStudySerializer
    permission_classes = [CanReadReports]
    lookup_field = "uuid"
    lookup_value_converter = "uuid"

    def get_queryset(self):
        studies = self.get_permissions()[0].studies_for(self.request, self).select_related("prompt_set")
        if self.action != "list":
            return studies
        judgments = counted_judgments(include_surplus=True, item__study=OuterRef("pk"))
        return studies.annotate(
            item_count=Count("items", filter=Q(items__is_gold=False)),
            judgment_count=_count_per_study(judgments),
            surplus_count=_count_per_study(judgments.filter(is_surplus=True)),
        ).order_by("-created_at", "pk")

    @extend_schema(parameters=[ReportOptionsSerializer], responses=OpenApiTypes.OBJECT)
    def retrieve(self, request, uuid=None):
        """Return every figure of the study's report: totals, agreement, results per criterion, annotators.

        Pairwise criteria carry win, tie and loss counts and the ranking
        (Bradley-Terry ratings, win rates, intervals, position bias);
        rating criteria carry scores per system. Systems are named and
        carry their generation run's UUID. `breakdown` states the part of
        the judgments the figures cover, where a null field limits nothing.
        """
        study = self.get_object()
        options = _report_options(study, request.query_params)
        breakdown = _requested_breakdown(study, request)
        with limited_to(breakdown), annotator_names_shown(_names_requested(request)):
            data = report_data(cached_study_report(study, **options))
        data["breakdown"] = _breakdown_description(request, breakdown)
        return ApiResponse(data)

    @extend_schema(parameters=[CsvFileOptionsSerializer], responses={200: FILE_RESPONSE})
    @action(detail=True, methods=["get"], url_path="judgments-csv", renderer_classes=[JSONRenderer, CSVRenderer])
    def judgments_csv(self, request, uuid=None):
        """Download every judgment on regular items, one row per judgment and criterion (as reports.export)."""
        study = self.get_object()
        names, bom = _names_requested(request), _bom_requested(request)
        record_event(request.user, AuditAction.EXPORTED, study, {"file": "judgments.csv", "annotator_names": names})
        return _csv_file(export.stream_judgments_csv(study, names=names, bom=bom), export.csv_filename(study))

    @extend_schema(parameters=[CsvFileOptionsSerializer], responses={200: JSON_FILE_RESPONSE})
    @action(detail=True, methods=["get"], url_path="judgments-csv/metadata", url_name="judgments-csv-metadata")
    def judgments_csv_metadata(self, request, uuid=None):
        """Return the judgments file's sidecar: study, counts, figures, method and columns."""
        study = self.get_object()
        metadata = export.judgments_metadata(study, names=_names_requested(request), bom=_bom_requested(request))
        return _json_file(metadata, f"{export.csv_filename(study)}.meta.json")

    @extend_schema(parameters=[CsvFileOptionsSerializer], responses={200: FILE_RESPONSE})
    @action(detail=True, methods=["get"], url_path="gold-judgments-csv", renderer_classes=[JSONRenderer, CSVRenderer])
    def gold_judgments_csv(self, request, uuid=None):
        """Download the judgments on gold items, each with the right answer and whether it was given."""
        study = self.get_object()
        names, bom = _names_requested(request), _bom_requested(request)
        details = {"file": "gold-judgments.csv", "annotator_names": names}
        record_event(request.user, AuditAction.EXPORTED, study, details)
        chunks = gold_export.stream_gold_judgments_csv(study, names=names, bom=bom)
        return _csv_file(chunks, export.gold_csv_filename(study))

    @extend_schema(parameters=[CsvFileOptionsSerializer], responses={200: JSON_FILE_RESPONSE})
    @action(
        detail=True, methods=["get"], url_path="gold-judgments-csv/metadata", url_name="gold-judgments-csv-metadata"
    )
    def gold_judgments_csv_metadata(self, request, uuid=None):
        """Return the gold judgments file's sidecar."""
        study = self.get_object()
        names, bom = _names_requested(request), _bom_requested(request)
        metadata = gold_export.gold_judgments_metadata(study, names=names, bom=bom)
        return _json_file(metadata, f"{export.gold_csv_filename(study)}.meta.json")

    @extend_schema(parameters=[RankingCsvOptionsSerializer], responses={200: FILE_RESPONSE})
    @action(detail=True, methods=["get"], url_path="rankings-csv", renderer_classes=[JSONRenderer, CSVRenderer])
    def rankings_csv(self, request, uuid=None):
        """Download a pairwise study's rankings, one row per criterion and system, best first."""
        study, rankings, _breakdown, bom = self._rankings(request, "csv")
        record_event(request.user, AuditAction.EXPORTED, study, {"file": "rankings.csv"})
        text = ranking_export.rankings_csv(rankings, bom=bom)
        return _csv_file([text], ranking_export.rankings_filename(study, "csv"))

    @extend_schema(parameters=[RankingCsvOptionsSerializer], responses={200: JSON_FILE_RESPONSE})
    @action(detail=True, methods=["get"], url_path="rankings-csv/metadata", url_name="rankings-csv-metadata")
    def rankings_csv_metadata(self, request, uuid=None):
        """Return the rankings file's sidecar: method, seed, counts, position bias and columns."""
        study, rankings, breakdown, bom = self._rankings(request, "csv")
        filename = f"{ranking_export.rankings_filename(study, 'csv')}.meta.json"
        metadata = ranking_export.rankings_metadata(study, rankings, bom=bom)
        metadata["breakdown"] = _breakdown_description(request, breakdown)
        return _json_file(metadata, filename)

    @extend_schema(parameters=[RankingOptionsSerializer], responses={200: JSON_FILE_RESPONSE})
    @action(detail=True, methods=["get"])
    def rankings(self, request, uuid=None):
        """Return every ranking figure of a pairwise study, with pair counts and predicted win probabilities."""
        study, rankings, breakdown, _bom = self._rankings(request, "json")
        record_event(request.user, AuditAction.EXPORTED, study, {"file": "rankings.json"})
        data = ranking_export.rankings_json(study, rankings)
        data["breakdown"] = _breakdown_description(request, breakdown)
        return _json_file(data, ranking_export.rankings_filename(study, "json"))

    def _rankings(self, request, file_format: str):
        """Rank the study with the query's options inside its breakdown: (study, rankings, breakdown, bom).

        `bom` is read for the CSV file and its sidecar (`file_format` csv). With the JSON file, `bom` is a 400.
        """
        study = self.get_object()
        if study.kind != StudyKind.PAIRWISE:
            raise NotFound(gettext("Rankings exist for pairwise studies only; this is a rating study."))
        if file_format == "csv":
            bom = _bom_requested(request)
        else:
            _reject_bom(request)
            bom = False
        options = _report_options(study, request.query_params, RankingOptionsSerializer)
        breakdown = _requested_breakdown(study, request)
        with limited_to(breakdown):
            rankings = ranking_export.english_rankings(study, **options)
        return study, rankings, breakdown, bom

    @extend_schema(parameters=[ExportOptionsSerializer, *EXPORT_PATH_PARAMETERS], responses={200: EXPORT_RESPONSE})
    @action(
        detail=True,
        methods=["get"],
        url_path="exports/<slug:table>/<slug:file_format>",
        url_name="export",
        renderer_classes=[JSONRenderer, CSVRenderer, JSONLinesRenderer],
    )
    def export_file(self, request, uuid=None, table=None, file_format=None):
        """Download one table of `manage.py export` as CSV or JSON Lines: the same bytes the command writes.

        Tables: judgments, gold (judgments on gold items), annotators,
        models, pairs (pairwise studies) and agreement. The file is written
        as it is sent; judgments are read from the database in chunks.
        """
        study, exported, file_name, bom, names = self._export_table(request, table, file_format)
        details = {"file": f"{table}.{file_format}", "annotator_names": names}
        record_event(request.user, AuditAction.EXPORTED, study, details)
        chunks = export_files.stream_rows(exported.header, exported.rows, file_format, bom)
        return _file_response(chunks, CONTENT_TYPES[file_format], file_name)

    @extend_schema(parameters=[ExportOptionsSerializer, *EXPORT_PATH_PARAMETERS], responses={200: JSON_FILE_RESPONSE})
    @action(
        detail=True,
        methods=["get"],
        url_path="exports/<slug:table>/<slug:file_format>/metadata",
        url_name="export-metadata",
    )
    def export_metadata(self, request, uuid=None, table=None, file_format=None):
        """Return the table file's sidecar `<file>.meta.json`: study, columns, counts, method, format and versions."""
        study, exported, file_name, bom, names = self._export_table(request, table, file_format)
        metadata = export_files.sidecar_metadata(exported, file_name, file_format, bom, names)
        return _json_file(metadata, f"{file_name}.meta.json")

    @extend_schema(parameters=[NamesOptionSerializer], responses={200: ARCHIVE_RESPONSE})
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, ZipRenderer])
    def archive(self, request, uuid=None):
        """Download the study's archive: the zip file of `manage.py export --what archive`.

        It contains the study's configuration, prompts, runs, responses,
        items and every table export with its sidecar, plus manifest.json.
        The zip is streamed as it is written, so memory stays flat and the
        first bytes leave before the figures are computed.
        """
        study = self.get_object()
        names = _names_requested(request)
        file_name = export_files.default_filename(study, "archive", "zip")
        if request.method == "HEAD":
            # The headers alone: building the archive takes seconds to minutes.
            response = HttpResponse(content_type="application/zip")
            response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=file_name)
            return response
        record_event(request.user, AuditAction.EXPORTED, study, {"file": "archive.zip", "annotator_names": names})
        return _file_response(stream_archive(study, names=names), "application/zip", file_name)

    @extend_schema(parameters=[COMBINED_STUDY_PARAMETER], responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["get"])
    def combined(self, request):
        """Return one report across studies that share models: figures per model and study, and rank correlations.

        Rows are language models, and columns are studies and criteria. A
        column holds Bradley-Terry ratings (pairwise) or mean scores
        (rating) with their intervals, as in each study's own report. A cell is null where the
        model is not in that study. `message` says when the studies share
        no model.
        """
        report = combined.combined_report(_combined_studies(request))
        return ApiResponse(combined_export.combined_json(report, combined.no_shared_model_message(report)))

    @extend_schema(parameters=[COMBINED_STUDY_PARAMETER, CombinedExportSerializer], responses={200: FILE_RESPONSE})
    @action(
        detail=False,
        methods=["get"],
        url_path="combined/csv",
        url_name="combined-csv",
        renderer_classes=[JSONRenderer, CSVRenderer],
    )
    def combined_csv(self, request):
        """Download the combined table as CSV, one row per model: the file the combined report page offers."""
        report, bom = _english_combined_report(request)
        details = {"file": combined_export.FILENAME, "studies": [str(study.uuid) for study in report.studies]}
        for study in report.studies:
            record_event(request.user, AuditAction.EXPORTED, study, details)
        text = combined_export.combined_csv(report, bom=bom)
        return _csv_file([text], combined_export.FILENAME)

    @extend_schema(parameters=[COMBINED_STUDY_PARAMETER, CombinedExportSerializer], responses={200: JSON_FILE_RESPONSE})
    @action(detail=False, methods=["get"], url_path="combined/csv/metadata", url_name="combined-csv-metadata")
    def combined_csv_metadata(self, request):
        """Return the combined CSV file's sidecar: studies, columns, method, seeds, correlations and versions."""
        report, bom = _english_combined_report(request)
        metadata = combined_export.combined_metadata(report, bom=bom)
        return _json_file(metadata, f"{combined_export.FILENAME}.meta.json")

    def _export_table(self, request, table: str, file_format: str):
        """Return (study, export table, file name, bom, names shown) for a table download or its sidecar.

        Raises a 404 naming an unknown table or format, or pairs of a rating study, and a 400 for `bom` with JSONL.
        """
        study = self.get_object()
        if table not in export_files.TABLE_KINDS:
            raise NotFound(
                gettext("No export table “%(table)s”; the tables are: %(tables)s.")
                % {"table": table, "tables": ", ".join(export_files.TABLE_KINDS)}
            )
        if file_format not in export_files.FORMATS:
            raise NotFound(gettext("No export format “%(format)s”; use csv or jsonl.") % {"format": file_format})
        if table == "pairs" and study.kind != StudyKind.PAIRWISE:
            raise NotFound(gettext("Pair counts exist for pairwise studies only; this is a rating study."))

        form = ExportOptionsSerializer(data=request.query_params)
        form.is_valid(raise_exception=True)
        if file_format != "csv":
            _reject_bom(request)
        bom = file_format == "csv" and form.validated_data["bom"]
        names = names_for(request.user, form.validated_data["names"])
        exported = export_files.export_table(study, table, names=names)
        return study, exported, export_files.default_filename(study, table, file_format), bom, names


def _names_requested(request) -> bool:
    """Read the `names` option; True only when a site admin sent it, because anyone else gets pseudonyms."""
    form = NamesOptionSerializer(data=request.query_params)
    form.is_valid(raise_exception=True)
    return names_for(request.user, form.validated_data["names"])


def _bom_requested(request) -> bool:
    """Read the `bom` option of a CSV file: True unless sent as false; a value that is not a boolean is a 400."""
    form = BomOptionSerializer(data=request.query_params)
    form.is_valid(raise_exception=True)
    return form.validated_data["bom"]


def _reject_bom(request) -> None:
    """Raise a 400 naming `bom` when the query string has it, for a file that is not CSV."""
    if "bom" in request.query_params:
        raise ValidationError({"bom": [gettext("A byte order mark applies to CSV files only; leave bom out.")]})


def _count_per_study(judgments) -> Coalesce:
    counts = judgments.values("item__study").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def _csv_file(chunks, filename: str) -> StreamingHttpResponse:
    return _file_response(chunks, "text/csv; charset=utf-8", filename)


def _file_response(chunks, content_type: str, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    return response


def _json_file(data: dict, filename: str) -> ApiResponse:
    response = ApiResponse(data)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    return response
