#!/usr/bin/env python
"""Django's command-line utility for humeval."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humeval.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A wrong environment variable is the user's to fix: say which, no traceback.
        sys.exit(f"humeval: configuration error: {exc}")


if __name__ == "__main__":
    main()
