"""Import prompt and response files uploaded through a web form.

The import functions read a path and pick the format by the file's suffix,
so an upload is first written to a temporary folder under a name with the
uploaded suffix. Errors then name the uploaded file, not the temporary copy.
Validation and the all-or-nothing write stay in `prompt_import` and
`response_import`.
"""

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath

from django.db import transaction

from generation.models import LanguageModel, PromptSet
from generation.prompt_import import PromptImportError, import_prompt_file
from generation.response_import import ImportResult, ResponseImportError, import_response_file

_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}")


def upload_name(uploaded) -> str:
    """Return the uploaded file's base name, as the browser sent it."""
    return PurePath(uploaded.name or "").name or "upload"


@contextmanager
def saved_upload(uploaded) -> Iterator[Path]:
    """Write `uploaded` to a temporary file that keeps its suffix, yield the path, and delete the file afterwards.

    Only a plain suffix such as `.csv` is kept. Any other name becomes a file
    without a suffix, which the import functions reject as an unknown type.
    """
    suffix = PurePath(upload_name(uploaded)).suffix
    if not _SUFFIX.fullmatch(suffix):
        suffix = ""
    with tempfile.TemporaryDirectory(prefix="humeval-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        with path.open("wb") as copy:
            for chunk in uploaded.chunks():
                copy.write(chunk)
        yield path


def import_uploaded_prompts(
    uploaded, prompt_set_name: str, *, description: str = "", default_language: str = "", first_turn_only=False
) -> PromptSet:
    """Create prompt set `prompt_set_name` from an uploaded file; raise PromptImportError naming the upload."""
    name = upload_name(uploaded)
    with saved_upload(uploaded) as path:
        try:
            # One transaction, so the prompt set never shows the temporary path as its source.
            with transaction.atomic():
                prompt_set = import_prompt_file(
                    path,
                    prompt_set_name,
                    default_language=default_language,
                    first_turn_only=first_turn_only,
                    description=description,
                )
                prompt_set.source = name
                prompt_set.save(update_fields=["source"])
        except PromptImportError as exc:
            raise PromptImportError(name, exc.errors) from None
    return prompt_set


def import_uploaded_responses(uploaded, model: LanguageModel, prompt_set: PromptSet, *, label: str) -> ImportResult:
    """Store an uploaded file's answers as a completed run; raise ResponseImportError naming the upload."""
    name = upload_name(uploaded)
    with saved_upload(uploaded) as path:
        try:
            return import_response_file(path, str(model.uuid), str(prompt_set.uuid), label=label)
        except ResponseImportError as exc:
            raise ResponseImportError(name, exc.errors) from None
