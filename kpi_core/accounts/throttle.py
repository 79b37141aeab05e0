"""Failed-login throttling that every app process shares: it slows the guessing, not the owner.

As OWASP's Authentication Cheat Sheet advises, three counts over one moving
window (KPI_LOGIN_WINDOW_MINUTES) stop different attacks without locking the
account's owner out:

- **one username from one client address** (the pair: a guesser at work):
  ``KPI_LOGIN_ATTEMPTS`` failures, then that pair waits until its oldest
  failure leaves the window. The owner, elsewhere, still logs in;
- **one username from every address** (guessing spread over many): after
  ``KPI_LOGIN_USER_ATTEMPTS`` failures each further attempt waits, twice as
  long each time from 1 second up to the window;
- **one client address for every username** (spraying): ``KPI_LOGIN_IP_ATTEMPTS``,
  set high so that an office behind one shared address is not locked out.

Every attempt is counted *before* its password is checked, in the same atomic
step that decides whether it may go ahead, so concurrent attempts in any
worker see each other and exactly the allowed number of failures gets
through. A right password takes its attempt back and forgives its pair's
earlier failures. The counts are kept in Redis when configured, else in the
database (table ``login_failures``): kpi_core/accounts/throttle_stores.py.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from kpi_core.config import Settings
from kpi_core.errors import KpiError

USERNAME_KEY_LENGTH = 150
IPV6_NETWORK_BITS = 64  # one IPv6 subscriber usually holds a whole /64: count it as one address
UNKNOWN_CLIENT = "unknown"
LONGEST_BACKOFF_EXPONENT = 40  # 2**40 s is far beyond any window: the cap applies long before


class LoginThrottled(KpiError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} seconds")
        self.retry_after = retry_after


@dataclass(frozen=True)
class AttemptKeys:
    """Whose attempt it is: the case-folded username and the client's address (IPv6: its /64)."""

    username: str
    client: str


def attempt_keys(username: str, ip: str | None) -> AttemptKeys:
    # Usernames are case-folded and bounded so that variants share one count.
    return AttemptKeys(username.strip().casefold()[:USERNAME_KEY_LENGTH], client_key(ip))


def client_key(ip: str | None) -> str:
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return UNKNOWN_CLIENT
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/{IPV6_NETWORK_BITS}", strict=False))
    return str(address)


@dataclass(frozen=True)
class History:
    """The times (epoch seconds, oldest first) of the attempts counted in the window, per count."""

    pair: list[float]
    user: list[float]
    client: list[float]


@dataclass(frozen=True)
class ThrottlePolicy:
    pair_attempts: int = 5
    user_attempts: int = 20
    client_attempts: int = 100
    window_seconds: float = 15 * 60

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottlePolicy:
        return cls(
            pair_attempts=settings.login_attempts,
            user_attempts=settings.login_user_attempts,
            client_attempts=settings.login_ip_attempts,
            window_seconds=settings.login_window_minutes * 60,
        )

    def retry_after(self, history: History, now: float) -> int | None:
        """Seconds the next attempt must wait, or None if it may go ahead now."""
        waits = [
            self._full_window(history.pair, self.pair_attempts, now),
            self._full_window(history.client, self.client_attempts, now),
            self._backoff(history.user, now),
        ]
        found = [wait for wait in waits if wait is not None]
        return max(found) if found else None

    def _full_window(self, times: list[float], allowed: int, now: float) -> int | None:
        if len(times) < allowed:
            return None
        # The next attempt may go once enough of the oldest have left the window.
        leaves_at = times[len(times) - allowed] + self.window_seconds
        return _seconds(leaves_at - now)

    def _backoff(self, times: list[float], now: float) -> int | None:
        if len(times) < self.user_attempts:
            return None
        exponent = min(len(times) - self.user_attempts, LONGEST_BACKOFF_EXPONENT)
        delay = min(self.window_seconds, 2.0**exponent)
        return _seconds(times[-1] + delay - now)


def _seconds(wait: float) -> int | None:
    return max(1, math.ceil(wait)) if wait > 0 else None


class FailureStore(Protocol):
    """Where the attempts are counted: Redis, or the database (kpi_core/accounts/throttle_stores.py)."""

    def reserve(self, session: Session, keys: AttemptKeys, now: float, policy: ThrottlePolicy) -> int | None:
        """Atomically: forget attempts older than the window, ask ``policy`` whether this one may go
        ahead and, if so, count it. Returns the policy's wait (None: counted, go ahead)."""
        ...

    def forgive(self, session: Session, keys: AttemptKeys) -> None:
        """Forget the pair's attempts (its owner just proved the password) within ``session``."""
        ...

    def clear(self) -> None:
        """Forget every count (tests start from none)."""
        ...


class LoginThrottle:
    def __init__(self, store: FailureStore, policy: ThrottlePolicy) -> None:
        self.store = store
        self.policy = policy

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine) -> LoginThrottle:
        """Counts in Redis when KPI_REDIS_URL is set, else in the database behind ``engine``."""
        from kpi_core.accounts.throttle_stores import DatabaseStore, RedisStore

        store: FailureStore = RedisStore(settings.redis_url) if settings.redis_url else DatabaseStore(engine)
        return cls(store, ThrottlePolicy.from_settings(settings))

    def begin(self, session: Session, username: str, ip: str | None) -> AttemptKeys:
        """Count a login attempt before its password is checked; raise :class:`LoginThrottled` if it must wait.

        With the database store this commits ``session`` (the count must be seen by every process
        before the password check), so call it before anything else is written in it. The attempt
        stays counted as a failure unless :meth:`succeeded` is called.
        """
        keys = attempt_keys(username, ip)
        wait = self.store.reserve(session, keys, time.time(), self.policy)
        if wait is not None:
            raise LoginThrottled(wait)
        return keys

    def succeeded(self, session: Session, keys: AttemptKeys) -> None:
        """The password was right: the attempt and its pair's earlier failures no longer count."""
        self.store.forgive(session, keys)

    def clear(self) -> None:
        self.store.clear()
