"""Breakdowns of the report page: read the query options that limit a report to part of a study.

`?category=` and `?language=` limit every figure to the prompts with that
category or language; `?exclude_annotator=<username>` leaves one
annotator's judgments out. reports.answers applies the resulting
`Breakdown` to every counted judgment.
"""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.utils.translation import gettext

from annotate.models import Item, Judgment, Study
from reports.answers import Breakdown

CATEGORY = "category"
LANGUAGE = "language"
EXCLUDE_ANNOTATOR = "exclude_annotator"
OPTIONS = (CATEGORY, LANGUAGE, EXCLUDE_ANNOTATOR)


@dataclass
class BreakdownChoices:
    """The values the study's breakdown links offer: non-empty prompt categories and languages, annotator names."""

    categories: list[str]
    languages: list[str]
    annotators: list[str]


def breakdown_choices(study: Study) -> BreakdownChoices:
    """List the categories and languages of the study's regular items' prompts and the usernames that judged them."""
    items = Item.objects.filter(study=study, is_gold=False)
    categories = items.exclude(prompt__category="").values_list("prompt__category", flat=True).distinct()
    languages = items.exclude(prompt__language="").values_list("prompt__language", flat=True).distinct()
    username_field = get_user_model().USERNAME_FIELD
    annotators = (
        Judgment.objects.filter(item__study=study, item__is_gold=False)
        .values_list(f"annotator__{username_field}", flat=True)
        .distinct()
    )
    return BreakdownChoices(sorted(categories), sorted(languages), sorted(annotators))


def resolve_breakdown(study: Study, query) -> tuple[Breakdown, list[str]]:
    """Read the breakdown options from a query dict: (breakdown, error messages in the active language).

    An unknown value is named in an error and ignored, so the page shows
    the figures without that option instead of empty tables.
    """
    choices = breakdown_choices(study)
    errors = []
    category = query.get(CATEGORY)
    if category is not None and category not in choices.categories:
        errors.append(
            gettext("No prompt of this study has the category “%(value)s”, so the figures cover all categories.")
            % {"value": category}
        )
        category = None
    language = query.get(LANGUAGE)
    if language is not None and language not in choices.languages:
        errors.append(
            gettext("No prompt of this study has the language “%(value)s”, so the figures cover all languages.")
            % {"value": language}
        )
        language = None
    left_out_id = None
    username = query.get(EXCLUDE_ANNOTATOR)
    if username is not None:
        if username in choices.annotators:
            user_model = get_user_model()
            left_out_id = user_model.objects.get(**{user_model.USERNAME_FIELD: username}).pk
        else:
            errors.append(
                gettext("No annotator named “%(value)s” judged this study, so no annotator is left out.")
                % {"value": username}
            )
    return Breakdown(category=category, language=language, left_out_annotator_id=left_out_id), errors


def option_links(query, name: str, values: list[str]) -> list[tuple[str, str, bool]]:
    """Return (value, query string, selected) for each value of option `name`, keeping the page's other options.

    The first entry, with value "", clears the option.
    """
    links = []
    cleared = query.copy()
    cleared.pop(name, None)
    links.append(("", f"?{cleared.urlencode()}", query.get(name) is None))
    for value in values:
        chosen = query.copy()
        chosen[name] = value
        links.append((value, f"?{chosen.urlencode()}", query.get(name) == value))
    return links


def breakdown_description(breakdown: Breakdown) -> dict:
    """Describe a breakdown for a downloaded file's metadata; None in a field means no limit."""
    left_out = None
    if breakdown.left_out_annotator_id is not None:
        user = get_user_model().objects.get(pk=breakdown.left_out_annotator_id)
        left_out = user.get_username()
    return {"category": breakdown.category, "language": breakdown.language, "left_out_annotator": left_out}
