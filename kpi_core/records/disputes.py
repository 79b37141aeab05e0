"""Callback disputes: a callback counted against a job's crew, disputed as not their workmanship.

A callback (a job whose ``callback_of_id`` names the original job) counts against the original
job's crew in the first-time fix. Someone on that crew, a manager of a crew member's team or an
admin may dispute it, with a reason; a manager of the team or an admin accepts or rejects the
dispute. An accepted dispute takes the callback out of the original job's first-time fix (the
quality plugin reads ``callback_disputes``); every step is audited (entity ``callback_dispute``,
actions ``open``, ``accept`` and ``reject``) and bumps nothing but what it changes: a decision
bumps the data versions of the original job's months.

Who sees a dispute: whoever may see the original job's crew (:func:`crew_in_scope`): admins all,
managers those of their teams' technicians, technicians those of jobs they were on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, or_, select, true
from sqlalchemy.orm import Session, aliased

from kpi_core.accounts.scope import Scope
from kpi_core.audit.trail import Actor, record, snapshot
from kpi_core.errors import Conflict, Invalid, NotFound
from kpi_core.notify.webhooks import emit_event
from kpi_core.records.changes import savepoint
from kpi_core.storage import versions
from kpi_core.storage.models import CallbackDispute, Job, JobAssignment, Technician, User
from kpi_core.storage.types import utcnow

ENTITY = "callback_dispute"
MAX_TEXT = 2000
REASONS: dict[str, str] = {
    "customer_damage": "The customer (or someone else) damaged the work",
    "part_failure": "A part failed, not the way it was fitted",
    "new_problem": "A new problem, not the one that was fixed",
    "other": "Another reason (said in the comment)",
}
"""Why a callback was not the crew's workmanship, in words."""
STATUSES: dict[str, str] = {
    "open": "Waiting for a manager's decision",
    "accepted": "Accepted: the callback no longer counts against the job",
    "rejected": "Rejected: the callback still counts against the job",
}
DECISIONS = {"accept": "accepted", "reject": "rejected"}
SORTABLE = {"opened_at": CallbackDispute.opened_at, "decided_at": CallbackDispute.decided_at}

STILL_OPEN = "already has an open dispute: it is decided before another one can be opened"
RACE_LOST = "was disputed at the same moment by someone else; reload to see that dispute"


def crew_in_scope(scope: Scope, job_id: Any, lead_id: Any) -> ColumnElement[bool]:
    """The job ``job_id`` (a column; ``lead_id`` its ``technician_id``) has its lead or a crew member in ``scope``."""
    if scope.sees_all:
        return true()
    crew = select(JobAssignment.job_id).where(
        JobAssignment.job_id == job_id, scope.technicians(JobAssignment.technician_id)
    )
    return or_(scope.technicians(lead_id), exists(crew))


def _on_crew(technician_id: int, job_id: Any, lead_id: Any) -> ColumnElement[bool]:
    crew = select(JobAssignment.job_id).where(
        JobAssignment.job_id == job_id, JobAssignment.technician_id == technician_id
    )
    return or_(lead_id == technician_id, exists(crew))


# --- reading ------------------------------------------------------------------------------------


def dispute_query(scope: Scope, filters: Mapping[str, Any]) -> Select[Any]:
    """Disputes in ``scope`` as rows (see :func:`with_crews` for what each holds), filtered by ``status``,
    ``technician`` (on the original job's crew) and ``job`` (the callback or its original)."""
    callback, original = aliased(Job, name="callback"), aliased(Job, name="original")
    lead = aliased(Technician, name="lead")
    opener, decider = aliased(User, name="opener"), aliased(User, name="decider")
    query = (
        select(
            CallbackDispute.id,
            CallbackDispute.callback_job_id,
            callback.external_ref.label("callback_ref"),
            callback.status.label("callback_status"),
            callback.scheduled_start.label("callback_scheduled_start"),
            CallbackDispute.original_job_id,
            original.external_ref.label("original_ref"),
            original.category,
            original.completed_at.label("original_completed_at"),
            original.technician_id,
            lead.name.label("technician"),
            CallbackDispute.reason,
            CallbackDispute.comment,
            CallbackDispute.status,
            CallbackDispute.opened_by_id,
            func.coalesce(opener.display_name, opener.username).label("opened_by"),
            CallbackDispute.opened_at,
            CallbackDispute.decided_by_id,
            func.coalesce(decider.display_name, decider.username).label("decided_by"),
            CallbackDispute.decided_at,
            CallbackDispute.decision_note,
        )
        .join(callback, callback.id == CallbackDispute.callback_job_id)
        .join(original, original.id == CallbackDispute.original_job_id)
        .join(lead, lead.id == original.technician_id)
        .outerjoin(opener, opener.id == CallbackDispute.opened_by_id)
        .outerjoin(decider, decider.id == CallbackDispute.decided_by_id)
        .where(crew_in_scope(scope, CallbackDispute.original_job_id, original.technician_id))
    )
    if filters.get("status"):
        query = query.where(CallbackDispute.status == filters["status"])
    if filters.get("technician") is not None:
        query = query.where(_on_crew(filters["technician"], CallbackDispute.original_job_id, original.technician_id))
    if filters.get("job") is not None:
        job = filters["job"]
        query = query.where(or_(CallbackDispute.callback_job_id == job, CallbackDispute.original_job_id == job))
    return query


def with_crews(session: Session, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each dispute row as a dict with its words (``reason_label``, ``status_label``) and ``crew``: the
    names of the original job's crew, lead first (one query for all the rows)."""
    items = [dict(row) for row in rows]
    crews = crew_names(session, {item["original_job_id"] for item in items})
    for item in items:
        item["reason_label"] = REASONS[item["reason"]]
        item["status_label"] = STATUSES[item["status"]]
        item["crew"] = crews.get(item["original_job_id"], [item["technician"]])
    return items


def crew_names(session: Session, job_ids: Iterable[int]) -> dict[int, list[str]]:
    """{job id: names of its crew, lead first}."""
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(JobAssignment.job_id, Technician.name)
        .join(Technician, Technician.id == JobAssignment.technician_id)
        .where(JobAssignment.job_id.in_(ids))
        .order_by(JobAssignment.job_id, JobAssignment.role.desc(), Technician.name)
    )
    found: dict[int, list[str]] = {}
    for job_id, name in rows:
        found.setdefault(job_id, []).append(name)
    return found


def get_dispute(session: Session, scope: Scope, dispute_id: int, *, for_update: bool = False) -> CallbackDispute:
    """The dispute if its original job's crew is in ``scope``, else :class:`NotFound`."""
    original = aliased(Job, name="original")
    query = (
        select(CallbackDispute)
        .join(original, original.id == CallbackDispute.original_job_id)
        .where(
            CallbackDispute.id == dispute_id,
            crew_in_scope(scope, CallbackDispute.original_job_id, original.technician_id),
        )
    )
    dispute = session.scalar(query.with_for_update(of=CallbackDispute) if for_update else query)
    if dispute is None:
        raise NotFound(f"no dispute with id {dispute_id}")
    return dispute


def dispute_row(session: Session, scope: Scope, dispute_id: int) -> dict[str, Any]:
    """One dispute as :func:`dispute_query` and :func:`with_crews` give it."""
    row = session.execute(dispute_query(scope, {}).where(CallbackDispute.id == dispute_id)).mappings().first()
    if row is None:
        raise NotFound(f"no dispute with id {dispute_id}")
    return with_crews(session, [row])[0]


def visible_job(session: Session, scope: Scope, job_id: int) -> Job:
    """The job if its crew is in ``scope``, or, for a callback, its original's crew; else :class:`NotFound`."""
    original = aliased(Job, name="original")
    query = (
        select(Job)
        .outerjoin(original, original.id == Job.callback_of_id)
        .where(
            Job.id == job_id,
            or_(
                crew_in_scope(scope, Job.id, Job.technician_id),
                crew_in_scope(scope, original.id, original.technician_id),
            ),
        )
    )
    job = session.scalar(query)
    if job is None:
        raise NotFound(f"no job with id {job_id}")
    return job


def callback_query(scope: Scope, filters: Mapping[str, Any]) -> Select[Any]:
    """Callbacks counted against jobs in ``scope`` (their original's crew), as rows: id, external_ref,
    status, scheduled_start, completed_at, technician_id and technician (of the callback's lead),
    original_job_id and original_ref. Filtered by ``original`` (job ids), ``callback`` (the callback's id)
    and ``technician`` (on the original's crew)."""
    callback, original = aliased(Job, name="callback"), aliased(Job, name="original")
    lead = aliased(Technician, name="lead")
    query = (
        select(
            callback.id,
            callback.external_ref,
            callback.status,
            callback.scheduled_start,
            callback.completed_at,
            callback.technician_id,
            lead.name.label("technician"),
            original.id.label("original_job_id"),
            original.external_ref.label("original_ref"),
        )
        .join(original, original.id == callback.callback_of_id)
        .join(lead, lead.id == callback.technician_id)
        .where(crew_in_scope(scope, original.id, original.technician_id))
    )
    if filters.get("original"):
        query = query.where(original.id.in_(filters["original"]))
    if filters.get("callback") is not None:
        query = query.where(callback.id == filters["callback"])
    if filters.get("technician") is not None:
        query = query.where(_on_crew(filters["technician"], original.id, original.technician_id))
    return query


def with_disputes(session: Session, scope: Scope, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each callback row as a dict with ``disputes`` (its disputes against its original, newest first) and
    ``may_dispute`` (not cancelled, and no dispute open or accepted): one query for all the rows."""
    items = [dict(row) for row in rows]
    ids = [item["id"] for item in items]
    found = (
        with_crews(
            session,
            session.execute(
                dispute_query(scope, {})
                .where(CallbackDispute.callback_job_id.in_(ids))
                .order_by(CallbackDispute.opened_at.desc(), CallbackDispute.id.desc())
            ).mappings(),
        )
        if ids
        else []
    )
    for item in items:
        item["disputes"] = [
            dispute
            for dispute in found
            if dispute["callback_job_id"] == item["id"] and dispute["original_job_id"] == item["original_job_id"]
        ]
        standing = any(dispute["status"] in ("open", "accepted") for dispute in item["disputes"])
        item["may_dispute"] = item["status"] != "cancelled" and not standing
    return items


# --- changing -----------------------------------------------------------------------------------


def _text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise Invalid(field, f"must be text of at most {MAX_TEXT} characters")
    return value.strip() or None


def open_dispute(
    session: Session, scope: Scope, actor: Actor, callback_job_id: int, reason: Any, comment: Any = None
) -> CallbackDispute:
    """Dispute the callback ``callback_job_id``'s attribution to its original job, with ``reason``.

    NotFound where the caller may see neither the job nor its original; Invalid (naming the field) for
    a job that is no callback, a cancelled callback, one counted against a crew outside the caller's
    scope, an unknown reason or ``other`` without a comment; Conflict (``job_id``) while the callback
    has an open dispute, or once a dispute of it was accepted. Nothing is written on any of these.
    """
    callback = visible_job(session, scope, callback_job_id)
    if callback.callback_of_id is None:
        raise Invalid(
            "job_id",
            f"job {callback.external_ref} is not a callback (it has no callback_of_id: no earlier job it "
            "returns to), so there is nothing to dispute",
            location="path",
        )
    original = session.scalar(
        select(Job).where(Job.id == callback.callback_of_id, crew_in_scope(scope, Job.id, Job.technician_id))
    )
    if original is None:
        raise Invalid(
            "job_id",
            "counts against another crew's job: only that crew, a manager of their team or an admin may dispute it",
            location="path",
        )
    if callback.status == "cancelled":
        raise Invalid("job_id", "is a cancelled callback: it does not count against the original job", location="path")
    if reason not in REASONS:
        raise Invalid("reason", f"must be one of {', '.join(REASONS)}")
    comment = _text(comment, "comment")
    if reason == "other" and comment is None:
        raise Invalid("comment", "is required when the reason is other: say what happened instead")
    _ensure_none_standing(session, callback.id, original.id)
    dispute = CallbackDispute(
        callback_job_id=callback.id,
        original_job_id=original.id,
        reason=reason,
        comment=comment,
        status="open",
        opened_by_id=actor.user_id,
        opened_at=utcnow(),
    )
    with savepoint("job_id", RACE_LOST, session):
        session.add(dispute)
    record(session, actor, "open", ENTITY, dispute.id, after=snapshot(dispute))
    _dispute_opened(session, dispute, callback, original, actor)
    return dispute


def _dispute_opened(session: Session, dispute: CallbackDispute, callback: Job, original: Job, actor: Actor) -> None:
    """Tell the webhooks that want it, in the transaction that opens the dispute."""
    payload = {
        "dispute_id": dispute.id,
        "callback_job_id": callback.id,
        "callback_ref": callback.external_ref,
        "original_job_id": original.id,
        "original_ref": original.external_ref,
        "reason": dispute.reason,
        "comment": dispute.comment,
        "opened_by": actor.username,
    }
    summary = f"Callback {callback.external_ref} (of job {original.external_ref}) was disputed: {dispute.reason}."
    emit_event(session, "dispute.opened", payload, event_id=f"dispute:{dispute.id}", summary=summary)


def _ensure_none_standing(session: Session, callback_id: int, original_id: int) -> None:
    standing = session.execute(
        select(CallbackDispute.status).where(
            CallbackDispute.callback_job_id == callback_id,
            or_(
                CallbackDispute.status == "open",
                (CallbackDispute.status == "accepted") & (CallbackDispute.original_job_id == original_id),
            ),
        )
    ).scalars()
    statuses = set(standing)
    if "open" in statuses:
        raise Conflict("job_id", f"this callback {STILL_OPEN}")
    if "accepted" in statuses:
        raise Conflict("job_id", "a dispute of this callback was accepted already: it no longer counts against the job")


def decide_dispute(
    session: Session, scope: Scope, actor: Actor, dispute_id: int, decision: Any, note: Any = None
) -> CallbackDispute:
    """Accept or reject an open dispute (``decision``: accept or reject; a rejection says why in ``note``).

    NotFound outside the caller's scope; Invalid for another decision or a rejection without a note;
    Conflict (``decision``) once the dispute is decided. A decision is audited and bumps the data
    versions of the original job's months, so every cached value of its first-time fix is recomputed.
    """
    dispute = get_dispute(session, scope, dispute_id, for_update=True)
    if decision not in DECISIONS:
        raise Invalid("decision", f"must be one of {', '.join(DECISIONS)}")
    if dispute.status != "open":
        raise Conflict("decision", f"the dispute was {dispute.status} already; a decided dispute stays decided")
    note = _text(note, "note")
    if decision == "reject" and note is None:
        raise Invalid("note", "is required when rejecting a dispute: say why, so the crew knows")
    before = snapshot(dispute)
    dispute.status = DECISIONS[decision]
    dispute.decided_by_id = actor.user_id
    dispute.decided_at = utcnow()
    dispute.decision_note = note
    session.flush()
    record(session, actor, decision, ENTITY, dispute.id, before=before, after=snapshot(dispute))
    versions.bump(session, versions.job_months(session, [dispute.original_job_id]))
    return dispute
