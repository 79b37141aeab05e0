"""Root conftest: the shared fixtures reach tests/ and every plugin's tests."""

pytest_plugins = ["kpi_core.testing.fixtures"]
