"""Schedules: an audited, validated API; occurrences read in the schedule's time zone; each
occurrence fired once however many schedulers run; missed ones run once or skipped.

The scheduler's clock is passed in (``tick(now=...)``), so a test can walk through days in
milliseconds. Runs on SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from redis import Redis
from sqlalchemy import func, select

from kpi_core import hookimpl
from kpi_core.audit.trail import Actor
from kpi_core.declarations import JobSpec
from kpi_core.jobs.execute import JobEnvironment
from kpi_core.jobs.inprocess import InProcessRunner
from kpi_core.jobs.rq_runner import RQRunner
from kpi_core.jobs.scheduler import Scheduler, due
from kpi_core.jobs.schedules import update_schedule
from kpi_core.plugins import load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.models import AuditEntry, JobRun, Schedule, Technician
from kpi_core.testing.redis import _free_port

T0 = datetime(2026, 7, 10, 12, 0, tzinfo=UTC)
ADMIN = Actor.system("test")


@hookimpl
def declare_test_jobs() -> list[JobSpec]:
    return [JobSpec(key="test.noop", label="Does nothing", run=lambda context: None, retries=0)]


@pytest.fixture
def plugins(settings):
    return load_plugins(settings, extra=[("testjobs", SimpleNamespace(kpi_jobs=declare_test_jobs))])


@pytest.fixture
def env(settings, database, plugins) -> JobEnvironment:
    return JobEnvironment(settings, database, plugins)


@pytest.fixture
def runner(env) -> Iterator[InProcessRunner]:
    runner = InProcessRunner(env)
    yield runner
    runner.shutdown(wait=True)


@pytest.fixture
def scheduler(runner) -> Scheduler:
    return Scheduler(runner, interval=30)


@pytest.fixture
def add_schedule(database):
    """``add_schedule(cron=..., **fields)`` -> id of a schedule created at T0 (unless told otherwise)."""

    def add(cron: str = "* * * * *", **fields: object) -> int:
        values = {"name": f"s{cron}{fields}", "kind": "job", "job_key": "test.noop", "cron": cron, **fields}
        values.setdefault("created_at", T0)
        with database.session() as session:
            schedule = Schedule(**values)
            session.add(schedule)
            session.flush()
            return schedule.id

    return add


def runs_of(database: Database, schedule_id: int) -> int:
    with database.session(write=False) as session:
        return session.scalar(select(func.count()).select_from(JobRun).where(JobRun.schedule_id == schedule_id))


def watermark(database: Database, schedule_id: int) -> datetime | None:
    with database.session(write=False) as session:
        return session.get(Schedule, schedule_id).last_fired_at


# --- when an occurrence is due ---------------------------------------------------------------


def test_occurrences_are_read_in_the_schedules_time_zone():
    summer = Schedule(cron="0 9 * * *", timezone="America/Chicago", last_fired_at=T0 - timedelta(days=1))
    winter = Schedule(cron="0 9 * * *", timezone="America/Chicago", last_fired_at=datetime(2026, 1, 9, tzinfo=UTC))

    assert due(summer, T0.replace(hour=15), timedelta(minutes=1)).occurrence == T0.replace(hour=14)  # CDT: UTC-5
    assert due(winter, datetime(2026, 1, 10, 16, tzinfo=UTC), timedelta(minutes=1)).occurrence == datetime(
        2026, 1, 10, 15, tzinfo=UTC
    )  # CST: UTC-6


def test_an_occurrence_at_exactly_now_is_due_and_on_time():
    schedule = Schedule(cron="0 * * * *", timezone="UTC", created_at=T0 - timedelta(minutes=30))

    pending = due(schedule, T0, timedelta(minutes=1))

    assert (pending.occurrence, pending.late) == (T0, False)


def test_nothing_is_due_before_the_first_occurrence_after_creation():
    schedule = Schedule(cron="0 3 * * *", timezone="UTC", created_at=T0)

    assert due(schedule, T0 + timedelta(hours=12), timedelta(minutes=1)) is None


# --- firing ---------------------------------------------------------------------------------


def test_a_due_occurrence_fires_one_run_of_the_job(scheduler, add_schedule, database):
    schedule_id = add_schedule("*/5 * * * *")

    fired = scheduler.tick(now=T0 + timedelta(minutes=5, seconds=3))
    again = scheduler.tick(now=T0 + timedelta(minutes=5, seconds=33))

    assert [(item.schedule_id, item.occurrence) for item in fired] == [(schedule_id, T0 + timedelta(minutes=5))]
    assert again == []
    assert runs_of(database, schedule_id) == 1
    with database.session(write=False) as session:
        run = session.get(JobRun, fired[0].run_id)
    assert (run.job_key, run.requested_by, run.schedule_id) == ("test.noop", "scheduler", schedule_id)


@pytest.mark.parametrize("missed", ["run_once", "skip"])
def test_an_on_time_occurrence_runs_whatever_the_missed_policy(scheduler, add_schedule, database, missed):
    schedule_id = add_schedule("0 13 * * *", missed=missed)

    scheduler.tick(now=T0.replace(hour=13, second=10))

    assert runs_of(database, schedule_id) == 1


def test_occurrences_missed_during_downtime_run_once(scheduler, add_schedule, database):
    schedule_id = add_schedule("0 3 * * *", missed="run_once", last_fired_at=T0.replace(hour=3) - timedelta(days=5))

    fired = scheduler.tick(now=T0)
    scheduler.tick(now=T0 + timedelta(minutes=1))

    assert runs_of(database, schedule_id) == 1  # one catch-up run, not five
    assert fired[0].occurrence == T0.replace(hour=3)
    assert watermark(database, schedule_id) == T0.replace(hour=3)


def test_occurrences_missed_during_downtime_are_skipped_when_configured(scheduler, add_schedule, database):
    schedule_id = add_schedule("0 3 * * *", missed="skip", last_fired_at=T0.replace(hour=3) - timedelta(days=5))

    fired = scheduler.tick(now=T0)

    assert [item.run_id for item in fired] == [None]
    assert runs_of(database, schedule_id) == 0
    assert watermark(database, schedule_id) == T0.replace(hour=3)
    scheduler.tick(now=T0.replace(hour=3) + timedelta(days=1, seconds=5))
    assert runs_of(database, schedule_id) == 1  # the next one, on time, runs


def test_a_disabled_schedule_never_fires(scheduler, add_schedule, database):
    schedule_id = add_schedule("* * * * *", enabled=False)

    assert scheduler.tick(now=T0 + timedelta(hours=1)) == []
    assert runs_of(database, schedule_id) == 0


def test_re_enabling_a_schedule_starts_from_now_without_catching_up(scheduler, add_schedule, database, runner):
    schedule_id = add_schedule("0 3 * * *", enabled=False, last_fired_at=T0 - timedelta(days=30))
    with database.session() as session:
        update_schedule(session, runner.jobs, ADMIN, session.get(Schedule, schedule_id), {"enabled": True})

    assert scheduler.tick() == []
    assert runs_of(database, schedule_id) == 0


def test_a_claim_rolls_back_when_the_queue_refuses_and_fires_on_a_later_tick(env, add_schedule, database, scheduler):
    schedule_id = add_schedule("0 * * * *")
    down = RQRunner(env, connection=Redis(port=_free_port(), socket_connect_timeout=1))  # nothing listens there

    assert Scheduler(down).tick(now=T0 + timedelta(hours=1)) == []
    assert watermark(database, schedule_id) is None

    assert len(scheduler.tick(now=T0 + timedelta(hours=1))) == 1
    assert runs_of(database, schedule_id) == 1


def test_two_schedulers_at_once_fire_each_occurrence_once(settings, plugins, database, add_schedule):
    schedule_id = add_schedule("* * * * *")
    minutes = [T0 + timedelta(minutes=number) for number in range(1, 21)]
    # Two of everything, as two processes would have: engines, runners, schedulers.
    databases = [Database(settings.effective_database_url) for _ in range(2)]
    runners = [InProcessRunner(JobEnvironment(settings, own, plugins)) for own in databases]
    fired: list[list[datetime]] = [[], []]
    barrier = threading.Barrier(2)

    def schedule_loop(number: int) -> None:
        loop = Scheduler(runners[number])
        for minute in minutes:
            barrier.wait()
            fired[number] += [item.occurrence for item in loop.tick(now=minute + timedelta(seconds=1))]

    threads = [threading.Thread(target=schedule_loop, args=(number,)) for number in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        for own_runner, own in zip(runners, databases, strict=True):
            own_runner.shutdown(wait=True)
            own.dispose()

    assert sorted(fired[0] + fired[1]) == minutes  # every occurrence, none twice
    assert runs_of(database, schedule_id) == len(minutes)


def test_two_scheduler_processes_fire_a_due_occurrence_once(settings, database, add_schedule):
    # Once a year, created two years ago: this year's occurrence is due (late) whenever the test runs.
    schedule_id = add_schedule("0 0 1 1 *", job_key="core.refresh_statistics", created_at=T0 - timedelta(days=730))
    environ = {name: value for name, value in os.environ.items() if not name.startswith("KPI_")}
    environ.update(KPI_DATA_DIR=str(settings.data_dir), KPI_DATABASE_URL=settings.database_url)
    kpi = str(Path(sys.executable).with_name("kpi"))

    processes = [
        subprocess.Popen([kpi, "scheduler", "--once"], env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=180) for process in processes]

    assert [process.returncode for process in processes] == [0, 0], outputs
    assert runs_of(database, schedule_id) == 1
    with database.session(write=False) as session:
        jobs = session.scalars(select(Schedule.job_key)).all()
        run = session.scalars(select(JobRun).where(JobRun.schedule_id == schedule_id)).one()
    # Both processes add the default schedules; each is added once (statistics had one already).
    declared = load_plugins(settings).jobs.values()
    assert sorted(jobs) == sorted(spec.key for spec in declared if spec.schedule)
    assert {"core.backup", "core.refresh_statistics", "core.kpi_sums_retention"} <= set(jobs)
    assert run.status == "finished", outputs


def test_declared_jobs_get_their_default_schedules_once_and_an_admins_changes_stay(scheduler, database, runner):
    scheduler.prepare()
    with database.session() as session:
        backup = session.scalars(select(Schedule).where(Schedule.job_key == "core.backup")).one()
        assert (backup.cron, backup.timezone, backup.missed) == ("15 2 * * *", "UTC", "run_once")
        update_schedule(session, runner.jobs, ADMIN, backup, {"enabled": False})

    scheduler.prepare()

    with database.session(write=False) as session:
        backups = session.scalars(select(Schedule).where(Schedule.job_key == "core.backup")).all()
    assert [schedule.enabled for schedule in backups] == [False]


# --- the API ------------------------------------------------------------------------------


@pytest.fixture
def manager_headers(make_user, login) -> dict[str, str]:
    make_user("manager", username="mia")
    return login("mia")


NEW = {"name": "Nightly stats", "job_key": "core.refresh_statistics", "cron": "30  2 * * *", "missed": "skip"}


def test_an_admin_creates_a_schedule_and_the_change_is_audited(client, admin_headers, database):
    response = client.post("/api/v1/schedules", json=NEW, headers=admin_headers)

    assert response.status_code == 201, response.json
    created = response.json
    assert (created["cron"], created["timezone"], created["enabled"], created["kind"]) == (
        "30 2 * * *",
        "UTC",
        True,
        "job",
    )
    assert created["last_fired_at"] is None
    assert datetime.fromisoformat(created["next_fire_at"]).time().isoformat() == "02:30:00"
    with database.session(write=False) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.entity == "schedule")).one()
    assert (entry.action, entry.entity_id, entry.username) == ("create", str(created["id"]), "admin")


@pytest.mark.parametrize("cron", ["61 * * * *", "* * * *", "0 3 * * * *", "@daily", "every day"])
def test_a_bad_cron_expression_is_422_naming_cron(client, admin_headers, cron):
    response = client.post("/api/v1/schedules", json={**NEW, "cron": cron}, headers=admin_headers)

    assert response.status_code == 422
    assert list(response.json["errors"]["json"]) == ["cron"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("timezone", "Mars/Olympus_Mons"), ("job_key", "core.nope"), ("missed", "sometimes")],
)
def test_a_bad_field_is_422_naming_it(client, admin_headers, field, value):
    response = client.post("/api/v1/schedules", json={**NEW, field: value}, headers=admin_headers)

    assert response.status_code == 422
    assert field in response.json["errors"]["json"]


def test_a_report_schedule_with_an_incomplete_spec_is_refused_naming_the_field(client, admin_headers):
    body = {"name": "Weekly", "kind": "report", "report_spec": {"format": "pdf"}, "cron": "0 6 * * 1"}

    response = client.post("/api/v1/schedules", json=body, headers=admin_headers)

    assert response.status_code == 422
    assert "report_spec.start" in str(response.json["errors"])


def test_a_taken_name_is_409(client, admin_headers):
    client.post("/api/v1/schedules", json=NEW, headers=admin_headers)

    assert client.post("/api/v1/schedules", json=NEW, headers=admin_headers).status_code == 409


def test_managers_read_schedules_but_cannot_change_them(client, admin_headers, manager_headers):
    schedule_id = client.post("/api/v1/schedules", json=NEW, headers=admin_headers).json["id"]

    assert client.get("/api/v1/schedules", headers=manager_headers).json[0]["id"] == schedule_id
    assert client.post("/api/v1/schedules", json={**NEW, "name": "x"}, headers=manager_headers).status_code == 403
    assert client.delete(f"/api/v1/schedules/{schedule_id}", headers=manager_headers).status_code == 403


def test_technicians_cannot_see_schedules(client, make_user, login, database):
    with database.session() as session:
        session.add(Technician(external_ref="T-1", name="Tess Fixit"))
    make_user("technician", username="tess", technician_ref="T-1")

    assert client.get("/api/v1/schedules", headers=login("tess")).status_code == 403


def test_a_change_needs_the_etag_and_is_audited(client, admin_headers, database):
    schedule_id = client.post("/api/v1/schedules", json=NEW, headers=admin_headers).json["id"]
    url = f"/api/v1/schedules/{schedule_id}"

    assert client.patch(url, json={"cron": "0 4 * * *"}, headers=admin_headers).status_code == 428
    etag = client.get(url, headers=admin_headers).headers["ETag"]
    changed = client.patch(url, json={"cron": "0 4 * * *"}, headers={**admin_headers, "If-Match": etag})

    assert changed.status_code == 200, changed.json
    assert changed.json["cron"] == "0 4 * * *"
    with database.session(write=False) as session:
        update = session.scalars(select(AuditEntry).where(AuditEntry.action == "update")).one()
    assert update.changes["cron"] == ["30 2 * * *", "0 4 * * *"]


def test_a_patch_with_a_bad_cron_changes_nothing(client, admin_headers):
    schedule_id = client.post("/api/v1/schedules", json=NEW, headers=admin_headers).json["id"]
    url = f"/api/v1/schedules/{schedule_id}"
    etag = client.get(url, headers=admin_headers).headers["ETag"]

    response = client.patch(url, json={"cron": "99 * * * *"}, headers={**admin_headers, "If-Match": etag})

    assert response.status_code == 422
    assert client.get(url, headers=admin_headers).json["cron"] == "30 2 * * *"


def test_deleting_a_schedule_keeps_its_runs_without_the_link(client, admin_headers, database, runner):
    schedule_id = client.post("/api/v1/schedules", json={**NEW, "job_key": "test.noop"}, headers=admin_headers).json[
        "id"
    ]
    run_id = runner.enqueue("test.noop", requested_by=ADMIN, schedule_id=schedule_id)
    url = f"/api/v1/schedules/{schedule_id}"
    etag = client.get(url, headers=admin_headers).headers["ETag"]

    assert client.delete(url, headers={**admin_headers, "If-Match": etag}).status_code == 204

    assert client.get(url, headers=admin_headers).status_code == 404
    with database.session(write=False) as session:
        assert session.get(JobRun, run_id).schedule_id is None
