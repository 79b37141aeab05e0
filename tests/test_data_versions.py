"""Data versions: every change to facts bumps the months it touches, in the same transaction."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from kpi_core.storage import versions
from kpi_core.storage.models import Evaluation, Feedback, Job, KpiDataVersion, Team, Technician


def counters(database) -> dict[str, int]:
    with database.session() as session:
        return {row.month: row.version for row in session.query(KpiDataVersion)}


@pytest.fixture
def technician(database) -> int:
    with database.session() as session:
        row = Technician(external_ref="T1", name="Ada")
        session.add(row)
        session.flush()
        return row.id


def add_job(database, technician: int, **fields) -> int:
    with database.session() as session:
        job = Job(external_ref=fields.pop("ref", "J1"), technician_id=technician, category="plumbing", **fields)
        session.add(job)
        session.flush()
        return job.id


def test_months_between_dates_and_instants() -> None:
    assert versions.months_between(date(2026, 2, 1), date(2026, 3, 1)) == ["2026-02"]
    assert versions.months_between(date(2025, 12, 15), date(2026, 1, 10)) == ["2025-12", "2026-01"]
    # Local midnight of 1 March in Chicago is 06:00 UTC: the UTC span reaches into March.
    chicago = ZoneInfo("America/Chicago")
    first = datetime(2026, 2, 1, tzinfo=chicago)
    end = datetime(2026, 3, 1, tzinfo=chicago)
    assert versions.months_between(first, end) == ["2026-02", "2026-03"]
    assert versions.months_between(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)) == ["2026-02"]


def test_a_new_job_bumps_the_months_of_its_instants(database, technician) -> None:
    add_job(
        database,
        technician,
        status="completed",
        scheduled_start=datetime(2026, 1, 31, 23, tzinfo=UTC),
        completed_at=datetime(2026, 2, 1, 1, tzinfo=UTC),
    )
    # Both instants are on a month's edge day: their days are bumped too.
    assert counters(database) == {"2026-01": 1, "2026-02": 1, "2026-01-31": 1, "2026-02-01": 1}


def test_an_instant_inside_a_month_bumps_the_month_only_and_one_on_its_edge_its_day_too() -> None:
    assert versions.months_of([datetime(2026, 4, 15, 12, tzinfo=UTC)]) == {"2026-04"}
    assert versions.months_of([datetime(2026, 4, 1, 3, tzinfo=UTC)]) == {"2026-04", "2026-04-01"}
    assert versions.months_of([datetime(2026, 2, 28, 23, tzinfo=UTC)]) == {"2026-02", "2026-02-28"}
    # Local dates (DATE columns) are placed by calendar month: never a day.
    assert versions.months_of([date(2026, 4, 1)]) == {"2026-04"}


def test_a_local_month_reads_only_the_edge_day_of_the_utc_month_it_overlaps() -> None:
    new_york, berlin = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")
    march_ny = (datetime(2026, 3, 1, tzinfo=new_york), datetime(2026, 4, 1, tzinfo=new_york))
    assert versions.instant_keys(*march_ny) == ["2026-03", "2026-04-01"]
    march_berlin = (datetime(2026, 3, 1, tzinfo=berlin), datetime(2026, 4, 1, tzinfo=berlin))
    assert versions.instant_keys(*march_berlin) == ["2026-02-28", "2026-03"]
    utc = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    assert versions.instant_keys(*utc) == ["2026-03"]
    a_day = (datetime(2026, 3, 31, 5, tzinfo=UTC), datetime(2026, 4, 1, 5, tzinfo=UTC))
    assert versions.instant_keys(*a_day) == ["2026-03-31", "2026-04-01"]


def test_moving_a_job_bumps_the_old_and_the_new_month(database, technician) -> None:
    job_id = add_job(database, technician, status="completed", completed_at=datetime(2026, 1, 5, tzinfo=UTC))
    with database.session() as session:
        session.get(Job, job_id).completed_at = datetime(2026, 3, 5, tzinfo=UTC)
    assert counters(database) == {"2026-01": 2, "2026-03": 1}


def test_a_callback_bumps_the_month_of_its_original(database, technician) -> None:
    original = add_job(database, technician, status="completed", completed_at=datetime(2026, 1, 30, tzinfo=UTC))
    add_job(
        database,
        technician,
        ref="J2",
        status="scheduled",
        scheduled_start=datetime(2026, 2, 10, tzinfo=UTC),
        callback_of_id=original,
    )
    assert counters(database) == {"2026-01": 2, "2026-02": 1}


def test_feedback_bumps_its_jobs_months(database, technician) -> None:
    job_id = add_job(database, technician, status="completed", completed_at=datetime(2026, 4, 2, tzinfo=UTC))
    with database.session() as session:
        session.add(Feedback(job_id=job_id, rating=4, received_at=datetime(2026, 6, 1, tzinfo=UTC)))
    assert counters(database) == {"2026-04": 2}


def test_evaluations_bump_their_period(database, technician) -> None:
    with database.session() as session:
        session.add(
            Evaluation(
                technician_id=technician,
                period_start=date(2026, 5, 1),
                period_end=date(2026, 6, 30),
                form_version="v1",
                form_snapshot=[],
                answers={},
            )
        )
    assert counters(database) == {"2026-05": 1, "2026-06": 1}


def test_a_team_change_bumps_everything_and_a_rollback_bumps_nothing(database, technician) -> None:
    with database.session() as session:
        team = Team(name="North")
        session.add(team)
        session.flush()
        session.get(Technician, technician).team_id = team.id
    assert counters(database) == {"*": 1}

    with pytest.raises(RuntimeError), database.session() as session:
        session.get(Technician, technician).team_id = None
        session.flush()
        raise RuntimeError("abandon the change")
    assert counters(database) == {"*": 1}
