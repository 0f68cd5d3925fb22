"""Admin for studies and the records annotation produces.

Items, assignments and judgments are view-only here: editing or deleting
one would change what reports count without leaving a trace.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

# Imported for their admin.register side effect: the audit log and the user list's erase action.
from annotate import admin_audit, admin_people  # noqa: F401
from annotate.admin_gold import GoldItemAdminMixin, GoldStudyAdminMixin
from annotate.admin_study_design import StudyDesignAdminMixin
from annotate.admin_study_tools import StudyToolsAdminMixin
from annotate.audit import record_event
from annotate.errors import StudyNotReady
from annotate.lifecycle import open_draft_study
from annotate.models import (
    Assignment,
    AssignmentStatus,
    AuditAction,
    ContentWarning,
    Criterion,
    CriterionAnswer,
    Item,
    Judgment,
    Study,
    StudyStatus,
)
from generation.admin_deletes import AnnouncedDeleteAdminMixin
from humeval.policy import Action, Kind, allows
from humeval.policy_admin import PolicyAdminMixin, PolicyInlineMixin


class ReadOnlyAdminMixin:
    """View-only admin: no add, change or delete, from the list or a detail page."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _has_items(study) -> bool:
    return study is not None and study.pk is not None and study.items.exists()


class CriterionInline(PolicyInlineMixin, admin.StackedInline):
    model = Criterion
    policy_kind = Kind.STUDY
    extra = 0
    fields = [
        ("position", "name"),
        "question",
        "description",
        ("scale_min", "scale_max"),
        ("low_label", "high_label"),
    ]

    def get_readonly_fields(self, request, obj=None):
        # Stored answers refer to the criterion and its scale; renaming or
        # rescaling it after items exist would change what they mean.
        if _has_items(obj):
            return ["name", "scale_min", "scale_max"]
        return []

    def has_add_permission(self, request, obj=None):
        return not _has_items(obj) and super().has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not _has_items(obj) and super().has_delete_permission(request, obj)


@admin.register(Study)
class StudyAdmin(
    StudyDesignAdminMixin,
    GoldStudyAdminMixin,
    StudyToolsAdminMixin,
    PolicyAdminMixin,
    AnnouncedDeleteAdminMixin,
    admin.ModelAdmin,
):
    """Studies, with the progress page, the add-annotators page and the status actions.

    Status changes, each by an action on the change list:
    - draft -> open ("Open"): builds the items; saving the form with status
      open does the same.
    - open -> paused ("Pause"): no new task is handed out.
    - open or paused -> closed ("Close"): no new task, and the study leaves
      the annotators' lists and takes no sign-ups.
    - paused or closed -> open ("Reopen"): tasks again, plus items for any
      responses the systems gained.
    Pausing and closing leave outstanding leases running: a judgment
    submitted for one, even after it expired, is stored, as surplus when its
    item already has its overlap. Actions refuse any other change and name
    the study's status.

    The sign-up token is set only by the "Turn on/off the sign-up link"
    actions, so it stays out of the form; the change page shows the link.
    """

    list_display = [
        "name",
        "kind",
        "status",
        "prompt_set",
        "overlap",
        "item_count",
        "created_at",
        "progress_link",
        "quality_links",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["name"]
    filter_horizontal = ["systems", "annotators", "managers"]
    policy_kind = Kind.STUDY
    inlines = [CriterionInline]
    exclude = ["signup_token"]
    actions = [
        "open_selected",
        "pause_selected",
        "close_selected",
        "reopen_selected",
        "turn_on_signup_link",
        "turn_off_signup_link",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("prompt_set").annotate(item_total=Count("items"))

    @admin.display(description=_("items"), ordering="item_total")
    def item_count(self, study):
        return study.item_total

    def get_readonly_fields(self, request, obj=None):
        # Items are built from these; changing them afterwards would leave
        # items that no longer match the study. Systems stay editable: the
        # form refuses removals, and added systems get their items on save.
        if _has_items(obj):
            return ["kind", "prompt_set", "items_to_build"]
        return ["items_to_build"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "managers":
            # Only staff users hold the study manager role; listing anyone else would grant nothing.
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True).order_by("username")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        study = form.instance
        if not change:
            # Whoever creates a study manages it, even when they left themselves out of the form's list.
            study.managers.add(request.user)
            record_event(request.user, AuditAction.CREATED, study, {"via": "admin"})
        # Setting the status to open in the form must build the items too,
        # as the "Open selected studies" action does; systems and criteria
        # are saved only now, after the study row.
        if study.status == StudyStatus.OPEN:
            self._open(request, study, revert_status=True)

    def _open(self, request, study, revert_status=False):
        try:
            created = open_draft_study(study, actor=request.user)
        except StudyNotReady as error:
            if revert_status:
                Study.objects.filter(pk=study.pk).update(status=StudyStatus.DRAFT)
                study.status = StudyStatus.DRAFT
            self.message_user(request, str(error), messages.ERROR)
            return
        self.message_user(
            request,
            ngettext(
                "Opened “%(study)s”: %(count)d new item.",
                "Opened “%(study)s”: %(count)d new items.",
                created,
            )
            % {"study": study.name, "count": created},
            messages.SUCCESS,
        )

    @admin.action(description=_("Open selected studies"), permissions=["change"])
    def open_selected(self, request, queryset):
        for study in queryset:
            self._open(request, study)


@admin.register(Item)
class ItemAdmin(GoldItemAdminMixin, ReadOnlyAdminMixin, PolicyAdminMixin, admin.ModelAdmin):
    policy_kind = Kind.ITEM
    list_display = ["uuid", "study", "prompt", "first_response", "second_response", "is_gold", "gold_link"]
    # Only the studies the user may see, not every study's name.
    list_filter = [("study", admin.RelatedOnlyFieldListFilter), "is_gold"]
    list_select_related = [
        "study",
        "prompt",
        "first_response__run__model",
        "first_response__prompt",
        "second_response__run__model",
        "second_response__prompt",
    ]
    search_fields = ["uuid"]


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdminMixin, PolicyAdminMixin, admin.ModelAdmin):
    policy_kind = Kind.ASSIGNMENT
    list_display = [
        "uuid",
        "item",
        "annotator",
        "status",
        "first_on_left",
        "leased_at",
        "expires_at",
    ]
    list_filter = ["status", ("item__study", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["item", "annotator"]
    search_fields = ["uuid", "annotator__username"]
    actions = ["release_leases"]

    def has_release_permission(self, request):
        # The admin is view-only, so the action checks the model permission itself.
        return allows(request.user, Action.CHANGE, Kind.ASSIGNMENT)

    @admin.action(description=_("Release selected leases"), permissions=["release"])
    def release_leases(self, request, queryset):
        # Expiring a lease returns the item to the pool at once. The annotator
        # can still submit; the judgment is then stored, surplus if need be.
        released = queryset.filter(status=AssignmentStatus.LEASED, expires_at__gt=timezone.now()).update(
            expires_at=timezone.now()
        )
        self.message_user(
            request,
            ngettext("Released %(count)d lease.", "Released %(count)d leases.", released) % {"count": released},
            messages.SUCCESS,
        )


class CriterionAnswerInline(PolicyInlineMixin, admin.TabularInline):
    model = CriterionAnswer
    policy_kind = Kind.JUDGMENT
    fields = ["criterion", "outcome", "winner", "score"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Judgment)
class JudgmentAdmin(ReadOnlyAdminMixin, PolicyAdminMixin, admin.ModelAdmin):
    policy_kind = Kind.JUDGMENT
    list_display = ["uuid", "item", "annotator", "is_surplus", "gold_correct", "time_on_task_seconds", "created_at"]
    list_filter = ["is_surplus", "item__is_gold", ("item__study", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["item", "annotator"]
    search_fields = ["uuid", "annotator__username"]
    inlines = [CriterionAnswerInline]


class ContentWarningForm(forms.ModelForm):
    """A content warning whose category must be one that prompts of the chosen set carry."""

    class Meta:
        model = ContentWarning
        fields = ["prompt_set", "category", "text"]

    def clean(self):
        cleaned = super().clean()
        prompt_set, category = cleaned.get("prompt_set"), cleaned.get("category")
        if prompt_set is None or not category:
            return cleaned
        categories = sorted(set(prompt_set.prompts.exclude(category="").values_list("category", flat=True).order_by()))
        if category in categories:
            return cleaned
        if categories:
            message = _(
                "No prompt in “%(prompt_set)s” has the category “%(category)s”; "
                "categories are matched exactly. Its categories are: %(categories)s."
            ) % {"prompt_set": prompt_set.name, "category": category, "categories": ", ".join(categories)}
        else:
            message = _(
                "No prompt in “%(prompt_set)s” has a category, so a warning would never be shown. "
                "Import the prompts with a category column first."
            ) % {"prompt_set": prompt_set.name}
        self.add_error("category", message)
        return cleaned


@admin.register(ContentWarning)
class ContentWarningAdmin(PolicyAdminMixin, admin.ModelAdmin):
    """Warnings that annotators read before an item whose prompt has the category; they may skip it."""

    form = ContentWarningForm
    policy_kind = Kind.GENERATION
    list_display = ["prompt_set", "category", "text"]
    list_filter = ["prompt_set"]
    list_select_related = ["prompt_set"]
    search_fields = ["category", "text"]
