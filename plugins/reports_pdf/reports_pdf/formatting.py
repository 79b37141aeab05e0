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
from kpi_core.reports.data import INSUFFICIENT

MISSING = "\u2013"
"""An en dash, shown where there is no value: an empty sample is not a zero."""
RANGE_DASH = " \u2013 "
"""Between the ends of a range, as typeset text has it."""
SO_FAR = "so far"
"""After a period or range that had not ended when the report was made."""
_SUPERSCRIPTS = str.maketrans("0123456789", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")

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


def period_label_so_far(start: date, period: str, complete: bool) -> str:
    """:func:`period_label`, with "so far" while the period is under way ("Dec 2026 so far")."""
    label = period_label(start, period)
    return label if complete else f"{label} {SO_FAR}"


def period_granularity(period: str) -> str:
    """The granularity in words ("Monthly periods"); unknown ones are shown as given."""
    return f"{_PERIOD_NAMES.get(period, period.capitalize())} periods"


def format_date(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def format_range(start: date, end: date, complete: bool = True, today: date | None = None) -> str:
    """The report's range in inclusive terms (the host's ``end`` is exclusive), "so far" while under way,
    and how far it had got (``today``, the day the report was made) where it runs on past that day."""
    last = end - timedelta(days=1) if end > start else end
    written = f"{format_date(start)}{RANGE_DASH}{format_date(last)}"
    if complete:
        return written
    if today is not None and start <= today < last:
        return f"{written}, {SO_FAR} to {format_date(today)}"
    return f"{written} {SO_FAR}"


def format_margin(value: float | None, low: float | None, high: float | None, unit: str) -> str:
    """A rate's 95 % margin in percentage points ("± 3.3 pp"), as the dashboard writes it; "" for a
    mean or where there is no interval. The Wilson interval is not symmetric: the wider side is given."""
    if unit != "ratio" or value is None or low is None or high is None:
        return ""
    half = max(value - low, high - value) * 100
    return f"\u00b1 {half:.1f}".removesuffix(".0") + " pp"


def format_count(count: float) -> str:
    """A count of facts ("803", "1,204")."""
    return f"{count:,.0f}"


def status_caption(status: str | None, certain: bool | None, facts: str = "jobs") -> str:
    """What a badge's colour does not say: "too few jobs" (no colour) or "borderline" (the margin
    crosses a target threshold); "" otherwise."""
    if status == INSUFFICIENT:
        return f"too few {facts}"
    if status is not None and certain is False:
        return "borderline"
    return ""


def pending_note(pending: float, facts: str, reason: str, has_value: bool) -> str:
    """The footnote of a provisional value: how many facts can still change it, and why."""
    count = format_count(pending)
    noun = facts.removesuffix("s") if count == "1" else facts
    why = f" ({_lower_first(reason)})" if reason else ""
    if not has_value:
        return f"No value yet: the outcome of {count} {noun} is not known yet, so they are not counted{why}."
    return f"Provisional: {count} {noun} can still change this value{why}."


def mark(number: int) -> str:
    """A footnote mark in superscript digits ("¹", "¹²")."""
    return str(number).translate(_SUPERSCRIPTS)


def _lower_first(text: str) -> str:
    """The reason as the middle of a sentence ("callback window still open"); an acronym ("SLA") is kept."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


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


def local_date(moment: datetime, timezone: str) -> date:
    """The day of ``moment`` in the company's time zone (naive times and unknown zones: UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(ZoneInfo(timezone)).date()
    except (ZoneInfoNotFoundError, ValueError):
        return moment.astimezone(UTC).date()


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
