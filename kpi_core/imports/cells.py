"""Typed values from import cells; each converter raises ValueError with a message for a person."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def text(value: Any, max_length: int) -> str:
    if not isinstance(value, str | int):
        raise ValueError("must be text")
    result = str(value).strip()
    if len(result) > max_length:
        raise ValueError(f"must be at most {max_length} characters")
    if any(ord(ch) < 32 and ch not in "\t" for ch in result):
        raise ValueError("must not contain control characters")
    return result


def timestamp(value: Any, zone: ZoneInfo) -> datetime:
    """ISO 8601; without an offset it is read in the company time zone. Stored as UTC."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date and time, like 2026-03-01T09:30:00-06:00")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date and time, like 2026-03-01T09:30:00-06:00") from None
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
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e10"):
        raise ValueError("must be an amount between 0 and 9,999,999,999.99")
    return amount.quantize(Decimal("0.01"))


def choice(value: Any, choices: tuple[str, ...]) -> str:
    result = str(value).strip().lower()
    if result not in choices:
        raise ValueError(f"must be one of {', '.join(choices)}")
    return result
