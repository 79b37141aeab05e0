"""Turning report values into CSV cell text: safe text and plain numbers, rounded for reading.

Every cell the plugin writes passes through one of these functions, so the
formula-injection rule and the number format live in one place.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_EVEN, Decimal

from kpi_core.currencies import decimals
from kpi_core.reports.data import INSUFFICIENT

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""Leading characters that make Excel, LibreOffice or Sheets treat a cell as a formula (OWASP)."""

SPLITTERS = (",", ";", "\t", "\r", "\n")
"""Where a reader may cut a cell in two: the separators a spreadsheet may guess (its locale's list
separator, not ours) and line ends, which a reader honours inside quotes only at a field's start."""

# A splitter, then (after any quote marks a reader would strip) a trigger: the start of a new cell
# for a reader that splits on that splitter.
_INNER_TRIGGER = re.compile(
    "([" + re.escape("".join(SPLITTERS)) + "])" + '(?="*[' + re.escape("".join(FORMULA_TRIGGERS)) + "])"
)

RATE_DECIMALS = 1
"""Rates are written as percentages to one decimal (``86.4`` for 0.863636), as the dashboard shows them."""
DECIMALS = 2
"""Means (ratings, minutes, jobs per day, points) to two decimals: ``4.39`` stars, ``6.21`` minutes."""
PART_DECIMALS = 4
"""Numerators and denominators of values that are not money: sums of flags and counts stay whole, sums
of minutes keep enough to recompute the value; never a float's noise such as ``13264.880000000001``."""


def neutralise(text: str) -> str:
    """Make ``text`` inert in a spreadsheet by prefixing ``'`` wherever a cell could start a formula.

    OWASP's CSV-injection advice: a leading single quote makes the cell plain
    text, so a technician named ``=HYPERLINK(...)`` shows as typed instead of
    becoming a link. A spreadsheet may also split the file on another
    separator than the writer's (Excel in most of Europe splits on ``;``), so
    ``Bob;=HYPERLINK(...)`` would become ``Bob`` and a formula: a trigger just
    after a separator or line end gets its quote too (``Bob;'=HYPERLINK(...)``),
    whatever separator writes or reads the file. Only text cells go through
    here; numbers such as ``-0.25`` are written by :func:`kpi_value` and
    :func:`kpi_part` and stay numbers.
    """
    text = _INNER_TRIGGER.sub(r"\1'", text)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def text(value: object | None) -> str:
    """A text cell: empty for ``None``, else ``str(value)`` neutralised."""
    return "" if value is None else neutralise(str(value))


def unit_label(unit: str, currency: str) -> str:
    """A KPI's unit as a reader names it: ``%`` for a rate, the currency's code for money, else as declared."""
    if unit == "ratio":
        return "%"
    if unit == "currency":
        return currency
    return unit


def kpi_value(value: float | None, unit: str, currency: str) -> str:
    """A KPI value in its unit, rounded for reading: a rate in percent (``86.4``), money to the currency's
    smallest unit (``268.30``; ``1263`` yen), anything else to two decimals. Empty for ``None``."""
    if value is None:
        return ""
    if unit == "ratio":
        return fixed(value * 100, RATE_DECIMALS)
    if unit == "currency":
        return fixed(value, decimals(currency), keep_zeros=True)
    return fixed(value, DECIMALS)


def kpi_part(value: float | None, unit: str, currency: str) -> str:
    """A numerator or denominator: money to its smallest unit, else to at most four decimals (counts whole)."""
    if value is None:
        return ""
    if unit == "currency":
        return fixed(value, decimals(currency), keep_zeros=True)
    return fixed(value, PART_DECIMALS)


def margin(value: float | None, low: float | None, high: float | None, unit: str) -> str:
    """A rate's 95 % margin in percentage points, to one decimal (``3.3`` for "± 3.3 pp"), as the
    dashboard shows it: the wider side of the (not symmetric) Wilson interval. Empty for a mean or
    where there is no interval."""
    if unit != "ratio" or value is None or low is None or high is None:
        return ""
    return fixed(max(value - low, high - value) * 100, RATE_DECIMALS)


def status_words(
    status: str | None, *, has_value: bool, complete: bool = True, certain: bool | None = None, facts: str = "jobs"
) -> str:
    """A value's status as the dashboard words it: its colour ("amber so far" while the period is under
    way, ", borderline" where the margin crosses a threshold), "too few jobs" below the KPI's minimum
    sample, "no target" for a value without one; empty without a value. Neutralised like any text."""
    if status is None:
        return "no target" if has_value else ""
    if status == INSUFFICIENT:
        return f"too few {facts}"
    words = status if complete else f"{status} so far"
    return text(f"{words}, borderline" if certain is False else words)


def yes_no(flag: bool | None) -> str:
    """A flag for a reader: ``yes``, ``no``, or empty where it does not apply."""
    return "" if flag is None else ("yes" if flag else "no")


def true_false(flag: bool | None) -> str:
    """A flag for a script: ``true``, ``false`` (read as booleans by pandas, R and DuckDB), or empty."""
    return "" if flag is None else ("true" if flag else "false")


def fixed(value: float, places: int, *, keep_zeros: bool = False) -> str:
    """``value`` rounded half to even to ``places`` decimals, in plain decimal notation.

    Never an exponent or a thousands separator, so every spreadsheet and CSV
    reader parses it in any locale. Trailing zeros go (``4.5``, ``12``) unless
    ``keep_zeros`` (money keeps its cents: ``268.30``).
    """
    _require_finite(value)
    quantum = Decimal(1).scaleb(-places)
    number = Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_EVEN)
    if number == 0:
        number = abs(number)  # no "-0.0" for a value that rounds to zero
    written = format(number, "f")
    if not keep_zeros and "." in written:
        written = written.rstrip("0").rstrip(".")
    return written


def _require_finite(value: float) -> None:
    # NaN or infinity in report data is a bug upstream; an empty cell would hide it.
    if not math.isfinite(value):
        raise ValueError(f"cannot write {value!r} to a CSV report: KPI numbers must be finite")
