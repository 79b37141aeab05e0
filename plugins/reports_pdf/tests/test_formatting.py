"""How values, periods and dates read in the report."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from reports_pdf import formatting as fmt
from reports_pdf.formatting import MISSING


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (0.875, "ratio", "87.5%"),
        (1.0, "ratio", "100.0%"),
        (0.0, "ratio", "0.0%"),
        (4.25, "stars", "4.2 stars"),
        (12.5, "minutes", "12.5 min"),
        (1234.5, "points", "1,234.5 pts"),
        (2.4, "jobs per day", "2.4 jobs/day"),
        (None, "ratio", MISSING),
        (None, "minutes", MISSING),
    ],
)
def test_values_carry_their_unit_and_missing_is_a_dash(value: float | None, unit: str, expected: str) -> None:
    assert fmt.format_value(value, unit) == expected


@pytest.mark.parametrize(
    ("start", "period", "expected"),
    [
        (date(2026, 3, 1), "month", "Mar 2026"),
        (date(2026, 4, 1), "quarter", "Q2 2026"),
        (date(2026, 1, 1), "year", "2026"),
        (date(2026, 3, 2), "week", "W10 2026"),
        (date(2026, 3, 2), "day", "2 Mar 2026"),
    ],
)
def test_period_labels(start: date, period: str, expected: str) -> None:
    assert fmt.period_label(start, period) == expected


def test_chart_ticks_show_the_year_only_where_it_starts_or_changes() -> None:
    ticks = [
        fmt.period_tick(date(y, m, 1), "month", i == 0) for i, (y, m) in enumerate([(2025, 12), (2026, 1), (2026, 2)])
    ]
    assert ticks == ["Dec '25", "Jan '26", "Feb"]


def test_range_prints_the_exclusive_end_as_the_last_day_included() -> None:
    assert fmt.format_range(date(2026, 1, 1), date(2027, 1, 1)) == "1 Jan 2026 \u2013 31 Dec 2026"


def test_generation_time_is_shown_in_the_company_time_zone() -> None:
    moment = datetime(2026, 7, 1, 23, 30, tzinfo=UTC)
    assert fmt.format_generated(moment, "America/New_York") == "1 Jul 2026, 19:30 (America/New_York)"


def test_unknown_time_zone_falls_back_to_utc_and_says_so() -> None:
    assert fmt.format_generated(datetime(2026, 7, 1, 23, 30), "Mars/Olympus") == "1 Jul 2026, 23:30 UTC"


def test_filters_read_as_names_and_values() -> None:
    filters = {"team_id": "North", "category": ["plumbing", "hvac"], "include_callbacks": False, "customer": None}
    assert fmt.format_filters(filters) == [
        ("Team id", "North"),
        ("Categories", "plumbing, hvac"),
        ("Include callbacks", "no"),
        ("Customer", "any"),
    ]


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [(262.8, "USD", "$262.80"), (13264.880000000001, "EUR", "€13,264.88"), (262.8, "CHF", "CHF\u00a0262.80")],
)
def test_money_is_written_in_the_companys_currency_never_as_currency(value, currency, expected) -> None:
    assert fmt.format_value(value, "currency", currency) == expected


def test_the_hosts_filters_are_named_in_the_plural_they_list() -> None:
    assert fmt.format_filters({"team": ["North"], "technician": ["Ann", "Bob"]}) == [
        ("Teams", "North"),
        ("Technicians", "Ann, Bob"),
    ]
