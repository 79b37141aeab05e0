"""The SQL of the productivity KPIs: numerators and denominators per job row, from a MetricContext.

The host SUMs each KPI's numerator and denominator over the job rows of a
group and period and divides, counting only rows whose denominator is > 0.
Two KPIs are about days and shifts, not jobs; each day (or shift) is carried
by exactly one job row, its *first* completed job (earliest completion, then
lowest id), whose numerator holds the whole day's (shift's) total and whose
denominator is 1 day (the shift's length); every other job of that day has
denominator 0. Sums then pool exactly: jobs over working days, seconds on
jobs over seconds of shifts, for a technician, a team or the company.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, and_, case, cast, exists, func, literal_column, or_, select

from kpi_productivity.sql import days_later, local_day
from kpi_productivity.tables import shifts

DEFAULT_TIMEZONE = "UTC"
"""Default of the ``timezone`` setting: the zone whose midnights separate working days."""


def _flag(condition: Any) -> Any:
    return case((condition, 1), else_=0)


def completed(jobs: Any) -> Any:
    return and_(jobs.c.status == "completed", jobs.c.completed_at.is_not(None))


def completed_at(ctx: Any) -> Any:
    return ctx.tables["jobs"].c.completed_at


def _earlier(other: Any, jobs: Any) -> Any:
    """``other`` was completed before the job row (ties broken by id)."""
    return or_(
        other.c.completed_at < jobs.c.completed_at,
        and_(other.c.completed_at == jobs.c.completed_at, other.c.id < jobs.c.id),
    )


# --- revenue ---------------------------------------------------------------------------------


def _revenue(jobs: Any) -> Any:
    return cast(jobs.c.revenue, Float)


def with_revenue(ctx: Any) -> Any:
    jobs = ctx.tables["jobs"]
    return and_(completed(jobs), jobs.c.revenue.is_not(None))


def billed(ctx: Any) -> Any:
    """A ticket: a completed first visit (not a callback) that the customer paid for (revenue > 0)."""
    jobs = ctx.tables["jobs"]
    return and_(completed(jobs), jobs.c.revenue > 0, jobs.c.callback_of_id.is_(None))


def revenue_numerator(ctx: Any) -> Any:
    return case((with_revenue(ctx), _revenue(ctx.tables["jobs"])), else_=0.0)


def revenue_denominator(ctx: Any) -> Any:
    return _flag(with_revenue(ctx))


def ticket_numerator(ctx: Any) -> Any:
    return case((billed(ctx), _revenue(ctx.tables["jobs"])), else_=0.0)


def ticket_denominator(ctx: Any) -> Any:
    return _flag(billed(ctx))


# --- working days ----------------------------------------------------------------------------


def _same_working_day(ctx: Any, other: Any) -> Any:
    """``other`` is a completed job of the row's technician on the row's local day."""
    jobs = ctx.tables["jobs"]
    zone = ctx.setting("timezone", DEFAULT_TIMEZONE)
    return and_(
        other.c.technician_id == jobs.c.technician_id,
        completed(other),
        # A window the (technician_id, completed_at) index can range-scan, then the exact local day.
        other.c.completed_at > days_later(jobs.c.completed_at, -1),
        other.c.completed_at < days_later(jobs.c.completed_at, 1),
        local_day(ctx.epoch, other.c.completed_at, zone) == local_day(ctx.epoch, jobs.c.completed_at, zone),
    )


def _first_of_day(ctx: Any) -> Any:
    jobs = ctx.tables["jobs"]
    other = jobs.alias("productivity_same_day")
    return and_(completed(jobs), ~exists().where(_same_working_day(ctx, other), _earlier(other, jobs)))


def jobs_per_day_numerator(ctx: Any) -> Any:
    """On a day's first completed job: the number of jobs the technician completed that day; else 0."""
    other = ctx.tables["jobs"].alias("productivity_day_jobs")
    that_day = select(func.count()).select_from(other).where(_same_working_day(ctx, other)).scalar_subquery()
    return case((_first_of_day(ctx), that_day), else_=0)


def jobs_per_day_denominator(ctx: Any) -> Any:
    """1 on a day's first completed job (the day), 0 on the others."""
    return _flag(_first_of_day(ctx))


# --- utilisation -----------------------------------------------------------------------------


def _worked(jobs: Any) -> Any:
    return and_(completed(jobs), jobs.c.started_at.is_not(None))


def _seconds_on(ctx: Any, jobs: Any) -> Any:
    seconds = ctx.epoch(jobs.c.completed_at) - ctx.epoch(jobs.c.started_at)
    return case((seconds > 0, seconds), else_=0.0)


def _shift_of_row(ctx: Any, shift: Any) -> Any:
    """``shift`` is the row technician's shift in which the row's job was completed."""
    jobs = ctx.tables["jobs"]
    return and_(
        shift.c.technician_id == jobs.c.technician_id,
        shift.c.starts_at <= jobs.c.completed_at,
        shift.c.ends_at > jobs.c.completed_at,
    )


def _in_shift(shift: Any, other: Any) -> Any:
    return and_(
        other.c.technician_id == shift.c.technician_id,
        other.c.completed_at >= shift.c.starts_at,
        other.c.completed_at < shift.c.ends_at,
        _worked(other),
    )


def _first_of_shift(ctx: Any) -> Any:
    jobs = ctx.tables["jobs"]
    shift, other = shifts.alias("productivity_shift"), jobs.alias("productivity_shift_jobs")
    in_a_shift = exists().where(_shift_of_row(ctx, shift))
    earlier = (
        select(literal_column("1"))
        .select_from(shift.join(other, _in_shift(shift, other)))
        .where(_shift_of_row(ctx, shift), _earlier(other, jobs))
        .exists()
    )
    return and_(_worked(jobs), in_a_shift, ~earlier)


def utilisation_numerator(ctx: Any) -> Any:
    """On a shift's first worked job: seconds from start to completion of the shift's worked jobs; else 0."""
    jobs = ctx.tables["jobs"]
    shift, other = shifts.alias("productivity_shift"), jobs.alias("productivity_shift_jobs")
    on_jobs = (
        select(func.sum(_seconds_on(ctx, other)))
        .select_from(shift.join(other, _in_shift(shift, other)))
        .where(_shift_of_row(ctx, shift))
        .scalar_subquery()
    )
    return case((_first_of_shift(ctx), on_jobs), else_=0.0)


def utilisation_denominator(ctx: Any) -> Any:
    """On a shift's first worked job: the shift's length in seconds; else 0 (no shift known: no sample)."""
    shift = shifts.alias("productivity_shift")
    length = (
        select(ctx.epoch(shift.c.ends_at) - ctx.epoch(shift.c.starts_at))
        .where(_shift_of_row(ctx, shift))
        .limit(1)
        .scalar_subquery()
    )
    return case((_first_of_shift(ctx), length), else_=0.0)
