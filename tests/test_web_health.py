"""/healthz says the process answers; /readyz names each dependency and says why it is not ready."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text

from kpi_core import hookimpl
from kpi_core.config import Settings
from kpi_core.plugins import load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import head_revisions, upgrade
from kpi_core.testing.fixtures import TEST_SECRET
from kpi_core.web.app import create_app

UNREACHABLE_DATABASE = "postgresql+psycopg://nobody:hunter2@127.0.0.1:1/x"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def sqlite_settings(tmp_path: Path, sqlite_url: str) -> Settings:
    """Settings on SQLite, for checks whose outcome does not depend on the database kind."""
    return Settings.from_env({}, data_dir=tmp_path / "data", database_url=sqlite_url, secret_key=TEST_SECRET)


@pytest.fixture
def sqlite_database(sqlite_settings: Settings) -> Iterator[Database]:
    database = Database(sqlite_settings.effective_database_url)
    upgrade(database.engine)
    yield database
    database.dispose()


def build_app(settings: Settings, database: Database, extra_plugins=()) -> Flask:
    return create_app(settings, database=database, plugins=load_plugins(settings, extra=extra_plugins))


def readyz(app: Flask):
    response = app.test_client().get("/readyz")
    assert response.is_json, response.data
    return response


def test_healthz_answers_ok(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_healthz_answers_ok_while_the_database_is_unreachable(sqlite_settings):
    app = build_app(sqlite_settings, Database(UNREACHABLE_DATABASE))

    response = app.test_client().get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_is_ready_on_a_migrated_database(app):
    response = readyz(app)

    assert response.status_code == 200, response.json
    assert response.json["status"] == "ready"
    assert all(check["ok"] for check in response.json["checks"].values())


def test_readyz_names_each_check(app):
    assert set(readyz(app).json["checks"]) == {"database", "schema", "plugins"}


def test_readyz_database_check_names_the_database_kind(app, database):
    assert readyz(app).json["checks"]["database"]["detail"] == database.engine.dialect.name


def test_readyz_schema_check_shows_current_and_expected_revisions(app, database):
    schema = readyz(app).json["checks"]["schema"]

    assert schema["current"] == schema["expected"] == sorted(head_revisions(database.engine))


def test_readyz_is_not_ready_when_the_database_is_older_than_the_code(app, database):
    with database.engine.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))

    response = readyz(app)

    assert response.status_code == 503
    assert response.json["status"] == "not ready"
    schema = response.json["checks"]["schema"]
    assert schema["ok"] is False
    assert schema["current"] == []
    assert "kpi db upgrade" in schema["detail"]
    assert response.json["checks"]["database"]["ok"] is True


def test_readyz_is_not_ready_on_a_database_that_was_never_migrated(sqlite_settings):
    database = Database(sqlite_settings.effective_database_url)
    app = build_app(sqlite_settings, database)

    response = readyz(app)
    database.dispose()

    assert response.status_code == 503
    assert "kpi db upgrade" in response.json["checks"]["schema"]["detail"]


def test_readyz_reports_an_unreachable_database_as_not_ready(sqlite_settings):
    app = build_app(sqlite_settings, Database(UNREACHABLE_DATABASE))

    response = readyz(app)

    assert response.status_code == 503
    database = response.json["checks"]["database"]
    assert database["ok"] is False
    assert "cannot reach the database" in database["detail"]
    assert "127.0.0.1:1" in database["detail"]
    assert response.json["checks"]["schema"]["ok"] is False


def test_readyz_never_shows_the_database_password(sqlite_settings):
    app = build_app(sqlite_settings, Database(UNREACHABLE_DATABASE))

    assert "hunter2" not in readyz(app).get_data(as_text=True)


def test_readyz_checks_redis_when_a_redis_url_is_set(sqlite_settings, sqlite_database):
    app = build_app(replace(sqlite_settings, redis_url=UNREACHABLE_REDIS), sqlite_database)

    response = readyz(app)

    assert set(response.json["checks"]) == {"database", "schema", "plugins", "redis"}


def test_readyz_reports_an_unreachable_redis_as_not_ready(sqlite_settings, sqlite_database):
    app = build_app(replace(sqlite_settings, redis_url=UNREACHABLE_REDIS), sqlite_database)

    response = readyz(app)

    assert response.status_code == 503
    redis = response.json["checks"]["redis"]
    assert redis["ok"] is False
    assert "redis" in redis["detail"].lower()


class BrokenPlugin:
    @hookimpl
    def kpi_metrics(self):
        raise RuntimeError("metrics table missing")


def test_a_plugin_that_failed_to_load_is_listed_but_leaves_the_instance_ready(sqlite_settings, sqlite_database):
    app = build_app(sqlite_settings, sqlite_database, extra_plugins=[("broken", BrokenPlugin())])

    response = readyz(app)

    assert response.status_code == 200
    plugins = response.json["checks"]["plugins"]
    assert "1 not loaded" in plugins["detail"]
    assert any(problem.startswith("broken:") and "metrics table missing" in problem for problem in plugins["problems"])


def test_readyz_is_ready_with_a_reachable_redis(sqlite_settings, sqlite_database, redis_url):
    app = build_app(replace(sqlite_settings, redis_url=redis_url), sqlite_database)

    response = readyz(app)

    assert response.status_code == 200, response.json
    assert response.json["checks"]["redis"] == {"ok": True, "detail": "reachable"}
