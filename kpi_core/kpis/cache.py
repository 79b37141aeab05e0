"""Where computed KPI answers are kept: Redis when configured (shared by every process), else memory.

Entries are immutable: the key names everything the answer depends on,
including the data versions of the months it covers
(:mod:`kpi_core.storage.versions`), so a change to the data makes new keys
and old entries simply age out (TTL in Redis, least-recently-used in memory).
Nothing is ever deleted to invalidate, so processes need not coordinate.

A cache that fails (Redis down) answers "miss" and logs a warning: the KPI is
then computed from the database, never refused because of its cache.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import zlib
from collections import OrderedDict
from typing import Protocol

import redis

from kpi_core.config import Settings
from kpi_core.observability.metrics import KPI_CACHE_LOOKUPS

log = logging.getLogger(__name__)

REDIS_PREFIX = "kpi:cache:z1:"
MEMORY_MAX_BYTES = 256 * 1024 * 1024


class ResultCache(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl: int) -> None: ...


class MemoryCache:
    """A bounded, thread-safe LRU of byte strings with expiry, for one process."""

    def __init__(self, max_bytes: int = MEMORY_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            expires, value = found
            if expires < time.monotonic():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return value

    def set(self, key: str, value: bytes, ttl: int) -> None:
        if len(value) > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (time.monotonic() + ttl, value)
            self._size += len(value)
            while self._size > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        _, value = self._entries.pop(key)
        self._size -= len(value)


class RedisCache:
    """Entries in Redis with a TTL, shared by every app instance and worker.

    Stored compressed (zlib level 1): a year of technician x month values is
    ~13 MB of JSON but ~2.6 MB compressed, and moving it over the socket costs
    more than inflating it (bench/README.md).
    """

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)

    def get(self, key: str) -> bytes | None:
        try:
            found = self.client.get(REDIS_PREFIX + key)
        except redis.RedisError as exc:
            log.warning("KPI cache unavailable, computing without it: %s", exc)
            return None
        return zlib.decompress(found) if found is not None else None  # type: ignore[arg-type]

    def set(self, key: str, value: bytes, ttl: int) -> None:
        try:
            self.client.set(REDIS_PREFIX + key, zlib.compress(value, 1), ex=ttl)
        except redis.RedisError as exc:
            log.warning("KPI cache unavailable, result not kept: %s", exc)


def lookup(cache: ResultCache | None, key: str) -> bytes | None:
    """``cache.get(key)``, counted as a hit or a miss in the metrics."""
    found = cache.get(key) if cache is not None else None
    KPI_CACHE_LOOKUPS.labels(result="hit" if found is not None else "miss").inc()
    return found


def lookup_from(cache: ResultCache, key: str) -> tuple[bytes | None, str | None]:
    """:func:`lookup`, and which tier answered: a tiered cache's own (``front`` or ``persisted``,
    :class:`kpi_core.kpis.persisted.TieredCache`), else ``front``; None for a miss."""
    tiered = getattr(cache, "get_from", None)
    if tiered is None:
        found = lookup(cache, key)
        return found, "front" if found is not None else None
    found, tier = tiered(key)
    KPI_CACHE_LOOKUPS.labels(result="hit" if found is not None else "miss").inc()
    return found, tier


def shared_cache(settings: Settings) -> ResultCache | None:
    """This process's cache for ``settings`` (None when KPI_CACHE_TTL is 0)."""
    return _cache(settings.redis_url, settings.cache_ttl)


@functools.cache
def _cache(redis_url: str, ttl: int) -> ResultCache | None:
    if ttl <= 0:
        return None
    return RedisCache(redis_url) if redis_url else MemoryCache()
