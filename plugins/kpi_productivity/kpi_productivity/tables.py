"""The plugin's own table, ``productivity_shifts``, as SQLAlchemy Core sees it.

It lives in the plugin's own MetaData (the host's models never know it);
the schema is made by the plugin's migrations in ``migrations/``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Integer, MetaData, String, Table, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData()


class UTCTimestamp(TypeDecorator[datetime]):
    """A UTC instant, stored like the host's timestamps (naive UTC on SQLite) so the two compare in SQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


shifts = Table(
    "productivity_shifts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("technician_id", Integer, ForeignKey("technicians.id", ondelete="CASCADE"), nullable=False),
    Column("starts_at", UTCTimestamp, nullable=False),
    Column("ends_at", UTCTimestamp, nullable=False),
    UniqueConstraint("technician_id", "starts_at", name="uq_productivity_shifts_technician_start"),
)
"""One scheduled shift of one technician: [starts_at, ends_at) in UTC; a technician's shifts never overlap."""

technicians = Table(
    "technicians",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("external_ref", String(64)),
)
"""The host's technicians, only as far as the shift import needs them (id by external reference)."""
