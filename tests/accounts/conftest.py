"""Shared by the account API tests: one app per test module and database engine.

Building the app (its OpenAPI document) costs more than most of these tests, so
each module shares one app per engine and every test starts from empty tables
(`fresh_state`). These fixtures override the function-scoped ones of
kpi_core/testing/fixtures.py for this directory only.
"""

from __future__ import annotations

from collections.abc import Iterator

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


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'kpi.sqlite3'}"
        return
    databases = request.getfixturevalue("postgres_databases")
    url = databases.create()
    yield url
    databases.drop(url)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    data_dir = tmp_path_factory.mktemp("data")
    return Settings.from_env({}, data_dir=data_dir, database_url=database_url, secret_key=TEST_SECRET)


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
    app.extensions[EXTENSION_KEY].authenticator.throttle.limiter.storage.reset()
