"""The query model: what a KPI request asks for, and the facts (FROM and WHERE) it means.

Shared by the value engine (:mod:`kpi_core.kpis.engine`) and the drill-down
(:mod:`kpi_core.kpis.drilldown`), so a value and the facts listed behind it
are always selected by the same clauses.

Facts of a ``jobs`` metric come from ``jobs LEFT JOIN feedback`` (one row per
job); of an ``evaluations`` metric from ``evaluations``. ``technicians`` is
joined only where a team is needed (grouping or filtering by team, or a
manager's scope). Evaluations have no category: grouping or filtering by
category leaves evaluation metrics without facts, so they get no rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Date, and_, false, literal, or_
from sqlalchemy.sql import FromClause
from sqlalchemy.types import TypeDecorator

from kpi_core.accounts.scope import Scope
from kpi_core.errors import Invalid
from kpi_core.kpis.crews import DEFAULT_RULE, credit_subquery, needs_crews
from kpi_core.kpis.periods import QUERY_PERIODS, PeriodGrid, TooManyPeriods, period_grid
from kpi_core.storage.limits import year_problem
from kpi_core.storage.models import Base
from kpi_core.storage.types import UTCDateTime

GroupBy = Literal["technician", "team", "category", "company"]
GROUP_BYS: tuple[str, ...] = ("technician", "team", "category", "company")
NO_TEAM = "none"
"""``group_id`` of technicians who belong to no team, when grouping by team."""
COMPANY = "company"
"""``group_id`` of the one group when grouping by company."""


@dataclass(frozen=True)
class Filters:
    """Restrict facts to these teams, technicians and job categories (empty: no restriction)."""

    teams: tuple[int, ...] = ()
    technicians: tuple[int, ...] = ()
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class KpiQuery:
    """KPIs (empty: all) x group x period over local dates [start, end)."""

    start: date
    end: date
    kpis: tuple[str, ...] = ()
    group_by: str = "company"
    period: str = "month"
    filters: Filters = field(default_factory=Filters)
    as_of: datetime | None = None
    """The instant outcome windows are judged at (None: every outcome is taken as settled)."""
    split: str | None = None
    """``category``: sums per group and job category too (for ``adjust=category``)."""
    split_within: tuple[date, date] | None = None
    """Split only facts placed in these local dates [start, end), which are bounds of the grid (None: all)."""
    credit: str = DEFAULT_RULE
    """How a crew's jobs count (:mod:`kpi_core.kpis.crews`): the setting ``core.crew_credit``, which the
    services put here."""


@dataclass(frozen=True)
class KpiValue:
    """One KPI for one group and period (the API's row; reports' ``ValueRow`` has the same fields).

    ``value`` is None without a sample (denominator 0); ``ci_low``/``ci_high``
    is the 95% Wilson interval of a rate (None for means); ``status`` is
    green/amber/red against the effective target, None without a value.
    """

    kpi: str
    group_id: str
    group_label: str
    period_start: date
    value: float | None
    numerator: float
    denominator: float
    ci_low: float | None = None
    ci_high: float | None = None
    status: str | None = None


def validate_grid(query: KpiQuery, zone: Any) -> PeriodGrid:
    """The query's period buckets; Invalid (422) naming the query field at fault."""
    if query.group_by not in GROUP_BYS:
        raise Invalid("group_by", f"must be one of {', '.join(GROUP_BYS)}", location="query")
    if query.period not in QUERY_PERIODS:
        raise Invalid("period", f"must be one of {', '.join(QUERY_PERIODS)}", location="query")
    for name, day in (("start", query.start), ("end", query.end)):
        problem = year_problem(day)
        if problem:  # before any work: the grid must never step past the calendar's end
            raise Invalid(name, problem, location="query")
    if query.end <= query.start:
        raise Invalid("end", f"must be after start ({query.start})", location="query")
    try:
        return period_grid(query.start, query.end, query.period, zone)
    except TooManyPeriods as exc:
        raise Invalid("end", str(exc), location="query") from None


@dataclass(frozen=True)
class FactSource:
    """The FROM clause of one metric source and the columns facts are grouped and filtered by."""

    name: str
    from_clause: FromClause
    technician_id: Any
    team_id: Any | None
    category: Any | None
    weight: Any | None = None
    """What a fact counts for its group (a crew member's share), None: 1."""
    credited: bool = False
    """The facts are a crew's credit, already limited to the scope and the technician and team filters."""
    credit: Any | None = None
    """With ``credited``: the credit subquery, (job_id, technician_id, team_id, weight), that
    ``from_clause`` joins to ``jobs``."""
    uncredited: FromClause | None = None
    """With ``credited``: ``from_clause`` without the credit (jobs and their feedback), where a job's
    facts can be evaluated once before they are spread over its crew."""


def tables() -> dict[str, Any]:
    return dict(Base.metadata.tables)


def fact_source(
    source: str, *, join_technicians: bool, query: KpiQuery | None = None, scope: Scope | None = None
) -> FactSource:
    """FROM jobs LEFT JOIN feedback (``jobs``) or FROM evaluations, joined to technicians if asked.

    With a ``query`` whose crew credit rule makes crews count (:func:`kpi_core.kpis.crews.needs_crews`),
    jobs are joined to their credit instead: one row per (job, group) with its weight, limited to
    ``scope`` and the query's technician and team filters.
    """
    t = tables()
    technicians = t["technicians"]
    if source == "jobs" and query is not None and scope is not None:
        filters = query.filters
        if needs_crews(query.credit, query.group_by, bool(filters.technicians), bool(filters.teams), scope):
            jobs, feedback = t["jobs"], t["feedback"]
            credit = credit_subquery(query.credit, query.group_by, filters.technicians, filters.teams, scope)
            uncredited = jobs.outerjoin(feedback, feedback.c.job_id == jobs.c.id)
            base = uncredited.join(credit, credit.c.job_id == jobs.c.id)
            weight = credit.c.weight if query.credit == "share" else None
            return FactSource(
                source, base, credit.c.technician_id, credit.c.team_id, jobs.c.category, weight, credited=True,
                credit=credit, uncredited=uncredited,
            )  # fmt: skip
    if source == "jobs":
        jobs, feedback = t["jobs"], t["feedback"]
        base: FromClause = jobs.outerjoin(feedback, feedback.c.job_id == jobs.c.id)
        technician_id, category = jobs.c.technician_id, jobs.c.category
    elif source == "evaluations":
        evaluations = t["evaluations"]
        base, technician_id, category = evaluations, evaluations.c.technician_id, None
    else:
        raise ValueError(f"unknown metric source {source!r}")
    if join_technicians:
        base = base.join(technicians, technicians.c.id == technician_id)
    team_id = technicians.c.team_id if join_technicians else None
    return FactSource(source, base, technician_id, team_id, category)


def needs_technicians(group_by: str, filters: Filters, scope: Scope) -> bool:
    """Whether the facts must be joined to technicians for their team."""
    return group_by == "team" or bool(filters.teams) or not scope.sees_all


def source_applies(source: FactSource, group_by: str, filters: Filters) -> bool:
    """False where the source has no category but the request groups or filters by one."""
    return source.category is not None or (group_by != "category" and not filters.categories)


def group_key(source: FactSource, group_by: str) -> Any | None:
    """The column facts are grouped by (None for the company: one group)."""
    if group_by == "technician":
        return source.technician_id
    if group_by == "team":
        return source.team_id
    if group_by == "category":
        return source.category
    return None


def fact_filters(source: FactSource, filters: Filters, scope: Scope) -> list[ColumnElement[bool]]:
    """The WHERE clauses of the filters and of the principal's scope."""
    if source.credited:  # the credit holds only the crews' members in scope and in the filters
        return [source.category.in_(filters.categories)] if filters.categories else []
    clauses = [scope.technicians(source.technician_id, source.team_id)]
    if filters.technicians:
        clauses.append(source.technician_id.in_(filters.technicians))
    if filters.teams:
        clauses.append(source.team_id.in_(filters.teams))
    if filters.categories and source.category is not None:
        clauses.append(source.category.in_(filters.categories))
    return clauses


def is_date_column(expression: Any) -> bool:
    """True for DATE expressions (placed by local date), False for timestamps (placed by UTC instant)."""
    kind = expression.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    return isinstance(kind, Date)


def boundaries(grid: PeriodGrid, column: Any) -> list[Any]:
    """The grid's boundaries as SQL literals comparable with ``column``."""
    if is_date_column(column):
        return [literal(day, Date()) for day in grid.dates]
    return [literal(instant, UTCDateTime()) for instant in grid.instants]


def in_range(column: Any, bounds: list[Any]) -> ColumnElement[bool]:
    """first boundary <= column < last boundary: lets the database range-scan the column's index."""
    return and_(column >= bounds[0], column < bounds[-1])


def in_grid(column: Any, grid: PeriodGrid, bounds: list[Any]) -> ColumnElement[bool]:
    """``column`` within a bucket of ``grid`` that is asked for: one range per run of such buckets."""
    spans = grid.spans()
    if not spans:
        return false()
    ranges = [and_(column >= bounds[low], column < bounds[high]) for low, high in spans]
    return ranges[0] if len(ranges) == 1 else or_(*ranges)
