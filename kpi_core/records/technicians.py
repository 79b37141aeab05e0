"""Technicians: the people every KPI is about."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import Scope
from kpi_core.audit.trail import Actor
from kpi_core.errors import Invalid, NotFound
from kpi_core.records import changes
from kpi_core.storage.models import Team, Technician

SORTABLE = {"name": Technician.name, "external_ref": Technician.external_ref, "created_at": Technician.created_at}


def technician_query(scope: Scope, filters: dict[str, Any]) -> Select[tuple[Technician]]:
    query = select(Technician).where(scope.technicians(Technician.id, Technician.team_id))
    if "team" in filters:
        query = query.where(Technician.team_id == filters["team"])
    if "active" in filters:
        query = query.where(Technician.active == filters["active"])
    if filters.get("q"):
        query = query.where(func.lower(Technician.name).contains(filters["q"].lower(), autoescape=True))
    return query


def get_technician(session: Session, scope: Scope, technician_id: int) -> Technician:
    technician = session.scalar(
        select(Technician).where(Technician.id == technician_id, scope.technicians(Technician.id, Technician.team_id))
    )
    if technician is None:
        raise NotFound(f"no technician with id {technician_id}")
    return technician


def _check_team(session: Session, scope: Scope, team_id: int | None) -> None:
    if team_id is None:
        if not scope.sees_all:
            raise Invalid("team_id", "managers must put technicians in a team they manage")
        return
    if session.get(Team, team_id) is None:
        raise Invalid("team_id", f"no team with id {team_id}")
    if not scope.allows_team(team_id):
        raise Invalid("team_id", "you do not manage this team")


def create_technician(session: Session, scope: Scope, actor: Actor, data: dict[str, Any]) -> Technician:
    _check_team(session, scope, data.get("team_id"))
    changes.ensure_unique(session, Technician, "external_ref", data["external_ref"])
    return changes.create(session, actor, "technician", Technician(**data), unique_field="external_ref")


def update_technician(
    session: Session, scope: Scope, actor: Actor, technician: Technician, data: dict[str, Any]
) -> Technician:
    if "team_id" in data:
        _check_team(session, scope, data["team_id"])
    if "external_ref" in data:
        changes.ensure_unique(session, Technician, "external_ref", data["external_ref"], exclude_id=technician.id)
    return changes.update(session, actor, "technician", technician, data, unique_field="external_ref")


def delete_technician(session: Session, actor: Actor, technician: Technician) -> None:
    """Delete a technician with no jobs or evaluations; otherwise mark them inactive instead (409 says so)."""
    changes.delete(session, actor, "technician", technician, blocked_by="technician")
