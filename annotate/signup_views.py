"""The public sign-up link of a study: `/signup/<token>/`.

A visitor without an account registers there and lands on the study's first
task. A logged-in visitor confirms, and then joins the study with the
account they have. An unknown token, a turned-off link and a closed study
are all 404.

NOTE: nothing limits how often one client may post the sign-up form yet.
"""

from django.contrib import messages
from django.contrib.auth import login
from django.db import IntegrityError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from annotate.access import get_study_for_signup
from annotate.invitation_forms import SignupForm
from annotate.invitations import create_account_and_join, join_study
from annotate.models import StudyStatus


@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def signup(request, token):
    study = get_study_for_signup(token)
    if request.user.is_authenticated:
        if study.annotators.filter(pk=request.user.pk).exists():
            messages.info(request, _("You are already an annotator of “%(study)s”.") % {"study": study.name})
            return _go_to_study(request, study)
        return render(request, "annotate/signup_confirm.html", {"study": study, "token": token})

    form = SignupForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            user = create_account_and_join(study, form)
        except IntegrityError:
            # Someone took the username between validation and saving.
            form.add_error("username", _("That username was taken a moment ago; choose another."))
        else:
            login(request, user)
            messages.success(request, _("Welcome! You have joined “%(study)s”.") % {"study": study.name})
            return _go_to_study(request, study)
    return render(request, "annotate/signup.html", {"study": study, "form": form, "token": token})


@require_POST
def signup_join(request, token):
    """Add the logged-in user to the study; anyone else goes back to the sign-up form."""
    study = get_study_for_signup(token)
    if not request.user.is_authenticated:
        return redirect("annotate:signup", token=token)

    if join_study(study, request.user):
        messages.success(request, _("You have joined “%(study)s”.") % {"study": study.name})
    else:
        messages.info(request, _("You are already an annotator of “%(study)s”.") % {"study": study.name})
    return _go_to_study(request, study)


def _go_to_study(request, study):
    if study.status == StudyStatus.OPEN:
        return redirect("annotate:next_task", study_uuid=study.uuid)
    messages.info(request, _("The study is not open for tasks yet. It appears in your list when it opens."))
    return redirect("annotate:home")
