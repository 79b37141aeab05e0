"""Periods in the company time zone: where each begins, as a local date and as a UTC instant."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kpi_core.kpis.periods import (
    MAX_PERIODS,
    TooManyPeriods,
    count_periods,
    local_midnight,
    next_period_start,
    period_floor,
    period_grid,
    single_period,
)

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("day", "period", "first"),
    [
        (date(2026, 1, 1), "week", date(2025, 12, 29)),  # a Thursday: its ISO week began on Monday in 2025
        (date(2026, 1, 4), "week", date(2025, 12, 29)),  # Sunday ends the ISO week
        (date(2026, 1, 5), "week", date(2026, 1, 5)),  # Monday starts one
        (date(2026, 2, 14), "month", date(2026, 2, 1)),
        (date(2026, 3, 31), "quarter", date(2026, 1, 1)),
        (date(2026, 4, 1), "quarter", date(2026, 4, 1)),
        (date(2026, 12, 31), "quarter", date(2026, 10, 1)),
        (date(2026, 7, 9), "year", date(2026, 1, 1)),
        (date(2026, 7, 9), "day", date(2026, 7, 9)),
    ],
)
def test_period_floor_is_the_first_day_of_the_period(day: date, period: str, first: date):
    assert period_floor(day, period) == first


@pytest.mark.parametrize(
    ("day", "period", "following"),
    [
        (date(2026, 12, 31), "day", date(2027, 1, 1)),
        (date(2025, 12, 31), "week", date(2026, 1, 5)),
        (date(2026, 12, 15), "month", date(2027, 1, 1)),
        (date(2026, 11, 2), "quarter", date(2027, 1, 1)),
        (date(2026, 8, 2), "quarter", date(2026, 10, 1)),
        (date(2026, 6, 30), "year", date(2027, 1, 1)),
    ],
)
def test_next_period_start_crosses_year_ends(day: date, period: str, following: date):
    assert next_period_start(day, period) == following


def test_unknown_period_is_refused():
    with pytest.raises(ValueError, match="fortnight"):
        period_floor(date(2026, 1, 1), "fortnight")


def test_local_midnight_is_the_utc_instant_the_local_day_begins():
    assert local_midnight(date(2026, 1, 15), NEW_YORK) == datetime(2026, 1, 15, 5, tzinfo=UTC)  # EST, UTC-5
    assert local_midnight(date(2026, 7, 15), NEW_YORK) == datetime(2026, 7, 15, 4, tzinfo=UTC)  # EDT, UTC-4


def test_the_spring_forward_day_lasts_23_hours():
    grid = period_grid(date(2026, 3, 8), date(2026, 3, 9), "day", NEW_YORK)
    begins, ends = grid.instants

    assert ends - begins == timedelta(hours=23)


def test_the_fall_back_day_lasts_25_hours():
    grid = period_grid(date(2026, 11, 1), date(2026, 11, 2), "day", NEW_YORK)
    begins, ends = grid.instants

    assert ends - begins == timedelta(hours=25)


def test_a_month_boundary_after_a_dst_change_is_local_midnight_in_summer_time():
    grid = period_grid(date(2026, 3, 1), date(2026, 5, 1), "month", NEW_YORK)

    assert grid.labels == (date(2026, 3, 1), date(2026, 4, 1))
    assert grid.instants == (
        datetime(2026, 3, 1, 5, tzinfo=UTC),
        datetime(2026, 4, 1, 4, tzinfo=UTC),
        datetime(2026, 5, 1, 4, tzinfo=UTC),
    )


def test_a_midnight_skipped_by_dst_begins_the_day_at_the_change():
    # Santiago springs forward at midnight: 2026-09-06 has no 00:00; the day begins at 01:00 -03.
    santiago = ZoneInfo("America/Santiago")
    begins = local_midnight(date(2026, 9, 6), santiago)

    assert begins == datetime(2026, 9, 6, 4, tzinfo=UTC)
    assert begins.astimezone(santiago).date() == date(2026, 9, 6)


def test_weeks_are_iso_weeks_clipped_to_the_range():
    grid = period_grid(date(2026, 1, 1), date(2026, 1, 20), "week", ZoneInfo("UTC"))

    assert grid.labels == (date(2025, 12, 29), date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19))
    assert grid.dates == (date(2026, 1, 1), date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19), date(2026, 1, 20))


def test_quarters_cover_a_year():
    grid = period_grid(date(2026, 1, 1), date(2027, 1, 1), "quarter", ZoneInfo("UTC"))

    assert grid.labels == (date(2026, 1, 1), date(2026, 4, 1), date(2026, 7, 1), date(2026, 10, 1))


def test_a_range_starting_mid_period_labels_its_first_bucket_with_the_period_start():
    grid = period_grid(date(2026, 1, 15), date(2026, 3, 10), "month", ZoneInfo("UTC"))

    assert grid.labels == (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1))
    assert grid.dates == (date(2026, 1, 15), date(2026, 2, 1), date(2026, 3, 1), date(2026, 3, 10))


@pytest.mark.parametrize(
    ("start", "end", "period", "count"),
    [
        (date(2026, 1, 1), date(2026, 1, 2), "day", 1),
        (date(2026, 1, 1), date(2027, 1, 1), "day", 365),
        (date(2026, 1, 1), date(2027, 1, 1), "week", 53),
        (date(2026, 1, 15), date(2026, 3, 10), "month", 3),
        (date(2026, 2, 1), date(2026, 4, 1), "quarter", 1),
        (date(2026, 2, 1), date(2026, 4, 2), "quarter", 2),
        (date(2026, 1, 1), date(2026, 1, 1), "month", 0),
    ],
)
def test_count_periods(start: date, end: date, period: str, count: int):
    assert count_periods(start, end, period) == count
    if count:
        assert len(period_grid(start, end, period, ZoneInfo("UTC"))) == count


def test_more_than_the_maximum_number_of_periods_is_refused():
    start = date(2020, 1, 1)

    period_grid(start, start + timedelta(days=MAX_PERIODS), "day", ZoneInfo("UTC"))
    with pytest.raises(TooManyPeriods):
        period_grid(start, start + timedelta(days=MAX_PERIODS + 1), "day", ZoneInfo("UTC"))


def test_an_empty_range_is_refused():
    with pytest.raises(ValueError, match="end must be after start"):
        period_grid(date(2026, 2, 1), date(2026, 2, 1), "month", ZoneInfo("UTC"))


def test_single_period_is_one_bucket_clipped_to_the_range():
    grid = single_period(date(2026, 1, 1), "month", ZoneInfo("UTC"), start=date(2026, 1, 15))

    assert grid.labels == (date(2026, 1, 1),)
    assert grid.dates == (date(2026, 1, 15), date(2026, 2, 1))


def test_single_period_needs_the_first_day_of_a_period():
    with pytest.raises(ValueError, match="not the first day"):
        single_period(date(2026, 1, 2), "month", ZoneInfo("UTC"))
