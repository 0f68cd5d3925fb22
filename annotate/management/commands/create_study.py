import contextlib
import logging

from django.core.management.base import BaseCommand, CommandError

from annotate.invitations import set_password_path
from annotate.study_spec import StudySpecError, read_study_spec
from annotate.study_spec_apply import apply_study_spec


class Command(BaseCommand):
    help = (
        "Create a study from a YAML spec file (format: docs/studies.md). The file is checked whole; "
        "on any error nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("spec", help="Path of the study's .yaml file, UTF-8.")
        parser.add_argument(
            "--open", action="store_true", help="Open the study (build its items) whatever status the file gives."
        )
        parser.add_argument(
            "--update",
            action="store_true",
            help="Update the study of that name if it exists: only the keys the file sets change, "
            "and only in ways its existing items allow.",
        )
        parser.add_argument(
            "--create-users",
            action="store_true",
            help="Create accounts, without a password, for annotators that have none, and print a "
            "set-password link for each.",
        )
        parser.add_argument(
            "--check", action="store_true", help="Check the file and report what would change, writing nothing."
        )

    def handle(self, *args, **options):
        # A check applies the spec and rolls it back, so the log lines of what
        # it applied ("Created attention check", audit events) would be untrue.
        quiet = _without_info_logs() if options["check"] else contextlib.nullcontext()
        try:
            with quiet:
                spec = read_study_spec(options["spec"], update=options["update"], create_users=options["create_users"])
                result = apply_study_spec(
                    spec, update=options["update"], open_now=options["open"], dry_run=options["check"]
                )
        except StudySpecError as exc:
            raise CommandError(str(exc)) from exc

        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(f"Warning: {warning}"))
        study = result.study
        if result.gold is not None:
            self.stdout.write(_describe_gold(result.gold))
        noun = "item" if result.items_created == 1 else "items"
        if options["check"]:
            verb = "create" if result.created else "update"
            self.stdout.write(
                f"{options['spec']} is valid. It would {verb} study {study.name!r} "
                f"(status {study.status}) with {result.items_created} new {noun}; nothing was written."
            )
            return

        verb = "Created" if result.created else "Updated"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} study {study.name!r} ({study.uuid}), status {study.status}: {result.items_created} new {noun}."
            )
        )
        for account in result.new_accounts:
            self.stdout.write(
                f"Created account {account.get_username()!r}; it sets its password at {set_password_path(account)}"
            )


def _describe_gold(gold) -> str:
    if not gold.applied:
        return "Gold entries are valid; they take effect when the study opens (the study is a draft)."
    return f"Gold items: {gold.created} created, {gold.marked} marked or changed, {gold.unchanged} unchanged."


@contextlib.contextmanager
def _without_info_logs():
    """Drop log records below WARNING while the block runs; warnings and errors still pass."""
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)
