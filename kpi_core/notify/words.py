"""Numbers in messages said in plain words, as the dashboard says them.

One place for what a scorecard e-mail, a digest and an alert write: a rate is
a whole percentage ("88 %"), money is in the company's currency, a change
says which way and whether that is better ("up 4 points, better"), a status
is said against its target ("on target", "off target, borderline"), a small
sample is "too few jobs" rather than a colour, a period under way is "so far"
and a provisional value says how many jobs can still change it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from kpi_core.currencies import format_money

MISSING = "no value"
DASH = "\u2013"
TARGET_WORDS = {"green": "on target", "amber": "close to target", "red": "off target"}
SHORT_UNITS = {"minutes": "min", "jobs per day": "jobs a day"}


def is_rate(unit: str) -> bool:
    return unit == "ratio"


def value_words(value: float | None, unit: str, currency: str = "USD") -> str:
    """``88 %``, ``$1,262.80``, ``42.5 min``, or "no value" where there is no sample."""
    if value is None:
        return MISSING
    if is_rate(unit):
        return f"{round(value * 100)} %"
    if unit == "currency":
        return format_money(value, currency)
    suffix = SHORT_UNITS.get(unit, unit)
    return f"{value:,.1f} {suffix}".rstrip()


def amount_words(amount: float, unit: str, currency: str = "USD") -> str:
    """The size of a change or a threshold, without a sign: ``4 points``, ``$12.00``, ``3.5 min``."""
    amount = abs(amount)
    if is_rate(unit):
        points = round(amount * 100)
        return f"{points} point" if points == 1 else f"{points} points"
    if unit == "currency":
        return format_money(amount, currency)
    return value_words(amount, unit, currency)


def change_words(change: float | None, unit: str, direction: str, currency: str = "USD") -> str:
    """``up 4 points, better``, ``down $12.00, worse``, ``no change``; "" without a comparison."""
    if change is None:
        return ""
    # What rounds to nothing as written is no change: 0.3 points of a rate is "no change", not "up 0 points".
    if (round(abs(change) * 100) if is_rate(unit) else round(abs(change), 1)) == 0:
        return "no change"
    shown = amount_words(change, unit, currency)
    better = (change > 0) == (direction != "lower")
    return f"{'up' if change > 0 else 'down'} {shown}, {'better' if better else 'worse'}"


def status_words(row: dict[str, Any], facts: str = "jobs") -> str:
    """The value against its target: "on target", "close to target so far", "off target, borderline",
    "too few jobs", or "no target"."""
    status = row.get("status")
    if status is None:
        return "no target" if row.get("value") is not None else ""
    if status == "insufficient":
        return f"too few {facts}"
    words = TARGET_WORDS.get(status, status)
    if row.get("complete") is False:
        words += " so far"
    if row.get("certain") is False:
        words += ", borderline"
    return words


def count_words(count: float, noun: str) -> str:
    """``1 job``, ``12 jobs`` (``noun`` is the plural)."""
    whole = round(count)
    return f"{whole:,} {noun.removesuffix('s') if whole == 1 else noun}"


def pending_words(row: dict[str, Any], facts: str = "jobs", reason: str = "") -> str:
    """Why a provisional value can still change, in one sentence; "" for a settled one."""
    if not row.get("provisional"):
        return ""
    why = f" ({reason[:1].lower() + reason[1:]})" if reason else ""
    counted = count_words(row.get("pending") or 0, facts)
    if row.get("value") is None:
        return f"No value yet: the outcome of {counted} is not known yet, so they are not counted{why}."
    return f"Provisional: {counted} will count once their outcome is known{why}."


def day_words(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def span_words(start: date, end: date) -> str:
    """Local dates [start, end) in inclusive words: "13-19 April 2026", "28 March - 3 April 2026" (with en dashes)."""
    last = end - timedelta(days=1) if end > start else start
    if start == last:
        return day_words(start)
    if (start.year, start.month) == (last.year, last.month):
        return f"{start.day}{DASH}{last.day} {last:%B %Y}"
    if start.year == last.year:
        return f"{start.day} {start:%B} {DASH} {last.day} {last:%B %Y}"
    return f"{day_words(start)} {DASH} {day_words(last)}"


def month_words(start: date) -> str:
    return f"{start:%B %Y}"


def window_words(start: date, end: date, unit: str, complete: bool) -> str:
    """The period a message covers: "13-19 April 2026", "March 2026", with "so far" while under way."""
    words = month_words(start) if unit == "month" else span_words(start, end)
    return words if complete else f"{words} so far"
