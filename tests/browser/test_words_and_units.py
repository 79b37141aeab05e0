"""Plain words and real units in a real Chromium: money in the company's currency, times in the
company's time zone (the browser here is in Chicago, the company in UTC), formulas and drill-down
columns in words, the import page's help, template and checkbox, a failed import shown as failed,
report formats by their labels, and a report schedule chosen in words and stored as cron."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 900}}
MONEY = re.compile(r"^\$\d{1,3}(,\d{3})*\.\d{2}$")


def screenshots(page, screenshot, name: str) -> None:
    """The page at both sizes, saved as artifacts (and no wider than the phone)."""
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.wait_for_timeout(200)
        if size == "phone":
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        screenshot(f"words-{name}-{size}")


def test_money_on_a_card_is_written_in_the_companys_currency(login, page, server):
    login("admin")
    value = page.locator("[data-widget='productivity.revenue_card'] a.value")
    value.wait_for()

    amount = float(value.get_attribute("data-value"))
    assert MONEY.match(value.inner_text()), value.inner_text()
    assert value.inner_text() == f"${amount:,.2f}"
    assert "currency" not in page.locator("[data-widget='productivity.revenue_card']").inner_text()


def test_times_are_shown_in_the_company_time_zone_with_its_name_not_the_browsers(login, page, server):
    token = server.token("admin")
    [job] = server.get("/api/v1/jobs?sort=-scheduled_start&page_size=1", token)
    login("admin")
    page.goto("/jobs")
    first = page.locator("section[aria-labelledby=jobs-title] table tbody tr").first
    first.wait_for()

    shown = first.locator("td").nth(4).inner_text()
    utc = datetime.fromisoformat(job["scheduled_start"]).astimezone(UTC)
    hour = utc.strftime("%-I:%M %p")  # en-US in the company's zone (UTC), never Chicago's
    assert shown.endswith("UTC"), shown
    assert hour in shown, (hour, shown)


def test_a_drill_down_explains_its_value_in_words(login, page):
    login("admin")
    page.locator("kpi-heatmap-widget td.cell a").first.click()
    page.locator("table.drilldown tbody tr").first.wait_for()

    headings = page.locator("table.drilldown thead th").all_inner_texts()
    assert "Numerator" not in headings and "Denominator" not in headings
    assert {"Counted", "Out of"} <= set(headings) or {"Amount", "Out of"} <= set(headings)
    formula = page.locator("p.hint").first.inner_text()
    assert not re.search(r"[a-z]+_[a-z_]+|<=|>=|/", formula), formula


def test_the_import_page_lists_the_columns_and_offers_a_template(login, page, server, screenshot, tmp_path: Path):
    login("admin")
    page.goto("/jobs")
    page.get_by_text("What a jobs file holds").click()
    rows = page.locator("table.import-columns-table tbody tr")
    rows.first.wait_for()

    names = [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())]
    columns = server.get("/api/v1/imports/jobs/columns", server.token("admin"))
    assert names == [column["name"] for column in columns]
    external = rows.first.inner_text()
    assert "Required" in external and "JOB-1001" in external
    expect(page.get_by_label("Create technicians that are not on file yet")).to_be_visible()
    assert "create_technicians" not in page.locator("kpi-jobs-page").inner_text()

    with page.expect_download() as waiting:
        page.get_by_role("button", name="Download a template (CSV)").click()
    saved = tmp_path / "template.csv"
    waiting.value.save_as(saved)
    assert waiting.value.suggested_filename == "jobs-import-template.csv"
    header, _example = csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig")))
    assert header == names
    screenshots(page, screenshot, "import")


def test_a_failed_import_is_shown_as_failed_and_a_good_one_links_to_its_rows(login, page, server, tmp_path):
    # A day before the demo company's history, so the jobs the link lists are the imported one alone.
    day = date.today() - timedelta(days=6 * 365)
    times = f"{day}T09:00,{day}T11:00,{day}T09:05,{day}T09:10,{day}T10:40"
    header = (
        "external_ref,technician_ref,customer_ref,customer_name,category,status,scheduled_start,scheduled_end,"
        "arrived_at,started_at,completed_at,estimated_minutes,revenue,callback_of"
    )
    path = tmp_path / "new-technician.csv"
    path.write_text(f"{header}\nWORDS-1,T-WORDS-NEW,,,plumbing,completed,{times},90,150,\n")
    login("admin")
    page.goto("/jobs")

    page.get_by_label("File", exact=True).set_input_files(str(path))
    page.get_by_role("button", name="Import").click()
    alert = page.locator(".import-failed")
    alert.wait_for()
    assert alert.inner_text().startswith("Import failed. Nothing was imported")
    assert page.locator("kpi-jobs-page progress").count() == 0  # no full bar reading "failed 100 %"
    assert "100 %" not in page.locator("kpi-jobs-page").inner_text()
    message = page.locator("table.row-errors tbody tr td").nth(2).inner_text()
    assert "Create technicians that are not on file yet" in message and "=" not in message

    page.get_by_label("Create technicians that are not on file yet").check()
    page.get_by_role("button", name="Import").click()
    link = page.get_by_role("link", name=re.compile(r"^Show the imported jobs"))
    link.wait_for()
    assert "1 created" in page.locator("p.import-result").inner_text()
    link.click()
    page.get_by_role("cell", name="WORDS-1", exact=True).wait_for()
    query = parse_qs(urlparse(page.url).query)
    assert query["from"] == [day.isoformat()] and query["to"] == [(day + timedelta(days=1)).isoformat()]


def test_report_formats_are_offered_by_their_labels(login, page):
    login("manager")
    page.goto("/reports")
    select = page.get_by_label("Format")
    expect(select.locator("option")).not_to_have_count(0)

    labels = select.locator("option").all_inner_texts()
    assert "PDF report" in labels and "Spreadsheet (CSV), one row per value" in labels
    assert not [label for label in labels if "_" in label or label in {"csv", "pdf"}]


@pytest.mark.parametrize(
    ("how_often", "choose", "time", "cron", "words"),
    [
        ("Every week", ("On", "3"), "06:30", "30 6 * * 3", "Every Wednesday at 6:30 AM"),
        ("Every month", ("On day", "15"), "07:05", "5 7 15 * *", "On the 15th of every month at 7:05 AM"),
        ("Every day", None, "18:00", "0 18 * * *", "Every day at 6:00 PM"),
    ],
)
def test_a_schedule_chosen_in_words_is_stored_as_cron_and_read_back_in_words(
    login, page, server, screenshot, how_often, choose, time, cron, words
):
    name = f"Words: {how_often.lower()} at {time}"
    login("admin")
    page.goto("/reports")
    page.get_by_label("Name").fill(name)
    page.get_by_label("How often").select_option(label=how_often)
    if choose:
        page.get_by_label(choose[0], exact=True).select_option(choose[1])
    page.get_by_label("At", exact=True).fill(time)
    page.get_by_role("button", name="Add schedule").click()
    row = page.locator("tr", has_text=name)
    row.wait_for()

    token = server.token("admin")
    [stored] = [item for item in server.get("/api/v1/schedules?page_size=100", token) if item["name"] == name]
    assert stored["cron"] == cron
    assert row.locator(".schedule-when").inner_text().strip() == words
    assert cron not in row.inner_text()
    if how_often == "Every week":
        screenshots(page, screenshot, "reports")


def test_a_cron_that_is_not_one_of_the_forms_choices_is_shown_as_custom(login, page, server):
    token = server.token("admin")
    spec = {"format": "pdf", "period": "month", "last_periods": 1}
    server.call(
        "POST", "/api/v1/schedules", {"name": "Twice a day", "kind": "report", "cron": "0 7,19 * * 1-5",
                                      "report_spec": spec}, token=token,
    )  # fmt: skip
    login("admin")
    page.goto("/reports")
    row = page.locator("tr", has_text="Twice a day")
    row.wait_for()

    assert row.locator(".schedule-when").inner_text().strip() == "Custom: 0 7,19 * * 1-5"
