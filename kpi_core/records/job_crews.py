"""A job's crew as the jobs API reads and writes it: who may see it, who is on it, and changes to it.

The rules of a crew (one lead, shares above 0 summing to 1, equal by default) are
:mod:`kpi_core.records.crews`'; this module applies them to the ``technicians`` of an API request
and names the field at fault (``technicians[1].share``, ``technicians`` for the crew as a whole).

Who sees a job: anyone who sees one of its crew, in any role (:func:`visible`). A technician sees
the jobs they lead or help on; a manager the jobs with a technician of their teams on the crew.
Who may change one is the lead's business: see :func:`kpi_core.records.jobs.may_change`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import Scope
from kpi_core.errors import Invalid
from kpi_core.records.crews import CrewMember, CrewProblem, lead_of, settle_crew
from kpi_core.storage.models import Job, JobAssignment, Technician
from kpi_core.storage.types import utcnow

FIELD = "technicians"
NAMES = "kpi_technician_names"
"""``session.info`` key: technicians' names by id, read once per request for every crew shown."""

Crew = list[CrewMember[int]]


def has_member(*conditions: Any, with_team: bool = False) -> ColumnElement[bool]:
    """EXISTS a member of the crew of the query's job meeting ``conditions`` (on JobAssignment, and
    on Technician when ``with_team``): correlated to :class:`Job`, so it goes in a query of jobs."""
    members = select(JobAssignment.job_id).where(JobAssignment.job_id == Job.id, *conditions)
    if with_team:
        members = members.join(Technician, Technician.id == JobAssignment.technician_id)
    return members.exists()


def _jobs_of(*conditions: Any) -> ColumnElement[bool]:
    # One technician's jobs: a range of the (technician_id, job_id) index, where a correlated EXISTS
    # would probe the crews of every job (on SQLite about ten times slower, for a list and its count).
    return Job.id.in_(select(JobAssignment.job_id).where(*conditions))


def visible(scope: Scope) -> ColumnElement[bool]:
    """Jobs in ``scope``: some member of the crew, lead or helper, is a technician the scope covers."""
    if scope.sees_all:
        return true()
    assert scope.principal is not None
    if scope.principal.role == "technician":
        return _jobs_of(scope.technicians(JobAssignment.technician_id))
    return has_member(scope.technicians(JobAssignment.technician_id, Technician.team_id), with_team=True)


def on_team(team_id: int) -> ColumnElement[bool]:
    """Jobs with a technician of the team on the crew (the list's ``team`` filter)."""
    return has_member(Technician.team_id == team_id, with_team=True)


def with_technician(technician_id: int) -> ColumnElement[bool]:
    """Jobs the technician is on, in any role (the list's ``technician`` filter)."""
    return _jobs_of(JobAssignment.technician_id == technician_id)


# --- reading -----------------------------------------------------------------------------------


def technician_names(session: Session, jobs: Iterable[Job]) -> dict[int, str]:
    """The names of the crews of ``jobs``, read in one query (and kept for the request's session)."""
    names: dict[int, str] = session.info.setdefault(NAMES, {})
    missing = {member.technician_id for job in jobs for member in job.assignments} - names.keys()
    if missing:
        names.update(session.execute(select(Technician.id, Technician.name).where(Technician.id.in_(missing))).all())
    return names


def _in_order(job: Job) -> list[JobAssignment]:
    # As the relationship orders them when loaded; also right for a crew changed in this session.
    return sorted(job.assignments, key=lambda member: (member.role != "lead", member.technician_id))


def crew_of(session: Session, job: Job) -> list[dict[str, Any]]:
    """The job's crew as answered: technician_id, technician (the name), role and share, lead first."""
    names = technician_names(session, [job])
    return [
        {
            "technician_id": member.technician_id,
            "technician": names.get(member.technician_id, ""),
            "role": member.role,
            "share": member.share,
        }
        for member in _in_order(job)
    ]


def crew_snapshot(job: Job) -> list[dict[str, Any]]:
    """The crew as the audit trail keeps it: technician_id, role and share, lead first."""
    return [
        {"technician_id": member.technician_id, "role": member.role, "share": member.share} for member in _in_order(job)
    ]


# --- checking what an API request gives --------------------------------------------------------


def checked_crew(
    session: Session,
    scope: Scope,
    given: Sequence[Mapping[str, Any]],
    *,
    technician_id: int | None = None,
    job: Job | None = None,
) -> Crew:
    """The settled crew of ``given`` (items with technician_id, and role and share or None); Invalid otherwise.

    Every technician must be one the caller may see, as ``technician_id`` must: one outside the
    scope reads as one that does not exist. A technician already on ``job``'s crew (the job being
    changed) was checked when added and may stay. A new lead must be one the caller may see even if
    already a helper: handing the job to another team is that team's business. ``technician_id``,
    if the request gives it too, must be the crew's lead.
    """
    members = [CrewMember(item["technician_id"], item.get("role"), item.get("share")) for item in given]
    ids = {member.technician for member in members}
    on_crew = {member.technician_id for member in job.assignments} if job is not None else set()
    in_scope = set(
        session.scalars(
            select(Technician.id).where(Technician.id.in_(ids), scope.technicians(Technician.id, Technician.team_id))
        )
    )
    whose = "" if scope.sees_all else " among your teams' technicians"
    for index, member in enumerate(members):
        if member.technician not in in_scope | on_crew:
            raise Invalid(f"{FIELD}[{index}].technician_id", f"no technician with id {member.technician}{whose}")
    names = dict(session.execute(select(Technician.id, Technician.name).where(Technician.id.in_(ids))).all())
    try:
        crew = settle_crew(members, lambda technician: names.get(technician, f"technician {technician}"))
    except CrewProblem as problem:
        raise Invalid(_field_of(members, problem.member), str(problem)) from None
    lead = lead_of(crew)
    if technician_id is not None and technician_id != lead:
        raise Invalid(
            "technician_id",
            f"is not the lead of the crew given in technicians ({names[lead]}, id {lead}): leave it out, "
            "or make that technician the lead",
        )
    if lead not in in_scope and (job is None or job.technician_id != lead):
        index = next(index for index, member in enumerate(members) if member.technician == lead)
        raise Invalid(
            f"{FIELD}[{index}].role",
            f"{names[lead]} cannot lead this job: the lead must be one of your teams' technicians",
        )
    return crew


def _field_of(members: Sequence[CrewMember[int]], index: int | None) -> str:
    """The field a crew problem is about: the member's technician (listed twice), role (a second
    lead) or share; the crew as a whole when no one member is at fault (the sum, no lead)."""
    if index is None:
        return FIELD
    member = members[index]
    if any(other.technician == member.technician for other in members[:index]):
        return f"{FIELD}[{index}].technician_id"
    share = member.share
    if share is not None and not (math.isfinite(share) and 0 < share <= 1):
        return f"{FIELD}[{index}].share"
    return f"{FIELD}[{index}].role"  # the second lead


# --- writing -----------------------------------------------------------------------------------


def set_crew(job: Job, crew: Crew) -> bool:
    """Make ``job``'s crew the settled ``crew`` (its lead must be ``job.technician_id``); True if it changed.

    Rows are changed in place (a member who stays keeps their row), so one flush writes the
    difference. A change touches the job (``updated_at``), so its months' data versions are bumped.
    """
    wanted = {member.technician: member for member in crew}
    changed = False
    for row in list(job.assignments):
        member = wanted.pop(row.technician_id, None)
        if member is None:
            job.assignments.remove(row)
            changed = True
        elif (row.role, row.share) != (member.role, member.share):
            row.role, row.share = member.role, member.share
            changed = True
    for member in wanted.values():
        job.assignments.append(JobAssignment(technician_id=member.technician, role=member.role, share=member.share))
        changed = True
    if changed and job.id is not None:
        job.updated_at = utcnow()
    return changed
