"""Hook implementations of the productivity plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import not_, true

from kpi_core import hookimpl
from kpi_core.declarations import Exclusion, FormField, JobSpec, Metric, Setting, Target, Widget
from kpi_productivity import metrics as m
from kpi_productivity.shifts import import_shifts_job

MIGRATIONS = Path(__file__).parent / "migrations"

REVENUE = "productivity.revenue_per_completed_job"
TICKET = "productivity.average_ticket"
JOBS_PER_DAY = "productivity.jobs_per_working_day"
UTILISATION = "productivity.utilisation"


def _jobs(ctx: Any) -> Any:
    return ctx.tables["jobs"]


CANCELLED = Exclusion("cancelled", "Cancelled", lambda ctx: _jobs(ctx).c.status == "cancelled")
NOT_COMPLETED = Exclusion("not_completed", "Not completed", lambda ctx: not_(m.completed(_jobs(ctx))))
NO_REVENUE = Exclusion("no_revenue", "No revenue recorded", lambda ctx: _jobs(ctx).c.revenue.is_(None))
EXCLUSIONS = {
    REVENUE: (CANCELLED, NOT_COMPLETED, NO_REVENUE),
    TICKET: (
        CANCELLED,
        NOT_COMPLETED,
        Exclusion("return_visit", "A return visit (not a sale)", lambda ctx: _jobs(ctx).c.callback_of_id.is_not(None)),
        NO_REVENUE,
        Exclusion("not_billed", "Nothing billed (revenue of zero)", lambda ctx: _jobs(ctx).c.revenue <= 0),
    ),
    JOBS_PER_DAY: (
        CANCELLED,
        NOT_COMPLETED,
        # Each working day is counted once, with its first completed job, which carries the day's count.
        Exclusion("same_day", "Counted with the technician's first job of that day", lambda ctx: true()),
    ),
    UTILISATION: (
        CANCELLED,
        NOT_COMPLETED,
        Exclusion("no_start_time", "No start time recorded", lambda ctx: _jobs(ctx).c.started_at.is_(None)),
        # A shift is counted once, with its first job, which carries the shift's time on jobs and length.
        Exclusion(
            "no_shift_or_same_shift",
            "Outside a recorded shift, or counted with the shift's first job",
            lambda ctx: true(),
        ),
    ),
}


@hookimpl
def kpi_metrics() -> list[Metric]:
    return [
        Metric(
            key=REVENUE,
            label="Revenue per completed job",
            description="Mean revenue of completed jobs with a recorded revenue, $0 warranty work and callbacks "
            "included: what a job brings in on average.",
            formula=(
                "The revenue of completed jobs added up, divided by the number of completed jobs with a revenue "
                "recorded (unpaid work and return visits included)"
            ),
            unit="currency",
            direction="higher",
            kind="mean",
            numerator=m.revenue_numerator,
            denominator=m.revenue_denominator,
            period_column=m.completed_at,
            exclusions=EXCLUSIONS[REVENUE],
        ),
        Metric(
            key=TICKET,
            label="Average ticket",
            description="Mean invoice of billed first visits: completed jobs with revenue > 0 that are not "
            "callbacks. Unlike revenue per completed job, unpaid rework does not pull it down: it measures "
            "the size of a sale.",
            formula=(
                "The revenue of billed first visits (completed jobs with a revenue above zero that are not return "
                "visits) added up, divided by their number"
            ),
            unit="currency",
            direction="higher",
            kind="mean",
            numerator=m.ticket_numerator,
            denominator=m.ticket_denominator,
            period_column=m.completed_at,
            exclusions=EXCLUSIONS[TICKET],
        ),
        Metric(
            key=JOBS_PER_DAY,
            label="Completed jobs per working day",
            description="Completed jobs over working days: the local days (in the plugin's time zone setting) "
            "on which the technician completed at least one job. Teams and the company pool technician-days.",
            formula=(
                "Completed jobs divided by working days: the days on which a technician completed at least one job"
            ),
            unit="jobs per day",
            direction="higher",
            kind="mean",
            numerator=m.jobs_per_day_numerator,
            denominator=m.jobs_per_day_denominator,
            period_column=m.completed_at,
            default_target=Target(green=4, amber=3, weight=1),
            exclusions=EXCLUSIONS[JOBS_PER_DAY],
        ),
        Metric(
            key=UTILISATION,
            label="Utilisation",
            description="Time on jobs over scheduled shift time, for the technicians' imported shifts "
            '(the background job "Import technicians\' shifts" reads them). No value where no shifts are '
            "recorded; a shift in which no job was completed is not counted.",
            formula=(
                "Time spent on completed jobs (from start to finish) during the technicians' shifts, out of the "
                "length of those shifts"
            ),
            unit="ratio",
            direction="higher",
            kind="mean",
            numerator=m.utilisation_numerator,
            denominator=m.utilisation_denominator,
            period_column=m.completed_at,
            default_target=Target(green=0.75, amber=0.6, weight=1),
            empty_hint="Utilisation needs shift data: an admin imports the technicians' shifts.",
            exclusions=EXCLUSIONS[UTILISATION],
        ),
    ]


@hookimpl
def kpi_form_fields() -> list[FormField]:
    return [
        FormField(
            "productivity.time_management",
            "Time management",
            "rating",
            required=False,
            weight=2,
            help_text="Plans the day's route and parts so that little time is lost between jobs.",
            scale_labels=("Much time lost", "No time lost"),
        ),
        FormField(
            "productivity.van_stocked",
            "Van stocked for the day",
            "yes_no",
            weight=1,
            help_text="The van carried the parts the day's jobs needed: no extra trips to the supplier.",
        ),
        FormField(
            "productivity.recommends_work",
            "Recommends needed work",
            "rating",
            weight=1,
            help_text="Points out further work the customer needs, honestly and without pressure.",
            scale_labels=("Never", "Always, honestly"),
        ),
    ]


@hookimpl
def kpi_widgets() -> list[Widget]:
    return [
        Widget("productivity.revenue_card", "Revenue per job", "kpi_card", metrics=(REVENUE,), size="small"),
        Widget("productivity.utilisation_card", "Utilisation", "kpi_card", metrics=(UTILISATION,), size="small"),
        Widget(
            "productivity.jobs_per_day_leaderboard",
            "Jobs per working day",
            "leaderboard",
            metrics=(JOBS_PER_DAY,),
            size="medium",
        ),
        Widget(
            "productivity.revenue_trend",
            "Revenue per job and average ticket",
            "trend",
            metrics=(REVENUE, TICKET),
            size="large",
        ),
    ]


@hookimpl
def kpi_settings() -> list[Setting]:
    return [
        Setting(
            key="productivity.timezone",
            label="Working-day time zone",
            type="choice",
            default=m.DEFAULT_TIMEZONE,
            choices=tuple(sorted(available_timezones())),
            description="The IANA time zone whose midnights separate working days (jobs per working day). "
            "Set it to the company's time zone (KPI_TIMEZONE).",
        ),
    ]


@hookimpl
def kpi_jobs() -> list[JobSpec]:
    return [
        JobSpec(
            key="productivity.import_shifts",
            label="Import technicians' shifts",
            run=import_shifts_job,
            schedule=None,
            timeout=300,
            retries=0,
        ),
    ]


@hookimpl
def kpi_migrations() -> Path:
    return MIGRATIONS
