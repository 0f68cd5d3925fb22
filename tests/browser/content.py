"""Stored prompts and answers for the browser tests.

Each system's model name, source and label are distinctive strings that never
occur in a prompt or an answer, so any of them on an annotator page is a
leak. Each answer opens with "Reply <tag> to prompt <n>.", where the tag is a
bird name unrelated to the model, so a test can tell from the page which
stored response is shown as A and which as B.

Every answer also carries Chinese text, a fenced code block and Markdown
that would run script or load a remote resource if the page rendered it as
HTML.
"""

import re
from dataclasses import dataclass

from generation.models import GenerationRun, LanguageModel, Response


@dataclass(frozen=True)
class SystemSpec:
    model_name: str
    source: str
    label: str
    tag: str


SYSTEMS = (
    SystemSpec("Zyxqor-Alpha", "/srv/weights/glimbrosk-7b-q4", "", "kestrel"),
    SystemSpec("Vemtrak-Beta", "fremtaquo/vemtrak-beta-chat", "sampled-t0.7", "heron"),
    SystemSpec("Quorplex-Gamma", "/srv/weights/droxulin-gamma", "", "plover"),
)

PAIRWISE_CRITERIA = ("helpfulness", "accuracy")
RATING_CRITERIA = ("fluency", "correctness")

CJK_SENTENCE = "光合作用是植物利用阳光，把二氧化碳和水变成葡萄糖和氧气的过程。"
CODE_FIRST_LINE = "def add(a, b):"
CODE = CODE_FIRST_LINE + '\n    return {"sum": a + b}'

# 203.0.113.0/24 is TEST-NET-3 (RFC 5737), reserved for documentation; the
# browser fixtures abort any request to it anyway.
OUTSIDE_URL = "http://203.0.113.9/pixel.png"
HOSTILE_MARKDOWN = (
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=1">',
    "[link](javascript:window.__pwned=1)",
    '<a href="javascript:window.__pwned=1">click me</a>',
    '<svg onload="window.__pwned=1"></svg>',
    '<iframe src="http://203.0.113.9/frame"></iframe>',
    f"![pixel]({OUTSIDE_URL})",
)

PROMPTS = (
    "Explain photosynthesis in one sentence.",
    "用一句话解释光合作用。",
    'Write a Python function add(a, b). <script>window.__pwned=2</script> <img src=y onerror="window.__pwned=2">',
)

_MARKER = re.compile(r"Reply (?P<tag>[a-z]+) to prompt (?P<position>\d+)\.")


def answer_text(tag: str, position: int) -> str:
    """Return the stored answer of the system tagged `tag` to prompt `position`."""
    return "\n\n".join(
        [
            f"Reply {tag} to prompt {position}.",
            CJK_SENTENCE,
            "```python\n" + CODE + "\n```",
            *HOSTILE_MARKDOWN,
        ]
    )


def tag_in_text(text: str) -> str:
    """Return the system tag of the answer whose rendered text is `text`."""
    match = _MARKER.search(text)
    assert match, f"no 'Reply <tag> to prompt <n>.' marker in answer text: {text[:200]!r}"
    return match["tag"]


def run_tag(run: GenerationRun) -> str:
    return next(system.tag for system in SYSTEMS if system.model_name == run.model.name)


def forbidden_strings() -> set[str]:
    """Return every string that would tell an annotator which model wrote an answer.

    Model names, sources, variant labels, system names, the first word of
    each model name, and the UUIDs (with and without dashes) of models,
    runs and responses. Callers compare them case-insensitively.
    """
    strings = set()
    for model in LanguageModel.objects.all():
        strings |= {model.name, model.source, model.name.split("-")[0], str(model.uuid), model.uuid.hex}
    for run in GenerationRun.objects.select_related("model"):
        strings |= {run.system_name, str(run.uuid), run.uuid.hex}
        if run.label:
            strings.add(run.label)
    for response in Response.objects.all():
        strings |= {str(response.uuid), response.uuid.hex}
    return {string.lower() for string in strings}


def leaks_in(text: str, forbidden: set[str]) -> list[str]:
    """Return the forbidden strings found in `text`, ignoring case."""
    lowered = text.lower()
    return sorted(string for string in forbidden if string in lowered)
