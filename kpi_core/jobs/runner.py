"""The one job API: ``enqueue(job_key, params, requested_by=...) -> run_id`` and ``get_run(run_id)``.

Two runners implement it: :class:`~kpi_core.jobs.rq_runner.RQRunner` when
``KPI_REDIS_URL`` is set, else :class:`~kpi_core.jobs.inprocess.InProcessRunner`.
Jobs are the ``JobSpec`` declarations from the ``kpi_jobs`` hook; a report
is just another job. Every run is a ``job_runs`` row created in the
caller's transaction, and it commits only if the queue took the job.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from kpi_core.audit.trail import Actor, record
from kpi_core.declarations import JobSpec
from kpi_core.errors import Invalid
from kpi_core.jobs.execute import JobEnvironment
from kpi_core.jobs.runs import create_run, get_run
from kpi_core.storage.models import JobRun

RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 3600


def backoff(retries: int, base: int = RETRY_BASE_SECONDS) -> list[int]:
    """Seconds before each retry, doubling from ``base`` up to an hour: 30, 60, 120, ..."""
    return [min(base * 2**number, RETRY_MAX_SECONDS) for number in range(retries)]


def check_params(spec: JobSpec, params: Any) -> dict[str, Any]:
    """The params as a JSON object that ``spec.run(context, **params)`` accepts, else 422 naming ``params``."""
    if not isinstance(params, Mapping):
        raise Invalid("params", "must be a JSON object")
    try:
        json.dumps(params)
    except (TypeError, ValueError) as exc:
        raise Invalid("params", f"must be JSON data: {exc}") from None
    try:
        signature = inspect.signature(spec.run)
    except (TypeError, ValueError):  # a callable Python cannot introspect: let it decide at run time
        return dict(params)
    try:
        signature.bind(None, **params)
    except TypeError as exc:
        raise Invalid("params", f"job {spec.key!r} does not take these parameters: {exc}") from None
    return dict(params)


class Runner(ABC):
    """Enqueues declared jobs and reads their runs; subclasses hand runs to a queue."""

    backend: ClassVar[str]

    def __init__(self, env: JobEnvironment, *, retry_base_seconds: int = RETRY_BASE_SECONDS) -> None:
        self.env = env
        self.retry_base_seconds = retry_base_seconds

    @property
    def jobs(self) -> dict[str, JobSpec]:
        """The declared jobs by key (from every plugin's ``kpi_jobs``)."""
        return self.env.plugins.jobs

    def spec(self, job_key: str) -> JobSpec:
        """The declaration of ``job_key``, or 422 naming ``job_key``."""
        spec = self.jobs.get(job_key)
        if spec is None:
            known = ", ".join(sorted(self.jobs)) or "none"
            raise Invalid("job_key", f"no job is declared with the key {job_key!r} (declared: {known})")
        return spec

    def retry_intervals(self, spec: JobSpec) -> list[int]:
        return backoff(spec.retries, self.retry_base_seconds)

    def enqueue(
        self,
        job_key: str,
        params: Mapping[str, Any] | None = None,
        *,
        requested_by: Actor,
        session: Session | None = None,
        schedule_id: int | None = None,
        upload: Mapping[str, Any] | None = None,
    ) -> int:
        """Queue a run of ``job_key`` and return its id.

        ``upload`` describes the file kept for a job that takes one
        (:func:`kpi_core.jobs.uploads.keep`); such a job needs it, any other
        job refuses it.

        Given ``session``, the run is added to the caller's transaction and
        exists once the caller commits; otherwise it is committed here.
        Raises :class:`~kpi_core.errors.Invalid` (unknown key, bad params) or
        :class:`~kpi_core.jobs.errors.QueueUnavailable` (nothing recorded).
        """
        spec = self.spec(job_key)
        checked = check_params(spec, params or {})
        if spec.takes_file and not upload:
            raise Invalid("file", f"job {spec.key!r} takes a file: upload it in the multipart field 'file'")
        if upload and not spec.takes_file:
            raise Invalid("file", f"job {spec.key!r} takes no file")
        if session is not None:
            return self._enqueue(session, spec, checked, requested_by, schedule_id, upload)
        with self.env.database.session() as own:
            return self._enqueue(own, spec, checked, requested_by, schedule_id, upload)

    def _enqueue(
        self,
        session: Session,
        spec: JobSpec,
        params: dict[str, Any],
        requested_by: Actor,
        schedule_id: int | None,
        upload: Mapping[str, Any] | None = None,
    ) -> int:
        run = create_run(
            session,
            job_key=spec.key,
            params=params,
            max_attempts=spec.retries + 1,
            backend=self.backend,
            requested_by=requested_by,
            schedule_id=schedule_id,
            upload=upload,
        )
        after = {"job_key": spec.key, "params": params, "schedule_id": schedule_id, "backend": self.backend}
        if upload:
            after["upload"] = {"name": upload["name"], "size": upload["size"]}
        record(session, requested_by, "create", "job_run", run.id, after=after)
        # Last, so a queue that refuses the job (QueueUnavailable) rolls the row and its audit entry back.
        self.dispatch(session, run, spec)
        return run.id

    def get_run(self, run_id: int) -> JobRun:
        """The run with its status, progress, result or error (404 if there is none)."""
        with self.env.database.session(write=False) as session:
            return get_run(session, run_id)

    @abstractmethod
    def dispatch(self, session: Session, run: JobRun, spec: JobSpec) -> None:
        """Hand the new run to the queue (RQ: now; in-process: once ``session`` commits)."""

    def recover(self) -> int:
        """Hand runs whose queue message was lost back to the queue; returns how many."""
        return 0

    def shutdown(self, wait: bool = True) -> None:  # noqa: B027 - optional: only some runners own threads
        """Stop taking work; ``wait`` for running attempts to end."""


def make_runner(env: JobEnvironment, **options: Any) -> Runner:
    """RQ when ``KPI_REDIS_URL`` is set, else the in-process runner (``kpi demo`` needs no server)."""
    if env.settings.redis_url:
        from kpi_core.jobs.rq_runner import RQRunner

        return RQRunner(env, **options)
    from kpi_core.jobs.inprocess import InProcessRunner

    return InProcessRunner(env, **options)
