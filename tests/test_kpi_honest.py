"""Honest numbers through the API: relative ranges, complete periods, comparisons (issue #17).

Time is frozen through the app's clock (``AppState.clock``); the company is in New York, so a
relative range crosses the March DST change.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from kpi_core.storage.models import Job, Technician
from kpi_core.web.state import EXTENSION_KEY

VALUES = "/api/v1/kpis/values"
BUDGET = "timeliness.on_budget_rate"


@pytest.fixture
def settings(settings):
    return replace(settings, timezone="America/New_York")


class Clock:
    def __init__(self, app) -> None:
        self.state = app.extensions[EXTENSION_KEY]

    def set(self, instant: datetime) -> None:
        self.state.clock = lambda: instant


@pytest.fixture
def clock(app) -> Clock:
    return Clock(app)


class Jobs:
    def __init__(self, database) -> None:
        self.database = database
        self.count = 0

    def technician(self, name: str) -> int:
        with self.database.session() as session:
            row = Technician(external_ref=name, name=name)
            session.add(row)
            session.flush()
            return row.id

    def budget(self, technician: int, completed: datetime, *, on_budget: bool = True, category: str = "plumbing"):
        """A completed job of an hour, estimated at 90 minutes (on budget) or 30 (over)."""
        self.count += 1
        with self.database.session() as session:
            session.add(
                Job(
                    external_ref=f"J-{self.count}",
                    technician_id=technician,
                    category=category,
                    status="completed",
                    started_at=completed - timedelta(hours=1),
                    completed_at=completed,
                    estimated_minutes=90 if on_budget else 30,
                )
            )


@pytest.fixture
def jobs(database) -> Jobs:
    return Jobs(database)


def ask(client, headers, **params):
    return client.get(VALUES, query_string={"kpi": BUDGET, **params}, headers=headers)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# --- relative ranges ------------------------------------------------------------------------


def test_today_on_the_dst_day_is_its_23_local_hours_and_the_answer_echoes_its_dates(client, admin_headers, clock, jobs):
    ada = jobs.technician("Ada")
    jobs.budget(ada, utc(2026, 3, 8, 4, 30))  # 23:30 EST on the 7th: yesterday
    jobs.budget(ada, utc(2026, 3, 8, 5, 30))  # 00:30 EST on the 8th
    jobs.budget(ada, utc(2026, 3, 9, 3, 30), on_budget=False)  # 23:30 EDT on the 8th
    jobs.budget(ada, utc(2026, 3, 9, 4, 30))  # 00:30 EDT on the 9th: tomorrow
    clock.set(utc(2026, 3, 9, 3, 45))  # 23:45 EDT on Sunday 8 March

    response = ask(client, admin_headers, range="today", period="range")

    assert response.status_code == 200, response.json
    assert (response.headers["X-KPI-Start"], response.headers["X-KPI-End"]) == ("2026-03-08", "2026-03-09")
    [row] = response.json
    assert (row["period_start"], row["period_end"], row["numerator"], row["denominator"]) == (
        "2026-03-08",
        "2026-03-09",
        1.0,
        2.0,
    )
    assert row["complete"] is False


def test_period_range_is_one_bucket_for_a_trailing_30_days(client, admin_headers, clock, jobs):
    ada = jobs.technician("Ada")
    jobs.budget(ada, utc(2026, 11, 3, 15))  # 4 November: 31 days before 4 December, out
    jobs.budget(ada, utc(2026, 11, 4, 15))
    jobs.budget(ada, utc(2026, 11, 20, 15), on_budget=False)
    jobs.budget(ada, utc(2026, 12, 3, 15))
    jobs.budget(ada, utc(2026, 12, 4, 15))  # today: not a whole day yet, out
    clock.set(utc(2026, 12, 4, 18))

    response = ask(client, admin_headers, range="last_30_days", period="range")

    [row] = response.json
    assert (row["period_start"], row["period_end"], row["numerator"], row["denominator"]) == (
        "2026-11-04",
        "2026-12-04",
        2.0,
        3.0,
    )
    assert row["complete"] is True
    # By month the same range is two buckets, each clipped to it.
    by_month = ask(client, admin_headers, range="last_30_days", period="month").json
    assert [(row["period_start"], row["period_end"], row["denominator"]) for row in by_month] == [
        ("2026-11-01", "2026-12-01", 2.0),
        ("2026-12-01", "2026-12-04", 1.0),
    ]


def test_a_cached_relative_range_is_never_served_after_the_day_changes(client, admin_headers, clock, jobs):
    ada = jobs.technician("Ada")
    jobs.budget(ada, utc(2026, 12, 3, 15))
    jobs.budget(ada, utc(2026, 12, 4, 15), on_budget=False)
    clock.set(utc(2026, 12, 4, 20))
    first = ask(client, admin_headers, range="yesterday", period="range")
    again = ask(client, admin_headers, range="yesterday", period="range")
    assert (first.headers["X-KPI-Cache"], again.headers["X-KPI-Cache"]) == ("miss", "hit")

    clock.set(utc(2026, 12, 5, 5, 1))  # 00:01 in New York on the 5th
    after = ask(client, admin_headers, range="yesterday", period="range")

    assert after.headers["X-KPI-Start"] == "2026-12-04"
    assert (first.json[0]["value"], after.json[0]["value"]) == (1.0, 0.0)


def test_each_row_says_whether_its_period_has_ended_in_the_company_zone(client, admin_headers, clock, jobs):
    ada = jobs.technician("Ada")
    jobs.budget(ada, utc(2026, 11, 10, 15))
    jobs.budget(ada, utc(2026, 12, 2, 15))
    clock.set(utc(2026, 12, 1, 4, 59))  # 23:59 on 30 November in New York

    rows = ask(client, admin_headers, start="2026-11-01", end="2027-01-01").json
    assert [(row["period_start"], row["complete"]) for row in rows] == [("2026-11-01", False), ("2026-12-01", False)]

    clock.set(utc(2026, 12, 1, 5, 0))  # midnight: November has ended
    rows = ask(client, admin_headers, start="2026-11-01", end="2027-01-01").json
    assert [(row["period_start"], row["complete"]) for row in rows] == [("2026-11-01", True), ("2026-12-01", False)]


@pytest.mark.parametrize(
    ("params", "field", "listed"),
    [
        ({"range": "last_fortnight"}, "range", "last_30_days"),
        ({"range": "today", "start": "2026-01-01"}, "range", "month_to_date"),
        ({"range": "today", "end": "2026-02-01"}, "range", "month_to_date"),
        ({"start": "2026-01-01", "end": "2026-02-01", "compare": "last_year"}, "compare", "year_ago"),
        ({"start": "2026-01-01", "end": "2026-02-01", "compare": "previous,lastyear"}, "compare", "year_ago"),
        ({"start": "2026-01-01", "end": "2026-02-01", "adjust": "team"}, "adjust", "category"),
        ({"start": "2026-01-01"}, "end", "range"),
    ],
)
def test_bad_ranges_comparisons_and_adjustments_are_422_naming_the_parameter_and_the_choices(
    client, admin_headers, params, field, listed
):
    response = client.get(VALUES, query_string=params, headers=admin_headers)

    assert response.status_code == 422, response.json
    message = " ".join(response.json["errors"]["query"][field])
    assert listed in message


@pytest.mark.parametrize("endpoint", ["/api/v1/scorecards", f"/api/v1/kpis/{BUDGET}/drilldown"])
def test_range_together_with_start_is_refused_by_every_kpi_endpoint(client, admin_headers, endpoint):
    params = {"range": "last_month", "start": "2026-01-01", "end": "2026-02-01", "period_start": "2026-01-01"}
    response = client.get(endpoint, query_string=params, headers=admin_headers)

    assert response.status_code == 422, response.json
    assert "range" in response.json["errors"]["query"]


def test_scorecards_take_a_relative_range_and_answer_its_dates(client, admin_headers, clock, jobs):
    jobs.technician("Ada")
    clock.set(utc(2026, 12, 4, 18))

    response = client.get("/api/v1/scorecards", query_string={"range": "month_to_date"}, headers=admin_headers)

    assert response.status_code == 200, response.json
    body = response.json
    # Four days of December against the same four days of November, not the last four of November.
    assert (body["start"], body["end"], body["previous_start"], body["previous_end"]) == (
        "2026-12-01",
        "2026-12-05",
        "2026-11-01",
        "2026-11-05",
    )
    assert (response.headers["X-KPI-Start"], response.headers["X-KPI-End"]) == ("2026-12-01", "2026-12-05")


def test_the_drilldown_takes_the_range_its_value_was_asked_with(client, admin_headers, clock, jobs):
    ada = jobs.technician("Ada")
    jobs.budget(ada, utc(2026, 11, 20, 15))
    jobs.budget(ada, utc(2026, 12, 3, 15))
    clock.set(utc(2026, 12, 4, 18))
    [value] = ask(client, admin_headers, range="last_30_days", period="range").json

    response = client.get(
        f"/api/v1/kpis/{BUDGET}/drilldown",
        query_string={"range": "last_30_days", "period": "range", "period_start": value["period_start"]},
        headers=admin_headers,
    )

    assert response.status_code == 200, response.json
    assert len(response.json) == value["denominator"] == 2


# --- reports and schedules -------------------------------------------------------------------


def test_a_report_spec_takes_a_relative_range_resolved_on_the_day_it_is_made(plugins):
    from datetime import date
    from zoneinfo import ZoneInfo

    from kpi_core.errors import Invalid
    from kpi_core.reports.spec import parse_spec

    raw = {"format": "csv", "range": "last_week", "period": "day"}
    spec = parse_spec(raw, plugins, ZoneInfo("UTC"), today=date(2026, 3, 8), week_start=6)
    assert (spec.start, spec.end) == (date(2026, 3, 1), date(2026, 3, 8))
    assert spec.to_json()["start"] == "2026-03-01"  # stored resolved, as last_periods is

    for bad in ({**raw, "start": "2026-01-01"}, {**raw, "last_periods": 2}, {**raw, "range": "fortnight"}):
        with pytest.raises(Invalid) as caught:
            parse_spec(bad, plugins, ZoneInfo("UTC"), today=date(2026, 3, 8), prefix="report_spec")
        assert caught.value.field == "report_spec.range"
        assert "month_to_date" in caught.value.message
