"""The host's own contributions, registered through the same hooks as any plugin."""

from __future__ import annotations

from sqlalchemy import text

from kpi_core import hookimpl
from kpi_core.declarations import FormField, JobSpec
from kpi_core.jobs.context import JobContext


def refresh_planner_statistics(context: JobContext) -> dict[str, str]:
    """Refresh the query planner's statistics so KPI queries keep good plans as data grows."""
    context.progress(0, "analysing tables")
    dialect = context.engine.dialect.name
    with context.engine.begin() as connection:
        # Both databases spell it ANALYZE; SQLite's PRAGMA optimize is the cheap, incremental form.
        connection.execute(text("PRAGMA optimize" if dialect == "sqlite" else "ANALYZE"))
    context.progress(100, "done")
    return {"database": dialect, "result": "statistics refreshed"}


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
        )
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
