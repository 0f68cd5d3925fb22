"""The study form's design fields in the admin: categories, pairs per prompt, systems, checks and warnings.

StudyAdmin (annotate.admin) inherits StudyDesignAdminMixin. The form picks
categories from the prompt sets' own categories and refuses the changes
that existing items forbid (annotate.study_changes). After a save the admin
warns when the overlap exceeds the study's annotators. It also builds the
items of systems added to a paused or closed study, while StudyAdmin's own
save step builds those of an open study. The change page shows how many
items opening would build now.

The form also rejects a save when the study's annotators changed after the
page was loaded. Otherwise saving the old list would silently remove
everyone who joined through the sign-up link, or whom another admin added,
in the meantime. Managers get the same check whenever the form has that
field.
"""

import hashlib
from collections import defaultdict

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from annotate.errors import StudyNotReady
from annotate.items import build_items, count_new_items, prompt_set_categories
from annotate.models import Study, StudyKind, StudyStatus
from annotate.study_changes import unsafe_changes
from generation.models import Prompt

# Many-to-many fields whose members change while an admin has the form open,
# because annotators join through the sign-up link and other admins add
# people. A field that the form lacks is not checked.
GUARDED_MEMBER_FIELDS = ("annotators", "managers")


def members_fingerprint(study: Study, field_names) -> str:
    """Return a SHA-256 hex digest of the user ids in each named many-to-many field of `study`."""
    parts = []
    for name in field_names:
        ids = sorted(getattr(study, name).order_by().values_list("pk", flat=True))
        parts.append(f"{name}:{','.join(str(pk) for pk in ids)}")
    return hashlib.sha256(";".join(parts).encode()).hexdigest()


def _category_choices(prompt_set) -> list[tuple[str, str]]:
    """Return the categories to offer: those of `prompt_set`, or of every prompt set, labelled with their sets."""
    if prompt_set is not None:
        return [(category, category) for category in prompt_set_categories(prompt_set)]
    sets_of = defaultdict(set)
    rows = Prompt.objects.exclude(category="").values_list("category", "prompt_set__name").distinct()
    for category, set_name in rows:
        sets_of[category].add(set_name)
    return [(category, f"{category} ({', '.join(sorted(sets_of[category]))})") for category in sorted(sets_of)]


class StudyDesignForm(forms.ModelForm):
    categories = forms.MultipleChoiceField(
        label=gettext_lazy("prompt categories"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy(
            "Judge only prompts of the ticked categories; tick none for every prompt of the set. "
            "Each category must occur in the study's prompt set."
        ),
    )
    # The members of GUARDED_MEMBER_FIELDS when the page was loaded, as
    # members_fingerprint returns them.
    members_fingerprint = forms.CharField(
        label=gettext_lazy("members fingerprint"), widget=forms.HiddenInput, required=False
    )

    class Meta:
        model = Study
        # The admin passes its own field list; this one serves the form used alone.
        fields = [
            "name",
            "kind",
            "prompt_set",
            "systems",
            "categories",
            "pairs_per_prompt",
            "instructions",
            "overlap",
            "lease_minutes",
            "gold_rate",
            "qualification_min_accuracy",
            "qualification_min_gold",
            "annotators",
            "status",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Once items exist the prompt set is fixed, so only its categories are offered.
        locked_set = self.instance.prompt_set if self.instance.pk and self.instance.items.exists() else None
        self.fields["categories"].choices = _category_choices(locked_set)
        self.guarded_fields = [name for name in GUARDED_MEMBER_FIELDS if name in self.fields]
        if self.instance.pk is not None and self.guarded_fields and not self.is_bound:
            self.fields["members_fingerprint"].initial = members_fingerprint(self.instance, self.guarded_fields)

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind", self.instance.kind)
        prompt_set = cleaned.get("prompt_set") or (self.instance.prompt_set if self.instance.pk else None)
        categories = cleaned.get("categories") or []

        if prompt_set is not None and categories:
            known = set(prompt_set_categories(prompt_set))
            unknown = [category for category in categories if category not in known]
            if unknown:
                self.add_error(
                    "categories",
                    _("Prompt set “%(set)s” has no prompt of category %(unknown)s. Its categories are: %(known)s.")
                    % {
                        "set": prompt_set.name,
                        "unknown": ", ".join(f"“{category}”" for category in unknown),
                        "known": ", ".join(sorted(known)) or _("none"),
                    },
                )
        if kind == StudyKind.RATING and cleaned.get("pairs_per_prompt") is not None:
            self.add_error(
                "pairs_per_prompt",
                _(
                    "Pairs per prompt apply to pairwise studies only; a rating study judges every response. "
                    "Leave it empty."
                ),
            )

        changes = {"categories": categories}
        for name in ("kind", "prompt_set", "systems", "pairs_per_prompt", "status"):
            if name in cleaned:
                changes[name] = cleaned[name]
        for name, message in unsafe_changes(self.instance, **changes).items():
            self.add_error(name if name in self.fields else None, message)
        self._check_members_unchanged(cleaned)
        return cleaned

    def _check_members_unchanged(self, cleaned):
        """Add a form error when the study's annotators or managers changed since the page was loaded.

        Must run inside the transaction that saves the form, as the admin's
        change view does, because the study's row lock taken here is what
        keeps new members out until the save commits. On PostgreSQL a new
        member row waits for it, since its foreign key takes a KEY SHARE
        lock on the study row. On SQLite the IMMEDIATE transaction already
        holds the database's write lock.
        """
        if self.instance.pk is None or not self.guarded_fields:
            return
        Study.objects.select_for_update().filter(pk=self.instance.pk).values_list("pk").first()
        current = members_fingerprint(self.instance, self.guarded_fields)
        if cleaned.get("members_fingerprint") == current:
            return
        self.add_error(
            None,
            _(
                "The annotators or managers of this study changed after you opened this page: someone joined "
                "through the sign-up link, or another admin saved the study. Nothing was saved. Reload the page "
                "to see the current lists, then make your changes again."
            ),
        )


class StudyDesignAdminMixin:
    """Design form, item preview and post-save warnings for StudyAdmin."""

    form = StudyDesignForm

    @admin.display(description=gettext_lazy("items to build"))
    def items_to_build(self, study):
        if study is None or study.pk is None:
            return _("Save the study to see how many items opening builds.")
        try:
            count = count_new_items(study)
        except StudyNotReady as error:
            return str(error)
        if study.status == StudyStatus.DRAFT:
            return ngettext(
                "Opening the study now builds %(count)d item.",
                "Opening the study now builds %(count)d items.",
                count,
            ) % {"count": count}
        return ngettext(
            "%(count)d item is missing and is built on the next save or reopening.",
            "%(count)d items are missing and are built on the next save or reopening.",
            count,
        ) % {"count": count}

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        study = form.instance
        if "systems" in form.changed_data and study.status in (StudyStatus.PAUSED, StudyStatus.CLOSED):
            self._build_added_items(request, study)
        self._warn_overlap(request, study)

    def _build_added_items(self, request, study):
        try:
            created = build_items(study)
        except StudyNotReady as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        self.message_user(
            request,
            ngettext(
                "Built %(count)d new item for “%(study)s”.",
                "Built %(count)d new items for “%(study)s”.",
                created,
            )
            % {"count": created, "study": study.name},
            messages.SUCCESS,
        )

    def _warn_overlap(self, request, study):
        annotators = study.annotators.count()
        if annotators >= study.overlap:
            return
        self.message_user(
            request,
            ngettext(
                "“%(study)s” asks for %(overlap)d judgments per item but has %(count)d annotator, so no item "
                "can get all its judgments. Add annotators, turn on the sign-up link, or lower the overlap.",
                "“%(study)s” asks for %(overlap)d judgments per item but has %(count)d annotators, so no item "
                "can get all its judgments. Add annotators, turn on the sign-up link, or lower the overlap.",
                annotators,
            )
            % {"study": study.name, "overlap": study.overlap, "count": annotators},
            messages.WARNING,
        )
