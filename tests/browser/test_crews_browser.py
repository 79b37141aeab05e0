"""A crew's job in the jobs behind a value, in a real Chromium (issue #18): the helper's own first-time fix
lists the job the lead and they did together, with both names, on a 390 px phone and a desktop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from test_disputes_browser import DESKTOP, FTF, PHONE, usable


def test_the_helper_sees_the_crew_job_in_their_own_jobs_behind_a_value(login, page, server, screenshot):
    people, admin = server.people, server.token("admin")
    today = datetime.now(UTC)
    index = today.year * 12 + today.month - 1 - 2  # two months back: the callback window has closed
    month = datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)
    following = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=UTC)
    done = month + timedelta(days=9, hours=15)
    job = server.call(
        "POST",
        "/api/v1/jobs",
        {
            "external_ref": "CREW-1",
            "category": "painting",
            "status": "completed",
            "scheduled_start": (done - timedelta(hours=6)).isoformat(),
            "started_at": (done - timedelta(hours=5)).isoformat(),
            "completed_at": done.isoformat(),
            "technicians": [
                {"technician_id": people.other_technician_id, "role": "lead", "share": 0.6},
                {"technician_id": people.technician_id, "role": "helper", "share": 0.4},
            ],
        },
        admin,
    )
    assert [member["role"] for member in job["technicians"]] == ["lead", "helper"]
    start, end = month.date().isoformat(), following.date().isoformat()
    behind = "/jobs/behind?" + urlencode(
        {"kpi": FTF, "group_by": "technician", "group_id": people.technician_id, "period": "month"}
        | {"period_start": start, "start": start, "end": end}
    )

    login("tech")
    for size, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
        page.set_viewport_size(size)
        page.goto(server.url + behind)
        row = page.locator("table.drilldown tbody tr", has_text="CREW-1")
        row.wait_for()
        crew = row.locator("td.crew").inner_text()
        # Both names, the lead marked, the shares given as they are unequal.
        assert people.other_technician_name in crew and "(lead, 60 %)" in crew and "(40 %)" in crew
        assert "painting" in row.inner_text()
        usable(page)
        row.scroll_into_view_if_needed()
        screenshot(f"crew-drilldown-{name}", full_page=False)
