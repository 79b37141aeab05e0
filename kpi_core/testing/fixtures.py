"""pytest fixtures shared by kpi-core's and the plugins' tests (loaded from the root conftest)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import make_url
from werkzeug.test import TestResponse

from kpi_core.config import Settings
from kpi_core.declarations import UploadedFile
from kpi_core.jobs.context import JobContext
from kpi_core.plugins import PluginHost, load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.testing.postgres import Databases, PostgresServer, PostgresUnavailable
from kpi_core.testing.seed import Seed

if TYPE_CHECKING:
    from kpi_core.records.plugin_settings import SettingValue

TEST_SECRET = "test-secret-key-that-is-long-enough-for-hs256-signing"


def _missing_service(reason: str) -> None:
    # In CI a missing service is a failure, never a skip.
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[Databases]:
    """A real PostgreSQL server for the session (or KPI_TEST_POSTGRES_URL)."""
    server = None
    url = os.environ.get("KPI_TEST_POSTGRES_URL")
    if not url:
        try:
            server = PostgresServer().start()
        except PostgresUnavailable as exc:
            _missing_service(str(exc))
        url = server.url
    databases = Databases(url)
    yield databases
    databases.dispose()
    if server is not None:
        server.stop()


@pytest.fixture
def postgres_url(postgres_databases: Databases) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    url = postgres_databases.create()
    yield url
    postgres_databases.drop(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of an empty SQLite file in the test's temporary directory."""
    return f"sqlite:///{tmp_path / 'kpi.sqlite3'}"


ENGINES_VARIABLE = "KPI_TEST_DATABASES"
"""Which databases the parametrised fixtures run on: "sqlite,postgresql" (the default, and CI's)."""


def database_engines() -> list[Any]:
    """The ``params`` of every database fixture: each test that uses one runs once per engine.

    ``KPI_TEST_DATABASES=sqlite`` (or ``postgresql``) narrows a local run to one engine;
    CI runs both, so the whole suite that touches a database runs on PostgreSQL too.
    """
    wanted = [name.strip() for name in os.environ.get(ENGINES_VARIABLE, "sqlite,postgresql").split(",") if name.strip()]
    unknown = set(wanted) - {"sqlite", "postgresql"}
    if unknown or not wanted:
        raise pytest.UsageError(f"{ENGINES_VARIABLE} must list sqlite and/or postgresql, not {sorted(unknown)}")
    return [name if name == "sqlite" else pytest.param(name, marks=pytest.mark.postgres) for name in wanted]


@pytest.fixture(params=database_engines())
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database URL, once on SQLite and once on a real PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return request.getfixturevalue(name)


@pytest.fixture(scope="module", params=database_engines())
def module_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database shared by one test module, once on SQLite and once on PostgreSQL.

    For modules that build one app per module (a module-scoped ``database_url``
    override): ``def database_url(module_database_url): return module_database_url``.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'kpi.sqlite3'}"
        return
    databases: Databases = request.getfixturevalue("postgres_databases")
    url = databases.create()
    yield url
    databases.drop(url)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """``Settings`` for the test's database, with a temporary data directory and a test secret key."""
    return Settings.from_env({}, data_dir=tmp_path / "data", database_url=database_url, secret_key=TEST_SECRET)


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session; tests get copies (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "kpi.sqlite3"
    template = Database(f"sqlite:///{path}")
    upgrade(template.engine)
    with template.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    template.dispose()
    return path


@pytest.fixture(scope="session")
def migrated_postgres_template(postgres_databases: Databases) -> str:
    """The name of a PostgreSQL database migrated once per session, to copy with CREATE DATABASE ... TEMPLATE."""
    url = postgres_databases.create()
    template = Database(url)
    upgrade(template.engine)
    template.dispose()
    return make_url(url).database


@pytest.fixture
def database(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A migrated database (SQLite and PostgreSQL): a fresh copy of a template migrated once per session."""
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite":
        shutil.copyfile(request.getfixturevalue("migrated_sqlite_template"), url.database)
    else:
        template = request.getfixturevalue("migrated_postgres_template")
        request.getfixturevalue("postgres_databases").replace_with_copy(str(url.render_as_string(False)), template)
    database = Database(settings.effective_database_url)
    yield database
    database.dispose()


@pytest.fixture(autouse=True, scope="session")
def no_refresh_after_writes() -> Iterator[None]:
    """No background KPI refresh after each write, unless a test asks for it (``refresh_after_writes``):
    its job runs, audit entries and queue messages would land in other tests' assertions."""
    from kpi_core.kpis import after_writes

    after_writes.enabled = False
    yield
    after_writes.enabled = True


@pytest.fixture
def refresh_after_writes() -> Iterator[None]:
    """Apps made while this fixture is active refresh the dashboard's questions after writes, as in production."""
    from kpi_core.kpis import after_writes

    after_writes.enabled = True
    yield
    after_writes.enabled = False


@pytest.fixture(autouse=True, scope="session")
def no_alerts_after_imports() -> Iterator[None]:
    """No alerts run after each import or disputed callback, unless a test asks for it
    (``alerts_after_imports``): its job runs and audit entries would land in other tests' assertions."""
    from kpi_core.notify import alerts

    alerts.enabled = False
    yield
    alerts.enabled = True


@pytest.fixture
def alerts_after_imports() -> Iterator[None]:
    """Imports and disputed callbacks start the alerts job, as in production."""
    from kpi_core.notify import alerts

    alerts.enabled = True
    yield
    alerts.enabled = False


@pytest.fixture(autouse=True, scope="session")
def fast_password_hashing() -> Iterator[None]:
    """Argon2 at the production cost takes ~0.1 s a hash; tests log in thousands of times.

    The tests keep argon2id (same code path, same hash format) at the lowest cost.
    """
    from argon2 import PasswordHasher

    from kpi_core.accounts import passwords

    production = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    passwords._hasher = production


@pytest.fixture
def plugins(settings: Settings) -> PluginHost:
    """The ``PluginHost`` with every installed plugin (yours too, once installed), as production loads them."""
    return load_plugins(settings)


@pytest.fixture
def app(settings: Settings, database: Database, plugins: PluginHost) -> Flask:
    """The Flask app on the test's database and plugins."""
    from kpi_core.web.app import create_app

    return create_app(settings, database=database, plugins=plugins)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """The app's test client: ``client.get("/api/v1/kpis", headers=admin_headers)``."""
    return app.test_client()


TEST_PASSWORD = "correct-horse-staple-42"


@pytest.fixture
def make_user(database: Database) -> Callable[..., int]:
    """Factory: ``make_user("manager", teams=("North",))`` -> the id of a new user with TEST_PASSWORD."""
    from kpi_core.accounts.users import NewUser, create_user

    counter = iter(range(1, 10_000))

    def make(
        role: str, *, username: str | None = None, technician_ref: str | None = None, teams: tuple[str, ...] = ()
    ) -> int:
        name = username or f"{role}{next(counter)}"
        with database.session() as session:
            user = create_user(
                session,
                NewUser(
                    username=name, password=TEST_PASSWORD, role=role, technician_ref=technician_ref, team_names=teams
                ),
            )
            return user.id

    return make


@pytest.fixture
def login(client: FlaskClient) -> Callable[..., dict[str, str]]:
    """``login(username)`` -> Authorization headers for that user (password TEST_PASSWORD)."""

    def do_login(username: str, password: str = TEST_PASSWORD) -> dict[str, str]:
        response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.json
        return {"Authorization": f"Bearer {response.json['access_token']}"}

    return do_login


@pytest.fixture
def admin_headers(make_user, login) -> dict[str, str]:
    """Authorization headers of a fresh admin user."""
    make_user("admin", username="admin")
    return login("admin")


# --- Redis, for the job runner ---------------------------------------------------------

from kpi_core.testing.redis import RedisServer, RedisUnavailable  # noqa: E402 - kept beside its fixtures


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """A real redis-server for the session (or KPI_TEST_REDIS_URL)."""
    url = os.environ.get("KPI_TEST_REDIS_URL")
    if url:
        yield url
        return
    try:
        server = RedisServer().start()
    except RedisUnavailable as exc:
        _missing_service(str(exc))
    yield server.url
    server.close()


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """The session's Redis, emptied for this test."""
    import redis

    client = redis.Redis.from_url(redis_server_url)
    client.flushdb()
    client.close()
    return redis_server_url


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which it may stop and start again (same port)."""
    try:
        server = RedisServer().start()
    except RedisUnavailable as exc:
        _missing_service(str(exc))
    yield server
    server.close()


# --- helpers for plugins' tests (issue #22) ------------------------------------------------------


class RecordedProgress(list[tuple[int, str]]):
    """A job context's ``on_progress`` that keeps every report: ``[(50, "half way"), ...]``."""

    def __call__(self, percent: int, message: str) -> None:
        self.append((percent, message))


@pytest.fixture
def job_context(settings: Settings, database: Database, plugins: PluginHost) -> Callable[..., JobContext]:
    """Factory: ``job_context("kpi_quality", callback_window_days=14)`` -> a ``JobContext`` to call a job with.

    Its ``plugin_settings`` are the named plugin's settings in force (declared
    defaults, then values stored with ``set_plugin_setting``), overridden by
    the keyword arguments (names without the namespace; a name the plugin does
    not declare is a ``KeyError``). ``file`` is the ``UploadedFile`` of a
    file-taking job; ``context.on_progress`` is a :class:`RecordedProgress`
    listing what the job reported. ``job_context()`` gives no plugin settings.
    """
    from kpi_core.records.plugin_settings import values_by_plugin

    def make(plugin: str | None = None, *, file: UploadedFile | None = None, **overrides: Any) -> JobContext:
        in_force: dict[str, Any] = {}
        if plugin is not None:
            with database.session(write=False) as session:
                in_force = values_by_plugin(session, plugins).get(plugin, {})
        unknown = sorted(set(overrides) - set(in_force))
        if unknown:
            raise KeyError(f"{plugin or 'no plugin'} declares no setting {', '.join(unknown)}")
        return JobContext(
            engine=database.engine,
            settings=settings,
            plugin_settings={**in_force, **overrides},
            plugins=plugins,
            on_progress=RecordedProgress(),
            file=file,
        )

    return make


@pytest.fixture
def set_plugin_setting(database: Database, plugins: PluginHost) -> Callable[[str, Any], SettingValue]:
    """``set_plugin_setting("quality.callback_window_days", 14)`` stores a plugin setting as an admin would.

    The value is checked against the declaration (an invalid one raises), the
    change is audited and the cached KPI answers it affects are recomputed.
    Returns the ``SettingValue`` in force. Apps, job contexts and the job
    runner made in the same test read it.
    """
    from kpi_core.audit.trail import Actor
    from kpi_core.records.plugin_settings import put_setting

    def store(key: str, value: Any) -> SettingValue:
        with database.session() as session:
            return put_setting(session, plugins, Actor.system("test"), key, value)

    return store


@pytest.fixture
def seed(database: Database) -> Seed:
    """A :class:`~kpi_core.testing.seed.Seed`: ``seed.technician("Ann", team="North")``, ``seed.job(ann, rating=5)``."""
    return Seed(database)


@pytest.fixture
def assert_kpi_recomputed(client: FlaskClient) -> Callable[..., TestResponse]:
    """``assert_kpi_recomputed(url, change, headers=admin_headers)``: a change invalidates a cached KPI answer.

    Asks ``url`` (a KPI API path with its query) twice and asserts the second
    answer came from the cache (``X-KPI-Cache: hit``); calls ``change()``;
    asks again and asserts the answer was computed anew (``miss``), under a
    new ``ETag``, and that the old ``ETag`` in ``If-None-Match`` no longer
    gets ``304``. Returns the recomputed response, to check its numbers.
    """

    def check(url: str, change: Callable[[], Any], *, headers: Mapping[str, str]) -> TestResponse:
        first = client.get(url, headers=dict(headers))
        assert first.status_code == 200, first.json
        cached = client.get(url, headers=dict(headers))
        assert cached.headers["X-KPI-Cache"] == "hit", "the answer was not cached before the change"
        change()
        after = client.get(url, headers=dict(headers))
        assert after.status_code == 200, after.json
        assert after.headers["X-KPI-Cache"] == "miss", "the cached answer was served after the change"
        assert after.headers["ETag"] != cached.headers["ETag"], "the answer kept its ETag after the change"
        revalidated = client.get(url, headers={**headers, "If-None-Match": cached.headers["ETag"]})
        assert revalidated.status_code == 200, "the old ETag still got 304 Not Modified"
        return after

    return check
