"""What every supported database can store: text in UTF-8 without NUL, dates in a bounded span of years."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

MIN_YEAR, MAX_YEAR = 1970, 2200
"""Dates and times are accepted from 1970 to 2200 inclusive: wide enough for any job or period,
narrow enough that converting between zones or stepping a period grid can never overflow."""
FIRST_DAY, LAST_DAY = date(MIN_YEAR, 1, 1), date(MAX_YEAR, 12, 31)
YEARS_MESSAGE = f"must be between {FIRST_DAY} and {LAST_DAY}"

NUL_MESSAGE = "must not contain NUL characters"
UNENCODABLE_MESSAGE = "must be valid text: it contains a broken character (an unpaired UTF-16 surrogate)"


def text_problem(value: Any) -> str | None:
    """Why ``value`` (any JSON value, nested) cannot be stored as text, or None if it can.

    PostgreSQL refuses NUL in text (and every reader after SQLite kept one trips on it); a lone
    surrogate (``"\\ud800"`` in JSON, which Python's decoder accepts) cannot be encoded as UTF-8 at
    all, so either driver would raise deep inside a transaction.
    """
    # A loop, not recursion: a body nested hundreds of levels deep must not exhaust the stack here.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return NUL_MESSAGE
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return UNENCODABLE_MESSAGE
        elif isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return None


def year_problem(value: date) -> str | None:
    """Why ``value`` (a date, or a datetime's wall-clock date) is outside the supported years, or None."""
    return None if MIN_YEAR <= value.year <= MAX_YEAR else YEARS_MESSAGE
