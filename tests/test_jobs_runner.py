"""The job runner's one API, on the in-process runner (no Redis), and the job-runs HTTP API.

Jobs come from a small inline plugin through ``kpi_jobs``, like any
plugin's. Runs on SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from kpi_core import hookimpl
from kpi_core.accounts.permissions import ROLE_PERMISSIONS
from kpi_core.audit.trail import Actor
from kpi_core.declarations import JobSpec
from kpi_core.errors import Invalid
from kpi_core.jobs.context import JobContext
from kpi_core.jobs.execute import JobEnvironment
from kpi_core.jobs.inprocess import InProcessRunner
from kpi_core.jobs.runs import create_run
from kpi_core.plugins import load_plugins
from kpi_core.storage.models import AuditEntry, JobRun
from kpi_core.web.jobs_runs_api import RUNNER_KEY

DONE = ("finished", "failed")
CLI = Actor.system("test")


def add(context: JobContext, a: int, b: int) -> dict[str, int]:
    context.progress(50, "adding")
    return {"sum": a + b}


def flaky(context: JobContext, marker: str, failures: int) -> dict[str, int]:
    """Fails its first ``failures`` attempts; counts attempts in a file, so any process can run it."""
    path = Path(marker)
    attempt = len(path.read_text()) + 1 if path.exists() else 1
    path.write_text("x" * attempt)
    if attempt <= failures:
        raise RuntimeError(f"attempt {attempt} fails on purpose")
    return {"attempt": attempt}


def boom(context: JobContext) -> None:
    raise ValueError("boom")


def sleepy(context: JobContext, seconds: float) -> dict[str, float]:
    time.sleep(seconds)
    return {"slept": seconds}


def not_json(context: JobContext) -> object:
    return object()


JOBS = [
    JobSpec(key="test.add", label="Add two numbers", run=add, retries=0),
    JobSpec(key="test.flaky", label="Fails, then works", run=flaky, retries=2),
    JobSpec(key="test.boom", label="Always fails", run=boom, retries=1),
    JobSpec(key="test.sleepy", label="Sleeps past its timeout", run=sleepy, timeout=1, retries=0),
    JobSpec(key="test.not_json", label="Returns no JSON", run=not_json, retries=0),
]


@hookimpl
def declare_test_jobs() -> list[JobSpec]:
    return JOBS


@pytest.fixture
def plugins(settings):
    return load_plugins(settings, extra=[("testjobs", SimpleNamespace(kpi_jobs=declare_test_jobs))])


@pytest.fixture
def runner(settings, database, plugins) -> Iterator[InProcessRunner]:
    runner = InProcessRunner(JobEnvironment(settings, database, plugins), retry_base_seconds=1)
    yield runner
    runner.shutdown(wait=True)


def wait_for(runner: Any, run_id: int, timeout: float = 20.0) -> JobRun:
    deadline = time.monotonic() + timeout
    while True:
        run = runner.get_run(run_id)
        if run.status in DONE or time.monotonic() > deadline:
            return run
        time.sleep(0.05)


def test_a_run_finishes_with_its_result_and_full_progress(runner):
    run = wait_for(runner, runner.enqueue("test.add", {"a": 2, "b": 3}, requested_by=CLI))

    assert (run.status, run.result, run.progress, run.attempts) == ("finished", {"sum": 5}, 100, 1)
    assert run.backend == "inprocess"
    assert run.requested_by == "test"
    assert run.started_at <= run.finished_at


def test_a_failed_attempt_is_retried_with_back_off_until_it_succeeds(runner, tmp_path):
    started = time.monotonic()
    run_id = runner.enqueue("test.flaky", {"marker": str(tmp_path / "m"), "failures": 2}, requested_by=CLI)

    run = wait_for(runner, run_id)

    assert (run.status, run.attempts, run.result) == ("finished", 3, {"attempt": 3})
    assert run.error is None and run.traceback is None
    # Back-off of 1 s, then 2 s (base 1 s, doubling).
    assert time.monotonic() - started >= 3


def test_a_run_that_keeps_failing_ends_failed_with_error_and_traceback(runner):
    run = wait_for(runner, runner.enqueue("test.boom", requested_by=CLI))

    assert (run.status, run.attempts, run.max_attempts) == ("failed", 2, 2)
    assert run.error == "ValueError: boom"
    assert "Traceback" in run.traceback and "def boom" not in run.error
    assert run.finished_at is not None


def test_an_attempt_past_its_timeout_fails(runner):
    run = wait_for(runner, runner.enqueue("test.sleepy", {"seconds": 3}, requested_by=CLI))

    assert run.status == "failed"
    assert "did not finish within 1 s" in run.error


def test_a_late_result_of_a_timed_out_attempt_is_ignored(runner):
    run_id = runner.enqueue("test.sleepy", {"seconds": 2}, requested_by=CLI)
    wait_for(runner, run_id)

    time.sleep(2.5)  # the thread ends and tries to record its result

    assert runner.get_run(run_id).status == "failed"


def test_a_result_that_is_not_json_fails_the_run(runner):
    run = wait_for(runner, runner.enqueue("test.not_json", requested_by=CLI))

    assert run.status == "failed"
    assert "not JSON" in run.error


def test_an_unknown_job_key_is_refused_naming_job_key(runner, database):
    with pytest.raises(Invalid) as refused:
        runner.enqueue("test.nope", requested_by=CLI)

    assert refused.value.field == "job_key"
    assert "test.add" in refused.value.message
    with database.session(write=False) as session:
        assert session.scalar(select(func.count()).select_from(JobRun)) == 0


def test_params_the_job_does_not_take_are_refused_naming_params(runner):
    with pytest.raises(Invalid) as refused:
        runner.enqueue("test.add", {"a": 1, "c": 2}, requested_by=CLI)

    assert refused.value.field == "params"


def test_a_run_exists_and_runs_only_if_the_callers_transaction_commits(runner, database):
    session = database.open_session(write=True)
    run_id = runner.enqueue("test.add", {"a": 1, "b": 1}, requested_by=CLI, session=session)
    session.rollback()
    session.close()
    time.sleep(0.3)

    with database.session(write=False) as check:
        assert check.get(JobRun, run_id) is None
        assert check.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.entity == "job_run")) == 0


def test_each_run_is_audited_with_who_asked(runner, database):
    run_id = runner.enqueue("test.add", {"a": 1, "b": 1}, requested_by=Actor(user_id=None, username="ops"))

    with database.session(write=False) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.entity == "job_run")).one()
    assert (entry.action, entry.entity_id, entry.username) == ("create", str(run_id), "ops")
    assert entry.changes["job_key"] == [None, "test.add"]


def test_shutting_down_with_wait_finishes_the_runs_no_thread_has_taken_yet(settings, database, plugins):
    # One thread, busy: the second run waits in the pool's queue when the process ends, as the run a
    # `kpi scheduler --once` fires does when its thread has not started yet.
    runner = InProcessRunner(JobEnvironment(settings, database, plugins), workers=1)
    busy = runner.enqueue("test.add", {"a": 1, "b": 1}, requested_by=CLI)
    waiting = runner.enqueue("test.add", {"a": 2, "b": 2}, requested_by=CLI)

    runner.shutdown(wait=True)

    assert [(runner.get_run(run).status, runner.get_run(run).result) for run in (busy, waiting)] == [
        ("finished", {"sum": 2}),
        ("finished", {"sum": 4}),
    ]


def test_a_run_queued_inside_a_savepoint_is_submitted_when_the_transaction_commits(runner, database):
    # Notification delivery and alerts queue their run in a SAVEPOINT. Releasing it used to submit the
    # run while the request's transaction was still open.
    submitted: list[int] = []
    real_submit = runner.submit
    runner.submit = lambda run_id, dispatch_id: (submitted.append(run_id), real_submit(run_id, dispatch_id))
    with database.session() as session:
        with session.begin_nested():
            run_id = runner.enqueue("test.add", {"a": 3, "b": 4}, requested_by=CLI, session=session)
        assert submitted == [], "submitted before the transaction committed"

    assert submitted == [run_id]
    assert wait_for(runner, run_id).result == {"sum": 7}


# SQLite lets one writer at a time, so a claim waits for the enqueuer's commit there: no such race.
@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_run_whose_row_commits_while_it_is_being_claimed_still_runs(runner, database, monkeypatch):
    # A queue may hand a run over before its row commits (RQ is pushed first, so a refusal rolls it
    # back). If the commit lands between a failed start and the check that the row exists, the run
    # was dropped as stale and stayed queued for good.
    from kpi_core.jobs import execute as execute_module

    session = database.open_session(write=True)
    run = create_run(
        session, job_key="test.add", params={"a": 5, "b": 6}, max_attempts=1, backend="inprocess", requested_by=CLI
    )
    run_id, dispatch_id = run.id, run.dispatch_id
    real_start = execute_module.start_attempt

    def start_then_commit(*args: Any, **kwargs: Any) -> Any:
        attempt = real_start(*args, **kwargs)
        if session.is_active and session.in_transaction():
            session.commit()  # the enqueuer commits just after the start missed the row
            session.close()
        return attempt

    monkeypatch.setattr(execute_module, "start_attempt", start_then_commit)

    outcome = execute_module.execute(runner.env, run_id, dispatch_id, worker="test", retry_policy=lambda attempt: None)

    assert outcome.status == "finished"
    assert runner.get_run(run_id).result == {"sum": 11}


def test_runs_left_queued_by_a_stopped_process_are_run_by_the_next(settings, database, plugins):
    first = InProcessRunner(JobEnvironment(settings, database, plugins))
    first.shutdown(wait=True)  # stopped before it could run anything
    run_id = first.enqueue("test.add", {"a": 4, "b": 4}, requested_by=CLI)
    assert first.get_run(run_id).status == "queued"

    second = InProcessRunner(JobEnvironment(settings, database, plugins))
    try:
        second.started_at = second.started_at.replace(year=second.started_at.year + 1)  # started after the run
        assert second.recover() == 1
        run = wait_for(second, run_id)
    finally:
        second.shutdown()

    assert (run.status, run.result) == ("finished", {"sum": 8})


# --- the HTTP API ----------------------------------------------------------------------


@pytest.fixture
def api_runner(app) -> Iterator[InProcessRunner]:
    runner = app.extensions[RUNNER_KEY]
    runner.retry_base_seconds = 1
    yield runner
    runner.shutdown(wait=True)


def test_post_job_run_answers_202_with_the_run_and_its_location(client, admin_headers, api_runner):
    response = client.post(
        "/api/v1/job-runs", json={"job_key": "test.add", "params": {"a": 20, "b": 22}}, headers=admin_headers
    )

    assert response.status_code == 202, response.json
    run_id = response.json["id"]
    assert response.headers["Location"].endswith(f"/api/v1/job-runs/{run_id}")
    assert wait_for(api_runner, run_id).result == {"sum": 42}
    shown = client.get(f"/api/v1/job-runs/{run_id}", headers=admin_headers).json
    assert (shown["status"], shown["progress"], shown["result"]) == ("finished", 100, {"sum": 42})
    assert shown["requested_by"] == "admin"


def test_post_job_run_with_an_unknown_key_is_422_naming_job_key(client, admin_headers, api_runner):
    response = client.post("/api/v1/job-runs", json={"job_key": "test.nope"}, headers=admin_headers)

    assert response.status_code == 422
    assert "job_key" in response.json["errors"]["json"]


def test_job_runs_are_listed_newest_first_and_filtered(client, admin_headers, api_runner):
    finished = client.post(
        "/api/v1/job-runs", json={"job_key": "test.add", "params": {"a": 1, "b": 2}}, headers=admin_headers
    )
    wait_for(api_runner, finished.json["id"])
    failed = client.post("/api/v1/job-runs", json={"job_key": "test.not_json"}, headers=admin_headers)
    wait_for(api_runner, failed.json["id"])

    everything = client.get("/api/v1/job-runs", headers=admin_headers).json
    only_failed = client.get("/api/v1/job-runs?status=failed", headers=admin_headers).json
    only_add = client.get("/api/v1/job-runs?job_key=test.add", headers=admin_headers).json

    assert [run["id"] for run in everything] == [failed.json["id"], finished.json["id"]]
    assert [run["id"] for run in only_failed] == [failed.json["id"]]
    assert [run["id"] for run in only_add] == [finished.json["id"]]


def test_the_traceback_is_shown_to_admins_only(client, admin_headers, api_runner, make_user, login, monkeypatch):
    run_id = client.post("/api/v1/job-runs", json={"job_key": "test.boom"}, headers=admin_headers).json["id"]
    wait_for(api_runner, run_id)
    # Were managers ever allowed to read runs (report runs, say), they would still see no traceback.
    monkeypatch.setitem(ROLE_PERMISSIONS, "manager", ROLE_PERMISSIONS["manager"] | {"job_runs.read"})
    make_user("manager", username="mia")

    as_admin = client.get(f"/api/v1/job-runs/{run_id}", headers=admin_headers).json
    as_manager = client.get(f"/api/v1/job-runs/{run_id}", headers=login("mia")).json

    assert "Traceback" in as_admin["traceback"]
    assert as_manager["traceback"] is None
    assert as_manager["error"] == "ValueError: boom"


def test_managers_cannot_start_or_read_job_runs(client, make_user, login, api_runner):
    make_user("manager", username="mia")
    headers = login("mia")

    assert client.post("/api/v1/job-runs", json={"job_key": "test.add"}, headers=headers).status_code == 403
    assert client.get("/api/v1/job-runs", headers=headers).status_code == 403


def test_the_declared_jobs_are_listed_with_their_plugin_and_defaults(client, admin_headers, api_runner):
    jobs = {job["key"]: job for job in client.get("/api/v1/background-jobs", headers=admin_headers).json}

    assert jobs["core.backup"] == {
        "key": "core.backup",
        "label": "Back up the database",
        "plugin": "core",
        "schedule": "15 2 * * *",
        "timeout": 3600,
        "retries": 2,
        "takes_file": False,
        "permission": None,
    }
    assert jobs["core.refresh_statistics"]["plugin"] == "core"
    assert jobs["test.add"]["plugin"] == "testjobs"


def test_the_core_statistics_job_runs_through_the_same_api(client, admin_headers, api_runner, database):
    run_id = client.post("/api/v1/job-runs", json={"job_key": "core.refresh_statistics"}, headers=admin_headers).json[
        "id"
    ]

    run = wait_for(api_runner, run_id)

    assert run.status == "finished", run.error
    assert run.result["database"] == database.engine.dialect.name
