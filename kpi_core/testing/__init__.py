"""Test support for kpi-core and plugin authors: real servers, not mocks."""
