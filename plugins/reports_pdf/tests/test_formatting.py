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


# How far a value can be trusted, in words (issue #17)


def test_a_period_or_range_under_way_reads_so_far() -> None:
    assert fmt.period_label_so_far(date(2026, 12, 1), "month", complete=False) == "Dec 2026 so far"
    assert fmt.period_label_so_far(date(2026, 11, 1), "month", complete=True) == "Nov 2026"
    assert fmt.format_range(date(2026, 12, 1), date(2026, 12, 27), False, today=date(2026, 12, 26)) == (
        "1 Dec 2026 \u2013 26 Dec 2026 so far"
    )


def test_a_range_running_on_past_the_day_it_was_made_says_how_far_it_had_got() -> None:
    assert fmt.format_range(date(2026, 9, 1), date(2027, 1, 1), False, today=date(2026, 12, 6)) == (
        "1 Sep 2026 \u2013 31 Dec 2026, so far to 6 Dec 2026"
    )
    assert fmt.local_date(datetime(2026, 12, 6, 23, 30, tzinfo=UTC), "Europe/Helsinki") == date(2026, 12, 7)


def test_a_rates_margin_is_the_wider_side_of_its_interval_in_percentage_points() -> None:
    assert fmt.format_margin(0.945, 0.912, 0.966, "ratio") == "\u00b1 3.3 pp"
    assert fmt.format_margin(0.5, 0.45, 0.6, "ratio") == "\u00b1 10 pp"
    assert fmt.format_margin(4.5, 4.0, 5.0, "stars") == ""  # a mean has no interval in the report
    assert fmt.format_margin(None, None, None, "ratio") == ""


@pytest.mark.parametrize(
    ("status", "certain", "facts", "expected"),
    [
        ("insufficient", None, "jobs", "too few jobs"),
        ("insufficient", None, "evaluations", "too few evaluations"),
        ("amber", False, "jobs", "borderline"),
        ("amber", True, "jobs", ""),
        (None, None, "jobs", ""),
    ],
)
def test_a_badge_says_what_its_colour_does_not(status, certain, facts, expected) -> None:
    assert fmt.status_caption(status, certain, facts) == expected


def test_a_provisional_value_says_how_many_jobs_can_still_change_it_and_why() -> None:
    assert fmt.pending_note(803, "jobs", "Callback window still open", has_value=True) == (
        "Provisional: 803 jobs can still change this value (callback window still open)."
    )
    assert fmt.pending_note(1, "jobs", "", has_value=True) == "Provisional: 1 job can still change this value."
    assert fmt.pending_note(1204, "jobs", "SLA window open", has_value=False) == (
        "No value yet: the outcome of 1,204 jobs is not known yet, so they are not counted (SLA window open)."
    )


def test_footnote_marks_are_superscript_numbers() -> None:
    assert [fmt.mark(1), fmt.mark(2), fmt.mark(12)] == ["\u00b9", "\u00b2", "\u00b9\u00b2"]
