"""Scorecards: each technician's composite score (0-100) over a window, with rank and change.

How a score is made, in words (the API and the reports say the same):

1. Every KPI is computed for the technician over the whole window by the KPI
   engine, pooled (one numerator over one denominator, never a mean of
   monthly values).
2. A KPI's *points* (0-100) compare its value with the target that applies
   to the technician's team: 100 at or beyond green, 50 at amber, linear in
   between; beyond amber on the wrong side they fall towards 0 in proportion
   (half of amber gives 25 for a higher-is-better KPI).
3. The score is the weighted mean of the points of the KPIs that have a
   value on enough facts (not "insufficient", see 4), weighted by the
   targets' weights (a weight of 0 leaves a KPI out).
   A KPI's *contribution* is its share of that mean, so the contributions
   add up to the score.
4. Technicians with fewer completed jobs in the window than the minimum
   sample are listed with their score but not ranked, and say why. Ranks are
   competition ranks: equal scores share a rank, the next rank skips.
   ``rank`` is the rank among the technicians listed; ``peers`` gives the rank
   among the technician's team and among the whole company, with the number
   ranked in each, whoever asks (a technician sees their own row only, with
   these ranks, never their peers' rows). Each KPI is ranked the same way on
   its value (lower first for a lower-is-better KPI), but only where the
   KPI's own sample reaches its minimum (KPI_STATUS_MIN_SAMPLE, or the KPI's
   declared one): below it the KPI's status is "insufficient", uncoloured
   and unranked.
5. The change compares the score with the same technician's score over the
   window of equal length just before (the previous month for a month).
6. Beside each KPI: the target that applies (green and amber) and the value
   of the technician's team over the window. A technician is given their
   team's value only when at least three of the team's technicians have a
   value, so that it never tells them a colleague's.
7. Fair by job mix (``adjust=category``, or the admins' setting
   ``core.rank_by_job_mix``): a technician who does mostly hard jobs is not
   judged against one who does easy ones. Each rate KPI is also given the
   rate *expected* from the technician's mix of job categories (each job at
   the company's rate for its category over the window) and ``ratio`` =
   observed / expected; its *adjusted* value is that ratio times the
   company's rate. Points, colours, ranks and the change then use the
   adjusted value; the observed value stays beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import UNSCOPED, Scope
from kpi_core.declarations import Metric
from kpi_core.errors import Invalid
from kpi_core.kpis import crews, engine, honest, ranges, segments
from kpi_core.kpis import query as q
from kpi_core.kpis.context import ContextFor, stored_contexts
from kpi_core.kpis.definitions import resolve_metrics
from kpi_core.kpis.fingerprints import fingerprints_of
from kpi_core.kpis.periods import PeriodGrid, count_periods, local_midnight, period_floor
from kpi_core.kpis.standings import Peers, competition_ranks, group_ranks, peers_of
from kpi_core.kpis.stats import DEFAULT_STATUS_MIN_SAMPLE, INSUFFICIENT, status_of
from kpi_core.plugins import PluginHost
from kpi_core.records.plugin_settings import setting_values
from kpi_core.storage.models import Job, JobAssignment, Team, Technician

DEFAULT_MIN_SAMPLE = 10
RANK_BY_JOB_MIX = "core.rank_by_job_mix"
"""The host's setting (declared in :mod:`kpi_core.builtin`): scorecards fair by job mix unless asked otherwise."""
TEAM_VALUE_MIN_TECHNICIANS = 3
"""A technician is shown their team's value of a KPI only when this many of its technicians have one."""

SumsOf = Callable[[q.KpiQuery, PeriodGrid, ContextFor], list[engine.GroupSums]]
"""``sums_of(query, window, context_for)``: pooled sums of ``query`` over a one-bucket ``window``."""


@dataclass(frozen=True)
class Threshold:
    """The target that applies to a KPI: the green and amber thresholds."""

    green: float
    amber: float


@dataclass(frozen=True)
class Contribution:
    """One KPI in a technician's score, with the KPI's own ranks, the team's value and the target."""

    kpi: str
    label: str
    value: float | None
    status: str | None
    weight: float
    points: float | None
    contribution: float | None
    sample: float
    rank: int | None = None
    peers: Peers | None = None
    team_value: float | None = None
    target: Threshold | None = None
    expected: float | None = None
    ratio: float | None = None
    adjusted: float | None = None

    @property
    def judged(self) -> float | None:
        """The value points, colours and ranks are given on: adjusted for the job mix where it is."""
        return self.adjusted if self.adjusted is not None else self.value


@dataclass(frozen=True)
class TechnicianScore:
    technician_id: int
    technician: str
    team_id: int | None
    team: str | None
    score: float | None
    previous_score: float | None
    change: float | None
    rank: int | None
    sample: int
    unranked_reason: str | None
    contributions: tuple[Contribution, ...] = ()
    peers: Peers | None = None


@dataclass(frozen=True)
class ScorecardKpi:
    key: str
    label: str
    weight: float
    direction: str
    fingerprint: str = ""
    """The definition fingerprint the KPI's values were computed with (:mod:`kpi_core.kpis.fingerprints`)."""


@dataclass(frozen=True)
class Scorecards:
    start: date
    end: date
    period: str
    previous_start: date
    previous_end: date
    min_sample: int
    kpis: tuple[ScorecardKpi, ...]
    technicians: tuple[TechnicianScore, ...] = field(default_factory=tuple)
    adjust: str | None = None


def compute_scorecards(
    session: Session,
    plugins: PluginHost,
    *,
    start: date,
    end: date,
    period: str = "month",
    zone: ZoneInfo,
    scope: Scope = UNSCOPED,
    filters: q.Filters | None = None,
    kpis: Sequence[str] = (),
    min_sample: int = DEFAULT_MIN_SAMPLE,
    sums_of: SumsOf | None = None,
    status_min_sample: int = DEFAULT_STATUS_MIN_SAMPLE,
    as_of: datetime | None = None,
    adjust: str | None = None,
) -> Scorecards:
    """The scorecards of every technician ``scope`` may see (and ``filters`` keep) over local dates [start, end).

    Ranks among the team and the company are computed over every technician of the
    company (with the category filter only), so the sums asked for are always the
    whole company's. ``sums_of(query, window, context_for)`` gives the pooled sums of
    a window (by default one statement each: :func:`kpi_core.kpis.engine.fetch_sums`);
    the service passes one that reads months from the cache (:mod:`kpi_core.kpis.segments`).
    """
    filters = filters or q.Filters()
    q.validate_grid(q.KpiQuery(start=start, end=end, period=period), zone)
    if min_sample < 0:
        raise Invalid("min_sample", "must be 0 or more", location="query")
    if adjust is not None and adjust not in honest.ADJUSTMENTS:
        raise Invalid("adjust", f"must be one of {', '.join(honest.ADJUSTMENTS)}", location="query")
    metrics = resolve_metrics(plugins, kpis)
    previous_start, previous_end = previous_window(start, end, period)
    # A window is judged against the targets in force on its first day (the window before, on its own).
    stored = engine.stored_targets(session, plugins)

    def in_force_from(day: date) -> Any:
        return lambda metric_key, team_id: stored(metric_key, team_id, day)

    in_force, in_force_before = in_force_from(start), in_force_from(previous_start)
    context_for = stored_contexts(session, plugins)
    # A KPI's value on fewer facts than its minimum gets no colour and no rank ("insufficient").
    minimum = {metric.key: metric.min_sample_of(context_for(metric), status_min_sample) for metric in metrics}

    # Peers are every technician of the company: only the category filter narrows the facts.
    peer_filters = q.Filters(categories=filters.categories)
    credit = crews.stored_rule(session, plugins)

    by_key = {metric.key: metric for metric in metrics}

    def values(low: date, high: date, group_by: str = "technician") -> dict[tuple[str, str], Any]:
        """{(KPI, group): (sums, value, job-mix fields)} over [low, high); the fields only when adjusting."""
        window = one_bucket(low, high, period, zone)
        split = adjust is not None and group_by == "technician"
        query = q.KpiQuery(
            start=low, end=high, group_by=group_by, period=period, filters=peer_filters, as_of=as_of,
            split="category" if split else None, split_within=(low, high) if split else None, credit=credit,
        )  # fmt: skip
        if sums_of is None:
            sums = engine.fetch_sums(session, metrics, query, window, UNSCOPED, context_for)
        else:
            sums = sums_of(query, window, context_for)
        if not split:
            return {(row.kpi, row.group_id): (row, engine.value_of(by_key[row.kpi], row, None), None) for row in sums}
        return _adjusted_values(sums, by_key)

    current, previous = values(start, end), values(previous_start, previous_end)
    team_values = values(start, end, "team")
    samples = _completed_jobs(session, start, end, zone, UNSCOPED, peer_filters, credit)
    listed = {row[0] for row in _technicians(session, scope, filters, current)}
    rows = []
    for technician_id, name, team_id, team in _technicians(session, UNSCOPED, peer_filters, current):
        contributions = _contributions(metrics, current, str(technician_id), team_id, in_force, team_values, minimum)
        score = _score(contributions)
        before = _score(_contributions(metrics, previous, str(technician_id), team_id, in_force_before))
        sample = samples.get(technician_id, 0)
        reason = None
        if score is None:
            reason = "no KPI has a value in the period"
        elif sample < min_sample:
            reason = f"only {sample} completed job{'s' if sample != 1 else ''} in the period; {min_sample} needed"
        rows.append(
            TechnicianScore(
                technician_id=technician_id,
                technician=name,
                team_id=team_id,
                team=team,
                score=score,
                previous_score=before,
                change=None if score is None or before is None else round(score - before, 2),
                rank=None,
                sample=sample,
                unranked_reason=reason,
                contributions=tuple(_with_shares(contributions)),
            )
        )
    return Scorecards(
        start=start,
        end=end,
        period=period,
        previous_start=previous_start,
        previous_end=previous_end,
        min_sample=min_sample,
        kpis=tuple(_kpis(metrics, in_force, fingerprints_of(plugins, setting_values(session, plugins)))),
        technicians=tuple(_ranked(_standings(rows, metrics, listed, min_sample, _technician_view(scope)))),
        adjust=adjust,
    )


def _adjusted_values(sums: Sequence[engine.GroupSums], by_key: dict[str, Metric]) -> dict[tuple[str, str], Any]:
    """Values per (KPI, technician) from ``sums`` split by category, each rate with its job-mix fields.

    The sums are every technician's of the company (peers), so the rate per category over all of them
    is the company's (:func:`kpi_core.kpis.honest.category_rates`)."""
    rates = honest.category_rates(sums)
    mix = honest.job_mix(sums)
    company: dict[str, list[float]] = {}
    for row in sums:
        total = company.setdefault(row.kpi, [0.0, 0.0])
        total[0] += row.numerator
        total[1] += row.denominator
    found = {}
    for row in segments.merged_categories(sums):
        metric = by_key[row.kpi]
        value = engine.value_of(metric, row, None)
        fields = honest.adjusted(value, metric, mix.get((row.kpi, row.group_id, row.period_start)), rates)
        numerator, denominator = company[row.kpi]
        ratio = fields["ratio"]
        fields["adjusted"] = ratio * numerator / denominator if ratio is not None and denominator > 0 else None
        found[(row.kpi, row.group_id)] = (row, value, fields)
    return found


def points_of(value: float | None, target: Any, direction: str) -> float | None:
    """0-100 for ``value`` against ``target``: 100 at green or better, 50 at amber, linear between."""
    if value is None or target is None:
        return None
    green, amber = target.green, target.amber
    if direction == "lower":
        # Mirror lower-is-better onto higher-is-better: compare how far below each threshold.
        if value <= green:
            return 100.0
        if value <= amber:
            return 50.0 + 50.0 * (amber - value) / (amber - green)
        return 50.0 * amber / value if amber > 0 else 0.0
    if value >= green:
        return 100.0
    if value >= amber:
        return 50.0 + 50.0 * (value - amber) / (green - amber)
    return max(0.0, 50.0 * value / amber) if amber > 0 else 0.0


def previous_window(start: date, end: date, period: str) -> tuple[date, date]:
    """The window of equal length just before [start, end): whole periods back when the range is
    made of whole periods (May for June), the same elapsed part of the period before when it lies
    within one period (1-4 November for 1-4 December), else the same number of days."""
    aligned = period_floor(start, period) == start and period_floor(end, period) == end
    if not aligned:
        # A period not over (month to date): the same elapsed part of the one before (1-4 Dec: 1-4 Nov).
        return ranges.previous_window(start, end, period) or (start - (end - start), start)
    count = count_periods(start, end - timedelta(days=1), period)
    if period in ("day", "week"):
        days = count * (7 if period == "week" else 1)
        return start - timedelta(days=days), start
    months = count * {"month": 1, "quarter": 3, "year": 12}[period]
    index = start.year * 12 + start.month - 1 - months
    return date(index // 12, index % 12 + 1, 1), start


def one_bucket(start: date, end: date, period: str, zone: ZoneInfo) -> PeriodGrid:
    return PeriodGrid(
        period=period,
        labels=(start,),
        dates=(start, end),
        instants=(local_midnight(start, zone), local_midnight(end, zone)),
    )


def _contributions(
    metrics: Sequence[Metric],
    values: dict[tuple[str, str], Any],
    group_id: str,
    team_id: int | None,
    in_force: Any,
    team_values: dict[tuple[str, str], Any] | None = None,
    minimum: dict[str, int] | None = None,
) -> list[Contribution]:
    items = []
    for metric in metrics:
        target = in_force(metric.key, team_id)
        found = values.get((metric.key, group_id))
        value = found[1].value if found else None
        sample = found[0].denominator if found else 0.0
        mix = (found[2] if found else None) or {}
        adjusted = mix.get("adjusted")
        judged = adjusted if adjusted is not None else value
        status = status_of(judged, target, metric.direction)
        if minimum is not None and value is not None and sample < minimum.get(metric.key, 0):
            status = INSUFFICIENT
        weight = float(target.weight) if target is not None else 0.0
        # Too few facts to colour a value are too few to score it: it is left out of the score too.
        points = None if status == INSUFFICIENT else points_of(judged, target, metric.direction)
        team_found = (team_values or {}).get((metric.key, str(team_id))) if team_id is not None else None
        items.append(
            Contribution(
                metric.key,
                metric.label,
                value,
                status,
                weight,
                points,
                None,
                sample,
                team_value=team_found[1].value if team_found else None,
                target=Threshold(float(target.green), float(target.amber)) if target is not None else None,
                expected=mix.get("expected"),
                ratio=mix.get("ratio"),
                adjusted=adjusted,
            )
        )
    return items


def _technician_view(scope: Scope) -> bool:
    principal = scope.principal
    return principal is not None and principal.role == "technician"


def _standings(
    rows: Sequence[TechnicianScore], metrics: Sequence[Metric], listed: set[int], min_sample: int, technician: bool
) -> list[TechnicianScore]:
    """The ``listed`` rows with their ranks among peers (team and company) by score and by each KPI;
    for a ``technician`` caller, team values only where enough of the team have one."""
    team_of = {row.technician_id: row.team_id for row in rows}
    by_score = {row.technician_id: row.score for row in rows if row.unranked_reason is None}
    score_ranks = group_ranks(by_score, team_of)  # type: ignore[arg-type]
    kpi_ranks, kpi_listed, valued = {}, {}, {}
    for metric in metrics:
        higher = metric.direction != "lower"
        eligible = {
            row.technician_id: part.judged
            for row in rows
            for part in row.contributions
            if part.kpi == metric.key
            and part.judged is not None
            and row.sample >= min_sample
            and part.status != INSUFFICIENT
        }
        kpi_ranks[metric.key] = group_ranks(eligible, team_of, higher_first=higher)
        kpi_listed[metric.key] = competition_ranks(
            [(k, v) for k, v in eligible.items() if k in listed], higher_first=higher
        )
        valued[metric.key] = {}
        for row in rows:
            part = next(item for item in row.contributions if item.kpi == metric.key)
            if row.team_id is not None and part.value is not None:
                valued[metric.key][row.team_id] = valued[metric.key].get(row.team_id, 0) + 1
    shown = []
    for row in rows:
        if row.technician_id not in listed:
            continue
        key = row.technician_id
        parts = []
        for part in row.contributions:
            team_value = part.team_value
            if technician and valued[part.kpi].get(row.team_id, 0) < TEAM_VALUE_MIN_TECHNICIANS:  # type: ignore[arg-type]
                team_value = None
            parts.append(
                replace(
                    part,
                    rank=kpi_listed[part.kpi].get(key),
                    peers=peers_of(key, team_of, kpi_ranks[part.kpi]),
                    team_value=team_value,
                )
            )
        shown.append(replace(row, contributions=tuple(parts), peers=peers_of(key, team_of, score_ranks)))
    return shown


def _score(contributions: Sequence[Contribution]) -> float | None:
    counted = [item for item in contributions if item.points is not None and item.weight > 0]
    total = sum(item.weight for item in counted)
    if not counted or total <= 0:
        return None
    return round(sum(item.weight * item.points for item in counted) / total, 2)  # type: ignore[operator]


def _with_shares(contributions: Sequence[Contribution]) -> list[Contribution]:
    counted = [item for item in contributions if item.points is not None and item.weight > 0]
    total = sum(item.weight for item in counted)
    shared = []
    for item in contributions:
        share = None
        if item in counted and total > 0:
            share = round(item.weight * item.points / total, 2)  # type: ignore[operator]
        shared.append(Contribution(**{**item.__dict__, "contribution": share}))
    return shared


def _ranked(rows: list[TechnicianScore]) -> list[TechnicianScore]:
    """Ranked first (by score, then name), unranked after (by name); equal scores share a rank."""
    ranked = sorted((row for row in rows if row.unranked_reason is None), key=lambda r: (-r.score, r.technician))  # type: ignore[operator]
    unranked = sorted((row for row in rows if row.unranked_reason is not None), key=lambda r: r.technician)
    result, rank, previous = [], 0, None
    for position, row in enumerate(ranked, start=1):
        if row.score != previous:
            rank, previous = position, row.score
        result.append(TechnicianScore(**{**row.__dict__, "rank": rank}))
    return result + unranked


def _kpis(metrics: Sequence[Metric], in_force: Any, prints: dict[str, str]) -> list[ScorecardKpi]:
    kpis = []
    for metric in metrics:
        target = in_force(metric.key, None)
        weight = float(target.weight) if target else 0.0
        kpis.append(ScorecardKpi(metric.key, metric.label, weight, metric.direction, prints.get(metric.key, "")))
    return kpis


def _technicians(
    session: Session, scope: Scope, filters: q.Filters, values: dict[tuple[str, str], Any]
) -> list[tuple[int, str, int | None, str | None]]:
    """Visible technicians: the active ones, and inactive ones that have values in the window."""
    with_values = {int(group_id) for _, group_id in values}
    statement = (
        select(Technician.id, Technician.name, Technician.team_id, Team.name)
        .outerjoin(Team, Team.id == Technician.team_id)
        .where(
            scope.technicians(Technician.id, Technician.team_id),
            or_(Technician.active.is_(True), Technician.id.in_(with_values or {0})),
        )
    )
    if filters.technicians:
        statement = statement.where(Technician.id.in_(filters.technicians))
    if filters.teams:
        statement = statement.where(Technician.team_id.in_(filters.teams))
    return [tuple(row) for row in session.execute(statement.order_by(Technician.name, Technician.id))]  # type: ignore[misc]


def _completed_jobs(
    session: Session, start: date, end: date, zone: ZoneInfo, scope: Scope, filters: q.Filters, credit: str = "lead"
) -> dict[int, int]:
    """Completed jobs per technician in the window: the sample a rank needs (a crew's jobs count for
    every member, unless only leads are credited)."""
    low, high = local_midnight(start, zone), local_midnight(end, zone)
    worker = Job.technician_id if credit == "lead" else JobAssignment.technician_id
    statement = select(worker, func.count()).select_from(Job)
    if credit != "lead":
        statement = statement.join(JobAssignment, JobAssignment.job_id == Job.id)
    statement = (
        statement.join(Technician, Technician.id == worker)
        .where(
            Job.status == "completed",
            Job.completed_at >= low,
            Job.completed_at < high,
            scope.technicians(worker, Technician.team_id),
        )
        .group_by(worker)
    )
    if filters.categories:
        statement = statement.where(Job.category.in_(filters.categories))
    return {technician_id: count for technician_id, count in session.execute(statement)}
