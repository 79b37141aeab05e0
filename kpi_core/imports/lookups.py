"""Reference -> id lookups for imports, fetched per batch and cached for the rest of the file."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kpi_core.storage.models import Customer, Job, Technician

LOOKUP_CHUNK = 900  # below SQLite's default limit of bound parameters per statement


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

    def load(self, refs: Iterable[str]) -> None:
        wanted = sorted({ref for ref in refs if ref and ref not in self.known and ref not in self.missing})
        # Through the connection: plain rows, without the ORM's per-row loading work.
        connection = self.session.connection()
        for chunk in _chunks(wanted):
            query = select(self.ref_column, *self.columns).where(self.ref_column.in_(chunk))
            self.known.update((row[0], row) for row in connection.execute(query).all())
        self.missing.update(ref for ref in wanted if ref not in self.known)

    def clear(self) -> None:
        """Forget everything looked up so far (it is looked up again when needed)."""
        self.known.clear()
        self.missing.clear()

    def get(self, ref: str) -> Any:
        return self.known.get(ref)

    def add(self, ref: str, row: Any) -> None:
        self.known[ref] = row
        self.missing.discard(ref)


def technicians(session: Session) -> RefCache:
    return RefCache(session, (Technician.id, Technician.team_id), Technician.external_ref)


def customers(session: Session) -> RefCache:
    return RefCache(session, (Customer.id, Customer.name), Customer.external_ref)


def jobs(session: Session, *columns: Any) -> RefCache:
    return RefCache(session, (Job.id, Job.technician_id, *columns), Job.external_ref)
