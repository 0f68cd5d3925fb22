"""Login throttling on the log-in page, the admin's log-in page and the API's token endpoint."""

import threading
import uuid

import pytest
import redis
from django.contrib.auth import SESSION_KEY
from django.core.management import call_command
from django.test import Client, RequestFactory, override_settings
from rest_framework.throttling import AnonRateThrottle

from humeval import login_throttle
from tests.factories import make_user
from tests.services import missing_service

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests"  # the default of tests.factories.make_user
THROTTLED = "Too many failed log-in attempts"
WRONG = "Your username and password did not match"


def _log_in(client, username, password):
    return client.post("/accounts/login/", {"username": username, "password": password})


def _logged_in(client) -> bool:
    return SESSION_KEY in client.session


def test_right_password_refused_after_limit(clock, settings):
    make_user("alice")
    client = Client()

    for attempt in range(settings.LOGIN_FAILURE_LIMIT - 1):
        response = _log_in(client, "alice", "wrong")
        assert response.status_code == 200
        assert WRONG in response.text, attempt

    last_failure = _log_in(client, "alice", "wrong")
    refused = _log_in(client, "alice", PASSWORD)

    assert THROTTLED in last_failure.text
    assert refused.status_code == 200
    assert THROTTLED in refused.text
    assert "Try again in 30 minutes" in refused.text
    assert not _logged_in(client)


def test_unknown_username_throttled_alike(clock, settings):
    """A name without an account is counted and refused the same way, so refusal reveals nothing."""
    client = Client()

    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _log_in(client, "no-such-person", "wrong")
    response = _log_in(client, "no-such-person", "wrong")

    assert THROTTLED in response.text


def test_refusal_lifts_after_two_windows(clock, settings):
    make_user("bob")
    client = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _log_in(client, "bob", "wrong")

    clock.advance(settings.LOGIN_FAILURE_WINDOW)
    still_refused = _log_in(client, "bob", PASSWORD)
    clock.advance(settings.LOGIN_FAILURE_WINDOW)
    allowed = _log_in(client, "bob", PASSWORD)

    assert THROTTLED in still_refused.text
    assert "Try again in 15 minutes" in still_refused.text
    assert allowed.status_code == 302
    assert _logged_in(client)


def test_refused_attempts_do_not_extend_refusal(clock, settings):
    make_user("carol")
    client = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _log_in(client, "carol", "wrong")

    clock.advance(settings.LOGIN_FAILURE_WINDOW)
    for _ in range(3 * settings.LOGIN_FAILURE_LIMIT):
        assert THROTTLED in _log_in(client, "carol", "wrong").text
    clock.advance(settings.LOGIN_FAILURE_WINDOW)

    assert _log_in(client, "carol", PASSWORD).status_code == 302


def test_success_resets_username_count(clock, settings):
    make_user("dave")
    client = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        _log_in(client, "dave", "wrong")

    assert _log_in(client, "dave", PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        assert WRONG in _log_in(client, "dave", "wrong").text

    assert _log_in(client, "dave", PASSWORD).status_code == 302


def test_failures_forgotten_after_two_windows(clock, settings):
    make_user("erin")
    client = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        _log_in(client, "erin", "wrong")

    clock.advance(2 * settings.LOGIN_FAILURE_WINDOW)
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        assert WRONG in _log_in(client, "erin", "wrong").text

    assert _log_in(client, "erin", PASSWORD).status_code == 302


@override_settings(LOGIN_FAILURE_LIMIT_PER_ADDRESS=8)
def test_address_limit_across_usernames(clock):
    make_user("frank")
    client = Client(REMOTE_ADDR="203.0.113.7")
    other_address = Client(REMOTE_ADDR="203.0.113.8")

    for number in range(7):
        assert WRONG in _log_in(client, f"guess-{number}", "wrong").text
    assert THROTTLED in _log_in(client, "guess-7", "wrong").text
    refused = _log_in(client, "frank", PASSWORD)
    allowed = _log_in(other_address, "frank", PASSWORD)

    assert THROTTLED in refused.text
    assert not _logged_in(client)
    assert allowed.status_code == 302


@override_settings(LOGIN_FAILURE_LIMIT_PER_ADDRESS=8)
def test_own_success_keeps_address_failures(clock):
    """Logging in to one's own account takes back only that attempt, not earlier guesses at others."""
    make_user("grace")
    client = Client(REMOTE_ADDR="203.0.113.9")
    for number in range(7):
        _log_in(client, f"guess-{number}", "wrong")

    assert _log_in(client, "grace", PASSWORD).status_code == 302
    client.logout()
    assert THROTTLED in _log_in(client, "guess-7", "wrong").text

    assert THROTTLED in _log_in(client, "grace", PASSWORD).text
    assert not _logged_in(client)


def test_admin_login_throttled(clock, settings):
    make_user("henry", staff=True, superuser=True)
    client = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": "henry", "password": "wrong"})

    response = client.post("/admin/login/", {"username": "henry", "password": PASSWORD})

    assert response.status_code == 200
    assert THROTTLED in response.text
    assert not _logged_in(client)


def test_login_page_counts_admin_failures(clock, settings):
    """Both log-in pages share one count, so switching pages gains an attacker nothing."""
    make_user("irene", staff=True)
    client = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": "irene", "password": "wrong"})

    assert THROTTLED in _log_in(client, "irene", PASSWORD).text


def test_token_endpoint_returns_token(clock):
    make_user("judy", staff=True)

    response = Client().post("/api/v1/auth/token/", {"username": "judy", "password": PASSWORD})

    assert response.status_code == 200
    token = response.json()["token"]
    runs = Client().get("/api/v1/runs/", HTTP_AUTHORIZATION=f"Token {token}")
    assert runs.status_code == 200


def test_token_endpoint_throttled(clock, settings):
    make_user("kate")
    client = Client()

    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        failed = client.post("/api/v1/auth/token/", {"username": "kate", "password": "wrong"})
        assert failed.status_code == 400
        assert failed.json()["errors"][0]["code"] == "authorization"
    refused = client.post("/api/v1/auth/token/", {"username": "kate", "password": PASSWORD})

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == 2 * settings.LOGIN_FAILURE_WINDOW
    body = refused.json()
    assert body["detail"].startswith(THROTTLED)
    assert body["errors"][0]["code"] == "throttled"
    assert "token" not in body


def test_token_endpoint_rejects_missing_password():
    response = Client().post("/api/v1/auth/token/", {"username": "kate"}, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "password"


def test_anonymous_api_rate_limit(monkeypatch):
    """DRF's anonymous rate applies to the token endpoint; here at 3 requests a minute."""
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "3/minute"})
    client = Client(REMOTE_ADDR="198.51.100.4")

    statuses = [
        client.post("/api/v1/auth/token/", {"username": f"user-{n}", "password": "x"}).status_code for n in range(4)
    ]
    other_client = Client(REMOTE_ADDR="198.51.100.5")

    assert statuses == [400, 400, 400, 429]
    assert other_client.post("/api/v1/auth/token/", {"username": "u", "password": "x"}).status_code == 400


def test_logged_in_api_use_not_rate_limited(monkeypatch):
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "3/minute"})
    client = Client()
    client.force_login(make_user("lena", staff=True))

    statuses = {client.get("/api/v1/runs/").status_code for _ in range(6)}

    assert statuses == {200}


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "198.51.100.1", "10.0.0.5"),
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "6.6.6.6, 198.51.100.1", "198.51.100.1"),
        (2, "6.6.6.6, 198.51.100.1, 10.0.0.7", "198.51.100.1"),
        (2, "", "10.0.0.5"),
    ],
)
def test_client_address_behind_proxies(settings, proxies, forwarded, expected):
    """A forged X-Forwarded-For entry written by the client itself is never taken."""
    settings.PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=forwarded)

    assert login_throttle.client_address(request) == expected


def _begin_attempts_in_threads(count: int) -> list:
    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR="192.0.2.1")
    results = [None] * count
    barrier = threading.Barrier(count)

    def attempt(index):
        barrier.wait()
        results[index] = login_throttle.begin_attempt(request, "mallory")

    threads = [threading.Thread(target=attempt, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_simultaneous_attempts_capped(clock, settings):
    results = _begin_attempts_in_threads(4 * settings.LOGIN_FAILURE_LIMIT)

    assert sum(result is not None for result in results) == settings.LOGIN_FAILURE_LIMIT


@pytest.fixture
def redis_cache(settings):
    """Point the default cache at a real Redis, as production does, under a key prefix of this test's own."""
    client = redis.Redis(host="127.0.0.1", port=6379, db=13, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        missing_service("Redis is not running: apt-get install redis-server, then redis-server --daemonize yes")
    prefix = f"humeval-test-{uuid.uuid4().hex[:12]}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/13",
            "KEY_PREFIX": prefix,
        }
    }
    yield
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


def test_simultaneous_attempts_capped_on_redis(redis_cache, clock, settings):
    """Many workers sharing Redis together get no more attempts than the limit."""
    results = _begin_attempts_in_threads(4 * settings.LOGIN_FAILURE_LIMIT)

    assert sum(result is not None for result in results) == settings.LOGIN_FAILURE_LIMIT


def test_login_throttled_on_redis(redis_cache, clock, settings):
    make_user("nina")
    client = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _log_in(client, "nina", "wrong")

    assert THROTTLED in _log_in(client, "nina", PASSWORD).text
    clock.advance(2 * settings.LOGIN_FAILURE_WINDOW)
    assert _log_in(client, "nina", PASSWORD).status_code == 302


@pytest.fixture
def database_cache(settings):
    """Use the database cache, the other shared cache that HUMEVAL_CACHE_URL offers."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "humeval_test_cache",
            "TIMEOUT": 60,
        }
    }
    call_command("createcachetable", verbosity=0)


def test_login_throttled_on_database_cache(database_cache, clock, settings):
    make_user("oscar")
    client = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _log_in(client, "oscar", "wrong")

    refused = _log_in(client, "oscar", PASSWORD)
    clock.advance(2 * settings.LOGIN_FAILURE_WINDOW)
    allowed = _log_in(client, "oscar", PASSWORD)

    assert THROTTLED in refused.text
    assert allowed.status_code == 302
