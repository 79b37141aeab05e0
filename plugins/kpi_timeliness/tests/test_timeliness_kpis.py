"""The timeliness KPIs computed by the engine on hand-made facts, on SQLite and PostgreSQL.

Each test builds a few jobs whose answer can be counted by hand and checks
the numerator, the denominator and the value the engine gives.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kpi_core.kpis.engine import compute_values
from kpi_core.kpis.query import KpiQuery
from kpi_core.storage.models import Job, Technician

ON_TIME = "timeliness.on_time_arrival_rate"
DELAY = "timeliness.avg_arrival_delay_min"
ON_BUDGET = "timeliness.on_budget_rate"
WINDOW = "timeliness.within_window_rate"
JANUARY = date(2026, 1, 1)


def at(day: int, hour: int = 8, minute: int = 0, second: int = 0, month: int = 1) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


class Facts:
    """Adds technicians and jobs, each committed at once."""

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


@pytest.fixture
def facts(database) -> Facts:
    return Facts(database)


@pytest.fixture
def ada(facts) -> int:
    return facts.technician()


def cell(database, plugins, kpi: str, month: date = JANUARY):
    """(numerator, denominator, value) of ``kpi`` for the only technician in ``month``, or None without a row."""
    query = KpiQuery(start=date(2025, 12, 1), end=date(2026, 7, 1), kpis=(kpi,), group_by="technician")
    with database.session(write=False) as session:
        rows = compute_values(session, plugins, query, zone=ZoneInfo("UTC"), target_for=lambda key, team, start: None)
    found = [row for row in rows if row.period_start == month]
    assert len(found) <= 1, found
    return (found[0].numerator, found[0].denominator, found[0].value) if found else None


# --- arrival -------------------------------------------------------------------------------


@pytest.fixture
def arrivals(facts, ada) -> int:
    """Early, 10 min late, 15m01s late, no arrival, cancelled, and 60 min late on a job not yet completed."""
    facts.job(ada, scheduled_start=at(5), arrived_at=at(5, 7, 55))
    facts.job(ada, scheduled_start=at(6), arrived_at=at(6, 8, 10))
    facts.job(ada, scheduled_start=at(7), arrived_at=at(7, 8, 15, 1))
    facts.job(ada, scheduled_start=at(8))
    facts.job(ada, status="cancelled", scheduled_start=at(9), arrived_at=at(9, 12))
    facts.job(ada, status="scheduled", scheduled_start=at(10), arrived_at=at(10, 9))
    return ada


def test_on_time_rate_counts_arrivals_within_15_minutes_of_non_cancelled_visits(database, plugins, arrivals):
    assert cell(database, plugins, ON_TIME) == (2, 4, 0.5)


def test_average_delay_counts_early_arrivals_as_zero_minutes(database, plugins, arrivals):
    late_minutes = 0 + 10 + (15 + 1 / 60) + 60

    assert cell(database, plugins, DELAY) == (pytest.approx(late_minutes), 4, pytest.approx(late_minutes / 4))


@pytest.mark.parametrize("scheduled", [at(12, 9), at(5, 10)], ids=["09h00", "10h00"])
def test_arriving_exactly_15_minutes_late_is_on_time(database, plugins, facts, ada, scheduled):
    facts.job(ada, scheduled_start=scheduled, arrived_at=scheduled + timedelta(minutes=15))

    assert cell(database, plugins, ON_TIME) == (1, 1, 1.0)


def test_arriving_15_minutes_and_1_second_late_is_late(database, plugins, facts, ada):
    facts.job(ada, scheduled_start=at(12, 9), arrived_at=at(12, 9, 15, 1))

    assert cell(database, plugins, ON_TIME) == (0, 1, 0.0)
    assert cell(database, plugins, DELAY) == (pytest.approx(15 + 1 / 60), 1, pytest.approx(15 + 1 / 60))


def test_arrival_is_placed_in_the_month_of_the_scheduled_start(database, plugins, facts, ada):
    facts.job(ada, scheduled_start=at(31, 23, 50), arrived_at=at(1, 0, 30, month=2), completed_at=at(1, 2, month=2))

    assert cell(database, plugins, ON_TIME) == (0, 1, 0.0)
    assert cell(database, plugins, ON_TIME, date(2026, 2, 1)) is None


def test_a_visit_without_arrival_has_no_arrival_sample(database, plugins, facts, ada):
    facts.job(ada, scheduled_start=at(5), completed_at=at(5, 10))

    assert cell(database, plugins, ON_TIME) == (0, 0, None)
    assert cell(database, plugins, DELAY) == (0, 0, None)


# --- budget --------------------------------------------------------------------------------


def test_on_budget_rate_counts_completed_jobs_within_110_percent_of_the_estimate(database, plugins, facts, ada):
    facts.job(ada, started_at=at(5, 8), completed_at=at(5, 9, 5), estimated_minutes=60)  # 65 min: on budget
    facts.job(ada, started_at=at(6, 8), completed_at=at(6, 9, 7), estimated_minutes=60)  # 67 min: over
    facts.job(ada, started_at=at(7, 8), completed_at=at(7, 9), estimated_minutes=0)  # no estimate
    facts.job(ada, started_at=at(8, 8), completed_at=at(8, 9))  # no estimate
    facts.job(ada, completed_at=at(9, 9), estimated_minutes=60)  # start unknown
    facts.job(ada, status="cancelled", started_at=at(10, 8), completed_at=at(10, 8, 5), estimated_minutes=60)

    assert cell(database, plugins, ON_BUDGET) == (1, 2, 0.5)


def test_finishing_at_exactly_110_percent_of_the_estimate_is_on_budget(database, plugins, facts, ada):
    facts.job(ada, started_at=at(5, 8), completed_at=at(5, 9, 6), estimated_minutes=60)

    assert cell(database, plugins, ON_BUDGET) == (1, 1, 1.0)


def test_a_job_not_completed_is_not_in_the_budget_sample(database, plugins, facts, ada):
    facts.job(ada, status="scheduled", scheduled_start=at(5), started_at=at(5, 8), estimated_minutes=60)

    assert cell(database, plugins, ON_BUDGET) is None


# --- window --------------------------------------------------------------------------------


def test_within_window_rate_counts_jobs_completed_by_the_end_of_their_window(database, plugins, facts, ada):
    facts.job(ada, scheduled_end=at(5, 12), completed_at=at(5, 12))  # exactly at the end: within
    facts.job(ada, scheduled_end=at(6, 12), completed_at=at(6, 12, 0, 1))  # a second late
    facts.job(ada, scheduled_end=at(7, 12), completed_at=at(7, 10))
    facts.job(ada, completed_at=at(8, 10))  # no window
    facts.job(ada, status="cancelled", scheduled_end=at(9, 12), completed_at=at(9, 10))

    assert cell(database, plugins, WINDOW) == (2, 3, pytest.approx(2 / 3))


def test_cancelled_jobs_count_in_no_timeliness_kpi(database, plugins, facts, ada):
    facts.job(
        ada,
        status="cancelled",
        scheduled_start=at(5),
        scheduled_end=at(5, 12),
        arrived_at=at(5),
        started_at=at(5),
        completed_at=at(5, 9),
        estimated_minutes=60,
    )

    for kpi in (ON_TIME, DELAY, ON_BUDGET, WINDOW):
        assert cell(database, plugins, kpi) == (0, 0, None), kpi
