"""Typed values from import cells; each converter raises ValueError with a message for a person."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from kpi_core.storage.limits import MAX_YEAR, MIN_YEAR, text_problem, year_problem

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")  # tab allowed
_CONTROL_BUT_NEWLINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
CENT = Decimal("0.01")
MAX_MONEY = Decimal("1e10")


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and (not value or value.isspace()))


def text(value: Any, max_length: int, *, multiline: bool = False) -> str:
    if isinstance(value, str):
        result = value.strip()
    elif isinstance(value, int):
        result = str(value)
    else:
        raise ValueError("must be text")
    if len(result) > max_length:
        raise ValueError(f"must be at most {max_length} characters")
    if result.isascii() and result.isprintable():  # no control character, nothing unencodable: most cells
        return result
    if (_CONTROL_BUT_NEWLINES if multiline else _CONTROL).search(result):
        raise ValueError("must not contain control characters")
    # NUL is a control character: what text_problem may still find is a broken (non-ASCII) character.
    if not result.isascii():
        problem = text_problem(result)
        if problem:
            raise ValueError(problem)
    return result


def timestamp(value: Any, zone: ZoneInfo) -> datetime:
    """ISO 8601; without an offset it is read in the company time zone. Stored as UTC.

    A ``datetime`` (what a column mapping reads with its own formats and zone) is taken as it is.
    """
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date and time, like 2026-03-01T09:30:00-06:00") from None
    elif isinstance(value, datetime):
        parsed = value
    else:
        raise ValueError("must be an ISO 8601 date and time, like 2026-03-01T09:30:00-06:00")
    # The wall-clock year, before any conversion (which could overflow at year 1 or 9999).
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise ValueError(f"{value!r}: {year_problem(parsed)}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def integer(value: Any, minimum: int, maximum: int) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    try:
        number = int(value) if isinstance(value, int) else int(str(value).strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number") from None
    if not minimum <= number <= maximum:
        raise ValueError(f"must be between {minimum} and {maximum}")
    return number


def money(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount like 125.50") from None
    # Checked again after rounding: 9999999999.995 rounds to 10000000000.00, too large to store.
    if not amount.is_finite() or amount < 0 or amount >= MAX_MONEY:
        raise ValueError("must be an amount between 0 and 9,999,999,999.99")
    cents = amount.quantize(CENT)
    if cents >= MAX_MONEY:
        raise ValueError("must be an amount between 0 and 9,999,999,999.99")
    return cents


def choice(value: Any, choices: tuple[str, ...]) -> str:
    result = str(value).strip().lower()
    if result not in choices:
        raise ValueError(f"must be one of {', '.join(choices)}")
    return result
