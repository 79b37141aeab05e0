"""Test data in a few lines: teams, technicians, customers, jobs and feedback (the ``seed`` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from typing import Any

from kpi_core.storage.db import Database
from kpi_core.storage.models import Customer, Feedback, Job, Team, Technician


class Seed:
    """Adds rows to the core's fact tables, each committed at once, and returns their ids.

    ``seed.technician("Ann", team="North")`` (the team is made on first use),
    ``seed.job(ann, completed_at=..., rating=5)`` (a completed job with its
    feedback), ``seed.feedback(job, 4)``. External references are made up
    (``T-1``, ``J-2``, ...) unless given. Instants must carry a time zone.
    Changes to these tables are seen by the KPI cache like any other.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._refs = count(1)
        self.teams: dict[str, int] = {}

    def _add(self, row: Any) -> int:
        with self.database.session() as session:
            session.add(row)
            session.flush()
            return int(row.id)

    def team(self, name: str) -> int:
        """The id of the team called ``name``, made on first use."""
        if name not in self.teams:
            self.teams[name] = self._add(Team(name=name))
        return self.teams[name]

    def technician(self, name: str, *, team: str | None = None, external_ref: str | None = None, **fields: Any) -> int:
        """A technician (in ``team``, by name); ``fields`` are other columns (``hired_on``, ``active``)."""
        team_id = self.team(team) if team is not None else None
        ref = external_ref or f"T-{next(self._refs)}"
        return self._add(Technician(external_ref=ref, name=name, team_id=team_id, **fields))

    def customer(self, name: str, *, external_ref: str | None = None) -> int:
        """A customer."""
        return self._add(Customer(external_ref=external_ref or f"C-{next(self._refs)}", name=name))

    def job(
        self,
        technician: int,
        *,
        completed_at: datetime | None = None,
        rating: int | None = None,
        category: str = "plumbing",
        external_ref: str | None = None,
        **fields: Any,
    ) -> int:
        """A job of ``technician``: completed when ``completed_at`` is given (scheduled otherwise).

        ``rating`` adds the customer's feedback, received when the job was
        completed; ``fields`` are other columns of ``jobs`` (``revenue``,
        ``scheduled_start``, ``callback_of_id``, ``status``, ...).
        """
        fields.setdefault("status", "completed" if completed_at is not None else "scheduled")
        ref = external_ref or f"J-{next(self._refs)}"
        job_id = self._add(
            Job(external_ref=ref, technician_id=technician, category=category, completed_at=completed_at, **fields)
        )
        if rating is not None:
            self.feedback(job_id, rating, received_at=completed_at)
        return job_id

    def feedback(
        self, job: int, rating: int, *, received_at: datetime | None = None, nps: int | None = None, comment: str = ""
    ) -> int:
        """The customer's feedback on ``job`` (rating 1 to 5), received now unless said."""
        received = received_at or datetime.now(UTC)
        return self._add(Feedback(job_id=job, rating=rating, nps=nps, comment=comment or None, received_at=received))
