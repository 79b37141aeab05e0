"""The import page's mapping flow (issue #18): another system's export, its columns with sample values,
the mapping proposed from their names or a plugin's preset, and a preview of the first rows with their
problems, before anything is written; at desktop width and on a 390 px phone."""

from __future__ import annotations

from pathlib import Path

import pytest

SAMPLE = Path(__file__).parents[2] / "plugins" / "import_presets" / "tests" / "housecall_pro_job_report.csv"


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_a_mapped_export_is_previewed_with_its_problems_before_anything_is_written(
    login, page, server, screenshot, width, height
):
    token = server.token("admin")
    jobs_before = server.get("/api/v1/jobs?q=1041", token)
    page.set_viewport_size({"width": width, "height": height})
    login("admin")
    page.goto("/jobs")
    page.get_by_role("heading", name="Import another system's export").wait_for()

    page.get_by_label("Export file").set_input_files(str(SAMPLE))
    columns = page.locator("table.file-columns")
    columns.wait_for()
    assert "Invoice Number" in columns.inner_text()
    assert "Dana Reyes" in columns.inner_text()  # sample values beside each column
    # Proposed from the names: the invoice number is the job's reference; the duration gives the start of work.
    assert page.locator("#map-external_ref-column").input_value() == "Invoice Number"
    assert page.locator("#map-started_at-kind").input_value() == "minus_minutes"

    page.get_by_label("Start from").select_option(label="Housecall Pro: job report export")
    page.get_by_role("button", name="Preview the first rows").click()
    preview = page.locator("table.preview")
    preview.wait_for()
    assert preview.locator("tbody tr").count() == 5
    problems = page.locator("table.row-errors")
    assert "Employee" in problems.inner_text()  # named by the file's own column
    assert "no technician 'Dana Reyes' on file" in problems.inner_text()
    screenshot(f"import-mapping-preview-{width}")
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling

    page.locator("kpi-import-mapping").get_by_label("Create technicians that are not on file yet").check()
    page.get_by_role("button", name="Preview the first rows").click()
    page.get_by_role("status").filter(has_text="No problems in these rows").wait_for()
    assert server.get("/api/v1/jobs?q=1041", token) == jobs_before  # a preview writes nothing


def test_a_column_the_mapping_reads_but_the_file_lacks_is_in_the_error_summary(login, page, tmp_path, screenshot):
    lines = SAMPLE.read_text().splitlines()
    export = tmp_path / "no-duration.csv"
    export.write_text("\n".join(line.replace("On Job Duration", "Job Length") for line in lines) + "\n")
    login("admin")
    page.goto("/jobs")

    page.get_by_label("Export file").set_input_files(str(export))
    page.locator("table.file-columns").wait_for()
    lacking = "Housecall Pro: job report export (the file lacks 1 of its columns)"
    page.get_by_label("Start from").select_option(label=lacking)
    page.get_by_role("button", name="Preview the first rows").click()

    summary = page.locator("#map-errors")
    summary.wait_for()
    assert "There is a problem" in summary.inner_text()
    assert "“On Job Duration”" in summary.inner_text()
    screenshot("import-mapping-missing-column")
