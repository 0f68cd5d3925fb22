"""Content warnings: text a manager attaches to a prompt category of a prompt set.

An annotator reads the warning before the task page renders such an item,
and may skip the item instead of seeing it.
"""

from annotate.models import ContentWarning, Item

_WARNING_FOR_CATEGORY = f"SELECT * FROM {ContentWarning._meta.db_table} WHERE prompt_set_id = %s AND category = %s"


def content_warning_for(item: Item) -> ContentWarning | None:
    """Return the warning for the category of `item`'s prompt, or None when it has none.

    Categories match exactly, as stored on the prompt. A prompt without a
    category never has a warning.
    """
    prompt = item.prompt
    if not prompt.category:
        return None
    # Hand-written, because every task page runs it: the ORM took about 0.35
    # ms of CPU to build it (benchmarks/annotation_cpu.py). At most one
    # warning matches, by a unique constraint.
    parameters = [prompt.prompt_set_id, prompt.category]
    return next(iter(ContentWarning.objects.raw(_WARNING_FOR_CATEGORY, parameters)), None)
