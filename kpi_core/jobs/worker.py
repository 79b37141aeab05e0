"""The RQ side: what `kpi worker` runs, and the function each RQ job calls.

The worker process loads Settings, the Database and the PluginHost once
(:func:`install_environment`); RQ forks a work horse per job, which
inherits them and only drops the parent's pooled database connections.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import redis
from rq import Worker, get_current_job
from rq.exceptions import AbandonedJobError
from rq.job import Job

from kpi_core.config import Settings
from kpi_core.jobs.execute import JobEnvironment, describe, execute
from kpi_core.jobs.inprocess import worker_name
from kpi_core.jobs.runs import Attempt, record_failure
from kpi_core.logs import bind
from kpi_core.plugins import load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.types import utcnow

log = logging.getLogger(__name__)

_environment: JobEnvironment | None = None
_environment_pid: int | None = None


def install_environment(env: JobEnvironment) -> None:
    """Make ``env`` the environment of this process's jobs (and of the work horses it forks)."""
    global _environment, _environment_pid
    _environment, _environment_pid = env, os.getpid()


def load_environment(settings: Settings, extra_plugins: Sequence[tuple[str, Any]] = ()) -> JobEnvironment:
    """Settings, database and plugins (``extra_plugins`` as for :func:`~kpi_core.plugins.load_plugins`)."""
    return JobEnvironment(settings, Database(settings.effective_database_url), load_plugins(settings, extra_plugins))


def environment() -> JobEnvironment:
    """This process's environment, loaded from ``KPI_*`` on first use (e.g. under plain `rq worker`)."""
    global _environment_pid
    if _environment is None:
        install_environment(load_environment(Settings.from_env()))
    elif _environment_pid != os.getpid():
        # A forked work horse: pooled connections belong to the parent; close=False leaves them to it.
        _environment.database.engine.dispose(close=False)
        _environment_pid = os.getpid()
    assert _environment is not None
    return _environment


def perform_run(run_id: int, dispatch_id: str) -> int:
    """The RQ job: run the next attempt. A failure is re-raised so RQ applies the job's Retry."""
    job = get_current_job()

    def retry_in(_attempt: Attempt) -> float | None:
        return float(job.get_retry_interval()) if job is not None and job.retries_left else None

    origin = job.meta if job is not None else {}
    # The records of this attempt carry the id of the request that enqueued it (see kpi_core.logs).
    with bind(request_id=origin.get("request_id"), user=origin.get("user")):
        log.info("run %s: attempt starting", run_id, extra={"run_id": run_id})
        outcome = execute(
            environment(), run_id, dispatch_id, worker=worker_name("rq"), retry_policy=retry_in, allow_running=True
        )
        log.info("run %s: attempt %s", run_id, outcome.status, extra={"run_id": run_id})
    if outcome.exception is not None:
        raise outcome.exception
    return run_id


def _record_lost(job: Job, reason: str) -> None:
    """An attempt ended without reporting (worker killed, horse killed, abandoned): say so on its run."""
    run_id = job.args[0] if job.args else None
    if not isinstance(run_id, int):
        return
    retry_at = None
    if job.retries_left:
        retry_at = utcnow() + timedelta(seconds=job.get_retry_interval())
    # Guarded on status "running": when perform_run recorded the failure itself, this changes nothing.
    record_failure(environment().database, run_id, None, error=reason, traceback=None, retry_at=retry_at)


def on_job_failure(job: Job, connection: Any, exc_type: type, exc_value: BaseException, tb: Any) -> None:
    """RQ's failure callback; RQ's registry clean-up calls it for the jobs of a dead worker too."""
    if isinstance(exc_value, AbandonedJobError) or exc_type is AbandonedJobError:
        reason = "the worker running it stopped (killed or lost) before it finished"
    else:
        reason = describe(exc_value)
    _record_lost(job, reason)


def on_horse_killed(job: Job, retpid: int, ret_val: int, rusage: Any) -> None:
    """The work horse died under a living worker (out of memory, killed, timeout + 60 s)."""
    signal = f" by signal {os.WTERMSIG(ret_val)}" if ret_val and os.WIFSIGNALED(ret_val) else ""
    _record_lost(job, f"the process running it was killed{signal} before it finished")


REDIS_WAIT_SECONDS = 1.0


class RedisTolerantWorker(Worker):
    """An RQ worker that outlives a Redis restart in the middle of a job.

    RQ's worker quits on any error outside its wait for the next job; a Redis restart while a job
    runs (its heartbeat, its result) stopped the worker for good unless a supervisor started it
    again. This one lets the work horse finish (the run's outcome is in the database), waits for
    Redis to answer, and goes back to the queue; RQ's registry clean-up then retries the job if its
    run did not finish (at least once, as for a killed worker).
    """

    def execute_job(self, job: Job, queue: Any) -> None:
        try:
            super().execute_job(job, queue)
        except redis.exceptions.ConnectionError as error:
            log.warning("worker %s lost Redis while job %s ran (%s); waiting for it", self.name, job.id, error)
            if self.horse_pid:
                self.wait_for_horse()
                self._horse_pid = 0
            self._wait_for_redis()

    def _wait_for_redis(self) -> None:
        while not self._stop_requested:
            try:
                self.connection.ping()
            except redis.exceptions.ConnectionError:
                time.sleep(REDIS_WAIT_SECONDS)
            else:
                log.warning("worker %s reached Redis again", self.name)
                return


def run_worker(
    settings: Settings,
    *,
    burst: bool = False,
    name: str | None = None,
    maintenance_interval: int = 60,
    extra_plugins: Sequence[tuple[str, Any]] = (),
) -> bool:
    """Work the ``kpi`` queue until stopped (or, with ``burst``, until it is empty).

    The scheduler is always on: RQ schedules retries with a back-off
    interval and only a worker ``with_scheduler`` moves them back to the queue.
    A short ``maintenance_interval`` finds the jobs of dead workers sooner.
    """
    from kpi_core.jobs.rq_runner import QUEUE_NAME, RQRunner, redis_connection

    env = load_environment(settings, extra_plugins)
    install_environment(env)
    connection = redis_connection(settings.redis_url)
    recovered = RQRunner(env, connection=connection).recover()
    if recovered:
        log.warning("queued %d runs again that the queue had lost", recovered)
    env.database.engine.dispose()  # nothing pooled for the forked horses to inherit
    worker = RedisTolerantWorker(
        [QUEUE_NAME],
        connection=connection,
        name=name,
        maintenance_interval=maintenance_interval,
        # An idle worker blocks on the queue for worker_ttl - 15 s and cleans up only between waits:
        # without this, RQ's 420 s default would find a dead worker's job minutes late.
        worker_ttl=maintenance_interval + 15,
        work_horse_killed_handler=on_horse_killed,
    )
    return worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level.upper())
