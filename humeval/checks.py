"""Deployment checks of humeval's own settings, run by `manage.py check --deploy`."""

from django.conf import settings
from django.core import checks

LOCAL_CACHES = {
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
}


@checks.register(checks.Tags.security, deploy=True)
def check_shared_cache(app_configs, **kwargs):
    """Warn when the cache is private to each process, so each gunicorn worker counts log-ins apart."""
    if settings.CACHES["default"]["BACKEND"] not in LOCAL_CACHES:
        return []
    return [
        checks.Warning(
            "The cache lives in each process's memory, so every gunicorn worker counts failed log-ins "
            "separately and the limit is multiplied by the number of workers.",
            hint="Set HUMEVAL_CACHE_URL to redis://HOST:PORT/DB or to db://TABLE_NAME "
            "(then run 'manage.py createcachetable').",
            id="humeval.W001",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def check_email_backend(app_configs, **kwargs):
    """Warn when e-mails, password reset links included, go to standard output instead of an SMTP server."""
    if settings.EMAIL_BACKEND != "django.core.mail.backends.console.EmailBackend":
        return []
    return [
        checks.Warning(
            "E-mails are printed to standard output, so password reset links reach the server's log "
            "instead of the people who asked for them.",
            hint="Set HUMEVAL_SMTP_HOST (and HUMEVAL_SMTP_USER, HUMEVAL_SMTP_PASSWORD) to send them.",
            id="humeval.W002",
        )
    ]
