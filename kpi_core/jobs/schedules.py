"""Schedules: which job (or report) runs when, kept in the database and managed by admins.

A schedule is a 5-field cron expression read in an IANA time zone (so
"30 2 * * *" stays 02:30 local across daylight-saving changes), a job key
or a report spec, ``enabled``, and what to do with occurrences missed while
no scheduler ran: ``run_once`` (one catch-up run) or ``skip``. Every change
is audited. ``last_fired_at`` is the scheduler's watermark: the latest
occurrence already claimed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from kpi_core.audit.trail import Actor
from kpi_core.declarations import JobSpec
from kpi_core.errors import Conflict, Invalid, NotFound
from kpi_core.records import changes
from kpi_core.storage.models import Schedule
from kpi_core.storage.types import utcnow

REPORT_JOB_KEY = "core.report"
"""The job that renders a report run (kpi_core/reports/job.py); a report schedule requests a run of it."""
ReportCheck = Callable[[Any], None]
"""Validates a report spec whole, raising Invalid naming ``report_spec.<field>`` (kpi_core.reports.service)."""
KINDS = ("job", "report")
MISSED = ("run_once", "skip")
ENTITY = "schedule"
FIELDS = ("name", "kind", "job_key", "report_spec", "cron", "timezone", "enabled", "missed")


def normalise_cron(cron: str) -> str:
    """The expression with single spaces, or 422 naming ``cron``."""
    text = " ".join(str(cron).split())
    if len(text.split(" ")) != 5 or not croniter.is_valid(text):
        raise Invalid(
            "cron", f"{cron!r} is not a 5-field cron expression (minute hour day month weekday), e.g. '30 2 * * *'"
        )
    if _first_occurrence(text, utcnow()) is None:
        raise Invalid("cron", f"{text!r} never matches a date (for example, 30 February): it would never run")
    return text


def _first_occurrence(cron: str, after: datetime) -> datetime | None:
    # croniter searches some years ahead and gives up on an expression no date matches.
    try:
        return croniter(cron, after).get_next(datetime)
    except CroniterBadDateError:
        return None


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("timezone", f"{name!r} is not an IANA time zone such as 'Europe/Berlin'") from None


def next_fire_at(schedule: Schedule, after: datetime | None = None) -> datetime | None:
    """The next occurrence after ``after`` (default now) in UTC, or None for a disabled schedule."""
    if not schedule.enabled:
        return None
    start = (after or utcnow()).astimezone(ZoneInfo(schedule.timezone))
    upcoming = _first_occurrence(schedule.cron, start)
    return upcoming.astimezone(ZoneInfo("UTC")) if upcoming else None


def _check(schedule: Schedule, jobs: Mapping[str, JobSpec], check_report: ReportCheck | None = None) -> None:
    """Validate a schedule as a whole: the fields depend on each other."""
    if schedule.kind not in KINDS:
        raise Invalid("kind", f"must be one of {', '.join(KINDS)}")
    if schedule.missed not in MISSED:
        raise Invalid("missed", f"must be one of {', '.join(MISSED)}")
    schedule.cron = normalise_cron(schedule.cron)
    zone(schedule.timezone)
    if schedule.kind == "report":
        if not isinstance(schedule.report_spec, dict) or not schedule.report_spec:
            raise Invalid("report_spec", "a report schedule needs the report to generate")
        if REPORT_JOB_KEY not in jobs:
            raise Invalid("kind", f"reports cannot be scheduled yet: no plugin declares the job {REPORT_JOB_KEY!r}")
        if check_report is not None:
            check_report(schedule.report_spec)
        schedule.job_key = REPORT_JOB_KEY
        return
    if schedule.report_spec is not None:
        raise Invalid("report_spec", "only a report schedule takes a report spec")
    if not schedule.job_key:
        raise Invalid("job_key", "a job schedule needs the key of a declared job")
    if schedule.job_key not in jobs:
        known = ", ".join(sorted(jobs)) or "none"
        raise Invalid("job_key", f"no job is declared with the key {schedule.job_key!r} (declared: {known})")


def schedule_query(*, enabled: bool | None = None, job_key: str | None = None) -> Select[tuple[Schedule]]:
    statement = select(Schedule)
    if enabled is not None:
        statement = statement.where(Schedule.enabled.is_(enabled))
    if job_key:
        statement = statement.where(Schedule.job_key == job_key)
    return statement.order_by(Schedule.name, Schedule.id)


def get_schedule(session: Session, schedule_id: int) -> Schedule:
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound(f"no schedule with id {schedule_id}")
    return schedule


def create_schedule(
    session: Session,
    jobs: Mapping[str, JobSpec],
    actor: Actor,
    data: Mapping[str, Any],
    *,
    default_zone: str = "UTC",
    check_report: ReportCheck | None = None,
) -> Schedule:
    """Validate and add a schedule (audited); a taken name is 409 naming ``name``."""
    changes.ensure_unique(session, Schedule, "name", data["name"])
    schedule = Schedule(
        name=data["name"],
        kind=data.get("kind", "job"),
        job_key=data.get("job_key"),
        report_spec=data.get("report_spec"),
        cron=data["cron"],
        timezone=data.get("timezone") or default_zone,
        enabled=data.get("enabled", True),
        missed=data.get("missed", "run_once"),
        created_by_id=actor.user_id,
    )
    _check(schedule, jobs, check_report)
    return changes.create(session, actor, ENTITY, schedule, unique_field="name")


def update_schedule(
    session: Session,
    jobs: Mapping[str, JobSpec],
    actor: Actor,
    schedule: Schedule,
    data: Mapping[str, Any],
    *,
    check_report: ReportCheck | None = None,
) -> Schedule:
    """Apply changed fields, validate the result, audit the difference."""
    if "name" in data:
        changes.ensure_unique(session, Schedule, "name", data["name"], exclude_id=schedule.id)
    updates = {name: value for name, value in data.items() if name in FIELDS}
    if updates.get("enabled") and not schedule.enabled:
        # Re-enabled: start from now, rather than catching up on the time it was off.
        updates["last_fired_at"] = utcnow()
    return changes.update(
        session, actor, ENTITY, schedule, updates, "name", check=lambda obj: _check(obj, jobs, check_report)
    )


def delete_schedule(session: Session, actor: Actor, schedule: Schedule) -> None:
    changes.delete(session, actor, ENTITY, schedule)


def ensure_default_schedules(session: Session, jobs: Mapping[str, JobSpec], default_zone: str) -> list[Schedule]:
    """Add a schedule for each declared job with a default cron that has none yet.

    Admins change or disable these like any other; a deleted one comes back
    at the scheduler's next start, so disabling is the way to turn one off.
    """
    created = []
    for spec in jobs.values():
        if spec.schedule is None or session.scalar(select(Schedule.id).where(Schedule.job_key == spec.key).limit(1)):
            continue
        data = {"name": spec.key, "kind": "job", "job_key": spec.key, "cron": spec.schedule, "missed": "run_once"}
        try:
            created.append(create_schedule(session, jobs, Actor.system("scheduler"), data, default_zone=default_zone))
        except Conflict:
            continue  # another scheduler starting at the same moment added it
    return created
