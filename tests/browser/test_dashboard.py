"""The dashboard in a real Chromium: log in, widgets from every plugin with the API's numbers,
filters kept in the URL, the third-party widget, and a layout kept per user."""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from harness import Server
from playwright.sync_api import expect

CARDS = {
    "quality.ftf_card": "quality.first_time_fix_rate",
    "quality.rating_card": "quality.avg_customer_rating",
    "timeliness.on_time_card": "timeliness.on_time_arrival_rate",
}


def month_start(day: date, months_back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def latest_values(server: Server, token: str, query: dict) -> dict[str, float | None]:
    """The company value of each card's KPI in the last month of the range, from the API."""
    end = date.fromisoformat(query["end"])
    latest = month_start(date.fromordinal(end.toordinal() - 1)).isoformat()
    params = {**query, "group_by": "company", "period": "month", "kpi": list(CARDS.values())}
    rows = server.get(f"/api/v1/kpis/values?{urlencode(params, doseq=True)}", token)
    return {row["kpi"]: row["value"] for row in rows if row["period_start"] == latest}


def card_values(page) -> dict[str, tuple[float, str]]:
    """What the cards show: each KPI's exact value (data-value) and its text."""
    shown = {}
    for widget, kpi in CARDS.items():
        value = page.locator(f"[data-widget='{widget}'] [data-kpi='{kpi}'] a.value")
        value.wait_for()
        shown[kpi] = (float(value.get_attribute("data-value")), value.inner_text())
    return shown


def expected_text(kpi: str, value: float) -> str:
    return f"{value:.1f} stars" if kpi == "quality.avg_customer_rating" else f"{value * 100:.1f}%"


def dashboard_query(page) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlparse(page.url).query).items()}


def test_login_by_keyboard_opens_the_dashboard(login, page, screenshot):
    login("admin")
    assert urlparse(page.url).path == "/dashboard"
    page.get_by_role("heading", name="Dashboard").wait_for()
    page.locator("kpi-card-widget a.value").first.wait_for()
    page.locator("kpi-heatmap-widget td.cell").first.wait_for()
    page.locator("kpi-trend-widget canvas").first.wait_for()
    screenshot("dashboard")
    screenshot("dashboard-top", full_page=False)


def test_wrong_password_shows_the_api_message(page):
    page.goto("/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    assert "password" in page.get_by_role("alert").inner_text().lower()


def test_widgets_of_both_kpi_plugins_show_the_apis_numbers(login, page, server):
    login("admin")
    shown = card_values(page)
    # Cards of both KPI plugins, titled in words: no plugin's name on screen.
    assert all(page.locator(f"[data-widget='{key}'] .plugin").count() == 0 for key in CARDS)
    token = server.token("admin")
    expected = latest_values(server, token, dashboard_query_or_default(page))
    for kpi, (value, text) in shown.items():
        assert value == pytest.approx(expected[kpi]), kpi
        assert text == expected_text(kpi, expected[kpi])


def dashboard_query_or_default(page) -> dict[str, str]:
    query = dashboard_query(page)
    if "start" in query:
        return query
    start = page.locator("#start").input_value()
    last = date.fromisoformat(page.locator("#last").input_value())
    return {"start": start, "end": date.fromordinal(last.toordinal() + 1).isoformat()}


def test_a_filter_changes_the_url_and_the_numbers(login, page, server):
    other_team = next(
        team_id for team_id in server.people.team_ids.values() if team_id != server.people.managed_team_id
    )
    login("admin")
    before = card_values(page)
    page.get_by_label("Team").select_option(str(other_team))
    page.wait_for_url(re.compile(rf"team={other_team}"))
    page.locator("kpi-card-widget a.value").first.wait_for()
    after = card_values(page)
    assert after != before
    query = dashboard_query(page)
    assert query["team"] == str(other_team)
    expected = latest_values(server, server.token("admin"), {k: v for k, v in query.items() if k != "period"})
    for kpi, (value, _text) in after.items():
        assert value == pytest.approx(expected[kpi]), kpi

    # The URL is the view: opening it in a fresh page shows the same filter and numbers.
    page.goto(f"/dashboard?{urlencode(query)}")
    expect(page.get_by_label("Team")).to_have_value(str(other_team))
    assert card_values(page) == after


def test_the_third_party_widget_renders(login, page, server):
    login("admin")
    element = page.locator("kpi-custom-widget fixture-widget")
    element.wait_for()
    page.wait_for_function("document.querySelector('kpi-app').shadowRoot && true")
    text = element.inner_text()
    assert re.fullmatch(r"Cancelled: \d+\.\d %", text), text
    query = dashboard_query_or_default(page)
    rows = server.get(
        "/api/v1/kpis/values?"
        + urlencode({**query, "kpi": "fixture.cancellation_rate", "group_by": "company", "period": "month"}),
        server.token("admin"),
    )
    last = max(rows, key=lambda row: row["period_start"])
    assert text == f"Cancelled: {last['value'] * 100:.1f} %"


def test_layout_changes_are_kept_for_that_user(login, page):
    login("manager")
    page.get_by_role("button", name="Customize").click()
    page.get_by_role("button", name="Remove First-time fix trend").click()
    page.get_by_role("button", name="Move Cancellations up").click()
    page.get_by_role("button", name="Save layout").click()
    page.get_by_role("button", name="Customize").wait_for()
    assert page.locator("[data-widget='quality.ftf_trend']").count() == 0
    page.reload()
    page.locator("kpi-card-widget a.value").first.wait_for()
    assert page.locator("[data-widget='quality.ftf_trend']").count() == 0
    # Back to the default, for the other tests.
    page.get_by_role("button", name="Customize").click()
    page.get_by_role("button", name="Reset to default").click()
    page.locator("[data-widget='quality.ftf_trend']").wait_for()


def test_the_dashboard_fits_a_phone(login, page, screenshot):
    page.set_viewport_size({"width": 390, "height": 844})
    login("admin")
    page.locator("kpi-card-widget a.value").first.wait_for()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    screenshot("dashboard-phone")


DEEP_FOCUS = """() => {
  let element = document.activeElement;
  while (element && element.shadowRoot && element.shadowRoot.activeElement) element = element.shadowRoot.activeElement;
  const style = getComputedStyle(element);
  return {text: element.textContent.trim(), outline: style.outlineStyle, width: parseFloat(style.outlineWidth)};
}"""


def test_keyboard_focus_is_visible_and_reaches_the_navigation(login, page):
    login("admin")
    page.locator("kpi-card-widget a.value").first.wait_for()
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the brand
    page.keyboard.press("Tab")  # the first navigation link
    focused = page.evaluate(DEEP_FOCUS)
    assert focused["text"] == "Dashboard"
    assert focused["outline"] != "none" and focused["width"] >= 2
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # opens Technicians, by keyboard alone
    page.wait_for_url("**/technicians")
    page.get_by_role("heading", name="Technicians").wait_for()
