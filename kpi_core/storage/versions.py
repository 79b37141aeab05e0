"""Data versions: which months of facts changed, so cached KPI results know when they are stale.

Every transaction that changes facts bumps a counter per month it touched
(table ``kpi_data_versions``), in that same transaction: a result cached
under the counters of the months it covers can never be served after a
committed change to those months, in any process, and a rolled-back change
invalidates nothing. Months are ``YYYY-MM`` of a UTC instant (timestamps) or
of a local date (DATE columns); a query reads the counters of the UTC months
its instants span and of the months its local dates span.

An instant on the first or last UTC day of its month also bumps that day
(``YYYY-MM-DD``), and a span that meets a UTC month only within such a day
reads the day's counter instead of the month's (:func:`instant_keys`). A local
month of any time zone (UTC-12 to UTC+14) overlaps its UTC neighbours by less
than a day, so a change in mid-April leaves a New York or Berlin March alone:
a change to one month recomputes that month only, in any zone (one in the
hours a local month shares with its neighbour recomputes both).

ORM changes are seen by a flush listener (:func:`install`); bulk writes that
bypass the ORM (the importers) call :func:`bump` themselves. A change that
can move facts between groups or relabel them (a technician changing team, a
team renamed, a plugin setting) bumps :data:`EVERYTHING`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary, WeakMethod

from sqlalchemy import bindparam, event, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from kpi_core.storage.commits import ends_savepoint
from kpi_core.storage.models import Evaluation, Feedback, Job, JobFieldValue, KpiDataVersion, Team, Technician

EVERYTHING = "*"
"""The month key bumped by changes that touch every period."""

JOB_INSTANTS = ("scheduled_start", "scheduled_end", "arrived_at", "started_at", "completed_at")
TOUCHED = "kpi_touched_months"
"""``session.info`` key: months this transaction touched, bumped after the flush that touched them."""
CHANGED = "kpi_changed_months"
"""``session.info`` key: every counter this transaction bumped, handed to :func:`watch` callbacks on commit."""

log = logging.getLogger(__name__)
_watchers: WeakKeyDictionary[Engine, Callable[[], Callable[[set[str]], None] | None]] = WeakKeyDictionary()


def month_of(moment: datetime | date) -> str:
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC) if moment.tzinfo else moment
    return f"{moment.year:04d}-{moment.month:02d}"


def months_of(moments: Iterable[datetime | date | None]) -> set[str]:
    """The counters a change at ``moments`` bumps: their months, and the edge day of an instant on one."""
    keys = set()
    for moment in moments:
        if moment is None:
            continue
        keys.add(month_of(moment))
        if isinstance(moment, datetime):
            day = _utc(moment).date()
            if day.day == 1 or (day + timedelta(days=1)).day == 1:
                keys.add(day.isoformat())
    return keys


def instant_days(moments: Iterable[datetime | None]) -> set[date]:
    """The UTC days of ``moments`` (instants; None skipped): many instants share a day, and
    :func:`day_keys` of the days is :func:`months_of` of the instants."""
    return {(moment if moment.tzinfo is UTC else _utc(moment)).date() for moment in moments if moment is not None}


def day_keys(days: Iterable[date]) -> set[str]:
    """The counters a change at an instant on each of these UTC days bumps: its month, and the day itself
    on a month's first or last day (as :func:`months_of` gives them)."""
    keys = set()
    for day in days:
        keys.add(f"{day.year:04d}-{day.month:02d}")
        if day.day == 1 or (day + timedelta(days=1)).day == 1:
            keys.add(day.isoformat())
    return keys


def instant_keys(first: datetime, end: datetime) -> list[str]:
    """The counters a span of instants [first, end) depends on: each UTC month it meets, or only the
    month's first or last day where the span meets the month within that day."""
    first, end = _utc(first), _utc(end)
    keys = []
    for month in months_between(first, end):
        year, number = int(month[:4]), int(month[5:])
        start = datetime(year, number, 1, tzinfo=UTC)
        after = datetime(year + 1, 1, 1, tzinfo=UTC) if number == 12 else datetime(year, number + 1, 1, tzinfo=UTC)
        low, high = max(first, start), min(end, after)
        if high <= start + timedelta(days=1):
            keys.append(start.date().isoformat())
        elif low >= after - timedelta(days=1):
            keys.append((after - timedelta(days=1)).date().isoformat())
        else:
            keys.append(month)
    return keys


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def months_between(first: datetime | date, end: datetime | date) -> list[str]:
    """Every month of [first, end): UTC months for instants, calendar months for dates."""
    last = end - (timedelta(microseconds=1) if isinstance(end, datetime) else timedelta(days=1))
    # Compared as (year, month), never as text: "10000-01" sorts before "9999-12".
    low, high = _year_month(first), _year_month(last)
    months, (year, month) = [], low
    while (year, month) <= high:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _year_month(moment: datetime | date) -> tuple[int, int]:
    if isinstance(moment, datetime) and moment.tzinfo:
        moment = moment.astimezone(UTC)
    return moment.year, moment.month


def bump(session: Session | Connection, months: Iterable[str]) -> None:
    """Bump the counters of ``months`` in the session's (or connection's) transaction (creating them at 1)."""
    keys = sorted(set(months))
    if not keys:
        return
    bind = session.get_bind() if isinstance(session, Session) else session
    dialect = postgresql if bind.dialect.name == "postgresql" else sqlite
    table = KpiDataVersion.__table__
    # One row per key, executed as many: the same statement every time (compiled once, then cached).
    statement = dialect.insert(table).values(month=bindparam("month"), version=1)
    statement = statement.on_conflict_do_update(index_elements=[table.c.month], set_={"version": table.c.version + 1})
    session.execute(statement, [{"month": key} for key in keys])
    if isinstance(session, Session):
        session.info.setdefault(CHANGED, set()).update(keys)


def watch(engine: Engine, callback: Callable[[set[str]], None] | None) -> None:
    """Call ``callback(keys)`` once a session on ``engine`` commits a transaction that bumped counters
    (``keys``: the months, days and ``*`` it bumped), e.g. to warm caches in the background; None stops.

    One callback per engine. It runs in the committing thread, after the commit: it must be quick, and
    an exception it raises is logged, never passed to the writer (whose change is committed already).
    A bound method is held by a weak reference (its object's owner decides how long it watches).
    Bumps made on a bare connection (:meth:`~kpi_core.jobs.context.JobContext.facts_changed`) are not seen.
    """
    if callback is None:
        _watchers.pop(engine, None)
    elif hasattr(callback, "__self__"):
        _watchers[engine] = WeakMethod(callback)
    else:
        _watchers[engine] = lambda: callback


def current(session: Session, months: Iterable[str]) -> tuple[tuple[str, int], ...]:
    """The counters of ``months`` and of :data:`EVERYTHING` that exist, in month order: part of a cache key."""
    wanted = [*months, EVERYTHING]
    rows = session.execute(
        select(KpiDataVersion.month, KpiDataVersion.version).where(KpiDataVersion.month.in_(wanted))
    ).all()
    return tuple(sorted((month, version) for month, version in rows))


def job_months(session: Session, job_ids: Iterable[int]) -> set[str]:
    """The months of every instant of these jobs and of the originals they are callbacks of."""
    months, originals = set(), set()
    for chunk in _chunks(job_ids):
        columns = [getattr(Job, name) for name in JOB_INSTANTS]
        for row in session.execute(select(Job.callback_of_id, *columns).where(Job.id.in_(chunk))):
            months |= months_of(row[1:])
            if row[0] is not None:
                originals.add(row[0])
    # A callback changes its original's first-time fix: the original's months (one level is enough).
    for chunk in _chunks(originals):
        for row in session.execute(select(*[getattr(Job, name) for name in JOB_INSTANTS]).where(Job.id.in_(chunk))):
            months |= months_of(row)
    return months


def _chunks(ids: Iterable[int], size: int = 500) -> Iterator[list[int]]:
    unique = sorted({value for value in ids if value is not None})
    for start in range(0, len(unique), size):
        yield unique[start : start + size]


def install() -> None:
    """Listen to every ORM flush (once per process)."""
    if not event.contains(Session, "before_flush", _collect):
        event.listen(Session, "before_flush", _collect)
        event.listen(Session, "after_flush", _apply)
    if not event.contains(Session, "after_commit", _committed):
        event.listen(Session, "after_commit", _committed)
        event.listen(Session, "after_rollback", _rolled_back)


def _committed(session: Session) -> None:
    if ends_savepoint(session):
        return  # the keys wait for the transaction's own commit
    keys: set[str] | None = session.info.pop(CHANGED, None)
    if not keys or not _watchers:
        return
    bind = session.bind
    engine = bind.engine if isinstance(bind, Connection) else bind
    found = _watchers.get(engine) if isinstance(engine, Engine) else None
    callback = found() if found is not None else None
    if callback is None:
        return
    try:
        callback(keys)
    except Exception:  # the change is committed: a watcher's failure must not look like the writer's
        log.exception("a data-change watcher failed for %d changed months", len(keys))


def _rolled_back(session: Session) -> None:
    # A SAVEPOINT's rollback keeps the keys the transaction bumped before it: watching a month that
    # did not change after all costs a warm-up, missing one that did would leave it cold.
    if not ends_savepoint(session):
        session.info.pop(CHANGED, None)


def _collect(session: Session, _context: Any, _instances: Any) -> None:
    touched: set[str] = session.info.setdefault(TOUCHED, set())
    related_jobs: set[int] = set()
    for obj in [*session.new, *session.dirty, *session.deleted]:
        if isinstance(obj, Job):
            touched |= months_of(_values(obj, *JOB_INSTANTS))
            related_jobs |= {job_id for job_id in _values(obj, "callback_of_id") if job_id is not None}
        elif isinstance(obj, Feedback | JobFieldValue):  # a plugin's job field counts in its job's months
            related_jobs |= {job_id for job_id in _values(obj, "job_id") if job_id is not None}
        elif isinstance(obj, Evaluation):
            touched |= months_of(_values(obj, "period_start", "period_end"))
        elif isinstance(obj, Technician | Team) and _regroups(session, obj):
            touched.add(EVERYTHING)
    session.info["kpi_related_jobs"] = related_jobs | session.info.get("kpi_related_jobs", set())


def _apply(session: Session, _context: Any) -> None:
    touched: set[str] = session.info.pop(TOUCHED, set())
    related = session.info.pop("kpi_related_jobs", set())
    if related:
        touched |= job_months(session, related)
    bump(session, touched)


def _values(obj: Any, *names: str) -> list[Any]:
    """Current and previous values of ``names`` (both matter: a fact may move between months)."""
    state = inspect(obj)
    values: list[Any] = []
    for name in names:
        history = state.attrs[name].history
        values += [*history.added, *history.unchanged, *history.deleted]
        if not (history.added or history.unchanged or history.deleted):
            values.append(getattr(obj, name, None))
    return values


def _regroups(session: Session, obj: Technician | Team) -> bool:
    """A new one has no facts yet; a renamed one relabels and a moved or deleted one regroups every period."""
    if obj in session.new:
        return False
    return obj in session.deleted or _changed(obj, "team_id" if isinstance(obj, Technician) else "name", "name")


def _changed(obj: Any, *names: str) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)
