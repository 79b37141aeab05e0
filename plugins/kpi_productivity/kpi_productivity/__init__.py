"""Productivity KPIs: revenue per completed job, average ticket, jobs per working day, utilisation of shifts.

Built only on the public plugin API, as a third party would: ``kpi_core.hookimpl``,
the declarations in ``kpi_core.declarations`` and SQLAlchemy. Its own table,
``productivity_shifts``, comes with its own Alembic branch (``kpi_migrations``).
"""

from kpi_productivity.plugin import (
    kpi_form_fields,
    kpi_jobs,
    kpi_metrics,
    kpi_migrations,
    kpi_settings,
    kpi_widgets,
)

__all__ = ["kpi_form_fields", "kpi_jobs", "kpi_metrics", "kpi_migrations", "kpi_settings", "kpi_widgets"]
