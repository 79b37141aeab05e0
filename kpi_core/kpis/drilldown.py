"""The facts behind one KPI value: every job (or evaluation) it counted, with its contribution.

The drill-down selects facts with the very clauses the engine uses (source,
period bucket, filters, scope), plus the group. Only facts in the sample are
listed (denominator contribution > 0): the sum of the listed numerator and
denominator contributions equals the value's numerator and denominator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, false, null, select
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import UNSCOPED, Scope
from kpi_core.declarations import Metric, MetricContext
from kpi_core.errors import Invalid, NotFound
from kpi_core.kpis import query as q
from kpi_core.kpis.context import stored_contexts
from kpi_core.kpis.definitions import get_metric
from kpi_core.kpis.periods import QUERY_PERIODS, PeriodGrid, single_period
from kpi_core.plugins import PluginHost
from kpi_core.storage.models import Team, Technician

JOB_FIELDS = ("scheduled_start", "scheduled_end", "arrived_at", "started_at", "completed_at")
EVALUATION_FIELDS = ("evaluation_period_start", "evaluation_period_end", "submitted_at", "score")


@dataclass(frozen=True)
class DrilldownQuery:
    """One value's cell: KPI, group, and the period starting ``period_start`` (clipped to [start, end))."""

    kpi: str
    period_start: date
    group_by: str = "company"
    group_id: str | None = None
    period: str = "month"
    start: date | None = None
    end: date | None = None
    filters: q.Filters = field(default_factory=q.Filters)


def drilldown_statement(
    session: Session, plugins: PluginHost, query: DrilldownQuery, *, zone: ZoneInfo, scope: Scope = UNSCOPED
) -> Select[Any]:
    """The facts of the cell, ordered by period column and id, one row each with:

    id, external_ref, technician_id, technician, category, status, the job's
    times (``JOB_FIELDS``, and its customer ``rating``) or the evaluation's
    (``EVALUATION_FIELDS``), ``numerator`` and ``denominator``. NotFound for
    an unknown KPI or a group the scope does not see; Invalid for bad input.
    """
    metric = get_metric(plugins, query.kpi)
    grid = _grid(query, zone)
    group = _group_value(query)
    _check_visible(session, scope, query.group_by, group)
    source = q.fact_source(metric.source, join_technicians=True)
    return _facts(metric, stored_contexts(session, plugins)(metric), source, query, grid, group, scope)


def _grid(query: DrilldownQuery, zone: ZoneInfo) -> PeriodGrid:
    if query.group_by not in q.GROUP_BYS:
        raise Invalid("group_by", f"must be one of {', '.join(q.GROUP_BYS)}", location="query")
    if query.period not in QUERY_PERIODS:
        raise Invalid("period", f"must be one of {', '.join(QUERY_PERIODS)}", location="query")
    try:
        return single_period(query.period_start, query.period, zone, query.start, query.end)
    except ValueError as exc:
        raise Invalid("period_start", str(exc), location="query") from None


def _group_value(query: DrilldownQuery) -> Any:
    """The group's key as stored: an id, a category, None (team ``none``) or None for the company."""
    if query.group_by == "company":
        return None
    if not query.group_id:
        raise Invalid("group_id", f"is required when grouping by {query.group_by}", location="query")
    if query.group_by == "category":
        return query.group_id
    if query.group_by == "team" and query.group_id == q.NO_TEAM:
        return None
    if not query.group_id.isdigit():
        raise Invalid("group_id", f"must be a {query.group_by} id", location="query")
    return int(query.group_id)


def _check_visible(session: Session, scope: Scope, group_by: str, group: Any) -> None:
    """A technician or team outside the scope is answered as if it did not exist."""
    if group_by == "technician":
        visible = select(Technician.id).where(
            Technician.id == group, scope.technicians(Technician.id, Technician.team_id)
        )
        if session.scalar(visible) is None:
            raise NotFound(f"no technician with id {group}")
    elif group_by == "team":
        if group is not None and session.get(Team, group) is None:
            raise NotFound(f"no team with id {group}")
        in_team = Technician.team_id.is_(None) if group is None else Technician.team_id == group
        member = select(Technician.id).where(in_team, scope.technicians(Technician.id, Technician.team_id)).limit(1)
        if not scope.sees_all and session.scalar(member) is None:
            raise NotFound(f"no team with id {group if group is not None else q.NO_TEAM}")


def _facts(
    metric: Metric,
    ctx: MetricContext,
    source: q.FactSource,
    query: DrilldownQuery,
    grid: PeriodGrid,
    group: Any,
    scope: Scope,
) -> Select[Any]:
    t = q.tables()
    period = metric.period_column(ctx)
    bounds = q.boundaries(grid, period)
    denominator = metric.denominator(ctx)
    if source.name == "jobs":
        jobs, feedback = t["jobs"], t["feedback"]
        record, own = jobs, [jobs.c.external_ref, jobs.c.category, jobs.c.status]
        own += [jobs.c[name] for name in JOB_FIELDS] + [feedback.c.rating]
        own += [null().label(name) for name in EVALUATION_FIELDS]
    else:
        record = evaluations = t["evaluations"]
        own = [null().label("external_ref"), null().label("category"), evaluations.c.status]
        own += [null().label(name) for name in (*JOB_FIELDS, "rating")]
        own += [
            evaluations.c.period_start.label("evaluation_period_start"),
            evaluations.c.period_end.label("evaluation_period_end"),
            evaluations.c.submitted_at,
            evaluations.c.score,
        ]
    technicians = t["technicians"]
    statement = (
        select(
            record.c.id,
            source.technician_id.label("technician_id"),
            technicians.c.name.label("technician"),
            *own,
            metric.numerator(ctx).label("numerator"),
            denominator.label("denominator"),
        )
        .select_from(source.from_clause)
        .where(q.in_range(period, bounds), denominator > 0, *q.fact_filters(source, query.filters, scope))
        .order_by(period, record.c.id)
    )
    if not q.source_applies(source, query.group_by, query.filters):
        return statement.where(false())
    key = q.group_key(source, query.group_by)
    if query.group_by == "company":
        return statement
    return statement.where(key.is_(None) if group is None else key == group)
