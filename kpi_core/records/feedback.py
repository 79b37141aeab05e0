"""Customer feedback: at most one per job, seen by whoever may see the job.

:func:`validate_feedback_values` is the one check of a feedback's values, shared
by the API and anything else that writes feedback (imports, the CLI).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import Scope
from kpi_core.audit.trail import Actor
from kpi_core.errors import Conflict, Invalid, NotFound
from kpi_core.records import changes
from kpi_core.storage.models import Feedback, Job, Technician

FEEDBACK_FIELDS = ("job_id", "rating", "nps", "comment", "received_at")
MAX_COMMENT = 2000
SORTABLE = {"received_at": Feedback.received_at, "rating": Feedback.rating, "created_at": Feedback.created_at}


def _in_scope(scope: Scope) -> Any:
    return Feedback.job_id.in_(select(Job.id).where(scope.technicians(Job.technician_id)))


def feedback_query(scope: Scope, filters: Mapping[str, Any]) -> Select[tuple[Feedback]]:
    """Feedback on jobs in ``scope``, filtered by technician, team, job, rating and received_at range."""
    query = select(Feedback).where(_in_scope(scope))
    jobs = select(Job.id)
    if "technician" in filters:
        jobs = jobs.where(Job.technician_id == filters["technician"])
    if "team" in filters:
        jobs = jobs.where(Job.technician_id.in_(select(Technician.id).where(Technician.team_id == filters["team"])))
    if "technician" in filters or "team" in filters:
        query = query.where(Feedback.job_id.in_(jobs))
    if "job" in filters:
        query = query.where(Feedback.job_id == filters["job"])
    if "rating" in filters:
        query = query.where(Feedback.rating == filters["rating"])
    if filters.get("from") is not None:
        query = query.where(Feedback.received_at >= filters["from"])
    if filters.get("to") is not None:
        query = query.where(Feedback.received_at < filters["to"])
    return query


def get_feedback(session: Session, scope: Scope, feedback_id: int, *, for_update: bool = False) -> Feedback:
    """The feedback if its job is in ``scope``, else :class:`NotFound`; ``for_update`` locks its row."""
    query = select(Feedback).where(Feedback.id == feedback_id, _in_scope(scope))
    feedback = session.scalar(query.with_for_update(of=Feedback) if for_update else query)
    if feedback is None:
        raise NotFound(f"no feedback with id {feedback_id}")
    return feedback


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def feedback_problems(
    session: Session, scope: Scope, values: Mapping[str, Any], *, job_id: int | None = None
) -> list[tuple[str, str]]:
    """Every (field, message) wrong with a feedback's complete ``values``; empty when they may be stored.

    ``job_id`` is the job the feedback already belongs to when it is being changed: that
    reference is not checked again. A job that already has other feedback is not a problem
    here; :func:`create_feedback` answers it with :class:`Conflict`.
    """
    get = values.get
    problems = [(name, "is not a feedback field") for name in values if name not in FEEDBACK_FIELDS]
    problems += [(name, "is required") for name in ("job_id", "rating", "received_at") if get(name) is None]
    if get("job_id") is not None and not _whole(get("job_id"), 1, 2**31 - 1):
        problems.append(("job_id", "must be a positive whole number"))
    if get("rating") is not None and not _whole(get("rating"), 1, 5):
        problems.append(("rating", "must be a whole number from 1 to 5"))
    if get("nps") is not None and not _whole(get("nps"), 0, 10):
        problems.append(("nps", "must be a whole number from 0 to 10"))
    comment = get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
        problems.append(("comment", f"must be text of at most {MAX_COMMENT} characters"))
    received = get("received_at")
    if received is not None and (not isinstance(received, datetime) or received.tzinfo is None):
        problems.append(("received_at", "must be a date and time with a time zone"))
    if problems or get("job_id") == job_id:
        return problems
    visible = select(Job.id).where(Job.id == get("job_id"), scope.technicians(Job.technician_id))
    if session.scalar(visible) is None:
        yours = "" if scope.sees_all else " among your teams' jobs"
        problems.append(("job_id", f"no job with id {get('job_id')}{yours}"))
    return problems


def validate_feedback_values(
    session: Session, scope: Scope, values: Mapping[str, Any], *, job_id: int | None = None
) -> dict[str, Any]:
    """Check (see :func:`feedback_problems`) and return the values, received_at in UTC; :class:`Invalid` if wrong."""
    problems = feedback_problems(session, scope, values, job_id=job_id)
    if problems:
        raise Invalid(*problems[0])
    result = {name: values.get(name) for name in FEEDBACK_FIELDS}
    result["received_at"] = result["received_at"].astimezone(UTC)
    return result


def _ensure_single(session: Session, job_id: int) -> None:
    existing = session.scalar(select(Feedback.id).where(Feedback.job_id == job_id))
    if existing is not None:
        raise Conflict("job_id", f"job {job_id} already has feedback (id {existing}); change that instead")


def create_feedback(session: Session, scope: Scope, actor: Actor, data: Mapping[str, Any]) -> Feedback:
    """Record a job's feedback; 422 if the job is not one the caller may see, 409 if it already has some."""
    values = validate_feedback_values(session, scope, data)
    _ensure_single(session, values["job_id"])
    return changes.create(session, actor, "feedback", Feedback(**values), unique_field="job_id")


def update_feedback(
    session: Session, scope: Scope, actor: Actor, feedback: Feedback, data: Mapping[str, Any]
) -> Feedback:
    """Apply the fields in ``data``; the result must pass :func:`validate_feedback_values`."""
    current = {name: getattr(feedback, name) for name in FEEDBACK_FIELDS}
    values = validate_feedback_values(session, scope, {**current, **data}, job_id=feedback.job_id)
    if values["job_id"] != feedback.job_id:
        _ensure_single(session, values["job_id"])
    wanted = {name: values[name] for name in FEEDBACK_FIELDS if name in data}
    return changes.update(session, actor, "feedback", feedback, wanted, unique_field="job_id")


def upsert_feedback_for_job(
    session: Session, scope: Scope, actor: Actor, values: Mapping[str, Any]
) -> tuple[Feedback, str]:
    """Create the feedback of ``values["job_id"]`` or change it to ``values``: idempotent imports.

    Returns the feedback and ``"created"``, ``"updated"`` or ``"unchanged"``.
    """
    job_id = values.get("job_id")
    existing = session.scalar(select(Feedback).where(Feedback.job_id == job_id)) if _whole(job_id, 1, 2**31) else None
    if existing is None:
        return create_feedback(session, scope, actor, values), "created"
    if session.scalar(select(Feedback.id).where(Feedback.id == existing.id, _in_scope(scope))) is None:
        raise Invalid("job_id", f"no job with id {job_id} among your teams' jobs")
    before = {name: getattr(existing, name) for name in FEEDBACK_FIELDS}
    feedback = update_feedback(session, scope, actor, existing, values)
    after = {name: getattr(feedback, name) for name in FEEDBACK_FIELDS}
    return feedback, "unchanged" if after == before else "updated"


def delete_feedback(session: Session, actor: Actor, feedback: Feedback) -> None:
    changes.delete(session, actor, "feedback", feedback)
