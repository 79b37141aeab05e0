"""The host's own contributions, registered through the same hooks as any plugin."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from kpi_core import hookimpl
from kpi_core.declarations import FormField, JobSpec, Setting
from kpi_core.evaluations.policy import (
    DEFAULT_SELF_WEIGHT,
    FINAL_SCORE_FORMULA,
    FORMULAS,
    MANAGER_ONLY,
    SELF_APPRAISAL_BEFORE_PERIOD_END,
    SELF_APPRAISAL_WEIGHT,
)
from kpi_core.jobs.context import JobContext
from kpi_core.jobs.schedules import REPORT_JOB_KEY
from kpi_core.kpis.closing import AUTO_CLOSE, CLOSE_AFTER_DAYS, close_due_months
from kpi_core.kpis.crews import CREDIT_RULES, CREW_CREDIT, DEFAULT_RULE
from kpi_core.kpis.persisted import remove_old_sums
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
            label="Delete reports past their retention period",
            run=remove_old_reports,
            schedule="45 3 * * *",
            timeout=900,
            retries=1,
        ),
        JobSpec(
            key="core.close_months",
            label="Close months whose callbacks have settled (when the setting says so)",
            run=close_due_months,
            schedule="20 4 * * *",
            timeout=1800,
            retries=1,
        ),
        JobSpec(
            key="core.kpi_sums_retention",
            label="Delete stored KPI sums no longer read",
            run=remove_old_sums,
            schedule="50 3 * * *",
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
            # Addressed to the technician; a self-appraisal has its own comment box.
            asked_of_technicians=False,
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
        ),
        Setting(
            key=CREW_CREDIT,
            label="How a crew's jobs count",
            type="choice",
            default=DEFAULT_RULE,
            choices=CREDIT_RULES,
            description=(
                "When several technicians work a job: each — every technician on the crew counts the whole "
                "job; share — each counts their share of it (half a job each for two equal shares); lead — "
                "only the job's lead counts it. A team or the whole company counts every job once whichever "
                "you choose."
            ),
        ),
        Setting(
            key=AUTO_CLOSE,
            label="Close months automatically",
            type="boolean",
            default=False,
            description=(
                "On: each month is closed by itself once it is over and the wait below has passed, so its KPI "
                "values stay as they were discussed; later changes to its jobs show as restatements until an "
                "admin closes it again. Off: admins close months themselves."
            ),
        ),
        Setting(
            key=CLOSE_AFTER_DAYS,
            label="Days to wait after a month ends before closing it",
            type="integer",
            default=0,
            unit="days",
            minimum=0,
            maximum=365,
            description=(
                "0: wait as long as the longest outcome window of the installed KPIs (the callback window), "
                "so that every job's outcome is known when the month is closed."
            ),
        ),
        Setting(
            key=FINAL_SCORE_FORMULA,
            label="How an evaluation's final score is made",
            type="choice",
            default=MANAGER_ONLY,
            choices=FORMULAS,
            description=(
                "manager_only — the evaluator's score alone; mean — halfway between the evaluator's score and "
                "the technician's self-appraisal of the same period; weighted — the self-appraisal counts for "
                "the share set below. Without a submitted self-appraisal the final score is the evaluator's. "
                "An evaluation keeps the formula it was submitted with."
            ),
        ),
        Setting(
            key=SELF_APPRAISAL_WEIGHT,
            label="Share of the self-appraisal in a weighted final score",
            type="number",
            default=DEFAULT_SELF_WEIGHT,
            unit="%",
            minimum=0,
            maximum=100,
            description="Used when the final score is weighted: 25 % makes it 75 % the evaluator's and 25 % the "
            "technician's own.",
        ),
        Setting(
            key=SELF_APPRAISAL_BEFORE_PERIOD_END,
            label="Allow self-appraisal before the period ends",
            type="boolean",
            default=False,
            description=(
                "Off: technicians appraise themselves once a period is over, when all its numbers are in. On: "
                "they may fill in a self-appraisal of the period under way."
            ),
        ),
    ]
