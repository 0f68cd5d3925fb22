"""Template tags for the report page's list of table downloads."""

from django import template
from django.utils.translation import gettext_lazy as _

from annotate.models import StudyKind

register = template.Library()

# Table exports the report page offers, with their labels; the judgment and gold files have their own links.
_LABELS = (
    ("models", _("Systems: ratings, win rates and scores with intervals")),
    ("pairs", _("Pairs of systems: wins, ties, losses, both bad")),
    ("agreement", _("Agreement: study and per criterion")),
    ("annotators", _("Annotators")),
    ("judgments", _("Judgments")),
    ("gold", _("Gold item judgments")),
)


@register.simple_tag
def table_exports(study) -> list[tuple[str, str]]:
    """Return (kind, label) of the table exports `study` has; pair counts only for pairwise studies."""
    return [(what, label) for what, label in _LABELS if what != "pairs" or study.kind == StudyKind.PAIRWISE]
