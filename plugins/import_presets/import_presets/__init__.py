"""Import presets: ready column mappings for the job exports of field-service systems.

Built only on the public plugin API, as a third party would: ``kpi_core.hookimpl``
and the declarations ``ImportPreset``, ``ImportMapping`` and ``FieldRule`` in
``kpi_core.declarations``. Each preset follows a publicly documented export
and cites its source in its docstring.
"""

from import_presets.plugin import kpi_import_presets

__all__ = ["kpi_import_presets"]
