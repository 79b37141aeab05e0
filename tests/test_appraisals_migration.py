"""Migration 0016 (issue #21, appraisals) on a database with revised evaluations.

SQLite changes the evaluations table by copying it to a new one and dropping the old; with foreign
keys enforced, dropping a table whose rows point at each other (a revision at the evaluation it
replaces) failed and the upgrade stopped. Every evaluation, revision link and final score must come
through, on SQLite and on PostgreSQL, and downgrading must keep them too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import column as col
from sqlalchemy import insert, select, table, text

from kpi_core.storage.db import Database
from kpi_core.storage.migrate import downgrade, upgrade

NOW = {"created_at": datetime(2026, 12, 1, tzinfo=UTC), "updated_at": datetime(2026, 12, 1, tzinfo=UTC)}
CHAINS = 20
"""Evaluations each revised twice: the first of each chain is pointed at by the second, and so on."""

EVALUATIONS = table(
    "evaluations", *(col(name) for name in (
        "id", "technician_id", "period_start", "period_end", "form_version", "form_snapshot", "answers", "score",
        "status", "revision", "supersedes_id", "created_at", "updated_at",
    ))
)  # fmt: skip


@pytest.fixture
def at_0015(database_url: str) -> Iterator[Database]:
    """Revision 0015 with CHAINS x 3 evaluations linked as revisions, written as that schema had them."""
    database = Database(database_url)
    upgrade(database.engine, "0015")
    stamps = (col("created_at"), col("updated_at"))
    technicians = table("technicians", col("id"), col("external_ref"), col("name"), col("active"), *stamps)
    with database.engine.begin() as connection:
        connection.execute(
            insert(technicians), [{"id": 1, "external_ref": "T1", "name": "Tina", "active": True, **NOW}]
        )
        rows, next_id = [], 1
        for chain in range(CHAINS):
            for revision in (1, 2, 3):
                rows.append({
                    "id": next_id, "technician_id": 1,
                    "period_start": date(2026, 1, 1), "period_end": date(2026, 1, 31),
                    "form_version": "v1", "form_snapshot": "[]", "answers": "{}", "score": 50.0 + chain,
                    "status": "submitted", "revision": revision, "supersedes_id": next_id - 1 if revision > 1 else None,
                    **NOW,
                })  # fmt: skip
                next_id += 1
        connection.execute(insert(EVALUATIONS), rows)
    yield database
    database.dispose()


def links(database: Database) -> list[tuple]:
    with database.engine.connect() as connection:
        query = select(EVALUATIONS.c.id, EVALUATIONS.c.revision, EVALUATIONS.c.supersedes_id, EVALUATIONS.c.score)
        return sorted(tuple(row) for row in connection.execute(query))


def test_upgrade_keeps_every_revision_and_gives_each_its_final_score(at_0015):
    before = links(at_0015)

    upgrade(at_0015.engine, "0016")

    assert links(at_0015) == before and len(before) == CHAINS * 3
    with at_0015.engine.connect() as connection:
        finals = connection.execute(text("SELECT score, final_score, final_formula FROM evaluations")).all()
    assert all(final == score and formula == "manager_only" for score, final, formula in finals)


def test_downgrade_keeps_them_too_and_foreign_keys_are_enforced_again(at_0015):
    before = links(at_0015)
    upgrade(at_0015.engine, "0016")

    downgrade(at_0015.engine, "0015")

    assert links(at_0015) == before
    if at_0015.engine.dialect.name == "sqlite":
        with at_0015.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_upgrade_to_the_head_from_0015(at_0015):
    before = links(at_0015)

    upgrade(at_0015.engine)

    assert links(at_0015) == before
