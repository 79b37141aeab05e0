"""Relative ranges (``range=last_30_days``) and the windows values are compared with.

A relative range is resolved in the company's time zone at request time, to
local dates [start, end): ``today`` is the local date of "now" there.

- ``today`` and ``yesterday``: that one day.
- ``last_7_days``, ``last_30_days``, ``last_90_days``: the N whole days
  before today (today, not over yet, is left out).
- ``week_to_date``, ``month_to_date``, ``quarter_to_date``,
  ``year_to_date``: from the first day of the current week (weeks start on
  ``KPI_WEEK_START``, Monday by default), month, quarter or year, up to and
  including today: a period not over yet.
- ``last_week``, ``last_month``, ``last_quarter``, ``last_year``: the whole
  period before the current one.

Comparisons (``compare=previous``, ``compare=year_ago``) give every bucket of
an answer a window to compare with, of the same *elapsed part*:

- ``previous``: where the bucket lies within one calendar unit (its period,
  or for ``period=range`` the unit the relative range is made of: month for
  ``month_to_date`` and ``last_month``), as many days counted from the start
  of the unit before, clipped to that unit's end: 1-4 December against 1-4
  November, 31 March month-to-date against the whole of February. Otherwise
  (``last_30_days``, a custom range) the window of equal length just before.
- ``year_ago``: the same dates a year earlier (29 February: the 28th).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from kpi_core.kpis.periods import next_period_start, period_floor

RANGES: tuple[str, ...] = (
    "today",
    "yesterday",
    "last_7_days",
    "last_30_days",
    "last_90_days",
    "week_to_date",
    "month_to_date",
    "quarter_to_date",
    "year_to_date",
    "last_week",
    "last_month",
    "last_quarter",
    "last_year",
)
COMPARISONS: tuple[str, ...] = ("previous", "year_ago")

_TRAILING = {"last_7_days": 7, "last_30_days": 30, "last_90_days": 90}
_TO_DATE = {"week_to_date": "week", "month_to_date": "month", "quarter_to_date": "quarter", "year_to_date": "year"}
_LAST = {"last_week": "week", "last_month": "month", "last_quarter": "quarter", "last_year": "year"}


@dataclass(frozen=True)
class ResolvedRange:
    """A relative range as local dates [start, end), and the calendar unit it is made of (None: days)."""

    name: str
    start: date
    end: date
    unit: str | None


def local_today(now: datetime, zone: ZoneInfo) -> date:
    """The company's local date at the instant ``now``."""
    return now.astimezone(zone).date()


def unit_floor(day: date, unit: str, week_start: int = 0) -> date:
    """The first day of the ``unit`` (day, week, month, quarter, year) containing ``day``; weeks start on
    weekday ``week_start`` (Monday 0 ... Sunday 6)."""
    if unit == "week":
        return day - timedelta(days=(day.weekday() - week_start) % 7)
    return period_floor(day, unit)


def next_unit_start(day: date, unit: str, week_start: int = 0) -> date:
    """The first day of the unit after the one containing ``day``."""
    if unit == "week":
        return unit_floor(day, "week", week_start) + timedelta(days=7)
    return next_period_start(day, unit)


def resolve_range(name: str, today: date, week_start: int = 0) -> ResolvedRange:
    """The local dates of the relative range ``name`` on ``today`` (ValueError for an unknown name)."""
    if name == "today":
        return ResolvedRange(name, today, today + timedelta(days=1), "day")
    if name == "yesterday":
        return ResolvedRange(name, today - timedelta(days=1), today, "day")
    if name in _TRAILING:
        return ResolvedRange(name, today - timedelta(days=_TRAILING[name]), today, None)
    if name in _TO_DATE:
        unit = _TO_DATE[name]
        return ResolvedRange(name, unit_floor(today, unit, week_start), today + timedelta(days=1), unit)
    if name in _LAST:
        unit = _LAST[name]
        current = unit_floor(today, unit, week_start)
        return ResolvedRange(name, unit_floor(current - timedelta(days=1), unit, week_start), current, unit)
    raise ValueError(f"unknown range {name!r}; expected one of {', '.join(RANGES)}")


def year_earlier(day: date) -> date:
    """The same date a year before (29 February gives the 28th)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def previous_window(start: date, end: date, unit: str | None, week_start: int = 0) -> tuple[date, date] | None:
    """The window [start, end) is compared with by ``compare=previous`` (None where it is empty).

    Within one ``unit``: the same elapsed days from the start of the unit before, clipped to its end.
    Otherwise: the same number of days just before.
    """
    if unit is not None:
        first = unit_floor(start, unit, week_start)
        if unit_floor(end - timedelta(days=1), unit, week_start) == first:
            before = unit_floor(first - timedelta(days=1), unit, week_start)
            low = before + (start - first)
            # Up to the unit's end: up to the end of the one before (all of January for all of February).
            high = first if end == next_unit_start(first, unit, week_start) else min(before + (end - first), first)
            return (low, high) if low < high else None
    return start - (end - start), start


def year_ago_window(start: date, end: date) -> tuple[date, date] | None:
    """The window [start, end) is compared with by ``compare=year_ago``: the same dates a year earlier."""
    low, high = year_earlier(start), year_earlier(end)
    return (low, high) if low < high else None


def comparison_window(
    kind: str, start: date, end: date, unit: str | None, week_start: int = 0
) -> tuple[date, date] | None:
    """The ``kind`` (previous or year_ago) window of the bucket [start, end)."""
    if kind == "previous":
        return previous_window(start, end, unit, week_start)
    if kind == "year_ago":
        return year_ago_window(start, end)
    raise ValueError(f"unknown comparison {kind!r}; expected one of {', '.join(COMPARISONS)}")
