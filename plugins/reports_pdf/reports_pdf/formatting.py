"""How numbers, periods, dates and filters read in the PDF report.

Pure functions from report values to display strings, so the templates hold
no formatting logic and every rule (a missing value is a dash, never 0; a
ratio is a percentage) lives in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kpi_core.currencies import format_money

MISSING = "\u2013"
"""An en dash, shown where there is no value: an empty sample is not a zero."""
RANGE_DASH = " \u2013 "
"""Between the ends of a range, as typeset text has it."""

_UNIT_SUFFIXES = {"minutes": "min", "hours": "h", "seconds": "s", "points": "pts", "jobs per day": "jobs/day"}
"""Units long enough to crowd a table cell, with the short form shown instead."""
_FILTER_NAMES = {"team": "Teams", "technician": "Technicians", "category": "Categories"}
"""The host's filter keys as the cover names them."""

_PERIOD_NAMES = {
    "day": "Daily",
    "week": "Weekly",
    "month": "Monthly",
    "quarter": "Quarterly",
    "year": "Yearly",
}


def format_value(value: float | None, unit: str, currency: str = "USD") -> str:
    """A KPI value with its unit: ratios as percentages, money in ``currency`` ("$262.80"),
    :data:`MISSING` when missing."""
    if value is None:
        return MISSING
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "currency":
        return format_money(value, currency)
    suffix = _UNIT_SUFFIXES.get(unit, unit)
    return f"{value:,.1f} {suffix}".rstrip()


def format_axis_value(value: float, unit: str, decimals: int = 0) -> str:
    """A chart axis tick: the number alone (a percentage for ratios), to ``decimals`` places."""
    if unit == "ratio":
        return f"{value * 100:.{decimals}f}%"
    return f"{value:,.{decimals}f}"


def format_number(value: float | None, decimals: int = 1) -> str:
    """A plain number (a score, a sample size), :data:`MISSING` when missing."""
    if value is None:
        return MISSING
    return f"{value:,.{decimals}f}"


def period_label(start: date, period: str) -> str:
    """The full name of the period that begins on ``start`` ("Mar 2026", "Q1 2026", "W09 2026")."""
    if period == "month":
        return start.strftime("%b %Y")
    if period == "quarter":
        return f"Q{(start.month - 1) // 3 + 1} {start.year}"
    if period == "year":
        return str(start.year)
    if period == "week":
        iso = start.isocalendar()
        return f"W{iso.week:02d} {iso.year}"
    return f"{start.day} {start.strftime('%b %Y')}"


def period_tick(start: date, period: str, first: bool) -> str:
    """A short chart-axis label; the year is shown at the first tick and where it changes."""
    if period == "month":
        return start.strftime("%b '%y") if first or start.month == 1 else start.strftime("%b")
    if period == "quarter":
        quarter = f"Q{(start.month - 1) // 3 + 1}"
        return f"{quarter} '{start:%y}" if first or start.month == 1 else quarter
    if period == "year":
        return str(start.year)
    if period == "week":
        return f"W{start.isocalendar().week:02d}"
    return f"{start.day} {start:%b}"


def period_granularity(period: str) -> str:
    """The granularity in words ("Monthly periods"); unknown ones are shown as given."""
    return f"{_PERIOD_NAMES.get(period, period.capitalize())} periods"


def format_date(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def format_range(start: date, end: date) -> str:
    """The report's range in inclusive terms: the host's ``end`` is exclusive."""
    last = end - timedelta(days=1) if end > start else end
    return f"{format_date(start)}{RANGE_DASH}{format_date(last)}"


def format_generated(moment: datetime, timezone: str) -> str:
    """When the report was made, in the company's time zone (naive times are UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        # An unknown zone must not stop a report: show the instant in UTC and say so.
        return f"{format_date(moment.astimezone(UTC).date())}, {moment.astimezone(UTC):%H:%M} UTC"
    local = moment.astimezone(zone)
    return f"{format_date(local.date())}, {local:%H:%M} ({timezone})"


def format_filters(filters: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The report's filters as (name, value) pairs ready to print."""
    return [(_filter_name(name), _filter_value(value)) for name, value in filters.items()]


def unit_name(unit: str, currency: str) -> str:
    """A unit as a caption or the definitions name it: "%" for ratios, the currency's code for money."""
    if unit == "ratio":
        return "%"
    return currency if unit == "currency" else unit


def _filter_name(name: str) -> str:
    if name in _FILTER_NAMES:
        return _FILTER_NAMES[name]
    words = str(name).replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _filter_value(value: Any) -> str:
    if value is None:
        return "any"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(str(item) for item in value) or "none"
    return str(value)
