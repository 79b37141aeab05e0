"""Disputing a callback in a real Chromium (issue #18): a technician disputes, from their own jobs behind a
first-time fix, a return visit counted against one of their jobs (the form's errors first, GOV.UK's way, on
a 390 px phone); they follow it on their scorecard; their manager finds it in the queue, is told to say
why before rejecting, and accepts it; the job then counts as fixed the first time, with its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from harness import Server
from test_every_page import AXE, AXE_RUN, AXE_TAGS, MIN_TARGET, TARGETS

FTF = "quality.first_time_fix_rate"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


def no_horizontal_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def usable(page) -> None:
    """No sideways scrolling, every control a 44 px target, and no WCAG 2 A/AA violation axe-core finds
    (the checks tests/browser/test_every_page.py makes of every page)."""
    no_horizontal_scroll(page)
    assert page.evaluate(TARGETS, MIN_TARGET) == []
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    assert page.evaluate(AXE_RUN, AXE_TAGS) == []


def drilldown(server: Server, token: str, technician: int, start: str, end: str) -> dict[int, dict]:
    query = {"group_by": "technician", "group_id": technician, "period_start": start, "start": start, "end": end}
    rows = server.get(f"/api/v1/kpis/{FTF}/drilldown?{urlencode({**query, 'page_size': 100})}", token)
    return {row["id"]: row for row in rows}


def called_back_job(server: Server) -> dict:
    """A job of the technician's completed two months ago and called back five days later (so not fixed the
    first time): made through the jobs API, like an office would, so it does not depend on the demo's."""
    admin, me = server.token("admin"), server.people.technician_id
    today = datetime.now(UTC)
    index = today.year * 12 + today.month - 1 - 2
    month = datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)
    following = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=UTC)
    done, back = month + timedelta(days=14, hours=10), month + timedelta(days=19, hours=8)
    job = {"technician_id": me, "category": "plumbing", "status": "completed"}
    original = server.call(
        "POST", "/api/v1/jobs",
        {**job, "external_ref": "DISPUTE-1", "scheduled_start": (done - timedelta(hours=2)).isoformat(),
         "started_at": (done - timedelta(hours=1)).isoformat(), "completed_at": done.isoformat()},
        admin,
    )  # fmt: skip
    callback = server.call(
        "POST", "/api/v1/jobs",
        {**job, "external_ref": "DISPUTE-1-BACK", "scheduled_start": back.isoformat(),
         "started_at": back.isoformat(), "completed_at": (back + timedelta(hours=1)).isoformat(),
         "callback_of_id": original["id"]},
        admin,
    )  # fmt: skip
    start, end = month.date().isoformat(), following.date().isoformat()
    row = drilldown(server, server.token(server.people.technician), me, start, end)[original["id"]]
    assert (row["outcome"], row["reason"]) == ("denominator_only", "called_back")
    return {"callback": callback, "original": original, "start": start, "end": end}


def test_a_technician_disputes_a_callback_and_their_manager_accepts_it(login, page, server, screenshot):
    found = called_back_job(server)
    callback, original = found["callback"], found["original"]
    me = server.people.technician_id
    behind = "/jobs/behind?" + urlencode(
        {"kpi": FTF, "group_by": "technician", "group_id": me, "period": "month", "period_start": found["start"]}
        | {"start": found["start"], "end": found["end"]}
    )

    # The technician, on a phone: the job in their jobs behind the first-time fix says why it is not counted.
    login("tech")
    page.set_viewport_size(PHONE)
    page.goto(behind)
    row = page.locator("table.drilldown tbody tr").filter(has=page.get_by_text(original["external_ref"], exact=True))
    row.locator("[data-callback]").wait_for()
    assert "Called back within the callback window" in row.inner_text()
    row.scroll_into_view_if_needed()
    no_horizontal_scroll(page)
    screenshot("dispute-drilldown-phone", full_page=False)
    row.get_by_role("link", name=f"Dispute return visit {callback['external_ref']}").click()

    page.get_by_role("heading", name="Dispute a return visit").wait_for()
    assert "DISPUTE-1-BACK" in page.locator(".facts-of").inner_text()
    usable(page)
    screenshot("dispute-form-phone")

    # Sent without a reason: the summary takes the focus and links to the question; the error is beside it.
    page.get_by_role("button", name="Send the dispute").click()
    summary = page.locator("#error-summary")
    summary.wait_for()
    assert summary.evaluate("node => node.matches(':focus')")
    assert "Choose why the return visit was not caused by the work done" in summary.inner_text()
    assert page.locator("#reason-error").is_visible()
    summary.get_by_role("link").click()
    assert page.locator("#reason-customer_damage").evaluate("node => node.matches(':focus')")
    usable(page)
    screenshot("dispute-form-errors-phone")

    # Another reason needs words.
    page.get_by_label("Another reason", exact=True).check()
    page.get_by_role("button", name="Send the dispute").click()
    page.locator("#comment-error").wait_for()
    assert "Say what happened" in page.locator("#error-summary").inner_text()

    words = "The customer's builder cut through the new pipe the week after."
    page.get_by_label("What happened", exact=True).fill(words)
    page.get_by_role("button", name="Send the dispute").click()
    page.get_by_role("status").filter(has_text="Dispute sent").wait_for()
    screenshot("dispute-sent-phone")

    # Back in the jobs behind the value, the job says its dispute waits; the scorecard lists it.
    page.get_by_role("link", name="Back").click()
    row.locator("[data-dispute-status='open']").wait_for()
    page.goto(f"/technicians/{me}")
    disputes = page.locator("kpi-dispute-list")
    disputes.get_by_text(f"Return visit {callback['external_ref']} to job {original['external_ref']}").wait_for()
    assert "Waiting for a decision" in disputes.locator("li[data-dispute]").first.inner_text()
    disputes.scroll_into_view_if_needed()
    no_horizontal_scroll(page)
    screenshot("dispute-scorecard-phone")

    # The manager, on a desktop: the queue, a rejection refused without a reason, then the acceptance.
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login**")
    login("manager")
    page.set_viewport_size(DESKTOP)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Disputes").click()
    item = page.locator("article[data-dispute]").filter(
        has=page.get_by_text(f"Return visit {callback['external_ref']} to job {original['external_ref']}")
    )
    item.wait_for()
    assert "The customer's builder cut through the new pipe" in item.inner_text()
    screenshot("dispute-queue-desktop")
    item.get_by_role("button", name=f"Reject the dispute of {callback['external_ref']}").click()
    item.locator(".error-summary").wait_for()
    assert "Say why you reject the dispute" in item.locator(".error-summary").inner_text()
    assert item.locator(".field-error").is_visible()
    usable(page)
    screenshot("dispute-queue-errors-desktop")

    item.get_by_role("button", name=f"Accept the dispute of {callback['external_ref']}").click()
    item.get_by_role("status").filter(has_text="Accepted").wait_for()
    assert "counts as fixed the first time" in item.inner_text()
    screenshot("dispute-accepted-desktop")

    # The job now counts as fixed, and says why.
    page.goto(behind)
    outcome = row.locator("[data-outcome]")
    outcome.locator("[data-dispute-status='accepted']").wait_for()
    row.scroll_into_view_if_needed()
    screenshot("dispute-drilldown-accepted-desktop", full_page=False)
    assert outcome.get_attribute("data-outcome") == "numerator"
    assert "disputed and the dispute accepted" in outcome.inner_text()
    token = server.token(server.people.technician)
    after = drilldown(server, token, me, found["start"], found["end"])[original["id"]]
    assert (after["outcome"], after["reason"]) == ("numerator", "callback_disputed")


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_queue_fits_a_phone_and_a_desktop(login, page, size, screenshot):
    login("manager")
    page.set_viewport_size(size)
    page.goto("/disputes?status=all")
    page.get_by_role("heading", name="Disputed callbacks").wait_for()
    page.locator("article[data-dispute], .state.empty").first.wait_for()
    usable(page)
    screenshot(f"dispute-queue-all-{'phone' if size is PHONE else 'desktop'}")
