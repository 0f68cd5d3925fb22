"""Skip or fail tests whose outside service is missing.

A test that needs PostgreSQL, Redis or Chromium skips with a message that
names what to install, unless HUMEVAL_REQUIRE_SERVICES=1 (set by .ci/run),
where a missing service fails the test instead.
"""

import os
import shutil

import pytest

CHROMIUM = "/usr/bin/chromium"


def services_required() -> bool:
    return os.environ.get("HUMEVAL_REQUIRE_SERVICES", "").strip().lower() in {"1", "true", "yes", "on"}


def missing_service(message: str):
    """Skip the current test, or fail it when services are required."""
    if services_required():
        pytest.fail(f"{message} (HUMEVAL_REQUIRE_SERVICES=1, so this fails instead of skipping)")
    pytest.skip(message)


def require_chromium() -> str:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        missing_service("Chromium is not installed: run 'apt-get install chromium' to run the browser tests")
    return CHROMIUM
