"""REST API for the items of one study, under /api/v1/studies/<uuid>/items/: items, gold answers, attention checks.

Items are shown unblinded, with the systems behind their responses, because
only study managers reach these URLs (annotate.api_access). Gold answers
and attention checks go through annotate.gold, as in the admin.
"""

from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response as ApiResponse

from annotate.api_access import CanManageItems, StudyScopedMixin
from annotate.errors import InvalidGold
from annotate.gold import RIGHT_PAIRWISE_OUTCOMES, create_attention_check, mark_gold, unmark_gold
from annotate.models import Item, Judgment, StudyKind
from generation.models import GenerationRun, Prompt, Response
from humeval.api import Conflict, RejectUnknownFieldsMixin, UUIDRelatedField
from humeval.api_schema import ErrorSerializer

# Serializers


class ItemSerializer(serializers.ModelSerializer):
    """An item as the study manager sees it: unblinded, with the systems behind its responses."""

    prompt = UUIDRelatedField(read_only=True)
    prompt_external_id = serializers.CharField(source="prompt.external_id", read_only=True)
    prompt_category = serializers.CharField(source="prompt.category", read_only=True)
    first_response = UUIDRelatedField(read_only=True)
    first_system = serializers.SerializerMethodField()
    second_response = UUIDRelatedField(read_only=True)
    second_system = serializers.SerializerMethodField()
    gold_winner = UUIDRelatedField(read_only=True)
    judgments = serializers.IntegerField(
        source="judgment_count", read_only=True, help_text=_("Judgments stored, surplus ones included.")
    )
    counted_judgments = serializers.IntegerField(
        source="counted_judgment_count", read_only=True, help_text=_("Judgments that are not surplus.")
    )

    class Meta:
        model = Item
        fields = [
            "uuid",
            "prompt",
            "prompt_external_id",
            "prompt_category",
            "first_response",
            "first_system",
            "second_response",
            "second_system",
            "is_gold",
            "attention_text",
            "gold_outcome",
            "gold_winner",
            "gold_min_score",
            "gold_max_score",
            "judgments",
            "counted_judgments",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_first_system(self, item):
        return item.first_response.run.system_name if item.first_response else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_second_system(self, item):
        return item.second_response.run.system_name if item.second_response else None


class ItemFilterSerializer(serializers.Serializer):
    gold = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text=_("true: only gold items; false: only regular items.")
    )


class GoldAnswerSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """An item's right answer: `outcome` (and `winner` for a win) in pairwise studies, a score range in rating ones."""

    outcome = serializers.ChoiceField(
        choices=[(outcome.value, outcome.label) for outcome in RIGHT_PAIRWISE_OUTCOMES],
        required=False,
        allow_null=True,
        help_text=_("Pairwise: win, tie or both_bad."),
    )
    winner = UUIDRelatedField(
        queryset=Response.objects.all(),
        required=False,
        allow_null=True,
        help_text=_("Pairwise, for a win: UUID of the better of the item's two responses."),
    )
    min_score = serializers.IntegerField(required=False, allow_null=True, help_text=_("Rating: lowest right score."))
    max_score = serializers.IntegerField(required=False, allow_null=True, help_text=_("Rating: highest right score."))


class AttentionCheckSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    prompt = UUIDRelatedField(
        queryset=Prompt.objects.all(), help_text=_("UUID of a single-turn prompt of the study's prompt set.")
    )
    text = serializers.CharField(help_text=_("The planted answer, an obviously bad one; Markdown."))
    system = UUIDRelatedField(
        queryset=GenerationRun.objects.select_related("model"),
        required=False,
        allow_null=True,
        help_text=_("Pairwise only: UUID of the study system whose response is shown beside the text."),
    )
    min_score = serializers.IntegerField(
        required=False, allow_null=True, help_text=_("Rating only: lowest right score; default the lowest.")
    )
    max_score = serializers.IntegerField(
        required=False, allow_null=True, help_text=_("Rating only: highest right score; default one above the lowest.")
    )


# Request fields that only one study kind reads. The other kind would drop them unnoticed.
_PAIRWISE_ONLY_FIELDS = ("outcome", "winner", "system")
_RATING_ONLY_FIELDS = ("min_score", "max_score")


def _reject_fields_of_other_kind(study, data: dict) -> None:
    """Raise a field error for each value sent that the study's kind does not use, instead of ignoring it."""
    if study.kind == StudyKind.PAIRWISE:
        unused = _RATING_ONLY_FIELDS
        message = gettext("This field applies to rating studies only. Leave it out for a pairwise study.")
    else:
        unused = _PAIRWISE_ONLY_FIELDS
        message = gettext("This field applies to pairwise studies only. Leave it out for a rating study.")
    errors = {field: [message] for field in unused if data.get(field) is not None}
    if errors:
        raise ValidationError(errors)


def _gold_error(error: InvalidGold, fields: set[str]) -> ValidationError:
    """Turn InvalidGold into a field error when it names a request field, else an error on the whole request."""
    field = error.field if error.field in fields else "non_field_errors"
    return ValidationError({field: [str(error)]})


# Views


@extend_schema_view(list=extend_schema(parameters=[ItemFilterSerializer]))
class ItemViewSet(StudyScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The items of one study, unblinded; gold answers and attention checks."""

    serializer_class = ItemSerializer
    permission_classes = [CanManageItems]
    lookup_field = "uuid"
    lookup_value_converter = "uuid"

    def get_queryset(self):
        judgments = Judgment.objects.filter(item=OuterRef("pk")).order_by().values("item")
        return (
            Item.objects.filter(study=self.get_study())
            .select_related(
                "prompt", "first_response__run__model", "second_response__run__model", "gold_winner", "study"
            )
            .annotate(
                judgment_count=_count(judgments),
                counted_judgment_count=_count(judgments.filter(is_surplus=False)),
            )
            .order_by("sort_key", "pk")
        )

    def filter_queryset(self, queryset):
        if self.action != "list":
            return queryset
        filters = ItemFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        if filters.validated_data["gold"] is not None:
            queryset = queryset.filter(is_gold=filters.validated_data["gold"])
        return queryset

    @extend_schema(request=GoldAnswerSerializer, responses={200: ItemSerializer})
    @action(detail=True, methods=["post"], serializer_class=GoldAnswerSerializer)
    def gold(self, request, study_uuid=None, uuid=None):
        """Make the item a gold item with this right answer, or change its right answer; its judgments are rescored."""
        item = self.get_object()
        form = GoldAnswerSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        _reject_fields_of_other_kind(item.study, form.validated_data)
        try:
            mark_gold(item, **form.validated_data)
        except InvalidGold as exc:
            raise _gold_error(exc, set(GoldAnswerSerializer().fields)) from exc
        return ApiResponse(ItemSerializer(self.get_queryset().get(pk=item.pk)).data)

    @extend_schema(request=None, responses={200: ItemSerializer, 409: ErrorSerializer})
    @gold.mapping.delete
    def remove_gold(self, request, study_uuid=None, uuid=None):
        """Make a gold item a regular item again; an attention check cannot become one (409)."""
        item = self.get_object()
        try:
            unmark_gold(item)
        except InvalidGold as exc:
            raise Conflict(str(exc)) from exc
        return ApiResponse(ItemSerializer(self.get_queryset().get(pk=item.pk)).data)

    @extend_schema(request=AttentionCheckSerializer, responses={201: ItemSerializer})
    @action(
        detail=False,
        methods=["post"],
        url_path="attention-checks",
        url_name="attention-checks",
        serializer_class=AttentionCheckSerializer,
    )
    def attention_checks(self, request, study_uuid=None):
        """Create an attention check: a gold item whose answer is text the manager wrote."""
        study = self.get_study()
        form = AttentionCheckSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        _reject_fields_of_other_kind(study, data)
        try:
            item = create_attention_check(
                study,
                data["prompt"],
                data["text"],
                system=data.get("system"),
                min_score=data.get("min_score"),
                max_score=data.get("max_score"),
            )
        except InvalidGold as exc:
            raise _gold_error(exc, set(AttentionCheckSerializer().fields)) from exc
        item = self.get_queryset().get(pk=item.pk)
        return ApiResponse(ItemSerializer(item).data, status=status.HTTP_201_CREATED)


def _count(queryset) -> Coalesce:
    counted = queryset.annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))
