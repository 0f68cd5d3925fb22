"""`manage.py check --deploy` against production settings, and strict parsing of the security variables."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What docs/deployment.md tells a production installation to set.
PRODUCTION = {
    "HUMEVAL_HTTPS": "1",
    "HUMEVAL_ALLOWED_HOSTS": "humeval.example.org",
    "HUMEVAL_CACHE_URL": "redis://127.0.0.1:6379/13",
    "HUMEVAL_SMTP_HOST": "smtp.example.org",
    "HUMEVAL_SMTP_USER": "humeval",
    "HUMEVAL_SMTP_PASSWORD": "smtp-password-for-tests",
}


def _environment(tmp_path, **variables) -> dict:
    """Return a clean environment: no HUMEVAL_ or DATABASE_ variable of this shell leaks in."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("HUMEVAL_", "DATABASE_URL", "CELERY_", "PYTEST", "DJANGO_"))
    }
    environment["HUMEVAL_SECRET_KEY"] = secrets.token_urlsafe(50)
    environment["HUMEVAL_DATA_DIR"] = str(tmp_path)
    environment.update(variables)
    return environment


def _check_deploy(environment) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy(tmp_path):
    result = _check_deploy(_environment(tmp_path, **PRODUCTION))

    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stderr + result.stdout
    assert "ERRORS" not in result.stderr + result.stdout


def test_development_settings_fail_check_deploy(tmp_path):
    """Without HUMEVAL_HTTPS and a shared cache, the same check lists what production still needs."""
    result = _check_deploy(_environment(tmp_path))

    output = result.stderr + result.stdout
    assert result.returncode != 0
    expected = ["security.W004", "security.W008", "security.W012", "security.W016", "humeval.W001", "humeval.W002"]
    for check_id in expected:
        assert check_id in output


def test_debug_on_fails_check_deploy(tmp_path):
    result = _check_deploy(_environment(tmp_path, HUMEVAL_DEBUG="1", **PRODUCTION))

    assert result.returncode != 0
    assert "security.W018" in result.stderr + result.stdout


def _settings_value(tmp_path, expression: str, **variables) -> subprocess.CompletedProcess:
    code = f"import django; django.setup(); from django.conf import settings; print(repr({expression}))"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_environment(tmp_path, DJANGO_SETTINGS_MODULE="humeval.settings", **variables),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_plain_http_by_default(tmp_path):
    """The demo serves http://127.0.0.1: no redirect, no HSTS, cookies sent over HTTP."""
    expression = (
        "(settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS, settings.SESSION_COOKIE_SECURE, "
        "settings.CSRF_COOKIE_SECURE, settings.DEBUG)"
    )

    result = _settings_value(tmp_path, expression)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(False, 0, False, False, False)"


def test_https_parts_switch_separately(tmp_path):
    expression = (
        "(settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS, settings.SESSION_COOKIE_SECURE, "
        "getattr(settings, 'SECURE_PROXY_SSL_HEADER', None))"
    )

    result = _settings_value(
        tmp_path,
        expression,
        HUMEVAL_HTTPS="1",
        HUMEVAL_SSL_REDIRECT="0",
        HUMEVAL_HSTS_SECONDS="3600",
        HUMEVAL_PROXY_SSL_HEADER="1",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(False, 3600, True, ('HTTP_X_FORWARDED_PROTO', 'https'))"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HUMEVAL_HTTPS", "sometimes", "HUMEVAL_HTTPS='sometimes' is not a boolean"),
        ("HUMEVAL_HSTS_SECONDS", "a year", "HUMEVAL_HSTS_SECONDS='a year' is not an integer"),
        ("HUMEVAL_LOGIN_FAILURE_LIMIT", "0", "HUMEVAL_LOGIN_FAILURE_LIMIT=0 is too small"),
        ("HUMEVAL_API_ANON_RATE", "60 per minute", "HUMEVAL_API_ANON_RATE='60 per minute' is not a rate"),
        ("HUMEVAL_CACHE_URL", "memcached://cache:11211", "HUMEVAL_CACHE_URL is not a cache URL"),
        ("HUMEVAL_SMTP_SECURITY", "maybe", "HUMEVAL_SMTP_SECURITY='MAYBE' is invalid"),
    ],
)
def test_bad_security_variable_stops_start_up(tmp_path, variable, value, message):
    extra = {"HUMEVAL_SMTP_HOST": "smtp.example.org"} if variable == "HUMEVAL_SMTP_SECURITY" else {}

    result = _settings_value(tmp_path, "settings.DEBUG", **{variable: value}, **extra)

    assert result.returncode != 0
    assert message in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_bad_cache_url_keeps_its_password_out_of_the_error(tmp_path):
    result = _settings_value(tmp_path, "settings.DEBUG", HUMEVAL_CACHE_URL="memcached://:hunter2-cache@cache:11211")

    assert result.returncode != 0
    assert "HUMEVAL_CACHE_URL" in result.stderr
    assert "hunter2-cache" not in result.stderr


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("", "django.core.cache.backends.locmem.LocMemCache"),
        ("redis://127.0.0.1:6379/2", "django.core.cache.backends.redis.RedisCache"),
        ("db://humeval_cache", "django.core.cache.backends.db.DatabaseCache"),
    ],
)
def test_cache_url_selects_backend(tmp_path, url, backend):
    result = _settings_value(tmp_path, "settings.CACHES['default']['BACKEND']", HUMEVAL_CACHE_URL=url)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr(backend)
