"""One app per test module and database engine, for modules whose tests are cheaper than building an app.

Building the app (its OpenAPI document) costs more than many API tests, so a
module can share one app per engine while every test starts from empty tables
and no failed-login counts (``fresh_state``). Import the fixtures into the
module (or a directory's conftest.py) to override the function-scoped ones of
:mod:`kpi_core.testing.fixtures`::

    from kpi_core.testing.module_app import (  # noqa: F401 - fixtures
        app, client, database, database_url, fresh_state, settings, settings_overrides,
    )

Override ``settings_overrides`` (module scope) for settings of the module's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from kpi_core.config import Settings
from kpi_core.plugins import load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.storage.models import Base
from kpi_core.testing.fixtures import TEST_SECRET
from kpi_core.web.app import create_app
from kpi_core.web.state import EXTENSION_KEY


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, Any]:
    """Settings fields the module sets beyond the test defaults."""
    return {}


@pytest.fixture(scope="module")
def database_url(module_database_url: str) -> str:
    """One database for the module, once on SQLite and once on PostgreSQL (KPI_TEST_DATABASES)."""
    return module_database_url


@pytest.fixture(scope="module")
def settings(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, settings_overrides: dict[str, Any]
) -> Settings:
    data_dir = tmp_path_factory.mktemp("data")
    return Settings.from_env(
        {}, data_dir=data_dir, database_url=database_url, secret_key=TEST_SECRET, **settings_overrides
    )


@pytest.fixture(scope="module")
def database(settings: Settings) -> Iterator[Database]:
    database = Database(settings.effective_database_url)
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def app(settings: Settings, database: Database) -> Flask:
    return create_app(settings, database=database, plugins=load_plugins(settings))


@pytest.fixture(scope="module")
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(autouse=True)
def fresh_state(app: Flask, database: Database) -> None:
    """Every test starts from empty tables and no failed-login counts."""
    with database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    app.extensions[EXTENSION_KEY].authenticator.throttle.clear()
