"""Dates and times in a mapping's declared ``strptime`` formats, read fast.

``datetime.strptime`` costs about 15 µs a call here: three timestamps on each of
100,000 rows would add seconds to an import. The common directives are compiled
once into a regular expression and read in about 2 µs; a format using any other
directive falls back to ``strptime``, so every format reads as ``strptime``
would read it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")  # fmt: skip
_FULL = {name: n for n, name in enumerate(MONTHS, 1)}
_ABBREVIATED = {name[:3]: n for n, name in enumerate(MONTHS, 1)}
_DIRECTIVES = {
    "Y": r"(?P<Y>\d{4})",
    "y": r"(?P<y>\d{2})",
    "m": r"(?P<m>\d{1,2})",
    "d": r"(?P<d>\d{1,2})",
    "H": r"(?P<H>\d{1,2})",
    "I": r"(?P<I>\d{1,2})",
    "M": r"(?P<M>\d{1,2})",
    "S": r"(?P<S>\d{1,2})",
    "f": r"(?P<f>\d{1,6})",
    "p": r"(?P<p>am|pm|a\.m\.|p\.m\.)",
    "b": r"(?P<b>[a-z]{3})",
    "B": r"(?P<B>[a-z]{3,9})",
}
SAMPLE = datetime(2026, 3, 2, 14, 30)
"""What examples in messages show: 2 March 2026, 14:30."""

Reader = Callable[[str], datetime]


def reader(fmt: str) -> Reader:
    """A function reading a text in ``fmt`` as a (naive, unless ``%z``) datetime; ValueError if it does not fit."""
    compiled = _pattern(fmt)
    if compiled is None:
        return lambda text: datetime.strptime(text, fmt)
    pattern, order = compiled
    match = re.compile(pattern, re.IGNORECASE).fullmatch
    build = _builder(order)

    def read(text: str) -> datetime:
        found = match(text)
        if found is None:
            raise ValueError(text)
        return build(found.groups())

    return read


def example(fmt: str | None, kind: str) -> str:
    """How the sample moment looks in ``fmt`` (ISO 8601 for None): for messages."""
    if fmt is not None:
        return SAMPLE.strftime(fmt)
    return {"datetime": "2026-03-02T14:30", "date": "2026-03-02", "time": "14:30"}[kind]


def _pattern(fmt: str) -> tuple[str, list[str]] | None:
    parts, index, seen = [], 0, []
    while index < len(fmt):
        char = fmt[index]
        if char == "%":
            directive = fmt[index + 1 : index + 2]
            if directive == "%":
                parts.append("%")
            elif directive in _DIRECTIVES and directive not in seen:
                parts.append(_DIRECTIVES[directive])
                seen.append(directive)
            else:
                return None  # any other directive (or one used twice): strptime knows best
            index += 2
            continue
        parts.append(r"\s+" if char.isspace() else re.escape(char))
        index += 1
    if ("I" in seen) != ("p" in seen):
        return None  # strptime's own rules for a 12-hour clock without AM/PM (or the reverse)
    return "".join(parts), seen


def _builder(order: list[str]) -> Callable[[tuple[str, ...]], datetime]:
    """Builds the datetime from the groups of a match, in ``order`` (the directives of the format)."""
    at = {directive: index for index, directive in enumerate(order)}
    year, month, day, hour, minute, second = (at.get(directive, -1) for directive in "YmdHMS")
    if not at.keys() & {"y", "b", "B", "f"}:
        # The usual numeric formats: one expression (this runs for every time of every row).
        twelve, half = at.get("I", -1), at.get("p", -1)
        return lambda g: datetime(
            int(g[year]) if year >= 0 else 1900, int(g[month]) if month >= 0 else 1, int(g[day]) if day >= 0 else 1,
            _twelve(g[twelve], g[half]) if twelve >= 0 else int(g[hour]) if hour >= 0 else 0,
            int(g[minute]) if minute >= 0 else 0, int(g[second]) if second >= 0 else 0,
        )  # fmt: skip

    def number(groups: tuple[str, ...], directive: str, default: int) -> int:
        index = at.get(directive)
        return default if index is None else int(groups[index])

    def build(groups: tuple[str, ...]) -> datetime:
        year = number(groups, "Y", 1900)
        if "y" in at:
            short = int(groups[at["y"]])
            year = 2000 + short if short < 69 else 1900 + short  # as strptime reads %y
        month = number(groups, "m", 1)
        if "b" in at or "B" in at:
            month = _ABBREVIATED.get(groups[at["b"]].lower(), 0) if "b" in at else _FULL.get(groups[at["B"]].lower(), 0)
        hour = _twelve(groups[at["I"]], groups[at["p"]]) if "I" in at else number(groups, "H", 0)
        fraction = int(groups[at["f"]].ljust(6, "0")) if "f" in at else 0
        return datetime(year, month, number(groups, "d", 1), hour, number(groups, "M", 0), number(groups, "S", 0),
                        fraction)  # fmt: skip

    return build


def _twelve(hour: str, half: str) -> int:
    """The hour of a 12-hour clock (1 to 12) and AM or PM as 0 to 23."""
    value = int(hour)
    if not 1 <= value <= 12:
        raise ValueError(hour)
    return value % 12 + (12 if half[0] in "pP" else 0)


def iso_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso_date(text: str) -> datetime:
    return datetime.combine(date.fromisoformat(text), time())


def iso_time(text: str) -> datetime:
    return datetime.combine(SAMPLE.date(), time.fromisoformat(text))
