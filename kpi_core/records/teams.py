"""Teams."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, true
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import Scope
from kpi_core.audit.trail import Actor
from kpi_core.errors import Conflict, NotFound
from kpi_core.records import changes
from kpi_core.storage.models import Team, Technician

SORTABLE = {"name": Team.name, "created_at": Team.created_at}


def team_query(scope: Scope, *, name: str | None = None) -> Select[tuple[Team]]:
    """The teams ``scope`` works with: admins all, managers those they manage, technicians their own.

    Team names are not personal data, but every filter and form lists these, and a team outside
    the scope would only lead to empty pages (issue #16).
    """
    query = select(Team).where(_visible(scope))
    if name:
        query = query.where(func.lower(Team.name).contains(name.lower(), autoescape=True))
    return query


def get_team(session: Session, scope: Scope, team_id: int) -> Team:
    team = session.scalar(select(Team).where(Team.id == team_id, _visible(scope)))
    if team is None:
        raise NotFound(f"no team with id {team_id}")
    return team


def create_team(session: Session, actor: Actor, data: dict[str, Any]) -> Team:
    changes.ensure_unique(session, Team, "name", data["name"])
    return changes.create(session, actor, "team", Team(name=data["name"]), unique_field="name")


def update_team(session: Session, actor: Actor, team: Team, data: dict[str, Any]) -> Team:
    if "name" in data:
        changes.ensure_unique(session, Team, "name", data["name"], exclude_id=team.id)
    return changes.update(session, actor, "team", team, data, unique_field="name")


def delete_team(session: Session, actor: Actor, team: Team) -> None:
    members = session.scalar(select(func.count()).where(Technician.team_id == team.id))
    if members:
        raise Conflict("team", f"{members} technicians still belong to this team; move them first")
    changes.delete(session, actor, "team", team)


def _visible(scope: Scope) -> ColumnElement[bool]:
    principal = scope.principal
    if scope.sees_all or principal is None:
        return true()
    if principal.role == "manager":
        return Team.id.in_(principal.managed_team_ids or {0})
    own_team = select(Technician.team_id).where(Technician.id == principal.technician_id)
    return Team.id.in_(own_team)
