"""Reference -> id lookups for imports, fetched per batch and cached for the rest of the file.

Rows are read through the driver, as it returns them (kpi_core/storage/bulk.py): a timestamp on SQLite is
its stored text. Each query is compiled once per import for a few list sizes (a short list is padded
with its last reference), not expanded by SQLAlchemy for every batch; each row found is kept as a named
tuple (reading a field of one is several times quicker than of a SQLAlchemy row, and it is read often).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from kpi_core.storage.bulk import driver_sql
from kpi_core.storage.models import Customer, Job, Technician

LOOKUP_CHUNK = 900  # below SQLite's default limit of bound parameters per statement
_SIZES = (16, 128, LOOKUP_CHUNK)


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield values[start : start + LOOKUP_CHUNK]


class RefCache:
    """Caches ``external_ref -> row`` for one model over a whole import."""

    def __init__(self, session: Session, columns: tuple[Any, ...], ref_column: Any) -> None:
        self.session = session
        self.columns = columns
        self.ref_column = ref_column
        self.known: dict[str, Any] = {}
        self.missing: set[str] = set()
        self.get = self.known.get
        """The row of a reference looked up, or None (the dict's own method: called for every row)."""
        self._statements: dict[int, str] = {}
        names = [column.key for column in (ref_column, *columns)]
        self._row = namedtuple("Found", names, rename=True)._make  # type: ignore[misc]

    def load(self, refs: Iterable[str]) -> None:
        wanted = sorted({ref for ref in refs if ref and ref not in self.known and ref not in self.missing})
        connection = self.session.connection()
        for chunk in _chunks(wanted):
            size = next(size for size in _SIZES if size >= len(chunk))
            refs_given = (*chunk, *(chunk[-1],) * (size - len(chunk)))
            found = map(self._row, connection.exec_driver_sql(self._sql(size), refs_given))
            self.known.update((row[0], row) for row in found)
        self.missing.update(ref for ref in wanted if ref not in self.known)

    def _sql(self, size: int) -> str:
        sql = self._statements.get(size)
        if sql is None:
            names = [f"ref_{index}" for index in range(size)]
            query = select(self.ref_column, *self.columns).where(self.ref_column.in_([bindparam(n) for n in names]))
            sql = self._statements[size] = driver_sql(query, self.session.get_bind().dialect, names)
        return sql

    def clear(self) -> None:
        """Forget everything looked up so far (it is looked up again when needed)."""
        self.known.clear()
        self.missing.clear()

    def add(self, ref: str, row: Any) -> None:
        self.known[ref] = row
        self.missing.discard(ref)


def technicians(session: Session) -> RefCache:
    return RefCache(session, (Technician.id, Technician.team_id), Technician.external_ref)


def customers(session: Session) -> RefCache:
    return RefCache(session, (Customer.id, Customer.name), Customer.external_ref)


def jobs(session: Session, *columns: Any) -> RefCache:
    return RefCache(session, (Job.id, Job.technician_id, *columns), Job.external_ref)
