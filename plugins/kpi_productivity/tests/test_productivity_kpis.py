"""The productivity KPIs computed by the engine on hand-made jobs and shifts, on SQLite and PostgreSQL.

Each test builds a few jobs (and shifts) whose answer is counted by hand and
checks the numerator, the denominator and the value the engine gives.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from kpi_productivity.shifts import ShiftImportError, import_shifts, import_shifts_job
from kpi_productivity.tables import shifts
from sqlalchemy import func, select

from kpi_core.jobs.context import JobContext
from kpi_core.kpis import service
from kpi_core.kpis.cache import MemoryCache
from kpi_core.kpis.context import metric_context
from kpi_core.kpis.engine import compute_values
from kpi_core.kpis.query import KpiQuery
from kpi_core.storage.models import Job, Technician

REVENUE = "productivity.revenue_per_completed_job"
TICKET = "productivity.average_ticket"
PER_DAY = "productivity.jobs_per_working_day"
UTILISATION = "productivity.utilisation"
JANUARY = date(2026, 1, 1)
CHICAGO = "America/Chicago"


def at(day: int, hour: int = 8, minute: int = 0, month: int = 1) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


class Facts:
    """Adds technicians, jobs and shifts, each committed at once."""

    def __init__(self, database) -> None:
        self.database = database
        self.refs = 0

    def add(self, row) -> int:
        with self.database.session() as session:
            session.add(row)
            session.flush()
            return row.id

    def technician(self, name: str = "Ada") -> int:
        self.refs += 1
        return self.add(Technician(external_ref=f"T-{self.refs}", name=name))

    def job(self, technician: int, *, status: str = "completed", **fields) -> int:
        self.refs += 1
        return self.add(
            Job(external_ref=f"J-{self.refs}", technician_id=technician, category="hvac", status=status, **fields)
        )

    def shift(self, technician: int, starts_at: datetime, ends_at: datetime) -> None:
        with self.database.engine.begin() as connection:
            connection.execute(shifts.insert().values(technician_id=technician, starts_at=starts_at, ends_at=ends_at))


@pytest.fixture
def facts(database) -> Facts:
    return Facts(database)


@pytest.fixture
def ada(facts) -> int:
    return facts.technician()


def cells(database, plugins, kpi: str, *, group_by: str = "technician", settings: dict | None = None):
    """{(group label, period start): (numerator, denominator, value)} of ``kpi`` by month."""
    query = KpiQuery(start=date(2025, 12, 1), end=date(2026, 4, 1), kpis=(kpi,), group_by=group_by)
    with database.session(write=False) as session:
        rows = compute_values(
            session,
            plugins,
            query,
            zone=ZoneInfo("UTC"),
            target_for=lambda key, team, start: None,
            context_for=lambda metric: metric_context(settings or {}),
        )
    return {(row.group_label, row.period_start): (row.numerator, row.denominator, row.value) for row in rows}


def cell(database, plugins, kpi: str, month: date = JANUARY, **kwargs):
    found = cells(database, plugins, kpi, **kwargs)
    matching = [value for (_label, period), value in found.items() if period == month]
    assert len(matching) <= 1, found
    return matching[0] if matching else None


# --- revenue -------------------------------------------------------------------------------


@pytest.fixture
def priced(facts, ada) -> int:
    """Completed $200, $100, $0 warranty, a $60 callback, a completed job without revenue, a cancelled $500."""
    first = facts.job(ada, completed_at=at(5), revenue=Decimal("200.00"))
    facts.job(ada, completed_at=at(6), revenue=Decimal("100.00"))
    facts.job(ada, completed_at=at(7), revenue=Decimal("0"))
    facts.job(ada, completed_at=at(8), revenue=Decimal("60.00"), callback_of_id=first)
    facts.job(ada, completed_at=at(9))
    facts.job(ada, status="cancelled", completed_at=at(10), revenue=Decimal("500.00"))
    return ada


def test_revenue_per_completed_job_averages_every_completed_job_with_a_revenue(database, plugins, priced):
    assert cell(database, plugins, REVENUE) == (pytest.approx(360), 4, pytest.approx(90))


def test_average_ticket_averages_billed_first_visits_only(database, plugins, priced):
    assert cell(database, plugins, TICKET) == (pytest.approx(300), 2, pytest.approx(150))


def test_a_team_pools_revenue_rather_than_averaging_technicians(database, plugins, facts):
    ada, bob = facts.technician("Ada"), facts.technician("Bob")
    for revenue in (100, 200, 300):
        facts.job(ada, completed_at=at(5), revenue=Decimal(revenue))
    facts.job(bob, completed_at=at(5), revenue=Decimal(1000))

    company = cell(database, plugins, REVENUE, group_by="company")

    assert company == (pytest.approx(1600), 4, pytest.approx(400))  # not (200 + 1000) / 2


# --- jobs per working day ----------------------------------------------------------------------


def test_jobs_per_working_day_counts_jobs_over_days_with_a_completed_job(database, plugins, facts, ada):
    for hour in (9, 11, 14):
        facts.job(ada, completed_at=at(5, hour))  # 3 on the 5th
    facts.job(ada, completed_at=at(6, 10))  # 1 on the 6th
    facts.job(ada, status="scheduled", scheduled_start=at(7, 9))  # no completed job on the 7th
    facts.job(ada, status="cancelled", completed_at=at(8, 9))

    assert cell(database, plugins, PER_DAY) == (4, 2, 2.0)


def test_two_jobs_completed_at_the_same_instant_are_one_day(database, plugins, facts, ada):
    facts.job(ada, completed_at=at(5, 9))
    facts.job(ada, completed_at=at(5, 9))

    assert cell(database, plugins, PER_DAY) == (2, 1, 2.0)


def test_working_days_follow_the_time_zone_setting(database, plugins, facts, ada):
    # 22:00 on the 5th and 03:00 UTC on the 6th: two UTC days, but both the evening of the 5th in Chicago.
    facts.job(ada, completed_at=at(5, 22))
    facts.job(ada, completed_at=at(6, 3))

    assert cell(database, plugins, PER_DAY) == (2, 2, 1.0)
    assert cell(database, plugins, PER_DAY, settings={"timezone": CHICAGO}) == (2, 1, 2.0)


def test_working_days_respect_daylight_saving_time(database, plugins, facts, ada):
    # Chicago is UTC-5 from 8 March 2026 (CDT): 04:30 UTC on the 10th is 23:30 on the 9th, 05:30 is 00:30 on the 10th.
    facts.job(ada, completed_at=at(10, 4, 30, month=3))
    facts.job(ada, completed_at=at(10, 5, 30, month=3))

    assert cell(database, plugins, PER_DAY, date(2026, 3, 1), settings={"timezone": CHICAGO}) == (2, 2, 1.0)


def test_a_team_pools_technician_days(database, plugins, facts):
    ada, bob = facts.technician("Ada"), facts.technician("Bob")
    for hour in (9, 10, 11, 12):
        facts.job(ada, completed_at=at(5, hour))  # Ada: 4 jobs, 1 day
    facts.job(bob, completed_at=at(5, 9))
    facts.job(bob, completed_at=at(6, 9))  # Bob: 2 jobs, 2 days

    assert cell(database, plugins, PER_DAY, group_by="company") == (6, 3, 2.0)


# --- utilisation ---------------------------------------------------------------------------


def test_utilisation_is_unavailable_without_shifts(database, plugins, facts, ada):
    facts.job(ada, started_at=at(5, 9), completed_at=at(5, 11))

    assert cell(database, plugins, UTILISATION) == (0, 0, None)


def test_utilisation_is_time_on_jobs_over_shift_time(database, plugins, facts, ada):
    facts.shift(ada, at(5, 8), at(5, 16))  # 8 h
    facts.shift(ada, at(6, 8), at(6, 12))  # 4 h
    facts.job(ada, started_at=at(5, 8, 30), completed_at=at(5, 10, 30))  # 2 h
    facts.job(ada, started_at=at(5, 11), completed_at=at(5, 13))  # 2 h
    facts.job(ada, completed_at=at(5, 14))  # no start: not timed, carries nothing
    facts.job(ada, started_at=at(6, 9), completed_at=at(6, 12))  # 3 h, ends at the shift's end: not inside it
    facts.job(ada, started_at=at(6, 8), completed_at=at(6, 11))  # 3 h
    facts.job(ada, started_at=at(7, 9), completed_at=at(7, 10))  # no shift on the 7th
    facts.job(ada, status="cancelled", started_at=at(5, 14), completed_at=at(5, 15))

    hours = 3600
    assert cell(database, plugins, UTILISATION) == (
        pytest.approx((2 + 2 + 3) * hours),
        pytest.approx((8 + 4) * hours),
        pytest.approx(7 / 12),
    )


def test_a_shift_without_a_completed_job_is_not_counted(database, plugins, facts, ada):
    facts.shift(ada, at(5, 8), at(5, 16))
    facts.shift(ada, at(6, 8), at(6, 16))  # idle: no job row carries it
    facts.job(ada, started_at=at(5, 8), completed_at=at(5, 12))

    assert cell(database, plugins, UTILISATION) == (pytest.approx(4 * 3600), pytest.approx(8 * 3600), 0.5)


def test_another_technicians_shift_does_not_count(database, plugins, facts):
    ada, bob = facts.technician("Ada"), facts.technician("Bob")
    facts.shift(bob, at(5, 8), at(5, 16))
    facts.job(ada, started_at=at(5, 9), completed_at=at(5, 10))

    assert cell(database, plugins, UTILISATION) == (0, 0, None)


# --- importing shifts ----------------------------------------------------------------------


def stored(database) -> list[tuple]:
    with database.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(shifts.c.starts_at, shifts.c.ends_at))]


def test_imported_shifts_read_naive_times_in_the_company_zone_and_replace_by_start(database, ada):
    rows = [{"technician": "T-1", "starts_at": "2026-01-05T08:00", "ends_at": "2026-01-05T16:00"}]
    chicago = ZoneInfo(CHICAGO)
    with database.engine.begin() as connection:
        assert import_shifts(connection, rows, chicago) == 1
    with database.engine.begin() as connection:
        import_shifts(connection, [rows[0] | {"ends_at": "2026-01-05T17:00"}], chicago)

    assert stored(database) == [(at(5, 14), at(5, 23))]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"technician": "T-9", "starts_at": "2026-01-05T08:00", "ends_at": "2026-01-05T16:00"}, "no technician"),
        ({"technician": "T-1", "starts_at": "2026-01-05T08:00", "ends_at": "2026-01-05T08:00"}, "after starts_at"),
        ({"technician": "T-1", "starts_at": "2026-01-05T08:00", "ends_at": "2026-01-06T09:00"}, "24 hours"),
        ({"technician": "T-1", "starts_at": "yesterday", "ends_at": "2026-01-05T16:00"}, "row 2"),
        ({"technician": "T-1", "starts_at": "2026-01-05T15:00", "ends_at": "2026-01-05T18:00"}, "overlaps"),
        ({"technician": "T-1", "ends_at": "2026-01-05T16:00"}, "missing starts_at"),
    ],
    ids=["unknown-technician", "empty", "too-long", "bad-time", "overlap", "missing"],
)
def test_a_bad_row_rejects_the_whole_import(database, ada, row, message):
    good = {"technician": "T-1", "starts_at": "2026-01-05T08:00Z", "ends_at": "2026-01-05T16:00Z"}

    with pytest.raises(ShiftImportError, match=message), database.engine.begin() as connection:
        import_shifts(connection, [good, row], ZoneInfo("UTC"))

    with database.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(shifts)).scalar_one() == 0


def test_the_import_job_makes_cached_utilisation_of_its_months_stale(database, plugins, settings, facts, ada):
    facts.shift(ada, at(5, 8), at(5, 16))  # 8 h
    facts.job(ada, started_at=at(5, 9), completed_at=at(5, 13))  # 4 h
    query = KpiQuery(start=JANUARY, end=date(2026, 3, 1), kpis=(UTILISATION,), group_by="technician")
    cache = MemoryCache()

    def utilisation() -> tuple[bool, list[float | None]]:
        with database.session(write=False) as session:
            answer = service.kpi_values(session, plugins, query, zone=ZoneInfo("UTC"), cache=cache)
        return answer.cached, [row.value for row in answer.rows()]

    assert utilisation() == (False, [0.5])
    assert utilisation() == (True, [0.5])
    context = JobContext(engine=database.engine, settings=replace(settings, timezone="UTC"))
    rows = [{"technician": "T-1", "starts_at": "2026-01-05T08:00Z", "ends_at": "2026-01-05T14:00Z"}]  # now 6 h
    assert import_shifts_job(context, rows=rows) == {"imported": 1}
    assert utilisation() == (False, [pytest.approx(4 / 6)])
