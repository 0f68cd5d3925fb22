"""Login throttling: refuse log-in attempts after too many failures.

Failures are counted per username and per client address in Django's
default cache, which production must share between gunicorn workers (see
HUMEVAL_CACHE_URL). Counts go into buckets of LOGIN_FAILURE_WINDOW seconds,
and an attempt is refused while the current and the previous bucket
together hold the limit. So no window of that length ever contains more
failures than the limit, and a failure stops counting after one to two
windows.

Each attempt takes its place in the count before the password is checked,
so many attempts sent at once cannot all slip under the limit. A refused
attempt is not counted, so an attack that goes on does not keep the
account locked longer. A successful log-in clears the username's count and
takes its own attempt back from the address's count, but leaves the
address's earlier failures: otherwise logging in to one's own account would
reset the count for guesses at other accounts.

Usernames are counted whether an account exists or not, so a refusal
reveals nothing about which accounts exist.
"""

import hashlib
import logging
import math
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

USERNAME = "username"
ADDRESS = "address"

# The clock, in seconds since the epoch; tests replace it to move time on.
clock = time.time


@dataclass(frozen=True)
class Counter:
    """Failed log-ins of one username or one client address."""

    scope: str
    identity: str
    limit: int

    def key(self, bucket: int) -> str:
        # Hashed, because cache keys must be short and plain, and usernames
        # are neither; the scope keeps a username apart from an address.
        digest = hashlib.sha256(self.identity.encode("utf-8")).hexdigest()[:32]
        return f"login-failures:{self.scope}:{digest}:{bucket}"

    def label(self) -> str:
        """Name the counter in logs: the address, or only a hash of the username.

        A person sometimes types the password into the username field, so
        the username itself is never logged.
        """
        if self.scope == ADDRESS:
            return f"address {self.identity}"
        return f"username sha256:{hashlib.sha256(self.identity.encode('utf-8')).hexdigest()[:12]}"


@dataclass
class Attempt:
    """A log-in attempt that has taken its place in every counter."""

    bucket: int
    counters: list[Counter]
    # Counters for which this attempt was the last one allowed.
    at_limit: list[Counter] = field(default_factory=list)


def client_address(request) -> str | None:
    """Return the client's IP address, taking HUMEVAL_PROXY_COUNT reverse proxies into account.

    Each proxy appends the address it received the request from to
    X-Forwarded-For, so the entry PROXY_COUNT places from the end was written
    by the outermost proxy and is the one a client cannot forge.
    """
    if request is None:
        return None
    remote = request.META.get("REMOTE_ADDR") or None
    if settings.PROXY_COUNT == 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if not forwarded:
        return remote
    return forwarded[-min(settings.PROXY_COUNT, len(forwarded))]


def _counters(request, username) -> list[Counter]:
    counters = []
    if isinstance(username, str) and username:
        counters.append(Counter(USERNAME, username.casefold(), settings.LOGIN_FAILURE_LIMIT))
    address = client_address(request)
    if address:
        counters.append(Counter(ADDRESS, address, settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS))
    return counters


def _bucket(moment: float) -> int:
    return int(moment // settings.LOGIN_FAILURE_WINDOW)


def _expiry() -> int:
    # The cache drops a bucket once it can no longer count; the counts
    # themselves are judged by the clock above, not by this expiry.
    return 2 * settings.LOGIN_FAILURE_WINDOW + 60


def _counts(counter: Counter, bucket: int) -> tuple[int, int]:
    """Return the failures of (current bucket, previous bucket)."""
    values = cache.get_many([counter.key(bucket), counter.key(bucket - 1)])
    return values.get(counter.key(bucket), 0), values.get(counter.key(bucket - 1), 0)


def increment(key: str, timeout: int) -> int:
    """Add one to the cache counter `key`, creating it with `timeout` seconds to live, and return the new count.

    Redis and the in-memory cache add atomically. The database cache reads
    and writes, so requests at the same moment may be counted short.
    """
    cache.add(key, 0, timeout=timeout)
    try:
        value = cache.incr(key)
    except ValueError:
        # The key expired between add() and incr().
        cache.set(key, 1, timeout=timeout)
        return 1
    # Django's database cache does incr() as a get and a set, and the set
    # resets the expiry to the cache's default of 300 seconds.
    cache.touch(key, timeout=timeout)
    return value


def _decrement(key: str) -> None:
    try:
        if cache.decr(key) < 0:
            cache.set(key, 0, timeout=_expiry())
    except ValueError:
        pass  # Already expired: nothing left to take back.


def seconds_until_allowed(request, username) -> int:
    """Return how many seconds log-ins for this username or address stay refused; 0 when allowed."""
    now = clock()
    bucket = _bucket(now)
    window = settings.LOGIN_FAILURE_WINDOW
    wait = 0.0
    for counter in _counters(request, username):
        current, previous = _counts(counter, bucket)
        if current + previous < counter.limit:
            continue
        # The previous bucket stops counting when this one ends, and this
        # one when the next one ends.
        ends = (bucket + 1) * window if current < counter.limit else (bucket + 2) * window
        wait = max(wait, ends - now)
    return math.ceil(wait)


def begin_attempt(request, username) -> Attempt | None:
    """Count one log-in attempt for the username and the client address.

    Return None, counting nothing, when either is at its limit already;
    the caller then refuses the attempt without checking the password.
    """
    bucket = _bucket(clock())
    attempt = Attempt(bucket=bucket, counters=[])
    for counter in _counters(request, username):
        key = counter.key(bucket)
        current = increment(key, _expiry())
        attempt.counters.append(counter)
        previous = cache.get(counter.key(bucket - 1), 0)
        if current + previous > counter.limit:
            for reserved in attempt.counters:
                _decrement(reserved.key(bucket))
            return None
        if current + previous == counter.limit:
            attempt.at_limit.append(counter)
    return attempt


def record_failure(attempt: Attempt) -> None:
    """Keep the attempt counted as a failure, and log when it reached a limit."""
    for counter in attempt.at_limit:
        logger.warning(
            "Log-in failures for %s reached the limit of %d in %d seconds; further attempts are refused",
            counter.label(),
            counter.limit,
            settings.LOGIN_FAILURE_WINDOW,
        )


def record_success(attempt: Attempt) -> None:
    """Clear the username's failures and take this attempt back from the address's count."""
    for counter in attempt.counters:
        if counter.scope == USERNAME:
            cache.delete_many([counter.key(attempt.bucket), counter.key(attempt.bucket - 1)])
        else:
            _decrement(counter.key(attempt.bucket))
