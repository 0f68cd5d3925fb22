"""REST API for reports, under /api/v1/reports/: every figure of a study's report as JSON, and the CSV exports.

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
JSON by reports.report_json. The files
come from the export modules the report page links to (reports.export,
reports.gold_export, reports.ranking_export), so the API's files and the
page's downloads are the same bytes.
"""

import json

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
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
from reports import agreement, export, gold_export, ranking, ranking_export
from reports.answers import counted_judgments
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


class RankingOptionsSerializer(serializers.Serializer):
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


class NamesOptionSerializer(serializers.Serializer):
    names = serializers.BooleanField(
        required=False,
        default=False,
        help_text=_(
            "Name annotators by username instead of by pseudonym. Honoured for site admins only; "
            "anyone else gets pseudonyms."
        ),
    )


class ReportOptionsSerializer(RankingOptionsSerializer, NamesOptionSerializer):
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
            raise ValidationError({"anchor": [error]})
        options["anchor_run_id"] = anchor_run_id
    if data.get("level"):
        level, error = agreement.resolve_level(study, data["level"])
        if error:
            raise ValidationError({"level": [error]})
        options["level"] = level
    return options


# Views


FILE_RESPONSE = OpenApiResponse(OpenApiTypes.BINARY, description=str(_("A CSV file, UTF-8 with a byte order mark.")))
JSON_FILE_RESPONSE = OpenApiResponse(OpenApiTypes.OBJECT, description=str(_("The file's sidecar metadata.")))


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
        carry their generation run's UUID.
        """
        study = self.get_object()
        options = _report_options(study, request.query_params)
        report = cached_study_report(study, **options)
        with annotator_names_shown(_names_requested(request)):
            return ApiResponse(report_data(report))

    @extend_schema(parameters=[NamesOptionSerializer], responses={200: FILE_RESPONSE})
    @action(detail=True, methods=["get"], url_path="judgments-csv", renderer_classes=[JSONRenderer, CSVRenderer])
    def judgments_csv(self, request, uuid=None):
        """Download every judgment on regular items, one row per judgment and criterion (as reports.export)."""
        study = self.get_object()
        names = _names_requested(request)
        record_event(request.user, AuditAction.EXPORTED, study, {"file": "judgments.csv", "annotator_names": names})
        return _csv_file(export.stream_judgments_csv(study, names=names), export.csv_filename(study))

    @extend_schema(parameters=[NamesOptionSerializer], responses={200: JSON_FILE_RESPONSE})
    @action(detail=True, methods=["get"], url_path="judgments-csv/metadata", url_name="judgments-csv-metadata")
    def judgments_csv_metadata(self, request, uuid=None):
        """Return the judgments file's sidecar: study, counts, figures, method and columns."""
        study = self.get_object()
        metadata = export.judgments_metadata(study, names=_names_requested(request))
        return _json_file(metadata, f"{export.csv_filename(study)}.meta.json")

    @extend_schema(parameters=[NamesOptionSerializer], responses={200: FILE_RESPONSE})
    @action(detail=True, methods=["get"], url_path="gold-judgments-csv", renderer_classes=[JSONRenderer, CSVRenderer])
    def gold_judgments_csv(self, request, uuid=None):
        """Download the judgments on gold items, each with the right answer and whether it was given."""
        study = self.get_object()
        names = _names_requested(request)
        details = {"file": "gold-judgments.csv", "annotator_names": names}
        record_event(request.user, AuditAction.EXPORTED, study, details)
        return _csv_file(gold_export.stream_gold_judgments_csv(study, names=names), export.gold_csv_filename(study))

    @extend_schema(parameters=[NamesOptionSerializer], responses={200: JSON_FILE_RESPONSE})
    @action(
        detail=True, methods=["get"], url_path="gold-judgments-csv/metadata", url_name="gold-judgments-csv-metadata"
    )
    def gold_judgments_csv_metadata(self, request, uuid=None):
        """Return the gold judgments file's sidecar."""
        study = self.get_object()
        metadata = gold_export.gold_judgments_metadata(study, names=_names_requested(request))
        return _json_file(metadata, f"{export.gold_csv_filename(study)}.meta.json")

    @extend_schema(parameters=[RankingOptionsSerializer], responses={200: FILE_RESPONSE})
    @action(detail=True, methods=["get"], url_path="rankings-csv", renderer_classes=[JSONRenderer, CSVRenderer])
    def rankings_csv(self, request, uuid=None):
        """Download a pairwise study's rankings, one row per criterion and system, best first."""
        study, rankings = self._rankings(request)
        record_event(request.user, AuditAction.EXPORTED, study, {"file": "rankings.csv"})
        return _csv_file([ranking_export.rankings_csv(rankings)], ranking_export.rankings_filename(study, "csv"))

    @extend_schema(parameters=[RankingOptionsSerializer], responses={200: JSON_FILE_RESPONSE})
    @action(detail=True, methods=["get"], url_path="rankings-csv/metadata", url_name="rankings-csv-metadata")
    def rankings_csv_metadata(self, request, uuid=None):
        """Return the rankings file's sidecar: method, seed, counts, position bias and columns."""
        study, rankings = self._rankings(request)
        filename = f"{ranking_export.rankings_filename(study, 'csv')}.meta.json"
        return _json_file(ranking_export.rankings_metadata(study, rankings), filename)

    @extend_schema(parameters=[RankingOptionsSerializer], responses={200: JSON_FILE_RESPONSE})
    @action(detail=True, methods=["get"])
    def rankings(self, request, uuid=None):
        """Return every ranking figure of a pairwise study, with pair counts and predicted win probabilities."""
        study, rankings = self._rankings(request)
        record_event(request.user, AuditAction.EXPORTED, study, {"file": "rankings.json"})
        return _json_file(
            ranking_export.rankings_json(study, rankings), ranking_export.rankings_filename(study, "json")
        )

    def _rankings(self, request):
        study = self.get_object()
        if study.kind != StudyKind.PAIRWISE:
            raise NotFound(gettext("Rankings exist for pairwise studies only; this is a rating study."))
        options = _report_options(study, request.query_params, RankingOptionsSerializer)
        return study, ranking_export.english_rankings(study, **options)


def _names_requested(request) -> bool:
    """Read the `names` option; True only when a site admin sent it, because anyone else gets pseudonyms."""
    form = NamesOptionSerializer(data=request.query_params)
    form.is_valid(raise_exception=True)
    return names_for(request.user, form.validated_data["names"])


def _count_per_study(judgments) -> Coalesce:
    counts = judgments.values("item__study").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def _csv_file(chunks, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    return response


def _json_file(data: dict, filename: str) -> ApiResponse:
    response = ApiResponse(data)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    return response
