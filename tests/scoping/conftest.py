"""Shared by the scoping tests: one app per test module and database engine.

These tests ask many small questions of one app, so each module shares one app per engine
and every test starts from empty tables (kpi_core/testing/module_app.py).
"""

from __future__ import annotations

from kpi_core.testing.module_app import (  # noqa: F401 - fixtures shared by the directory
    app,
    client,
    database,
    database_url,
    fresh_state,
    settings,
    settings_overrides,
)
