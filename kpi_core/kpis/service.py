"""KPI values as the API serves them: computed by the engine once, then answered from the cache.

The cache key names everything an answer depends on: the database, the query, the
principal's scope, the loaded plugins, the plugin settings and targets in
force, the company time zone, and the data versions of the months the range
covers (:mod:`kpi_core.storage.versions`). An import or an edit in a month
bumps its version in the same transaction, so the next request after the
commit misses and recomputes, in every process; answers for months nothing
touched stay cached. The answer is kept as the JSON the API sends, so a warm
request costs a few small queries for the key and no serialisation.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Container, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import UNSCOPED, Scope
from kpi_core.gc_tuning import fewer_collections
from kpi_core.kpis import crews, engine, honest, ranges, scorecards, segments, snapshots
from kpi_core.kpis import query as q
from kpi_core.kpis.cache import MemoryCache, ResultCache, lookup
from kpi_core.kpis.context import ContextFor, contexts_for
from kpi_core.kpis.definitions import resolve_metrics
from kpi_core.kpis.fingerprints import fingerprints
from kpi_core.kpis.periods import RANGE, PeriodGrid, next_period_start
from kpi_core.kpis.persisted import SHORT_LIVED
from kpi_core.plugins import PluginHost
from kpi_core.records import targets
from kpi_core.records.plugin_settings import grouped_by_plugin, setting_values
from kpi_core.storage import versions
from kpi_core.storage.models import Technician
from kpi_core.storage.types import utcnow

KEY_VERSION = 6  # 6: rows' fingerprint and closed; 5: data versions of months' edge days
"""Bump when the cached JSON's shape changes, so old entries are not read."""


@dataclass(frozen=True)
class Answer:
    """An answer as the API's JSON, and whether the cache had it.

    On a miss, ``months_computed`` of the ``months_total`` months the answer
    covers were computed from the facts; the others' sums came from the cache
    (:mod:`kpi_core.kpis.segments`), ``months_persisted`` of them from the sums
    persisted in the database (:mod:`kpi_core.kpis.persisted`). A hit computed
    and read none.
    """

    body: bytes
    cached: bool
    months_computed: int = 0
    months_total: int = 0
    months_persisted: int = 0
    start: date | None = None
    end: date | None = None
    """The range answered (local dates, end exclusive): a relative range as resolved."""
    etag: str = ""
    """A tag of everything the answer depends on (its cache key): equal tags, equal answers."""
    not_modified: bool = False
    """The caller already holds this answer (its tag was in ``if_none_match``): ``body`` is empty."""


class ValuesAnswer(Answer):
    """The values of one query as the API's JSON array."""

    def rows(self) -> list[q.KpiValue]:
        """The rows as :class:`~kpi_core.kpis.query.KpiValue` (the fields it has; see :mod:`~kpi_core.kpis.honest`
        for the others)."""
        return [
            q.KpiValue(
                **{
                    **{name: row[name] for name in VALUE_FIELDS},
                    "period_start": date.fromisoformat(row["period_start"]),
                }
            )
            for row in orjson.loads(self.body)
        ]

    def dicts(self) -> list[dict[str, Any]]:
        """The rows as the API sends them."""
        return orjson.loads(self.body)  # type: ignore[no-any-return]


def kpi_values(
    session: Session,
    plugins: PluginHost,
    query: q.KpiQuery,
    *,
    zone: ZoneInfo,
    scope: Scope = UNSCOPED,
    cache: ResultCache | None = None,
    ttl: int = 86400,
    honesty: honest.Honesty | None = None,
    if_none_match: Container[str] = (),
    sums: ResultCache | None = None,
) -> ValuesAnswer:
    """The values of ``query`` as ``scope`` may see them, from the cache when it has them, each row
    with the fields of :mod:`kpi_core.kpis.honest` (comparisons and adjustment as ``honesty`` asks).

    ``cache`` keeps whole answers; ``sums`` each month's sums (default: ``cache``; the API gives the
    tiered cache of :func:`kpi_core.kpis.persisted.sums_cache`, so they persist in the database).

    ``if_none_match``: tags of answers the caller holds; when this answer's is among them, nothing is
    read or computed (``not_modified``). Raises Invalid (422) for an unknown KPI or a bad range, as the
    engine does.
    """
    honesty = honesty or honest.Honesty()
    grid = q.validate_grid(query, zone)
    metrics = resolve_metrics(plugins, query.kpis)
    if honesty.adjust is not None:
        honest.check_adjustment(honesty.adjust, query.group_by, metrics, explicit=bool(query.kpis))
        query = replace(query, split="category", split_within=(query.start, query.end))
    settings = setting_values(session, plugins)
    query = replace(query, credit=crews.credit_rule(settings))
    in_force = targets.target_book(session, plugins)
    by_plugin = grouped_by_plugin(settings)
    context_for = contexts_for(plugins, by_plugin)
    prints = fingerprints(plugins, by_plugin, query.credit)
    now = honesty.now or utcnow()
    as_of = honest.judged_at(now)
    query = replace(query, as_of=as_of)
    longest = honest.longest_window(metric.outcome_window_of(context_for(metric)) for metric in metrics)
    shape: dict[str, Any] = {
        "period": query.period,
        "range": [query.start.isoformat(), query.end.isoformat()],
        "compare": list(honesty.compare),
        "unit": honesty.unit if query.period == RANGE else None,
        "min_sample": honesty.min_sample,
        "adjust": honesty.adjust,
        **_time_key(grid, now, as_of, longest, zone),
    }
    question = _question("values", query, metrics, **shape)
    closes = snapshots.latest_close_id(session)
    key = answer_key(session, plugins, question, zone, scope, settings, in_force, grid, closes=closes)
    months = len(segments.local_months(query.start, query.end))
    dates = {"start": query.start, "end": query.end, "etag": etag_of(key)}
    if dates["etag"] in if_none_match:
        return ValuesAnswer(b"", cached=True, months_total=months, not_modified=True, **dates)
    found = lookup(cache, key)
    if found is not None:
        return ValuesAnswer(found, cached=True, months_computed=0, months_total=months, **dates)
    windows = {kind: honest.bucket_windows(grid, kind, honesty.unit, honesty.week_start) for kind in honesty.compare}
    with fewer_collections():  # tens of thousands of sums, values and rows live until encoded
        fine = honest.fine_grid(grid, (window for listed in windows.values() for window in listed), zone)
        kpis = [metric.key for metric in metrics]
        closed = None
        if closes:
            closed = snapshots.closed_months(session, query, fine, zone=zone, scope=scope, prints=prints, kpis=kpis)
        sums = cache if sums is None else sums
        if sums is None and closed is not None:
            sums = MemoryCache()  # closed months stand in for the facts month by month, as in the cached path
        persisted = 0
        if sums is None:
            pieces = engine.fetch_sums(session, metrics, query, fine, scope, context_for)
            computed = total = len(segments.month_slices(fine, zone))
        else:
            pooled = segments.pooled_sums(
                session,
                metrics,
                query,
                fine,
                zone=zone,
                cache=sums,
                key_of=_slice_keys(session, plugins, query, metrics, zone, scope, settings, fine, longest),
                ttl=ttl,
                scope=scope,
                context_for=context_for,
                given=closed.sums() if closed is not None else None,
            )
            pieces, computed, total = pooled.sums, pooled.months_computed, pooled.months_total
            persisted = pooled.months_persisted
        fresh = None
        if closed is not None and closed.changed and sums is not None:
            fresh = _fresh_months(
                session, plugins, metrics, query, closed.changed, zone, scope, settings, sums, ttl, longest
            )
        rates = None
        if honesty.adjust is not None:
            rates = _category_rates(
                session, plugins, metrics, query, grid, pieces, zone, scope, settings, context_for, sums, ttl, longest
            )
        facts = History(prints, closed, fresh)
        body = _values_body(
            metrics, query, grid, pieces, windows, in_force, context_for, honesty, zone, now, rates, facts, fine=fine
        )
    if cache is not None:
        cache.set(key, body, ttl)
    return ValuesAnswer(
        body, cached=False, months_computed=computed, months_total=total, months_persisted=persisted, **dates
    )


@dataclass(frozen=True)
class History:
    """What a values answer tells of definitions and closed months: each KPI's fingerprint now, the closed
    months' snapshots (:mod:`kpi_core.kpis.snapshots`) and the sums of those that may be restated."""

    prints: dict[str, str]
    closed: snapshots.ClosedMonths | None = None
    fresh: dict[tuple[str, str, date], engine.GroupSums] | None = None


def _fresh_months(
    session: Session,
    plugins: PluginHost,
    metrics: list[Any],
    query: q.KpiQuery,
    months: list[date],
    zone: ZoneInfo,
    scope: Scope,
    settings: dict[str, Any],
    cache: ResultCache,
    ttl: int,
    longest: timedelta | None,
) -> dict[tuple[str, str, date], engine.GroupSums]:
    """The sums of closed ``months`` as the facts give them now, per (KPI, group, month), through the
    per-month cache (the month entries a monthly dashboard shares)."""
    context_for = contexts_for(plugins, grouped_by_plugin(settings))
    found = {}
    for month in months:
        grid = segments.month_grid(month, zone)
        asked = replace(query, start=month, end=grid.dates[-1])
        pooled = segments.pooled_sums(
            session, metrics, asked, grid, zone=zone, cache=cache, ttl=ttl, scope=scope, context_for=context_for,
            key_of=_slice_keys(session, plugins, asked, metrics, zone, scope, settings, grid, longest),
        )  # fmt: skip
        found.update({(row.kpi, row.group_id, row.period_start): row for row in pooled.sums})
    return found


def _category_rates(
    session: Session,
    plugins: PluginHost,
    metrics: Sequence[Any],
    query: q.KpiQuery,
    grid: PeriodGrid,
    pieces: Sequence[engine.GroupSums],
    zone: ZoneInfo,
    scope: Scope,
    settings: dict[str, Any],
    context_for: ContextFor,
    cache: ResultCache | None,
    ttl: int,
    longest: timedelta | None,
) -> honest.CategoryRates:
    """The company's rate per (KPI, bucket, category) over ``grid``: from the answer's own sums where they
    are the whole company's (a caller who sees all, no team or technician filter), else from the company's
    sums (all technicians, the category filter only), through the same per-month cache."""
    low, high = grid.dates[0], grid.dates[-1]
    if scope.sees_all and not query.filters.teams and not query.filters.technicians:
        # The pieces' buckets do not matter: rates are keyed by the grid's bucket of each piece.
        labels = {row.period_start for row in pieces if low <= row.period_start < high}
        bucket = {day: grid.labels[bisect.bisect_right(grid.dates, day) - 1] for day in labels}
        return honest.category_rates((row for row in pieces if row.period_start in bucket), bucket)
    company = replace(query, group_by="company", filters=q.Filters(categories=query.filters.categories))
    if cache is None:
        rows = engine.fetch_sums(session, metrics, company, grid, UNSCOPED, context_for)
    else:
        rows = segments.pooled_sums(
            session, metrics, company, grid, zone=zone, cache=cache, ttl=ttl, scope=UNSCOPED, context_for=context_for,
            key_of=_slice_keys(session, plugins, company, list(metrics), zone, UNSCOPED, settings, grid, longest),
        ).sums  # fmt: skip
    return honest.category_rates(rows)


def _time_key(
    grid: PeriodGrid, now: datetime, as_of: datetime, longest: timedelta | None, zone: ZoneInfo
) -> dict[str, str]:
    """What of the clock an answer over ``grid`` depends on: the hour while an outcome window may be
    open in it, the local day while its last bucket has not ended, else nothing (it is settled)."""
    end = grid.instants[-1]
    if longest is not None and end + longest > as_of:
        return {"as_of": as_of.isoformat()}
    if end > now:
        return {"today": ranges.local_today(now, zone).isoformat()}
    return {}


def _values_body(
    metrics: Sequence[Any],
    query: q.KpiQuery,
    grid: PeriodGrid,
    pieces: Sequence[engine.GroupSums],
    windows: dict[str, list[honest.Window]],
    in_force: targets.TargetBook,
    context_for: ContextFor,
    honesty: honest.Honesty,
    zone: ZoneInfo,
    now: datetime,
    rates: honest.CategoryRates | None = None,
    facts: History | None = None,
    *,
    fine: PeriodGrid | None = None,
) -> bytes:
    """The answer's JSON: the rows of ``grid`` pooled from the ``fine`` grid's ``pieces`` (in presentation
    order), each with its honest fields, comparisons and (with ``rates``) its expected value for its job mix."""
    # Nothing compared: the pieces are pooled on the answer's own buckets already.
    buckets = (grid.dates, grid.labels, grid.gaps)
    pieces_are_buckets = fine is not None and (fine.dates, fine.labels, fine.gaps) == buckets
    if pieces_are_buckets:
        split = list(pieces)
    else:
        low, high = grid.dates[0], grid.dates[-1]
        split = segments.pooled_rows([row for row in pieces if low <= row.period_start < high], grid)
    if rates is not None:
        sums = engine.presentation_order(segments.merged_categories(split), metrics)
    else:
        sums = split if pieces_are_buckets else engine.presentation_order(split, metrics)
    mix = honest.job_mix(split) if rates is not None else None
    by_key = {metric.key: metric for metric in metrics}
    minimum = {metric.key: metric.min_sample_of(context_for(metric), honesty.min_sample) for metric in metrics}
    lookup_target = engine.targets_lookup(in_force)
    found_targets: dict[tuple[str, int | None, date], Any] = {}

    def target_for(kpi: str, team_id: int | None, start: date) -> Any:  # one lookup per (KPI, team, bucket)
        key = (kpi, team_id, start)
        if key not in found_targets:
            found_targets[key] = lookup_target(kpi, team_id, start)
        return found_targets[key]

    spread = honest.Pieces(pieces) if windows else None
    ends = {label: grid.dates[index + 1] for index, label in enumerate(grid.labels)}
    prints = facts.prints if facts is not None else {}
    closed = facts.closed if facts is not None else None
    # A bucket is a closed month's when it is that whole month (a month, not a quarter starting with it).
    next_month = {month: next_period_start(month, "month") for month in (closed.closes if closed else ())}
    next_month = {
        month: end for month, end in next_month.items() if month in ends and grid.dates[grid.index_of(month)] == month
    }
    complete = {label: honest.is_complete(end, zone, now) for label, end in ends.items()}
    # Each row is built as the dict the API sends, without a KpiValue in between: an answer may have
    # hundreds of thousands of rows, and each object made per row costs more than its arithmetic.
    starts = {label: label.isoformat() for label in grid.labels}
    period_ends = {label: end.isoformat() for label, end in ends.items()}
    rows = []
    for row in sums:
        kpi, start = row.kpi, row.period_start
        metric = by_key[kpi]
        target = target_for(kpi, row.team_id, start)
        whole_closed = closed is not None and ends[start] == next_month.get(start)
        snapshot = closed.row(kpi, row.group_id, start) if whole_closed else None  # type: ignore[union-attr]
        # A closed month's row takes its status and certainty from its snapshot: not judged again here.
        judge = None if snapshot is not None else target
        value, low, high, status = engine.judged(metric, row.numerator, row.denominator, judge, minimum[kpi])
        fields = {
            "kpi": kpi, "group_id": row.group_id, "group_label": row.group_label, "period_start": starts[start],
            "value": value, "numerator": row.numerator, "denominator": row.denominator, "ci_low": low,
            "ci_high": high, "status": status,
        }  # fmt: skip
        honest.honest_fields(
            fields,
            row,
            period_end=period_ends[start],
            complete=complete[start],
            target=judge,
            direction=metric.direction,
            windows={kind: listed[grid.index_of(start)] for kind, listed in windows.items()} if windows else None,
            pieces=spread,
        )
        if rates is not None and mix is not None:
            judged = q.KpiValue(
                kpi, row.group_id, row.group_label, start, value, row.numerator, row.denominator, low, high
            )
            fields.update(honest.adjusted(judged, metric, mix.get((kpi, row.group_id, start)), rates))
        fields["fingerprint"], fields["closed"] = prints.get(kpi), False
        if snapshot is not None:
            snapshots.closed_fields(
                closed, metric, row, fields, fresh=facts.fresh if facts else None, min_sample=minimum[kpi],
                target=target, fingerprint=prints.get(kpi, ""), found=snapshot,
            )  # fmt: skip
        rows.append(fields)
    return orjson.dumps(rows)


def _slice_keys(
    session: Session,
    plugins: PluginHost,
    query: q.KpiQuery,
    metrics: list[Any],
    zone: ZoneInfo,
    scope: Scope,
    settings: dict[str, Any],
    grid: PeriodGrid,
    longest: timedelta | None = None,
) -> segments.SliceKey:
    """Keys of one month's pooled sums: as an answer's, but of that month's range and data only, and
    without targets (sums do not depend on them). While an outcome window (``longest``) may still be
    open in the month, its sums depend on the hour they are judged at (``query.as_of``) too."""
    known = dict(versions.current(session, versions_key_months(grid)))

    def key_of(month_grid: PeriodGrid) -> str:
        # The pieces, not the period, say what was summed: a month of a monthly dashboard and a month of a
        # year's scorecard window are one entry.
        shape: dict[str, Any] = {"pieces": [day.isoformat() for day in month_grid.dates]}
        if month_grid.gaps:
            shape["gaps"] = sorted(month_grid.gaps)
        as_of = query.as_of
        if as_of is not None and longest is not None and month_grid.instants[-1] + longest > as_of:
            shape["as_of"] = as_of.isoformat()
        if query.split is not None and query.split_within is not None:
            # What of the month is split by category: the part of it inside the answer's own range.
            low = max(query.split_within[0], month_grid.dates[0])
            high = min(query.split_within[1], month_grid.dates[-1])
            shape["split_within"] = [low.isoformat(), high.isoformat()] if low < high else None
        question = _question("month sums", query, metrics, **shape)
        key = answer_key(session, plugins, question, zone, scope, settings, None, month_grid, known=known)
        # Judged at an hour: asked for during that hour only, so the database keeps it for a few hours.
        return SHORT_LIVED + key if "as_of" in shape else key

    return key_of


VALUE_FIELDS = tuple(field.name for field in fields(q.KpiValue))


def _question(kind: str, query: q.KpiQuery, metrics: list[Any], **shape: Any) -> dict[str, Any]:
    """What a cached entry answers: the KPIs, grouping and filters of ``query`` and the ``shape`` asked."""
    return {
        "kind": kind,
        "kpis": [metric.key for metric in metrics],
        "group_by": query.group_by,
        "split": query.split,
        **shape,
        "filters": _filters_key(query.filters),
    }


def answer_key(
    session: Session,
    plugins: PluginHost,
    question: dict[str, Any],
    zone: ZoneInfo,
    scope: Scope,
    settings: dict[str, Any],
    in_force: targets.TargetBook | None,
    grid: PeriodGrid,
    *,
    known: dict[str, int] | None = None,
    closes: int | None = None,
) -> str:
    """The cache key of an answer to ``question`` over ``grid``: the question and all it depends on.

    ``known``: the data versions of (at least) the grid's months, read once by a caller that makes
    many keys; by default they are read now. ``closes``: the latest close of any month
    (:func:`kpi_core.kpis.snapshots.latest_close_id`), for answers that closed months change.
    """
    months = versions_key_months(grid)
    if known is None:
        data = versions.current(session, months)
    else:
        wanted = {*months, versions.EVERYTHING}
        data = tuple(sorted((month, version) for month, version in known.items() if month in wanted))
    parts = {
        "v": KEY_VERSION,
        # Two deployments may share one Redis: their answers must never meet.
        "database": session.get_bind().url.render_as_string(hide_password=True),
        "question": question,
        "zone": zone.key,
        "scope": _scope_key(scope),
        "plugins": sorted(f"{info.name}=={info.version}" for info in plugins.plugins.values()),
        "settings": {key: item.value for key, item in sorted(settings.items())},
        "targets": in_force.cache_key() if in_force is not None else [],
        "data": data,
    }
    if closes is not None:  # values answers: closing or re-closing any month changes what they give
        parts["closes"] = closes
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def etag_of(key: str) -> str:
    """The tag of the answer under ``key``: the key itself is a hash of all the answer depends on."""
    return key[:40]


def versions_key_months(grid: PeriodGrid) -> list[str]:
    """The months whose data versions an answer over ``grid`` depends on."""
    return segments.data_version_keys(grid)


def _filters_key(filters: q.Filters) -> list[list[Any]]:
    return [sorted(filters.teams), sorted(filters.technicians), sorted(filters.categories)]


def _scope_key(scope: Scope) -> list[Any]:
    principal = scope.principal
    if scope.sees_all or principal is None:
        return ["all"]
    if principal.role == "technician":
        return ["technician", principal.technician_id]
    return ["teams", sorted(principal.managed_team_ids)]


def scorecards_answer(
    session: Session,
    plugins: PluginHost,
    *,
    start: date,
    end: date,
    period: str,
    zone: ZoneInfo,
    scope: Scope = UNSCOPED,
    filters: q.Filters | None = None,
    kpis: Sequence[str] = (),
    min_sample: int = scorecards.DEFAULT_MIN_SAMPLE,
    cache: ResultCache | None = None,
    ttl: int = 86400,
    status_min_sample: int = scorecards.DEFAULT_STATUS_MIN_SAMPLE,
    now: datetime | None = None,
    adjust: str | None = None,
    if_none_match: Container[str] = (),
    sums: ResultCache | None = None,
) -> Answer:
    """The scorecards (:func:`kpi_core.kpis.scorecards.compute_scorecards`) as JSON, from the cache when
    it has them. They cover the previous window too, and list technicians: a technician added, renamed,
    moved or (de)activated changes the key. ``adjust`` is ``category`` (fair by job mix), ``none``, or
    None for what the admins' setting ``core.rank_by_job_mix`` says. ``sums`` keeps each month's sums, as
    in :func:`kpi_values`."""
    filters = filters or q.Filters()
    q.validate_grid(q.KpiQuery(start=start, end=end, period=period), zone)
    metrics = resolve_metrics(plugins, kpis)
    previous_start, previous_end = scorecards.previous_window(start, end, period)
    # Technicians over both windows, and teams over the current one (their values beside each KPI).
    months = len(segments.local_months(previous_start, previous_end)) + 2 * len(segments.local_months(start, end))
    settings = setting_values(session, plugins)
    adjusted = scorecard_adjustment(settings, adjust)
    in_force = targets.target_book(session, plugins)
    roster = session.execute(select(func.count(Technician.id), func.max(Technician.updated_at))).one()
    question = {
        "kind": "scorecards",
        "kpis": [metric.key for metric in metrics],
        "period": period,
        "range": [start.isoformat(), end.isoformat()],
        "filters": _filters_key(filters),
        "min_sample": min_sample,
        "status_min_sample": status_min_sample,
        "technicians": [roster[0], str(roster[1])],
        "adjust": adjusted,
    }
    window = scorecards.one_bucket(previous_start, end, period, zone)
    # Facts whose outcome window is open are pending, as in KPI values (judged at ``now``, to the hour).
    now = now or utcnow()
    as_of = honest.judged_at(now)
    context_for = contexts_for(plugins, grouped_by_plugin(settings))
    longest = honest.longest_window(metric.outcome_window_of(context_for(metric)) for metric in metrics)
    question.update(_time_key(window, now, as_of, longest, zone))
    key = answer_key(session, plugins, question, zone, scope, settings, in_force, window)
    tag = etag_of(key)
    if tag in if_none_match:
        return Answer(b"", cached=True, months_total=months, start=start, end=end, etag=tag, not_modified=True)
    found = lookup(cache, key)
    if found is not None:
        return Answer(found, cached=True, months_total=months, start=start, end=end, etag=tag)

    pooled: list[segments.PooledSums] = []
    sums_of = None
    sums = cache if sums is None else sums
    if sums is not None:
        # The whole company's sums, whoever asks: ranks among peers need them (scorecards.py).
        sums_of = _cached_sums(session, plugins, metrics, zone, UNSCOPED, settings, sums, ttl, pooled, longest)
    with fewer_collections():  # every technician's sums over a year and the year before
        result = scorecards.compute_scorecards(
            session,
            plugins,
            start=start,
            end=end,
            period=period,
            zone=zone,
            scope=scope,
            filters=filters,
            kpis=kpis,
            min_sample=min_sample,
            sums_of=sums_of,
            status_min_sample=status_min_sample,
            as_of=as_of,
            adjust=adjusted,
        )
        # Dates and instants as str() writes them (an instant with a space, as json's default=str did).
        body = orjson.dumps(result, default=str, option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS)
    if cache is not None:
        cache.set(key, body, ttl)
    if sums is None:
        return Answer(body, False, months, months, start=start, end=end, etag=tag)
    return Answer(
        body,
        cached=False,
        months_computed=sum(window.months_computed for window in pooled),
        months_total=sum(window.months_total for window in pooled),
        months_persisted=sum(window.months_persisted for window in pooled),
        start=start,
        end=end,
        etag=tag,
    )


def scorecard_adjustment(settings: dict[str, Any], asked: str | None) -> str | None:
    """The job-mix adjustment scorecards are ranked with: ``asked`` (``category`` or ``none``), or when
    nothing is asked what the admins' setting ``core.rank_by_job_mix`` says; None: as observed."""
    if asked is None:
        by_mix = settings.get(scorecards.RANK_BY_JOB_MIX)
        asked = "category" if by_mix is not None and by_mix.value else "none"
    return None if asked == "none" else asked


def _cached_sums(
    session: Session,
    plugins: PluginHost,
    metrics: list[Any],
    zone: ZoneInfo,
    scope: Scope,
    settings: dict[str, Any],
    cache: ResultCache,
    ttl: int,
    log: list[segments.PooledSums],
    longest: timedelta | None = None,
) -> scorecards.SumsOf:
    """Scorecard windows' sums month by month through the cache (shared with KPI values by technician);
    each window's :class:`~kpi_core.kpis.segments.PooledSums` is appended to ``log``."""

    def sums_of(query: q.KpiQuery, window: PeriodGrid, context_for: ContextFor) -> list[engine.GroupSums]:
        keys = _slice_keys(session, plugins, query, metrics, zone, scope, settings, window, longest)
        log.append(
            segments.pooled_sums(
                session, metrics, query, window, zone=zone, cache=cache, key_of=keys, ttl=ttl, scope=scope,
                context_for=context_for,
            )
        )  # fmt: skip
        return log[-1].sums

    return sums_of
