"""Small builders for test data: models, runs with responses, studies.

Model names are distinctive strings that never occur in answer text, so
blindness tests can search pages for them.
"""

import itertools

from django.contrib.auth import get_user_model

from annotate.models import Criterion, Study, StudyKind
from generation.models import FinishReason, GenerationRun, LanguageModel, Prompt, PromptSet, Response

_counter = itertools.count(1)


def make_user(username=None, *, staff=False, superuser=False, password="pw-for-tests"):
    """Create a user: an annotator by default, a study manager with staff=True, a site admin with superuser=True."""
    username = username or f"user{next(_counter)}"
    user = get_user_model().objects.create_user(
        username=username, password=password, is_staff=staff or superuser, is_superuser=superuser
    )
    return user


def make_prompt_set(name=None, prompts=("Say hello.", "用一句话解释光合作用。", "What is 2+2?")):
    prompt_set = PromptSet.objects.create(name=name or f"set-{next(_counter)}")
    for position, text in enumerate(prompts):
        Prompt.objects.create(
            prompt_set=prompt_set,
            position=position,
            external_id=f"p{position}",
            category="writing" if position % 2 == 0 else "knowledge",
            language="zh-Hans" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en",
            text=text,
        )
    return prompt_set


def make_run(
    prompt_set,
    model_name=None,
    label="",
    answer="Answer {position} from a model.",
    source="/nonexistent/weights",
    answers=None,
):
    """Create a completed run whose response to every prompt is `answer` formatted per prompt.

    `answers`, when given, maps each prompt's position to its response text
    and must cover every prompt of the set. Those texts are stored verbatim,
    without `str.format`, so braces in code blocks are safe.
    """
    model = LanguageModel.objects.create(name=model_name or f"Zyxqor-{next(_counter)}", source=source)
    run = GenerationRun.objects.create(model=model, prompt_set=prompt_set, label=label, status="completed")
    for prompt in prompt_set.prompts.all():
        if answers is not None:
            text = answers[prompt.position]
        else:
            text = answer.format(position=prompt.position)
        Response.objects.create(
            run=run,
            prompt=prompt,
            text=text,
            token_count=5,
            finish_reason=FinishReason.STOP,
            latency_seconds=0.1,
        )
    return run


def make_study(
    systems,
    *,
    kind=StudyKind.PAIRWISE,
    prompt_set=None,
    criteria=("overall",),
    overlap=3,
    annotators=(),
    lease_minutes=30,
    instructions="Pick the more helpful answer.",
    name=None,
):
    """Create a draft study over `systems` with one criterion per name in `criteria`.

    The prompt set defaults to that of the first system. Rating criteria get
    the default 1 to 5 scale with end labels.
    """
    prompt_set = prompt_set or systems[0].prompt_set
    study = Study.objects.create(
        name=name or f"study-{next(_counter)}",
        kind=kind,
        prompt_set=prompt_set,
        overlap=overlap,
        lease_minutes=lease_minutes,
        instructions=instructions,
    )
    study.systems.set(systems)
    study.annotators.set(annotators)
    for position, name in enumerate(criteria):
        Criterion.objects.create(
            study=study,
            position=position,
            name=name,
            question=f"Which answer is better for {name}?",
            low_label="Poor",
            high_label="Excellent",
        )
    return study
