"""Forms that bring annotators into a study: the admin's pasted list and the public sign-up form."""

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

from annotate.invitations import MAX_INVITATION_LINES


class AddAnnotatorsForm(forms.Form):
    annotators = forms.CharField(
        label=_("Annotators"),
        widget=forms.Textarea(attrs={"rows": 12, "cols": 60, "spellcheck": "false"}),
        # Checked line by line in annotate.invitations, which names the bad lines.
        strip=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Formatted here, per request, so the help text is in the request's language.
        self.fields["annotators"].help_text = _(
            "One annotator per line: a username, optionally followed by an e-mail address "
            "(separated by a space, a tab or a comma). At most %(max)d lines."
        ) % {"max": MAX_INVITATION_LINES}


class SignupForm(UserCreationForm):
    """A new annotator's account: username, optional e-mail address and password twice.

    The password is checked by the AUTH_PASSWORD_VALIDATORS setting, and a
    username that differs from an existing one only in letter case is
    rejected (UserCreationForm does both).
    """

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = False
        self.fields["email"].help_text = _("Optional. Site admins can use it to reach you.")
