"""Charts and the widgets' numbers in a real Chromium: axes that do not exaggerate, the target
band, a single period shown as a value, points that open the jobs behind them, downloads (PNG and
CSV) and empty states that say why and what to do."""

from __future__ import annotations

import csv
import io
import re
import struct
import urllib.request
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from harness import SCREENSHOTS, Server

FTF = "quality.first_time_fix_rate"
REVENUE = "productivity.revenue_per_completed_job"
UTILISATION = "productivity.utilisation"
SIZES = {"phone": (390, 844), "desktop": (1366, 900)}


def month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def six_months() -> dict[str, str]:
    """The six whole months before this one: a range with a trend in the demo data."""
    return {
        "period": "month",
        "start": month_start(date.today(), 6).isoformat(),
        "end": month_start(date.today()).isoformat(),
    }


def company_values(server: Server, token: str, kpi: str, query: dict[str, str]) -> list[dict]:
    params = {**query, "kpi": kpi, "group_by": "company"}
    rows = server.get(f"/api/v1/kpis/values?{urlencode(params)}", token)
    return sorted(rows, key=lambda row: row["period_start"])


def company_target(server: Server, token: str, kpi: str) -> dict:
    return next(item for item in server.get("/api/v1/targets", token) if item["metric_key"] == kpi)["company"]


def open_dashboard(page, query: dict[str, str]):
    page.goto(f"/dashboard?{urlencode(query)}")
    page.locator("kpi-card-widget a.value").first.wait_for()


def trend(page, widget: str):
    """The trend widget (its host element) declared as ``widget``, drawn and scrolled into view."""
    host = page.locator("kpi-trend-widget").filter(has=page.locator(f"[data-widget='{widget}']"))
    host.locator(".chart[data-y-max]").wait_for()
    host.locator("canvas").scroll_into_view_if_needed()
    return host


def axis(host) -> tuple[float, float]:
    box = host.locator(".chart")
    return float(box.get_attribute("data-y-min")), float(box.get_attribute("data-y-max"))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def read_csv(path: Path) -> list[list[str]]:
    text = path.read_text(encoding="utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def remove(server: Server, path: str, token: str) -> None:
    """DELETE a record, with the If-Match its GET gives."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    with urllib.request.urlopen(urllib.request.Request(f"{server.url}{path}", headers=headers)) as answer:
        etag = answer.headers["ETag"]
    request = urllib.request.Request(f"{server.url}{path}", method="DELETE", headers={**headers, "If-Match": etag})
    urllib.request.urlopen(request).close()


def download(page, host, kind: str):
    """Open the widget's Download menu and take the ``kind`` (png / csv) file."""
    host.locator("summary[aria-label^='Download']").click()
    with page.expect_download() as info:
        host.locator(f"button[data-download='{kind}']").click()
    return info.value


# --- axes and the target band -------------------------------------------------------------------


def test_a_rate_trend_axis_holds_the_target_band_and_never_zooms_in_on_a_few_points(login, page, server):
    login("admin")
    query = six_months()
    open_dashboard(page, query)
    host = trend(page, "quality.ftf_trend")
    low, high = axis(host)
    token = server.token("admin")
    target = company_target(server, token, FTF)
    values = [row["value"] * 100 for row in company_values(server, token, FTF, query) if row["value"] is not None]

    assert 0 <= low <= target["amber"] * 100 <= target["green"] * 100 <= high <= 100
    assert low <= min(values) and max(values) <= high
    assert high - low >= 20, f"a {high - low:.0f} point axis makes small changes look like cliffs"
    # The band is named under the chart, in words, with the thresholds the API gives.
    legend = host.locator("p.targets")
    assert float(legend.get_attribute("data-target-green")) == target["green"]
    assert "on target: 90.0% or more" in legend.inner_text()


def test_a_money_trend_starts_at_zero(login, page):
    login("admin")
    open_dashboard(page, six_months())
    low, high = axis(trend(page, "productivity.revenue_trend"))
    assert low == 0
    assert high > 0


def test_a_single_period_is_shown_as_its_value_not_a_lonely_dot(login, page, server, screenshot):
    login("admin")
    last = month_start(date.today(), 1)
    query = {"period": "month", "start": last.isoformat(), "end": month_start(date.today()).isoformat()}
    open_dashboard(page, query)
    host = page.locator("kpi-trend-widget").filter(has=page.locator("[data-widget='quality.ftf_trend']"))
    value = host.locator(f".stat[data-kpi='{FTF}'] a.value")
    value.wait_for()
    assert host.locator("canvas").count() == 0
    [row] = company_values(server, server.token("admin"), FTF, query)
    assert float(value.get_attribute("data-value")) == pytest.approx(row["value"])
    assert value.inner_text() == f"{row['value'] * 100:.1f}%"
    assert "choose a longer range" in host.locator(".single").inner_text()
    screenshot("charts-single-period")


# --- from a point to the jobs behind it ---------------------------------------------------------


def test_clicking_a_point_opens_the_drilldown_of_that_value(login, page, server):
    login("admin")
    query = six_months()
    open_dashboard(page, query)
    host = trend(page, "quality.ftf_trend")
    rows = company_values(server, server.token("admin"), FTF, query)
    index = len(rows) - 2
    point = host.evaluate(
        "(el, i) => { const p = el.chart.getDatasetMeta(0).data[i]; return {x: p.x, y: p.y}; }", index
    )
    box = host.locator("canvas").bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])

    page.wait_for_url(re.compile(r"/jobs/behind\?"))
    asked = {key: values[0] for key, values in parse_qs(urlparse(page.url).query).items()}
    assert (asked["kpi"], asked["group_by"], asked["period"]) == (FTF, "company", "month")
    assert asked["period_start"] == rows[index]["period_start"]
    totals = page.locator("p.totals")
    totals.wait_for()
    assert float(totals.get_attribute("data-numerator")) == rows[index]["numerator"]
    assert float(totals.get_attribute("data-denominator")) == rows[index]["denominator"]


def test_clicking_beside_the_points_goes_nowhere(login, page):
    login("admin")
    open_dashboard(page, six_months())
    host = trend(page, "quality.ftf_trend")
    box = host.locator("canvas").bounding_box()
    # Inside the plot, between the first two periods, at the bottom of the axis: far from every point.
    spot = host.evaluate(
        "el => { const c = el.chart, d = c.getDatasetMeta(0).data;"
        " return {x: (d[0].x + d[1].x) / 2, y: c.chartArea.bottom - 4}; }"
    )
    page.mouse.click(box["x"] + spot["x"], box["y"] + spot["y"])
    page.wait_for_timeout(300)
    assert urlparse(page.url).path == "/dashboard"
    # The tooltip still shows the values of that period (hovering is reading, clicking a point is going).
    assert host.evaluate("el => el.chart.tooltip.getActiveElements().length") >= 1


def test_keyboard_users_reach_the_same_jobs_from_the_numbers_table(login, page, server):
    login("admin")
    query = six_months()
    open_dashboard(page, query)
    host = trend(page, "quality.ftf_trend")
    summary = host.get_by_text("Show the numbers")
    summary.focus()
    page.keyboard.press("Enter")
    rows = company_values(server, server.token("admin"), FTF, query)
    link = host.locator("details table tbody a").first
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/jobs/behind\?"))
    asked = parse_qs(urlparse(page.url).query)
    assert asked["period_start"] == [rows[0]["period_start"]]
    assert asked["kpi"] == [FTF]


# --- downloads --------------------------------------------------------------------------------


def test_a_chart_downloads_as_a_png_image(login, page, tmp_path):
    login("admin")
    query = six_months()
    open_dashboard(page, query)
    host = trend(page, "quality.ftf_trend")
    canvas = host.locator("canvas").bounding_box()

    file = download(page, host, "png")
    first, last = query["start"][:7], month_start(date.today(), 1).isoformat()[:7]
    assert file.suggested_filename == f"first-time-fix-trend-{first}-to-{last}.png"
    file.save_as(SCREENSHOTS / "charts-downloaded-chart.png")  # to look at, beside the screenshots
    width, height = png_size(Path(file.path()).read_bytes())
    assert width >= 2 * int(canvas["width"]) - 2  # twice the screen's resolution, for print
    assert height >= 2 * int(canvas["height"]) - 2


def test_a_charts_numbers_download_as_csv_with_units_in_the_header(login, page, server):
    login("admin")
    query = six_months()
    open_dashboard(page, query)
    file = download(page, trend(page, "quality.ftf_trend"), "csv")
    assert file.suggested_filename.endswith(".csv")
    assert file.suggested_filename.startswith("first-time-fix-trend-")
    header, *rows = read_csv(Path(file.path()))

    assert header == ["Period", "First day", "First-time fix rate (%)", "First-time fix rate: jobs counted"]
    expected = company_values(server, server.token("admin"), FTF, query)
    assert [row[1] for row in rows] == [value["period_start"] for value in expected]
    for row, value in zip(rows, expected, strict=True):
        assert row[2] == f"{round(value['value'] * 100, 1):g}"  # rounded for reading: 89.3, not 89.30817610062893
        assert int(row[3]) == value["denominator"]


def test_money_is_downloaded_with_its_currency_code_in_the_header(login, page):
    login("admin")
    open_dashboard(page, six_months())
    file = download(page, trend(page, "productivity.revenue_trend"), "csv")
    header, *rows = read_csv(Path(file.path()))
    assert header[2] == "Revenue per completed job (USD)"
    assert all(re.fullmatch(r"\d+(\.\d{1,2})?", row[2]) for row in rows), rows


def test_a_table_downloads_as_csv_and_a_name_cannot_become_a_formula(login, page, server):
    admin = server.token("admin")
    created = server.call(
        "POST",
        "/api/v1/technicians",
        {"external_ref": "T-CSV-FORMULA", "name": "@Sam Field", "team_id": None},
        token=admin,
    )
    try:
        login("admin")
        query = six_months()
        open_dashboard(page, query)
        host = page.locator("kpi-leaderboard-widget").filter(has=page.locator("[data-widget='quality.leaderboard']"))
        host.locator("tbody tr").first.wait_for()
        file = download(page, host, "csv")
        last = month_start(date.today(), 1).isoformat()[:7]
        assert file.suggested_filename == f"quality-leaderboard-{query['start'][:7]}-to-{last}.csv"
        header, *rows = read_csv(Path(file.path()))
        assert header[0].startswith("Rank") and header[1:3] == ["Technician", "Team"]
        assert {"First-time fix rate (%)", "Average customer rating (stars)", "Score", "Jobs"} <= set(header)
        names = [row[1] for row in rows]
        assert "'@Sam Field" in names  # a spreadsheet shows it as typed instead of running it
        assert "@Sam Field" not in names
        assert rows[0][0] == "1"
    finally:
        remove(server, f"/api/v1/technicians/{created['id']}", admin)


def test_a_heatmap_downloads_its_cells_as_csv(login, page, server):
    login("admin")
    query = six_months()
    open_dashboard(page, query)
    host = page.locator("kpi-heatmap-widget")
    host.locator("td.cell a").first.wait_for()
    file = download(page, host, "csv")
    assert file.suggested_filename.startswith("on-time-arrival-by-technician-and-month-")
    header, *rows = read_csv(Path(file.path()))
    assert header == ["Technician", "Period", "First day", "On-time arrival rate (%)", "Sample", "Status"]
    # The status in words, as the cell says it to a screen reader: a small sample is "too few jobs".
    words = re.compile(r"((on|close to|off) target(, borderline)?|too few jobs|no target)?")
    assert rows and all(words.fullmatch(row[5]) for row in rows), {row[5] for row in rows}
    assert host.locator("button[data-download='png']").count() == 0  # a table, not a chart


def test_the_jobs_behind_a_value_download_whole_not_one_page(login, page, server):
    login("admin")
    query = six_months()
    rows = company_values(server, server.token("admin"), FTF, query)
    # The last month whose callback windows have all closed: a provisional one leaves most jobs out.
    month = [row for row in rows if not row["provisional"]][-1]
    page.goto(
        "/jobs/behind?" + urlencode({**query, "kpi": FTF, "group_by": "company", "period_start": month["period_start"]})
    )
    page.locator("table.drilldown tbody tr").first.wait_for()
    menu = page.locator("kpi-download-menu")
    file = download(page, menu, "csv")
    assert file.suggested_filename == f"first-time-fix-rate-jobs-{month['period_start'][:7]}.csv"
    header, *lines = read_csv(Path(file.path()))
    assert header[:2] == ["Job", "Crew"] and header[-2:] == ["Counted", "Out of"]
    # Every job of the sample, though the page shows 100 at a time, and they add up to the value.
    assert sum(float(line[-1]) for line in lines) == month["denominator"] > 100
    assert sum(float(line[-2]) for line in lines) == month["numerator"]


# --- empty states -------------------------------------------------------------------------------

EMPTY = {"period": "month", "start": "2020-01-01", "end": "2020-03-01"}


def test_a_period_without_jobs_says_why_and_what_to_do(login, page, screenshot):
    login("admin")
    page.goto(f"/dashboard?{urlencode(EMPTY)}")
    card = page.locator(f"kpi-card-widget [data-kpi='{FTF}'] .state.empty")
    card.wait_for()
    assert card.locator(".why").inner_text() == "No jobs counted in Feb 2020."
    assert "Choose an earlier or a longer period, or import jobs." in card.inner_text()
    assert card.get_by_role("link", name="Import jobs").get_attribute("href") == "/jobs"
    chart = page.locator("kpi-trend-widget").filter(has=page.locator("[data-widget='quality.ftf_trend']"))
    assert chart.locator(".why").inner_text() == "No jobs counted from Jan 2020 to Feb 2020."
    assert chart.locator("canvas").count() == 0
    assert chart.locator("kpi-download-menu summary").count() == 0  # nothing to download
    for name, size in SIZES.items():
        page.set_viewport_size(dict(zip(("width", "height"), size, strict=True)))
        screenshot(f"charts-empty-{name}")


def test_a_kpi_without_its_data_says_what_it_needs_in_its_plugins_words(login, page, server):
    token = server.token("admin")
    hint = next(kpi for kpi in server.get("/api/v1/kpis", token) if kpi["key"] == UTILISATION)["empty_hint"]
    assert hint.startswith("Utilisation needs shift data")
    login("admin")
    open_dashboard(page, six_months())  # the demo has no shifts
    card = page.locator(f"kpi-card-widget [data-kpi='{UTILISATION}'] .state.empty")
    card.wait_for()
    assert card.locator(".what").inner_text() == hint


def test_a_technician_is_not_told_to_import_jobs(login, page):
    login("tech")
    page.goto(f"/dashboard?{urlencode(EMPTY)}")
    card = page.locator(f"kpi-card-widget [data-kpi='{FTF}'] .state.empty")
    card.wait_for()
    assert "import" not in card.inner_text().lower()
    assert card.get_by_role("link").count() == 0


@pytest.mark.parametrize("size", SIZES)
def test_the_charts_at_both_sizes(login, page, screenshot, size):
    width, height = SIZES[size]
    page.set_viewport_size({"width": width, "height": height})
    login("admin")
    open_dashboard(page, six_months())
    host = trend(page, "quality.ftf_trend")
    host.scroll_into_view_if_needed()
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    screenshot(f"charts-dashboard-{size}")
    host.locator("summary[aria-label^='Download']").click()
    host.locator("button[data-download='csv']").wait_for()
    screenshot(f"charts-download-menu-{size}", full_page=False)
