"""Hook implementation of the CSV report plugin."""

from __future__ import annotations

from kpi_core import hookimpl
from kpi_core.declarations import ReportFormat
from reports_csv.render import render_long, render_wide

MEDIA_TYPE = "text/csv; charset=utf-8"


@hookimpl
def kpi_report_formats() -> list[ReportFormat]:
    """The long CSV (one row per KPI value) and the wide CSV (one row per group and period)."""
    return [
        ReportFormat(
            key="csv",
            label="Spreadsheet (CSV), one row per value",
            media_type=MEDIA_TYPE,
            file_extension="csv",
            render=render_long,
        ),
        ReportFormat(
            key="csv_wide",
            label="Spreadsheet (CSV), one column per KPI",
            media_type=MEDIA_TYPE,
            file_extension="csv",
            render=render_wide,
        ),
    ]
