"""Which records a principal may see: the one scoping rule every query applies.

Admins see everything; managers the technicians of the teams they manage
(and what belongs to them); technicians only themselves. A record outside
the scope is answered as if it did not exist (404), never 403, so its
existence does not leak.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, true

from kpi_core.accounts.permissions import Principal
from kpi_core.storage.models import Technician


class Scope:
    def __init__(self, principal: Principal | None) -> None:
        self.principal = principal

    @property
    def sees_all(self) -> bool:
        return self.principal is None or self.principal.role == "admin"

    def technicians(self, technician_id: Any = Technician.id, team_id: Any = None) -> ColumnElement[bool]:
        """A WHERE clause limiting ``technician_id`` (a column holding a technician's id) to the scope.

        ``team_id`` is the column holding that technician's team when the query
        already joins it; otherwise a subquery on technicians is used.
        """
        principal = self.principal
        if self.sees_all:
            return true()
        assert principal is not None
        if principal.role == "technician":
            if principal.technician_id is None:
                return false()
            return technician_id == principal.technician_id
        if not principal.managed_team_ids:
            return false()
        if team_id is not None:
            return team_id.in_(principal.managed_team_ids)
        from sqlalchemy import select

        in_teams = select(Technician.id).where(Technician.team_id.in_(principal.managed_team_ids))
        return technician_id.in_(in_teams)

    def teams(self, team_id: Any) -> ColumnElement[bool]:
        """Teams a principal may manage records of (admins all, managers theirs, technicians none)."""
        principal = self.principal
        if self.sees_all:
            return true()
        assert principal is not None
        if principal.role == "manager" and principal.managed_team_ids:
            return team_id.in_(principal.managed_team_ids)
        return false()

    def allows_team(self, team_id: int | None) -> bool:
        if self.sees_all:
            return True
        principal = self.principal
        assert principal is not None
        return principal.role == "manager" and team_id in principal.managed_team_ids


UNSCOPED = Scope(None)
"""For the command line and background jobs, which act for the whole company."""
