"""The admin's tools for gold items and annotator quality.

- ItemAdmin (annotate.admin) inherits GoldItemAdminMixin: a page per item
  to mark it gold with its right answer, change that answer, or make it a
  regular item again.
- StudyAdmin inherits GoldStudyAdminMixin: the "Add attention check" page
  and the annotator quality page (gold accuracy, exclude, pause, resume).
- AnnotatorStatusAdmin lists every exclusion and pause, with actions.

The logic lives in annotate.gold; the views here check permissions, call
it and report the outcome.
"""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotate.access import studies_for
from annotate.errors import InvalidGold
from annotate.gold import create_attention_check, mark_gold, set_excluded, set_paused, unmark_gold
from annotate.gold_forms import AttentionCheckForm, GoldAnswerForm, add_gold_error
from annotate.models import AnnotatorStatus, Judgment, Study, StudyKind
from annotate.pseudonyms import annotator_label, with_annotator_naming
from annotate.quality import annotator_quality
from humeval.policy import Action, Kind, allows
from humeval.policy_admin import PolicyAdminMixin


def _object_or_404(model_admin, request, object_id):
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        raise Http404(_("No %(name)s has the id “%(id)s”.") % {"name": model_admin.opts.verbose_name, "id": object_id})
    return obj


class GoldItemAdminMixin:
    """The gold answer page of ItemAdmin, which is otherwise view-only."""

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        tools = [
            path(
                "<path:object_id>/gold/",
                self.admin_site.admin_view(require_http_methods(["GET", "POST"])(self.gold_view)),
                name=f"{prefix}_gold",
            ),
            path(
                "<path:object_id>/gold/remove/",
                self.admin_site.admin_view(require_POST(self.remove_gold_view)),
                name=f"{prefix}_remove_gold",
            ),
        ]
        # Before the defaults, whose "<path:object_id>/" would swallow these.
        return tools + super().get_urls()

    def has_gold_permission(self, request) -> bool:
        # The item admin is view-only, so the gold pages check the model permission themselves.
        return allows(request.user, Action.CHANGE, Kind.ITEM)

    @admin.display(description=gettext_lazy("gold answer"))
    def gold_link(self, item):
        url = reverse("admin:annotate_item_gold", args=[item.pk])
        label = _("Change right answer") if item.is_gold else _("Mark as gold")
        return format_html('<a href="{}">{}</a>', url, label)

    def gold_view(self, request, object_id):
        if not self.has_gold_permission(request):
            raise PermissionDenied
        item = _object_or_404(self, request, object_id)
        form = GoldAnswerForm(item, request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                mark_gold(item, **form.gold_answer())
            except InvalidGold as error:
                add_gold_error(form, error)
            else:
                self.message_user(request, _("Item %(item)s is a gold item with this right answer.") % {"item": item})
                return HttpResponseRedirect(reverse("admin:annotate_item_gold", args=[item.pk]))

        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "item": item,
            "form": form,
            "is_pairwise": item.study.kind == StudyKind.PAIRWISE,
            "title": _("Gold answer of item %(item)s") % {"item": item},
        }
        return TemplateResponse(request, "admin/annotate/item/gold.html", context)

    def remove_gold_view(self, request, object_id):
        if not self.has_gold_permission(request):
            raise PermissionDenied
        item = _object_or_404(self, request, object_id)
        try:
            unmark_gold(item)
        except InvalidGold as error:
            self.message_user(request, str(error), messages.ERROR)
        else:
            self.message_user(request, _("Item %(item)s is a regular item again.") % {"item": item})
        return HttpResponseRedirect(reverse("admin:annotate_item_gold", args=[item.pk]))


class GoldStudyAdminMixin:
    """The attention-check and annotator quality pages of StudyAdmin."""

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        tools = [
            path(
                "<path:object_id>/attention-check/",
                self.admin_site.admin_view(require_http_methods(["GET", "POST"])(self.attention_check_view)),
                name=f"{prefix}_attention_check",
            ),
            path(
                "<path:object_id>/quality/",
                self.admin_site.admin_view(require_GET(with_annotator_naming(self.quality_view))),
                name=f"{prefix}_quality",
            ),
        ]
        for change in ("exclude", "include", "pause", "resume"):
            view = require_POST(getattr(self, f"{change}_annotator_view"))
            tools.append(
                path(
                    f"<path:object_id>/quality/<int:user_id>/{change}/",
                    self.admin_site.admin_view(view),
                    name=f"{prefix}_{change}_annotator",
                )
            )
        return tools + super().get_urls()

    @admin.display(description=gettext_lazy("quality"))
    def quality_links(self, study):
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a>',
            reverse("admin:annotate_study_quality", args=[study.pk]),
            _("Annotators"),
            reverse("admin:annotate_study_attention_check", args=[study.pk]),
            _("Add attention check"),
        )

    def _study_for(self, request, object_id, change: bool) -> Study:
        study = _object_or_404(self, request, object_id)
        allowed = self.has_change_permission(request, study) if change else self.has_view_permission(request, study)
        if not allowed:
            raise PermissionDenied
        return study

    def attention_check_view(self, request, object_id):
        study = self._study_for(request, object_id, change=True)
        form = AttentionCheckForm(study, request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                item = create_attention_check(**form.attention_check())
            except InvalidGold as error:
                add_gold_error(form, error)
            else:
                self.message_user(
                    request,
                    _("Added attention check %(item)s to “%(study)s”. You can add another below.")
                    % {"item": item, "study": study.name},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:annotate_study_attention_check", args=[study.pk]))

        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "study": study,
            "form": form,
            "gold_items": study.items.filter(is_gold=True).count(),
            "title": _("Add an attention check to “%(study)s”") % {"study": study.name},
        }
        return TemplateResponse(request, "admin/annotate/study/attention_check.html", context)

    def quality_view(self, request, object_id):
        study = self._study_for(request, object_id, change=False)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "study": study,
            "rows": annotator_quality(study),
            "can_change": self.has_change_permission(request, study),
            "title": _("Annotators of “%(study)s”") % {"study": study.name},
        }
        return TemplateResponse(request, "admin/annotate/study/quality.html", context)

    def exclude_annotator_view(self, request, object_id, user_id):
        study, user = self._study_and_annotator(request, object_id, user_id)
        return self._changed(request, study, user, set_excluded(study, user.pk, True))

    def include_annotator_view(self, request, object_id, user_id):
        study, user = self._study_and_annotator(request, object_id, user_id)
        return self._changed(request, study, user, set_excluded(study, user.pk, False))

    def pause_annotator_view(self, request, object_id, user_id):
        study, user = self._study_and_annotator(request, object_id, user_id)
        reason = _("Paused by %(manager)s.") % {"manager": request.user.get_username()}
        return self._changed(request, study, user, set_paused(study, user.pk, True, reason))

    def resume_annotator_view(self, request, object_id, user_id):
        study, user = self._study_and_annotator(request, object_id, user_id)
        return self._changed(request, study, user, set_paused(study, user.pk, False))

    def _study_and_annotator(self, request, object_id, user_id):
        study = self._study_for(request, object_id, change=True)
        return study, get_object_or_404(get_user_model(), pk=user_id)

    def _changed(self, request, study, user, status):
        name = annotator_label(user.pk, user.get_username())
        self.message_user(request, _describe_status(name, status), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:annotate_study_quality", args=[study.pk]))


def _describe_status(username: str, status: AnnotatorStatus) -> str:
    if status.is_excluded:
        included = _("%(user)s is excluded from the reports") % {"user": username}
    else:
        included = _("%(user)s counts in the reports") % {"user": username}
    if status.is_paused:
        return _("%(included)s and gets no new task.") % {"included": included}
    return _("%(included)s and may take tasks.") % {"included": included}


def _gold_count(correct_only: bool) -> Coalesce:
    judgments = Judgment.objects.filter(
        item__study=OuterRef("study"),
        annotator=OuterRef("annotator"),
        item__is_gold=True,
        gold_correct__isnull=False,
    )
    if correct_only:
        judgments = judgments.filter(gold_correct=True)
    counts = judgments.order_by().values("annotator").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


@admin.register(AnnotatorStatus)
class AnnotatorStatusAdmin(PolicyAdminMixin, admin.ModelAdmin):
    """Exclusions and pauses per study and annotator, with each annotator's gold accuracy."""

    policy_kind = Kind.ANNOTATOR

    list_display = ["annotator", "study", "is_excluded", "is_paused", "paused_reason", "gold_accuracy", "updated_at"]
    list_filter = ["is_excluded", "is_paused", ("study", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["study", "annotator"]
    search_fields = ["annotator__username", "study__name"]
    fields = ["study", "annotator", "is_excluded", "is_paused", "paused_reason"]
    raw_id_fields = ["annotator"]
    actions = ["exclude_selected", "include_selected", "pause_selected", "resume_selected"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(gold_total=_gold_count(correct_only=False), gold_correct=_gold_count(correct_only=True))
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "study":
            kwargs["queryset"] = studies_for(request.user, Action.CREATE, Kind.ANNOTATOR)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        # A status belongs to one study and annotator; make a new one for another pair.
        return ["study", "annotator"] if obj is not None else []

    @admin.display(description=gettext_lazy("gold accuracy"))
    def gold_accuracy(self, status):
        if not status.gold_total:
            return "—"
        return f"{100 * status.gold_correct / status.gold_total:.1f}% ({status.gold_correct}/{status.gold_total})"

    def _report(self, request, message: str, count: int):
        self.message_user(request, message % {"count": count}, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Exclude from the reports"), permissions=["change"])
    def exclude_selected(self, request, queryset):
        count = queryset.update(is_excluded=True)
        self._report(request, ngettext("Excluded %(count)d annotator.", "Excluded %(count)d annotators.", count), count)

    @admin.action(description=gettext_lazy("Include in the reports again"), permissions=["change"])
    def include_selected(self, request, queryset):
        count = queryset.update(is_excluded=False)
        message = ngettext("Included %(count)d annotator again.", "Included %(count)d annotators again.", count)
        self._report(request, message, count)

    @admin.action(description=gettext_lazy("Pause: no new tasks"), permissions=["change"])
    def pause_selected(self, request, queryset):
        reason = _("Paused by %(manager)s.") % {"manager": request.user.get_username()}
        count = queryset.filter(is_paused=False).update(is_paused=True, paused_reason=reason)
        self._report(request, ngettext("Paused %(count)d annotator.", "Paused %(count)d annotators.", count), count)

    @admin.action(description=gettext_lazy("Resume: tasks again"), permissions=["change"])
    def resume_selected(self, request, queryset):
        count = queryset.filter(is_paused=True).update(is_paused=False, paused_reason="")
        self._report(request, ngettext("Resumed %(count)d annotator.", "Resumed %(count)d annotators.", count), count)
