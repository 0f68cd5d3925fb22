import sys

from django.core.management.base import BaseCommand, CommandError

from annotate.erasure import ErasureRefused, erase_annotator, find_account
from annotate.pseudonyms import pseudonym


class Command(BaseCommand):
    help = (
        "Erase an annotator's personal data: the username becomes their pseudonym, e-mail and names are "
        "blanked, the account can no longer log in, and its tokens and sessions are deleted. Judgments, "
        "rationales included, stay under the pseudonym, so every report figure stays the same."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "username", help="Username of the account to erase (an erased account's pseudonym works too)."
        )
        parser.add_argument("--yes", action="store_true", help="Erase without asking for confirmation.")

    def handle(self, *args, **options):
        try:
            account = find_account(options["username"])
        except ErasureRefused as exc:
            raise CommandError(str(exc)) from exc

        new_name = pseudonym(account.pk)
        if not options["yes"]:
            self._confirm(account.get_username(), new_name)
        try:
            result = erase_annotator(account)
        except ErasureRefused as exc:
            raise CommandError(str(exc)) from exc

        if not result.changed and not (result.sessions_deleted or result.tokens_deleted):
            self.stdout.write(f"Account {result.pseudonym!r} was already erased; nothing changed.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Erased account {result.pseudonym!r}: {result.sessions_deleted} sessions and "
                f"{result.tokens_deleted} API tokens deleted; its judgments are kept under this pseudonym."
            )
        )

    def _confirm(self, username: str, new_name: str) -> None:
        if not sys.stdin.isatty():
            raise CommandError("Cannot ask for confirmation without a terminal; run again with --yes to erase.")
        answer = input(
            f"Erase the personal data of {username!r}? The account becomes {new_name!r} and can no longer "
            "log in. This cannot be undone. Type 'yes' to continue: "
        )
        if answer.strip().lower() != "yes":
            raise CommandError("Nothing was erased.")
