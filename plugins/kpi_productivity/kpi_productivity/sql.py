"""Portable SQL pieces the productivity KPIs need (SQLite and PostgreSQL): local days and day shifts.

A *local day number* is the number of whole days since 1970-01-01 in a time
zone, computed in SQL from a UTC timestamp: the zone's UTC offset at that
instant comes from a CASE over the zone's offset changes (from Python's
zoneinfo), so SQLite, which knows no time zones, gets DST right too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, case, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

DAY = 86_400
FIRST_YEAR, LAST_YEAR = 2000, 2060
"""Offset changes are listed for these years; before and after, the first and last offsets hold."""


@lru_cache(maxsize=16)
def offset_changes(zone: str) -> tuple[int, tuple[tuple[int, int], ...]]:
    """(offset before the first change, ((UTC epoch second of a change, offset from then on), ...)) of ``zone``."""
    tz = ZoneInfo(zone)

    def offset(second: int) -> int:
        return int(datetime.fromtimestamp(second, tz).utcoffset().total_seconds())  # type: ignore[union-attr]

    start = int(datetime(FIRST_YEAR, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(LAST_YEAR, 1, 1, tzinfo=UTC).timestamp())
    changes, current = [], offset(start)
    for day in range(start, end, DAY):
        if offset(day + DAY) == current:
            continue
        low, high = day, day + DAY  # offset(low) == current != offset(high): find the first second that differs
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if offset(middle) == current else (low, middle)
        current = offset(high)
        changes.append((high, current))
    return offset(start), tuple(changes)


def _int(value: int) -> Any:
    # A literal, not a parameter: PostgreSQL must know the type inside CASE, and the SQL stays cacheable.
    return literal_column(str(int(value)), Integer)


def utc_offset(epoch_seconds: Any, zone: str) -> Any:
    """The UTC offset of ``zone`` in seconds at ``epoch_seconds`` (a binary search in CASEs)."""
    first, changes = offset_changes(zone)
    offsets = [first, *(offset for _, offset in changes)]
    instants = [instant for instant, _ in changes]

    def search(low: int, high: int) -> Any:  # offsets[low..high]; instants[i] starts offsets[i + 1]
        if low == high:
            return _int(offsets[low])
        middle = (low + high + 1) // 2
        return case((epoch_seconds < _int(instants[middle - 1]), search(low, middle - 1)), else_=search(middle, high))

    return search(0, len(offsets) - 1)


class whole_days(FunctionElement[int]):
    """floor(seconds / 86400) for seconds >= 0, on SQLite and PostgreSQL."""

    type = Integer()
    inherit_cache = True


@compiles(whole_days, "sqlite")
def _whole_days_sqlite(element: whole_days, compiler: Any, **kw: Any) -> str:
    # CAST truncates toward zero: the floor for the non-negative epochs of real jobs.
    return f"CAST(({compiler.process(element.clauses, **kw)}) / {DAY}.0 AS INTEGER)"


@compiles(whole_days)
def _whole_days_default(element: whole_days, compiler: Any, **kw: Any) -> str:
    return f"CAST(FLOOR(({compiler.process(element.clauses, **kw)}) / {DAY}.0) AS INTEGER)"


def local_day(epoch: Any, timestamp: Any, zone: str) -> Any:
    """The local day number of ``timestamp`` in ``zone``; ``epoch`` is the host's MetricContext.epoch."""
    seconds = epoch(timestamp)
    return whole_days(seconds + utc_offset(seconds, zone))


class days_later(FunctionElement[Any]):
    """``timestamp`` shifted by ``days`` whole days, comparable with the host's timestamp columns."""

    inherit_cache = True

    def __init__(self, timestamp: Any, days: int) -> None:
        # The shift is a literal clause (not an attribute) so it is part of SQLAlchemy's cache key.
        super().__init__(timestamp, literal_column(f"'{int(days):+d} days'"))
        self.type = timestamp.type


@compiles(days_later, "sqlite")
def _days_later_sqlite(element: days_later, compiler: Any, **kw: Any) -> str:
    # The host stores naive UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'; datetime() answers the same layout.
    timestamp, shift = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"datetime({timestamp}, {shift})"


@compiles(days_later)
def _days_later_default(element: days_later, compiler: Any, **kw: Any) -> str:
    timestamp, shift = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({timestamp} + CAST({shift} AS INTERVAL))"
