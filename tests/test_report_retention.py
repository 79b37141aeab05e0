"""core.report_retention: finished and failed report runs older than KPI_REPORT_RETENTION_DAYS go,
with their files; queued, running and recent ones stay. Ages are faked through finished_at."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from kpi_core.audit.trail import Actor
from kpi_core.config import ConfigError, Settings
from kpi_core.jobs.context import JobContext
from kpi_core.jobs.execute import JobEnvironment
from kpi_core.jobs.inprocess import InProcessRunner
from kpi_core.reports.retention import remove_old_reports
from kpi_core.storage.models import AuditEntry, JobRun, ReportFile, ReportRun
from kpi_core.storage.types import utcnow


@pytest.fixture
def add_report(database):
    """``add_report(status, age_days)`` -> id of a report run (with a file if finished) whose job ended then."""

    def add(status: str, age_days: float, *, linked: bool = True) -> int:
        ended = utcnow() - timedelta(days=age_days)
        with database.session() as session:
            job = None
            if linked:
                job = JobRun(
                    job_key="core.report", params={}, status=status, progress=100 if status == "finished" else 30,
                    attempts=1, max_attempts=1, backend="inprocess", dispatch_id="d", created_at=ended,
                    started_at=ended, finished_at=ended if status in ("finished", "failed") else None,
                )  # fmt: skip
                session.add(job)
                session.flush()
            run = ReportRun(
                format="csv", title="Old", spec={}, status=status, created_at=ended,
                finished_at=ended if status == "finished" else None, job_run_id=job.id if job else None,
            )  # fmt: skip
            session.add(run)
            session.flush()
            if status == "finished":
                session.add(ReportFile(report_run_id=run.id, content=b"a,b\r\n", sha256="0" * 64))
            return run.id

    return add


def remaining(database) -> tuple[set[int], set[int]]:
    with database.session(write=False) as session:
        return set(session.scalars(select(ReportRun.id))), set(session.scalars(select(ReportFile.report_run_id)))


def test_old_finished_and_failed_reports_go_with_their_files_and_the_rest_stay(database, settings, add_report):
    old_finished, old_failed = add_report("finished", 31), add_report("failed", 45)
    recent = add_report("finished", 29)
    stuck_running, old_queued = add_report("running", 90), add_report("queued", 90)
    orphan = add_report("finished", 60, linked=False)  # its job run was deleted: its own finish time counts

    result = remove_old_reports(JobContext(engine=database.engine, settings=settings))

    assert result["removed"] == 3
    assert result["retention_days"] == 30
    runs, files = remaining(database)
    assert runs == {recent, stuck_running, old_queued}
    assert files == {recent}
    assert not {old_finished, old_failed, orphan} & runs
    with database.session(write=False) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.entity == "report_run")).one()
        assert (entry.action, entry.username) == ("delete", "report_retention")


def test_the_retention_follows_the_setting(database, settings, add_report):
    kept, gone = add_report("finished", 5), add_report("finished", 8)
    short = Settings.from_env({}, **{**settings.__dict__, "report_retention_days": 7})

    assert remove_old_reports(JobContext(engine=database.engine, settings=short))["removed"] == 1
    assert remaining(database)[0] == {kept}
    assert gone not in remaining(database)[0]


def test_nothing_to_delete_removes_nothing(database, settings, add_report):
    add_report("finished", 1)

    assert remove_old_reports(JobContext(engine=database.engine, settings=settings))["removed"] == 0
    with database.session(write=False) as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_the_setting_defaults_to_30_days_and_reads_its_variable():
    assert Settings.from_env({}).report_retention_days == 30
    assert Settings.from_env({"KPI_REPORT_RETENTION_DAYS": "90"}).report_retention_days == 90
    with pytest.raises(ConfigError, match="KPI_REPORT_RETENTION_DAYS"):
        Settings.from_env({"KPI_REPORT_RETENTION_DAYS": "0"})


def test_the_retention_job_is_declared_daily_and_runs_on_the_runner(database, settings, plugins, add_report):
    spec = plugins.jobs["core.report_retention"]
    assert spec.schedule == "45 3 * * *"
    add_report("failed", 100)
    runner = InProcessRunner(JobEnvironment(settings, database, plugins))
    try:
        run_id = runner.enqueue("core.report_retention", requested_by=Actor.system("test"))
        deadline = utcnow() + timedelta(seconds=60)
        while runner.get_run(run_id).status not in ("finished", "failed"):
            assert utcnow() < deadline
            time.sleep(0.05)
        run = runner.get_run(run_id)
    finally:
        runner.shutdown(wait=True)

    assert (run.status, run.result["removed"]) == ("finished", 1)
