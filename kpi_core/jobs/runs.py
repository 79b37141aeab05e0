"""The job_runs table: each state change of a run in its own short, guarded transaction.

Every write after the run is created names the attempt it belongs to
(``attempts`` is bumped when an attempt starts), so a late answer from an
attempt that was given up on (timed out, or its worker presumed dead) can
never overwrite the outcome of a newer one, and a run finishes at most once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from kpi_core.audit.trail import Actor
from kpi_core.errors import NotFound
from kpi_core.storage.db import Database
from kpi_core.storage.models import JobRun
from kpi_core.storage.types import utcnow

ACTIVE = ("queued", "running")
MESSAGE_LENGTH = 500


@dataclass(frozen=True)
class Attempt:
    """One started attempt of a run: what to run and which attempt number owns the row."""

    run_id: int
    number: int
    max_attempts: int
    job_key: str
    params: dict[str, Any]
    upload: dict[str, Any] | None = None
    """The file uploaded for the run (``job_runs.upload``), for a job that takes one."""


def new_dispatch_id() -> str:
    """A fresh id for one hand-over of a run to a queue (never reused, unlike row ids after a restore)."""
    return uuid.uuid4().hex


def create_run(
    session: Session,
    *,
    job_key: str,
    params: Mapping[str, Any],
    max_attempts: int,
    backend: str,
    requested_by: Actor,
    schedule_id: int | None = None,
    upload: Mapping[str, Any] | None = None,
) -> JobRun:
    """Add a queued run in the caller's transaction (flushed, so it has an id)."""
    run = JobRun(
        job_key=job_key,
        params=dict(params),
        status="queued",
        progress=0,
        attempts=0,
        max_attempts=max_attempts,
        backend=backend,
        dispatch_id=new_dispatch_id(),
        requested_by_id=requested_by.user_id,
        requested_by=requested_by.username,
        schedule_id=schedule_id,
        created_at=utcnow(),
        upload=dict(upload) if upload else None,
    )
    session.add(run)
    session.flush()
    return run


def run_exists(database: Database, run_id: int) -> bool:
    with database.session(write=False) as session:
        return session.get(JobRun, run_id) is not None


def start_attempt(
    database: Database, run_id: int, dispatch_id: str, *, worker: str, allow_running: bool
) -> Attempt | None:
    """Claim the next attempt of a run; None if it is done, or this dispatch is stale.

    ``allow_running`` lets a queue that re-delivers a job only after it gave
    its previous attempt up for dead (RQ) start over a run still marked running.
    """
    statuses = ACTIVE if allow_running else ("queued",)
    with database.session() as session:
        claimed = session.execute(
            update(JobRun)
            .where(JobRun.id == run_id, JobRun.dispatch_id == dispatch_id, JobRun.status.in_(statuses))
            .values(
                status="running",
                attempts=JobRun.attempts + 1,
                started_at=utcnow(),
                worker=worker[:200],
                progress=0,
                message=None,
                next_attempt_at=None,
            )
        )
        if claimed.rowcount != 1:
            return None
        run = session.execute(select(JobRun).where(JobRun.id == run_id)).scalar_one()
        return Attempt(run.id, run.attempts, run.max_attempts, run.job_key, dict(run.params or {}), run.upload)


def _guarded(
    database: Database, run_id: int, attempt: int | None, statuses: tuple[str, ...] = ("running",), **values: Any
) -> bool:
    """Update the run only in ``statuses`` (and, given ``attempt``, still on that attempt)."""
    statement = update(JobRun).where(JobRun.id == run_id, JobRun.status.in_(statuses))
    if attempt is not None:
        statement = statement.where(JobRun.attempts == attempt)
    with database.session() as session:
        return session.execute(statement.values(**values)).rowcount == 1


def record_progress(database: Database, attempt: Attempt, percent: int, message: str) -> bool:
    return _guarded(database, attempt.run_id, attempt.number, progress=percent, message=message[:MESSAGE_LENGTH])


def record_success(database: Database, attempt: Attempt, result: Any) -> bool:
    """Finish the run with its JSON result; False if this attempt no longer owns the run."""
    return _guarded(
        database,
        attempt.run_id,
        attempt.number,
        status="finished",
        progress=100,
        result=result,
        error=None,
        traceback=None,
        finished_at=utcnow(),
    )


def record_failure(
    database: Database,
    run_id: int,
    attempt: int | None,
    *,
    error: str,
    traceback: str | None,
    retry_at: datetime | None,
    statuses: tuple[str, ...] = ("running",),
) -> bool:
    """Record a failed attempt: queued again for ``retry_at``, or failed for good when it is None.

    ``attempt`` None records the loss of whatever attempt was running (its
    worker died without a word); that is how the queue's own clean-up reports it.
    """
    final = {"finished_at": utcnow()} if retry_at is None else {}
    return _guarded(
        database,
        run_id,
        attempt,
        statuses,
        status="failed" if retry_at is None else "queued",
        error=error,
        traceback=traceback,
        next_attempt_at=retry_at,
        **final,
    )


def redispatch(session: Session, run: JobRun) -> str:
    """Give a queued run a new dispatch id (its queue message was lost); the old one goes stale."""
    run.dispatch_id = new_dispatch_id()
    session.flush()
    return run.dispatch_id


def get_run(session: Session, run_id: int) -> JobRun:
    run = session.get(JobRun, run_id)
    if run is None:
        raise NotFound(f"no job run with id {run_id}")
    return run


def run_query(*, status: str | None = None, job_key: str | None = None) -> Select[tuple[JobRun]]:
    """Runs, newest first, optionally of one status and one job key."""
    statement = select(JobRun)
    if status:
        statement = statement.where(JobRun.status == status)
    if job_key:
        statement = statement.where(JobRun.job_key == job_key)
    return statement.order_by(JobRun.created_at.desc(), JobRun.id.desc())
