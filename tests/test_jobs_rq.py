"""The RQ runner against a real redis-server that the tests start.

Most tests work the queue with RQ's SimpleWorker in this process (burst
mode); the crash tests start real worker processes (the code of `kpi
worker`, with this file's jobs added) and kill them with SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from redis import Redis
from rq import SimpleWorker
from rq.job import Job
from sqlalchemy import func, select

from kpi_core import hookimpl
from kpi_core.audit.trail import Actor
from kpi_core.cli import cli
from kpi_core.config import Settings
from kpi_core.declarations import JobSpec
from kpi_core.jobs import worker as worker_module
from kpi_core.jobs.context import JobContext
from kpi_core.jobs.errors import QueueUnavailable
from kpi_core.jobs.execute import JobEnvironment
from kpi_core.jobs.rq_runner import QUEUE_NAME, RQRunner
from kpi_core.plugins import load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.storage.models import AuditEntry, JobRun
from kpi_core.testing.fixtures import TEST_SECRET

CLI = Actor.system("test")
DONE = ("finished", "failed")
ROOT = Path(__file__).resolve().parents[1]


def add(context: JobContext, a: int, b: int) -> dict[str, int]:
    context.progress(50, "adding")
    return {"sum": a + b}


def flaky(context: JobContext, marker: str, failures: int) -> dict[str, int]:
    """Fails its first ``failures`` attempts; notes when each attempt started, one line each."""
    path = Path(marker)
    attempt = len(path.read_text().splitlines()) + 1 if path.exists() else 1
    with path.open("a") as handle:
        handle.write(f"{time.time()}\n")
    if attempt <= failures:
        raise RuntimeError(f"attempt {attempt} fails on purpose")
    return {"attempt": attempt}


def sleepy(context: JobContext, marker: str, seconds: float) -> dict[str, float]:
    """Notes each start and end in ``marker``, so a test can see which attempts ran and finished."""
    with open(marker, "a") as handle:
        handle.write(f"start {context.attempt}\n")
    time.sleep(seconds)
    with open(marker, "a") as handle:
        handle.write(f"done {context.attempt}\n")
    return {"slept": seconds}


@hookimpl
def declare_test_jobs() -> list[JobSpec]:
    return [
        JobSpec(key="test.add", label="Add", run=add, retries=0),
        JobSpec(key="test.flaky", label="Fails, then works", run=flaky, retries=2),
        JobSpec(key="test.always_fails", label="Always fails", run=flaky, retries=1),
        # timeout 10 s: RQ presumes a silent worker dead after min(timeout, 30) + 60 s.
        JobSpec(key="test.sleepy", label="Sleeps", run=sleepy, timeout=10, retries=2),
        JobSpec(key="test.too_slow", label="Sleeps past its timeout", run=sleepy, timeout=1, retries=0),
    ]


PLUGIN = SimpleNamespace(kpi_jobs=declare_test_jobs)

# A worker process running exactly what `kpi worker` runs, with this file's jobs added.
WORKER_SCRIPT = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("rq_jobs_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from kpi_core.config import Settings
from kpi_core.jobs.worker import run_worker
run_worker(Settings.from_env(), maintenance_interval=int(sys.argv[2]), extra_plugins=[("testjobs", module.PLUGIN)])
"""


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    # Worker processes share the SQLite file; one test below runs the whole flow on PostgreSQL too.
    return sqlite_url


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return Settings.from_env(
        {}, data_dir=tmp_path / "data", database_url=database_url, secret_key=TEST_SECRET, redis_url=redis_url
    )


@pytest.fixture
def plugins(settings):
    return load_plugins(settings, extra=[("testjobs", PLUGIN)])


@pytest.fixture
def env(settings, database, plugins) -> Iterator[JobEnvironment]:
    """The jobs' environment, installed for RQ jobs performed in this process."""
    env = JobEnvironment(settings, database, plugins)
    worker_module.install_environment(env)
    yield env
    worker_module._environment = None


@pytest.fixture
def connection(redis_url: str) -> Iterator[Redis]:
    connection = Redis.from_url(redis_url)
    yield connection
    connection.close()


@pytest.fixture
def runner(env, connection) -> RQRunner:
    return RQRunner(env, connection=connection, retry_base_seconds=1)


def work_until(connection: Redis, done: Callable[[], bool], timeout: float = 30.0) -> None:
    """Burst workers, again and again: retries scheduled for later reach the queue between bursts."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the queue did not get the run done in time"
        SimpleWorker([QUEUE_NAME], connection=connection).work(burst=True, with_scheduler=True)
        time.sleep(0.2)


def run_of(runner: Any, run_id: int) -> JobRun:
    return runner.get_run(run_id)


def finished(runner: Any, run_id: int) -> Callable[[], bool]:
    return lambda: run_of(runner, run_id).status in DONE


def test_a_queued_run_is_performed_by_a_worker_with_its_result(runner, connection):
    run_id = runner.enqueue("test.add", {"a": 2, "b": 40}, requested_by=CLI)
    assert run_of(runner, run_id).status == "queued"

    work_until(connection, finished(runner, run_id))

    run = run_of(runner, run_id)
    assert (run.status, run.result, run.progress, run.attempts, run.backend) == ("finished", {"sum": 42}, 100, 1, "rq")
    assert Job.fetch(run.dispatch_id, connection=connection).get_status() == "finished"


def test_the_rq_flow_works_on_postgresql_too(postgres_url, tmp_path, redis_url, connection):
    settings = Settings.from_env({}, data_dir=tmp_path / "pg", database_url=postgres_url, redis_url=redis_url)
    database = Database(settings.effective_database_url)
    upgrade(database.engine)
    env = JobEnvironment(settings, database, load_plugins(settings, extra=[("testjobs", PLUGIN)]))
    worker_module.install_environment(env)
    try:
        runner = RQRunner(env, connection=connection)
        run_id = runner.enqueue("test.add", {"a": 1, "b": 1}, requested_by=CLI)
        work_until(connection, finished(runner, run_id))
        assert run_of(runner, run_id).result == {"sum": 2}
    finally:
        worker_module._environment = None
        database.dispose()


def test_failed_attempts_are_retried_by_rq_with_back_off(env, connection, tmp_path):
    runner = RQRunner(env, connection=connection, retry_base_seconds=2)
    marker = tmp_path / "m"
    run_id = runner.enqueue("test.flaky", {"marker": str(marker), "failures": 2}, requested_by=CLI)
    job = Job.fetch(run_of(runner, run_id).dispatch_id, connection=connection)
    assert (job.retries_left, job.retry_intervals) == (2, [2, 4])

    work_until(connection, finished(runner, run_id))

    run = run_of(runner, run_id)
    assert (run.status, run.attempts, run.result) == ("finished", 3, {"attempt": 3})
    first, second, third = (float(line) for line in lines(marker))
    # RQ schedules in whole seconds, so each wait may come up to a second early: 2 s, then 4 s.
    assert second - first >= 1
    assert third - second >= 3


def test_a_run_out_of_retries_fails_with_error_and_traceback(runner, connection, tmp_path):
    run_id = runner.enqueue("test.always_fails", {"marker": str(tmp_path / "m"), "failures": 9}, requested_by=CLI)

    work_until(connection, finished(runner, run_id))

    run = run_of(runner, run_id)
    assert (run.status, run.attempts) == ("failed", 2)
    assert run.error == "RuntimeError: attempt 2 fails on purpose"
    assert "Traceback" in run.traceback
    assert Job.fetch(run.dispatch_id, connection=connection).get_status() == "failed"


def test_an_attempt_past_the_job_timeout_fails(runner, connection, tmp_path):
    run_id = runner.enqueue("test.too_slow", {"marker": str(tmp_path / "m"), "seconds": 5}, requested_by=CLI)

    work_until(connection, finished(runner, run_id))

    run = run_of(runner, run_id)
    assert run.status == "failed"
    assert "JobTimeoutException" in run.error


def test_runs_whose_jobs_redis_lost_are_queued_again(env, private_redis):
    connection = Redis.from_url(private_redis.url)
    runner = RQRunner(env, connection=connection)
    run_id = runner.enqueue("test.add", {"a": 3, "b": 4}, requested_by=CLI)
    private_redis.stop()
    private_redis.start()  # no persistence: the queued job is gone

    assert runner.recover(settle=timedelta(0)) == 1
    work_until(connection, finished(runner, run_id))

    assert (run_of(runner, run_id).status, run_of(runner, run_id).result) == ("finished", {"sum": 7})


def test_enqueue_while_redis_is_down_raises_and_records_nothing(env, private_redis, database):
    runner = RQRunner(env, connection=Redis.from_url(private_redis.url))
    private_redis.stop()

    with pytest.raises(QueueUnavailable, match="not reachable"):
        runner.enqueue("test.add", {"a": 1, "b": 2}, requested_by=CLI)

    with database.session(write=False) as session:
        assert session.scalar(select(func.count()).select_from(JobRun)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


# --- the API while Redis goes away and comes back ------------------------------------


@pytest.fixture
def private_app(settings, database, plugins, private_redis):
    from kpi_core.web.app import create_app

    own = Settings.from_env({}, **{**settings.__dict__, "redis_url": private_redis.url})
    return create_app(own, database=database, plugins=plugins)


def test_the_api_answers_503_while_redis_is_down_and_works_once_it_is_back(
    private_app, private_redis, env, database, make_user
):
    client = private_app.test_client()
    make_user("admin", username="admin")
    token = client.post("/api/v1/auth/login", json={"username": "admin", "password": "correct-horse-staple-42"})
    headers = {"Authorization": f"Bearer {token.json['access_token']}"}
    body = {"job_key": "test.add", "params": {"a": 5, "b": 5}}
    private_redis.stop()

    down = client.post("/api/v1/job-runs", json=body, headers=headers)

    assert down.status_code == 503
    assert down.headers["Retry-After"] == "30"
    assert "not reachable" in down.json["message"]
    with database.session(write=False) as session:
        assert session.scalar(select(func.count()).select_from(JobRun)) == 0
    private_redis.start()
    up = client.post("/api/v1/job-runs", json=body, headers=headers)
    assert up.status_code == 202
    connection = Redis.from_url(private_redis.url)
    runner = private_app.extensions["kpi_core.jobs.runner"]
    work_until(connection, finished(runner, up.json["id"]))
    assert run_of(runner, up.json["id"]).result == {"sum": 10}


# --- worker processes that die ----------------------------------------------------------


def child_pids(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


@pytest.fixture
def start_worker(settings, tmp_path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    environ = {name: value for name, value in os.environ.items() if not name.startswith("KPI_")}
    environ.update(
        KPI_DATA_DIR=str(settings.data_dir), KPI_DATABASE_URL=settings.database_url, KPI_REDIS_URL=settings.redis_url
    )

    def start(maintenance_interval: int = 60) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"worker{len(started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, __file__, str(maintenance_interval)],
            env=environ,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        return process

    yield start
    # Every worker and its horses stopped, whatever ends first: a worker left running would take the
    # next test's jobs from the shared Redis and run them against this test's database.
    for process in started:
        if process.poll() is None:
            for child in child_pids(process.pid):
                with contextlib.suppress(ProcessLookupError):  # ended between the listing and the kill
                    os.kill(child, signal.SIGKILL)
            process.kill()
            process.wait()


def horse_pids(worker_pid: int) -> list[int]:
    """The worker's work horses: RQ starts each in a process group of its own (its scheduler it does not)."""
    return [pid for pid in child_pids(worker_pid) if os.getpgid(pid) == pid]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.slow
def test_a_worker_killed_mid_job_leads_to_a_retry_and_exactly_one_finished_run(runner, start_worker, tmp_path):
    marker = tmp_path / "marker"
    run_id = runner.enqueue("test.sleepy", {"marker": str(marker), "seconds": 4}, requested_by=CLI)
    first = start_worker()
    wait_until(lambda: "start 1" in lines(marker), 60, "the first attempt to start")

    # The whole worker dies at once, as with a lost machine: the worker, its work horse and its scheduler.
    children = child_pids(first.pid)
    first.kill()
    for child in children:
        os.kill(child, signal.SIGKILL)
    first.wait()
    assert run_of(runner, run_id).status == "running"
    start_worker(maintenance_interval=5)  # its clean-up finds the dead worker's job once its heartbeat expires

    wait_until(finished(runner, run_id), 180, "the run to finish on the second worker")
    time.sleep(3)  # nothing runs it again

    run = run_of(runner, run_id)
    assert (run.status, run.attempts, run.result) == ("finished", 2, {"slept": 4})
    assert lines(marker) == ["start 1", "start 2", "done 2"]


def test_a_killed_work_horse_is_recorded_and_its_job_retried(env, connection, start_worker, tmp_path):
    runner = RQRunner(env, connection=connection, retry_base_seconds=3)  # time to see the run queued again
    marker = tmp_path / "marker"
    run_id = runner.enqueue("test.sleepy", {"marker": str(marker), "seconds": 2}, requested_by=CLI)
    worker = start_worker()
    wait_until(lambda: "start 1" in lines(marker), 60, "the first attempt to start")

    for horse in horse_pids(worker.pid):
        os.kill(horse, signal.SIGKILL)  # out of memory, say: the worker itself lives on
    wait_until(lambda: run_of(runner, run_id).status == "queued", 30, "the lost attempt to be recorded")
    lost = run_of(runner, run_id)
    assert (lost.attempts, lost.next_attempt_at is not None) == (1, True)
    assert "killed by signal 9" in lost.error

    wait_until(finished(runner, run_id), 60, "the retry to finish")
    run = run_of(runner, run_id)
    assert (run.status, run.attempts) == ("finished", 2)
    assert lines(marker) == ["start 1", "start 2", "done 2"]


# --- the command ------------------------------------------------------------------------


def test_kpi_worker_runs_queued_jobs(runner, settings):
    run_id = runner.enqueue("core.refresh_statistics", requested_by=CLI)
    environ = {name: value for name, value in os.environ.items() if not name.startswith("KPI_")}
    environ.update(
        KPI_DATA_DIR=str(settings.data_dir), KPI_DATABASE_URL=settings.database_url, KPI_REDIS_URL=settings.redis_url
    )

    result = subprocess.run(
        [str(Path(sys.executable).with_name("kpi")), "worker", "--burst"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    run = run_of(runner, run_id)
    assert (run.status, run.result["database"]) == ("finished", "sqlite")


def test_kpi_worker_without_redis_says_why_in_one_line(tmp_path, monkeypatch):
    for name in [name for name in os.environ if name.startswith("KPI_")]:
        monkeypatch.delenv(name)

    result = CliRunner().invoke(cli, ["worker"], env={"KPI_DATA_DIR": str(tmp_path)}, prog_name="kpi")

    assert result.exit_code == 1
    assert "KPI_REDIS_URL is not set" in result.output
    assert "Traceback" not in result.output
