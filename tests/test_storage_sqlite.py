"""SQLite, the embedded default: WAL, foreign keys on, and writers that wait for each other."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from kpi_core.storage.db import SQLITE_BUSY_TIMEOUT_MS, Database
from kpi_core.storage.migrate import upgrade
from kpi_core.storage.models import Job, Team


@pytest.fixture
def sqlite_database(sqlite_url: str) -> Iterator[Database]:
    """A migrated SQLite database file."""
    database = Database(sqlite_url)
    upgrade(database.engine)
    yield database
    database.dispose()


def pragma(database: Database, name: str) -> object:
    # A fresh engine, so the pragmas are those a brand-new connection gets.
    engine = Database(str(database.engine.url)).engine
    try:
        with engine.connect() as connection:
            return connection.exec_driver_sql(f"PRAGMA {name}").scalar()
    finally:
        engine.dispose()


def test_new_connections_use_write_ahead_logging(sqlite_database):
    assert pragma(sqlite_database, "journal_mode") == "wal"


def test_new_connections_enforce_foreign_keys(sqlite_database):
    assert pragma(sqlite_database, "foreign_keys") == 1


def test_new_connections_wait_for_a_busy_database(sqlite_database):
    assert pragma(sqlite_database, "busy_timeout") == SQLITE_BUSY_TIMEOUT_MS


def test_a_job_for_a_missing_technician_is_refused(sqlite_database):
    with sqlite_database.sessions() as session:
        session.add(Job(external_ref="J-1", technician_id=4242, category="plumbing"))
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            session.flush()


def test_two_threads_writing_at_once_both_succeed(sqlite_database):
    first_holds_the_lock = threading.Event()
    errors: list[BaseException] = []

    def first_writer() -> None:
        with sqlite_database.session() as session:
            session.add(Team(name="first"))
            session.flush()
            first_holds_the_lock.set()
            # Keep the write transaction open so the second writer must wait for it.
            threading.Event().wait(0.5)

    def second_writer() -> None:
        first_holds_the_lock.wait(5)
        with sqlite_database.session() as session:
            existing = session.scalar(select(func.count()).select_from(Team))
            session.add(Team(name=f"second after {existing}"))

    def run(writer) -> None:
        try:
            writer()
        except BaseException as exc:  # reported to the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(writer,)) for writer in (first_writer, second_writer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    with sqlite_database.sessions() as session:
        names = set(session.scalars(select(Team.name)))
    assert names == {"first", "second after 1"}


def test_a_reader_is_not_blocked_by_an_open_write_transaction(sqlite_database):
    with sqlite_database.session() as writer:
        writer.add(Team(name="not yet committed"))
        writer.flush()
        with sqlite_database.engine.connect() as reader:
            seen = reader.execute(text("SELECT count(*) FROM teams")).scalar()

    assert seen == 0
