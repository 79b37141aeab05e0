"""What a report covers, in words: its filters by name, and a label for its scope.

A manager's report holds only the teams they manage, so it must say so: its
summary is the "North team summary", not the "Company summary", and its
filters read "Teams: North" even when the manager chose none. The label
follows the narrowest of: the technicians filtered on, the teams filtered
on, the requester's own scope, the company.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import Scope
from kpi_core.kpis.query import Filters
from kpi_core.storage.models import Team, Technician

COMPANY = "Company"
MANY = 3
"""Beyond this many names, a label counts them ("5 teams") instead of listing them."""


@dataclass(frozen=True)
class Coverage:
    """``label``: what the report covers ("North team"); ``filters``: filter name -> the names kept."""

    label: str
    filters: dict[str, list[str]]


def describe_coverage(session: Session, filters: Filters, scope: Scope) -> Coverage:
    """The report's coverage as its reader knows it: names, never ids."""
    described: dict[str, list[str]] = {}
    teams = _team_names(session, filters.teams) if filters.teams else _scope_teams(session, scope)
    if teams:
        described["team"] = teams
    technicians = _technician_names(session, filters.technicians or _scope_technicians(scope))
    if technicians:
        described["technician"] = technicians
    if filters.categories:
        described["category"] = list(filters.categories)
    if technicians:
        label = join_names(technicians, "technician", "technicians", suffix=False)
    elif teams:
        label = join_names(teams, "team", "teams")
    else:
        label = COMPANY
    return Coverage(label, described)


def join_names(names: Sequence[str], one: str, many: str, *, suffix: bool = True) -> str:
    """``["North"]`` -> "North team"; two or three -> "North and South teams"; more -> "5 teams"."""
    if len(names) > MANY:
        return f"{len(names)} {many}"
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    if not suffix:
        return listed
    return f"{listed} {one if len(names) == 1 else many}"


def _team_names(session: Session, team_ids: Sequence[int]) -> list[str]:
    return list(session.scalars(select(Team.name).where(Team.id.in_(team_ids)).order_by(Team.name)))


def _scope_teams(session: Session, scope: Scope) -> list[str]:
    principal = scope.principal
    if scope.sees_all or principal is None or principal.role != "manager":
        return []
    return _team_names(session, sorted(principal.managed_team_ids))


def _scope_technicians(scope: Scope) -> tuple[int, ...]:
    principal = scope.principal
    if scope.sees_all or principal is None or principal.role != "technician" or principal.technician_id is None:
        return ()
    return (principal.technician_id,)


def _technician_names(session: Session, technician_ids: Sequence[int]) -> list[str]:
    if not technician_ids:
        return []
    query = select(Technician.name).where(Technician.id.in_(technician_ids)).order_by(Technician.name)
    return list(session.scalars(query))
