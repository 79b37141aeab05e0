"""Alembic environment: runs with the engine handed over by kpi_core.storage.migrate."""

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import context
from sqlalchemy import Connection

from kpi_core.storage.migrate import known_revisions, restore_orphans, set_aside_orphans
from kpi_core.storage.models import Base

config = context.config
engine = config.attributes["engine"]


@contextmanager
def foreign_keys_checked_at_the_end(connection: Connection) -> Iterator[None]:
    """SQLite changes a table by making a new one, copying the rows and dropping the old one (batch
    mode). With foreign keys enforced, dropping a table that rows still point at (an evaluation's
    earlier revision, say) fails or cascades. SQLite's own recipe: foreign keys off for the run,
    outside any transaction (the pragma does nothing inside one), and every reference checked before
    the commit. Nothing to do on PostgreSQL, which alters tables in place."""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys=ON")


def check_foreign_keys(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        listed = ", ".join(f"{table} row {rowid} -> {parent}" for table, rowid, parent, _ in broken[:10])
        raise RuntimeError(f"the migration left {len(broken)} rows pointing at rows that do not exist: {listed}")


with engine.connect() as connection, foreign_keys_checked_at_the_end(connection), connection.begin():
    # A revision recorded by a plugin that is no longer installed would stop Alembic
    # ("Can't locate revision"): set it aside for the run and put it back, in one transaction.
    orphans = set_aside_orphans(connection, known_revisions(context.script))
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    check_foreign_keys(connection)
    restore_orphans(connection, orphans)
