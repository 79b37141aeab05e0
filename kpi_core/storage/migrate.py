"""Alembic, driven from code: upgrade, current revision, and whether the schema is current."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from kpi_core.storage.db import ping

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # env.py uses this engine rather than building its own from a URL string.
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """Apply migrations up to ``revision`` (all heads by default)."""
    ping(engine)
    command.upgrade(alembic_config(engine), revision)


def head_revisions(engine: Engine) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    ping(engine)
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


@dataclass(frozen=True)
class SchemaState:
    current: set[str]
    heads: set[str]

    @property
    def is_current(self) -> bool:
        return self.current == self.heads

    @property
    def is_empty(self) -> bool:
        return not self.current

    def describe(self) -> str:
        if self.is_current:
            return f"schema is current ({', '.join(sorted(self.heads))})"
        shown = ", ".join(sorted(self.current)) or "empty"
        return (
            f"database schema is at {shown} but this version of kpi-core needs "
            f"{', '.join(sorted(self.heads))}: run `kpi db upgrade`"
        )


def schema_state(engine: Engine) -> SchemaState:
    return SchemaState(current=current_revisions(engine), heads=head_revisions(engine))
