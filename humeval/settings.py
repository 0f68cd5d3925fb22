"""Django settings for humeval.

All environment variables are read here through humeval.env, which rejects
malformed values at start-up. Defaults are the embedded ones: SQLite under
HUMEVAL_DATA_DIR and Celery in eager mode. DATABASE_URL and CELERY_BROKER_URL
switch to PostgreSQL and a real broker.
"""

import os
import sys
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from humeval import env

BASE_DIR = Path(__file__).resolve().parent.parent

RUNNING_TESTS = "pytest" in sys.modules or (len(sys.argv) > 1 and sys.argv[1] == "test")

DATA_DIR = env.read_path("HUMEVAL_DATA_DIR", BASE_DIR / "var")
DEBUG = env.read_bool("HUMEVAL_DEBUG", default=False)
SECRET_KEY = env.read_secret_key("HUMEVAL_SECRET_KEY", DATA_DIR, allow_generated=RUNNING_TESTS)
ALLOWED_HOSTS = env.read_list("HUMEVAL_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
DEMO_PASSWORD = env.read_str("HUMEVAL_DEMO_PASSWORD", "humeval-demo")
REQUIRE_SERVICES = env.read_bool("HUMEVAL_REQUIRE_SERVICES", default=False)
LOG_LEVEL = env.read_choice("HUMEVAL_LOG_LEVEL", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], "INFO")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "humeval.apps.HumevalConfig",
    "generation",
    "annotate",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "humeval.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so Django calls its process_exception first for a view's error,
    # after LocaleMiddleware has activated the request's language.
    "humeval.database_busy.DatabaseBusyMiddleware",
]

ROOT_URLCONF = "humeval.urls"
WSGI_APPLICATION = "humeval.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_database_url = env.read_str("DATABASE_URL")
if _database_url:
    try:
        DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is invalid: {exc}") from exc
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "humeval.sqlite3",
            # Writers wait for the lock instead of failing at once; the
            # annotator's submit and the demo's generation share the file.
            # WAL journal: reads go on while a transaction writes, and a
            # commit does not wait for readers to finish, as it must in the
            # default rollback journal. synchronous stays FULL (SQLite's
            # default), so a committed judgment survives a power cut too.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL;",
            },
            # Tests use a file too, not Django's default shared in-memory
            # database: there, a write that meets another connection's lock
            # fails at once instead of waiting, so tests of background
            # threads (eager-mode runs) failed by chance. One file per process,
            # so test runs side by side do not share a database.
            "TEST": {"NAME": str(Path(tempfile.gettempdir()) / f"humeval-test-{os.getpid()}.sqlite3")},
        }
    }

# The annotator's hot queries run as prepared statements on PostgreSQL
# (humeval/prepared.py). Turn this off behind a pooler in transaction mode,
# which does not keep a connection's prepared statements.
PREPARED_STATEMENTS = env.read_bool("HUMEVAL_PREPARED_STATEMENTS", default=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if RUNNING_TESTS:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The throttled backend counts failed log-ins (humeval/login_throttle.py);
# it is Django's ModelBackend otherwise.
AUTHENTICATION_BACKENDS = ["humeval.auth_backends.ThrottledModelBackend"]
# Failed log-ins allowed per username and per client address within the
# window (seconds); further attempts are refused until old failures age out.
LOGIN_FAILURE_LIMIT = env.read_int("HUMEVAL_LOGIN_FAILURE_LIMIT", default=5, minimum=1)
LOGIN_FAILURE_LIMIT_PER_ADDRESS = env.read_int("HUMEVAL_LOGIN_FAILURE_LIMIT_PER_ADDRESS", default=20, minimum=1)
LOGIN_FAILURE_WINDOW = env.read_int("HUMEVAL_LOGIN_FAILURE_WINDOW", default=15 * 60, minimum=1)
# Reverse proxies in front of the web server that append the client's
# address to X-Forwarded-For; 0 takes the address of the TCP peer.
PROXY_COUNT = env.read_int("HUMEVAL_PROXY_COUNT", default=0, minimum=0)

# Login throttling and DRF's throttles keep their counts here.
CACHES = {"default": env.read_cache("HUMEVAL_CACHE_URL")}

# E-mail, for password reset. Without an SMTP host, messages are printed to
# the server's standard output, reset links included.
DEFAULT_FROM_EMAIL = env.read_str("HUMEVAL_EMAIL_FROM", "humeval@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_HOST = env.read_str("HUMEVAL_SMTP_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env.read_int("HUMEVAL_SMTP_PORT", default=587, minimum=1)
    EMAIL_HOST_USER = env.read_str("HUMEVAL_SMTP_USER")
    EMAIL_HOST_PASSWORD = env.read_str("HUMEVAL_SMTP_PASSWORD")
    _smtp_security = env.read_choice("HUMEVAL_SMTP_SECURITY", ["STARTTLS", "TLS", "NONE"], "STARTTLS")
    EMAIL_USE_TLS = _smtp_security == "STARTTLS"
    EMAIL_USE_SSL = _smtp_security == "TLS"
    EMAIL_TIMEOUT = env.read_int("HUMEVAL_SMTP_TIMEOUT", default=20, minimum=1)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "annotate:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if RUNNING_TESTS
            else "humeval.storage.StaticFilesStorage"
        )
    },
}
# Serve files straight from the app folders when collectstatic has not run;
# humeval.storage then links them without a content hash.
WHITENOISE_USE_FINDERS = True

# Hides connection URLs, which carry passwords, from error reports.
DEFAULT_EXCEPTION_REPORTER_FILTER = "humeval.error_reports.ExceptionReporterFilter"
# Database sessions, as Django's default backend keeps them. humeval.sessions
# only writes the read that every request makes in SQL.
SESSION_ENGINE = "humeval.sessions"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# HTTPS. The demo and development serve plain HTTP on 127.0.0.1, so all of
# this stays off unless HUMEVAL_HTTPS=1; each part has its own variable too.
HTTPS = env.read_bool("HUMEVAL_HTTPS", default=False)
SESSION_COOKIE_SECURE = env.read_bool("HUMEVAL_SECURE_COOKIES", default=HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.read_bool("HUMEVAL_SSL_REDIRECT", default=HTTPS)
SECURE_HSTS_SECONDS = env.read_int("HUMEVAL_HSTS_SECONDS", default=365 * 24 * 3600 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.read_bool("HUMEVAL_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.read_bool("HUMEVAL_HSTS_PRELOAD", default=True)
# Only for a server that does not set the scheme itself: gunicorn does, from
# X-Forwarded-Proto sent by an address in its --forwarded-allow-ips.
if env.read_bool("HUMEVAL_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# The REST API under /api/v1/; humeval/api.py describes its error body.
REST_FRAMEWORK = {
    # Token first, so that a request without credentials gets 401 with
    # "WWW-Authenticate: Token" instead of the 403 that sessions alone give.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": [
        # DRF's, except that a body nested too deeply is a 400 instead of a 500.
        "humeval.api.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "humeval.api.Pagination",
    "EXCEPTION_HANDLER": "humeval.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "humeval.api_schema.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Requests without credentials to the public endpoints (the token
    # endpoint, the schema) are limited per client address. DRF checks
    # permissions first, so other endpoints answer 401 without counting.
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"anon": env.read_rate("HUMEVAL_API_ANON_RATE", "60/minute")},
    "NUM_PROXIES": PROXY_COUNT,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "humeval API",
    "DESCRIPTION": (
        "Models under study, prompt sets, generation runs and their responses, benchmark scores; "
        "studies, their items and annotators; the annotator's tasks; reports and their CSV exports."
    ),
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Separate request and response components, so read-only fields such as
    # uuid are absent from request bodies and file uploads show as binary.
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the drf-spectacular-sidecar package, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Swagger UI would otherwise send the schema to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # Several models have a `status` field with their own choices; name each enum after its class.
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "generation.models.RunStatus",
        "StudyStatusEnum": "annotate.models.StudyStatus",
    },
}

CELERY_BROKER_URL = env.read_str("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = env.read_bool("HUMEVAL_CELERY_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Seconds that Redis hides an unacknowledged task from other workers. The task
# of a killed worker is redelivered only after this timeout, but a task still
# running after it is handed to a second worker as well, so keep it above the
# longest generation run. The queue tests set a few seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.read_int("HUMEVAL_BROKER_VISIBILITY_TIMEOUT", default=12 * 3600, minimum=1)
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"level": "INFO", "propagate": True},
        # At DEBUG, with HUMEVAL_DEBUG on, this logger prints every SQL query
        # with its parameters: API token keys and password hashes among them.
        "django.db.backends": {"level": "INFO", "propagate": True},
    },
}
