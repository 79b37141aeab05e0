"""Migration 0010 (issue #18, crews): every job that exists when it runs keeps its technician, as
the sole lead of its crew with the whole share; jobs added afterwards get their crew too. On SQLite
and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import column as col
from sqlalchemy import insert, inspect, select, table

from kpi_core.storage.db import Database
from kpi_core.storage.migrate import downgrade, upgrade
from kpi_core.storage.models import Job, JobAssignment

NOW = {"created_at": datetime(2026, 12, 1, tzinfo=UTC), "updated_at": datetime(2026, 12, 1, tzinfo=UTC)}
JOBS_BEFORE = 250
"""Enough jobs, over a few technicians, that a row lost or doubled by the one INSERT ... SELECT shows."""


@pytest.fixture
def at_0009(database_url: str) -> Iterator[Database]:
    """A database at revision 0009 (before crews) with three technicians and JOBS_BEFORE jobs, written
    as that schema had them (Core inserts: today's models would write crews)."""
    database = Database(database_url)
    upgrade(database.engine, "0009")

    def stamps() -> tuple:
        return col("created_at"), col("updated_at")

    technicians = table("technicians", col("id"), col("external_ref"), col("name"), col("active"), *stamps())
    jobs = table("jobs", col("external_ref"), col("technician_id"), col("category"), col("status"), *stamps())
    with database.engine.begin() as connection:
        connection.execute(
            insert(technicians),
            [{"external_ref": f"T{n}", "name": f"Tech {n}", "active": True, **NOW} for n in range(3)],
        )
        ids = list(connection.scalars(select(technicians.c.id).order_by(technicians.c.external_ref)))
        rows = [
            {"external_ref": f"J{n}", "technician_id": ids[n % 3], "category": "plumbing", "status": "scheduled", **NOW}
            for n in range(JOBS_BEFORE)
        ]
        connection.execute(insert(jobs), rows)
    yield database
    database.dispose()


def technician_of_each_job(database: Database) -> dict[str, int]:
    with database.engine.connect() as connection:
        return {
            ref: technician_id for ref, technician_id in connection.execute(select(Job.external_ref, Job.technician_id))
        }


def crews(database: Database) -> list[tuple[int, int, str, float]]:
    with database.engine.connect() as connection:
        query = select(JobAssignment.job_id, JobAssignment.technician_id, JobAssignment.role, JobAssignment.share)
        return sorted(tuple(row) for row in connection.execute(query))


def leads(database: Database) -> list[tuple[int, int, str, float]]:
    """Each job's technician as its sole lead with the whole share: what 0010 must give every job."""
    with database.engine.connect() as connection:
        return sorted((job_id, technician_id, "lead", 1.0) for job_id, technician_id in connection.execute(
            select(Job.id, Job.technician_id)
        ))  # fmt: skip


def test_0009_has_no_crews(at_0009):
    assert "job_assignments" not in inspect(at_0009.engine).get_table_names()


def test_upgrade_makes_every_jobs_technician_its_sole_lead(at_0009):
    upgrade(at_0009.engine, "0010")

    found = crews(at_0009)
    assert len(found) == JOBS_BEFORE
    assert found == leads(at_0009)


def test_jobs_added_after_the_upgrade_get_their_crew(at_0009):
    upgrade(at_0009.engine, "0010")
    lead = technician_of_each_job(at_0009)["J1"]

    with at_0009.session() as session:
        session.add(Job(external_ref="AFTER", technician_id=lead, category="hvac", status="scheduled"))
    with at_0009.session(write=False) as session:
        job = session.scalars(select(Job).where(Job.external_ref == "AFTER")).one()
        added = [(member.technician_id, member.role, member.share) for member in job.assignments]

    assert added == [(lead, "lead", 1.0)]
    assert len(crews(at_0009)) == JOBS_BEFORE + 1
    assert crews(at_0009) == leads(at_0009)


def test_downgrade_keeps_each_jobs_technician(at_0009):
    before = technician_of_each_job(at_0009)
    upgrade(at_0009.engine, "0010")

    downgrade(at_0009.engine, "0009")

    assert "job_assignments" not in inspect(at_0009.engine).get_table_names()
    assert technician_of_each_job(at_0009) == before
