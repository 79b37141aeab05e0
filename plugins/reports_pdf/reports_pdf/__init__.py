"""PDF reports: cover, company summary, teams, a page per technician, charts.

Built only on the public plugin API: ``kpi_core.hookimpl``, the declarations
in ``kpi_core.declarations`` and the report data handed to ``render``.
"""

from reports_pdf.plugin import kpi_report_formats

__all__ = ["kpi_report_formats"]
