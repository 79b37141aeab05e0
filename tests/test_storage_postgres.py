"""PostgreSQL connections as the app opens them."""

from __future__ import annotations

from sqlalchemy import text

from kpi_core.storage.db import Database


def test_postgresql_connections_run_without_jit_also_after_the_pool_resets_them(postgres_url: str) -> None:
    # The KPI statements' estimated costs pass the JIT thresholds at any size, and compiling them costs
    # more than it saves (bench/README.md, "PostgreSQL"). The pool's reset rolls back: the setting must stay.
    database = Database(postgres_url)
    try:
        for _ in range(2):
            session = database.open_session()
            assert session.execute(text("SHOW jit")).scalar_one() == "off"
            session.close()  # rolled back, as a request that wrote nothing may end
        assert database.engine.pool.checkedin() == 1  # the second session had the first one's connection
    finally:
        database.dispose()
