"""Hook implementation of the PDF report plugin."""

from __future__ import annotations

from kpi_core import hookimpl
from kpi_core.declarations import ReportFormat
from reports_pdf.render import render


@hookimpl
def kpi_report_formats() -> list[ReportFormat]:
    """The ``pdf`` format: the report a manager hands to the owner."""
    return [
        ReportFormat(
            key="pdf",
            label="PDF report",
            media_type="application/pdf",
            file_extension="pdf",
            render=render,
        )
    ]
