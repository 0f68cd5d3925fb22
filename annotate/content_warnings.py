"""Content warnings: text a manager attaches to a prompt category of a prompt set.

An annotator reads the warning before the task page renders such an item,
and may skip the item instead of seeing it.
"""

from annotate.models import ContentWarning, Item


def content_warning_for(item: Item) -> ContentWarning | None:
    """Return the warning for the category of `item`'s prompt, or None when it has none.

    Categories match exactly, as stored on the prompt. A prompt without a
    category never has a warning.
    """
    prompt = item.prompt
    if not prompt.category:
        return None
    return ContentWarning.objects.filter(prompt_set_id=prompt.prompt_set_id, category=prompt.category).first()
