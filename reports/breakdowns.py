"""Breakdowns of the report page: read the query options that limit a report to part of a study.

`?category=` and `?language=` limit every figure to the prompts with that
category or language; `?exclude_annotator=<annotator>` leaves one
annotator's judgments out, named as the report names them: by pseudonym,
or by username when a site admin asked for names. reports.answers applies the resulting
`Breakdown` to every counted judgment.
"""

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.utils.translation import gettext

from annotate.models import Item, Judgment, Study
from annotate.pseudonyms import annotator_label
from reports.answer_table import StudyAnswers
from reports.answers import Breakdown
from reports.report_cache import cached_figures

CATEGORY = "category"
LANGUAGE = "language"
EXCLUDE_ANNOTATOR = "exclude_annotator"
OPTIONS = (CATEGORY, LANGUAGE, EXCLUDE_ANNOTATOR)


@dataclass
class BreakdownChoices:
    """The values the study's breakdown links offer: non-empty prompt categories and languages, annotator names.

    `annotators` lists the names the report shows (annotate.pseudonyms),
    and `annotator_ids` maps each of them to its user id.
    """

    categories: list[str]
    languages: list[str]
    annotators: list[str]
    annotator_ids: dict[str, int] = field(default_factory=dict)


def breakdown_choices(study: Study, table: StudyAnswers | None = None) -> BreakdownChoices:
    """List the categories and languages of the study's regular items' prompts and the annotators who judged them.

    With `table`, the study's answers as `load_study_answers` read them,
    the annotators come from its arrays instead of a query over every
    judgment.
    """
    # order_by() drops Item's default ordering on sort_key, which DISTINCT
    # would otherwise include, giving one value per item.
    items = Item.objects.filter(study=study, is_gold=False).order_by()
    categories = items.exclude(prompt__category="").values_list("prompt__category", flat=True).distinct()
    languages = items.exclude(prompt__language="").values_list("prompt__language", flat=True).distinct()
    username_field = get_user_model().USERNAME_FIELD

    def judged_annotators() -> list[tuple[int, str]]:
        # A subquery of annotator ids, not DISTINCT over a join with the user
        # table: on a million judgments in SQLite that took 35 s, this about 8 s.
        if table is None:
            judged = Judgment.objects.filter(item__study=study, item__is_gold=False).values("annotator")
        else:
            judged = list(table.regular_judgments_per_annotator())
        return list(get_user_model().objects.filter(pk__in=judged).values_list("pk", username_field))

    # Each report view needs the list twice, so it is cached like the report.
    annotators = cached_figures("judged annotators", study, {}, judged_annotators)
    annotator_ids = {annotator_label(user_id, username): user_id for user_id, username in annotators}
    return BreakdownChoices(sorted(categories), sorted(languages), sorted(annotator_ids), annotator_ids)


def resolve_breakdown(study: Study, query, table: StudyAnswers | None = None) -> tuple[Breakdown, list[str]]:
    """Read the breakdown options from a query dict: (breakdown, error messages in the active language).

    An unknown value is named in an error and ignored, so the page shows
    the figures without that option instead of empty tables.
    """
    choices = breakdown_choices(study, table)
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
    annotator = query.get(EXCLUDE_ANNOTATOR)
    if annotator is not None:
        if annotator in choices.annotator_ids:
            left_out_id = choices.annotator_ids[annotator]
        else:
            errors.append(
                gettext("No annotator named “%(value)s” judged this study, so no annotator is left out.")
                % {"value": annotator}
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
        left_out = annotator_label(user.pk, user.get_username())
    return {"category": breakdown.category, "language": breakdown.language, "left_out_annotator": left_out}
