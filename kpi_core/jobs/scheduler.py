"""The scheduler: every few seconds, fire the schedules whose time has come, each occurrence once.

Why a loop over the database rather than rq-scheduler or RQ's own cron:
rq-scheduler fails its own tests on RQ 2.12; RQ's ``rq cron`` is beta,
must run as exactly one process, keeps its schedule in code rather than in
our ``schedules`` table, and does not exist for the in-process runner. Here
a scheduler *claims* an occurrence with one conditional UPDATE::

    UPDATE schedules SET last_fired_at = :occurrence
    WHERE id = :id AND enabled AND (last_fired_at IS NULL OR last_fired_at < :occurrence)

and enqueues the run in the same transaction. Only one of any number of
schedulers gets a row count of 1 (SQLite serialises writers; PostgreSQL
re-checks the condition after the row lock), and if the queue refuses the
job the claim rolls back with it, to be tried again on the next tick.

Occurrences missed while no scheduler ran collapse into one: the latest.
If it is on time (within ``grace``) it runs; if it is late, ``run_once``
runs it now as the one catch-up run and ``skip`` only moves the watermark.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import UNSCOPED
from kpi_core.audit.trail import Actor
from kpi_core.errors import Invalid
from kpi_core.jobs.errors import QueueUnavailable
from kpi_core.jobs.runner import Runner
from kpi_core.jobs.schedules import ensure_default_schedules
from kpi_core.notify.outbox import kick
from kpi_core.reports.service import SCHEDULE_PREFIX, request_report
from kpi_core.storage.models import Schedule
from kpi_core.storage.types import utcnow

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 30
UTC = ZoneInfo("UTC")
SCHEDULER = Actor.system("scheduler")


@dataclass(frozen=True)
class Due:
    """The latest occurrence of a schedule not yet claimed, and whether it is late."""

    schedule_id: int
    occurrence: datetime
    late: bool


@dataclass(frozen=True)
class Fired:
    """An occurrence this scheduler claimed: run (``run_id``) or skipped (None)."""

    schedule_id: int
    occurrence: datetime
    run_id: int | None


def due(schedule: Schedule, now: datetime, grace: timedelta) -> Due | None:
    """The latest occurrence in (watermark, now], if any; the watermark of a new schedule is its creation."""
    watermark = schedule.last_fired_at or schedule.created_at or now
    local_now = now.astimezone(ZoneInfo(schedule.timezone))
    # get_prev is strictly before its start: step a microsecond on so an occurrence at exactly now counts.
    latest = croniter(schedule.cron, local_now + timedelta(microseconds=1)).get_prev(datetime).astimezone(UTC)
    if latest <= watermark:
        return None
    return Due(schedule.id, latest, late=now - latest > grace)


class Scheduler:
    """Fires due schedules through a runner; any number may run at once, each occurrence fires once."""

    def __init__(
        self,
        runner: Runner,
        *,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.runner = runner
        self.database = runner.env.database
        self.interval = interval
        self.grace = timedelta(seconds=max(60.0, 2 * interval))
        self.clock = clock

    def prepare(self) -> None:
        """Add the declared jobs' default schedules; hand lost runs back to the queue."""
        with self.database.session() as session:
            created = ensure_default_schedules(session, self.runner.jobs, self.runner.env.settings.timezone)
        for schedule in created:
            log.info("added the default schedule %r (%s)", schedule.name, schedule.cron)
        self.runner.recover()

    def tick(self, now: datetime | None = None) -> list[Fired]:
        """Claim and fire every due occurrence once; returns what this scheduler fired."""
        now = now or self.clock()
        with self.database.session(write=False) as session:
            schedules = session.scalars(select(Schedule).where(Schedule.enabled.is_(True))).all()
        fired = []
        for schedule in schedules:
            pending = due(schedule, now, self.grace)
            if pending is None:
                continue
            try:
                result = self._fire(schedule, pending)
            except QueueUnavailable as exc:
                log.warning("schedules wait for the queue: %s", exc)
                break
            if result is not None:
                fired.append(result)
        self._kick_outbox(now)
        return fired

    def _kick_outbox(self, now: datetime) -> None:
        """Start the delivery of queued messages when some are due (and no delivery run is pending)."""
        try:
            run_id = kick(self.runner, requested_by=SCHEDULER, now=now)
        except Exception:
            log.exception("could not start the delivery of queued messages; trying again next tick")
            return
        if run_id is not None:
            log.info("messages are due: delivery run %s", run_id)

    def _fire(self, schedule: Schedule, pending: Due) -> Fired | None:
        skip = pending.late and schedule.missed == "skip"
        with self.database.session() as session:
            claimed = session.execute(
                update(Schedule)
                .where(
                    Schedule.id == schedule.id,
                    Schedule.enabled.is_(True),
                    or_(Schedule.last_fired_at.is_(None), Schedule.last_fired_at < pending.occurrence),
                )
                # Keep updated_at: firing is not an edit of the schedule.
                .values(last_fired_at=pending.occurrence, updated_at=Schedule.updated_at)
            )
            if claimed.rowcount != 1:
                return None  # another scheduler fired it, or an admin changed the schedule meanwhile
            if skip:
                log.info("schedule %r: skipped the missed occurrence %s", schedule.name, pending.occurrence)
                return Fired(schedule.id, pending.occurrence, None)
            try:
                run_id = self._enqueue(session, schedule)
            except Invalid as exc:
                # The job's plugin is gone: keep the claim (no retry every tick) and say why.
                log.error("schedule %r cannot fire: %s", schedule.name, exc)
                return Fired(schedule.id, pending.occurrence, None)
        log.info("schedule %r fired for %s: run %s", schedule.name, pending.occurrence, run_id)
        return Fired(schedule.id, pending.occurrence, run_id)

    def _enqueue(self, session: Session, schedule: Schedule) -> int:
        """Queue the schedule's job; a report schedule requests a report exactly as the API does."""
        if schedule.kind == "report":
            report = request_report(
                session,
                self.runner,
                SCHEDULER,
                schedule.report_spec,
                scope=UNSCOPED,
                schedule_id=schedule.id,
                prefix=SCHEDULE_PREFIX,
            )
            assert report.job_run_id is not None
            return report.job_run_id
        return self.runner.enqueue(
            schedule.job_key or "", {}, requested_by=SCHEDULER, session=session, schedule_id=schedule.id
        )

    def run(self, stop: threading.Event) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set; an error is logged, never fatal."""
        prepared = False
        while not stop.is_set():
            try:
                if not prepared:
                    self.prepare()
                    prepared = True
                self.tick()
                self.runner.recover()
            except Exception:
                log.exception("scheduler tick failed; trying again in %s s", self.interval)
            stop.wait(self.interval)


class SchedulerThread(threading.Thread):
    """The scheduler on a daemon thread of the app, for `kpi demo` (in-process runner, no Redis)."""

    def __init__(self, scheduler: Scheduler) -> None:
        super().__init__(name="kpi-scheduler", daemon=True)
        self.scheduler = scheduler
        self.stopped = threading.Event()

    def run(self) -> None:
        self.scheduler.run(self.stopped)

    def stop(self) -> None:
        self.stopped.set()
