#!/usr/bin/env python
"""Django's command-line utility for humeval."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humeval.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    # A wrong environment variable is the user's to fix: say which, no traceback.
    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        sys.exit(f"humeval: configuration error: {exc}")
    except OperationalError as exc:
        sys.exit(
            f"humeval: cannot use the database: {str(exc).strip()}\n"
            "Check DATABASE_URL, or HUMEVAL_DATA_DIR, the folder of the default SQLite file."
        )


if __name__ == "__main__":
    main()
