"""Timeliness KPIs: on-time arrival, arrival delay, on-budget work, finishing within the window.

Built only on the public plugin API: ``kpi_core.hookimpl`` and the
declarations in ``kpi_core.declarations``.
"""

from kpi_timeliness.plugin import kpi_form_fields, kpi_metrics, kpi_settings, kpi_widgets

__all__ = ["kpi_form_fields", "kpi_metrics", "kpi_settings", "kpi_widgets"]
