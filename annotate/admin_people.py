"""The admin's user list, with an action that erases annotators' personal data (annotate.erasure).

Only site admins (superusers) see the action. It asks for confirmation on
a page listing the accounts, as Django's own delete action does, and then
erases each account that may be erased, reporting the others by name.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from annotate.erasure import ErasureRefused, erase_annotator
from annotate.pseudonyms import pseudonym

User = get_user_model()


class ErasingUserAdmin(UserAdmin):
    actions = [*UserAdmin.actions, "erase_selected"]

    def has_erase_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    @admin.action(description=gettext_lazy("Erase personal data of selected annotators"), permissions=["erase"])
    def erase_selected(self, request, queryset):
        if request.POST.get("confirmed") != "yes":
            return self._confirmation_page(request, queryset)

        erased = 0
        for account in queryset:
            try:
                result = erase_annotator(account, actor=request.user)
            except ErasureRefused as error:
                self.message_user(request, str(error), messages.ERROR)
                continue
            erased += int(result.changed)
        self.message_user(
            request,
            ngettext(
                "Erased the personal data of %(count)d account; its judgments stay under its pseudonym.",
                "Erased the personal data of %(count)d accounts; their judgments stay under their pseudonyms.",
                erased,
            )
            % {"count": erased},
            messages.SUCCESS,
        )
        return None

    def _confirmation_page(self, request, queryset):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Erase personal data?"),
            "accounts": [(account, pseudonym(account.pk)) for account in queryset],
            "queryset": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/auth/user/erase_confirmation.html", context)


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, ErasingUserAdmin)
