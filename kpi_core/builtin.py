"""The host's own contributions, registered through the same hooks as any plugin."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from kpi_core import hookimpl
from kpi_core.declarations import FormField, JobSpec, Setting
from kpi_core.jobs.context import JobContext
from kpi_core.jobs.schedules import REPORT_JOB_KEY
from kpi_core.kpis.refresh import refresh_kpi_cache
from kpi_core.kpis.scorecards import RANK_BY_JOB_MIX
from kpi_core.reports.job import render_report
from kpi_core.reports.retention import remove_old_reports
from kpi_core.storage.backup import create_backup


def refresh_planner_statistics(context: JobContext) -> dict[str, str]:
    """Refresh the query planner's statistics so KPI queries keep good plans as data grows."""
    context.progress(0, "analysing tables")
    dialect = context.engine.dialect.name
    with context.engine.begin() as connection:
        # Both databases spell it ANALYZE; SQLite's PRAGMA optimize is the cheap, incremental form.
        connection.execute(text("PRAGMA optimize" if dialect == "sqlite" else "ANALYZE"))
    context.progress(100, "done")
    return {"database": dialect, "result": "statistics refreshed"}


def back_up_database(context: JobContext) -> dict[str, Any]:
    """Back up the database into the data directory's backups folder; keep the newest KPI_BACKUP_KEEP."""
    context.progress(0, "backing up the database")
    manifest = create_backup(context.settings, context.engine, keep=context.settings.backup_keep)
    context.progress(100, "done")
    return {"file": manifest.file, "size": manifest.size, "sha256": manifest.sha256, "rows": manifest.row_counts}


@hookimpl
def kpi_jobs() -> list[JobSpec]:
    return [
        JobSpec(
            key="core.refresh_statistics",
            label="Refresh database statistics",
            run=refresh_planner_statistics,
            schedule="30 3 * * *",
            timeout=900,
            retries=1,
        ),
        JobSpec(
            key="core.backup",
            label="Back up the database",
            run=back_up_database,
            schedule="15 2 * * *",
            timeout=3600,
            retries=2,
        ),
        JobSpec(
            key="core.refresh_kpi_cache",
            label="Warm the KPI cache for the morning's dashboards",
            run=refresh_kpi_cache,
            schedule="0 5 * * *",
            timeout=1800,
            retries=1,
        ),
        # Reports: requested through /api/v1/reports or a report schedule, never run bare.
        JobSpec(key=REPORT_JOB_KEY, label="Render a report", run=render_report, timeout=1800, retries=2),
        JobSpec(
            key="core.report_retention",
            label="Delete old reports (KPI_REPORT_RETENTION_DAYS)",
            run=remove_old_reports,
            schedule="45 3 * * *",
            timeout=900,
            retries=1,
        ),
    ]


@hookimpl
def kpi_form_fields() -> list[FormField]:
    return [
        FormField(
            key="core.overall_comment",
            label="Overall comment",
            type="text",
            weight=0,
            help_text="Anything the technician should hear that the questions above do not cover.",
        )
    ]


@hookimpl
def kpi_settings() -> list[Setting]:
    return [
        Setting(
            key=RANK_BY_JOB_MIX,
            label="Rank technicians fairly by job mix",
            type="boolean",
            default=False,
            description=(
                "Scorecards and leaderboards judge each rate against what the technician's mix of job "
                "categories would give at the company's rate for each category, so that a technician who "
                "does mostly hard jobs is not ranked below one who does easy ones. Anyone can still switch "
                "it on or off for one view."
            ),
        )
    ]
