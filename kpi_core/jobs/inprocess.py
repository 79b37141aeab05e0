"""The in-process runner: the same job API on a thread pool, so `kpi demo` needs no Redis.

Runs are rows in ``job_runs`` exactly as with RQ. A run is submitted to the
pool only once the transaction that created it commits; retries wait on a
timer with the same back-off; a timed-out attempt is recorded as failed (a
Python thread cannot be interrupted, so its eventual result is ignored).
Runs left queued or running by a process that died are picked up by
:meth:`InProcessRunner.recover`. It suits one process; with several app
instances, configure Redis.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kpi_core.declarations import JobSpec
from kpi_core.jobs.execute import JobEnvironment, execute
from kpi_core.jobs.runner import Runner, backoff
from kpi_core.jobs.runs import ACTIVE, Attempt, record_failure
from kpi_core.logs import bind, current_origin
from kpi_core.storage.commits import call_after_commit
from kpi_core.storage.models import JobRun
from kpi_core.storage.types import utcnow

log = logging.getLogger(__name__)


def worker_name(label: str) -> str:
    """``host:pid:label``: where an attempt runs, so a later process can tell if that one is gone."""
    return f"{socket.gethostname()}:{os.getpid()}:{label}"


def _died_here(worker: str | None) -> bool:
    """True only for a worker of this host whose process no longer exists."""
    host, _, rest = (worker or "").partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class InProcessRunner(Runner):
    """Runs jobs on a pool of background threads of this process."""

    backend = "inprocess"

    def __init__(self, env: JobEnvironment, *, workers: int = 2, **options: Any) -> None:
        super().__init__(env, **options)
        self.name = worker_name(self.backend)
        self.started_at = utcnow()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kpi-job")
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._recovered = False

    def dispatch(self, session: Session, run: JobRun, spec: JobSpec) -> None:
        run_id, dispatch_id = run.id, run.dispatch_id
        call_after_commit(session, lambda: self.submit(run_id, dispatch_id))

    def submit(self, run_id: int, dispatch_id: str) -> None:
        """Run the next attempt of a committed run on the pool."""
        origin = current_origin()  # the enqueuing request's id and user, for the attempt's log records
        with self._lock:
            if self._closed:
                return  # stays queued in the database; recover() of the next process picks it up
            self._pool.submit(self._attempt, run_id, dispatch_id, origin)

    def _attempt(self, run_id: int, dispatch_id: str, origin: dict[str, str | None] | None = None) -> None:
        try:
            with bind(**(origin or {})):
                outcome = execute(
                    self.env,
                    run_id,
                    dispatch_id,
                    worker=self.name,
                    retry_policy=self._retry_in,
                    watch=lambda attempt, spec: self._watch(attempt, spec, dispatch_id),
                )
        except Exception:
            log.exception("run %s: its outcome could not be recorded", run_id)
            return
        if outcome.status == "retrying" and outcome.retry_in is not None:
            self._later(outcome.retry_in, run_id, dispatch_id)

    def _retry_in(self, attempt: Attempt) -> float | None:
        if attempt.number >= attempt.max_attempts:
            return None
        return backoff(attempt.max_attempts - 1, self.retry_base_seconds)[attempt.number - 1]

    def _watch(self, attempt: Attempt, spec: JobSpec, dispatch_id: str) -> Callable[[], None]:
        timer = threading.Timer(spec.timeout, self._timed_out, (attempt, spec, dispatch_id))
        timer.daemon = True
        timer.start()
        return timer.cancel

    def _timed_out(self, attempt: Attempt, spec: JobSpec, dispatch_id: str) -> None:
        delay = self._retry_in(attempt)
        retry_at = None if delay is None else utcnow() + timedelta(seconds=delay)
        error = f"JobTimeout: did not finish within {spec.timeout} s"
        recorded = record_failure(
            self.env.database, attempt.run_id, attempt.number, error=error, traceback=None, retry_at=retry_at
        )
        if recorded and delay is not None:
            self._later(delay, attempt.run_id, dispatch_id)

    def _later(self, delay: float, run_id: int, dispatch_id: str) -> None:
        def fire() -> None:
            with self._lock:
                self._timers.discard(timer)
            self.submit(run_id, dispatch_id)

        timer = threading.Timer(max(0.0, delay), fire)
        timer.daemon = True
        with self._lock:
            if self._closed:
                return
            self._timers.add(timer)
        timer.start()

    def recover(self) -> int:
        """Resubmit runs that an earlier, stopped process of this host left queued or running."""
        if self._recovered:
            return 0  # once per process: later runs are this runner's own, already in hand
        self._recovered = True
        with self.env.database.session(write=False) as session:
            runs = session.scalars(
                select(JobRun).where(
                    JobRun.backend == self.backend,
                    JobRun.status.in_(ACTIVE),
                    JobRun.created_at < self.started_at,
                )
            ).all()
        recovered = 0
        for run in runs:
            if run.status == "running":
                if not _died_here(run.worker):
                    continue
                attempt = Attempt(run.id, run.attempts, run.max_attempts, run.job_key, dict(run.params or {}))
                delay = self._retry_in(attempt)
                error = "the process running it stopped before it finished"
                retry_at = None if delay is None else utcnow()
                if not record_failure(
                    self.env.database, run.id, run.attempts, error=error, traceback=None, retry_at=retry_at
                ):
                    continue
                if delay is None:
                    continue
            due = run.next_attempt_at if run.status == "queued" else None
            wait = (due - utcnow()).total_seconds() if due is not None else 0.0
            self._later(wait, run.id, run.dispatch_id)
            recovered += 1
        return recovered

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            self._closed = True
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
        # Waiting means the runs already handed to the pool finish, even those no thread has taken yet
        # (`kpi scheduler --once` and `kpi import` end right after submitting theirs); without waiting,
        # they stay queued in the database for the next process's recover().
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
