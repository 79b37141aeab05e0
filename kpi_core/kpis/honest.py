"""What each KPI row says about how far it can be trusted, besides its value.

- ``period_end`` and ``complete``: the bucket's end (exclusive local date)
  and whether it has ended in the company time zone.
- ``provisional`` and ``pending``: facts whose outcome window
  (``Metric.outcome_window``) is still open are left out of the value and
  counted as pending; a value with any pending is provisional.
- ``status``: ``insufficient`` below the KPI's minimum sample, and
  ``certain``: whether the 95 % interval of a rate lies wholly inside the band
  of its status (None for means, which have no interval, and without a status).
- ``expected`` / ``ratio`` (``adjust=category``, rates by technician or
  team): the rate the group would have if each of its jobs had the
  company's rate for its category over the same period (indirect
  standardisation: the sum over categories of the group's jobs in the
  category times the company's rate there, over the group's jobs), and
  observed / expected with a 95 % interval (the Wilson interval of the
  observed rate over the expected rate).
- ``previous`` / ``year_ago``: the sums over the comparison windows of
  :mod:`kpi_core.kpis.ranges`, computed from the same per-month pooled sums as
  the value (:func:`fine_grid` cuts one grid at every window's bounds, with
  the days no window covers left out).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kpi_core.errors import Invalid
from kpi_core.kpis import engine
from kpi_core.kpis.periods import RANGE, PeriodGrid, local_midnight
from kpi_core.kpis.ranges import comparison_window
from kpi_core.kpis.stats import DEFAULT_STATUS_MIN_SAMPLE, INSUFFICIENT

Window = tuple[date, date] | None


@dataclass(frozen=True)
class Honesty:
    """How a values answer judges its rows: comparisons, the clock, minimum samples, job-mix adjustment.

    ``unit`` is the calendar unit of a ``period=range`` bucket (month for
    ``month_to_date``; None: compared by length); ``now`` the instant the
    answer is made at (None: the real clock).
    """

    compare: tuple[str, ...] = ()
    unit: str | None = None
    week_start: int = 0
    now: datetime | None = None
    min_sample: int = DEFAULT_STATUS_MIN_SAMPLE
    adjust: str | None = None


def bucket_windows(grid: PeriodGrid, kind: str, unit: str | None, week_start: int) -> list[Window]:
    """The ``kind`` comparison window of each bucket of ``grid``."""
    if grid.period == RANGE:
        return [comparison_window(kind, grid.dates[0], grid.dates[1], unit, week_start)]
    # Calendar buckets are compared within their own period (ISO weeks for week).
    return [
        comparison_window(kind, grid.dates[index], grid.dates[index + 1], grid.period) for index in range(len(grid))
    ]


def fine_grid(grid: PeriodGrid, windows: Iterable[Window], zone: ZoneInfo) -> PeriodGrid:
    """One grid cut at the bounds of ``grid``'s buckets and of every window, the days in none left out."""
    spans = [(grid.dates[0], grid.dates[-1]), *(window for window in windows if window is not None)]
    cuts = sorted({*grid.dates, *(day for span in spans for day in span)})
    instant_of = dict(zip(grid.dates, grid.instants, strict=True))
    gaps = frozenset(
        index
        for index in range(len(cuts) - 1)
        if not any(low <= cuts[index] and cuts[index + 1] <= high for low, high in spans)
    )
    return PeriodGrid(
        grid.period,
        labels=tuple(cuts[:-1]),
        dates=tuple(cuts),
        instants=tuple(instant_of.get(day) or local_midnight(day, zone) for day in cuts),
        gaps=gaps,
    )


class Pieces:
    """Sums per (KPI, group) and piece of a fine grid, added up over any window."""

    def __init__(self, rows: Sequence[engine.GroupSums]) -> None:
        self.by_group: dict[tuple[str, str], list[engine.GroupSums]] = {}
        for row in rows:
            self.by_group.setdefault((row.kpi, row.group_id), []).append(row)
        self.starts: dict[tuple[str, str], list[date]] = {}
        for key, items in self.by_group.items():
            items.sort(key=lambda row: row.period_start)
            self.starts[key] = [row.period_start for row in items]

    def within(self, low: date, high: date) -> list[engine.GroupSums]:
        """The rows of pieces starting in [low, high)."""
        return [row for items in self.by_group.values() for row in items if low <= row.period_start < high]

    def total(self, kpi: str, group_id: str, window: tuple[date, date]) -> tuple[float, float, float] | None:
        """(numerator, denominator, pending) of the group's pieces in ``window`` (None: no facts there)."""
        starts = self.starts.get((kpi, group_id))
        if not starts:
            return None
        items = self.by_group[(kpi, group_id)]
        low, high = bisect.bisect_left(starts, window[0]), bisect.bisect_left(starts, window[1])
        if low == high:
            return None
        chosen = items[low:high]
        return (
            sum(row.numerator for row in chosen),
            sum(row.denominator for row in chosen),
            sum(row.pending for row in chosen),
        )


def comparison(value: float | None, found: tuple[float, float, float] | None) -> dict[str, Any]:
    """A ``previous``/``year_ago`` object: the window's value, numerator, denominator, and the change
    (value minus the window's value, None where either is missing)."""
    numerator, denominator = (found[0], found[1]) if found else (0.0, 0.0)
    before = numerator / denominator if denominator > 0 else None
    change = None if value is None or before is None else value - before
    return {"value": before, "numerator": numerator, "denominator": denominator, "change": change}


def certain_of(status: str | None, low: float | None, high: float | None, target: Any, direction: str) -> bool | None:
    """Whether the interval [low, high] lies wholly inside the band of ``status`` (None without one)."""
    if status in (None, INSUFFICIENT) or low is None or high is None or target is None:
        return None
    green, amber = float(target.green), float(target.amber)
    if direction == "higher":
        bands = {"green": (green, None), "amber": (amber, green), "red": (None, amber)}
        floor, ceiling = bands[status]
        return (floor is None or low >= floor) and (ceiling is None or high < ceiling)
    # Lower is better: green at or below green, amber above green up to amber, red above amber.
    bands = {"green": (None, green), "amber": (green, amber), "red": (amber, None)}
    floor, ceiling = bands[status]
    return (floor is None or low > floor) and (ceiling is None or high <= ceiling)


def bucket_end(grid: PeriodGrid, label: date) -> date:
    """The exclusive end of the bucket labelled ``label``."""
    return grid.dates[grid.index_of(label) + 1]


def is_complete(end: date, zone: ZoneInfo, now: datetime) -> bool:
    """Whether a bucket ending (exclusive) on local date ``end`` has ended at ``now``."""
    return local_midnight(end, zone) <= now


def judged_at(now: datetime) -> datetime:
    """``now`` to the whole hour: outcome windows are judged per hour, so answers can be cached (and
    warmed) for an hour; a window closes within the hour after it ends."""
    return now.replace(minute=0, second=0, microsecond=0)


def longest_window(windows: Iterable[timedelta | None]) -> timedelta | None:
    known = [window for window in windows if window is not None]
    return max(known) if known else None


def honest_fields(
    row: dict[str, Any],
    sums: engine.GroupSums,
    *,
    period_end: str,
    complete: bool,
    target: Any,
    direction: str,
    windows: Mapping[str, Window] | None = None,
    pieces: Pieces | None = None,
) -> dict[str, Any]:
    """Add to ``row`` (a value's fields as the API sends them) the fields of the module's docstring, after
    the value's own; returns ``row``. ``period_end``: the bucket's end as an ISO date."""
    row["period_end"] = period_end
    row["complete"] = complete
    row["provisional"] = sums.pending > 0
    row["pending"] = sums.pending
    row["certain"] = certain_of(row["status"], row["ci_low"], row["ci_high"], target, direction)
    for kind, window in (windows or {}).items():
        found = pieces.total(sums.kpi, sums.group_id, window) if pieces is not None and window else None
        row[kind] = comparison(row["value"], found) if window is not None else None
    return row


ADJUSTMENTS: tuple[str, ...] = ("category",)
CategoryRates = dict[tuple[str, date, str | None], float]
"""The company's rate per (KPI, bucket label, category)."""


def check_adjustment(adjust: str, group_by: str, metrics: Sequence[Any], *, explicit: bool) -> None:
    """Invalid (422, naming ``adjust``) where a job-mix adjustment means nothing."""
    if adjust not in ADJUSTMENTS:
        raise Invalid("adjust", f"must be one of {', '.join(ADJUSTMENTS)}", location="query")
    if group_by not in ("technician", "team"):
        raise Invalid(
            "adjust",
            f"adjust=category compares technicians or teams with the company's rate for their mix of job "
            f"categories; with group_by={group_by} there is no mix to adjust for (use technician or team)",
            location="query",
        )
    # Asked with rates beside, a mean simply has no expected value; asked alone, the request means nothing.
    means = [metric.key for metric in metrics if metric.kind != "rate"]
    if explicit and means and len(means) == len(metrics):
        raise Invalid(
            "adjust",
            f"adjust=category applies to rates only; {', '.join(means)} is a mean (an average, not a share of "
            "jobs), which has no expected rate per category",
            location="query",
        )


def category_rates(rows: Iterable[engine.GroupSums], bucket_of: Mapping[date, date] | None = None) -> CategoryRates:
    """The rate per (KPI, bucket, category) of all of ``rows`` together (pooled over their groups); rows of
    pieces are put in their bucket by ``bucket_of`` (piece start: bucket label)."""
    sums: dict[tuple[str, date, str | None], list[float]] = {}
    for row in rows:
        label = bucket_of[row.period_start] if bucket_of is not None else row.period_start
        found = sums.setdefault((row.kpi, label, row.category), [0.0, 0.0])
        found[0] += row.numerator
        found[1] += row.denominator
    return {key: numerator / denominator for key, (numerator, denominator) in sums.items() if denominator > 0}


def job_mix(rows: Iterable[engine.GroupSums]) -> dict[tuple[str, str, date], list[tuple[str | None, float]]]:
    """Each group's sample per category: {(KPI, group, bucket): [(category, denominator), ...]}."""
    mix: dict[tuple[str, str, date], list[tuple[str | None, float]]] = {}
    for row in rows:
        if row.denominator > 0:
            mix.setdefault((row.kpi, row.group_id, row.period_start), []).append((row.category, row.denominator))
    return mix


def adjusted(
    value: Any, metric: Any, mix: list[tuple[str | None, float]] | None, rates: CategoryRates
) -> dict[str, float | None]:
    """``expected`` (the rate for the group's job mix at the company's rates), ``ratio`` = observed /
    expected and its 95 % interval (``ratio_low``, ``ratio_high``); None for a mean or without a sample."""
    empty: dict[str, float | None] = {"expected": None, "ratio": None, "ratio_low": None, "ratio_high": None}
    if metric.kind != "rate" or not mix or value.value is None:
        return empty
    jobs = sum(count for _, count in mix)
    expected = sum(count * rates.get((value.kpi, value.period_start, category), 0.0) for category, count in mix)
    expected /= jobs
    if expected <= 0:
        return {**empty, "expected": expected}
    return {
        "expected": expected,
        "ratio": value.value / expected,
        "ratio_low": value.ci_low / expected if value.ci_low is not None else None,
        "ratio_high": value.ci_high / expected if value.ci_high is not None else None,
    }
