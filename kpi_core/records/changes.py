"""Audited create / update / delete of ORM records, shared by every record service."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kpi_core.audit.trail import Actor, record, snapshot
from kpi_core.errors import Conflict

T = TypeVar("T")


IN_USE = "is already in use; choose another"
"""The one answer for a unique value another record holds. It never says which record, or whose: the
holder may be outside the caller's scope (docs/permissions.md, "What a caller outside a record's scope sees")."""


def ensure_unique(session: Session, model: Any, field: str, value: Any, *, exclude_id: int | None = None) -> None:
    """Raise :class:`Conflict` naming ``field`` (message :data:`IN_USE`) if another record already has ``value``."""
    column = getattr(model, field)
    query = select(model.id).where(column == value)
    if exclude_id is not None:
        query = query.where(model.id != exclude_id)
    if session.scalar(query.limit(1)) is not None:
        raise Conflict(field, IN_USE)


@contextmanager
def savepoint(field: str, message: str, session: Session) -> Iterator[None]:
    """Make the changes of the block inside a SAVEPOINT; a constraint they break becomes a 409 naming
    ``field`` while the request's transaction stays usable.

    The changes must be made *inside* the block: ``begin_nested`` flushes what is already pending
    before the SAVEPOINT starts, where an IntegrityError would spoil the whole transaction.
    """
    try:
        with session.begin_nested():
            yield
            session.flush()
    except IntegrityError:
        raise Conflict(field, message) from None


RACE_LOST = "was just taken by a concurrent change; reload and try again"


def create(session: Session, actor: Actor, entity: str, obj: T, unique_field: str = "id") -> T:
    with savepoint(unique_field, RACE_LOST, session):
        session.add(obj)
    record(session, actor, "create", entity, obj.id, after=snapshot(obj))  # type: ignore[attr-defined]
    return obj


def update(
    session: Session,
    actor: Actor,
    entity: str,
    obj: T,
    changes: Mapping[str, Any],
    unique_field: str = "id",
    check: Callable[[T], None] | None = None,
) -> T:
    """Apply ``changes`` (field -> value), run ``check`` on the result, audit the diff."""
    before = snapshot(obj)
    with savepoint(unique_field, RACE_LOST, session):
        for name, value in changes.items():
            setattr(obj, name, value)
        if check is not None:
            check(obj)
    after = snapshot(obj)
    if after != before:
        record(session, actor, "update", entity, obj.id, before=before, after=after)  # type: ignore[attr-defined]
    return obj


def delete(session: Session, actor: Actor, entity: str, obj: Any, blocked_by: str | None = None) -> None:
    """Delete ``obj``; if rows still refer to it, answer 409 naming ``blocked_by``."""
    before = snapshot(obj)
    with savepoint(blocked_by or entity, f"this {entity} is still referred to and cannot be deleted", session):
        session.delete(obj)
    record(session, actor, "delete", entity, before.get("id"), before=before)
