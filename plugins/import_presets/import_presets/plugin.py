"""Hook implementation of the import presets plugin."""

from __future__ import annotations

from import_presets import housecall_pro
from kpi_core import hookimpl
from kpi_core.declarations import ImportPreset


@hookimpl
def kpi_import_presets() -> list[ImportPreset]:
    """Every preset this plugin ships."""
    return [housecall_pro.job_report()]
