"""One attempt of a run, the same for the RQ worker and the in-process runner.

The runner hands over ``(run_id, dispatch_id)``; this claims the next
attempt in the database, runs the declared job with a :class:`JobContext`,
and records the JSON result or the error with its traceback. Whether a
failed attempt is retried, and when, is the runner's ``retry_policy``.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from kpi_core.audit.trail import json_safe
from kpi_core.config import Settings
from kpi_core.declarations import JobSpec
from kpi_core.jobs.context import JobContext
from kpi_core.jobs.runs import (
    Attempt,
    record_failure,
    record_progress,
    record_success,
    run_exists,
    start_attempt,
)
from kpi_core.jobs.uploads import uploaded_file
from kpi_core.plugins import PluginHost
from kpi_core.records.plugin_settings import values_by_plugin
from kpi_core.storage.db import Database
from kpi_core.storage.types import utcnow

log = logging.getLogger(__name__)

ROW_WAIT_SECONDS = 30.0
"""How long a dispatched run may wait for its row: the enqueuer commits it only after the queue took the job."""

RetryPolicy = Callable[[Attempt], float | None]
"""Seconds until the next attempt after ``attempt`` failed, or None when it was the last."""

Watch = Callable[[Attempt, JobSpec], Callable[[], None]]
"""Started when an attempt starts; returns the function that stops it when the attempt ends."""


@dataclass
class JobEnvironment:
    """What a process needs to run jobs: loaded once per worker process, shared by its attempts."""

    settings: Settings
    database: Database
    plugins: PluginHost


@dataclass
class Outcome:
    """What became of one attempt. ``skipped``: nothing ran, or a newer attempt owns the run."""

    status: Literal["finished", "failed", "retrying", "skipped"]
    attempt: Attempt | None = None
    exception: Exception | None = None
    retry_in: float | None = None


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def json_result(value: Any) -> Any:
    """The job's return value as JSON data; anything JSON cannot carry is a failure of the job."""
    try:
        return json.loads(json.dumps(json_safe(value)))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"the job returned a value that is not JSON: {exc}") from None


class _Progress:
    """Writes progress only when it changes, each write guarded by the attempt."""

    def __init__(self, database: Database, attempt: Attempt) -> None:
        self.database = database
        self.attempt = attempt
        self.last: tuple[int, str] | None = None

    def __call__(self, percent: int, message: str) -> None:
        if (percent, message) != self.last:
            self.last = (percent, message)
            record_progress(self.database, self.attempt, percent, message)


def claim(database: Database, run_id: int, dispatch_id: str, *, worker: str, allow_running: bool) -> Attempt | None:
    """Start the next attempt, waiting a little for a row whose transaction has not committed yet."""
    deadline = time.monotonic() + ROW_WAIT_SECONDS
    while True:
        # Whether the row exists is asked *before* trying to start it: asked after, the enqueuer could
        # commit in between, and a run whose row was simply not visible yet would be dropped as stale.
        committed = run_exists(database, run_id)
        attempt = start_attempt(database, run_id, dispatch_id, worker=worker, allow_running=allow_running)
        if attempt is not None:
            return attempt
        if committed:
            log.info("run %s: dispatch %s is stale or the run is done; nothing to do", run_id, dispatch_id)
            return None
        if time.monotonic() > deadline:
            log.warning("run %s was never committed (its request failed); dropping its dispatch", run_id)
            return None
        time.sleep(0.1)


def execute(
    env: JobEnvironment,
    run_id: int,
    dispatch_id: str,
    *,
    worker: str,
    retry_policy: RetryPolicy,
    allow_running: bool = False,
    watch: Watch | None = None,
) -> Outcome:
    """Run the next attempt of a run and record how it ended."""
    attempt = claim(env.database, run_id, dispatch_id, worker=worker, allow_running=allow_running)
    if attempt is None:
        return Outcome("skipped")
    spec: JobSpec | None = env.plugins.jobs.get(attempt.job_key)
    if spec is None:
        # Retrying cannot help: the plugin that declared it is gone or disabled.
        error = f"no loaded plugin declares the job {attempt.job_key!r}"
        record_failure(env.database, run_id, attempt.number, error=error, traceback=None, retry_at=None)
        return Outcome("failed", attempt)
    context = JobContext(
        engine=env.database.engine,
        settings=env.settings,
        plugin_settings=_plugin_settings(env, attempt.job_key),
        plugins=env.plugins,
        on_progress=_Progress(env.database, attempt),
        run_id=run_id,
        attempt=attempt.number,
        file=uploaded_file(env.settings, attempt.upload),
    )
    stop_watch = watch(attempt, spec) if watch is not None else None
    try:
        result = json_result(spec.run(context, **attempt.params))
    except Exception as exc:
        return _failed(env, attempt, exc, traceback.format_exc(), retry_policy)
    finally:
        if stop_watch is not None:
            stop_watch()
    if record_success(env.database, attempt, result):
        return Outcome("finished", attempt)
    log.warning("run %s: attempt %s finished after it was given up on; result ignored", run_id, attempt.number)
    return Outcome("skipped", attempt)


def _failed(env: JobEnvironment, attempt: Attempt, exc: Exception, trace: str, retry_policy: RetryPolicy) -> Outcome:
    delay = retry_policy(attempt)
    retry_at = None if delay is None else utcnow() + timedelta(seconds=delay)
    recorded = record_failure(
        env.database, attempt.run_id, attempt.number, error=describe(exc), traceback=trace, retry_at=retry_at
    )
    if not recorded:
        return Outcome("skipped", attempt)
    log.warning("run %s attempt %s failed (%s)%s", attempt.run_id, attempt.number, describe(exc), _then(delay))
    return Outcome("failed" if delay is None else "retrying", attempt, exc, delay)


def _then(delay: float | None) -> str:
    return "; no attempts left" if delay is None else f"; retrying in {delay:g} s"


def _plugin_settings(env: JobEnvironment, job_key: str) -> dict[str, Any]:
    """The settings in force of the plugin that declares the job, by name without namespace."""
    with env.database.session(write=False) as session:
        by_plugin = values_by_plugin(session, env.plugins)
    return by_plugin.get(env.plugins.owner_of("kpi_jobs", job_key), {})
