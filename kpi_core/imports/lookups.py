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
        for chunk in _chunks(wanted):
            for row in self.session.execute(select(self.ref_column, *self.columns).where(self.ref_column.in_(chunk))):
                self.known[row[0]] = row
        self.missing.update(ref for ref in wanted if ref not in self.known)

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
