"""A study judged by annotators with distinctive account names, for the pseudonym and erasure tests."""

from types import SimpleNamespace

from annotate.models import Item, Judgment, Outcome
from tests.factories import make_prompt_set, make_run, make_user
from tests.reports.builders import PAIRWISE, judge, make_item, make_study

# Distinctive account names that never occur in prompts, answers or figures.
NAMES = ("Quillonwarp", "Brevistoke")
EMAILS = ("quillon@example.org", "brevi@example.org")


def build_named_study() -> SimpleNamespace:
    """Build a pairwise study judged by exactly two annotators with distinctive names, plus one gold item.

    Two annotators make the report show Cohen's kappa, which names them.
    """
    prompt_set = make_prompt_set()
    prompts = list(prompt_set.prompts.order_by("position"))
    x = make_run(prompt_set, model_name="Xenoqua")
    y = make_run(prompt_set, model_name="Yarrowin")
    study = make_study(PAIRWISE, [x, y])
    people = []
    for name, email in zip(NAMES, EMAILS, strict=True):
        person = make_user(name)
        person.email = email
        person.first_name = name[:5]
        person.save()
        people.append(person)
    study.annotators.set(people)
    answers = [("first", "first"), ("second", "tie"), ("first", "second")]
    for prompt, (first, second) in zip(prompts, answers, strict=True):
        item = make_item(study, prompt, x, y)
        judge(item, people[0], {"overall": first}, rationale="清楚 and right")
        judge(item, people[1], {"overall": second})
    gold = make_item(study, prompts[0], y, x)
    Item.objects.filter(pk=gold.pk).update(is_gold=True, gold_outcome=Outcome.WIN, gold_winner=gold.first_response)
    judge(gold, people[0], {"overall": "first"})
    judge(gold, people[1], {"overall": "second"})
    # The builders store judgments directly, so score the gold answers here: the first response is right.
    Judgment.objects.filter(item=gold, annotator=people[0]).update(gold_correct=True)
    Judgment.objects.filter(item=gold, annotator=people[1]).update(gold_correct=False)
    return SimpleNamespace(study=study, people=people)
