"""History people can trust, in a real Chromium (issue #21, points 1 and 3): the admin sets a target
from a day, reads every version in the target's history and brings an older one back; a closed month
whose jobs changed since shows its closed value on the dashboard card with the restatement beside it.
Each at 390 px and on a desktop."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

import pytest
from harness import Server
from sqlalchemy import select
from test_disputes_browser import DESKTOP, PHONE, no_horizontal_scroll, usable

WITHIN = "timeliness.within_window_rate"
FTF = "quality.first_time_fix_rate"


def month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def history(server: Server, token: str) -> list[dict]:
    return server.get(f"/api/v1/targets/{WITHIN}/history", token)


def set_target(row, green: str, amber: str, start: str) -> None:
    row.get_by_label("Green for Finished within window, in per cent").fill(green)
    row.get_by_label("Amber for Finished within window, in per cent").fill(amber)
    row.get_by_label("In force from, for Finished within window").fill(start)
    row.get_by_role("button", name="Save").click()
    row.get_by_role("status").filter(has_text="Saved").wait_for()


@pytest.mark.parametrize(("size", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_the_target_history_lists_every_version_and_brings_one_back(login, page, server, screenshot, size, viewport):
    admin = server.token("admin")
    today = datetime.now(UTC).date()
    # Versions from days to come, so that no other test's month changes its target.
    first, second, back = (month_start(today, -n) + timedelta(days=2 if size == "phone" else 0) for n in (2, 3, 4))
    page.set_viewport_size(viewport)
    login("admin")
    page.goto("/admin/targets")
    row = page.locator(f"tr[data-target='{WITHIN}']")
    row.wait_for()

    set_target(row, "95", "85", first.isoformat())
    set_target(row, "97", "90", second.isoformat())
    row.get_by_role("button", name="History").click()
    versions = page.locator(f"[data-history='{WITHIN}'] li[data-version]")
    versions.first.wait_for()
    older = next(v for v in history(server, admin) if v["valid_from"] == first.isoformat())
    older_item = page.locator(f"[data-history='{WITHIN}'] li[data-version='{older['id']}']")
    assert "green 95.0%, amber 85.0%, weight 1" in older_item.inner_text()

    row.get_by_label("In force from, for Finished within window").fill(back.isoformat())
    # The other size's test may have brought one back already: this one is the item beyond those.
    reverts = page.locator(f"[data-history='{WITHIN}'] li", has_text="back to the target from")
    earlier = sum(v["reverts_id"] is not None for v in history(server, admin))
    older_item.get_by_role("button", name="Use this again").click()
    reverts.nth(earlier).wait_for()

    stored = history(server, admin)
    newest = stored[0]
    assert (newest["valid_from"], newest["reverts_id"], newest["green"], newest["amber"]) == (
        back.isoformat(), older["id"], 0.95, 0.85,
    )  # fmt: skip
    assert [v["valid_from"] for v in stored[:3]] == [back.isoformat(), second.isoformat(), first.isoformat()]
    usable(page)
    screenshot(f"admin-target-history-{size}")


def test_a_target_from_before_the_first_job_is_refused_with_the_problem_at_the_top(login, page, server, screenshot):
    admin = server.token("admin")
    before = history(server, admin)
    page.set_viewport_size(PHONE)
    login("admin")
    page.goto("/admin/targets")
    row = page.locator(f"tr[data-target='{WITHIN}']")
    row.wait_for()

    row.get_by_label("Green for Finished within window, in per cent").fill("95")
    row.get_by_label("Amber for Finished within window, in per cent").fill("85")
    row.get_by_label("In force from, for Finished within window").fill("2001-01-01")
    row.get_by_role("button", name="Save").click()

    summary = page.locator(".error-summary")
    summary.wait_for()
    assert "There is a problem" in summary.inner_text()
    link = summary.get_by_role("link")
    assert "first job" in link.inner_text()
    assert "first job" in row.locator(".field-error").inner_text()
    link.click()
    field = row.get_by_label("In force from, for Finished within window")
    assert field.evaluate("element => element.getRootNode().activeElement === element")
    assert history(server, admin) == before
    no_horizontal_scroll(page)
    screenshot("admin-target-error-summary-phone", full_page=False)


@pytest.fixture(scope="module")
def restated_month(server: Server) -> date:
    """A month long past, closed, then given late jobs: its first-time fix is restated."""
    from kpi_core.storage.models import Job, Technician

    admin = server.token("admin")
    month = month_start(datetime.now(UTC).date(), 15)
    server.call("POST", f"/api/v1/periods/{month:%Y-%m}/close", {"reclose": True}, admin)
    with server.database.session() as session:
        technician = session.scalars(select(Technician).where(Technician.active).order_by(Technician.id)).first()
        for number in range(12):
            done = datetime(month.year, month.month, 10, 9 + number % 8, tzinfo=UTC)
            session.add(
                Job(
                    external_ref=f"LATE-{month:%Y%m}-{number}", technician_id=technician.id, category="plumbing",
                    status="completed", scheduled_start=done - timedelta(hours=1), completed_at=done,
                )
            )  # fmt: skip
    return month


@pytest.mark.parametrize(("size", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_a_restated_closed_month_shows_both_values_on_the_dashboard_card(
    login, page, server, screenshot, restated_month, size, viewport
):
    month = restated_month
    window = {"start": month.isoformat(), "end": month_start(month, -1).isoformat()}
    [row] = server.get(
        "/api/v1/kpis/values?" + urlencode({"kpi": FTF, "group_by": "company", "period": "month", **window}),
        server.token("admin"),
    )
    assert row["closed"] is True and row["restated"] is not None
    page.set_viewport_size(viewport)
    login("admin")

    page.goto(f"/dashboard?{urlencode({'period': 'month', **window})}")
    metric = page.locator(f"[data-widget='quality.ftf_card'] [data-kpi='{FTF}']")
    mark = metric.locator("[data-restated]")
    mark.wait_for()

    text = mark.inner_text()
    closed, restated = (f"{value * 100:.1f}%" for value in (row["value"], row["restated"]["value"]))
    assert f"Restated: {closed} → {restated}" in text
    assert f"after {int(row['restated']['denominator'] - row['denominator'])} more jobs" in text
    assert float(metric.locator("a.value").get_attribute("data-value")) == pytest.approx(row["value"])
    no_horizontal_scroll(page)
    metric.scroll_into_view_if_needed()
    screenshot(f"dashboard-restated-{size}", full_page=False)


def test_an_admin_closes_a_month_again_from_the_closed_months_tab(login, page, server, screenshot, restated_month):
    month = restated_month
    page.set_viewport_size(PHONE)
    login("admin")
    page.goto("/admin/months")
    listed = page.locator(f"tr[data-month='{month:%Y-%m}']")
    listed.wait_for()

    listed.get_by_role("button", name="Close again").click()
    page.get_by_role("status").filter(has_text="closed again").wait_for()

    window = {"start": month.isoformat(), "end": month_start(month, -1).isoformat()}
    [row] = server.get(
        "/api/v1/kpis/values?" + urlencode({"kpi": FTF, "group_by": "company", "period": "month", **window}),
        server.token("admin"),
    )
    assert (row["closed"], row["restated"]) == (True, None)
    usable(page)
    screenshot("admin-closed-months-phone")
