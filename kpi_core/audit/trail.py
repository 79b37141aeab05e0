"""The append-only audit trail: who changed what, when, with a hash chain.

Entries are written by the services in the same transaction as the change
they describe, so a failed request leaves neither. Each entry's hash covers
its content and the previous entry's hash; `kpi audit verify` walks the
chain and names the first entry that no longer matches.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from kpi_core.storage.models import AuditEntry
from kpi_core.storage.types import utcnow

AUDIT_LOCK_KEY = 0x4B5049  # any constant: PostgreSQL advisory lock serialising the chain
REDACTED_FIELDS = frozenset({"password_hash"})


@dataclass(frozen=True)
class Actor:
    """Who is making a change, and from where."""

    user_id: int | None
    username: str | None
    request_id: str | None = None
    ip: str | None = None

    @classmethod
    def system(cls, name: str) -> Actor:
        """A change made by the command line or a background job rather than a user."""
        return cls(user_id=None, username=name)


def json_safe(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return value


def snapshot(obj: Any, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The column values of an ORM object as JSON-safe data; secrets are left out."""
    skipped = set(exclude) | REDACTED_FIELDS | {"created_at", "updated_at"}
    return {
        attr.key: json_safe(getattr(obj, attr.key))
        for attr in inspect(obj).mapper.column_attrs
        if attr.key not in skipped
    }


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, list[Any]]:
    """Changed fields as ``{field: [old, new]}`` (a creation has old None, a deletion new None)."""
    before, after = before or {}, after or {}
    changes = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            changes[key] = [old, new]
    return changes


def _canonical(entry: AuditEntry) -> bytes:
    content = {
        "at": entry.at.isoformat(),
        "user_id": entry.user_id,
        "username": entry.username,
        "action": entry.action,
        "entity": entry.entity,
        "entity_id": entry.entity_id,
        "changes": entry.changes,
        "request_id": entry.request_id,
        "ip": entry.ip,
        "prev_hash": entry.prev_hash,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=str).encode()


def entry_hash(entry: AuditEntry) -> str:
    return hashlib.sha256(_canonical(entry)).hexdigest()


def record(
    session: Session,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object = None,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry in the caller's transaction; it commits or rolls back with the change."""
    if session.get_bind().dialect.name == "postgresql":
        # Concurrent writers must not both chain onto the same previous entry.
        session.execute(select(func.pg_advisory_xact_lock(AUDIT_LOCK_KEY)))
    # On SQLite writers already hold the database's write lock (BEGIN IMMEDIATE).
    previous = session.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
    entry = AuditEntry(
        at=utcnow(),
        user_id=actor.user_id,
        username=actor.username,
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        changes=json_safe(diff(before, after)),
        request_id=actor.request_id,
        ip=actor.ip,
        prev_hash=previous,
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainCheck:
    checked: int
    broken_at: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_chain(session: Session) -> ChainCheck:
    """Recompute every entry's hash in order; report the first that does not match."""
    previous: str | None = None
    checked = 0
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.id).execution_options(yield_per=1000)):
        if entry.prev_hash != previous:
            return ChainCheck(checked, entry.id, "its link to the previous entry does not match (entry removed?)")
        if entry_hash(entry) != entry.hash:
            return ChainCheck(checked, entry.id, "its content no longer matches its hash (entry edited?)")
        previous = entry.hash
        checked += 1
    return ChainCheck(checked)
