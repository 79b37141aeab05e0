"""Importing customer feedback: one per job, found by the job's external_ref; importing again replaces it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import Scope
from kpi_core.audit.trail import Actor, record
from kpi_core.imports import cells, lookups
from kpi_core.imports.locking import wait_for_other_imports
from kpi_core.imports.readers import RawRow
from kpi_core.imports.report import ImportReport
from kpi_core.storage import versions
from kpi_core.storage.models import Feedback, Job, Technician
from kpi_core.storage.types import utcnow

FEEDBACK_COLUMNS = ("job_ref", "rating", "nps", "comment", "received_at")
COMPARED = ("rating", "nps", "comment", "received_at")
BATCH_SIZE = 1000


def _parse(raw: RawRow, zone: ZoneInfo, report: ImportReport) -> dict[str, Any] | None:
    before = report.error_count
    values: dict[str, Any] = {}
    converters: dict[str, tuple[bool, Callable[[Any], Any]]] = {
        "job_ref": (True, lambda v: cells.text(v, 64)),
        "rating": (True, lambda v: cells.integer(v, 1, 5)),
        "nps": (False, lambda v: cells.integer(v, 0, 10)),
        "comment": (False, lambda v: cells.text(v, 2000, multiline=True)),
        "received_at": (True, lambda v: cells.timestamp(v, zone)),
    }
    for column, (required, convert) in converters.items():
        cell = raw.values.get(column)
        if cells.blank(cell):
            values[column] = None
            if required:
                report.error(raw.number, column, "is required")
            continue
        try:
            values[column] = convert(cell)
        except ValueError as exc:
            report.error(raw.number, column, str(exc))
    return values if report.error_count == before else None


def import_feedback(
    session: Session,
    rows: Iterable[RawRow],
    *,
    scope: Scope,
    actor: Actor,
    zone: ZoneInfo,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate and (unless ``dry_run`` or any row is invalid) replace feedback; the caller commits."""
    report = ImportReport(kind="feedback", dry_run=dry_run)
    jobs = lookups.jobs(session, Job.status)
    seen: dict[str, int] = {}
    visible: dict[int, bool] = {}
    batch: list[tuple[int, dict[str, Any]]] = []

    def flush() -> None:
        wait_for_other_imports(session)
        jobs.clear()  # looked up per batch: only `seen` grows with the file
        jobs.load(values["job_ref"] for _, values in batch)
        resolved = []
        for number, values in batch:
            job = jobs.get(values["job_ref"])
            if job is None or not _visible(session, scope, job.technician_id, visible):
                report.error(number, "job_ref", f"no job {values['job_ref']!r}")
                continue
            resolved.append((job.id, values))
        if report.ok:
            _write(session, resolved, report, dry_run=dry_run)
        batch.clear()

    for raw in rows:
        report.rows += 1
        if raw.error:
            report.error(raw.number, None, raw.error)
            continue
        values = _parse(raw, zone, report)
        if values is None:
            continue
        first = seen.setdefault(values["job_ref"], raw.number)
        if first != raw.number:
            report.error(raw.number, "job_ref", f"feedback for {values['job_ref']!r} already on row {first}")
            continue
        batch.append((raw.number, values))
        if len(batch) >= BATCH_SIZE:
            flush()
            if progress:
                progress(report.rows)
    if batch:
        flush()
    if report.ok and not dry_run and (report.created or report.updated):
        record(session, actor, "import", "feedback", None,
               after={"rows": report.rows, "created": report.created, "updated": report.updated})  # fmt: skip
    return report


def _visible(session: Session, scope: Scope, technician_id: int, cache: dict[int, bool]) -> bool:
    if scope.sees_all:
        return True
    if technician_id not in cache:
        in_scope = select(Technician.id).where(
            Technician.id == technician_id, scope.technicians(Technician.id, Technician.team_id)
        )
        cache[technician_id] = session.scalar(in_scope) is not None
    return cache[technician_id]


def _write(
    session: Session, resolved: list[tuple[int, dict[str, Any]]], report: ImportReport, *, dry_run: bool
) -> None:
    """Count what the rows create, replace or leave unchanged, and (unless ``dry_run``) write it."""
    job_ids = [job_id for job_id, _ in resolved]
    existing = {
        row.job_id: row
        for row in session.execute(
            select(Feedback.job_id, *(getattr(Feedback, name) for name in COMPARED)).where(Feedback.job_id.in_(job_ids))
        )
    }
    replace, new = [], []
    for job_id, values in resolved:
        row = {name: values[name] for name in COMPARED}
        old = existing.get(job_id)
        if old is None:
            new.append({"job_id": job_id, **row})
        elif any(getattr(old, name) != row[name] for name in COMPARED):
            replace.append({"job_id": job_id, **row})
        else:
            report.unchanged += 1
    report.created += len(new)
    report.updated += len(replace)
    if dry_run:
        return
    now = utcnow()
    if replace:
        session.execute(delete(Feedback).where(Feedback.job_id.in_([row["job_id"] for row in replace])))
    if new or replace:
        session.execute(insert(Feedback), [{**row, "created_at": now, "updated_at": now} for row in new + replace])
        # Feedback counts in its job's months; these Core statements bypass the ORM's flush listener.
        versions.bump(session, versions.job_months(session, [row["job_id"] for row in new + replace]))
