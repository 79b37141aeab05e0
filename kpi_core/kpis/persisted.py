"""Per-month KPI sums persisted in the database, behind the memory or Redis cache.

Each month's pooled sums (:mod:`kpi_core.kpis.segments`) are kept in table
``kpi_persisted_sums`` under the same key as in the front cache, so a restart,
a second app instance or a machine without Redis reads them instead of
scanning the facts; Redis or memory stays in front. Whole answers are not
persisted (a year by technician is megabytes): they are pooled again from the
sums, which costs milliseconds for the dashboard's cards and about 0.7 s for a
year of 500 technicians by month (bench/README.md).

Rows are immutable like cache entries: the key names the question, scope,
plugins, settings and the data versions of the month, so a row from an older
plugin set or older data is never asked for again. The retention job
(``core.kpi_sums_retention``) deletes rows not read for
``KPI_SUMS_RETENTION_DAYS`` and short-lived ones (keys of a month whose outcome
window is still open, judged to the hour) after a few hours.

The tier never fails a request: a missing table (a database not migrated yet),
a database error or a row whose checksum does not match its value (truncated,
corrupt) is a miss, logged, and the sums are computed; a corrupt row is then
replaced. Writes go through one background thread per database, in batches, so
that a request never waits for SQLite's write lock (:meth:`PersistedSums.flush`
waits for them).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import weakref
import zlib
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from kpi_core.config import Settings
from kpi_core.jobs.context import JobContext
from kpi_core.kpis.cache import ResultCache, shared_cache
from kpi_core.storage.db import WRITE_OPTION
from kpi_core.storage.models import PersistedKpiSums
from kpi_core.storage.types import utcnow

log = logging.getLogger(__name__)

SHORT_LIVED = "hour:"
"""Prefix of keys that can be asked for during one hour only (sums judged at an hour): kept a few hours."""
SHORT_LIVED_HOURS = 3
READ_MARK_EVERY = timedelta(days=1)
"""A row's ``read_at`` is moved forward at most this often: reads stay reads, not writes."""
MAX_PENDING_BYTES = 64 * 1024 * 1024
"""Writes waiting for the writer thread beyond this are dropped (the front cache still has them)."""
BATCH_ROWS = 50
WARN_EVERY_SECONDS = 60.0

FRONT, PERSISTED = "front", "persisted"


def checksum(value: bytes) -> str:
    return hashlib.sha256(value).hexdigest()


class PersistedSums:
    """A :class:`~kpi_core.kpis.cache.ResultCache` over table ``kpi_persisted_sums`` of one database.

    ``ttl`` is ignored: rows live until the retention job deletes them. Use :func:`persisted_sums`
    for the one instance of an engine (it owns the writer thread)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = weakref.ref(engine)  # the engine's memo must not keep it alive
        self._dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._lock = threading.Condition()
        self._pending: dict[str, bytes] = {}  # compressed values to write, by key
        self._pending_bytes = 0
        self._touch: set[str] = set()  # keys read whose read_at is old
        self._writer: threading.Thread | None = None
        self._warned_at = 0.0

    def get(self, key: str) -> bytes | None:
        with self._lock:
            waiting = self._pending.get(key)
        if waiting is not None:
            return zlib.decompress(waiting)
        engine = self._engine()
        if engine is None:
            return None
        table = PersistedKpiSums.__table__
        try:
            with engine.connect() as connection:
                row = connection.execute(
                    select(table.c.value, table.c.checksum, table.c.read_at).where(table.c.key == key)
                ).first()
        except SQLAlchemyError as exc:
            self._warn("KPI sums could not be read from the database, computing them: %s", exc)
            return None
        if row is None:
            return None
        value = _verified(row.value, row.checksum)
        if value is None:
            log.warning("persisted KPI sums %s are corrupt (checksum or compression): computed again", key[:16])
            return None
        if row.read_at is None or row.read_at < utcnow() - READ_MARK_EVERY:
            self._later(touch=[key])
        return value

    def set(self, key: str, value: bytes, ttl: int = 0) -> None:
        self._later(rows={key: zlib.compress(value, 1)})

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every write asked for so far is in the database (or given up); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._writer is not None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def _later(self, *, rows: dict[str, bytes] | None = None, touch: Iterable[str] = ()) -> None:
        with self._lock:
            for key, value in (rows or {}).items():
                if self._pending_bytes + len(value) > MAX_PENDING_BYTES:
                    self._warn("KPI sums waiting to be persisted exceed %d bytes: not kept", MAX_PENDING_BYTES)
                    break
                self._pending_bytes += len(value) - len(self._pending.get(key, b""))
                self._pending[key] = value
            self._touch.update(touch)
            if self._writer is None and (self._pending or self._touch):
                self._writer = threading.Thread(target=self._drain, name="kpi-sums-writer", daemon=True)
                self._writer.start()

    def _drain(self) -> None:
        while True:
            with self._lock:
                # Rows stay readable from memory until their transaction commits.
                rows, touch, self._touch = dict(self._pending), self._touch, set()
                if not rows and not touch:
                    self._writer = None
                    self._lock.notify_all()
                    return
            try:
                self._write(rows, touch - set(rows))
            except SQLAlchemyError as exc:
                self._warn("KPI sums could not be persisted (they stay in the front cache): %s", exc)
            except Exception:  # the thread must end cleanly whatever happens, or flush() would wait forever
                log.exception("the KPI sums writer failed")
            with self._lock:
                for key, value in rows.items():
                    if self._pending.get(key) is value:  # not set again meanwhile
                        del self._pending[key]
                        self._pending_bytes -= len(value)

    def _write(self, rows: dict[str, bytes], touch: set[str]) -> None:
        engine = self._engine()
        if engine is None:
            return
        table = PersistedKpiSums.__table__
        now = utcnow()
        items = [
            {"key": key, "value": value, "checksum": checksum(value), "created_at": now, "read_at": now}
            for key, value in rows.items()
        ]
        with engine.connect() as connection:
            # SQLite: take the write lock up front (storage/db.py), so a busy database queues this thread.
            connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                for start in range(0, len(items), BATCH_ROWS):
                    statement = self._dialect.insert(table).values(items[start : start + BATCH_ROWS])
                    # A row already there is the same sums, or a corrupt copy of them: replaced either way.
                    replaced = ("value", "checksum", "created_at", "read_at")
                    statement = statement.on_conflict_do_update(
                        index_elements=[table.c.key], set_={name: statement.excluded[name] for name in replaced}
                    )
                    connection.execute(statement)
                if touch:
                    connection.execute(update(table).where(table.c.key.in_(sorted(touch))).values(read_at=now))

    def _warn(self, message: str, *args: object) -> None:
        # One line a minute: a database without the table would otherwise log on every request.
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning(message, *args)


def _verified(value: bytes | None, expected: str | None) -> bytes | None:
    if value is None or expected is None or checksum(bytes(value)) != expected:
        return None
    try:
        return zlib.decompress(value)
    except zlib.error:
        return None


class TieredCache:
    """Memory or Redis in front (``front``), the database behind (``back``): reads try the front first
    and fill it from the back; writes go to both. :meth:`get_from` also says which tier answered."""

    def __init__(self, front: ResultCache | None, back: PersistedSums, ttl: int) -> None:
        self.front, self.back, self.ttl = front, back, ttl

    def get_from(self, key: str) -> tuple[bytes | None, str | None]:
        """``(value, tier)``: tier is ``front``, ``persisted`` or None for a miss."""
        found = self.front.get(key) if self.front is not None else None
        if found is not None:
            return found, FRONT
        found = self.back.get(key)
        if found is None:
            return None, None
        if self.front is not None:
            self.front.set(key, found, self.ttl)
        return found, PERSISTED

    def get(self, key: str) -> bytes | None:
        return self.get_from(key)[0]

    def set(self, key: str, value: bytes, ttl: int) -> None:
        if self.front is not None:
            self.front.set(key, value, ttl)
        self.back.set(key, value, ttl)


_stores: weakref.WeakKeyDictionary[Engine, PersistedSums] = weakref.WeakKeyDictionary()
_stores_lock = threading.Lock()


def persisted_sums(engine: Engine) -> PersistedSums:
    """The persisted tier of ``engine``'s database (one per engine and process)."""
    with _stores_lock:
        store = _stores.get(engine)
        if store is None:
            store = _stores[engine] = PersistedSums(engine)
        return store


def sums_cache(settings: Settings, engine: Engine) -> TieredCache | None:
    """Where this process keeps per-month KPI sums: the front cache (Redis or memory) and the database.

    None when ``KPI_CACHE_TTL`` is 0: the cache is off, and so is the persisted tier (every answer is
    computed from the facts, as when checking a figure)."""
    front = shared_cache(settings)
    if front is None:
        return None
    return TieredCache(front, persisted_sums(engine), settings.cache_ttl)


def delete_old_sums(engine: Engine, *, unread_before: datetime, short_lived_before: datetime) -> int:
    """Delete rows not read since ``unread_before`` and short-lived rows made before ``short_lived_before``."""
    table = PersistedKpiSums.__table__
    with engine.connect() as connection:
        connection.execution_options(**{WRITE_OPTION: True})
        with connection.begin():
            unread = connection.execute(delete(table).where(table.c.read_at < unread_before)).rowcount
            hourly = connection.execute(
                delete(table).where(table.c.key.startswith(SHORT_LIVED), table.c.created_at < short_lived_before)
            ).rowcount
    return int(unread or 0) + int(hourly or 0)


def remove_old_sums(context: JobContext) -> dict[str, object]:
    """The ``core.kpi_sums_retention`` job: delete persisted sums not read for KPI_SUMS_RETENTION_DAYS, and
    short-lived ones (judged at an hour that has passed) made more than a few hours ago."""
    days = context.settings.sums_retention_days
    now = utcnow()
    unread_before = now - timedelta(days=days)
    context.progress(0, f"deleting KPI sums not read since {unread_before:%Y-%m-%d %H:%M} UTC")
    removed = delete_old_sums(
        context.engine, unread_before=unread_before, short_lived_before=now - timedelta(hours=SHORT_LIVED_HOURS)
    )
    context.progress(100, f"deleted {removed} months of KPI sums")
    return {"removed": removed, "retention_days": days, "unread_before": unread_before.isoformat()}
