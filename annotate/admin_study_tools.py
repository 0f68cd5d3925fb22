"""The admin's tools for running a study: progress page, adding annotators, status and sign-up actions.

StudyAdmin (annotate.admin) inherits these from StudyToolsAdminMixin. The
logic lives in annotate.progress, annotate.lifecycle and
annotate.invitations; the methods here check permissions, call them and
report the outcome to the admin.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods

from annotate.errors import InvalidInvitation, InvalidStatusChange, StudyNotReady
from annotate.invitation_forms import AddAnnotatorsForm
from annotate.invitations import add_annotators, signup_path, turn_off_signup, turn_on_signup
from annotate.lifecycle import close_study, outstanding_leases, pause_study, reopen_study
from annotate.progress import study_progress
from annotate.pseudonyms import with_annotator_naming
from humeval.policy import Action, Kind, allows


class StudyToolsAdminMixin:
    """Extra pages and actions of StudyAdmin; see annotate.lifecycle for the status rules."""

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        tools = [
            path(
                "<path:object_id>/progress/",
                self.admin_site.admin_view(require_GET(with_annotator_naming(self.progress_view))),
                name=f"{prefix}_progress",
            ),
            path(
                "<path:object_id>/add-annotators/",
                self.admin_site.admin_view(require_http_methods(["GET", "POST"])(self.add_annotators_view)),
                name=f"{prefix}_add_annotators",
            ),
        ]
        # Before the defaults, whose "<path:object_id>/" would swallow these.
        return tools + super().get_urls()

    @admin.display(description=gettext_lazy("progress"))
    def progress_link(self, study):
        url = reverse("admin:annotate_study_progress", args=[study.pk])
        return format_html('<a href="{}">{}</a>', url, _("Progress"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        study = self.get_object(request, unquote(object_id))
        if study is not None:
            path_of_link = signup_path(study)
            extra_context = {
                **(extra_context or {}),
                "signup_link": request.build_absolute_uri(path_of_link) if path_of_link else "",
            }
        return super().change_view(request, object_id, form_url, extra_context)

    # Pages

    def progress_view(self, request, object_id):
        study = self._study_or_denied(request, object_id, self.has_view_permission)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "study": study,
            "title": _("Progress of “%(study)s”") % {"study": study.name},
            "progress": study_progress(study),
            "can_change": self.has_change_permission(request, study),
        }
        return TemplateResponse(request, "admin/annotate/study/progress.html", context)

    def add_annotators_view(self, request, object_id):
        """Show the paste form; on a valid paste, show each line's outcome and the set-password links once."""
        study = self._study_or_denied(request, object_id, self.has_change_permission)
        can_create_accounts = allows(request.user, Action.CREATE, Kind.ANNOTATOR_ACCOUNT)
        form = AddAnnotatorsForm(request.POST if request.method == "POST" else None)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "study": study,
            "title": _("Add annotators to “%(study)s”") % {"study": study.name},
            "form": form,
            "can_create_accounts": can_create_accounts,
        }
        if form.is_valid():
            try:
                invited = add_annotators(
                    study, form.cleaned_data["annotators"], can_create_accounts=can_create_accounts
                )
            except InvalidInvitation as error:
                for message in error.errors:
                    form.add_error("annotators", message)
            else:
                # The links are in this response only; nothing stores them.
                rows = [
                    (person, request.build_absolute_uri(person.set_password_path) if person.set_password_path else "")
                    for person in invited
                ]
                context["rows"] = rows
                context["link_days"] = max(1, settings.PASSWORD_RESET_TIMEOUT // (24 * 60 * 60))
                return TemplateResponse(request, "admin/annotate/study/add_annotators_done.html", context)
        return TemplateResponse(request, "admin/annotate/study/add_annotators.html", context)

    def _study_or_denied(self, request, object_id, permission_check):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        study = self.get_object(request, unquote(object_id))
        if study is None:
            raise Http404(_("No study has the id “%(id)s”.") % {"id": object_id})
        if not permission_check(request, study):
            raise PermissionDenied
        return study

    # Actions

    @admin.action(description=gettext_lazy("Pause selected studies"), permissions=["change"])
    def pause_selected(self, request, queryset):
        for study in queryset:
            try:
                pause_study(study, actor=request.user)
            except InvalidStatusChange as error:
                self.message_user(request, str(error), messages.ERROR)
                continue
            leases = outstanding_leases(study)
            self.message_user(
                request,
                ngettext(
                    "Paused “%(study)s”: annotators get no new task. %(count)d task is still reserved; "
                    "a judgment submitted for it is stored.",
                    "Paused “%(study)s”: annotators get no new task. %(count)d tasks are still reserved; "
                    "judgments submitted for them are stored.",
                    leases,
                )
                % {"study": study.name, "count": leases},
                messages.SUCCESS,
            )

    @admin.action(description=gettext_lazy("Close selected studies"), permissions=["change"])
    def close_selected(self, request, queryset):
        for study in queryset:
            try:
                close_study(study, actor=request.user)
            except InvalidStatusChange as error:
                self.message_user(request, str(error), messages.ERROR)
                continue
            leases = outstanding_leases(study)
            self.message_user(
                request,
                ngettext(
                    "Closed “%(study)s”: annotators get no new task and the study leaves their list. "
                    "%(count)d task is still reserved; a judgment submitted for it, even after its lease "
                    "expires, is stored (as surplus if its item already has enough judgments).",
                    "Closed “%(study)s”: annotators get no new task and the study leaves their list. "
                    "%(count)d tasks are still reserved; judgments submitted for them, even after their "
                    "leases expire, are stored (as surplus if their item already has enough judgments).",
                    leases,
                )
                % {"study": study.name, "count": leases},
                messages.SUCCESS,
            )

    @admin.action(description=gettext_lazy("Reopen selected studies"), permissions=["change"])
    def reopen_selected(self, request, queryset):
        for study in queryset:
            try:
                created = reopen_study(study, actor=request.user)
            except (InvalidStatusChange, StudyNotReady) as error:
                self.message_user(request, str(error), messages.ERROR)
                continue
            self.message_user(
                request,
                ngettext(
                    "Reopened “%(study)s”: annotators get tasks again (%(count)d new item).",
                    "Reopened “%(study)s”: annotators get tasks again (%(count)d new items).",
                    created,
                )
                % {"study": study.name, "count": created},
                messages.SUCCESS,
            )

    @admin.action(description=gettext_lazy("Turn on the sign-up link"), permissions=["change"])
    def turn_on_signup_link(self, request, queryset):
        for study in queryset:
            is_new = turn_on_signup(study)
            link = request.build_absolute_uri(signup_path(study))
            if is_new:
                message = _("The sign-up link of “%(study)s” is on: %(link)s")
            else:
                message = _("The sign-up link of “%(study)s” was already on; it is unchanged: %(link)s")
            self.message_user(request, message % {"study": study.name, "link": link}, messages.SUCCESS)

    @admin.action(description=gettext_lazy("Turn off the sign-up link"), permissions=["change"])
    def turn_off_signup_link(self, request, queryset):
        for study in queryset:
            if turn_off_signup(study):
                message = _(
                    "The sign-up link of “%(study)s” is off; it now shows “not found”. "
                    "Turning it on again makes a new link."
                )
            else:
                message = _("The sign-up link of “%(study)s” was already off.")
            self.message_user(request, message % {"study": study.name}, messages.SUCCESS)
