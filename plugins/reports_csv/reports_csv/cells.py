"""Turning report values into CSV cell text: safe text and plain numbers.

Every cell the plugin writes passes through one of these functions, so the
formula-injection rule and the number format live in one place.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

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

SIGNIFICANT_DIGITS = 6
"""Precision of KPI values and intervals: a rate of 0.833333 is 83.3333 %, well past what anyone reads."""


def neutralise(text: str) -> str:
    """Make ``text`` inert in a spreadsheet by prefixing ``'`` wherever a cell could start a formula.

    OWASP's CSV-injection advice: a leading single quote makes the cell plain
    text, so a technician named ``=HYPERLINK(...)`` shows as typed instead of
    becoming a link. A spreadsheet may also split the file on another
    separator than the writer's (Excel in most of Europe splits on ``;``), so
    ``Bob;=HYPERLINK(...)`` would become ``Bob`` and a formula: a trigger just
    after a separator or line end gets its quote too (``Bob;'=HYPERLINK(...)``),
    whatever separator writes or reads the file. Only text cells go through
    here; numbers such as ``-0.25`` are written by :func:`rounded` and
    :func:`exact` and stay numbers.
    """
    text = _INNER_TRIGGER.sub(r"\1'", text)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def text(value: object | None) -> str:
    """A text cell: empty for ``None``, else ``str(value)`` neutralised."""
    return "" if value is None else neutralise(str(value))


def rounded(value: float | None, significant: int = SIGNIFICANT_DIGITS) -> str:
    """A KPI value rounded to ``significant`` digits, in plain decimal notation.

    Empty for ``None`` (a missing value is not 0). Never an exponent or a
    thousands separator, so every spreadsheet and CSV reader parses it in any
    locale: ``0.000012``, not ``1.2e-05``.
    """
    if value is None:
        return ""
    _require_finite(value)
    return _positional(f"{value:.{significant}g}")


def exact(value: float | None) -> str:
    """A numerator or denominator at full precision (whole numbers without ``.0``).

    These are sums over facts, written exactly so ``numerator / denominator``
    recomputes the value. Empty for ``None``.
    """
    if value is None:
        return ""
    _require_finite(value)
    if float(value).is_integer():
        return str(int(value))
    # repr() is the shortest text that reads back as the same float.
    return _positional(repr(float(value)))


def _positional(number: str) -> str:
    # Both "g" and repr() drop trailing zeros; only an exponent needs spelling out,
    # and Decimal does that exactly. Checked first because Decimal is the slow path.
    if "e" in number:
        number = format(Decimal(number), "f")
    return "0" if number == "-0" else number


def _require_finite(value: float) -> None:
    # NaN or infinity in report data is a bug upstream; an empty cell would hide it.
    if not math.isfinite(value):
        raise ValueError(f"cannot write {value!r} to a CSV report: KPI numbers must be finite")
