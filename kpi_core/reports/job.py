"""The ``core.report`` job: build the report data, render it with the asked format, store the file.

Progress: up to 10% while the data is built (a few SQL statements), then
the renderer. A format cannot report how far it has got, so while it runs a
ticker moves the progress towards 95% over the time such a render is
expected to take (a PDF costs about a quarter of a second per technician
page); the API's ETA follows from that. The bytes and their SHA-256 go to
``report_files`` in the same transaction as the run's file name and size:
any app instance can serve what any worker wrote.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from kpi_core.accounts.permissions import Principal
from kpi_core.accounts.scope import UNSCOPED, Scope
from kpi_core.config import Settings
from kpi_core.declarations import ReportFormat
from kpi_core.jobs.context import JobContext
from kpi_core.kpis.query import Filters
from kpi_core.notify.webhooks import emit_event
from kpi_core.plugins import PluginHost, load_plugins
from kpi_core.reports.build import build_report_data
from kpi_core.reports.data import ReportData
from kpi_core.reports.filenames import safe_file_name
from kpi_core.reports.spec import ReportSpec
from kpi_core.storage.db import engine_session
from kpi_core.storage.models import ReportFile, ReportRun, User, team_managers
from kpi_core.storage.types import utcnow

DATA_DONE = 10
RENDER_CEILING = 95
TICK_SECONDS = 1.0


class ReportGone(Exception):
    """The run was deleted, or its requester can no longer see the data."""


def render_report(context: JobContext, report_run_id: int) -> dict[str, Any]:
    """The job: render report run ``report_run_id`` and store its file."""
    plugins = job_plugins(context)
    context.progress(1, "reading the report request")
    with engine_session(context.engine) as session:
        run = session.get(ReportRun, report_run_id)
        if run is None:
            # Deleted while it waited: nothing to render, and nothing to retry.
            return {"report_run_id": report_run_id, "skipped": "the report was deleted"}
        spec = spec_from_json(run.spec)
        scope = requester_scope(session, run.requested_by_id)
        report_format: ReportFormat | None = plugins.report_formats.get(spec.format)
        if report_format is None:
            raise LookupError(f"no loaded plugin declares the report format {spec.format!r}")
        data = build_report_data(
            session,
            plugins,
            spec,
            zone=context.settings.zone,
            scope=scope,
            generated_at=utcnow(),
            min_sample=context.settings.min_sample,
            status_min_sample=context.settings.status_min_sample,
            progress=context.progress,
            currency=context.settings.currency,
        )
    context.progress(DATA_DONE, f"rendering the {report_format.label}")
    with _ticker(context, _expected_seconds(report_format, data), report_format.label):
        stream = io.BytesIO()
        report_format.render(data, stream)
    content = stream.getvalue()
    context.progress(RENDER_CEILING + 2, "storing the file")
    name = safe_file_name(spec.title, report_format.file_extension)
    stored = store_file(context.engine, report_run_id, name, report_format.media_type, content)
    context.progress(RENDER_CEILING + 4, "done")
    return stored


def store_file(engine: Engine, report_run_id: int, name: str, media_type: str, content: bytes) -> dict[str, Any]:
    """Write the bytes, checksum, name, type and size in one transaction (a retry overwrites its own)."""
    digest = hashlib.sha256(content).hexdigest()
    with engine_session(engine, write=True) as session:
        run = session.get(ReportRun, report_run_id)
        if run is None:
            return {"report_run_id": report_run_id, "skipped": "the report was deleted while it rendered"}
        stored = session.get(ReportFile, report_run_id)
        if stored is None:
            session.add(ReportFile(report_run_id=report_run_id, content=content, sha256=digest))
        else:
            stored.content, stored.sha256 = content, digest
        now = utcnow()
        run.file_name, run.media_type, run.size_bytes = name, media_type, len(content)
        run.status, run.progress, run.finished_at = "finished", 100, now
        run.started_at = run.started_at or now
        _report_finished(session, run, digest)
    return {"report_run_id": report_run_id, "file_name": name, "size_bytes": len(content), "sha256": digest}


def _report_finished(session: Session, run: ReportRun, digest: str) -> None:
    """Tell the webhooks that want it, in the transaction that stores the file (once per run: a retry adds none)."""
    payload = {
        "report_run_id": run.id,
        "title": run.title,
        "format": run.format,
        "file_name": run.file_name,
        "media_type": run.media_type,
        "size_bytes": run.size_bytes,
        "sha256": digest,
        "download": f"/api/v1/reports/{run.id}/download",
    }
    summary = f'The report "{run.title}" is ready: {run.file_name}.'
    emit_event(session, "report.finished", payload, event_id=f"report_run:{run.id}", summary=summary)


def spec_from_json(stored: dict[str, Any]) -> ReportSpec:
    """The stored (already validated) spec back as a ReportSpec."""
    filters = stored.get("filters") or {}
    return ReportSpec(
        format=stored["format"],
        title=stored["title"],
        kpis=tuple(stored.get("kpis") or ()),
        group_by=stored["group_by"],
        period=stored["period"],
        start=date.fromisoformat(stored["start"]),
        end=date.fromisoformat(stored["end"]),
        filters=Filters(
            teams=tuple(filters.get("team") or ()),
            technicians=tuple(filters.get("technician") or ()),
            categories=tuple(filters.get("category") or ()),
        ),
    )


def requester_scope(session: Session, user_id: int | None) -> Scope:
    """What the person who asked may see *now* (a schedule's report, asked by no one, sees all).

    Read at render time, so a manager moved off a team, or disabled, while the
    report waited does not get data they may no longer see.
    """
    if user_id is None:
        return UNSCOPED
    user = session.get(User, user_id)
    if user is None or user.disabled:
        raise ReportGone("the user who asked for this report no longer exists or is disabled")
    teams = frozenset(session.scalars(select(team_managers.c.team_id).where(team_managers.c.user_id == user.id)))
    return Scope(Principal(user.id, user.username, user.role, user.technician_id, teams))


def job_plugins(context: JobContext) -> PluginHost:
    """The plugins of the process running the job (the context carries them once the runner hands them over)."""
    host = getattr(context, "plugins", None)
    return host if isinstance(host, PluginHost) else _loaded_plugins(context.settings)


@lru_cache(maxsize=4)
def _loaded_plugins(settings: Settings) -> PluginHost:
    # Same settings, same plugins: load them once per process rather than once per report.
    return load_plugins(settings)


def _expected_seconds(report_format: ReportFormat, data: ReportData) -> float:
    rows = sum(len(rows) for rows in data.values.values())
    technicians = len({row.group_id for row in data.rows("technician")})
    per_page = 0.25 if report_format.media_type == "application/pdf" else 0.0
    return 1.0 + rows / 20_000 + per_page * technicians


@contextmanager
def _ticker(context: JobContext, expected: float, label: str) -> Iterator[None]:
    """Advance the progress from DATA_DONE towards RENDER_CEILING over ``expected`` seconds."""
    stop = threading.Event()
    started = time.monotonic()

    def tick() -> None:
        while not stop.wait(TICK_SECONDS):
            share = min(1.0, (time.monotonic() - started) / expected)
            context.progress(DATA_DONE + round((RENDER_CEILING - DATA_DONE) * share), f"rendering the {label}")

    thread = threading.Thread(target=tick, name="kpi-report-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
