"""Hook implementations of the timeliness plugin."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, not_, or_

from kpi_core import hookimpl
from kpi_core.declarations import Exclusion, FormField, Metric, MetricContext, Setting, Target, Widget

ARRIVAL_GRACE_MINUTES = 15
"""Default of the ``arrival_grace_minutes`` setting: arriving this late still counts as on time."""
BUDGET_TOLERANCE = 0.10
"""Default of the ``budget_tolerance`` setting: share over the estimate still counted on budget."""


def _flag(condition: Any) -> Any:
    return case((condition, 1), else_=0)


def _completed(ctx: MetricContext) -> Any:
    jobs = ctx.tables["jobs"]
    return and_(jobs.c.status == "completed", jobs.c.completed_at.is_not(None))


def _arrival_known(ctx: MetricContext) -> Any:
    jobs = ctx.tables["jobs"]
    return and_(
        jobs.c.status != "cancelled",
        jobs.c.arrived_at.is_not(None),
        jobs.c.scheduled_start.is_not(None),
    )


def _arrival_delay_seconds(ctx: MetricContext) -> Any:
    jobs = ctx.tables["jobs"]
    return ctx.epoch(jobs.c.arrived_at) - ctx.epoch(jobs.c.scheduled_start)


def _on_time(ctx: MetricContext) -> Any:
    grace = ctx.setting("arrival_grace_minutes", ARRIVAL_GRACE_MINUTES) * 60
    return and_(_arrival_known(ctx), _arrival_delay_seconds(ctx) <= grace)


def _budgeted(ctx: MetricContext) -> Any:
    jobs = ctx.tables["jobs"]
    return and_(_completed(ctx), jobs.c.started_at.is_not(None), jobs.c.estimated_minutes > 0)


def _on_budget(ctx: MetricContext) -> Any:
    jobs = ctx.tables["jobs"]
    tolerance = ctx.setting("budget_tolerance", BUDGET_TOLERANCE)
    worked = ctx.epoch(jobs.c.completed_at) - ctx.epoch(jobs.c.started_at)
    return and_(_budgeted(ctx), worked <= (1 + tolerance) * 60 * jobs.c.estimated_minutes)


def _windowed(ctx: MetricContext) -> Any:
    return and_(_completed(ctx), ctx.tables["jobs"].c.scheduled_end.is_not(None))


def _within_window(ctx: MetricContext) -> Any:
    jobs = ctx.tables["jobs"]
    return and_(_windowed(ctx), ctx.epoch(jobs.c.completed_at) <= ctx.epoch(jobs.c.scheduled_end))


def _scheduled_start(ctx: MetricContext) -> Any:
    return ctx.tables["jobs"].c.scheduled_start


def _completed_at(ctx: MetricContext) -> Any:
    return ctx.tables["jobs"].c.completed_at


def _delay_minutes(ctx: MetricContext) -> Any:
    delay = _arrival_delay_seconds(ctx)
    return case((and_(_arrival_known(ctx), delay > 0), delay / 60.0), else_=0.0)


def _missing(column: str) -> Any:
    return lambda ctx: ctx.tables["jobs"].c[column].is_(None)


CANCELLED = Exclusion("cancelled", "Cancelled", lambda ctx: ctx.tables["jobs"].c.status == "cancelled")
NOT_COMPLETED = Exclusion("not_completed", "Not completed", lambda ctx: not_(_completed(ctx)))
ARRIVAL_EXCLUSIONS = (
    CANCELLED,
    Exclusion("no_arrival", "No arrival time recorded", _missing("arrived_at")),
    Exclusion("no_scheduled_start", "No scheduled start", _missing("scheduled_start")),
)
BUDGET_EXCLUSIONS = (
    CANCELLED,
    NOT_COMPLETED,
    Exclusion("no_start_time", "No start time recorded", _missing("started_at")),
    Exclusion(
        "no_estimate",
        "No time estimate",
        lambda ctx: or_(ctx.tables["jobs"].c.estimated_minutes.is_(None), ctx.tables["jobs"].c.estimated_minutes <= 0),
    ),
)
WINDOW_EXCLUSIONS = (
    CANCELLED,
    NOT_COMPLETED,
    Exclusion("no_scheduled_end", "No scheduled end", _missing("scheduled_end")),
)


@hookimpl
def kpi_metrics() -> list[Metric]:
    return [
        Metric(
            key="timeliness.on_time_arrival_rate",
            label="On-time arrival rate",
            description="Share of visits where the technician arrived within the grace period.",
            formula=(
                "Jobs where the technician arrived no later than 15 minutes (the arrival grace, which an admin "
                "may change) after the scheduled start, out of the jobs with both an arrival and a scheduled start"
            ),
            unit="ratio",
            direction="higher",
            kind="rate",
            numerator=lambda ctx: _flag(_on_time(ctx)),
            denominator=lambda ctx: _flag(_arrival_known(ctx)),
            period_column=_scheduled_start,
            default_target=Target(green=0.90, amber=0.80, weight=2),
            exclusions=ARRIVAL_EXCLUSIONS,
        ),
        Metric(
            key="timeliness.avg_arrival_delay_min",
            label="Average arrival delay",
            description="Mean minutes late on arrival (early arrivals count as 0).",
            formula=(
                "Minutes from the scheduled start to the arrival, averaged over the jobs with both times; "
                "arriving early counts as 0 minutes late"
            ),
            unit="minutes",
            direction="lower",
            kind="mean",
            numerator=_delay_minutes,
            denominator=lambda ctx: _flag(_arrival_known(ctx)),
            period_column=_scheduled_start,
            default_target=Target(green=10, amber=20, weight=1),
            exclusions=ARRIVAL_EXCLUSIONS,
        ),
        Metric(
            key="timeliness.on_budget_rate",
            label="On-budget rate",
            description="Share of completed jobs finished within 110% of the estimated time.",
            formula=(
                "Completed jobs that took no longer than their estimate plus 10 % (the budget tolerance, which an "
                "admin may change) from start to finish, out of the completed jobs with a start time and an estimate"
            ),
            unit="ratio",
            direction="higher",
            kind="rate",
            numerator=lambda ctx: _flag(_on_budget(ctx)),
            denominator=lambda ctx: _flag(_budgeted(ctx)),
            period_column=_completed_at,
            default_target=Target(green=0.85, amber=0.70, weight=1),
            exclusions=BUDGET_EXCLUSIONS,
        ),
        Metric(
            key="timeliness.within_window_rate",
            label="Finished within window",
            description="Share of completed jobs finished by the end of their scheduled window.",
            formula=(
                "Completed jobs finished by the end of their scheduled window, out of the completed jobs "
                "with a scheduled end"
            ),
            unit="ratio",
            direction="higher",
            kind="rate",
            numerator=lambda ctx: _flag(_within_window(ctx)),
            denominator=lambda ctx: _flag(_windowed(ctx)),
            period_column=_completed_at,
            default_target=Target(green=0.90, amber=0.80, weight=1),
            exclusions=WINDOW_EXCLUSIONS,
        ),
    ]


@hookimpl
def kpi_form_fields() -> list[FormField]:
    return [
        FormField(
            "timeliness.punctuality",
            "Punctuality",
            "rating",
            required=True,
            weight=2,
            help_text="Arrives when promised, and warns the customer early when running late.",
            scale_labels=("Often late without warning", "Always on time"),
        ),
        FormField(
            "timeliness.paperwork_on_time",
            "Paperwork on time",
            "yes_no",
            required=True,
            weight=1,
            help_text="Job notes, photos and invoices are filed the same day.",
        ),
    ]


@hookimpl
def kpi_widgets() -> list[Widget]:
    return [
        Widget(
            "timeliness.on_time_card",
            "On-time arrival",
            "kpi_card",
            metrics=("timeliness.on_time_arrival_rate",),
            size="small",
        ),
        Widget(
            "timeliness.on_time_heatmap",
            "On-time arrival by technician and month",
            "heatmap",
            metrics=("timeliness.on_time_arrival_rate",),
            size="full",
        ),
        Widget(
            "timeliness.budget_trend",
            "On-budget trend",
            "trend",
            metrics=("timeliness.on_budget_rate", "timeliness.within_window_rate"),
            size="large",
        ),
    ]


@hookimpl
def kpi_settings() -> list[Setting]:
    return [
        Setting(
            key="timeliness.arrival_grace_minutes",
            label="Arrival grace",
            type="integer",
            default=ARRIVAL_GRACE_MINUTES,
            unit="minutes",
            minimum=0,
            maximum=240,
            description="Arriving up to this many minutes after the scheduled start still counts as on time.",
        ),
        Setting(
            key="timeliness.budget_tolerance",
            label="Budget tolerance",
            type="number",
            default=BUDGET_TOLERANCE,
            unit="share of the estimate",
            minimum=0,
            maximum=2,
            description="A job still counts as on budget when it takes at most (1 + this) times its estimated "
            "minutes; 0.10 allows 10% over.",
        ),
    ]
