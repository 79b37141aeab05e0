"""Handyman KPI: the plugin host.

Plugin authors need only ``hookimpl`` from here and the declarations in
:mod:`kpi_core.declarations`.
"""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("kpi_core")
"""Marks a function in a plugin module as the implementation of a hook."""

__all__ = ["__version__", "hookimpl"]
