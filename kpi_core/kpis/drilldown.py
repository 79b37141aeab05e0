"""The facts behind one KPI value: every job (or evaluation) in its scope, with its outcome.

The drill-down selects facts with the very clauses the engine uses (source,
period bucket, filters, scope), plus the group. It lists every fact of the
group placed in the period, by the metric's period column or, where that is
empty (a job never completed), by its scheduled start, else its completion, each with its
*outcome*:

- ``numerator``: counted in the numerator (and the denominator; for a mean,
  every fact in the sample);
- ``denominator_only``: counted in the denominator only (a rate's "no");
- ``excluded``: left out, with the ``reason`` code and its ``reason_label``
  in words: ``window_open`` where the outcome window is still open
  (``Metric.outcome_window``), else the first of the metric's declared
  ``exclusions`` that applies, else ``not_in_sample``.

A counted fact has the first of the metric's declared ``notes`` that applies
as its ``reason`` and ``reason_label`` (else none): a first-time fix counted
because its callback was disputed and the dispute accepted says so.

The listed numerator and denominator contributions (0 for facts left out)
add up to the value's numerator and denominator; :func:`summary_statement`
counts the facts per outcome and reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, case, false, func, literal, not_, null, or_, select
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import UNSCOPED, Scope
from kpi_core.declarations import NOT_IN_SAMPLE, WINDOW_OPEN, Metric, MetricContext
from kpi_core.errors import Invalid, NotFound
from kpi_core.kpis import crews, engine
from kpi_core.kpis import query as q
from kpi_core.kpis.context import stored_contexts
from kpi_core.kpis.definitions import get_metric
from kpi_core.kpis.periods import QUERY_PERIODS, PeriodGrid, single_period
from kpi_core.plugins import PluginHost
from kpi_core.storage.models import JobAssignment, Team, Technician

JOB_FIELDS = ("scheduled_start", "scheduled_end", "arrived_at", "started_at", "completed_at")
EVALUATION_FIELDS = ("evaluation_period_start", "evaluation_period_end", "submitted_at", "score")
OUTCOMES = ("numerator", "denominator_only", "excluded")
NOT_IN_SAMPLE_LABEL = "Not counted by this KPI's rules"


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
    outcomes: tuple[str, ...] = ()
    """Only facts with these outcomes (empty: every fact in scope)."""
    as_of: datetime | None = None
    """The instant outcome windows are judged at, as the value was (None: every outcome settled)."""


def drilldown_statement(
    session: Session, plugins: PluginHost, query: DrilldownQuery, *, zone: ZoneInfo, scope: Scope = UNSCOPED
) -> Select[Any]:
    """The facts of the cell, ordered by period column and id, one row each with:

    id, external_ref, technician_id, technician, category, status, the job's
    times (``JOB_FIELDS``, and its customer ``rating``) or the evaluation's
    (``EVALUATION_FIELDS``), ``numerator`` and ``denominator`` (its
    contributions), ``outcome``, ``reason`` and ``reason_label``. NotFound for
    an unknown KPI or a group the scope does not see; Invalid for bad input.
    """
    metric = get_metric(plugins, query.kpi)
    grid = _grid(query, zone)
    group = _group_value(query)
    _check_visible(session, scope, query.group_by, group)
    # The crews' credit as the value's: one row per (job, group), weighted by the member's share.
    credited = q.KpiQuery(
        grid.dates[0], grid.dates[-1], group_by=query.group_by, filters=query.filters,
        credit=crews.stored_rule(session, plugins),
    )  # fmt: skip
    source = q.fact_source(metric.source, join_technicians=True, query=credited, scope=scope)
    statement = _facts(metric, stored_contexts(session, plugins)(metric), source, query, grid, group, scope)
    if not query.outcomes:
        return statement
    listed = statement.subquery("facts")
    return select(listed).where(listed.c.outcome.in_(query.outcomes)).order_by(listed.c.place, listed.c.id)


def summary_statement(
    session: Session, plugins: PluginHost, query: DrilldownQuery, *, zone: ZoneInfo, scope: Scope = UNSCOPED
) -> Select[Any]:
    """Facts of the cell per (outcome, reason, reason_label): columns outcome, reason, reason_label, facts."""
    facts = drilldown_statement(session, plugins, replace(query, outcomes=()), zone=zone, scope=scope).subquery()
    return select(facts.c.outcome, facts.c.reason, facts.c.reason_label, func.count().label("facts")).group_by(
        facts.c.outcome, facts.c.reason, facts.c.reason_label
    )


def summary(
    session: Session, plugins: PluginHost, query: DrilldownQuery, *, zone: ZoneInfo, scope: Scope = UNSCOPED
) -> dict[str, Any]:
    """The cell's facts counted: in all, per outcome, and per reason (in the metric's order of reasons)."""
    metric = get_metric(plugins, query.kpi)
    rows = session.execute(summary_statement(session, plugins, query, zone=zone, scope=scope)).all()
    counts = dict.fromkeys(OUTCOMES, 0)
    reasons: dict[str, dict[str, Any]] = {}
    for outcome, reason, label, count in rows:
        counts[outcome] += count
        if reason is not None and outcome == "excluded":  # a counted fact's note is no reason it is left out
            reasons[reason] = {"code": reason, "label": label, "facts": count}
    order = [WINDOW_OPEN, *(exclusion.code for exclusion in metric.exclusions), NOT_IN_SAMPLE]
    return {
        "kpi": metric.key,
        "facts": sum(counts.values()),
        **counts,
        "reasons": sorted(reasons.values(), key=lambda item: order.index(item["code"])),
    }


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
    denominator, numerator = metric.denominator(ctx), metric.numerator(ctx)
    placed = q.in_range(period, bounds)
    place = period
    if source.name == "jobs":
        # A job without the period column's time (never completed) is placed by its scheduled start, else by
        # its completion.
        jobs = t["jobs"]
        for fallback in (jobs.c.scheduled_start, jobs.c.completed_at):
            if fallback is not period:
                placed = or_(placed, and_(place.is_(None), q.in_range(fallback, q.boundaries(grid, fallback))))
                place = func.coalesce(place, fallback)
    still_open = engine.open_outcome(metric, ctx, query.as_of)
    in_sample = func.coalesce(denominator, 0) > 0
    counted = in_sample if still_open is None else and_(in_sample, not_(still_open))
    yes = counted if metric.kind == "mean" else and_(counted, numerator > 0)
    outcome = case((yes, literal("numerator")), (counted, literal("denominator_only")), else_=literal("excluded"))
    reasons = (
        [(and_(in_sample, still_open), WINDOW_OPEN, metric.outcome_window_label)] if still_open is not None else []
    )
    reasons += [(exclusion.condition(ctx), exclusion.code, exclusion.label) for exclusion in metric.exclusions]
    noted = [(and_(counted, note.condition(ctx)), note.code, note.label) for note in metric.notes]
    reason = case(
        *((condition, literal(code)) for condition, code, _ in noted),
        (counted, null()),
        *((condition, literal(code)) for condition, code, _ in reasons),
        else_=literal(NOT_IN_SAMPLE),
    )
    label = case(
        *((condition, literal(text)) for condition, _, text in noted),
        (counted, null()),
        *((condition, literal(text)) for condition, _, text in reasons),
        else_=literal(NOT_IN_SAMPLE_LABEL),
    )
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
    from_clause, technician_id, share = source.from_clause, source.technician_id, literal(1.0)
    if source.credited:  # the job's lead names it; the crew is listed beside (crew_of)
        technician_id = t["jobs"].c.technician_id
        from_clause = from_clause.join(technicians, technicians.c.id == technician_id)
    if source.weight is not None:
        share = source.weight
        numerator, denominator = numerator * share, denominator * share
    statement = (
        select(
            record.c.id,
            technician_id.label("technician_id"),
            technicians.c.name.label("technician"),
            *own,
            case((counted, numerator), else_=literal(0)).label("numerator"),
            case((counted, denominator), else_=literal(0)).label("denominator"),
            share.label("share"),
            outcome.label("outcome"),
            reason.label("reason"),
            label.label("reason_label"),
            place.label("place"),
        )
        .select_from(from_clause)
        .where(placed, *q.fact_filters(source, query.filters, scope))
        .order_by(place, record.c.id)
    )
    if not q.source_applies(source, query.group_by, query.filters):
        return statement.where(false())
    key = q.group_key(source, query.group_by)
    if query.group_by == "company":
        return statement
    return statement.where(key.is_(None) if group is None else key == group)


def crews_of(session: Session, job_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The crews of ``job_ids`` (one query): {job id: [{technician_id, technician, role, share}], lead first}."""
    if not job_ids:
        return {}
    rows = session.execute(
        select(
            JobAssignment.job_id, JobAssignment.technician_id, Technician.name, JobAssignment.role, JobAssignment.share
        )
        .join(Technician, Technician.id == JobAssignment.technician_id)
        .where(JobAssignment.job_id.in_(job_ids))
        .order_by(JobAssignment.job_id, JobAssignment.role.desc(), Technician.name)
    )
    found: dict[int, list[dict[str, Any]]] = {}
    for job_id, technician_id, name, role, share in rows:
        found.setdefault(job_id, []).append(
            {"technician_id": technician_id, "technician": name, "role": role, "share": share}
        )
    return found
