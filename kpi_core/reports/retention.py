"""Report retention: finished and failed report runs, with their files, are kept for a while, then deleted."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from kpi_core.audit.trail import Actor, record
from kpi_core.jobs.context import JobContext
from kpi_core.storage.db import engine_session
from kpi_core.storage.models import JobRun, ReportFile, ReportRun
from kpi_core.storage.types import utcnow

ENDED = ("finished", "failed")
BATCH = 500
RETENTION_ACTOR = Actor.system("report_retention")


def expired_reports(session: Session, cutoff: datetime) -> list[int]:
    """Ids of report runs that ended before ``cutoff``.

    A run ended when its job run finished or failed for good (queued and
    running ones are never touched); a run whose job run is gone counts from
    its own finish time, else from when it was asked for.
    """
    statement = (
        select(ReportRun.id)
        .outerjoin(JobRun, JobRun.id == ReportRun.job_run_id)
        .where(
            or_(
                and_(JobRun.id.is_not(None), JobRun.status.in_(ENDED), JobRun.finished_at < cutoff),
                and_(JobRun.id.is_(None), func.coalesce(ReportRun.finished_at, ReportRun.created_at) < cutoff),
            )
        )
        .order_by(ReportRun.id)
    )
    return list(session.scalars(statement))


def delete_expired_reports(session: Session, cutoff: datetime) -> int:
    """Delete the runs that ended before ``cutoff`` and their files (audited); returns how many."""
    ids = expired_reports(session, cutoff)
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        session.execute(delete(ReportFile).where(ReportFile.report_run_id.in_(batch)))
        session.execute(delete(ReportRun).where(ReportRun.id.in_(batch)))
    if ids:
        record(session, RETENTION_ACTOR, "delete", "report_run", None, before={"ids": ids, "ended_before": cutoff})
    return len(ids)


def remove_old_reports(context: JobContext) -> dict[str, object]:
    """The ``core.report_retention`` job: delete what ended more than KPI_REPORT_RETENTION_DAYS ago."""
    days = context.settings.report_retention_days
    cutoff = utcnow() - timedelta(days=days)
    context.progress(0, f"deleting reports that ended before {cutoff:%Y-%m-%d %H:%M} UTC")
    with engine_session(context.engine, write=True) as session:
        removed = delete_expired_reports(session, cutoff)
    context.progress(100, f"deleted {removed} reports")
    return {"removed": removed, "retention_days": days, "ended_before": cutoff.isoformat()}
