"""REST API for the annotators of one study, under /api/v1/studies/<uuid>/annotators/: the study manager's side.

Each row joins an annotator's progress (annotate.progress) and quality
(annotate.quality). Accounts are added through annotate.invitations, and
exclusions and pauses are set through annotate.gold, as in the admin.
Annotators are named by username.
"""

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response as ApiResponse

from annotate.api_access import CanManageAnnotators, StudyScopedMixin
from annotate.errors import InvalidInvitation
from annotate.gold import set_excluded, set_paused
from annotate.invitations import add_annotators
from annotate.models import AnnotatorStatus, Study
from annotate.progress import annotator_progress_rows
from annotate.quality import annotator_quality
from humeval.api import RejectUnknownFieldsMixin
from humeval.policy import Action, Kind, allows

# Maximum length of the pause reason that annotate.gold.set_paused stores.
PAUSE_REASON_MAX_LENGTH = AnnotatorStatus._meta.get_field("paused_reason").max_length


# Serializers


class AnnotatorProgressSerializer(serializers.Serializer):
    judgments = serializers.IntegerField(help_text=_("Judgments stored, gold and surplus ones included."))
    gold_judgments = serializers.IntegerField()
    surplus_judgments = serializers.IntegerField()
    skips = serializers.IntegerField()
    current_lease_expires_at = serializers.DateTimeField(allow_null=True)
    last_activity = serializers.DateTimeField(allow_null=True, help_text=_("Latest lease, submit or change."))
    median_seconds = serializers.FloatField(allow_null=True, help_text=_("Median time on task in seconds."))


class AnnotatorQualitySerializer(serializers.Serializer):
    judgments = serializers.IntegerField(help_text=_("Judgments on regular items, surplus ones included."))
    gold_judgments = serializers.IntegerField(help_text=_("Scored judgments on gold items."))
    gold_correct = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True, help_text=_("gold_correct / gold_judgments, 0 to 1."))
    is_excluded = serializers.BooleanField(help_text=_("Their judgments are left out of the reports."))
    is_paused = serializers.BooleanField(help_text=_("They get no new task in this study."))
    paused_reason = serializers.CharField()


class StudyAnnotatorSerializer(serializers.Serializer):
    """One annotator of a study, or someone who worked in it and has since been removed."""

    username = serializers.CharField()
    is_member = serializers.BooleanField(help_text=_("False for someone removed from the study after working in it."))
    progress = AnnotatorProgressSerializer(allow_null=True)
    quality = AnnotatorQualitySerializer(allow_null=True)


class AddAnnotatorsSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    usernames = serializers.ListField(
        child=serializers.RegexField(
            r"^[^\s,;]+$",
            max_length=150,
            error_messages={"invalid": _("A username has no spaces, commas or semicolons.")},
        ),
        min_length=1,
        help_text=_(
            "Accounts to add. In the error messages, line N is the Nth username. Missing accounts are "
            "created without a password when you may create accounts."
        ),
    )


class InvitedAnnotatorSerializer(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.CharField()
    is_new_account = serializers.BooleanField()
    was_member = serializers.BooleanField()
    set_password_link = serializers.URLField(
        allow_null=True,
        help_text=_("One-time link for the person to set a password; null when the account already has one."),
    )


class PauseAnnotatorSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    reason = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=PAUSE_REASON_MAX_LENGTH, help_text=_("Why.")
    )


# Views

USERNAME_PARAMETER = OpenApiParameter(
    "username", OpenApiTypes.STR, OpenApiParameter.PATH, description=str(_("The annotator's username."))
)


@extend_schema_view(
    retrieve=extend_schema(parameters=[USERNAME_PARAMETER]),
    destroy=extend_schema(parameters=[USERNAME_PARAMETER]),
)
class StudyAnnotatorViewSet(StudyScopedMixin, viewsets.GenericViewSet):
    """The annotators of one study with their progress and quality; add, remove, exclude, pause."""

    serializer_class = StudyAnnotatorSerializer
    permission_classes = [CanManageAnnotators]
    lookup_field = "username"
    lookup_value_converter = "str"

    def rows(self, study: Study, username: str | None = None) -> list[dict]:
        """Return a row per annotator (or for `username` only) joining progress and quality, by username."""
        progress = {row.username: row for row in annotator_progress_rows(study, timezone.now())}
        quality = {row.username: row for row in annotator_quality(study)}
        names = sorted(set(progress) | set(quality)) if username is None else [username]
        rows = []
        for name in names:
            if name not in progress and name not in quality:
                continue
            rows.append(
                {
                    "username": name,
                    "is_member": progress[name].is_member if name in progress else False,
                    "progress": progress.get(name),
                    "quality": quality.get(name),
                }
            )
        return rows

    def get_queryset(self):
        """Return the members of the URL's study and everyone else who worked in it or has a status there."""
        study = self.get_study()
        worked = Q(annotated_studies=study) | Q(assignments__item__study=study) | Q(study_statuses__study=study)
        return get_user_model().objects.filter(worked).distinct().order_by("pk")

    def get_serializer_class(self):
        if self.action == "create":
            return AddAnnotatorsSerializer
        return super().get_serializer_class()

    def get_annotator(self):
        """Return the user the URL names if they belong to the study (see get_queryset), else raise 404."""
        lookup = {get_user_model().USERNAME_FIELD: self.kwargs["username"]}
        return get_object_or_404(self.get_queryset(), **lookup)

    def _row_response(self, study: Study, user, status_code=status.HTTP_200_OK):
        row = self.rows(study, user.get_username())
        data = (
            row[0] if row else {"username": user.get_username(), "is_member": False, "progress": None, "quality": None}
        )
        return ApiResponse(StudyAnnotatorSerializer(data).data, status=status_code)

    def list(self, request, study_uuid=None):
        """List the study's annotators, and anyone removed after working in it, by username."""
        rows = self.rows(self.get_study())
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(StudyAnnotatorSerializer(page, many=True).data)

    def retrieve(self, request, study_uuid=None, username=None):
        """Read one annotator's progress and quality in the study."""
        study = self.get_study()
        return self._row_response(study, self.get_annotator())

    @extend_schema(request=AddAnnotatorsSerializer, responses={201: InvitedAnnotatorSerializer(many=True)})
    def create(self, request, study_uuid=None):
        """Add accounts to the study by username, all or nothing; missing accounts are created if you may."""
        study = self.get_study()
        form = AddAnnotatorsSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            invited = add_annotators(
                study,
                "\n".join(form.validated_data["usernames"]),
                can_create_accounts=allows(request.user, Action.CREATE, Kind.ANNOTATOR_ACCOUNT),
            )
        except InvalidInvitation as exc:
            raise ValidationError({"usernames": exc.errors}) from exc

        results = [
            {
                "username": person.username,
                "email": person.email,
                "is_new_account": person.is_new_account,
                "was_member": person.was_member,
                "set_password_link": request.build_absolute_uri(person.set_password_path)
                if person.set_password_path
                else None,
            }
            for person in invited
        ]
        return ApiResponse(InvitedAnnotatorSerializer(results, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request, study_uuid=None, username=None):
        """Remove the annotator from the study. Their judgments stay, and count unless you exclude them."""
        study = self.get_study()
        user = self.get_annotator()
        study.annotators.remove(user)
        return ApiResponse(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, parameters=[USERNAME_PARAMETER])
    @action(detail=True, methods=["post"])
    def exclude(self, request, study_uuid=None, username=None):
        """Leave the annotator's judgments out of the reports; nothing is deleted."""
        return self._set(lambda study, user: set_excluded(study, user.pk, True))

    @extend_schema(request=None, parameters=[USERNAME_PARAMETER])
    @action(detail=True, methods=["post"])
    def include(self, request, study_uuid=None, username=None):
        """Count the annotator's judgments in the reports again."""
        return self._set(lambda study, user: set_excluded(study, user.pk, False))

    @extend_schema(request=PauseAnnotatorSerializer, parameters=[USERNAME_PARAMETER])
    @action(detail=True, methods=["post"], serializer_class=PauseAnnotatorSerializer)
    def pause(self, request, study_uuid=None, username=None):
        """Give the annotator no new task in this study, with an optional reason."""
        form = PauseAnnotatorSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        reason = form.validated_data["reason"]
        return self._set(lambda study, user: set_paused(study, user.pk, True, reason))

    @extend_schema(request=None, parameters=[USERNAME_PARAMETER])
    @action(detail=True, methods=["post"])
    def resume(self, request, study_uuid=None, username=None):
        """Let a paused annotator take tasks again; this clears the reason."""
        return self._set(lambda study, user: set_paused(study, user.pk, False))

    def _set(self, change):
        study = self.get_study()
        user = self.get_annotator()
        change(study, user)
        return self._row_response(study, user)
