"""Portable SQL building blocks the engine hands to metric declarations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class epoch(FunctionElement[float]):
    """Seconds since 1970-01-01 UTC of a timestamp, on SQLite and PostgreSQL."""

    type = Float()
    inherit_cache = True


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: Any, **kw: Any) -> str:
    # julianday keeps fractional seconds (strftime('%s') does not) but is a float of days whose
    # last bits blur sub-millisecond: round to the millisecond so exact thresholds (arrival at
    # exactly +15 minutes) compare exactly.
    return f"(ROUND((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400000.0) / 1000.0)"


@compiles(epoch, "postgresql")
def _epoch_postgresql(element: epoch, compiler: Any, **kw: Any) -> str:
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"


@compiles(epoch)
def _epoch_default(element: epoch, compiler: Any, **kw: Any) -> str:
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"
