"""The other pages in a real Chromium: drill-down to jobs, the technician page and who may see it,
the evaluation form with the API's field errors, the CSV import, reports, and administration."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest


def test_a_value_drills_down_to_the_jobs_that_make_it(login, page, screenshot):
    login("admin")
    cell = page.locator("kpi-heatmap-widget td.cell a").first
    cell.click()
    page.wait_for_url(re.compile(r"/jobs/behind\?"))
    page.locator("table.drilldown tbody tr").first.wait_for()
    totals = page.locator("p.totals")
    numerator = float(totals.get_attribute("data-numerator"))
    denominator = float(totals.get_attribute("data-denominator"))
    assert float(page.locator("[data-sum-numerator]").get_attribute("data-sum-numerator")) == numerator
    assert float(page.locator("[data-sum-denominator]").get_attribute("data-sum-denominator")) == denominator
    # A rate: every job in the sample counts once in the denominator; the jobs left out are listed
    # too, each with its reason, and the line above the table counts them all.
    rows = page.locator("table.drilldown tbody tr")
    left_out = page.locator("table.drilldown tbody td[data-outcome='excluded']").count()
    assert rows.count() - left_out == denominator
    why = page.locator("p.why")
    assert int(why.get_attribute("data-facts")) == rows.count()
    assert int(why.get_attribute("data-excluded")) == left_out
    assert page.locator("table.drilldown tbody tr td").first.inner_text().startswith("JOB-")
    screenshot("drilldown")


def test_the_technician_page_shows_scorecard_trends_and_evaluations(login, page, server, screenshot):
    login("tech")
    assert page.url.endswith(f"/technicians/{server.people.technician_id}")
    page.get_by_role("heading", name="Scorecard").wait_for()
    page.locator("table.kpi-values a[data-value]").first.wait_for()
    page.locator("kpi-trend-widget canvas").wait_for()
    page.get_by_role("heading", name="Evaluations").wait_for()
    screenshot("technician")
    # Every value links to its jobs.
    page.locator("table.kpi-values a[data-value]").first.click()
    page.wait_for_url(re.compile(r"/jobs/behind\?.*group_by=technician"))
    page.locator("table.drilldown tbody tr").first.wait_for()


def test_a_technician_cannot_open_another_technicians_page(login, page, server):
    login("tech")
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    other = server.people.other_technician_id
    page.goto(f"/technicians/{other}")
    page.get_by_text("You can only see your own pages.").wait_for()
    assert server.people.other_technician_name not in page.content()
    assert not [url for url in asked if f"/api/v1/technicians/{other}" in url or f"technician={other}" in url]
    # And the API agrees: the record does not exist for this technician.
    token = server.token("tech")
    with pytest.raises(Exception, match="404"):
        server.get(f"/api/v1/technicians/{other}", token)
    # Their navigation offers only their own pages.
    links = page.get_by_role("navigation", name="Main").get_by_role("link").all_inner_texts()
    assert links == ["My scorecard", "Dashboard", "My jobs", "Self-appraisal", "Notifications"]


def test_an_evaluation_shows_the_apis_field_error_then_submits(login, page, server, screenshot):
    login("manager")
    page.goto(f"/evaluations/new?technician={server.people.technician_id}")
    page.get_by_role("heading", name="New evaluation").wait_for()
    fields = page.locator("[data-field]")
    keys = [fields.nth(index).get_attribute("data-field") for index in range(fields.count())]
    assert {"quality.workmanship", "timeliness.punctuality"} <= set(keys)
    page.get_by_label("Period from").fill("2026-01-01")
    page.get_by_label("Period to").fill("2026-01-31")
    answer_all_but = "quality.safety"
    for key in keys:
        if key == answer_all_but:
            continue
        field = page.locator(f"[data-field='{key}']")
        radios = field.locator("input[type=radio]")
        if radios.count():
            radios.first.check()
        elif field.locator("textarea").count():
            field.locator("textarea").fill("Fine work.")
        elif field.locator("select").count():
            field.locator("select").select_option(index=1)
        else:
            field.locator("input").fill("3")
    page.get_by_role("button", name="Submit evaluation").click()
    error = page.locator(f"[data-field='{answer_all_but}'] .field-error")
    error.wait_for()
    assert "required" in error.inner_text()
    assert page.locator(".field-error").count() == 1
    screenshot("evaluation-field-error")

    page.locator(f"[data-field='{answer_all_but}'] input[type=radio]").nth(3).check()
    page.get_by_role("button", name="Submit evaluation").click()
    page.get_by_role("status").filter(has_text="Evaluation submitted").wait_for()
    assert page.locator(".field-error").count() == 0


def write_csv(path: Path, rows: list[str]) -> Path:
    header = (
        "external_ref,technician_ref,customer_ref,customer_name,category,status,scheduled_start,scheduled_end,"
        "arrived_at,started_at,completed_at,estimated_minutes,revenue,callback_of"
    )
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_a_csv_import_shows_progress_and_row_errors(login, page, server, tmp_path, screenshot):
    token = server.token("admin")
    ref = server.get(f"/api/v1/technicians/{server.people.technician_id}", token)["external_ref"]
    day = (date.today() - timedelta(days=3)).isoformat()
    times = f"{day}T09:00,{day}T11:00,{day}T09:05,{day}T09:10,{day}T10:40"
    good = f"BROWSER-1,{ref},CUST-00001,,plumbing,completed,{times},90,150,"
    bad = f"BROWSER-2,NO-SUCH-TECH,CUST-00001,,plumbing,completed,{day}T09:00,{day}T11:00,,,,90,150,"
    worse = f"BROWSER-3,{ref},CUST-00001,,plumbing,finished,not-a-time,,,,,-5,,"
    login("admin")
    page.goto("/jobs")
    page.get_by_role("heading", name="Import jobs or feedback").wait_for()

    page.get_by_label("File", exact=True).set_input_files(str(write_csv(tmp_path / "bad.csv", [good, bad, worse])))
    page.get_by_role("button", name="Import").click()
    errors = page.locator("table.row-errors tbody tr")
    errors.first.wait_for()
    text = page.locator("table.row-errors").inner_text()
    assert "NO-SUCH-TECH" in text or "technician_ref" in text
    rows = {errors.nth(i).locator("td").first.inner_text() for i in range(errors.count())}
    assert rows >= {"3", "4"}
    assert "Nothing was imported" in page.get_by_role("alert").inner_text()
    screenshot("import-errors")

    page.get_by_label("File", exact=True).set_input_files(str(write_csv(tmp_path / "good.csv", [good])))
    page.get_by_role("button", name="Import").click()
    result = page.locator("p.import-result")
    result.wait_for()
    assert "1 created" in result.inner_text()
    assert page.locator("progress").get_attribute("value") in {"100", "100.0"} or "Import finished" in page.content()
    server.get("/api/v1/jobs?q=BROWSER-1", token)


def test_a_pdf_report_is_generated_and_downloaded(login, page, server, tmp_path, screenshot):
    login("manager")
    page.goto("/reports")
    page.get_by_role("heading", name="New report").wait_for()
    page.get_by_label("Title").fill("Browser test report")
    page.get_by_label("Format").select_option("pdf")
    # The background job loads the installed plugins itself; the fixture plugin is only in this process.
    page.get_by_label("KPIs (none chosen: all)").select_option(
        ["quality.first_time_fix_rate", "timeliness.on_time_arrival_rate"]
    )
    page.get_by_role("button", name="Generate report").click()
    page.locator(".report-progress progress").wait_for()
    download_button = page.get_by_role("button", name=re.compile(r"^Download .*\.pdf"))
    download_button.wait_for(timeout=90_000)
    screenshot("reports")
    with page.expect_download() as waiting:
        download_button.click()
    saved = tmp_path / "report.pdf"
    waiting.value.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF")
    assert waiting.value.suggested_filename.endswith(".pdf")


def test_admin_pages_show_users_targets_plugins_and_jobs(login, page, screenshot):
    login("admin")
    page.goto("/admin/users")
    page.get_by_role("cell", name="manager", exact=True).first.wait_for()
    page.get_by_label("Username").fill("newtech")
    page.get_by_label("Role").select_option("technician")
    page.get_by_role("button", name="Create user").click()
    page.locator(".field-error").first.wait_for()  # no password, no technician: the API names the field
    screenshot("admin-users")

    page.get_by_role("link", name="Targets").click()
    page.get_by_role("heading", name="Company targets and weights").wait_for()
    page.get_by_role("link", name="Plugins").click()
    page.get_by_role("heading", name="Installed plugins").wait_for()
    assert page.get_by_role("cell", name="fixture_cancellations").count() == 1
    page.get_by_role("heading", name="Load errors").wait_for()
    screenshot("admin-plugins")
    page.get_by_role("link", name="Background jobs").click()
    page.get_by_role("heading", name="Recent runs").wait_for()
