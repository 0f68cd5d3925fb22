"""Build the demo: accounts, real prompts, answers from packaged small models, two open studies.

Every step checks what exists first, so running the demo again resumes an
interrupted generation and changes nothing that is already complete.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from annotate.items import open_study
from annotate.models import Criterion, Study, StudyKind, StudyStatus
from generation import packaged
from generation.models import GenerationRun, LanguageModel, PromptSet
from generation.prompt_import import CORE_PROMPTS, import_prompt_file

logger = logging.getLogger(__name__)

CORE_PROMPT_SET = "humeval-core"
MT_BENCH_PROMPT_SET = "mt-bench"
ANNOTATORS = ["annotator1", "annotator2", "annotator3"]


@dataclass(frozen=True)
class DemoSize:
    prompts: int
    max_new_tokens: int
    batch_size: int


FULL = DemoSize(prompts=24, max_new_tokens=160, batch_size=8)
QUICK = DemoSize(prompts=4, max_new_tokens=12, batch_size=4)


def create_accounts(password: str) -> list:
    """Create `admin` (a site admin) and the annotators with `password`; return the annotators.

    Accounts that exist already are left as they are, so running the demo
    again keeps a password or a role an admin has changed since.
    """
    annotators = []
    for username in ("admin", *ANNOTATORS):
        user = _demo_account(username, password, site_admin=username == "admin")
        if username != "admin":
            annotators.append(user)
    return annotators


def _demo_account(username: str, password: str, *, site_admin: bool):
    users = get_user_model().objects
    user, created = users.get_or_create(
        username=username, defaults={"is_staff": site_admin, "is_superuser": site_admin}
    )
    if created:
        user.set_password(password)
        user.save(update_fields=["password"])
    else:
        logger.info("Kept the existing account %s as it is", username)
    return user


def import_prompt_sets() -> PromptSet:
    """Import the project's prompts, and MT-Bench's first turns where its package is installed."""
    if not PromptSet.objects.filter(name=CORE_PROMPT_SET).exists():
        import_prompt_file(CORE_PROMPTS, CORE_PROMPT_SET, description="Prompts written for humeval.")
    mt_bench = packaged.mt_bench_questions_path()
    if mt_bench and not PromptSet.objects.filter(name=MT_BENCH_PROMPT_SET).exists():
        import_prompt_file(
            mt_bench,
            MT_BENCH_PROMPT_SET,
            default_language="en",
            first_turn_only=True,
            description="MT-Bench's 80 questions, first turns only.",
        )
    return PromptSet.objects.get(name=CORE_PROMPT_SET)


def register_models() -> tuple[LanguageModel, LanguageModel]:
    """Register SmolLM2-135M-Instruct and Gemma 3 270M from their PyPI packages."""
    smollm = packaged.smollm2_gguf_path()
    gemma = packaged.gemma3_gguf_path(settings.DATA_DIR)
    smollm_model, _ = LanguageModel.objects.update_or_create(
        name="SmolLM2-135M-Instruct",
        defaults={"source": str(smollm.parent), "gguf_file": smollm.name, "use_chat_template": True},
    )
    gemma_model, _ = LanguageModel.objects.update_or_create(
        name="Gemma-3-270M",
        defaults={
            "source": str(gemma.parent),
            "gguf_file": gemma.name,
            "use_chat_template": False,
            "prompt_template": packaged.GEMMA3_PROMPT_TEMPLATE,
            "stop_strings": packaged.GEMMA3_STOP_STRINGS,
        },
    )
    return smollm_model, gemma_model


def create_runs(prompt_set, smollm, gemma, size: DemoSize) -> list[GenerationRun]:
    """Create the three demo systems: SmolLM2 greedy, SmolLM2 at t=1.0, Gemma greedy."""
    variants = [(smollm, "greedy", 0.0), (smollm, "t=1.0", 1.0), (gemma, "greedy", 0.0)]
    runs = []
    for model, label, temperature in variants:
        run, _ = GenerationRun.objects.get_or_create(
            model=model,
            prompt_set=prompt_set,
            label=label,
            defaults={
                "temperature": temperature,
                "max_new_tokens": size.max_new_tokens,
                "batch_size": size.batch_size,
                "prompt_limit": size.prompts,
                "seed": 1234,
            },
        )
        runs.append(run)
    return runs


@transaction.atomic
def create_studies(prompt_set, runs, annotators) -> list[Study]:
    """Create and open one pairwise and one rating study over all demo systems."""
    pairwise = _study(
        "Demo: which answer is better?",
        StudyKind.PAIRWISE,
        prompt_set,
        instructions=(
            "Read the prompt, then both answers. Pick the better answer, or *tie* when they are equally good, "
            "or *both bad* when neither is acceptable. Judge content, not length."
        ),
        criteria=[("overall", "Which answer is better overall?", "", "")],
    )
    rating = _study(
        "Demo: rate each answer",
        StudyKind.RATING,
        prompt_set,
        instructions="Read the prompt and the answer, then score the answer on each criterion.",
        criteria=[
            ("helpfulness", "How well does the answer do what the prompt asks?", "not at all", "completely"),
            ("fluency", "How fluent and well-formed is the language?", "broken", "flawless"),
        ],
    )
    for study in (pairwise, rating):
        study.systems.set(runs)
        study.annotators.set(annotators)
        if study.status == StudyStatus.DRAFT:
            open_study(study)
    return [pairwise, rating]


def _study(name, kind, prompt_set, instructions, criteria) -> Study:
    study, created = Study.objects.get_or_create(
        name=name, defaults={"kind": kind, "prompt_set": prompt_set, "instructions": instructions, "overlap": 3}
    )
    if created:
        for position, (criterion_name, question, low, high) in enumerate(criteria):
            Criterion.objects.create(
                study=study, position=position, name=criterion_name, question=question, low_label=low, high_label=high
            )
    return study
