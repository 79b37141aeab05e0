"""The RQ runner: runs are pushed to a Redis queue and performed by `kpi worker` processes.

Each run is one RQ job whose id is the run's ``dispatch_id``, with the
JobSpec's timeout and ``Retry(max=retries, interval=back-off)``. RQ moves
the job of a worker that died (SIGKILL, lost machine) out of its started
registry once the worker's heartbeat expires, and retries it while retries
are left; our failure callbacks record the lost attempt meanwhile. If Redis
itself loses queued jobs (a restart without persistence), :meth:`RQRunner.recover`
pushes those runs again, so a run accepted by the API is not lost.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Callback, Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select
from sqlalchemy.orm import Session

from kpi_core.declarations import JobSpec
from kpi_core.jobs.errors import QueueUnavailable
from kpi_core.jobs.execute import JobEnvironment
from kpi_core.jobs.runner import Runner
from kpi_core.jobs.runs import ACTIVE, record_failure, redispatch
from kpi_core.logs import current_origin
from kpi_core.storage.models import JobRun
from kpi_core.storage.types import utcnow

log = logging.getLogger(__name__)

QUEUE_NAME = "kpi"
PERFORM = "kpi_core.jobs.worker.perform_run"
ON_FAILURE = "kpi_core.jobs.worker.on_job_failure"
RESULT_TTL = 3600  # the result lives in job_runs; RQ's copy only helps someone looking at the queue
FAILURE_TTL = 7 * 24 * 3600
SETTLE = timedelta(seconds=60)
"""A run younger than this may still be between its queue push and its commit: recover() leaves it alone."""
HORSE_GRACE = timedelta(seconds=120)
"""RQ kills a work horse 60 s after its timeout; a running attempt older than timeout + this is surely dead."""


def redis_connection(url: str) -> Redis:
    """A client that fails fast when Redis is down, instead of hanging the request that enqueues."""
    return Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)


def describe_redis(connection: Redis) -> str:
    kwargs = connection.connection_pool.connection_kwargs
    return f"{kwargs.get('host', kwargs.get('path', '?'))}:{kwargs.get('port', '')}".rstrip(":")


class RQRunner(Runner):
    """Pushes runs to the RQ queue ``kpi`` on ``KPI_REDIS_URL``."""

    backend = "rq"

    def __init__(self, env: JobEnvironment, *, connection: Redis | None = None, **options: Any) -> None:
        super().__init__(env, **options)
        self.connection = connection or redis_connection(env.settings.redis_url)
        self.queue = Queue(QUEUE_NAME, connection=self.connection)

    def dispatch(self, session: Session, run: JobRun, spec: JobSpec) -> None:
        # Pushed before the caller commits: if Redis refuses, the row rolls back with the request.
        self.push(run.id, run.dispatch_id, spec)

    def push(self, run_id: int, dispatch_id: str, spec: JobSpec) -> None:
        retry = Retry(max=spec.retries, interval=self.retry_intervals(spec)) if spec.retries else None
        try:
            self.queue.enqueue(
                PERFORM,
                run_id,
                dispatch_id,
                job_id=dispatch_id,
                job_timeout=spec.timeout,
                retry=retry,
                result_ttl=RESULT_TTL,
                failure_ttl=FAILURE_TTL,
                on_failure=Callback(ON_FAILURE),
                description=f"{spec.key} (run {run_id})",
                # The enqueuing request's id and user, so the worker's log records of this run carry them.
                meta=current_origin(),
            )
        except RedisError as exc:
            raise QueueUnavailable(
                f"the job queue (Redis at {describe_redis(self.connection)}) is not reachable: {exc}. "
                "Nothing was queued; try again shortly."
            ) from None

    def recover(self, settle: timedelta = SETTLE) -> int:
        """Push again the runs whose RQ job Redis no longer has; record runs RQ failed unseen."""
        now = utcnow()
        with self.env.database.session(write=False) as session:
            runs = session.scalars(
                select(JobRun).where(
                    JobRun.backend == self.backend, JobRun.status.in_(ACTIVE), JobRun.created_at < now - settle
                )
            ).all()
        recovered = 0
        for run in runs:
            try:
                job: Job | None = Job.fetch(run.dispatch_id, connection=self.connection)
            except NoSuchJobError:
                job = None
            except RedisError as exc:
                raise QueueUnavailable(f"the job queue is not reachable: {exc}") from None
            if job is None:
                recovered += self._push_again(run)
            elif job.get_status() == JobStatus.FAILED:
                # RQ gave up, but the worker could not record it (the database was unreachable, say).
                record_failure(
                    self.env.database,
                    run.id,
                    None,
                    error="failed in the job queue: " + _last_line(job),
                    traceback=None,
                    retry_at=None,
                    statuses=ACTIVE,
                )
        return recovered

    def _push_again(self, run: JobRun) -> int:
        spec = self.jobs.get(run.job_key)
        if run.status == "running":
            timeout = spec.timeout if spec else 0
            if run.started_at and utcnow() - run.started_at < timedelta(seconds=timeout) + HORSE_GRACE:
                return 0  # its worker may still be on it; RQ's clean-up or a later pass decides
        with self.env.database.session() as session:
            row = session.get(JobRun, run.id)
            if row is None or row.status not in ACTIVE or row.dispatch_id != run.dispatch_id:
                return 0
            if spec is None:
                row.status, row.error, row.finished_at = "failed", f"job {run.job_key!r} is not declared", utcnow()
                return 0
            row.status = "queued"
            log.warning("run %s: its queue message was lost (Redis restarted?); queueing it again", run.id)
            self.push(row.id, redispatch(session, row), spec)
        return 1


def _last_line(job: Job) -> str:
    result = job.latest_result()
    text = (result.exc_string if result is not None else None) or "no reason recorded"
    return text.strip().splitlines()[-1]
