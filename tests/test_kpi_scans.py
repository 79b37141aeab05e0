"""Cold months scanned on several connections at once (kpi_core/kpis/scans.py): the same answer as one
scan, helpers only where the session sees what other connections see, never more than the process has."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from kpi_core.kpis import scans
from kpi_core.kpis.cache import MemoryCache
from kpi_core.kpis.query import KpiQuery
from kpi_core.kpis.service import kpi_values
from kpi_core.storage.db import Database
from kpi_core.storage.models import Job

ZONE = ZoneInfo("America/New_York")
YEAR = KpiQuery(start=date(2026, 1, 1), end=date(2027, 1, 1), period="month", group_by="technician")


@pytest.fixture
def year_of_jobs(seed) -> None:
    """Two technicians with completed, rated jobs in every month of 2026."""
    for name in ("Ann", "Bo"):
        technician = seed.technician(name, team="North")
        for month in range(1, 13):
            done = datetime(2026, month, 10 + len(name), 15, tzinfo=UTC)
            seed.job(technician, completed_at=done, rating=3 + month % 3)


class StatementThreads:
    """The names of the threads that ran statements reading the jobs table on an engine."""

    def __init__(self, engine) -> None:
        self.names: list[str] = []
        self.engine = engine
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement: str, *_args) -> None:
        if "FROM jobs" in statement:
            self.names.append(threading.current_thread().name)

    def helped(self) -> bool:
        return any(name.startswith("kpi-scan") for name in self.names)

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


@pytest.fixture
def threads(database: Database) -> Iterator[StatementThreads]:
    seen = StatementThreads(database.engine)
    yield seen
    seen.close()


@pytest.fixture
def one_helper(monkeypatch) -> None:
    """A helper free, whatever this machine's cores (the test machine has two)."""
    monkeypatch.setattr(scans, "HELPERS", 1)
    monkeypatch.setattr(scans, "_free", threading.BoundedSemaphore(1))


def answer(session: Session, plugins, query: KpiQuery = YEAR) -> bytes:
    return kpi_values(session, plugins, query, zone=ZONE, sums=MemoryCache()).body


@pytest.mark.usefixtures("year_of_jobs", "one_helper")
def test_a_cold_year_is_scanned_on_two_connections_and_gives_the_answer_of_one_scan(
    database, plugins, threads, monkeypatch
) -> None:
    with database.session(write=False) as session:
        helped = answer(session, plugins)
    assert threads.helped(), threads.names
    assert threads.names.count("MainThread") >= 1  # the request's own connection scans a part too
    threads.names.clear()
    monkeypatch.setattr(scans, "_free", None)
    with database.session(write=False) as session:
        alone = answer(session, plugins)
    assert not threads.helped()
    assert helped == alone
    assert b'"group_label":"Ann"' in helped and helped.count(b'"kpi":') >= 24


@pytest.mark.usefixtures("year_of_jobs", "one_helper")
def test_a_session_with_uncommitted_facts_scans_alone_and_sees_its_own_changes(
    database, plugins, threads, seed
) -> None:
    ann = seed.technician("Cy", team="North")
    with database.session() as session:
        session.add(
            Job(external_ref="J-new", technician_id=ann, category="plumbing", status="completed",
                completed_at=datetime(2026, 11, 20, 15, tzinfo=UTC))
        )  # fmt: skip
        session.flush()
        body = answer(session, plugins)
        session.rollback()
    assert not threads.helped()
    assert b'"group_label":"Cy"' in body  # another connection would not have seen the job


@pytest.mark.usefixtures("year_of_jobs", "one_helper")
def test_with_no_helper_free_the_request_scans_alone(database, plugins, threads) -> None:
    assert scans._free is not None and scans._free.acquire(blocking=False)  # another request holds it
    try:
        with database.session(write=False) as session:
            body = answer(session, plugins)
    finally:
        scans._free.release()
    assert not threads.helped()
    assert b'"group_label":"Bo"' in body


@pytest.mark.usefixtures("one_helper")
def test_sqlite_in_memory_is_never_helped() -> None:
    database = Database("sqlite://")
    try:
        with database.session(write=False) as session:
            calls = scans.split_scan(session, [1, 2, 3, 4], lambda on, part: (on is session, list(part)))
        assert calls == [(True, [1, 2, 3, 4])]
    finally:
        database.dispose()


@pytest.mark.usefixtures("one_helper")
def test_one_month_is_one_scan_and_the_helper_is_given_back(database) -> None:
    with database.session(write=False) as session:
        assert scans.split_scan(session, ["March"], lambda on, part: list(part)) == [["March"]]
        assert scans.split_scan(session, [1, 2, 3], lambda on, part: (on is session, list(part))) == [
            (True, [1, 2]),
            (False, [3]),
        ]
    assert scans._free.acquire(blocking=False)  # released after the scan
    scans._free.release()


@pytest.mark.usefixtures("one_helper")
def test_an_error_in_a_helper_reaches_the_caller_and_frees_the_helper(database) -> None:
    def compute(on: Session, part: list[int]) -> list[int]:
        if 4 in part:
            raise ValueError("the helper's part failed")
        return part

    with database.session(write=False) as session, pytest.raises(ValueError, match="helper's part"):
        scans.split_scan(session, [1, 2, 3, 4], compute)
    assert scans._free.acquire(blocking=False)
    scans._free.release()


@pytest.mark.parametrize(
    ("count", "parts"),
    [(1, [[0, 1, 2, 3, 4]]), (2, [[0, 1, 2], [3, 4]]), (3, [[0, 1], [2, 3], [4]]), (5, [[0], [1], [2], [3], [4]])],
)
def test_parts_are_consecutive_and_as_even_as_they_can_be(count: int, parts: list[list[int]]) -> None:
    assert [list(part) for part in scans._parts(list(range(5)), count)] == parts
