"""Idempotent creates: with an ``Idempotency-Key``, a retried create answers its first result.

A person double-clicks *Submit*, or their phone retries after a timeout: the
second request carries the same key as the first, so it gets the record the
first one created (with the same status) instead of creating another. Keys
belong to one user and one operation and are kept in the database
(``idempotency_keys``), so every app process sees them. The same key sent with
a different request is refused: a key names one request, not a session.

Concurrent requests with one key: on SQLite writers queue (BEGIN IMMEDIATE),
so the second finds the first's key; on PostgreSQL the second one's insert of
the key waits for the first to commit and then fails on the unique index, and
:func:`remember` answers the first one's row so the caller can roll back and
replay it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kpi_core.errors import Invalid
from kpi_core.storage.models import IdempotencyKey

HEADER = "Idempotency-Key"
KEY_MAX = 255
KEY_PATTERN = re.compile(r"^[\x21-\x7e]+$")
"""Visible ASCII, no spaces: a UUID is the usual key."""


def fingerprint(body: Mapping[str, Any]) -> str:
    """A hash of a request's (validated) body: what "the same request" means."""
    canonical = json.dumps(body, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def previous(session: Session, user_id: int, operation: str, key: str, body_hash: str) -> IdempotencyKey | None:
    """The stored first request with this key, or None; raises :class:`Invalid` naming the header
    when the key was used for a different request."""
    row = session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id, IdempotencyKey.operation == operation, IdempotencyKey.key == key
        )
    )
    if row is not None and row.fingerprint != body_hash:
        raise Invalid(
            HEADER,
            "This key was already used for a different request: send a new key with each new form",
            location="headers",
        )
    return row


def remember(
    session: Session, user_id: int, operation: str, key: str, body_hash: str, *, status_code: int, resource_id: int
) -> IdempotencyKey | None:
    """Keep the key with what its request created. Returns None, or, when a concurrent request with
    the same key committed first, that request's row (the caller then rolls back and answers it)."""
    try:
        with session.begin_nested():
            session.add(
                IdempotencyKey(
                    user_id=user_id,
                    operation=operation,
                    key=key,
                    fingerprint=body_hash,
                    status_code=status_code,
                    resource_id=resource_id,
                )
            )
    except IntegrityError:
        return previous(session, user_id, operation, key, body_hash)
    return None
