"""Engines and sessions: SQLite tuned for concurrent use, PostgreSQL with a checked pool."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from kpi_core.errors import ConfigError, DatabaseUnavailable
from kpi_core.storage import versions

# SQLite's busy handler is not a queue: under many writers an unlucky one can wait far longer
# than the average. 20 clients on 4 gunicorn workers saw waits past 15 s on a loaded 2-core
# machine (tests/reliability/test_concurrent_writers.py); 45 s stays below the worker timeout
# (60 s), so a writer that still cannot get the lock is answered 503, not killed.
SQLITE_BUSY_TIMEOUT_MS = 45_000
POOL_SIZE = 10
POOL_OVERFLOW = 10
POOL_TIMEOUT_SECONDS = 10
"""How long a request waits for a free pooled connection before it is answered 503."""
CONNECT_TIMEOUT_SECONDS = 5


WRITE_OPTION = "kpi_write"
"""Execution option marking a session that will write: SQLite then begins IMMEDIATE."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event below issue BEGIN itself (the pysqlite
    # driver's own implicit BEGIN cannot be told to take the write lock).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the single writer; the busy timeout makes a
    # second writer wait instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # A transaction that reads and then writes under WAL fails at once with
    # "database is locked" if another writer committed in between (the busy
    # timeout cannot help). Writers take the lock up front instead and queue.
    immediate = connection.get_execution_options().get(WRITE_OPTION)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the product's connection settings applied."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"KPI_DATABASE_URL {url!r} is not a valid database URL") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        # pre_ping: a connection the server dropped (restart, failover) is replaced before use, so the
        # app recovers from an outage by itself. connect_timeout: an unreachable server fails a request
        # within seconds (503, see kpi_core/web/outages.py) instead of hanging it until the proxy gives up.
        engine = create_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        )
    except Exception as exc:  # an unknown driver name is a configuration error
        raise ConfigError(f"KPI_DATABASE_URL {url!r} cannot be used: {exc}") from None
    if parsed.get_backend_name() == "postgresql":
        event.listen(engine, "connect", _postgresql_session)
    return engine


def _postgresql_session(dbapi_connection: Any, _record: Any) -> None:
    # The KPI statements' estimated costs pass PostgreSQL's JIT thresholds at any size, and compiling
    # them costs far more than it saves: the dashboard query took 9.2 s instead of 0.15 s on 20,000 jobs
    # and 18 s instead of 10 s on 1,000,000 (bench/README.md). Committed, or the pool's reset would undo it.
    cursor = dbapi_connection.cursor()
    cursor.execute("SELECT current_setting('server_version_num')::int")
    if cursor.fetchone()[0] >= 110000:  # jit exists from PostgreSQL 11
        cursor.execute("SET jit = off")
    cursor.close()
    dbapi_connection.commit()


def describe_url(engine: Engine) -> str:
    """The URL with any password hidden, for messages and logs."""
    return engine.url.render_as_string(hide_password=True)


def ping(engine: Engine) -> None:
    """Raise :class:`DatabaseUnavailable` with a readable reason if the database cannot be reached."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseUnavailable(f"cannot reach the database at {describe_url(engine)}: {reason}") from None


@contextmanager
def engine_session(engine: Engine, *, write: bool = False) -> Iterator[Session]:
    """A session on ``engine`` for code outside a request (jobs, workers): commits on success, rolls back on
    any error; ``write=True`` for one that will change data (see WRITE_OPTION)."""
    session = Session(engine, expire_on_commit=False)
    try:
        if write:
            session.connection(execution_options={WRITE_OPTION: True})
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class Database:
    """One engine and its session factory, shared by a process."""

    def __init__(self, url: str) -> None:
        # Every writer bumps the data versions that cached KPI results are keyed by.
        versions.install()
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def open_session(self, *, write: bool = False) -> Session:
        """A new session; ``write=True`` for one that will change data (see WRITE_OPTION)."""
        session = self.sessions()
        if write:
            session.connection(execution_options={WRITE_OPTION: True})
        return session

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error."""
        with engine_session(self.engine, write=write) as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
