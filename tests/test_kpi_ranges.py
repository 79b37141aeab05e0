"""Relative ranges and comparison windows, against dates worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from kpi_core.kpis.ranges import RANGES, comparison_window, local_today, resolve_range

D = date
NEW_YORK = ZoneInfo("America/New_York")
MONDAY, SUNDAY = 0, 6

# Thursday 1 January 2026: the year, quarter and month have just begun; the week began in 2025.
YEAR_END = {
    "today": (D(2026, 1, 1), D(2026, 1, 2)),
    "yesterday": (D(2025, 12, 31), D(2026, 1, 1)),
    "last_7_days": (D(2025, 12, 25), D(2026, 1, 1)),
    "last_30_days": (D(2025, 12, 2), D(2026, 1, 1)),
    "last_90_days": (D(2025, 10, 3), D(2026, 1, 1)),
    "week_to_date": (D(2025, 12, 29), D(2026, 1, 2)),
    "month_to_date": (D(2026, 1, 1), D(2026, 1, 2)),
    "quarter_to_date": (D(2026, 1, 1), D(2026, 1, 2)),
    "year_to_date": (D(2026, 1, 1), D(2026, 1, 2)),
    "last_week": (D(2025, 12, 22), D(2025, 12, 29)),
    "last_month": (D(2025, 12, 1), D(2026, 1, 1)),
    "last_quarter": (D(2025, 10, 1), D(2026, 1, 1)),
    "last_year": (D(2025, 1, 1), D(2026, 1, 1)),
}

# Sunday 8 March 2026, the day New York moves its clocks forward; weeks starting on Sunday.
DST_SUNDAY_WEEKS = {
    "today": (D(2026, 3, 8), D(2026, 3, 9)),
    "yesterday": (D(2026, 3, 7), D(2026, 3, 8)),
    "last_7_days": (D(2026, 3, 1), D(2026, 3, 8)),
    "last_30_days": (D(2026, 2, 6), D(2026, 3, 8)),
    "last_90_days": (D(2025, 12, 8), D(2026, 3, 8)),
    "week_to_date": (D(2026, 3, 8), D(2026, 3, 9)),  # the week began today
    "month_to_date": (D(2026, 3, 1), D(2026, 3, 9)),
    "quarter_to_date": (D(2026, 1, 1), D(2026, 3, 9)),
    "year_to_date": (D(2026, 1, 1), D(2026, 3, 9)),
    "last_week": (D(2026, 3, 1), D(2026, 3, 8)),
    "last_month": (D(2026, 2, 1), D(2026, 3, 1)),
    "last_quarter": (D(2025, 10, 1), D(2026, 1, 1)),
    "last_year": (D(2025, 1, 1), D(2026, 1, 1)),
}


def test_the_fixtures_cover_every_range():
    assert set(YEAR_END) == set(DST_SUNDAY_WEEKS) == set(RANGES)


@pytest.mark.parametrize("name", RANGES)
def test_every_range_across_a_year_end(name):
    found = resolve_range(name, D(2026, 1, 1), MONDAY)

    assert (found.start, found.end) == YEAR_END[name]


@pytest.mark.parametrize("name", RANGES)
def test_every_range_on_a_dst_sunday_with_weeks_starting_on_sunday(name):
    found = resolve_range(name, D(2026, 3, 8), SUNDAY)

    assert (found.start, found.end) == DST_SUNDAY_WEEKS[name]


def test_with_weeks_starting_on_monday_the_same_sunday_ends_the_week():
    assert (resolve_range("week_to_date", D(2026, 3, 8), MONDAY).start) == D(2026, 3, 2)
    found = resolve_range("last_week", D(2026, 3, 8), MONDAY)
    assert (found.start, found.end) == (D(2026, 2, 23), D(2026, 3, 2))


@pytest.mark.parametrize(
    ("instant", "today"),
    [
        (datetime(2026, 3, 8, 4, 59, tzinfo=UTC), D(2026, 3, 7)),  # 23:59 EST on the 7th
        (datetime(2026, 3, 8, 5, 0, tzinfo=UTC), D(2026, 3, 8)),  # local midnight, still EST
        (datetime(2026, 3, 9, 3, 59, tzinfo=UTC), D(2026, 3, 8)),  # 23:59 EDT: the 23-hour day
        (datetime(2026, 3, 9, 4, 0, tzinfo=UTC), D(2026, 3, 9)),
    ],
)
def test_today_is_the_company_zones_date_across_the_dst_change(instant, today):
    assert local_today(instant, NEW_YORK) == today


def test_an_unknown_range_is_refused():
    with pytest.raises(ValueError, match="last_30_days"):
        resolve_range("last_fortnight", D(2026, 1, 1))


@pytest.mark.parametrize(
    ("window", "unit", "previous"),
    [
        # 1-4 December (month to date on the 4th) against 1-4 November.
        ((D(2026, 12, 1), D(2026, 12, 5)), "month", (D(2026, 11, 1), D(2026, 11, 5))),
        # Month to date on 31 March is the whole month: against the whole of February.
        ((D(2026, 3, 1), D(2026, 4, 1)), "month", (D(2026, 2, 1), D(2026, 3, 1))),
        # On 30 March: 30 days of February do not exist, so February is clipped to its last day.
        ((D(2026, 3, 1), D(2026, 3, 31)), "month", (D(2026, 2, 1), D(2026, 3, 1))),
        # Quarter to date on 4 February: 1 January - 4 February against 1 October - 4 November.
        ((D(2026, 1, 1), D(2026, 2, 5)), "quarter", (D(2025, 10, 1), D(2025, 11, 5))),
        # Year to date on 1 March 2028 (a leap year: 61 days) against the first 61 days of 2027.
        ((D(2028, 1, 1), D(2028, 3, 2)), "year", (D(2027, 1, 1), D(2027, 3, 3))),
        # A whole month against the whole month before, of its own length.
        ((D(2026, 2, 1), D(2026, 3, 1)), "month", (D(2026, 1, 1), D(2026, 2, 1))),
        # A trailing 30 days against the 30 days before.
        ((D(2026, 2, 6), D(2026, 3, 8)), None, (D(2026, 1, 7), D(2026, 2, 6))),
        # A bucket beginning on the 30th: February has no such day, so nothing to compare with.
        ((D(2026, 3, 30), D(2026, 4, 1)), "month", None),
    ],
)
def test_previous_windows_cover_the_same_elapsed_part(window, unit, previous):
    assert comparison_window("previous", *window, unit) == previous


def test_a_week_to_date_is_compared_with_the_same_days_of_the_week_before_from_its_own_start():
    # Weeks from Sunday: Sunday 8 - Tuesday 10 March against Sunday 1 - Tuesday 3 March.
    assert comparison_window("previous", D(2026, 3, 8), D(2026, 3, 11), "week", SUNDAY) == (
        D(2026, 3, 1),
        D(2026, 3, 4),
    )


@pytest.mark.parametrize(
    ("window", "year_ago"),
    [
        ((D(2026, 12, 1), D(2026, 12, 5)), (D(2025, 12, 1), D(2025, 12, 5))),
        ((D(2028, 2, 29), D(2028, 3, 1)), (D(2027, 2, 28), D(2027, 3, 1))),
        ((D(2026, 1, 1), D(2027, 1, 1)), (D(2025, 1, 1), D(2026, 1, 1))),
    ],
)
def test_year_ago_windows_are_the_same_dates_a_year_earlier(window, year_ago):
    assert comparison_window("year_ago", *window, None) == year_ago
