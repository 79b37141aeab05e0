"""Cold months scanned on several connections at once, where the database can and the session allows.

A year with no cached month is one statement over the facts of twelve months. SQLite runs a
statement on one core, and PostgreSQL 15 aggregates the engine's statement on its leader alone
(bench/README.md), so a second core sits idle while the first dashboard of the day is built. Split
into consecutive runs of months, each run on a connection of its own in a thread (the drivers let go
of the GIL while the database works), the scan takes about half the time on two cores.

Helpers are shared by the process: a cold answer takes the helpers that are free and scans the rest
itself, so a busy server never opens more connections than ``HELPERS`` besides its requests' own.
Only a session that sees what every other connection sees may be helped: one on an engine (not
bound to an outer transaction) with no uncommitted changes to facts, on a database other
connections can open (not SQLite's ``:memory:``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from kpi_core.storage import versions

Item = TypeVar("Item")
Result = TypeVar("Result")

HELPERS = max(0, min(3, (os.cpu_count() or 1) - 1))
"""Connections (and threads) per process that may scan beside a request's own: one fewer than the
cores, at most three."""

_free = threading.BoundedSemaphore(HELPERS) if HELPERS else None


def split_scan(
    session: Session, items: Sequence[Item], compute: Callable[[Session, Sequence[Item]], Result]
) -> list[Result]:
    """``compute(session, part)`` for consecutive parts of ``items``, in order: the first part on
    ``session``, each other on a new session of the same engine in a thread of its own. One part (the
    whole) where the session may not be helped, no helper is free, or there are fewer than two items."""
    engine = _helped_engine(session)
    taken = _take(len(items) - 1) if engine is not None else 0
    if not taken:
        return [compute(session, items)]
    try:
        parts = _parts(items, taken + 1)
        with ThreadPoolExecutor(taken, thread_name_prefix="kpi-scan") as pool:
            helped = [pool.submit(_on_own_session, engine, compute, part) for part in parts[1:]]
            first = compute(session, parts[0])
            return [first, *(future.result() for future in helped)]
    finally:
        for _ in range(taken):
            _free.release()  # type: ignore[union-attr]


def _helped_engine(session: Session) -> Engine | None:
    bind = session.get_bind()
    if not isinstance(bind, Engine):
        return None  # bound to an outer transaction (tests, migrations): other connections would not see it
    if session.info.get(versions.CHANGED) or session.new or session.dirty or session.deleted:
        return None  # changes only this transaction sees
    if bind.dialect.name == "sqlite" and bind.url.database in (None, "", ":memory:"):
        return None  # each connection to :memory: is a database of its own
    return bind


def _take(wanted: int) -> int:
    taken = 0
    while _free is not None and taken < min(wanted, HELPERS) and _free.acquire(blocking=False):
        taken += 1
    return taken


def _parts(items: Sequence[Item], count: int) -> list[Sequence[Item]]:
    """``items`` in ``count`` consecutive parts of sizes as even as they can be."""
    size, extra = divmod(len(items), count)
    parts, start = [], 0
    for index in range(count):
        end = start + size + (index < extra)
        parts.append(items[start:end])
        start = end
    return parts


def _on_own_session(
    engine: Engine, compute: Callable[[Session, Sequence[Item]], Result], part: Sequence[Item]
) -> Result:
    with Session(engine) as session:
        try:
            return compute(session, part)
        finally:
            session.rollback()  # it only read
