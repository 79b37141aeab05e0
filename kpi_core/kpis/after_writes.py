"""After an import or an edit commits, the dashboard's questions are recomputed in the background.

Every transaction that changes facts bumps data versions (:mod:`kpi_core.storage.versions`);
once it commits, the versions it bumped are handed to :meth:`RefreshAfterWrites.changed`,
which waits ``KPI_REFRESH_AFTER_WRITES`` seconds for more (a burst of edits, an import in
batches) and then enqueues one ``core.refresh_kpi_cache`` run with everything touched. The run
recomputes the touched months of the dashboard's common questions (:mod:`kpi_core.kpis.refresh`),
into the front cache and the database, so the next person to open the dashboard finds them ready.

Never a flood: one timer per process at a time, and no run is enqueued while a queued one
(not started yet) already covers the same versions. A write that touches no month of the
dashboard's window (an import of old history) enqueues nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kpi_core.audit.trail import Actor
from kpi_core.jobs.runner import Runner
from kpi_core.kpis import refresh
from kpi_core.storage import versions
from kpi_core.storage.models import JobRun

log = logging.getLogger(__name__)

REFRESH_JOB = "core.refresh_kpi_cache"
ACTOR = Actor.system("kpi_refresh_after_writes")
enabled = True
"""False: :func:`install` installs nothing. The test suite turns it off (kpi_core/testing/fixtures.py): a
background run after every write would land in other tests' job runs, audit trails and queues."""


class RefreshAfterWrites:
    """Turns committed changes into (few) background refreshes of the dashboard's questions."""

    def __init__(self, runner: Runner, *, delay: float) -> None:
        self.runner = runner
        self.delay = delay
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._timer: threading.Timer | None = None

    def changed(self, keys: Collection[str]) -> None:
        """The data versions ``keys`` were bumped by a committed transaction (a :func:`versions.watch` callback)."""
        if not refresh.touches(keys, *refresh.dashboard_window(datetime.now(self.runner.env.settings.zone).date())):
            return
        with self._lock:
            self._pending.update(keys)
            if self._timer is not None:
                return  # the armed timer takes these too
            self._timer = threading.Timer(self.delay, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            keys, self._pending, self._timer = self._pending, set(), None
        try:
            self.enqueue(keys)
        except Exception:  # a queue down must not be anyone's error: the daily refresh still runs
            log.warning("the KPI refresh after writes could not be queued", exc_info=True)

    def enqueue(self, keys: Collection[str]) -> int | None:
        """Enqueue a refresh of ``keys`` unless a queued one covers them; the run's id, or None."""
        touched = sorted(set(keys))
        with self.runner.env.database.session() as session:
            if _queued_covering(session, touched):
                return None
            return self.runner.enqueue(REFRESH_JOB, {"touched": touched}, requested_by=ACTOR, session=session)

    def cancel(self) -> None:
        """Forget changes not enqueued yet (the process is stopping)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._pending = None, set()


def _queued_covering(session: Session, touched: list[str]) -> bool:
    runs = session.scalars(select(JobRun.params).where(JobRun.job_key == REFRESH_JOB, JobRun.status == "queued"))
    for params in runs:
        covered = (params or {}).get("touched")
        if covered is None or set(touched) <= set(covered):  # a full refresh covers everything
            return True
    return False


def install(runner: Runner) -> RefreshAfterWrites | None:
    """Refresh after writes to ``runner``'s database (None when KPI_REFRESH_AFTER_WRITES or the cache is off).

    The caller keeps the returned object: the database holds it by a weak reference only."""
    settings = runner.env.settings
    if not enabled or settings.refresh_after_writes <= 0 or settings.cache_ttl <= 0:
        return None
    trigger = RefreshAfterWrites(runner, delay=settings.refresh_after_writes)
    versions.watch(runner.env.database.engine, trigger.changed)
    return trigger
