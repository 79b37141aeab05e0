"""The pages' own tables, empty states and words, in a real Chromium (issue #16): every table can
be downloaded as CSV (the technicians, the jobs, a scorecard and its KPI values); a page with
nothing to show says why and what to do; a technician's scorecard says how far its numbers can be
trusted, as the dashboard's cards do; and nothing on screen is a key or a raw API value."""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest
from harness import PASSWORD, Server

FTF = "quality.first_time_fix_rate"
ON_TIME = "timeliness.on_time_arrival_rate"
EMPTY = {"period": "month", "start": "2020-01-01", "end": "2020-03-01"}


def company_today() -> date:
    """The demo company keeps its books in UTC (KPI_TIMEZONE's default)."""
    return datetime.now(UTC).date()


def month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def six_months() -> dict[str, str]:
    """What a technician's page shows first: the six whole months before this one."""
    today = company_today()
    return {"period": "month", "start": month_start(today, 6).isoformat(), "end": month_start(today).isoformat()}


def read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def download(page, host) -> tuple[str, list[str], list[list[str]]]:
    """Open the Download menu in ``host`` and take the numbers as CSV: its name, header and rows."""
    host.locator("summary[aria-label^='Download']").first.click()
    with page.expect_download() as info:
        host.locator("button[data-download='csv']").first.click()
    header, *rows = read_csv(Path(info.value.path()))
    return info.value.suggested_filename, header, rows


def total(server: Server, path: str, token: str) -> int:
    """How many items a listing has, from its X-Pagination header."""
    request = urllib.request.Request(f"{server.url}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as answer:
        return json.loads(answer.headers["X-Pagination"])["total"]


def disable(server: Server, user_id: int, token: str) -> None:
    """PATCH a user to disabled, with the If-Match its GET gives."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    path = f"{server.url}/api/v1/users/{user_id}"
    with urllib.request.urlopen(urllib.request.Request(path, headers=headers)) as answer:
        etag = answer.headers["ETag"]
    headers |= {"If-Match": etag, "Content-Type": "application/json"}
    body = json.dumps({"disabled": True}).encode()
    urllib.request.urlopen(urllib.request.Request(path, data=body, method="PATCH", headers=headers)).close()


def answer_with(page, pattern: str, body) -> None:
    """The app's request for ``pattern`` answered with ``body`` (a state the demo data never has)."""
    page.route(pattern, lambda route: route.fulfill(json=body, headers={"X-Pagination": json.dumps({"total": 0})}))


# --- downloads ------------------------------------------------------------------------------------


def test_the_technicians_list_downloads_as_csv(login, page, server):
    login("admin")
    page.goto("/technicians")
    page.locator("table.technicians tbody tr").first.wait_for()
    name, header, rows = download(page, page.locator("kpi-technician-page"))

    assert name == "technicians.csv"
    assert header == ["Name", "Reference", "Team", "Active"]
    token = server.token("admin")
    listed = server.get("/api/v1/technicians?page_size=100&sort=name", token)
    assert [row[0] for row in rows] == [person["name"] for person in listed]
    teams = {team["name"] for team in server.get("/api/v1/teams?page_size=100", token)}
    assert {row[2] for row in rows} <= teams | {""}  # teams by name, never by id
    assert {row[3] for row in rows} <= {"Yes", "No"}


def test_the_jobs_list_downloads_every_job_it_lists_not_one_page(login, page, server):
    tech = server.people.technician_id
    query = {"technician": tech, "status": "completed"}
    listed = total(server, f"/api/v1/jobs?{urlencode(query)}", server.token("manager"))
    assert listed > 25  # more than the one page on screen
    login("manager")
    page.goto(f"/jobs?{urlencode(query)}")
    page.locator("table.jobs tbody tr").first.wait_for()
    name, header, rows = download(page, page.locator("kpi-jobs-page"))

    assert name == "jobs-completed.csv"
    assert header == [
        "Reference",
        "Technician",
        "Crew",
        "Category",
        "Status",
        "Scheduled",
        "Arrived",
        "Completed",
        "Estimate (minutes)",
        "Revenue (USD)",  # money with its currency code in the header
    ]
    assert len(rows) == listed
    assert all(row[2].startswith(row[1]) for row in rows)  # the lead first, by name
    assert {row[4] for row in rows} == {"Completed"}
    assert all(re.fullmatch(r"\d+(\.\d{1,2})?|", row[9]) for row in rows)  # to the cent, or none
    assert all(re.search(r"\d{4}, \d{1,2}:\d{2} [AP]M \w+", row[5]) for row in rows)  # in the company's zone


def test_a_scorecard_downloads_its_score_table_and_its_kpi_values(login, page, server):
    login("tech")
    me = server.people.technician_id
    scorecard = page.locator("section[aria-labelledby='scorecard-title']")
    scorecard.locator(".score-table tbody tr").first.wait_for()
    name, header, rows = download(page, scorecard.locator("kpi-download-menu[label='the scorecard']"))

    window = six_months()
    assert name.startswith(re.sub(r"[^a-z0-9]+", "-", page.locator("h1").inner_text().lower()) + "-scorecard-")
    assert header[:8] == ["KPI", "Your value", "Unit", "Status", "Team's value", "On target from", "Weight", "Points"]
    token = server.token("tech")
    cards = server.get(f"/api/v1/scorecards?{urlencode({**window, 'technician': me})}", token)
    [row] = [card for card in cards["technicians"] if card["technician_id"] == me]
    scored = [part for part in row["contributions"] if part["weight"] > 0]
    assert [line[0] for line in rows[:-1]] == [part["label"] for part in scored]
    for line, part in zip(rows, scored, strict=False):
        if line[2] == "%" and part["value"] is not None:
            assert line[1] == f"{round(part['value'] * 100, 1):g}"  # a rate in %, rounded
    assert rows[-1][:2] == ["Score (out of 100)", f"{round(row['score'], 1):g}"]

    trends = page.locator("section[aria-labelledby='trends-title']")
    trends.locator("table.kpi-values a[data-value]").first.wait_for()
    name, header, rows = download(page, trends.locator("kpi-download-menu[label='every KPI by period']"))
    assert "-kpis-" in name
    assert header[:5] == ["KPI", "Period", "First day", "Value", "Unit"]
    assert "Margin (± percentage points)" in header and "Provisional" in header
    values = server.get(
        f"/api/v1/kpis/values?{urlencode({**window, 'technician': me, 'group_by': 'technician'})}", token
    )
    assert len(rows) == len(values)
    margins = [line[header.index("Margin (± percentage points)")] for line in rows if line[4] == "%" and line[3]]
    assert margins and all(re.fullmatch(r"\d+(\.\d)?", margin) for margin in margins)


# --- a scorecard as honest as the dashboard -----------------------------------------------------


def test_a_scorecard_kpi_with_too_few_jobs_says_so_and_is_not_coloured(login, page, server):
    token = server.token("admin")
    window = {**six_months(), "category": "electrical"}
    cards = server.get(f"/api/v1/scorecards?{urlencode(window)}", token)
    small = next(
        (row, part)
        for row in cards["technicians"]
        for part in row["contributions"]
        if part["status"] == "insufficient" and part["value"] is not None and part["weight"] > 0
    )
    row, part = small
    login("admin")
    page.goto(f"/technicians/{row['technician_id']}?{urlencode(window)}")
    cell = page.locator(f".score-table tr[data-kpi='{part['kpi']}'] td[data-value]")
    cell.wait_for()

    assert cell.locator(".status-words").inner_text() == "too few jobs"
    name = page.locator(f".score-table tr[data-kpi='{part['kpi']}'] td").first
    assert cell.evaluate("td => getComputedStyle(td).color") == name.evaluate("td => getComputedStyle(td).color")


def test_a_period_under_way_says_so_far(login, page, server, screenshot):
    login("tech")
    page.locator("[data-rank='Company rank']").wait_for()
    page.get_by_label("Period", exact=True).select_option(label="This month so far")
    page.wait_for_url(re.compile(f"start={month_start(company_today()).isoformat()}"))
    page.locator("[data-so-far]").wait_for()

    assert "(so far)" in page.locator("h1 + .hint").inner_text()
    # A colour is "so far" (a sample too small for one says so instead: "too few jobs").
    words = page.locator(".score-table .status-words").all_inner_texts()
    assert words and all(text.endswith("so far") or text.startswith("too few") for text in words), words
    header = page.locator("table.kpi-values thead th[data-complete='false']")
    header.wait_for()
    assert header.inner_text().endswith("so far")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("technician-scorecard-so-far-phone")


def test_a_rate_in_the_values_table_shows_its_margin(login, page, server):
    me = server.people.technician_id
    window = six_months()
    query = {**window, "kpi": ON_TIME, "technician": me, "group_by": "technician"}
    rows = [row for row in server.get(f"/api/v1/kpis/values?{urlencode(query)}", server.token("tech")) if row["ci_low"]]
    login("tech")
    for row in rows:
        link_selector = f"a[data-kpi='{ON_TIME}'][data-period='{row['period_start']}']"
        page.locator(f"table.kpi-values {link_selector}").wait_for()
        half = max(row["value"] - row["ci_low"], row["ci_high"] - row["value"]) * 100
        margin = page.locator("table.kpi-values td", has=page.locator(link_selector)).locator("[data-interval]")
        assert margin.inner_text() == f"± {round(half, 1):g} pp"
    assert "the true rate lies within it 95 times in 100" in page.locator(".values-key").inner_text()


def test_a_value_that_can_still_change_is_marked_provisional(login, page, server):
    me = server.people.technician_id
    query = {**six_months(), "kpi": FTF, "technician": me, "group_by": "technician"}
    rows = server.get(f"/api/v1/kpis/values?{urlencode(query)}", server.token("tech"))
    provisional = [row for row in rows if row["provisional"] and row["value"] is not None]
    if not provisional:
        pytest.skip("every callback window of the range has closed")
    login("tech")
    for row in provisional:
        link = page.locator(f"a[data-kpi='{FTF}'][data-period='{row['period_start']}']")
        mark = page.locator("table.kpi-values td", has=link).locator(".provisional")
        mark.wait_for()
        assert float(mark.get_attribute("data-pending")) == row["pending"]
    assert "Provisional:" in page.locator(".values-key").inner_text()


def test_a_scorecard_judged_by_job_mix_shows_the_expected_rate(login, page, server):
    admin = server.token("admin")
    setting = "/api/v1/plugins/settings/core.rank_by_job_mix"
    server.call("PUT", setting, {"value": True}, token=admin)
    try:
        login("tech")
        expected = page.locator(".score-table [data-expected]").first
        expected.wait_for()
        assert re.fullmatch(r"expected \d+(\.\d)?% for the job mix", expected.inner_text())
        assert "fairly by job mix" in page.locator("p[data-fair]").inner_text()
    finally:
        server.call("PUT", setting, {"value": False}, token=admin)


# --- empty pages say why and what to do ----------------------------------------------------------


def test_a_technicians_page_without_jobs_in_its_period_says_why_and_what_to_do(login, page, server, screenshot):
    login("manager")
    page.goto(f"/technicians/{server.people.technician_id}?{urlencode(EMPTY)}")
    for section in ("scorecard-title", "trends-title"):
        state = page.locator(f"section[aria-labelledby='{section}'] .state.empty")
        state.wait_for()
        assert re.match(
            r"No (scorecard|KPI values) for this period: none of .+ jobs are counted from", state.inner_text()
        )
        assert "Choose a longer period above" in state.inner_text()
        assert state.get_by_role("link", name="Import jobs").get_attribute("href") == "/jobs"
    screenshot("technician-scorecard-empty")


def test_a_technician_is_told_who_imports_their_jobs(login, page):
    login("tech")
    page.locator("[data-rank='Company rank']").wait_for()
    page.goto(page.url.split("?")[0] + "?" + urlencode(EMPTY))
    state = page.locator("section[aria-labelledby='scorecard-title'] .state.empty")
    state.wait_for()
    assert "none of your jobs are counted" in state.inner_text()
    assert "once the office imports them" in state.inner_text()
    assert state.get_by_role("link").count() == 0


def test_a_jobs_filter_that_matches_nothing_offers_every_job(login, page):
    login("manager")
    page.goto("/jobs?status=cancelled&from=2020-01-01&to=2020-01-02")
    state = page.locator("kpi-jobs-page .state.empty")
    state.wait_for()
    assert state.locator(".why").inner_text() == "No jobs match these filters."
    state.get_by_role("link", name="Show every job").click()
    page.locator("table.jobs tbody tr").first.wait_for()
    assert page.url.endswith("/jobs")


def test_no_technicians_says_how_they_are_added(login, page):
    answer_with(page, "**/api/v1/technicians?*", [])
    login("admin")
    page.goto("/technicians")
    state = page.locator("kpi-technician-page .state.empty")
    state.wait_for()
    assert state.locator(".why").inner_text() == "No technicians yet."
    assert "Create technicians that are not on file yet" in state.inner_text()
    assert state.get_by_role("link", name="Import jobs").get_attribute("href") == "/jobs"


def test_no_reports_and_no_schedules_say_how_to_make_them(login, page):
    answer_with(page, "**/api/v1/reports?*", [])
    answer_with(page, "**/api/v1/schedules?*", [])
    login("manager")
    page.goto("/reports")
    reports = page.locator("section[aria-labelledby='list-title'] .state.empty")
    reports.wait_for()
    assert reports.locator(".why").inner_text() == "No reports yet."
    assert "generate it" in reports.inner_text()
    schedules = page.locator("section[aria-labelledby='schedules-title'] .state.empty")
    assert schedules.locator(".why").inner_text() == "No reports are scheduled."
    assert "An admin can schedule a report" in schedules.inner_text()


def test_no_teams_says_what_a_team_is_for(login, page):
    answer_with(page, "**/api/v1/teams?*", [])
    login("admin")
    page.goto("/admin/teams")
    state = page.locator("kpi-admin-page .state.empty")
    state.wait_for()
    assert state.locator(".why").inner_text() == "No teams yet."
    assert "Add a team below" in state.inner_text()


# --- words, not keys ------------------------------------------------------------------------------


def test_job_statuses_are_words(login, page):
    login("manager")
    page.goto("/jobs")
    page.locator("table.jobs tbody tr").first.wait_for()
    shown = set(page.locator("table.jobs td[data-status]").all_inner_texts())
    assert shown and shown <= {"Scheduled", "Completed", "Cancelled"}
    options = page.get_by_label("Status").locator("option").all_inner_texts()
    assert options == ["All", "Scheduled", "Completed", "Cancelled"]


def test_a_kpi_no_longer_declared_is_named_in_words_not_by_its_key(login, page, server):
    declared = [kpi for kpi in server.get("/api/v1/kpis", server.token("admin")) if kpi["key"] != ON_TIME]
    answer_with(page, "**/api/v1/kpis", declared)
    login("admin")
    card = page.locator(f"kpi-card-widget [data-kpi='{ON_TIME}'] .hint").first
    card.wait_for()
    assert card.inner_text().startswith("On time arrival rate")
    assert ON_TIME not in page.locator("kpi-card-widget").first.inner_text()


def test_a_plugins_load_error_says_what_failed_in_words(login, page, server):
    listing = server.get("/api/v1/plugins", server.token("admin"))
    problem = {"name": "acme-kpis", "stage": "import", "reason": "No module named 'acme_kpis.metrics'"}
    answer_with(page, "**/api/v1/plugins", {**listing, "problems": [problem]})
    login("admin")
    page.goto("/admin/plugins")
    cell = page.locator("table.problems td[data-stage]")
    cell.wait_for()
    assert cell.inner_text() == "Loading its code"
    assert page.locator("table.problems th").all_inner_texts()[1] == "What failed"


def test_a_new_manager_without_teams_is_told_who_adds_technicians(login, page, server):
    admin = server.token("admin")
    username = f"lonely-{datetime.now(UTC):%H%M%S%f}"
    body = {"username": username, "password": PASSWORD, "role": "manager", "must_change_password": False}
    user = server.call("POST", "/api/v1/users", body, token=admin)
    try:
        login(username)
        page.goto("/technicians")
        state = page.locator("kpi-technician-page .state.empty")
        state.wait_for()
        assert state.locator(".why").inner_text() == "No technicians in your teams yet."
        assert state.get_by_role("link").count() == 0  # a manager does not add technicians
    finally:
        disable(server, user["id"], admin)
