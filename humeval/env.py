"""Typed readers for the environment variables that configure humeval.

Every setting that comes from the environment is parsed here, strictly: a
value that cannot be parsed stops start-up with ImproperlyConfigured naming
the variable, instead of falling back to a default silently.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

MIN_SECRET_KEY_LENGTH = 32
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def read_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def read_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use 1 or 0 (or true/false, yes/no, on/off).")


def read_int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        message = f"{name}={raw!r} is not an integer; give a whole number such as {default}."
        raise ImproperlyConfigured(message) from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is too small; give an integer of at least {minimum}.")
    return value


def read_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    items = [part.strip() for part in raw.split(",")]
    if any(not item for item in items):
        raise ImproperlyConfigured(
            f"{name}={raw!r} has an empty entry; give a comma-separated list such as 'example.org,www.example.org'."
        )
    return items


def read_path(name: str, default: Path) -> Path:
    raw = os.environ.get(name)
    path = default if raw is None or not raw.strip() else Path(raw.strip()).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ImproperlyConfigured(f"{name}={str(path)!r} is a file, not a folder; give a folder path.")
    return path


def read_choice(name: str, choices: list[str], default: str) -> str:
    value = os.environ.get(name, default).strip().upper()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is invalid; use one of {', '.join(choices)}.")
    return value


def read_secret_key(name: str, data_dir: Path, allow_generated: bool) -> str:
    """Return the secret key from the environment or from `data_dir/secret_key`.

    `make demo` writes that untracked file on first run; there is no fallback
    secret in code, so a missing key stops start-up unless `allow_generated`
    (test runs) permits a throwaway key.
    """
    value = os.environ.get(name, "").strip()
    if value:
        if len(value) < MIN_SECRET_KEY_LENGTH:
            raise ImproperlyConfigured(
                f"{name} is shorter than {MIN_SECRET_KEY_LENGTH} characters; use a long random value."
            )
        return value
    key_file = data_dir / "secret_key"
    if key_file.is_file():
        stored = key_file.read_text(encoding="utf-8").strip()
        if len(stored) < MIN_SECRET_KEY_LENGTH:
            raise ImproperlyConfigured(
                f"{key_file} contains fewer than {MIN_SECRET_KEY_LENGTH} characters; delete it and run "
                f"'make setup' to write a new one, or set {name}."
            )
        return stored
    if allow_generated:
        from django.core.management.utils import get_random_secret_key

        return get_random_secret_key()
    raise ImproperlyConfigured(
        f"{name} is not set and {key_file} does not exist. Set {name} to a long random "
        "value, or run 'make demo' once to create the file."
    )


_RATE_PERIODS = ("second", "minute", "hour", "day")


def read_rate(name: str, default: str) -> str:
    """Return a request rate such as "60/minute", in the form DRF's throttles parse."""
    value = os.environ.get(name, default).strip()
    count, _, period = value.partition("/")
    if not count.isdigit() or int(count) < 1 or period not in _RATE_PERIODS:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a rate; give a number of requests per {', '.join(_RATE_PERIODS)}, "
            f"such as {default!r}."
        )
    return value


def read_cache(name: str) -> dict:
    """Return the `default` entry of Django's CACHES setting from a cache URL.

    Unset or `locmem://` keeps the cache in each process's memory, which is
    enough for one process (the demo, runserver, tests). `redis://HOST:PORT/DB`
    (or `rediss://` with TLS) uses Redis, and `db://TABLE` a database table
    made by `manage.py createcachetable`. Both are shared by every gunicorn
    worker, which login throttling needs to count attempts across workers.
    """
    raw = os.environ.get(name, "").strip()
    if not raw or raw == "locmem://":
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "humeval"}
    scheme, separator, rest = raw.partition("://")
    if separator and scheme in {"redis", "rediss"} and rest:
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": raw}
    if separator and scheme == "db" and rest.isidentifier():
        # The default of 300 entries would evict login-failure counts early.
        return {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": rest,
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    # The value may carry a Redis password, so the message leaves it out.
    raise ImproperlyConfigured(
        f"{name} is not a cache URL this project supports; use redis://HOST:PORT/DB, rediss://HOST:PORT/DB, "
        "db://TABLE_NAME or locmem://."
    )
