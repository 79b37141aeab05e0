"""Answering closed months from their snapshots (:mod:`kpi_core.kpis.closing`), for whoever may see them.

A closed month's sums are its snapshot's: they stand in for the facts wherever the month is a whole
piece of an answer (a month, or a quarter or year pooled from months; a week is cut by a month and is
computed from the facts), so the month's value, its comparisons and the quarters around it agree. Its
rows carry ``closed: true`` and the status, certainty and fingerprint the snapshot recorded.

When the month's facts or definitions may have changed since it was closed (its data versions moved,
a KPI's fingerprint changed, or it was closed before its outcome windows were over), the month is
computed again as well (cheaply: per-month sums are cached), and a row whose value, sample or status
now differs gives it as ``restated`` with the change. Otherwise nothing is read but the snapshot.

Snapshots hold the whole company's groups, so they answer a scoped caller only where the row is the
same for everyone: a technician's own row (any caller who may see the technician), a team's row for
callers who may see the whole team (admins, the team's managers; a technician's "team" row covers
their own jobs only), and the company's row for callers who see the whole company without a team or
technician filter (a technician's company row is "Your own jobs", a manager's "Your teams": both are
computed from the facts, never the company's snapshot). Answers split or filtered by job category
(``adjust=category``, ``category=``) are computed from the facts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import Scope
from kpi_core.kpis import closing, engine, segments
from kpi_core.kpis import query as q
from kpi_core.kpis.closing import ClosedRow
from kpi_core.kpis.periods import PeriodGrid
from kpi_core.storage import versions
from kpi_core.storage.models import PeriodClose, Technician


@dataclass
class ClosedMonths:
    """The closed months of an answer: each one's close and the snapshot rows the caller may see."""

    closes: dict[date, PeriodClose]
    rows: dict[date, dict[tuple[str, str], list[Any]]]
    """Each month's snapshot rows the caller may see, by (KPI, group id): lists in ClosedRow's order."""
    changed: list[date] = field(default_factory=list)
    """Months whose facts or definitions may tell a different story now: computed again for restatements."""
    given: dict[date, list[engine.GroupSums]] = field(default_factory=dict)
    """Each month's snapshot as pooled sums of its one piece (what stands in for the facts)."""
    marks: dict[date, dict[str, Any]] = field(default_factory=dict)
    """Each month's fields of its rows, made once: ``closed``, ``closed_at`` and (until computed) ``restated``."""

    def __post_init__(self) -> None:
        self.marks = {
            month: {"closed": True, "closed_at": close.closed_at.isoformat(), "restated": None}
            for month, close in self.closes.items()
        }

    def sums(self) -> dict[date, list[engine.GroupSums]]:
        """Each month's snapshot as pooled sums of its one piece."""
        return self.given

    def row(self, kpi: str, group_id: str, month: date) -> list[Any] | None:
        """The snapshot's row, a list in :class:`~kpi_core.kpis.closing.ClosedRow`'s order (None: not closed)."""
        found = self.rows.get(month)
        return found.get((kpi, group_id)) if found is not None else None


def latest_close_id(session: Session) -> int:
    """The id of the latest close of any month (0: none): part of every values answer's cache key."""
    return int(session.scalar(select(func.max(PeriodClose.id))) or 0)


def applies(query: q.KpiQuery, scope: Scope) -> bool:
    """Whether the rows of ``query`` asked by ``scope`` are rows a snapshot holds (see the module)."""
    filters = query.filters
    if query.split is not None or filters.categories or query.group_by not in closing.CLOSE_GROUPS:
        return False
    principal = scope.principal
    if query.group_by == "team":
        return not filters.technicians and (scope.sees_all or (principal is not None and principal.role == "manager"))
    if query.group_by == "company":
        return scope.sees_all and not filters.teams and not filters.technicians
    return True


def closed_months(
    session: Session,
    query: q.KpiQuery,
    grid: PeriodGrid,
    *,
    zone: ZoneInfo,
    scope: Scope,
    prints: dict[str, str],
    kpis: Sequence[str],
) -> ClosedMonths | None:
    """The closed months that are whole pieces of ``grid``, their snapshots of ``query.group_by`` limited
    to the groups ``scope`` and the filters keep; None where none is closed or snapshots do not apply."""
    if not applies(query, scope):
        return None
    closes = closing.latest_closes(session, segments.whole_months(grid, zone))
    if not closes:
        return None
    by_close = closing.snapshot(session, [close.id for close in closes.values()], query.group_by, list(kpis))
    allowed = _allowed_groups(session, query, scope)
    rows: dict[date, dict[tuple[str, str], list[Any]]] = {}
    given: dict[date, list[engine.GroupSums]] = {}
    sums = engine.GroupSums
    for month, close in closes.items():
        shown = [row for row in by_close[close.id] if allowed is None or row[1] in allowed]
        rows[month] = {(row[0], row[1]): row for row in shown}
        given[month] = [
            sums(kpi, group_id, label, team_id, month, numerator, denominator, pending)
            for kpi, group_id, label, team_id, numerator, denominator, pending, *_ in shown
        ]
    changed = _changed(session, closes, zone, {key: prints[key] for key in kpis})
    return ClosedMonths(closes, rows, changed, given)


def _allowed_groups(session: Session, query: q.KpiQuery, scope: Scope) -> set[str] | None:
    """The group ids of ``query.group_by`` the caller gets rows for (None: every group)."""
    filters = query.filters
    if query.group_by == "technician":
        if scope.sees_all and not filters.teams and not filters.technicians:
            return None
        statement = select(Technician.id).where(scope.technicians(Technician.id, Technician.team_id))
        if filters.technicians:
            statement = statement.where(Technician.id.in_(filters.technicians))
        if filters.teams:
            statement = statement.where(Technician.team_id.in_(filters.teams))
        return {str(technician_id) for technician_id in session.scalars(statement)}
    if query.group_by == "team":
        teams: set[Any] | None = None if scope.sees_all else set(scope.principal.managed_team_ids)  # type: ignore[union-attr]
        if filters.teams:
            teams = set(filters.teams) if teams is None else teams & set(filters.teams)
        return None if teams is None else {str(team) for team in teams}
    return None


def _changed(session: Session, closes: dict[date, PeriodClose], zone: ZoneInfo, prints: dict[str, str]) -> list[date]:
    """Months whose snapshot may no longer be what the facts say: their data versions moved since the
    close, a KPI's fingerprint changed, or outcome windows were still open when it was closed."""
    keys = {month: segments.data_version_keys(segments.month_grid(month, zone)) for month in closes}
    now = dict(versions.current(session, sorted({key for listed in keys.values() for key in listed})))
    changed = []
    for month, close in sorted(closes.items()):
        wanted = [*keys[month], versions.EVERYTHING]
        current = sorted([key, now[key]] for key in wanted if key in now)
        same_prints = all(close.fingerprints.get(key) == value for key, value in prints.items())
        if not close.settled or not same_prints or current != sorted(list(pair) for pair in close.data_versions):
            changed.append(month)
    return changed


STATUS, CERTAIN, FINGERPRINT = (ClosedRow._fields.index(name) for name in ("status", "certain", "fingerprint"))
RESTATED_TOLERANCE = 1e-9
"""Sums of minutes are floats added month by month in another order: differences below this are none."""


def _same(now: float, then: float) -> bool:
    return math.isclose(now, then, rel_tol=RESTATED_TOLERANCE, abs_tol=RESTATED_TOLERANCE)


def closed_fields(
    closed: ClosedMonths,
    metric: Any,
    sums: engine.GroupSums,
    fields: dict[str, Any],
    *,
    fresh: dict[tuple[str, str, date], engine.GroupSums] | None,
    target: Any,
    min_sample: int,
    fingerprint: str,
    found: list[Any] | None = None,
) -> bool:
    """Give ``fields`` (a row's) what a closed month's row takes from its snapshot: status, certainty,
    fingerprint, ``closed``, ``closed_at``, and ``restated`` where the facts now give another value, sample
    or status. False (``fields`` untouched) where the row is not a closed month's. ``found``: the snapshot's
    row, where the caller has looked it up already (:meth:`ClosedMonths.row`)."""
    if found is None:
        found = closed.row(sums.kpi, sums.group_id, sums.period_start)
    if found is None:
        return False
    fields["status"], fields["certain"], fields["fingerprint"] = found[STATUS], found[CERTAIN], found[FINGERPRINT]
    fields.update(closed.marks[sums.period_start])
    if fresh is None or sums.period_start not in closed.changed:
        return True
    now = fresh.get((sums.kpi, sums.group_id, sums.period_start))
    if now is None:
        now = engine.GroupSums(sums.kpi, sums.group_id, sums.group_label, sums.team_id, sums.period_start, 0.0, 0.0)
    value = engine.value_of(metric, now, target, min_sample)
    closed_row = ClosedRow._make(found)
    moved = (
        not _same(now.numerator, closed_row.numerator)
        or not _same(now.denominator, closed_row.denominator)
        or value.status != closed_row.status
    )
    if moved:
        change = None if value.value is None or closed_row.value is None else value.value - closed_row.value
        fields["restated"] = {
            "value": value.value, "numerator": now.numerator, "denominator": now.denominator,
            "pending": now.pending, "status": value.status, "change": change, "fingerprint": fingerprint,
        }  # fmt: skip
    return True
