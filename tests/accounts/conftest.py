"""Shared by the account API tests: one app per test module and database engine.

Building the app (its OpenAPI document) costs more than most of these tests, so
each module shares one app per engine and every test starts from empty tables
(`fresh_state`): kpi_core/testing/module_app.py, whose fixtures override the
function-scoped ones of kpi_core/testing/fixtures.py for this directory only.
A module sets settings of its own by overriding `settings_overrides`.
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
