"""Closing a month: a snapshot of every KPI x group x that month, which later answers give as they were.

An admin closes a month once it has ended (``POST /api/v1/periods/{YYYY-MM}/close``), or the
``core.close_months`` job closes it a set number of days after its end (the setting
``core.close_after_days``; 0: once the longest outcome window of the installed KPIs has passed, so
that callbacks have settled). Closing stores, for every KPI and every technician, team and the whole
company, the month's value, numerator, denominator, pending facts, its status against the target in
force on the month's first day (and whether the interval lies wholly inside the status's band), and
the definition fingerprint it was computed with (:mod:`kpi_core.kpis.fingerprints`). It records the
month's data versions and whether every outcome window was over (``settled``): while neither the
data nor the definitions change, the snapshot is what the facts say and nothing is computed again
(:mod:`kpi_core.kpis.snapshots` answers from it).

A month closed already is closed again only with ``reclose``: that accepts its restatement (the
facts' new story) and is audited with every value that changed. Closes are never rewritten: each is
a new row with its own snapshot, and the latest of a month is the one in force.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Text, insert, select, type_coerce
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import UNSCOPED, Scope
from kpi_core.audit.trail import Actor, record
from kpi_core.errors import Conflict, Invalid
from kpi_core.jobs.context import JobContext
from kpi_core.kpis import crews, engine, honest, segments
from kpi_core.kpis import query as q
from kpi_core.kpis.context import contexts_for
from kpi_core.kpis.fingerprints import fingerprints
from kpi_core.kpis.periods import local_midnight, next_period_start
from kpi_core.plugins import PluginHost
from kpi_core.records import targets
from kpi_core.records.plugin_settings import grouped_by_plugin, setting_values
from kpi_core.storage import versions
from kpi_core.storage.db import WRITE_OPTION
from kpi_core.storage.models import KpiSnapshot, PeriodClose, PeriodCloseGroup
from kpi_core.storage.types import utcnow

CLOSE_GROUPS: tuple[str, ...] = ("technician", "team", "company")
"""The groups a snapshot holds, each of the whole company."""
ENTITY = "period"
CLOSE_AFTER_DAYS = "core.close_after_days"
"""The host's setting: days after a month's end the automatic close waits (0: the longest outcome window)."""
AUTO_CLOSE = "core.close_months"
"""The host's setting: whether the ``core.close_months`` job closes months by itself."""
LOOKBACK_MONTHS = 12
"""The automatic close looks this many months back for months due and not closed."""


class ClosedRow(NamedTuple):
    """One KPI x group of a closed month, as its snapshot holds it (a tuple: a year of them is read at once)."""

    kpi: str
    group_id: str
    group_label: str
    team_id: int | None
    numerator: float
    denominator: float
    pending: float
    value: float | None
    status: str | None
    certain: bool | None
    fingerprint: str


def parse_month(text: str) -> date:
    """``YYYY-MM`` as the month's first day; Invalid (422, naming ``month``) otherwise."""
    try:
        year, number = text.split("-")
        if len(year) != 4 or len(number) != 2:
            raise ValueError(text)
        return date(int(year), int(number), 1)
    except ValueError:
        raise Invalid("month", f"must be a month as YYYY-MM (2026-03), not {text!r}", location="path") from None


def month_end(month: date, zone: ZoneInfo) -> datetime:
    """The instant the local month beginning on ``month`` ends."""
    return local_midnight(next_period_start(month, "month"), zone)


def latest_closes(session: Session, months: list[date] | None = None) -> dict[date, PeriodClose]:
    """The close in force of each of ``months`` that is closed (every closed month when None)."""
    statement = select(PeriodClose).order_by(PeriodClose.id)
    if months is not None:
        if not months:
            return {}
        statement = statement.where(PeriodClose.month.in_(months))
    return {row.month: row for row in session.scalars(statement)}


def snapshot(
    session: Session, close_ids: list[int], group_by: str, kpis: list[str] | None = None
) -> dict[int, list[Any]]:
    """The rows of ``group_by`` of each close (of ``kpis`` only, when given), by close id, as lists in
    :class:`ClosedRow`'s order (``ClosedRow._make(row)`` names them): one query of each close's rows of each
    KPI of that group as one JSON value, so that a year of a technician grid of 8 KPIs reads 96."""
    found: dict[int, list[ClosedRow]] = {close_id: [] for close_id in close_ids}
    if not close_ids:
        return found
    # Read as text where the database gives text (SQLite): orjson decodes the rows 3-5x faster than the JSON
    # column's standard decoder, a tenth of a closed year's answer. PostgreSQL's driver gives them decoded.
    stored = type_coerce(PeriodCloseGroup.rows, Text)
    statement = select(PeriodCloseGroup.close_id, stored).where(
        PeriodCloseGroup.close_id.in_(close_ids), PeriodCloseGroup.group_by == group_by
    )
    if kpis is not None:
        statement = statement.where(PeriodCloseGroup.kpi.in_(kpis))
    for close_id, rows in session.execute(statement):
        # As stored, lists in ClosedRow's order: a year of a technician grid is 48,000.
        found[close_id] += orjson.loads(rows) if isinstance(rows, str) else rows
    return found


@dataclass(frozen=True)
class Definitions:
    """What values are computed with now: settings, contexts, crew credit, targets and fingerprints."""

    metrics: list[Any]
    context_for: Any
    credit: str
    book: targets.TargetBook
    prints: dict[str, str]
    longest: timedelta | None


def definitions(session: Session, plugins: PluginHost) -> Definitions:
    settings = setting_values(session, plugins)
    by_plugin = grouped_by_plugin(settings)
    credit = crews.credit_rule(settings)
    context_for = contexts_for(plugins, by_plugin)
    metrics = list(plugins.metrics.values())
    longest = honest.longest_window(metric.outcome_window_of(context_for(metric)) for metric in metrics)
    book = targets.target_book(session, plugins)
    return Definitions(metrics, context_for, credit, book, fingerprints(plugins, by_plugin, credit), longest)


def month_rows(
    session: Session,
    month: date,
    group_by: str,
    found: Definitions,
    *,
    zone: ZoneInfo,
    now: datetime,
    status_min_sample: int,
    scope: Scope = UNSCOPED,
) -> list[ClosedRow]:
    """The month's values of every KPI by ``group_by`` as the facts and definitions say them now."""
    grid = segments.month_grid(month, zone)
    query = q.KpiQuery(
        start=month, end=grid.dates[-1], group_by=group_by, period="month", as_of=honest.judged_at(now),
        credit=found.credit,
    )  # fmt: skip
    sums = engine.fetch_sums(session, found.metrics, query, grid, scope, found.context_for)
    minimum = {m.key: m.min_sample_of(found.context_for(m), status_min_sample) for m in found.metrics}
    return rows_of(found.metrics, sums, found.book, found.prints, lambda metric: minimum[metric.key])


def rows_of(
    metrics: list[Any], sums: list[engine.GroupSums], book: Any, prints: dict[str, str], minimum: Any
) -> list[ClosedRow]:
    """Snapshot rows from pooled sums: values and statuses against the target in force on each period's
    first day, with each KPI's fingerprint."""
    by_key = {metric.key: metric for metric in metrics}
    found: dict[tuple[str, int | None, date], Any] = {}

    def target_for(kpi: str, team_id: int | None, start: date) -> Any:  # once per KPI and team
        key = (kpi, team_id, start)
        if key not in found:
            found[key] = book.at(kpi, team_id, start)
        return found[key]

    values = engine.values_of(metrics, sums, target_for, minimum)
    rows = []
    for value, row in zip(values, sums, strict=True):
        target = target_for(row.kpi, row.team_id, row.period_start)
        certain = honest.certain_of(value.status, value.ci_low, value.ci_high, target, by_key[row.kpi].direction)
        rows.append(
            ClosedRow(
                row.kpi, row.group_id, row.group_label, row.team_id, row.numerator, row.denominator, row.pending,
                value.value, value.status, certain, prints[row.kpi],
            )
        )  # fmt: skip
    return rows


def close_month(
    session: Session,
    plugins: PluginHost,
    actor: Actor,
    month: date,
    *,
    zone: ZoneInfo,
    now: datetime,
    status_min_sample: int,
    reclose: bool = False,
    automatic: bool = False,
) -> PeriodClose:
    """Close ``month`` (its first day): snapshot every KPI x group; audited (a re-close with every value
    it restates). Conflict (409) for a month not ended yet, or closed already without ``reclose``."""
    end = month_end(month, zone)
    if end > now:
        raise Conflict("month", f"{month:%B %Y} has not ended yet: it can be closed from {end.date().isoformat()}")
    before = latest_closes(session, [month]).get(month)
    if before is not None and not reclose:
        raise Conflict(
            "reclose",
            f"{month:%B %Y} was closed on {before.closed_at.astimezone(zone).date().isoformat()}; close it again "
            "with reclose to accept the values as the facts now give them",
        )
    found = definitions(session, plugins)
    as_of = honest.judged_at(now)
    grid = segments.month_grid(month, zone)
    row = PeriodClose(
        month=month, closed_at=now, closed_by_id=actor.user_id, automatic=automatic,
        settled=found.longest is None or end + found.longest <= as_of,
        data_versions=[list(pair) for pair in versions.current(session, segments.data_version_keys(grid))],
        fingerprints=found.prints, rows=0,
    )  # fmt: skip
    session.add(row)
    session.flush()
    stored, groups = [], []
    for group_by in CLOSE_GROUPS:
        rows = month_rows(session, month, group_by, found, zone=zone, now=now, status_min_sample=status_min_sample)
        stored += [{"close_id": row.id, "group_by": group_by, **item._asdict()} for item in rows]
        by_kpi: dict[str, list[list[Any]]] = {}
        for item in rows:
            by_kpi.setdefault(item.kpi, []).append(list(item))
        groups += [{"close_id": row.id, "group_by": group_by, "kpi": key, "rows": got} for key, got in by_kpi.items()]
    if stored:
        session.execute(insert(KpiSnapshot), stored)
    if groups:
        session.execute(insert(PeriodCloseGroup), groups)
    row.rows = len(stored)
    _audit(session, actor, row, before, stored)
    return row


def _audit(
    session: Session, actor: Actor, row: PeriodClose, before: PeriodClose | None, stored: list[dict[str, Any]]
) -> None:
    """A close names its month and size; a re-close also every value it changed (before and after)."""
    head = {"month": row.month.isoformat(), "automatic": row.automatic, "rows": row.rows}
    if before is None:
        record(session, actor, "close", ENTITY, row.month.isoformat(), after=head)
        return
    old = {}
    for group_by in CLOSE_GROUPS:
        for item in map(ClosedRow._make, snapshot(session, [before.id], group_by)[before.id]):
            old[f"{item.kpi} {group_by} {item.group_id}"] = item.value
    new = {f"{item['kpi']} {item['group_by']} {item['group_id']}": item["value"] for item in stored}
    changed = sorted(key for key in {*old, *new} if old.get(key) != new.get(key))
    record(
        session, actor, "reclose", ENTITY, row.month.isoformat(),
        before={"close": before.id, **{key: old.get(key) for key in changed}},
        after={"close": row.id, **head, **{key: new.get(key) for key in changed}},
    )  # fmt: skip


def close_after(session: Session, plugins: PluginHost) -> timedelta | None:
    """How long after a month's end the automatic close waits; None when it is off."""
    settings = setting_values(session, plugins)
    enabled = settings.get(AUTO_CLOSE)
    if enabled is None or not enabled.value:
        return None
    days = settings.get(CLOSE_AFTER_DAYS)
    if days is not None and days.value:
        return timedelta(days=int(days.value))
    context_for = contexts_for(plugins, grouped_by_plugin(settings))
    longest = honest.longest_window(
        metric.outcome_window_of(context_for(metric)) for metric in plugins.metrics.values()
    )
    return longest or timedelta(0)


def months_due(session: Session, plugins: PluginHost, *, zone: ZoneInfo, now: datetime) -> list[date]:
    """Months of the last LOOKBACK_MONTHS that the automatic close should close now (oldest first)."""
    wait = close_after(session, plugins)
    first = targets.first_job_day(session, zone)
    if wait is None or first is None:
        return []
    month = now.astimezone(zone).date().replace(day=1)
    candidates = []
    for _ in range(LOOKBACK_MONTHS):
        month = (month - timedelta(days=1)).replace(day=1)
        if month_end(month, zone) + wait <= now and month >= first.replace(day=1):
            candidates.append(month)
    closed = latest_closes(session, candidates)
    return sorted(month for month in candidates if month not in closed)


def close_due_months(context: JobContext) -> dict[str, Any]:
    """The ``core.close_months`` job: close every month due (the settings ``core.close_months`` and
    ``core.close_after_days``) that is not closed yet, each in its own transaction."""
    if context.plugins is None:
        return {"closed": [], "skipped": "no plugins loaded"}
    zone, now = context.settings.zone, utcnow()
    with Session(context.engine) as session:
        due = months_due(session, context.plugins, zone=zone, now=now)
    closed = []
    for number, month in enumerate(due):
        context.progress(100 * number // max(len(due), 1), f"closing {month:%B %Y}")
        with Session(context.engine) as session:
            session.connection(execution_options={WRITE_OPTION: True})
            close_month(
                session, context.plugins, Actor.system("automatic close"), month, zone=zone, now=now,
                status_min_sample=context.settings.status_min_sample, automatic=True,
            )  # fmt: skip
            session.commit()
        closed.append(f"{month:%Y-%m}")
    context.progress(100, "done")
    return {"closed": closed}
