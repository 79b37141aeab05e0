"""Work to do once a session's transaction is really committed, not when a SAVEPOINT inside it is.

SQLAlchemy's ``after_commit`` and ``after_rollback`` session events also fire when a
``begin_nested()`` block ends: releasing a SAVEPOINT is a "commit" to them, though nothing is
visible to other connections until the outermost transaction commits, and it may still roll
back. Whoever reacts to a commit (the in-process job runner submitting a run, the data-version
watchers) asks :func:`ends_savepoint` first, or registers through :func:`call_after_commit`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

_CALLBACKS = "kpi_after_commit"
_LISTENING = "kpi_after_commit_listening"


def ends_savepoint(session: Session) -> bool:
    """In an ``after_commit``/``after_rollback`` listener: whether the event ends a SAVEPOINT only."""
    # While the event is dispatched, the nested transaction it ends is still the session's.
    return session.in_nested_transaction()


@dataclass(frozen=True)
class _Pending:
    callback: Callable[[], None]
    savepoint: SessionTransaction | None  # the innermost SAVEPOINT open when it was registered


def call_after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Call ``callback`` once ``session``'s outermost transaction commits; forget it if it rolls back.

    Registered inside a ``begin_nested()`` block, it survives the block's release and is forgotten
    if that SAVEPOINT (or the transaction) rolls back.
    """
    session.info.setdefault(_CALLBACKS, []).append(_Pending(callback, session.get_nested_transaction()))
    if not session.info.get(_LISTENING):
        session.info[_LISTENING] = True
        event.listen(session, "after_commit", _committed)
        event.listen(session, "after_rollback", _rolled_back)


def _committed(session: Session) -> None:
    if ends_savepoint(session):
        return
    pending, session.info[_CALLBACKS] = session.info.get(_CALLBACKS, []), []
    for item in pending:
        item.callback()


def _rolled_back(session: Session) -> None:
    ended = session.get_nested_transaction() if ends_savepoint(session) else None
    if ended is None:
        session.info[_CALLBACKS] = []
        return
    session.info[_CALLBACKS] = [item for item in session.info.get(_CALLBACKS, []) if not _within(item, ended)]


def _within(item: _Pending, savepoint: SessionTransaction) -> bool:
    transaction: Any = item.savepoint
    while transaction is not None:
        if transaction is savepoint:
            return True
        transaction = transaction.parent
    return False
