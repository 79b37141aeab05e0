"""Concurrent imports take turns on PostgreSQL, so two files naming the same new reference create it once."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

IMPORT_LOCK_KEY = 0x4B504901  # any constant: the PostgreSQL advisory lock that serialises imports


def wait_for_other_imports(session: Session) -> None:
    """Hold the import lock until this transaction ends (reentrant; call before each batch's lookups).

    Two imports that both look up a new job or customer reference and find it missing would both
    insert it, and the second would fail on the unique index. Taking turns, the second one's lookups
    (each statement sees what committed before it, under READ COMMITTED) find the first one's rows.
    On SQLite writers already take turns: they begin with the database's write lock (BEGIN IMMEDIATE).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(IMPORT_LOCK_KEY)))
