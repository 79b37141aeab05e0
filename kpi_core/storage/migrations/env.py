"""Alembic environment: runs with the engine handed over by kpi_core.storage.migrate."""

from alembic import context

from kpi_core.storage.migrate import known_revisions, restore_orphans, set_aside_orphans
from kpi_core.storage.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
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
    restore_orphans(connection, orphans)
