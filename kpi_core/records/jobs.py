"""Jobs (work orders): the facts most KPIs count.

:func:`validate_job_values` is the one check of a job's values, shared by the
API (create and update) and anything else that writes jobs (imports, the CLI):
field types and ranges, references that must exist and be in the caller's
scope, and the cross-field rules of :mod:`kpi_core.records.job_rules`.

A job's crew (``technicians``) is checked and written by :mod:`kpi_core.records.job_crews`;
``technician_id`` is always the crew's lead. Anyone who sees a member of the crew sees the job;
only those who see its lead change it (:func:`may_change`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from kpi_core.accounts.scope import Scope
from kpi_core.audit.trail import Actor, record, snapshot
from kpi_core.errors import Conflict, Invalid, NotFound
from kpi_core.records import changes, job_crews, job_fields
from kpi_core.records.crews import lead_of
from kpi_core.records.job_rules import job_rule_violations
from kpi_core.storage.models import JOB_STATUSES, Customer, Feedback, Job, Technician

TIMESTAMPS = ("scheduled_start", "scheduled_end", "arrived_at", "started_at", "completed_at")
JOB_FIELDS = (
    "external_ref", "technician_id", "customer_id", "category", "status", *TIMESTAMPS,
    "estimated_minutes", "revenue", "callback_of_id",
)  # fmt: skip
REQUIRED = ("external_ref", "technician_id", "category", "status")
MAX_MINUTES = 100_000
MAX_REVENUE = Decimal("9999999999.99")  # Numeric(12, 2)
CENT = Decimal("0.01")

SORTABLE = {
    "scheduled_start": Job.scheduled_start,
    "completed_at": Job.completed_at,
    "external_ref": Job.external_ref,
    "created_at": Job.created_at,
}
DATE_FIELDS = {"scheduled_start": Job.scheduled_start, "completed_at": Job.completed_at}
LOADED = (selectinload(Job.field_values), selectinload(Job.assignments))
"""What a job is answered with, loaded for a whole page of jobs in one query each."""


def job_query(scope: Scope, filters: Mapping[str, Any]) -> Select[tuple[Job]]:
    """Jobs in ``scope`` matching the list filters (team, technician, status, category, customer, date range).

    A job is in scope, and matches ``team`` or ``technician``, through any member of its crew.
    """
    query = select(Job).where(job_crews.visible(scope)).options(*LOADED)
    if "team" in filters:
        query = query.where(job_crews.on_team(filters["team"]))
    if "technician" in filters:
        query = query.where(job_crews.with_technician(filters["technician"]))
    if "customer" in filters:
        query = query.where(Job.customer_id == filters["customer"])
    if "status" in filters:
        query = query.where(Job.status == filters["status"])
    if filters.get("category"):
        query = query.where(Job.category == filters["category"].strip().lower())
    column = DATE_FIELDS[filters.get("date_field", "scheduled_start")]
    if filters.get("from") is not None:
        query = query.where(column >= filters["from"])
    if filters.get("to") is not None:
        query = query.where(column < filters["to"])
    return query


def get_job(session: Session, scope: Scope, job_id: int, *, for_update: bool = False) -> Job:
    """The job if it is in ``scope`` (a member of its crew is), else :class:`NotFound`; ``for_update`` locks its row."""
    query = select(Job).where(Job.id == job_id, job_crews.visible(scope)).options(*LOADED)
    job = session.scalar(query.with_for_update(of=Job) if for_update else query)
    if job is None:
        raise NotFound(f"no job with id {job_id}")
    return job


def may_change(session: Session, scope: Scope, job: Job) -> bool:
    """Whether ``scope`` may change or delete the job: it sees the job's lead.

    A manager who sees a job only through a helper of their team reads it but leaves changes to the
    lead's managers: the job is the lead's team's, and changing it would change that team's numbers.
    """
    if scope.sees_all:
        return True
    lead = select(Technician.id).where(
        Technician.id == job.technician_id, scope.technicians(Technician.id, Technician.team_id)
    )
    return session.scalar(lead) is not None


def job_values(job: Job) -> dict[str, Any]:
    """The job's current values of :data:`JOB_FIELDS`."""
    return {name: getattr(job, name) for name in JOB_FIELDS}


def _field_problems(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = [(name, "is not a job field") for name in values if name not in JOB_FIELDS]
    get = values.get
    problems += [(name, "is required") for name in REQUIRED if get(name) is None]
    for name, limit in (("external_ref", 64), ("category", 64)):
        value = get(name)
        if value is not None and (not isinstance(value, str) or not 1 <= len(value.strip()) <= limit):
            problems.append((name, f"must be text of 1 to {limit} characters"))
    if get("status") is not None and get("status") not in JOB_STATUSES:
        problems.append(("status", f"must be one of {', '.join(JOB_STATUSES)}"))
    for name in ("technician_id", "customer_id", "callback_of_id"):
        value = get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            problems.append((name, "must be a positive whole number"))
    minutes = get("estimated_minutes")
    if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, int)):
        problems.append(("estimated_minutes", "must be a whole number"))
    elif minutes is not None and not 0 <= minutes <= MAX_MINUTES:
        problems.append(("estimated_minutes", f"must be between 0 and {MAX_MINUTES}"))
    revenue = get("revenue")
    if revenue is not None:
        if not isinstance(revenue, Decimal) or not revenue.is_finite() or not 0 <= revenue <= MAX_REVENUE:
            problems.append(("revenue", f"must be a decimal amount between 0 and {MAX_REVENUE}"))
        elif revenue != revenue.quantize(CENT):
            problems.append(("revenue", "must have at most 2 decimal places"))
    for name in TIMESTAMPS:
        value = get(name)
        if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
            problems.append((name, "must be a date and time with a time zone"))
    return problems


def _normalised(values: Mapping[str, Any]) -> dict[str, Any]:
    result = {name: values.get(name) for name in JOB_FIELDS}
    result["external_ref"] = result["external_ref"].strip()
    result["category"] = result["category"].strip().lower()  # as the imports store it: one spelling per category
    if result["revenue"] is not None:
        result["revenue"] = result["revenue"].quantize(CENT)
    for name in TIMESTAMPS:
        if result[name] is not None:
            result[name] = result[name].astimezone(UTC)
    return result


def _reference_problems(
    session: Session, scope: Scope, values: Mapping[str, Any], job_id: int | None
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    whose_technicians, whose_jobs = (
        ("", "") if scope.sees_all else (" among your teams' technicians", " among your teams' jobs")
    )
    # A reference the job already has was checked when it was set: changing another field of a
    # job must not fail because, say, its original lies outside the caller's teams.
    stored = session.get(Job, job_id) if job_id is not None else None

    def changed(name: str) -> bool:
        return values[name] is not None and (stored is None or getattr(stored, name) != values[name])

    technician_id = values["technician_id"]
    visible = select(Technician.id).where(
        Technician.id == technician_id, scope.technicians(Technician.id, Technician.team_id)
    )
    if changed("technician_id") and session.scalar(visible) is None:
        problems.append(("technician_id", f"no technician with id {technician_id}{whose_technicians}"))
    customer_id = values["customer_id"]
    if changed("customer_id") and session.get(Customer, customer_id) is None:
        problems.append(("customer_id", f"no customer with id {customer_id}"))
    callback_of_id = values["callback_of_id"]
    if changed("callback_of_id"):
        if callback_of_id == job_id:
            problems.append(("callback_of_id", "a job cannot be a callback of itself"))
        else:
            target = select(Job.id).where(Job.id == callback_of_id, job_crews.visible(scope))
            if session.scalar(target) is None:
                problems.append(("callback_of_id", f"no job with id {callback_of_id}{whose_jobs}"))
    return problems


def job_problems(
    session: Session, scope: Scope, values: Mapping[str, Any], *, job_id: int | None = None
) -> list[tuple[str, str]]:
    """Every (field, message) wrong with a job's complete ``values``; empty when they may be stored.

    ``values`` holds all of :data:`JOB_FIELDS` (absent keys count as None); timestamps must be
    time-zone aware. ``job_id`` is the job being changed, if any. Field checks come first; only
    values that pass them have their references and the cross-field rules checked.
    """
    problems = _field_problems(values)
    if problems:
        return problems
    normalised = _normalised(values)
    return _reference_problems(session, scope, normalised, job_id) + job_rule_violations(normalised)


def validate_job_values(
    session: Session, scope: Scope, values: Mapping[str, Any], *, job_id: int | None = None
) -> dict[str, Any]:
    """Check a job's complete ``values`` (see :func:`job_problems`) and return them normalised.

    Normalised: external_ref stripped, category stripped and lower-cased, revenue to 2 places,
    timestamps in UTC. Raises :class:`Invalid` naming the first field at fault.
    """
    problems = job_problems(session, scope, values, job_id=job_id)
    if problems:
        raise Invalid(*problems[0])
    return _normalised(values)


def create_job(
    session: Session,
    scope: Scope,
    actor: Actor,
    data: Mapping[str, Any],
    *,
    declared_fields: job_fields.Declared | None = None,
) -> Job:
    """Validate and add a job (status defaults to scheduled); 409 if external_ref is taken.

    ``data["technicians"]`` is the crew (items with technician_id, and optionally role and share);
    without it the job's ``technician_id`` is its sole lead. ``data["fields"]`` holds plugins' job
    fields by key, checked against ``declared_fields`` (every required one must be given).
    """
    data, given = _without_fields(data)
    crew = _crew_given(session, scope, data, None)
    values = validate_job_values(session, scope, {"status": "scheduled", **data})
    declared = declared_fields or {}
    fields = job_fields.checked_fields(declared, given, creating=True)
    changes.ensure_unique(session, Job, "external_ref", values["external_ref"])
    job = Job(**values)
    with changes.savepoint("external_ref", changes.RACE_LOST, session):
        if crew is not None:
            job_crews.set_crew(job, crew)
        session.add(job)  # without a crew, the ORM makes technician_id the sole lead as it flushes
    record(session, actor, "create", "job", job.id, after=_snapshot(job))
    job_fields.set_fields(session, actor, job, fields, declared)
    return job


def update_job(
    session: Session,
    scope: Scope,
    actor: Actor,
    job: Job,
    data: Mapping[str, Any],
    *,
    declared_fields: job_fields.Declared | None = None,
) -> Job:
    """Apply the fields in ``data`` to ``job``; the result as a whole must pass :func:`validate_job_values`.

    ``data["technicians"]`` replaces the crew (its lead becomes ``technician_id``); a new
    ``technician_id`` alone makes that technician the lead of the crew as it is. ``data["fields"]``
    changes the plugins' job fields it names (None removes a value) and keeps the others. One audit
    entry holds the job's values and crew before and after.
    """
    data, given = _without_fields(data)
    crew = _crew_given(session, scope, data, job)
    values = validate_job_values(session, scope, {**job_values(job), **data}, job_id=job.id)
    declared = declared_fields or {}
    fields = job_fields.checked_fields(declared, given, creating=False)
    if values["external_ref"] != job.external_ref:
        changes.ensure_unique(session, Job, "external_ref", values["external_ref"], exclude_id=job.id)
    before = _snapshot(job)
    with changes.savepoint("external_ref", changes.RACE_LOST, session):
        for name in JOB_FIELDS:
            if name in data:
                setattr(job, name, values[name])
        if crew is not None:
            job_crews.set_crew(job, crew)
    after = _snapshot(job)
    if after != before:
        record(session, actor, "update", "job", job.id, before=before, after=after)
    job_fields.set_fields(session, actor, job, fields, declared)
    return job


def _snapshot(job: Job) -> dict[str, Any]:
    """The job as the audit trail keeps it: its columns and its crew (``technicians``)."""
    return {**snapshot(job), "technicians": job_crews.crew_snapshot(job)}


def _without_fields(data: Mapping[str, Any]) -> tuple[dict[str, Any], Mapping[str, Any]]:
    """(the job's own values, the plugins' job fields given under ``fields``)."""
    values = dict(data)
    return values, values.pop("fields", None) or {}


def _crew_given(session: Session, scope: Scope, data: dict[str, Any], job: Job | None) -> job_crews.Crew | None:
    """The crew ``data`` gives under ``technicians`` (taken out of it), checked, with ``technician_id``
    set to its lead; None when it gives none."""
    given = data.pop(job_crews.FIELD, None)
    if given is None:
        return None
    crew = job_crews.checked_crew(session, scope, given, technician_id=data.get("technician_id"), job=job)
    data["technician_id"] = lead_of(crew)
    return crew


def upsert_job_by_ref(session: Session, scope: Scope, actor: Actor, values: Mapping[str, Any]) -> tuple[Job, str]:
    """Create the job with ``values["external_ref"]`` or update it to ``values``: idempotent imports.

    Fields missing from ``values`` keep their stored value (or their default on creation).
    Returns the job and what happened: ``"created"``, ``"updated"`` or ``"unchanged"``.
    A stored job outside ``scope`` is left alone: :class:`Conflict` naming external_ref, with the
    one answer for a taken reference (:data:`changes.IN_USE`), which does not say whose it is.
    """
    ref = values.get("external_ref")
    existing = session.scalar(select(Job).where(Job.external_ref == ref)) if isinstance(ref, str) else None
    if existing is None:
        return create_job(session, scope, actor, values), "created"
    if not may_change(session, scope, existing):
        raise Conflict("external_ref", changes.IN_USE)
    before = _snapshot(existing)
    job = update_job(session, scope, actor, existing, values)
    return job, "unchanged" if _snapshot(job) == before else "updated"


def delete_job(session: Session, actor: Actor, job: Job) -> None:
    """Delete a job and its feedback (both audited); 409 naming ``job`` while callbacks refer to it."""
    # No count: callbacks may belong to other teams, and how many there are is theirs to know.
    if session.scalar(select(Job.id).where(Job.callback_of_id == job.id).limit(1)) is not None:
        raise Conflict("job", "other jobs are recorded as callbacks of this job; change or delete them first")
    feedback = session.scalar(select(Feedback).where(Feedback.job_id == job.id))
    if feedback is not None:
        changes.delete(session, actor, "feedback", feedback)
    changes.delete(session, actor, "job", job, blocked_by="job")
