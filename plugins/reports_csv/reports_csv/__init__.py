"""CSV report formats: a long layout and a wide layout, safe to open in Excel.

Built only on the public plugin API: ``kpi_core.hookimpl``, the declarations
in ``kpi_core.declarations`` and the report data handed to ``render``.
"""

from reports_csv.plugin import kpi_report_formats

__all__ = ["kpi_report_formats"]
