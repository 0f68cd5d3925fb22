"""Who may read reports, as the table in humeval.policy grants: site admins every study's, managers their studies'.

The report pages and downloads use `report_reader_required` and fetch their
study with `get_report_study`, so a study the user may not read is a 404,
the same response as for a study that does not exist.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from annotate.access import studies_for
from annotate.models import Study
from humeval.policy import Action, Kind, allows


def readable_studies(user):
    """Return the studies whose reports `user` may read."""
    return studies_for(user, Action.VIEW, Kind.REPORT)


def get_report_study(user, study_uuid, **filters) -> Study:
    """Return the study with `study_uuid` whose report `user` may read, else raise Http404."""
    return get_object_or_404(readable_studies(user).filter(**filters), uuid=study_uuid)


def report_reader_required(view):
    """Send anonymous users to the sign-in page and reject (403) a user who may read no report at all.

    Views that name a study must still fetch it with `get_report_study`.
    """

    @wraps(view)
    def checked(request, *args, **kwargs):
        if "study_uuid" not in kwargs and not allows(request.user, Action.VIEW, Kind.REPORT):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return login_required(checked)
