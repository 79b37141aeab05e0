"""Message retention: sent and failed messages, with the .eml files written for them, are kept for
``KPI_MESSAGE_RETENTION_DAYS``, then deleted by the daily ``notify.retention`` job.

A message still waiting (queued, or being sent) is never touched, however old. A replay keeps its
own row: it only loses the link to the delivery it copied. The files go after their rows are
committed, so a failed run leaves at worst a file with no row, which the next run does not see
but which can do no harm; never a row whose file is gone.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from kpi_core.audit.trail import Actor, record
from kpi_core.jobs.context import JobContext
from kpi_core.notify.written import written_file
from kpi_core.storage.db import engine_session
from kpi_core.storage.models import NotificationMessage
from kpi_core.storage.types import utcnow

log = logging.getLogger(__name__)

JOB_KEY = "notify.retention"
SCHEDULE = "55 3 * * *"
ENDED = ("sent", "failed")
BATCH = 500
RETENTION_ACTOR = Actor.system("message_retention")


def expired_messages(session: Session, cutoff: datetime) -> list[NotificationMessage]:
    """Sent and failed messages that ended before ``cutoff`` (sent or failed then; else last changed)."""
    ended_at = func.coalesce(NotificationMessage.sent_at, NotificationMessage.failed_at, NotificationMessage.updated_at)
    statement = (
        select(NotificationMessage)
        .where(NotificationMessage.status.in_(ENDED), ended_at < cutoff)
        .order_by(NotificationMessage.id)
    )
    return list(session.scalars(statement))


def delete_expired_messages(session: Session, cutoff: datetime, data_dir: Path) -> tuple[list[int], list[Path]]:
    """Delete the messages that ended before ``cutoff`` (audited); their ids and the files to remove once
    the caller has committed."""
    messages = expired_messages(session, cutoff)
    files = [path for path in (written_file(message, data_dir) for message in messages) if path is not None]
    ids = [message.id for message in messages]
    session.expunge_all()
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        # Said here rather than left to ON DELETE SET NULL: SQLite enforces foreign keys only when asked.
        session.execute(
            update(NotificationMessage).where(NotificationMessage.replay_of_id.in_(batch)).values(replay_of_id=None)
        )
        session.execute(delete(NotificationMessage).where(NotificationMessage.id.in_(batch)))
    if ids:
        before = {"ids": ids, "ended_before": cutoff, "files": len(files)}
        record(session, RETENTION_ACTOR, "delete", "notification_message", None, before=before)
    return ids, files


def remove_files(files: list[Path]) -> int:
    """Remove written files; one that is already gone or cannot be removed is logged, not fatal."""
    removed = 0
    for path in files:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("could not remove %s: %s", path, exc)
    return removed


def remove_old_messages(context: JobContext) -> dict[str, object]:
    """The ``notify.retention`` job: delete messages that ended more than KPI_MESSAGE_RETENTION_DAYS ago."""
    days = context.settings.message_retention_days
    cutoff = utcnow() - timedelta(days=days)
    context.progress(0, f"deleting messages sent or failed before {cutoff:%Y-%m-%d %H:%M} UTC")
    with engine_session(context.engine, write=True) as session:
        ids, files = delete_expired_messages(session, cutoff, context.settings.data_dir)
    removed_files = remove_files(files)
    context.progress(100, f"deleted {len(ids)} messages and {removed_files} files")
    return {
        "removed": len(ids),
        "files_removed": removed_files,
        "retention_days": days,
        "ended_before": cutoff.isoformat(),
    }
