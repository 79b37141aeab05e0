"""Numbers that never claim more than they know, in a real Chromium (issue #17): the dashboard opens
on the last complete month; a month under way says "so far" and is compared with the same days of
the month before; rates show their margin; a small sample says "too few jobs" and is not coloured;
values whose outcome can still change say they are provisional; the drill-down's reasons are the
API's."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

import pytest
from harness import Server

FTF = "quality.first_time_fix_rate"
ON_TIME = "timeliness.on_time_arrival_rate"
CARD = {FTF: "quality.ftf_card", ON_TIME: "timeliness.on_time_card"}


def company_today() -> date:
    """The demo company keeps its books in UTC (KPI_TIMEZONE's default)."""
    return datetime.now(UTC).date()


def month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def values(server: Server, kpi: str, **query: str) -> list[dict]:
    params = {"kpi": kpi, "group_by": "company", "period": "month", **query}
    return server.get(f"/api/v1/kpis/values?{urlencode(params)}", server.token("admin"))


def card(page, kpi: str):
    metric = page.locator(f"[data-widget='{CARD[kpi]}'] [data-kpi='{kpi}']")
    metric.locator(".hint").wait_for()
    return metric


def test_the_dashboard_opens_on_the_last_complete_month(login, page, server):
    login("admin")
    metric = card(page, ON_TIME)
    metric.locator("a.value").wait_for()
    last_month = month_start(company_today(), 1)
    assert metric.get_attribute("data-complete") == "true"
    assert "so far" not in metric.inner_text()
    [row] = values(
        server, ON_TIME, start=last_month.isoformat(), end=month_start(company_today()).isoformat(), compare="previous"
    )
    assert float(metric.locator("a.value").get_attribute("data-value")) == pytest.approx(row["value"])
    # The change is the API's, against the whole month before.
    change = metric.locator("[data-change]")
    assert float(change.get_attribute("data-change")) == pytest.approx(row["previous"]["change"])
    assert "vs the same days" not in change.inner_text()


def test_a_month_under_way_says_so_far_and_is_compared_with_the_same_days(login, page, server, screenshot):
    login("admin")
    card(page, ON_TIME).locator("a.value").wait_for()
    page.get_by_label("Period", exact=True).select_option(label="This month so far")
    page.wait_for_url(lambda url: f"start={month_start(company_today()).isoformat()}" in url)
    metric = card(page, ON_TIME)
    metric.locator("a.value").wait_for()
    assert metric.get_attribute("data-complete") == "false"
    assert "so far" in metric.locator(".hint").inner_text()
    assert "so far" in metric.locator(".badge").inner_text()
    change = metric.locator("[data-change]")
    assert "vs the same days of" in change.inner_text()
    today = company_today()
    [row] = values(
        server,
        ON_TIME,
        start=month_start(today).isoformat(),
        end=(today + timedelta(days=1)).isoformat(),
        compare="previous",
    )
    assert row["complete"] is False
    assert float(change.get_attribute("data-change")) == pytest.approx(row["previous"]["change"])
    screenshot("dashboard-month-so-far", full_page=False)


def test_a_rate_shows_its_margin(login, page, server):
    login("admin")
    metric = card(page, ON_TIME)
    margin = metric.locator("[data-interval]")
    margin.wait_for()
    last_month = month_start(company_today(), 1)
    [row] = values(server, ON_TIME, start=last_month.isoformat(), end=month_start(company_today()).isoformat())
    half = max(row["value"] - row["ci_low"], row["ci_high"] - row["value"]) * 100
    assert margin.inner_text() == f"± {round(half, 1):g} pp"


def test_a_small_sample_says_too_few_jobs_and_is_not_coloured(login, page, server, screenshot):
    last_month = month_start(company_today(), 1)
    window = {"start": last_month.isoformat(), "end": month_start(company_today()).isoformat()}
    rows = server.get(
        "/api/v1/kpis/values?"
        + urlencode({"kpi": ON_TIME, "group_by": "technician", "period": "month", "category": "electrical", **window}),
        server.token("admin"),
    )
    small = next(row for row in rows if row["status"] == "insufficient" and row["value"] is not None)
    login("admin")
    filters = {"period": "month", **window, "technician": small["group_id"], "category": "electrical"}
    page.goto(f"/dashboard?{urlencode(filters)}")
    metric = card(page, ON_TIME)
    metric.locator("a.value").wait_for()
    assert metric.locator(".badge").inner_text() == "too few jobs"
    value_class = metric.locator("a.value").get_attribute("class")
    assert not {"green", "amber", "red"} & set(value_class.split())
    assert int(metric.locator("[data-sample]").inner_text()) == small["denominator"]
    screenshot("dashboard-too-few-jobs", full_page=False)


def test_a_value_whose_outcome_can_still_change_says_it_is_provisional(login, page, server):
    login("admin")
    metric = card(page, FTF)
    last_month = month_start(company_today(), 1)
    [row] = values(server, FTF, start=last_month.isoformat(), end=month_start(company_today()).isoformat())
    if not row["provisional"]:
        pytest.skip("every callback window of last month has closed (the demo's data is older than 30 days)")
    note = metric.locator("[data-pending]")
    assert float(note.get_attribute("data-pending")) == row["pending"]
    assert "Provisional" in note.inner_text()


def test_the_drilldowns_reasons_are_the_apis(login, page, server):
    last_month = month_start(company_today(), 2)
    query = {
        "kpi": ON_TIME,
        "group_by": "company",
        "period": "month",
        "period_start": last_month.isoformat(),
        "start": last_month.isoformat(),
        "end": month_start(company_today(), 1).isoformat(),
    }
    summary = server.get(f"/api/v1/kpis/{ON_TIME}/drilldown/summary?{urlencode(query)}", server.token("admin"))
    assert summary["excluded"] > 0 and summary["reasons"]
    login("admin")
    page.goto(f"/jobs/behind?{urlencode(query)}")
    why = page.locator("p.why")
    why.wait_for()
    assert int(why.get_attribute("data-facts")) == summary["facts"]
    assert int(why.get_attribute("data-excluded")) == summary["excluded"]
    for reason in summary["reasons"]:
        shown = why.locator(f"[data-reason='{reason['code']}']").inner_text()
        assert shown == f"{reason['label']}: {reason['facts']:,}"


def test_a_leaderboard_compares_fairly_by_job_mix_when_asked(login, page, server, screenshot):
    login("admin")
    board = page.locator("kpi-leaderboard-widget").filter(has=page.locator("[data-widget='quality.leaderboard']"))
    board.locator("tbody tr[data-technician]").first.wait_for()
    toggle = board.locator("input[data-fair]")
    assert not toggle.is_checked()  # the admins' setting is off by default
    with page.expect_response(lambda response: "/api/v1/scorecards?" in response.url) as answer:
        toggle.check()
    page.wait_for_url(lambda url: "fair=1" in url)
    body = answer.value.json()
    assert body["adjust"] == "category"
    board.locator("[data-expected]").first.wait_for()
    assert "fairly by job mix" in board.locator("p.hint").first.inner_text()
    # The board's order is the API's fair ranks on its KPI.
    kpi = board.locator("td[data-kpi]").first.get_attribute("data-kpi")
    ranked = sorted(
        (part["rank"], row["technician_id"])
        for row in body["technicians"]
        for part in row["contributions"]
        if part["kpi"] == kpi and part["rank"] is not None
    )
    shown = [
        int(row.get_attribute("data-technician"))
        for row in board.locator("tbody tr[data-rank]:not([data-rank=''])").all()
    ]
    assert shown == [technician for _rank, technician in ranked][: len(shown)]
    screenshot("leaderboard-fair", full_page=False)
