"""Quality KPIs: first-time fix, customer rating, complaints, evaluation score.

Built only on the public plugin API: ``kpi_core.hookimpl`` and the
declarations in ``kpi_core.declarations``.
"""

from kpi_quality.plugin import kpi_alert_rules, kpi_form_fields, kpi_metrics, kpi_settings, kpi_widgets

__all__ = ["kpi_alert_rules", "kpi_form_fields", "kpi_metrics", "kpi_settings", "kpi_widgets"]
