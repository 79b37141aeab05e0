"""Alembic owns the schema: the same migrations build it on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kpi_core.storage.db import Database
from kpi_core.storage.migrate import alembic_config, head_revisions, schema_state, upgrade
from kpi_core.storage.models import (
    Base,
    Evaluation,
    Feedback,
    Job,
    KpiTarget,
    ReportRun,
    Schedule,
    Technician,
    User,
)

CORE_TABLES = {
    "users",
    "teams",
    "technicians",
    "customers",
    "jobs",
    "feedback",
    "evaluations",
    "targets",
    "report_runs",
    "schedules",
    "audit_log",
    "token_revocations",
}

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

JOB_FIELDS = {
    "external_ref",
    "technician_id",
    "customer_id",
    "category",
    "status",
    "scheduled_start",
    "scheduled_end",
    "arrived_at",
    "started_at",
    "completed_at",
    "estimated_minutes",
    "revenue",
    "callback_of_id",
}


@pytest.fixture
def empty_database(database_url: str) -> Iterator[Database]:
    """A database with nothing in it, on SQLite and on PostgreSQL."""
    database = Database(database_url)
    yield database
    database.dispose()


def table_names(database: Database) -> set[str]:
    return set(inspect(database.engine).get_table_names())


def test_upgrade_from_empty_creates_every_core_table(empty_database):
    upgrade(empty_database.engine)

    assert table_names(empty_database) >= CORE_TABLES


def test_jobs_table_has_every_field_a_job_carries(empty_database):
    upgrade(empty_database.engine)

    columns = {column["name"] for column in inspect(empty_database.engine).get_columns("jobs")}
    assert columns >= JOB_FIELDS


def test_job_external_ref_is_unique_in_the_schema(empty_database):
    upgrade(empty_database.engine)

    unique_columns = [c["column_names"] for c in inspect(empty_database.engine).get_unique_constraints("jobs")]
    assert ["external_ref"] in unique_columns


def test_upgrade_is_idempotent(empty_database):
    upgrade(empty_database.engine)
    tables = table_names(empty_database)

    upgrade(empty_database.engine)

    assert table_names(empty_database) == tables
    assert schema_state(empty_database.engine).is_current


def test_schema_state_of_a_new_database_is_empty_and_not_current(empty_database):
    state = schema_state(empty_database.engine)

    assert state.is_empty
    assert not state.is_current
    assert "kpi db upgrade" in state.describe()


def test_schema_state_after_upgrade_is_current_at_the_heads(empty_database):
    upgrade(empty_database.engine)

    state = schema_state(empty_database.engine)

    assert state.is_current
    assert not state.is_empty
    assert state.current == head_revisions(empty_database.engine)
    assert "current" in state.describe()


def test_schema_state_of_a_database_without_a_recorded_revision_asks_for_an_upgrade(empty_database):
    upgrade(empty_database.engine)
    with empty_database.engine.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))

    state = schema_state(empty_database.engine)

    assert state.is_empty
    assert not state.is_current
    assert "run `kpi db upgrade`" in state.describe()


def test_autogenerate_finds_no_difference_between_models_and_migrations(empty_database):
    upgrade(empty_database.engine, locations=())  # the core's migrations only: plugins' tables are not core models

    with empty_database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)

    assert differences == []


def test_downgrade_to_base_removes_every_core_table_and_upgrade_restores_them(empty_database):
    upgrade(empty_database.engine)

    command.downgrade(alembic_config(empty_database.engine), "base")
    assert not CORE_TABLES & table_names(empty_database)

    upgrade(empty_database.engine)
    assert table_names(empty_database) >= CORE_TABLES


# The schema the migrations build enforces the rules itself, on both databases.


def add_technician(session: Session, ref: str = "T-1") -> Technician:
    technician = Technician(external_ref=ref, name=f"Technician {ref}")
    session.add(technician)
    session.flush()
    return technician


def add_job(session: Session, ref: str = "J-1", **fields: Any) -> Job:
    if "technician_id" not in fields:
        fields["technician_id"] = add_technician(session, f"T-{ref}").id
    job = Job(external_ref=ref, category="plumbing", **fields)
    session.add(job)
    session.flush()
    return job


INVALID_ROWS: dict[str, Callable[[Session], Any]] = {
    "ck_feedback_rating_range": lambda s: Feedback(job_id=add_job(s).id, rating=6, received_at=NOW),
    "ck_feedback_nps_range": lambda s: Feedback(job_id=add_job(s).id, rating=5, nps=11, received_at=NOW),
    "ck_jobs_status_valid": lambda s: Job(
        external_ref="J-2", category="plumbing", status="lost", technician_id=add_technician(s).id
    ),
    "ck_jobs_estimated_minutes_positive": lambda s: Job(
        external_ref="J-2", category="plumbing", estimated_minutes=-5, technician_id=add_technician(s).id
    ),
    "ck_users_role_valid": lambda s: User(username="eve", password_hash="x", role="owner"),
    "ck_evaluations_status_valid": lambda s: Evaluation(
        technician_id=add_technician(s).id,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 1, 31),
        form_version="1",
        form_snapshot=[],
        answers={},
        status="final",
    ),
    "ck_report_runs_status_valid": lambda s: ReportRun(format="csv", title="t", spec={}, status="done"),
    "ck_schedules_kind_valid": lambda s: Schedule(name="s", kind="email", cron="0 * * * *"),
    "ck_targets_weight_positive": lambda s: KpiTarget(metric_key="m", green=1, amber=0, weight=-1),
}
"""A row breaking exactly one check constraint, by the constraint's name."""


@pytest.mark.parametrize("constraint", INVALID_ROWS)
def test_database_refuses_a_row_that_breaks_a_check_constraint(database, constraint):
    with database.sessions() as session:
        session.add(INVALID_ROWS[constraint](session))
        with pytest.raises(IntegrityError, match=constraint):
            session.flush()


@pytest.mark.parametrize("rating", [0, 6])
def test_database_refuses_a_rating_outside_1_to_5(database, rating):
    with database.sessions() as session:
        session.add(Feedback(job_id=add_job(session).id, rating=rating, received_at=NOW))
        with pytest.raises(IntegrityError, match="ck_feedback_rating_range"):
            session.flush()


def test_database_accepts_ratings_from_1_to_5(database):
    with database.session() as session:
        for rating in range(1, 6):
            session.add(Feedback(job_id=add_job(session, f"J-{rating}").id, rating=rating, received_at=NOW))

    with database.session() as session:
        assert sorted(session.scalars(select(Feedback.rating))) == [1, 2, 3, 4, 5]


def test_database_refuses_a_second_job_with_the_same_external_ref(database):
    with database.session() as session:
        add_job(session, "J-1")

    with database.sessions() as session, pytest.raises(IntegrityError):
        add_job(session, "J-1", technician_id=add_technician(session, "T-other").id)


def test_database_refuses_a_job_for_a_technician_that_does_not_exist(database):
    with database.sessions() as session, pytest.raises(IntegrityError):
        add_job(session, technician_id=4242)
