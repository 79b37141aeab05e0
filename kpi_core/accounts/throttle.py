"""Failed-login throttling on a moving window, per username and per client IP.

Built on ``limits`` (the engine of flask-limiter), used directly because only
*failed* attempts count. Storage is in-process, or Redis when configured so
that every app instance shares the counts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypeVar

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError

from kpi_core.errors import Unavailable

NAMESPACE = "kpi-login"
T = TypeVar("T")


def _guarded(call: Callable[[], T]) -> T:
    # Without its counts the throttle cannot protect logins: refuse them (503) rather than let
    # guessing run unlimited, and never answer 500.
    try:
        return call()
    except (RedisError, ConnectionError, TimeoutError) as exc:
        raise Unavailable("logins are paused: the throttle's store (Redis) cannot be reached") from exc


class LoginThrottle:
    def __init__(self, storage_uri: str, attempts: int, window_minutes: int) -> None:
        self.limit = parse(f"{attempts} per {window_minutes} minutes")
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    @staticmethod
    def keys(username: str, ip: str | None) -> list[str]:
        # Usernames are case-folded and bounded so variants share one counter.
        return [f"user:{username.strip().casefold()[:150]}", f"ip:{ip or 'unknown'}"]

    def retry_after(self, keys: list[str]) -> int | None:
        """Seconds until another attempt is allowed, or None if allowed now."""
        return _guarded(lambda: self._retry_after(keys))

    def _retry_after(self, keys: list[str]) -> int | None:
        waits = []
        for key in keys:
            if not self.limiter.test(self.limit, NAMESPACE, key):
                reset_at = self.limiter.get_window_stats(self.limit, NAMESPACE, key).reset_time
                waits.append(max(1, math.ceil(reset_at - time.time())))
        return max(waits) if waits else None

    def record_failure(self, keys: list[str]) -> None:
        for key in keys:
            _guarded(lambda key=key: self.limiter.hit(self.limit, NAMESPACE, key))

    def reset(self, key: str) -> None:
        """Forget the failures of one key (a successful login clears its username's count)."""
        _guarded(lambda: self.limiter.clear(self.limit, NAMESPACE, key))
