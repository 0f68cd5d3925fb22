"""The Simplified Chinese catalogue covers every translatable string."""

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from tests.services import missing_service

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
SOURCE_FOLDERS = ["humeval", "generation", "annotate", "reports", "templates", "locale"]


def untranslated_entries(po_text: str) -> list[str]:
    """Return the msgids of a .po file whose msgstr is empty or that are marked fuzzy."""
    missing = []
    for block in po_text.split("\n\n"):
        lines = [line for line in block.splitlines() if line.strip()]
        msgid = "".join(_quoted(line) for line in _section(lines, "msgid"))
        msgstr = "".join(_quoted(line) for line in _section(lines, "msgstr"))
        fuzzy = any(line.startswith("#,") and "fuzzy" in line for line in lines)
        if msgid and (not msgstr or fuzzy):
            missing.append(msgid)
    return missing


def _section(lines, keyword):
    collected, inside = [], False
    for line in lines:
        if line.startswith(keyword + " ") or line.startswith(keyword + "["):
            inside = True
            collected.append(line.split(" ", 1)[1])
        elif inside and line.startswith('"'):
            collected.append(line)
        else:
            inside = False
    return collected


def _quoted(fragment: str) -> str:
    return fragment.strip()[1:-1]


def test_catalogue_has_no_untranslated_entry():
    assert untranslated_entries(CATALOGUE.read_text(encoding="utf-8")) == []


def test_catalogue_is_up_to_date(tmp_path, settings, monkeypatch):
    """Extracting strings afresh, in a copy of the source tree, adds nothing untranslated."""
    if shutil.which("xgettext") is None:
        missing_service("GNU gettext is not installed: run 'apt-get install gettext'")
    root = Path(settings.BASE_DIR)
    for folder in SOURCE_FOLDERS:
        shutil.copytree(root / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    # makemessages writes into the locale folder nearest each source file, so
    # it runs in the copy to leave the real catalogue untouched.
    monkeypatch.chdir(tmp_path)
    settings.LOCALE_PATHS = [tmp_path / "locale"]

    call_command("makemessages", locale=["zh_Hans"], verbosity=0)

    copy = tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
    assert untranslated_entries(copy.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("entry", ['msgid "Save"\nmsgstr ""', '#, fuzzy\nmsgid "Save"\nmsgstr "保存"'])
def test_untranslated_entries_are_found(entry):
    assert untranslated_entries(entry) == ["Save"]
