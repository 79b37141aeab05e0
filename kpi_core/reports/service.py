"""Report runs: request one (API and schedules alike), read its state, fetch its file, delete it.

A report run is a ``report_runs`` row plus the ``core.report`` job run that
renders it (``job_run_id``). **The job run is the one source of a report's
state**: status, progress, message, error, traceback, started_at and
finished_at are read from the linked ``job_runs`` row, which the runner
already keeps right through retries, timeouts and lost workers. The
``report_runs`` row holds what is the report's own: who asked, the spec,
the file's name, media type and size (``report_files`` holds the bytes);
the job writes its ``status``/``finished_at`` columns only together with
the file, so a row whose job run is gone still says whether it has a file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from kpi_core.accounts.permissions import Principal
from kpi_core.accounts.scope import UNSCOPED, Scope
from kpi_core.audit.trail import Actor, record
from kpi_core.config import Settings
from kpi_core.errors import Invalid, NotFound
from kpi_core.jobs.runner import Runner
from kpi_core.jobs.schedules import REPORT_JOB_KEY
from kpi_core.plugins import PluginHost
from kpi_core.reports.coverage import COMPANY, describe_coverage
from kpi_core.reports.spec import DEFAULT_TITLE, TITLE_LENGTH, ReportSpec, parse_spec
from kpi_core.storage.models import JobRun, ReportFile, ReportRun, Team, Technician
from kpi_core.storage.types import utcnow

ENTITY = "report_run"
SCHEDULE_PREFIX = "report_spec"
"""Errors in a schedule's spec name ``report_spec.<field>``."""


@dataclass(frozen=True)
class ReportState:
    """A report run as the API answers it: its own row plus its job run's state."""

    run: ReportRun
    job: JobRun | None
    now: datetime

    def __getattr__(self, name: str) -> Any:
        # The run's own columns (id, title, spec, file_name, ...); never dunders, which copy/pickle probe.
        if name.startswith("__") or name == "run":
            raise AttributeError(name)
        return getattr(self.run, name)

    @property
    def status(self) -> str:
        return self.job.status if self.job is not None else self.run.status

    @property
    def progress(self) -> int:
        if self.job is None:
            return 100 if self.run.status == "finished" else self.run.progress
        return self.job.progress

    @property
    def message(self) -> str | None:
        return self.job.message if self.job is not None else None

    @property
    def error(self) -> str | None:
        return self.job.error if self.job is not None else self.run.error

    @property
    def traceback(self) -> str | None:
        return self.job.traceback if self.job is not None else self.run.traceback

    @property
    def started_at(self) -> datetime | None:
        return self.job.started_at if self.job is not None else self.run.started_at

    @property
    def finished_at(self) -> datetime | None:
        return self.job.finished_at if self.job is not None else self.run.finished_at

    @property
    def eta_seconds(self) -> int | None:
        """Seconds left, from the progress so far and the time it took; None when that says nothing."""
        if self.status == "finished":
            return 0
        started = self.started_at
        if self.status != "running" or started is None or not 0 < self.progress < 100:
            return None
        elapsed = max(0.0, (self.now - started).total_seconds())
        return round(elapsed * (100 - self.progress) / self.progress)


def request_report(
    session: Session,
    runner: Runner,
    actor: Actor,
    raw_spec: Any,
    *,
    scope: Scope,
    schedule_id: int | None = None,
    prefix: str = "",
) -> ReportRun:
    """Validate the spec, add the run and queue its job, all in the caller's transaction.

    The one way a report is requested: the API and report schedules both call
    it. Raises Invalid naming the field, or QueueUnavailable (nothing added).
    """
    runner.spec(REPORT_JOB_KEY)  # before anything is added: a missing job must not leave a run behind
    run = add_report_run(session, runner.env.plugins, runner.env.settings, actor, raw_spec, scope=scope, prefix=prefix)
    run.job_run_id = runner.enqueue(
        REPORT_JOB_KEY, {"report_run_id": run.id}, requested_by=actor, session=session, schedule_id=schedule_id
    )
    session.flush()
    return run


def add_report_run(
    session: Session, plugins: PluginHost, settings: Settings, actor: Actor, raw_spec: Any, *, scope: Scope,
    prefix: str = "",
) -> ReportRun:  # fmt: skip
    """Validate the spec and add its run, queued and audited, in the caller's transaction; the run is
    rendered with ``actor``'s scope. :func:`request_report` queues its job; a background job that needs
    the file at once (a subscription's PDF) renders it itself with ``render_report``."""
    today = utcnow().astimezone(settings.zone).date()
    spec = parse_spec(raw_spec, plugins, settings.zone, today=today, prefix=prefix, week_start=settings.week_start_day)
    check_filters(session, spec, scope, prefix)
    spec = titled(session, spec, scope)
    run = ReportRun(
        requested_by_id=actor.user_id,
        format=spec.format,
        title=spec.title,
        spec=spec.to_json(),
        status="queued",
        progress=0,
        created_at=utcnow(),
    )
    session.add(run)
    session.flush()
    record(session, actor, "create", ENTITY, run.id, after={"format": spec.format, "spec": run.spec})
    return run


def titled(session: Session, spec: ReportSpec, scope: Scope) -> ReportSpec:
    """A report left with the default title is titled with what it covers ("North team KPI report")."""
    if spec.title != DEFAULT_TITLE:
        return spec
    label = describe_coverage(session, spec.filters, scope).label
    return spec if label == COMPANY else replace(spec, title=f"{label} {DEFAULT_TITLE}"[:TITLE_LENGTH])


def check_filters(session: Session, spec: ReportSpec, scope: Scope, prefix: str = "") -> None:
    """Every team and technician filtered on exists and is in the caller's scope (else 422 naming it).

    One outside the scope is answered exactly like one that does not exist.
    """
    name = f"{prefix}.filters" if prefix else "filters"
    if spec.filters.teams:
        found = set(session.scalars(select(Team.id).where(Team.id.in_(spec.filters.teams))))
        missing = [team for team in spec.filters.teams if team not in found or not scope.allows_team(team)]
        if missing:
            raise Invalid(f"{name}.team", f"no team with id {', '.join(map(str, missing))}")
    if spec.filters.technicians:
        visible = select(Technician.id).where(
            Technician.id.in_(spec.filters.technicians), scope.technicians(Technician.id, Technician.team_id)
        )
        found = set(session.scalars(visible))
        missing = [tech for tech in spec.filters.technicians if tech not in found]
        if missing:
            raise Invalid(f"{name}.technician", f"no technician with id {', '.join(map(str, missing))}")


def report_query(principal: Principal) -> Select[tuple[ReportRun, JobRun]]:
    """Runs the principal may see, newest first: admins all, everyone else their own."""
    statement = select(ReportRun, JobRun).outerjoin(JobRun, JobRun.id == ReportRun.job_run_id)
    if principal.role != "admin":
        statement = statement.where(ReportRun.requested_by_id == principal.user_id)
    return statement.order_by(ReportRun.created_at.desc(), ReportRun.id.desc())


def state_of(run: ReportRun, job: JobRun | None) -> ReportState:
    return ReportState(run, job, utcnow())


def get_report(session: Session, principal: Principal, report_id: int) -> ReportState:
    """The run with its state; someone else's run is 404 to anyone but an admin."""
    row = session.execute(report_query(principal).where(ReportRun.id == report_id)).first()
    if row is None:
        raise NotFound(f"no report with id {report_id}")
    return state_of(row[0], row[1])


def report_file(session: Session, state: ReportState) -> ReportFile | None:
    return session.get(ReportFile, state.run.id)


def delete_report(session: Session, actor: Actor, state: ReportState) -> None:
    """Delete the run and its file (audited); a job still rendering it finds it gone and stores nothing."""
    run = state.run
    before = {"title": run.title, "format": run.format, "size_bytes": run.size_bytes, "status": state.status}
    stored = session.get(ReportFile, run.id)
    if stored is not None:
        session.delete(stored)
    session.delete(run)
    record(session, actor, "delete", ENTITY, run.id, before=before)
    session.flush()


def schedule_spec_check(session: Session, runner: Runner) -> Callable[[Any], None]:
    """The check a report schedule's spec gets when it is saved: the one a request gets, naming
    ``report_spec.<field>``. The spec is stored as given, so ``last_periods`` stays relative."""
    settings = runner.env.settings

    def check(raw_spec: Any) -> None:
        today = utcnow().astimezone(settings.zone).date()
        spec = parse_spec(
            raw_spec,
            runner.env.plugins,
            settings.zone,
            today=today,
            prefix=SCHEDULE_PREFIX,
            week_start=settings.week_start_day,
        )
        check_filters(session, spec, UNSCOPED, SCHEDULE_PREFIX)

    return check
