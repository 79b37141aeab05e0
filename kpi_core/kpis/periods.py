"""Calendar periods in the company's time zone, and their boundaries as UTC instants.

A period (day, ISO week starting Monday, month, quarter, year) starts at local
midnight of its first day. The engine asks for a date range [start, end) of
local dates and gets a :class:`PeriodGrid`: one bucket per period the range
touches, clipped to the range, with each bucket's boundaries both as local
dates (for DATE columns such as an evaluation's ``period_end``) and as UTC
instants (for timestamps). Converting each local midnight on its own date is
what makes days of 23 or 25 hours come out right across a DST change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Period = Literal["day", "week", "month", "quarter", "year"]
PERIODS: tuple[str, ...] = ("day", "week", "month", "quarter", "year")
RANGE = "range"
"""The period of one bucket for the whole range asked (a trailing 30 days is one value)."""
QUERY_PERIODS: tuple[str, ...] = (*PERIODS, RANGE)
"""The periods a KPI query may ask for: the calendar periods, or one bucket for the range."""
MAX_PERIODS = 1000
"""Most buckets one request may ask for (1,000 days is about 2.7 years)."""


class TooManyPeriods(ValueError):
    """The range covers more than :data:`MAX_PERIODS` periods."""


def period_floor(day: date, period: str) -> date:
    """The first day of the ``period`` that contains ``day``."""
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    if period == "year":
        return date(day.year, 1, 1)
    raise ValueError(f"unknown period {period!r}; expected one of {', '.join(PERIODS)}")


def next_period_start(start: date, period: str) -> date:
    """The first day of the period after the one that contains ``start``."""
    first = period_floor(start, period)
    if period == "day":
        return first + timedelta(days=1)
    if period == "week":
        return first + timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant at which ``day`` begins in ``zone``.

    Where a DST gap swallows midnight, fold=0 gives the instant of the change,
    which is when that day really began.
    """
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class PeriodGrid:
    """Buckets covering [start, end): bucket ``i`` runs from ``dates[i]`` to ``dates[i + 1]``.

    ``labels[i]`` is the first day of the whole period (it can precede
    ``start`` when the range begins mid-period); ``instants`` are ``dates``
    as UTC instants of local midnight.
    """

    period: str
    labels: tuple[date, ...]
    dates: tuple[date, ...]
    instants: tuple[datetime, ...]
    gaps: frozenset[int] = frozenset()
    """Buckets not asked for: no fact is read for them (comparison windows far apart share one grid)."""

    def __len__(self) -> int:
        return len(self.labels)

    def spans(self) -> list[tuple[int, int]]:
        """Runs of consecutive buckets asked for, as (first boundary index, last boundary index)."""
        runs: list[tuple[int, int]] = []
        for index in range(len(self.labels)):
            if index in self.gaps:
                continue
            if runs and runs[-1][1] == index:
                runs[-1] = (runs[-1][0], index + 1)
            else:
                runs.append((index, index + 1))
        return runs

    def index_of(self, label: date) -> int:
        """The bucket whose period starts on ``label`` (ValueError if none)."""
        return self.labels.index(label)


def count_periods(start: date, end: date, period: str) -> int:
    """How many periods [start, end) touches (0 when end <= start)."""
    if end <= start:
        return 0
    if period == RANGE:
        return 1
    first, last = period_floor(start, period), period_floor(end - timedelta(days=1), period)
    if period == "day":
        return (last - first).days + 1
    if period == "week":
        return (last - first).days // 7 + 1
    months = (last.year - first.year) * 12 + last.month - first.month
    return months // {"month": 1, "quarter": 3, "year": 12}[period] + 1


def period_grid(start: date, end: date, period: str, zone: ZoneInfo, *, limit: int = MAX_PERIODS) -> PeriodGrid:
    """The buckets of ``period`` covering local dates [start, end) in ``zone``."""
    if end <= start:
        raise ValueError("end must be after start")
    count = count_periods(start, end, period)
    if count > limit:
        raise TooManyPeriods(f"{start} to {end} spans {count} {period}s; at most {limit} may be asked at once")
    if period == RANGE:
        return PeriodGrid(period, (start,), (start, end), (local_midnight(start, zone), local_midnight(end, zone)))
    labels: list[date] = [period_floor(start, period)]
    bounds: list[date] = [start]
    following = next_period_start(start, period)
    while following < end:
        labels.append(following)
        bounds.append(following)
        following = next_period_start(following, period)
    bounds.append(end)
    return PeriodGrid(
        period=period,
        labels=tuple(labels),
        dates=tuple(bounds),
        instants=tuple(local_midnight(day, zone) for day in bounds),
    )


def single_period(
    label: date, period: str, zone: ZoneInfo, start: date | None = None, end: date | None = None
) -> PeriodGrid:
    """The one bucket of the period starting on ``label``, clipped to [start, end) when given.

    Raises ValueError when ``label`` is not the first day of a period or the
    clipped bucket is empty.
    """
    if period == RANGE:
        if start is None or end is None or label != start:
            raise ValueError(f"with period {RANGE}, period_start must be the range's start and end must be given")
        return period_grid(start, end, period, zone)
    if period_floor(label, period) != label:
        raise ValueError(f"{label} is not the first day of a {period}")
    low = max(label, start) if start else label
    high = min(next_period_start(label, period), end) if end else next_period_start(label, period)
    if high <= low:
        raise ValueError(f"the {period} starting {label} lies outside the range asked")
    return period_grid(low, high, period, zone)
