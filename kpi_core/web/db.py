"""The request's database session: one per request, committed explicitly by the view."""

from __future__ import annotations

from flask import Flask, g, request
from sqlalchemy.orm import Session

from kpi_core.web.state import app_state

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def db_session() -> Session:
    """The session of this request. Writes become visible only when the view calls ``commit()``,
    so a request that fails part-way leaves nothing half-written."""
    if "db_session" not in g:
        g.db_session = app_state().database.open_session(write=request.method not in SAFE_METHODS)
    return g.db_session


def commit() -> None:
    db_session().commit()


def close_request_session() -> None:
    """End the request's session, undoing anything uncommitted (done after every request; earlier by
    whatever must write once the request is over, so that it does not wait on the request's own lock)."""
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback()  # no-op after a commit; undoes anything uncommitted
        session.close()


def install(app: Flask) -> None:
    @app.teardown_request
    def close_session(_exc: BaseException | None) -> None:
        close_request_session()
