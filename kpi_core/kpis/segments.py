"""Pooled KPI sums kept per calendar month, so a change to one month recomputes that month only.

A query's buckets are cut at the company's local month boundaries into
*pieces* (a week that straddles two months is two pieces, a quarter three, a
scorecard's year-long window twelve). The pooled sums of the pieces of one
month are one cache entry, under a key the caller makes from that month's
pieces (the service keys it like an answer: the question, scope, plugins,
settings and the data versions of that month only; targets are left out, as
sums do not depend on them). So after an import in the open month, a year's
dashboard query recomputes that month and reads the closed ones, instead of
scanning the whole year again.

Missing months are computed in one statement (the engine's statement over a
grid of pieces), or in one per connection where several scan them at once
(:mod:`kpi_core.kpis.scans`), and the buckets are
pooled again from their pieces: numerators and denominators add, and values,
intervals and statuses are derived from the pooled sums afterwards, exactly
as from one scan. A bucket has a row when any of its pieces has one.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy.orm import Session

from kpi_core.accounts.scope import UNSCOPED, Scope
from kpi_core.declarations import Metric
from kpi_core.kpis import engine, scans
from kpi_core.kpis import query as q
from kpi_core.kpis.cache import ResultCache, lookup_from
from kpi_core.kpis.context import ContextFor, default_contexts
from kpi_core.kpis.periods import PeriodGrid, local_midnight, next_period_start, period_floor
from kpi_core.storage import versions

SliceKey = Callable[[PeriodGrid], str]
"""``key_of(month_grid)``: the cache key of one month's sums, from the grid of that month's pieces."""


@dataclass(frozen=True)
class MonthSlice:
    """The query's buckets clipped to one local calendar month: its *pieces*, each labelled by its first day."""

    month: date
    grid: PeriodGrid


@dataclass(frozen=True)
class PooledSums:
    """Sums per (KPI, group, bucket) in presentation order, how many months had to be computed, and how
    many were read from the sums persisted in the database (:mod:`kpi_core.kpis.persisted`)."""

    sums: list[engine.GroupSums]
    months_computed: int
    months_total: int
    months_persisted: int = 0


def month_slices(grid: PeriodGrid, zone: ZoneInfo) -> list[MonthSlice]:
    """One slice per local month that the grid's range touches: its buckets cut at the month's bounds."""
    start, end = grid.dates[0], grid.dates[-1]
    instant_of = dict(zip(grid.dates, grid.instants, strict=True))
    slices = []
    for month in local_months(start, end):
        low, high = max(start, month), min(end, next_period_start(month, "month"))
        days = (low, *(day for day in grid.dates if low < day < high), high)
        # A piece is not asked for where the grid's bucket around it is not.
        gaps = frozenset(
            index for index, day in enumerate(days[:-1]) if bisect.bisect_right(grid.dates, day) - 1 in grid.gaps
        )
        if len(gaps) == len(days) - 1:
            continue
        # Only a month's bounds can be new cut points: the grid has the others' instants already.
        instants = tuple(instant_of[day] if day in instant_of else local_midnight(day, zone) for day in days)
        piece_grid = PeriodGrid(grid.period, labels=days[:-1], dates=days, instants=instants, gaps=gaps)
        slices.append(MonthSlice(month, piece_grid))
    return slices


def local_months(start: date, end: date) -> list[date]:
    """The first days of the calendar months that local dates [start, end) touch."""
    months, month = [], period_floor(start, "month")
    while month < end:
        months.append(month)
        month = next_period_start(month, "month")
    return months


def pooled_sums(
    session: Session,
    metrics: Sequence[Metric],
    query: q.KpiQuery,
    grid: PeriodGrid,
    *,
    zone: ZoneInfo,
    cache: ResultCache,
    key_of: SliceKey,
    ttl: int,
    scope: Scope = UNSCOPED,
    context_for: ContextFor = default_contexts,
    given: Mapping[date, Sequence[engine.GroupSums]] | None = None,
) -> PooledSums:
    """The sums of ``query`` over ``grid``, each month's read from ``cache`` or computed and kept there.

    ``key_of(month_grid)`` names one month's entry; it must tell apart everything the sums depend on
    besides the month's pieces (``month_grid.dates``): KPIs, grouping, filters, scope, data.
    ``given``: the sums of whole months known already (a closed month's snapshot, by its first day),
    used as they are where the month is a whole piece of ``grid``: neither read nor computed.
    """
    slices = month_slices(grid, zone)
    given = given or {}
    keys: list[str | None] = []
    found: list[list[engine.GroupSums] | None] = []
    persisted = 0
    for piece in slices:
        if piece.month in given and _is_whole(piece):
            keys.append(None)
            found.append(list(given[piece.month]))
            continue
        keys.append(key_of(piece.grid))
        body, tier = lookup_from(cache, keys[-1])
        found.append(_decode(body) if body is not None else None)
        persisted += tier == "persisted"
    # Missing months in one statement per connection that scans them (months apart are joined by pieces
    # not asked for): on several connections at once where the session allows (scans.split_scan).
    missing = [index for run in _missing_runs(found) for index in run]
    if missing:

        def compute(on: Session, part: Sequence[MonthSlice]) -> list[list[engine.GroupSums]]:
            return _computed(on, metrics, query, part, scope, context_for)

        computed_rows = [
            rows for part in scans.split_scan(session, [slices[i] for i in missing], compute) for rows in part
        ]
        for index, rows in enumerate(computed_rows):
            found[missing[index]] = rows
            key = keys[missing[index]]
            if key is not None:
                cache.set(key, _encode(rows), ttl)
    computed = len(missing)
    listed = [row for month in found for row in month or ()]
    # Where no month bound cut a bucket (a monthly grid) and each bucket is labelled by its first day (not a
    # range starting mid-month, whose first bucket is labelled by the month), each piece is a bucket as it is.
    cuts = set(grid.dates)
    whole = grid.labels == grid.dates[:-1] and all(day in cuts for piece in slices for day in piece.grid.dates)
    pooled = listed if whole else pooled_rows(listed, grid)
    return PooledSums(engine.presentation_order(pooled, metrics), computed, len(slices), persisted)


def data_version_keys(grid: PeriodGrid) -> list[str]:
    """The data versions (:mod:`kpi_core.storage.versions`) sums over ``grid`` depend on."""
    # Timestamps are placed by UTC instant, DATE columns by local date: both spans count. Of a UTC month
    # that a local month only overlaps by hours, the edge day's counter (versions.instant_keys).
    instants = versions.instant_keys(grid.instants[0], grid.instants[-1])
    return sorted({*instants, *versions.months_between(grid.dates[0], grid.dates[-1])})


def month_grid(month: date, zone: ZoneInfo) -> PeriodGrid:
    """The one bucket of the local calendar month beginning on ``month``."""
    following = next_period_start(month, "month")
    return PeriodGrid(
        "month", (month,), (month, following), (local_midnight(month, zone), local_midnight(following, zone))
    )


def whole_months(grid: PeriodGrid, zone: ZoneInfo) -> list[date]:
    """The local calendar months that are whole pieces of ``grid`` (asked for, not cut by a bucket)."""
    return [piece.month for piece in month_slices(grid, zone) if _is_whole(piece)]


def _is_whole(piece: MonthSlice) -> bool:
    return piece.grid.dates == (piece.month, next_period_start(piece.month, "month")) and not piece.grid.gaps


def _missing_runs(found: Sequence[object | None]) -> list[list[int]]:
    """Indexes of missing months, in runs of consecutive ones."""
    runs: list[list[int]] = []
    for index, rows in enumerate(found):
        if rows is not None:
            continue
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


def _computed(
    session: Session,
    metrics: Sequence[Metric],
    query: q.KpiQuery,
    slices: Sequence[MonthSlice],
    scope: Scope,
    context_for: ContextFor,
) -> list[list[engine.GroupSums]]:
    """Sums per piece of months (in order), in one statement; the rows of each slice, in their order.

    Where one slice ends before the next begins, the days between are a piece not asked for."""
    dates, instants, gaps = [slices[0].grid.dates[0]], [slices[0].grid.instants[0]], set()
    for piece in slices:
        if piece.grid.dates[0] != dates[-1]:
            gaps.add(len(dates) - 1)
            dates.append(piece.grid.dates[0])
            instants.append(piece.grid.instants[0])
        gaps.update(len(dates) - 1 + index for index in piece.grid.gaps)
        dates += piece.grid.dates[1:]
        instants += piece.grid.instants[1:]
    pieces = PeriodGrid(
        slices[0].grid.period, labels=tuple(dates[:-1]), dates=tuple(dates), instants=tuple(instants),
        gaps=frozenset(gaps),
    )  # fmt: skip
    span = replace(query, start=dates[0], end=dates[-1])
    months = [piece.month for piece in slices]
    by_slice: list[list[engine.GroupSums]] = [[] for _ in slices]
    for row in engine.fetch_sums(session, metrics, span, pieces, scope, context_for):
        by_slice[months.index(period_floor(row.period_start, "month"))].append(row)
    return by_slice


def pooled_rows(rows: Sequence[engine.GroupSums], grid: PeriodGrid) -> list[engine.GroupSums]:
    """Rows of pieces (labelled by their first day) summed into the buckets of ``grid``."""
    # [first row, bucket label, numerator, denominator, pieces, pending]: GroupSums are made once per bucket.
    pooled: dict[tuple[str, str, str | None, date], list[Any]] = {}
    labels: dict[date, date] = {}  # a piece's bucket, looked up once per piece
    for row in rows:
        label = labels.get(row.period_start)
        if label is None:
            label = labels[row.period_start] = grid.labels[bisect.bisect_right(grid.dates, row.period_start) - 1]
        key = (row.kpi, row.group_id, row.category, label)
        found = pooled.get(key)
        if found is None:
            pooled[key] = [row, label, row.numerator, row.denominator, 1, row.pending]
        else:
            found[2] += row.numerator
            found[3] += row.denominator
            found[4] += 1
            found[5] += row.pending
    return [
        row  # most buckets are one piece: the row as it is
        if pieces == 1 and label == row.period_start
        else engine.GroupSums(
            row.kpi, row.group_id, row.group_label, row.team_id, label, numerator, denominator, pending, row.category
        )
        for row, label, numerator, denominator, pieces, pending in pooled.values()
    ]


def merged_categories(rows: Sequence[engine.GroupSums]) -> list[engine.GroupSums]:
    """Rows split by category added up per (KPI, group, period), in the order of their first row."""
    merged: dict[tuple[str, str, date], list[Any]] = {}
    for row in rows:
        key = (row.kpi, row.group_id, row.period_start)
        found = merged.get(key)
        if found is None:
            merged[key] = [row, row.numerator, row.denominator, row.pending]
        else:
            found[1] += row.numerator
            found[2] += row.denominator
            found[3] += row.pending
    return [
        replace(row, numerator=numerator, denominator=denominator, pending=pending, category=None)
        for row, numerator, denominator, pending in merged.values()
    ]


def _encode(rows: Sequence[engine.GroupSums]) -> bytes:
    items = [
        [row.kpi, row.group_id, row.group_label, row.team_id, row.period_start.isoformat(), row.numerator,
         row.denominator, row.pending, row.category]
        for row in rows
    ]  # fmt: skip
    return orjson.dumps(items)


def _decode(body: bytes) -> list[engine.GroupSums]:
    return [
        engine.GroupSums(
            kpi, group_id, label, team_id, date.fromisoformat(start), numerator, denominator, pending, category
        )
        for kpi, group_id, label, team_id, start, numerator, denominator, pending, category in orjson.loads(body)
    ]
