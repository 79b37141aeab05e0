"""Per-month KPI sums persisted in the database: read after a restart without Redis, never served when
corrupt, a miss without the table, warmed in the background after an import, removed by retention."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select, text, update

from kpi_core.accounts.users import NewUser, create_user
from kpi_core.audit.trail import Actor
from kpi_core.jobs.context import JobContext
from kpi_core.jobs.execute import JobEnvironment
from kpi_core.jobs.inprocess import InProcessRunner
from kpi_core.kpis import cache as cache_module
from kpi_core.kpis import service
from kpi_core.kpis.after_writes import REFRESH_JOB, RefreshAfterWrites
from kpi_core.kpis.cache import MemoryCache
from kpi_core.kpis.persisted import SHORT_LIVED, TieredCache, checksum, persisted_sums, remove_old_sums
from kpi_core.kpis.query import KpiQuery
from kpi_core.kpis.refresh import dashboard_window
from kpi_core.kpis.segments import local_months
from kpi_core.storage.db import Database
from kpi_core.storage.models import Job, JobRun, PersistedKpiSums, Technician
from kpi_core.storage.types import utcnow
from kpi_core.testing.fixtures import TEST_PASSWORD
from kpi_core.web.app import create_app

VALUES = "/api/v1/kpis/values"
SPRING = {"kpi": "quality.avg_customer_rating", "group_by": "technician", "start": "2026-03-01", "end": "2026-05-01"}
CARDS = {"start": "2026-03-01", "end": "2026-05-01", "period": "month"}


def job_rows(*rows: tuple[str, str, str]) -> str:
    """CSV of completed jobs (ref, technician, ISO day) lasting an hour."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["external_ref", "technician_ref", "category", "status", "started_at", "completed_at"])
    for ref, technician, day in rows:
        writer.writerow([ref, technician, "plumbing", "completed", f"{day}T09:00:00Z", f"{day}T10:00:00Z"])
    return out.getvalue()


def post_csv(client, headers, url: str, body: str) -> None:
    response = client.post(url, data=body, headers={**headers, "Content-Type": "text/csv"})
    assert response.status_code == 200, response.json


@pytest.fixture
def seeded(client, admin_headers) -> None:
    """T1 has a March job rated 4 and an April job rated 2."""
    jobs = job_rows(("J1", "T1", "2026-03-10"), ("J2", "T1", "2026-04-10"))
    post_csv(client, admin_headers, "/api/v1/imports/jobs?create_technicians=true", jobs)
    ratings = "job_ref,rating,received_at\nJ1,4,2026-05-01T00:00:00Z\nJ2,2,2026-05-01T00:00:00Z\n"
    post_csv(client, admin_headers, "/api/v1/imports/feedback", ratings)


def ask(client, headers, url: str, query: dict) -> tuple[dict[str, str], object]:
    response = client.get(url, query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    wanted = ("X-KPI-Cache", "X-KPI-Months-Computed", "X-KPI-Months-Persisted")
    return {name: response.headers[name] for name in wanted}, response.json


class Restarts:
    """``restart()`` -> a client of a new app as a restarted process sees things: its own engine over the
    same database and an empty memory cache (no Redis). The sums computed so far are written first."""

    def __init__(self, settings, database, plugins) -> None:
        self.settings, self.plugins = settings, plugins
        self.databases = [database]

    def __call__(self, **changes):
        self.flush()
        cache_module._cache.cache_clear()  # the process's memory cache starts empty
        again = Database(self.settings.effective_database_url)
        self.databases.append(again)
        return create_app(replace(self.settings, **changes), database=again, plugins=self.plugins).test_client()

    def flush(self) -> None:
        """Wait for every app's persisted sums to be written."""
        for database in self.databases:
            assert persisted_sums(database.engine).flush(timeout=60)


@pytest.fixture
def restart(settings, database, plugins) -> Iterator[Restarts]:
    restarts = Restarts(settings, database, plugins)
    yield restarts
    restarts.flush()
    for again in restarts.databases[1:]:
        again.dispose()


def fresh_scan(restart, headers, url: str, query: dict) -> object:
    """The answer computed from the facts alone (KPI_CACHE_TTL=0: no cache, no persisted sums)."""
    headers_seen, body = ask(restart(cache_ttl=0), headers, url, query)
    assert headers_seen["X-KPI-Months-Persisted"].startswith("0/")
    return body


def rows_of(database) -> dict[str, tuple[bytes, str]]:
    with database.engine.connect() as connection:
        table = PersistedKpiSums.__table__
        return {row.key: (bytes(row.value), row.checksum) for row in connection.execute(select(table))}


def test_after_a_restart_without_redis_the_months_come_from_persisted_sums_equal_to_a_fresh_scan(
    client, admin_headers, seeded, restart
) -> None:
    first, computed = ask(client, admin_headers, VALUES, SPRING)
    assert first == {"X-KPI-Cache": "miss", "X-KPI-Months-Computed": "2/2", "X-KPI-Months-Persisted": "0/2"}

    later = restart()
    again, body = ask(later, admin_headers, VALUES, SPRING)

    assert again == {"X-KPI-Cache": "miss", "X-KPI-Months-Computed": "0/2", "X-KPI-Months-Persisted": "2/2"}
    assert body == computed == fresh_scan(restart, admin_headers, VALUES, SPRING)
    assert [row["value"] for row in body] == [4.0, 2.0]


def test_scorecards_after_a_restart_read_every_month_from_persisted_sums(
    client, admin_headers, seeded, restart
) -> None:
    first, computed = ask(client, admin_headers, "/api/v1/scorecards", CARDS)
    total = first["X-KPI-Months-Computed"].split("/")[1]
    later = restart()
    again, body = ask(later, admin_headers, "/api/v1/scorecards", CARDS)
    assert (again["X-KPI-Months-Computed"], again["X-KPI-Months-Persisted"]) == (f"0/{total}", f"{total}/{total}")
    assert body == computed


def test_sums_read_from_the_database_are_kept_in_the_front_cache(database) -> None:
    store = persisted_sums(database.engine)
    store.set("month-key", b"[]")
    tiers = TieredCache(MemoryCache(), store, 60)
    assert [tiers.get_from("month-key")[1], tiers.get_from("month-key")[1], tiers.get_from("other")] == [
        "persisted",
        "front",
        (None, None),
    ]


@pytest.mark.parametrize("damage", ["truncated", "wrong checksum"])
def test_a_corrupt_row_is_recomputed_never_served_and_replaced(
    client, admin_headers, seeded, restart, database, damage
) -> None:
    _, computed = ask(client, admin_headers, VALUES, SPRING)
    persisted_sums(database.engine).flush()
    key, (value, digest) = sorted(rows_of(database).items())[0]
    damaged = {"value": value[: len(value) // 2]} if damage == "truncated" else {"checksum": "0" * 64}
    with database.session() as session:
        session.execute(update(PersistedKpiSums).where(PersistedKpiSums.key == key).values(**damaged))

    headers, body = ask(restart(), admin_headers, VALUES, SPRING)

    assert (headers["X-KPI-Months-Computed"], headers["X-KPI-Months-Persisted"]) == ("1/2", "1/2")
    assert body == computed
    restart.flush()
    value_now, digest_now = rows_of(database)[key]
    assert (value_now, digest_now, checksum(value_now)) == (value, digest, digest)  # replaced by the sums again


def test_a_missing_table_is_a_miss_never_an_error(client, admin_headers, seeded, restart, database) -> None:
    with database.engine.begin() as connection:
        connection.execute(text("DROP TABLE kpi_persisted_sums"))

    headers, body = ask(restart(), admin_headers, VALUES, SPRING)

    assert (headers["X-KPI-Months-Computed"], headers["X-KPI-Months-Persisted"]) == ("2/2", "0/2")
    assert [row["value"] for row in body] == [4.0, 2.0]
    assert persisted_sums(database.engine).flush(timeout=30)  # the writer gave up quietly


def test_with_the_cache_off_nothing_is_persisted(admin_headers, seeded, restart, database) -> None:
    headers, _ = ask(restart(cache_ttl=0), admin_headers, VALUES, SPRING)
    assert (headers["X-KPI-Months-Computed"], headers["X-KPI-Months-Persisted"]) == ("2/2", "0/2")
    persisted_sums(database.engine).flush()
    assert rows_of(database) == {}


# --- a change in one month recomputes that month only, in UTC and in New York -----------------------------


@pytest.fixture
def technician(database) -> int:
    with database.session() as session:
        row = Technician(external_ref="T1", name="Ada")
        session.add(row)
        session.flush()
        return row.id


def add_job(database, technician: int, ref: str, completed: datetime) -> None:
    with database.session() as session:
        start = completed - timedelta(hours=1)
        session.add(
            Job(
                external_ref=ref,
                technician_id=technician,
                category="plumbing",
                status="completed",
                scheduled_start=start,
                started_at=start,
                arrived_at=start,
                completed_at=completed,
            )
        )


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_a_change_in_one_month_recomputes_that_month_only(database, plugins, technician, zone) -> None:
    for month in range(1, 13):
        add_job(database, technician, f"J{month}", datetime(2025, month, 12, 15, tzinfo=UTC))
    query = KpiQuery(start=date(2025, 1, 1), end=date(2026, 1, 1), group_by="technician", period="month")
    sums = TieredCache(MemoryCache(), persisted_sums(database.engine), 3600)

    def answer():
        with database.session(write=False) as session:
            return service.kpi_values(session, plugins, query, zone=ZoneInfo(zone), cache=MemoryCache(), sums=sums)

    assert (answer().months_computed, answer().months_total) == (12, 12)
    assert answer().months_computed == 0
    add_job(database, technician, "J13", datetime(2025, 5, 20, 15, tzinfo=UTC))
    changed = answer()

    assert (changed.months_computed, changed.months_total) == (1, 12)
    with database.session(write=False) as session:
        scanned = service.kpi_values(session, plugins, query, zone=ZoneInfo(zone))
    assert changed.dicts() == scanned.dicts()


# --- the background refresh after an import -----------------------------------------------------------------


def admin_login(client, database) -> dict[str, str]:
    with database.session() as session:
        create_user(session, NewUser(username="root", password=TEST_PASSWORD, role="admin"), actor=Actor.system("test"))
    token = client.post("/api/v1/auth/login", json={"username": "root", "password": TEST_PASSWORD})
    return {"Authorization": f"Bearer {token.json['access_token']}"}


def runs_of(database, job_key: str = REFRESH_JOB) -> list[JobRun]:
    with database.session(write=False) as session:
        return list(session.scalars(select(JobRun).where(JobRun.job_key == job_key).order_by(JobRun.id)))


def wait_for_run(database, *, finished: int = 1, timeout: float = 120) -> list[JobRun]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = runs_of(database)
        if sum(run.status in ("finished", "failed") for run in runs) >= finished:
            return runs
        time.sleep(0.1)
    raise AssertionError(f"no refresh run ended within {timeout} s: {runs_of(database)}")


def test_a_background_refresh_after_an_import_warms_the_dashboards_questions(
    refresh_after_writes, settings, database, plugins, restart
) -> None:
    client = create_app(replace(settings, refresh_after_writes=1), database=database, plugins=plugins).test_client()
    headers = admin_login(client, database)
    yesterday = (datetime.now(settings.zone) - timedelta(days=1)).date().isoformat()
    post_csv(client, headers, "/api/v1/imports/jobs?create_technicians=true", job_rows(("J1", "T1", yesterday)))

    runs = wait_for_run(database)

    assert runs[0].status == "finished", runs[0].error
    assert runs[0].result["warmed"] == 3 + runs[0].result["default_dashboard"]
    assert yesterday[:7] in runs[0].params["touched"]
    start, end = dashboard_window(datetime.now(settings.zone).date())
    dashboard = {"group_by": "team", "period": "month", "start": start.isoformat(), "end": end.isoformat()}
    warm, _ = ask(client, headers, VALUES, dashboard)
    assert warm["X-KPI-Cache"] == "hit"
    months = len(local_months(start, end))
    cold, _ = ask(restart(), headers, VALUES, dashboard)  # and after a restart, from the database
    assert (cold["X-KPI-Months-Computed"], cold["X-KPI-Months-Persisted"]) == (f"0/{months}", f"{months}/{months}")


def opened_dashboard(client, headers, today: date) -> list[tuple[str, dict]]:
    """The requests the default dashboard makes when opened (frontend/src/widgets/data.ts, filters.ts)."""
    dashboard = client.get("/api/v1/dashboard", headers=headers).json
    specs = {widget["key"]: widget for widget in dashboard["widgets"]}
    widgets = [specs[item["widget"]] for item in dashboard["layout"]]
    cards = list(dict.fromkeys(key for widget in widgets for key in widget["metrics"]))
    grid = list(dict.fromkeys(key for w in widgets if w["type"] in ("heatmap", "table") for key in w["metrics"]))
    end = today.replace(day=1)
    start = (end - timedelta(days=1)).replace(day=1)
    for _ in range(5):
        start = (start - timedelta(days=1)).replace(day=1)
    window = {"period": "month", "start": start.isoformat(), "end": end.isoformat()}
    asked = [(VALUES, {**window, "kpi": cards, "group_by": "company", "compare": "previous"})]
    if grid:
        asked.append((VALUES, {**window, "kpi": grid, "group_by": "technician"}))
    if any(widget["type"] == "leaderboard" for widget in widgets):
        asked.append(("/api/v1/scorecards", window))
    return asked


def test_the_refresh_warms_what_the_default_dashboard_asks_when_opened(settings, database, plugins, client) -> None:
    headers = admin_login(client, database)
    last_month = (datetime.now(settings.zone).date().replace(day=1) - timedelta(days=3)).isoformat()
    post_csv(client, headers, "/api/v1/imports/jobs?create_technicians=true", job_rows(("J1", "T1", last_month)))
    runner = InProcessRunner(JobEnvironment(settings, database, plugins))
    try:
        run_id = runner.enqueue(REFRESH_JOB, requested_by=Actor.system("test"))
        run = wait_for_run(database)[0]
    finally:
        runner.shutdown()
    assert (run.id, run.status) == (run_id, "finished"), run.error
    asked = opened_dashboard(client, headers, datetime.now(settings.zone).date())
    assert run.result["default_dashboard"] == len(asked) >= 2
    for url, query in asked:
        assert ask(client, headers, url, query)[0]["X-KPI-Cache"] == "hit", (url, query)


@pytest.fixture
def stopped_runner(settings, database, plugins) -> Iterator[InProcessRunner]:
    """A runner that takes runs and never starts them: they stay queued."""
    runner = InProcessRunner(JobEnvironment(settings, database, plugins))
    runner.shutdown()
    yield runner


def test_a_burst_of_edits_queues_one_refresh_with_every_month_touched(settings, database, stopped_runner) -> None:
    trigger = RefreshAfterWrites(stopped_runner, delay=0.3)
    this_month = datetime.now(settings.zone).date().replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    for _ in range(20):
        trigger.changed({this_month.isoformat()[:7]})
    trigger.changed({last_month.isoformat()[:7], "*"})
    deadline = time.monotonic() + 30
    while not runs_of(database) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)

    runs = runs_of(database)
    assert [(run.status, sorted(run.params["touched"])) for run in runs] == [
        ("queued", sorted({"*", this_month.isoformat()[:7], last_month.isoformat()[:7]}))
    ]


def test_a_refresh_already_queued_is_not_queued_again(settings, database, stopped_runner) -> None:
    trigger = RefreshAfterWrites(stopped_runner, delay=0)
    month = datetime.now(settings.zone).date().isoformat()[:7]
    first = trigger.enqueue({month})
    assert first is not None
    assert trigger.enqueue({month}) is None  # covered by the queued run
    assert trigger.enqueue({"*"}) is not None  # not covered: queued too
    stopped_runner.enqueue(REFRESH_JOB, {}, requested_by=Actor.system("test"))  # a full refresh covers anything
    assert trigger.enqueue({"1999-01", month}) is None


def test_a_change_outside_the_dashboards_months_queues_nothing(settings, database, stopped_runner) -> None:
    trigger = RefreshAfterWrites(stopped_runner, delay=0)
    trigger.changed({"2001-03", "2001-03-31"})
    time.sleep(0.3)
    assert runs_of(database) == []


# --- retention ---------------------------------------------------------------------------------------------


def test_retention_removes_rows_not_read_for_a_while_and_short_lived_ones_of_past_hours(settings, database) -> None:
    now = utcnow()
    rows = {
        "read-today": (now, now),
        "read-long-ago": (now - timedelta(days=200), now - timedelta(days=settings.sums_retention_days + 1)),
        SHORT_LIVED + "this-hour": (now, now),
        SHORT_LIVED + "hours-ago": (now - timedelta(hours=5), now - timedelta(hours=5)),
    }
    with database.session() as session:
        session.execute(delete(PersistedKpiSums))
        for key, (created, read) in rows.items():
            session.add(
                PersistedKpiSums(key=key, value=b"x", checksum=checksum(b"x"), created_at=created, read_at=read)
            )

    result = remove_old_sums(JobContext(database.engine, settings))

    assert result["removed"] == 2
    with database.session(write=False) as session:
        assert sorted(session.scalars(select(PersistedKpiSums.key))) == sorted(
            ["read-today", SHORT_LIVED + "this-hour"]
        )
        assert session.scalar(select(func.count()).select_from(PersistedKpiSums)) == 2


def test_reading_an_old_row_marks_it_read(database) -> None:
    store = persisted_sums(database.engine)
    store.set("k", b'[["a"]]')
    store.flush()
    with database.session() as session:
        session.execute(update(PersistedKpiSums).values(read_at=utcnow() - timedelta(days=20)))
    assert store.get("k") == b'[["a"]]'
    store.flush()
    with database.session(write=False) as session:
        assert session.scalar(select(PersistedKpiSums.read_at)) > utcnow() - timedelta(minutes=5)
