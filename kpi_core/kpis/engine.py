"""The KPI engine: any set of KPIs x group x period x date range in ONE SQL statement.

How the statement is built (SQLAlchemy Core, the same on SQLite and PostgreSQL):

1. Periods are cut in Python (:mod:`kpi_core.kpis.periods`): the local
   midnight that begins each bucket, converted to a UTC instant, so DST days
   of 23 or 25 hours are exact. Timestamps are compared with those instants;
   DATE columns (an evaluation's ``period_end``, already a local date) with
   the local dates.
2. Each *source* is read once, in a CTE: ``jobs LEFT JOIN feedback`` for the
   jobs metrics, ``evaluations`` for the evaluation metric. The WHERE clause
   keeps rows whose period column lies in the range, for any of the period
   columns the source's metrics use (``completed_at >= b0 AND completed_at <
   bN OR scheduled_start >= ...``: each disjunct can range-scan its index),
   plus the filters and the principal's scope. Every row gets a bucket index
   per period column (a CASE over the boundaries, searched binarily: about
   log2(buckets) comparisons; NULL when that column is out of range), and
   the CTE SUMs every metric's numerator and denominator per (group, bucket
   indexes). A row counts towards a metric only where its denominator is
   > 0, as the Metric contract says (the drill-down lists exactly those).
   Where a crew's credit applies (:mod:`kpi_core.kpis.crews`), each job's
   facts are evaluated once, then joined to the credit's (job, group,
   weight) rows and weighted, so a crew of two costs a join, not a second
   evaluation of every metric.
3. Where a source has several period columns, a small CTE per column re-sums
   the pooled rows by (group, that column's bucket). The results are
   unpivoted into (group, bucket, metric, numerator, denominator) rows with
   UNION ALL and joined to technicians or teams for the group's label (and a
   technician's team, whose target applies).

Absent and empty: a group with no fact row at all in a bucket has no row; a
group whose facts are all outside a metric's sample (denominator 0) has a row
with value None. Evaluation metrics have no category, so grouping or
filtering by category gives them no rows. Rates get a 95% Wilson interval;
means have none. Roll-ups pool: a team's value is SUM(numerators) /
SUM(denominators) over its facts, never a mean of its technicians' values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, Select, and_, case, func, literal, literal_column, null, or_, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.types import Date

from kpi_core.accounts.scope import UNSCOPED, Scope
from kpi_core.declarations import Metric
from kpi_core.kpis import query as q
from kpi_core.kpis.context import ContextFor, default_contexts, stored_contexts
from kpi_core.kpis.definitions import TargetLookup, resolve_metrics
from kpi_core.kpis.periods import PeriodGrid
from kpi_core.kpis.stats import DEFAULT_STATUS_MIN_SAMPLE, INSUFFICIENT, status_of, wilson_interval
from kpi_core.plugins import PluginHost
from kpi_core.records import targets
from kpi_core.storage.types import UTCDateTime, utcnow


@dataclass(slots=True)  # not frozen: a frozen dataclass is made 4x slower, and answers decode 100,000s
class GroupSums:
    """The pooled sums of one KPI for one group and period: what a cache can keep. Not changed once made.

    ``team_id`` is the team whose target applies: the group itself when
    grouping by team, the technician's team when grouping by technician,
    else None (the company's target).
    """

    kpi: str
    group_id: str
    group_label: str
    team_id: int | None
    period_start: date
    numerator: float
    denominator: float
    pending: float = 0.0
    """Facts left out of the sums because their outcome window was still open at ``query.as_of``."""
    category: str | None = None
    """The job category of these sums when the query splits by category (``query.split``), else None."""


def compute_values(
    session: Session,
    plugins: PluginHost,
    query: q.KpiQuery,
    *,
    zone: ZoneInfo,
    scope: Scope = UNSCOPED,
    target_for: TargetLookup | None = None,
    context_for: ContextFor | None = None,
    min_sample: int | None = DEFAULT_STATUS_MIN_SAMPLE,
) -> list[q.KpiValue]:
    """The values of ``query`` as ``scope`` may see them, ordered by KPI, group label and period.

    ``target_for(metric_key, team_id, period_start)`` gives the target a value's
    status is judged against; by default the target versions in the database in
    force on the period's first day (team override, else company, else the
    plugin's default); ``context_for`` the
    context each metric is built with (by default with the plugin settings in
    the database); ``min_sample`` the sample below which a status is
    ``insufficient`` (a metric's own ``min_sample`` first; None: never). Facts
    whose outcome window is open at ``query.as_of`` (by default now) are pending,
    outside the sums. Raises Invalid (422)
    for an unknown KPI, a bad range or more periods than allowed.
    """
    grid = q.validate_grid(query, zone)
    metrics = resolve_metrics(plugins, query.kpis)
    if context_for is None:
        context_for = stored_contexts(session, plugins)
    if query.as_of is None:  # outcome windows judged now, to the hour, as the API does
        query = replace(query, as_of=utcnow().replace(minute=0, second=0, microsecond=0))
    sums = fetch_sums(session, metrics, query, grid, scope, context_for)
    if target_for is None:
        target_for = stored_targets(session, plugins)
    if min_sample is None:
        return values_of(metrics, sums, target_for)
    return values_of(metrics, sums, target_for, lambda metric: metric.min_sample_of(context_for(metric), min_sample))


def values_of(
    metrics: Sequence[Metric],
    sums: Sequence[GroupSums],
    target_for: TargetLookup,
    min_sample: Callable[[Metric], int] | None = None,
) -> list[q.KpiValue]:
    """Values with intervals and statuses from pooled sums of ``metrics``, in the order of ``sums``;
    with ``min_sample(metric)``, a sample below it has status ``insufficient``."""
    by_key = {metric.key: metric for metric in metrics}
    return [
        value_of(
            by_key[row.kpi],
            row,
            target_for(row.kpi, row.team_id, row.period_start),
            min_sample(by_key[row.kpi]) if min_sample else None,
        )
        for row in sums
    ]


def stored_targets(session: Session, plugins: PluginHost) -> TargetLookup:
    """The target versions in the database as a ``target_for`` lookup."""
    return targets_lookup(targets.target_book(session, plugins))


def targets_lookup(book: targets.TargetBook) -> TargetLookup:
    """Target versions (from :func:`kpi_core.records.targets.target_book`) as a lookup."""
    return book.at


def value_of(metric: Metric, sums: Any, target: Any, min_sample: int | None = None) -> q.KpiValue:
    """A value with its interval and status from pooled sums (status ``insufficient`` where the sample
    is below ``min_sample``)."""
    value, low, high, status = judged(metric, sums.numerator, sums.denominator, target, min_sample)
    return q.KpiValue(
        kpi=sums.kpi,
        group_id=sums.group_id,
        group_label=sums.group_label,
        period_start=sums.period_start,
        value=value,
        numerator=sums.numerator,
        denominator=sums.denominator,
        ci_low=low,
        ci_high=high,
        status=status,
    )


def judged(
    metric: Metric, numerator: float, denominator: float, target: Any, min_sample: int | None = None
) -> tuple[float | None, float | None, float | None, str | None]:
    """(value, interval low, interval high, status) of pooled sums: what :func:`value_of` gives, as plain
    values for callers that build tens of thousands of rows."""
    if denominator <= 0:
        return None, None, None, None
    value = numerator / denominator
    interval = wilson_interval(numerator, denominator) if metric.kind == "rate" else None
    status = status_of(value, target, metric.direction)
    if min_sample is not None and denominator < min_sample:
        status = INSUFFICIENT
    low, high = interval if interval is not None else (None, None)
    return value, low, high, status


def fetch_sums(
    session: Session,
    metrics: Sequence[Metric],
    query: q.KpiQuery,
    grid: PeriodGrid,
    scope: Scope = UNSCOPED,
    context_for: ContextFor = default_contexts,
) -> list[GroupSums]:
    """Run the one statement and return pooled sums per (KPI, group, period), in presentation order."""
    statement = sums_statement(metrics, query, grid, scope, context_for)
    if statement is None:
        return []
    result = session.execute(statement)
    at = {name: index for index, name in enumerate(result.keys())}  # rows read by position: no mapping per row
    whole = company_label(scope)
    rows = [_sums_row(row, at, metrics, query.group_by, grid, whole) for row in result]
    return presentation_order(rows, metrics)


def company_label(scope: Scope) -> str:
    """What the one row of ``group_by=company`` covers, in words, for whoever asks: a technician's are
    their own jobs and a manager's their teams', never the whole company's."""
    role = scope.principal.role if scope.principal is not None else None
    return {"technician": "Your own jobs", "manager": "Your teams"}.get(role or "", "Company")


def presentation_order(rows: list[GroupSums], metrics: Sequence[Metric]) -> list[GroupSums]:
    """``rows`` sorted as the API lists them: by KPI in ``metrics`` order, then within a KPI by group
    label (technicians without a team last), each group's periods in order."""
    order = {metric.key: index for index, metric in enumerate(metrics)}
    rows.sort(
        key=lambda row: (
            order[row.kpi], row.group_id == q.NO_TEAM, row.group_label, row.group_id, row.period_start,
            row.category or "",
        )
    )  # fmt: skip
    return rows


def sums_statement(
    metrics: Sequence[Metric],
    query: q.KpiQuery,
    grid: PeriodGrid,
    scope: Scope,
    context_for: ContextFor = default_contexts,
) -> Select[Any] | None:
    """The statement: columns gk, idx, kpi (index into ``metrics``), num, den, label, team (None if no facts apply)."""
    join = q.needs_technicians(query.group_by, query.filters, scope)
    by_source: dict[str, list[int]] = {}
    for index, metric in enumerate(metrics):
        by_source.setdefault(metric.source, []).append(index)
    parts = []
    for number, (source_name, members) in enumerate(by_source.items()):
        source = q.fact_source(source_name, join_technicians=join, query=query, scope=scope)
        if q.source_applies(source, query.group_by, query.filters):
            parts += _source_parts(number, source, {i: metrics[i] for i in members}, query, grid, scope, context_for)
    if not parts:
        return None
    facts = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("kpi_sums")
    return _labelled(facts, query.group_by)


def _source_parts(
    number: int,
    source: q.FactSource,
    metrics: dict[int, Metric],
    query: q.KpiQuery,
    grid: PeriodGrid,
    scope: Scope,
    context_for: ContextFor,
) -> list[Select[Any]]:
    """One scan of a source: a bucket column per period column, sums per (group, buckets), unpivoted."""
    periods: dict[str, tuple[Any, list[int]]] = {}
    for index, metric in metrics.items():
        column = metric.period_column(context_for(metric))
        periods.setdefault(str(column), (column, []))[1].append(index)
    spread = source.uncredited is not None
    # A crew's facts are evaluated once per job, then spread over its credit (_spread): the group
    # key of a technician or a team is the credit's, known only after the spread.
    key = q.group_key(source, query.group_by)
    keyed_by_credit = spread and query.group_by in ("technician", "team")
    columns = [] if keyed_by_credit else [(key if key is not None else _int(0)).label("gk")]
    ranges = []
    within, split_where = _split_span(query, grid, source), []
    for slot, (column, _) in enumerate(periods.values()):
        bounds = q.boundaries(grid, column)
        bucket = _bucket(column, bounds, 0, len(grid))
        ranges.append(q.in_grid(column, grid, bounds))
        if within is not None and within != (0, len(grid)):
            split_where.append(and_(column >= bounds[within[0]], column < bounds[within[1]]))
        # With several period columns a row may be in range for one only: NULL bucket for the other.
        columns.append((case((ranges[-1], bucket), else_=null()) if len(periods) > 1 else bucket).label(f"p{slot}"))
    split: Any = null()
    if within is not None:
        # Split by category only where asked (the answer's own range, not its comparison windows).
        split = case((or_(*split_where), source.category), else_=null()) if split_where else source.category
    columns.insert(1, split.label("sk"))
    windowed = {}
    for index, metric in metrics.items():
        ctx = context_for(metric)
        columns += [metric.numerator(ctx).label(f"n{index}"), metric.denominator(ctx).label(f"d{index}")]
        still_open = open_outcome(metric, ctx, query.as_of)
        if still_open is not None:
            windowed[index] = True
            # 0: window closed (counted); 1: open but already final; 2: open and can still change.
            # Every open fact is left out, final ones too: counting the callbacks known so far while
            # leaving out the jobs not yet called back would bias the open month's rate down.
            unsettled = (
                _int(2)
                if metric.outcome_settled is None
                else case((metric.outcome_settled(ctx), _int(1)), else_=_int(2))
            )
            columns.append(case((still_open, unsettled), else_=_int(0)).label(f"o{index}"))
    rows = select(*columns).where(or_(*ranges), *q.fact_filters(source, query.filters, scope))
    if spread:
        weighted = {f"{part}{index}" for index in metrics for part in ("n", "d")}
        facts = _spread(rows, source, key if keyed_by_credit else None, weighted, number)
    else:
        facts = rows.select_from(source.from_clause).subquery(f"facts_{number}")
    buckets = [facts.c[f"p{slot}"] for slot in range(len(periods))]
    sums = [facts.c.gk, facts.c.sk, *buckets]
    for index in metrics:
        in_sample = facts.c[f"d{index}"] > _int(0)
        counted = and_(in_sample, facts.c[f"o{index}"] == _int(0)) if index in windowed else in_sample
        sums.append(func.sum(case((counted, facts.c[f"n{index}"]), else_=_int(0))).label(f"n{index}"))
        sums.append(func.sum(case((counted, facts.c[f"d{index}"]), else_=_int(0))).label(f"d{index}"))
        if index in windowed:
            share = facts.c.w if source.weight is not None else _int(1)
            pending = case((and_(in_sample, facts.c[f"o{index}"] == _int(2)), share), else_=_int(0))
            sums.append(func.sum(pending).label(f"o{index}"))
        else:
            sums.append(_int(0).label(f"o{index}"))
    pooled = select(*sums).group_by(facts.c.gk, facts.c.sk, *buckets).cte(f"sums_{number}")
    parts = []
    for slot, (_, members) in enumerate(periods.values()):
        per_period = pooled if len(periods) == 1 else _regroup(pooled, slot, members, f"sums_{number}_{slot}")
        parts += [
            select(
                per_period.c.gk,
                per_period.c.sk,
                per_period.c[f"p{slot}"].label("idx"),
                _int(i).label("kpi"),
                per_period.c[f"n{i}"].label("num"),
                per_period.c[f"d{i}"].label("den"),
                per_period.c[f"o{i}"].label("pend"),
            )
            for i in members
        ]
    return parts


def _spread(rows: Select[Any], source: q.FactSource, key: Any | None, weighted: set[str], number: int) -> Any:
    """Each job's facts (``rows`` over the jobs alone) joined to its credit, ``weighted`` times the weight.

    ``key`` is the credit's group column (a technician or a team), None where ``rows`` has its own.

    The facts are a MATERIALIZED CTE on SQLite, so every metric's expressions are evaluated once per
    job, not once per crew member: the ``share`` rule then costs about what ``lead`` does (issue #18,
    measured in bench/README.md). PostgreSQL inlines a CTE read once, so its plan is the join as before.
    """
    jobs, credit = q.tables()["jobs"], source.credit
    per_job = (
        rows.add_columns(jobs.c.id.label("job_id"))
        .select_from(source.uncredited)
        .cte(f"jobs_{number}")
        .prefix_with("MATERIALIZED", dialect="sqlite")
    )
    weight = source.weight
    columns = []
    for column in per_job.c:
        if column.key == "job_id":
            continue
        # A crew member's share of the job: numerator and denominator alike.
        value = column * weight if weight is not None and column.key in weighted else column
        columns.append(value.label(column.key))
    if key is not None:
        columns.insert(0, key.label("gk"))
    if weight is not None:
        columns.append(weight.label("w"))
    joined = per_job.join(credit, credit.c.job_id == per_job.c.job_id)
    return select(*columns).select_from(joined).subquery(f"facts_{number}")


def _regroup(pooled: Any, slot: int, members: list[int], name: str) -> Any:
    """Sums per (group, bucket of one period column) from sums per (group, every bucket column)."""
    bucket = pooled.c[f"p{slot}"]
    sums = [func.sum(pooled.c[f"{part}{i}"]).label(f"{part}{i}") for i in members for part in ("n", "d", "o")]
    keys = (pooled.c.gk, pooled.c.sk)
    return select(*keys, bucket, *sums).where(bucket.is_not(None)).group_by(*keys, bucket).cte(name)


def _split_span(query: q.KpiQuery, grid: PeriodGrid, source: q.FactSource) -> tuple[int, int] | None:
    """The boundary indexes of ``grid`` between which facts are split by category (None: nowhere)."""
    if query.split != "category" or source.category is None:
        return None
    if query.split_within is None:
        return 0, len(grid)
    low, high = max(query.split_within[0], grid.dates[0]), min(query.split_within[1], grid.dates[-1])
    if low >= high:
        return None
    return grid.dates.index(low), grid.dates.index(high)


def open_outcome(metric: Metric, ctx: Any, as_of: Any) -> Any | None:
    """The condition "this fact's outcome window is still open at ``as_of``" (None: no window applies)."""
    window = metric.outcome_window_of(ctx)
    if window is None or as_of is None:
        return None
    column = metric.period_column(ctx)
    cutoff = as_of - window
    if q.is_date_column(column):
        return column > literal(cutoff.date(), Date())
    return column > literal(cutoff, UTCDateTime())


def _bucket(column: Any, bounds: list[Any], low: int, high: int) -> Any:
    """The bucket index of ``column`` among buckets low..high-1 (a binary search in CASEs)."""
    if high - low == 1:
        return _int(low)
    middle = (low + high) // 2
    return case(
        (column < bounds[middle], _bucket(column, bounds, low, middle)), else_=_bucket(column, bounds, middle, high)
    )


def _int(value: int) -> Any:
    # An inline integer literal, not a parameter: PostgreSQL must know its type inside CASE and UNION.
    return literal_column(str(int(value)), Integer)


def _labelled(facts: Any, group_by: str) -> Select[Any]:
    t = q.tables()
    if group_by == "technician":
        technicians = t["technicians"]
        joined = facts.outerjoin(technicians, technicians.c.id == facts.c.gk)
        return select(facts, technicians.c.name.label("label"), technicians.c.team_id.label("team")).select_from(joined)
    if group_by == "team":
        teams = t["teams"]
        joined = facts.outerjoin(teams, teams.c.id == facts.c.gk)
        return select(facts, teams.c.name.label("label"), facts.c.gk.label("team")).select_from(joined)
    return select(facts)


def _sums_row(
    row: Any, at: dict[str, int], metrics: Sequence[Metric], group_by: str, grid: PeriodGrid, whole: str = "Company"
) -> GroupSums:
    gk = row[at["gk"]]
    if group_by == "technician":
        group_id, label = str(gk), row[at["label"]] or f"Technician {gk}"
    elif group_by == "team":
        group_id = q.NO_TEAM if gk is None else str(gk)
        label = "No team" if gk is None else row[at["label"]] or f"Team {gk}"
    elif group_by == "category":
        group_id, label = str(gk), str(gk)
    else:
        group_id, label = q.COMPANY, whole
    return GroupSums(
        metrics[row[at["kpi"]]].key,
        group_id,
        label,
        row[at["team"]] if "team" in at else None,
        grid.labels[row[at["idx"]]],
        float(row[at["num"]] or 0),
        float(row[at["den"]] or 0),
        float(row[at["pend"]] or 0),
        row[at["sk"]],
    )
