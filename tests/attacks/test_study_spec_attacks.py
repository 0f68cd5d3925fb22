"""`manage.py create_study` given hostile or broken YAML: each must end in a CommandError that writes nothing."""

import contextlib
import io
import resource

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from annotate.assignment import next_assignment, submit_judgment
from annotate.invitations import join_study
from annotate.models import Judgment, Study
from tests.annotate.test_create_study import VALID, _snapshot, demo_like  # noqa: F401

pytestmark = pytest.mark.django_db


def _write(tmp_path, content, name="study.yaml"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _reject(path):
    """Run the command on `path`, which must fail with a CommandError; return its message."""
    with pytest.raises(CommandError) as error:
        call_command("create_study", str(path), "--open", stdout=io.StringIO(), stderr=io.StringIO())
    return str(error.value)


def _laughs(levels, width=10):
    """Return a "billion laughs" spec: each level is a list of `width` aliases of the level before."""
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _memory_cap(extra_bytes=512 * 1024 * 1024):
    """Cap this process's address space at its current size plus `extra_bytes`, so a bomb raises MemoryError."""
    with open("/proc/self/status") as status:
        kilobytes = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (kilobytes * 1024 + extra_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def test_alias_bomb_not_expanded(tmp_path):
    # Nine levels of ten aliases stand for 10**9 strings; expanding them would exhaust memory.
    path = _write(tmp_path, _laughs(9))
    with _memory_cap():
        message = _reject(path)

    assert "unknown key" in message
    assert "l9" in message


def test_alias_bomb_in_known_key(demo_like, tmp_path):  # noqa: F811
    text = _laughs(9) + VALID.replace("annotators: [annotator1, annotator2, annotator3]", "annotators: *l9")
    text = text.replace("l0: &l0", "instructions: &l0", 1)
    path = _write(tmp_path, text)
    with _memory_cap():
        message = _reject(path)

    assert "annotators[1]" in message
    assert not Study.objects.exists()


def test_recursive_alias_rejected(tmp_path):
    message = _reject(_write(tmp_path, "name: &loop [*loop]\n"))

    assert "line 1" in message
    assert "refers to itself" in message


def test_recursive_mapping_alias_rejected(tmp_path):
    message = _reject(_write(tmp_path, "&loop {name: *loop}\n"))

    assert "refers to itself" in message


@pytest.mark.parametrize(
    "text",
    [
        "name: " + "[" * 5000 + "]" * 5000 + "\n",
        "name: " + "{k: " * 5000 + "1" + "}" * 5000 + "\n",
        "".join("  " * i + "k:\n" for i in range(600)),
    ],
)
def test_deep_nesting_rejected(tmp_path, text):
    message = _reject(_write(tmp_path, text))

    assert "nested too deeply" in message


def test_control_character_names_line(tmp_path):
    message = _reject(_write(tmp_path, "kind: pairwise\nname: a\x01b\n"))

    assert "line 2" in message
    assert "#x0001" in message


def test_huge_integer_rejected(tmp_path):
    message = _reject(_write(tmp_path, "overlap: 1" + "0" * 5000 + "\n"))

    assert "line 1" in message
    assert "cannot read" in message


def test_impossible_date_rejected(tmp_path):
    message = _reject(_write(tmp_path, "kind: pairwise\nname: 2024-13-45\n"))

    assert "line 2" in message
    assert "2024-13-45" in message


@pytest.mark.parametrize(
    ("escape", "what"),
    [("\\0", "NUL"), ("\\ud800", "surrogate")],
    ids=["nul", "lone-surrogate"],
)
def test_unstorable_characters_rejected(demo_like, tmp_path, escape, what):  # noqa: F811
    """YAML escapes produce characters that PostgreSQL (NUL) or UTF-8 (lone surrogates) cannot store."""
    text = VALID.lstrip("\n").replace("name: Spec study", f'name: "Spec{escape}study"')
    before = _snapshot()

    message = _reject(_write(tmp_path, text))

    assert "line 1" in message
    assert "name" in message
    assert what in message
    assert _snapshot() == before


def test_unstorable_character_in_criterion(demo_like, tmp_path):  # noqa: F811
    text = VALID.replace("question: Which answer is better?", 'question: "Which\\0 is better?"')

    message = _reject(_write(tmp_path, text))

    assert "criteria[1].question" in message
    assert "NUL" in message


@pytest.mark.parametrize(
    "content",
    [
        "name: x\n".encode("utf-16"),
        b"name: caf\xe9\n",
        b"\xef\xbb\xbf\xef\xbb\xbfname: x\n",
    ],
    ids=["utf-16", "latin-1", "double-bom"],
)
def test_wrong_encodings_rejected(tmp_path, content):
    message = _reject(_write(tmp_path, content))

    assert "study.yaml" in message


def test_python_tags_never_run(tmp_path):
    marker = tmp_path / "ran"
    text = f"name: !!python/object/apply:os.system ['touch {marker}']\n"

    _reject(_write(tmp_path, text))

    assert not marker.exists()


def test_bom_spec_accepted(demo_like, tmp_path):  # noqa: F811
    path = _write(tmp_path, b"\xef\xbb\xbf" + VALID.encode())

    call_command("create_study", str(path), stdout=io.StringIO(), stderr=io.StringIO())

    assert Study.objects.filter(name="Spec study").exists()


def test_create_users_other_case_rejected(demo_like, tmp_path):  # noqa: F811
    """A name that differs from an account's only in letter case is an error, as in the admin's add-annotators page."""
    text = VALID.lstrip("\n").replace("annotator1, annotator2, annotator3]", "annotator2, annotator3, Annotator1]")
    before = _snapshot()

    with pytest.raises(CommandError) as error:
        call_command("create_study", str(_write(tmp_path, text)), "--create-users", stdout=io.StringIO())

    message = str(error.value)
    assert "annotators[3]" in message
    assert "“annotator1”" in message
    assert _snapshot() == before


def test_create_users_fullwidth_names_account(demo_like, tmp_path):  # noqa: F811
    """Django stores usernames in NFKC form, so a full-width name is the account of its plain form."""
    text = VALID.lstrip("\n").replace("annotator1, annotator2, annotator3]", "annotator2, annotator3, ａnnotator1]")
    users_before = get_user_model().objects.count()

    call_command("create_study", str(_write(tmp_path, text)), "--create-users", stdout=io.StringIO())

    study = Study.objects.get(name="Spec study")
    assert get_user_model().objects.count() == users_before
    assert sorted(study.annotators.values_list("username", flat=True)) == ["annotator1", "annotator2", "annotator3"]


def test_update_keeps_annotators_who_joined(demo_like, tmp_path):  # noqa: F811
    """Re-running the file with --update must not drop someone who joined through the sign-up link."""
    path = _write(tmp_path, VALID.lstrip("\n"))
    call_command("create_study", str(path), "--open", stdout=io.StringIO(), stderr=io.StringIO())
    study = Study.objects.get(name="Spec study")
    newcomer = get_user_model().objects.create_user("joined-by-link")
    join_study(study, newcomer)
    judgment = submit_judgment(next_assignment(study, newcomer), {"overall": "A"})
    err = io.StringIO()

    call_command("create_study", str(path), "--update", stdout=io.StringIO(), stderr=err)

    assert study.annotators.filter(pk=newcomer.pk).exists()
    assert Judgment.objects.filter(pk=judgment.pk).exists()
    assert "joined-by-link" in err.getvalue()


def test_update_draft_may_remove_annotator(demo_like, tmp_path):  # noqa: F811
    """Before a study has items, the file's list is the study's list."""
    path = _write(tmp_path, VALID.lstrip("\n"))
    call_command("create_study", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    fewer = _write(tmp_path, VALID.lstrip("\n").replace("annotator1, ", ""), name="fewer.yaml")

    call_command("create_study", str(fewer), "--update", stdout=io.StringIO(), stderr=io.StringIO())

    names = set(Study.objects.get(name="Spec study").annotators.values_list("username", flat=True))
    assert names == {"annotator2", "annotator3"}


def test_huge_file_rejected_unread(tmp_path):
    """A prompt file of many megabytes given by mistake is refused at once, not parsed for minutes."""
    rows = "".join(f"p{number},What is {number} plus {number}?,maths,en\n" for number in range(100_000))
    path = _write(tmp_path, "id,text,category,language\n" + rows, name="prompts.csv")

    message = _reject(path)

    assert "prompts.csv" in message
    assert "bytes" in message
