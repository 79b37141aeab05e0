"""Alembic, driven from code: upgrade, current revision, and whether the schema is current.

The core's revisions live in ``migrations/versions``. A plugin with tables of
its own ships its revisions as a branch in a directory of its own (the
``kpi_migrations`` hook), passed here as ``locations``: one revision graph,
one ``alembic_version`` table, upgraded together. A revision recorded in the
database that no script knows (a plugin's, after the plugin was uninstalled)
is an *orphan*: kept in the table, set aside while migrating, and left out of
the "is the schema current" comparison, so the core keeps working.

``locations=None`` (the default) means the branches of every installed
plugin; ``locations=()`` the core's alone. The command line passes the
branches of the plugins it loaded (so disabled plugins are left out).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import to_tuple
from sqlalchemy import Connection, String, column, delete, insert, inspect, select, table
from sqlalchemy.engine import Engine

from kpi_core.storage.db import ping

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
CORE_VERSIONS_DIR = MIGRATIONS_DIR / "versions"
VERSION_TABLE = "alembic_version"


Locations = Iterable[Path | str] | None
"""Plugin branch directories: None for every installed plugin's, () for none."""


def installed_locations() -> list[Path]:
    """The migration directories of every installed plugin (found once per process)."""
    # Imported here: discovery is the plugin host's job, and storage must not need it to import.
    from kpi_core.plugins import installed_migration_locations

    return installed_migration_locations()


def alembic_config(engine: Engine, locations: Locations = None) -> Config:
    """The Alembic config for ``engine``: the core's revisions plus the plugin branches in ``locations``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    extra = [str(Path(location)) for location in (installed_locations() if locations is None else locations)]
    if extra:
        config.set_main_option("path_separator", "os")
        # ConfigParser interpolates '%': a path may contain one.
        joined = os.pathsep.join([str(CORE_VERSIONS_DIR), *extra]).replace("%", "%%")
        config.set_main_option("version_locations", joined)
    # env.py uses this engine rather than building its own from a URL string.
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "heads", locations: Locations = None) -> None:
    """Apply migrations up to ``revision`` (all heads, the core's and the plugins' in ``locations``, by default)."""
    ping(engine)
    command.upgrade(alembic_config(engine, locations), revision)


def downgrade(engine: Engine, revision: str, locations: Locations = None) -> None:
    """Revert migrations down to ``revision`` (``<plugin>@base`` removes a plugin branch's tables)."""
    ping(engine)
    command.downgrade(alembic_config(engine, locations), revision)


def script_directory(engine: Engine, locations: Locations = None) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(engine, locations))


def head_revisions(engine: Engine, locations: Locations = None) -> set[str]:
    return set(script_directory(engine, locations).get_heads())


def known_revisions(script: ScriptDirectory) -> set[str]:
    """Every revision id the scripts define."""
    return {revision.revision for revision in script.walk_revisions()}


def recorded_revisions(connection: Connection) -> set[str]:
    """The revisions in the version table (empty when there is none yet)."""
    return set(MigrationContext.configure(connection).get_current_heads())


def current_revisions(engine: Engine) -> set[str]:
    ping(engine)
    with engine.connect() as connection:
        return recorded_revisions(connection)


_versions = table(VERSION_TABLE, column("version_num", String(32)))


def set_aside_orphans(connection: Connection, known: set[str]) -> set[str]:
    """Delete recorded revisions no script knows, inside the caller's transaction; returns them.

    Called by env.py before Alembic reads the version table (it would refuse
    an unknown revision) and undone by :func:`restore_orphans` in the same
    transaction, so a reinstalled plugin finds its branch where it left it.
    """
    if not inspect(connection).has_table(VERSION_TABLE):
        return set()
    orphans = {row[0] for row in connection.execute(select(_versions.c.version_num))} - known
    if orphans:
        connection.execute(delete(_versions).where(_versions.c.version_num.in_(sorted(orphans))))
    return orphans


def restore_orphans(connection: Connection, orphans: set[str]) -> None:
    if orphans:
        connection.execute(insert(_versions), [{"version_num": revision} for revision in sorted(orphans)])


@dataclass(frozen=True)
class SchemaState:
    """The revisions recorded in the database against the heads of the scripts.

    ``current`` holds the recorded revisions the scripts know; ``orphans`` the
    ones they do not (left by an uninstalled plugin), which do not count.
    """

    current: set[str]
    heads: set[str]
    orphans: set[str] = field(default_factory=set)
    disabled: dict[str, str] = field(default_factory=dict)
    """Orphans recorded by a plugin that is installed but disabled (KPI_DISABLED_PLUGINS): revision -> plugin."""

    @property
    def is_current(self) -> bool:
        return self.current == self.heads

    @property
    def is_empty(self) -> bool:
        return not self.current

    def describe(self) -> str:
        ignored = ""
        for plugin in sorted(set(self.disabled.values())):
            revisions = sorted(revision for revision in self.orphans if self.disabled.get(revision) == plugin)
            if revisions:
                ignored += f"; ignoring {', '.join(revisions)}, recorded by plugin {plugin}, which is disabled"
        missing = sorted(self.orphans - set(self.disabled))
        if missing:
            ignored += f"; ignoring {', '.join(missing)}, recorded by a plugin that is not installed"
        if self.is_current:
            return f"schema is current ({', '.join(sorted(self.heads))}){ignored}"
        shown = ", ".join(sorted(self.current)) or "empty"
        return (
            f"database schema is at {shown} but this version of kpi-core and its plugins needs "
            f"{', '.join(sorted(self.heads))}: run `kpi db upgrade`{ignored}"
        )


def schema_state(engine: Engine, locations: Locations = None, disabled: dict[str, str] | None = None) -> SchemaState:
    """Whether the database is at the heads of the core's and the plugins' (``locations``) revisions.

    ``disabled`` maps the revisions of installed but disabled plugins to their names, so that
    their recorded revisions are reported as disabled rather than not installed.
    """
    script = script_directory(engine, locations)
    recorded = current_revisions(engine)
    known = known_revisions(script)
    orphans = recorded - known
    return SchemaState(
        current=recorded & known,
        heads=set(script.get_heads()),
        orphans=orphans,
        disabled={revision: name for revision, name in (disabled or {}).items() if revision in orphans},
    )


def reached(script: ScriptDirectory, recorded: set[str]) -> set[str]:
    """Every revision applied in a database whose version table holds ``recorded``: those and their ancestors."""
    if not recorded:
        return set()
    return {revision.revision for revision in script.iterate_revisions(tuple(sorted(recorded)), "base")}


def describe_changes(script: ScriptDirectory, revisions: set[str]) -> list[str]:
    """One line per revision, oldest first: its id and the first line of its message."""
    ordered = [revision for revision in reversed(list(script.walk_revisions())) if revision.revision in revisions]
    return [f"{revision.revision} ({(revision.doc or '').strip().splitlines()[0]})" for revision in ordered]


class BranchError(ValueError):
    """A plugin's migrations are not a valid branch; the message says why."""


def plugin_branch(name: str, location: Path) -> list[str]:
    """The revision ids of plugin ``name``'s branch in ``location``; BranchError says why it is not valid.

    A plugin's branch must: define at least one revision; start from revisions
    with ``down_revision = None`` and ``branch_labels`` naming the plugin (it
    hangs off the core through ``depends_on``, never ``down_revision``, so the
    core's history stays whole when the plugin is uninstalled); reuse no
    revision id of the core's.
    """
    if not location.is_dir():
        raise BranchError(f"kpi_migrations() names {location}, which is not a directory")
    core_revisions = known_revisions(ScriptDirectory(str(MIGRATIONS_DIR)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            both = ScriptDirectory(str(MIGRATIONS_DIR), version_locations=[str(CORE_VERSIONS_DIR), str(location)])
            revisions = [revision for revision in both.walk_revisions() if revision.revision not in core_revisions]
        except Exception as exc:  # a plugin's scripts are its code: any error in them is its problem, reported
            failure: Exception | None = exc
        else:
            failure = None
    # Alembic only warns of a duplicate id (and the later script wins): that would replace a core revision.
    reused = [str(warning.message) for warning in caught if "more than once" in str(warning.message)]
    if reused:
        raise BranchError(f"its migrations in {location} reuse a revision id: {reused[0]}")
    if failure is not None:
        raise BranchError(f"its migrations in {location} do not load: {type(failure).__name__}: {failure}")
    if not revisions:
        raise BranchError(f"kpi_migrations() names {location}, which holds no revision scripts")
    ours = {revision.revision for revision in revisions}
    for revision in revisions:
        rev, downs = revision.revision, set(to_tuple(revision.down_revision, default=()))
        if downs & core_revisions:
            raise BranchError(
                f"revision {rev} has down_revision {', '.join(sorted(downs))} of kpi-core: "
                "a plugin branch starts with down_revision = None and depends_on the core revision it needs"
            )
        if not downs and name not in revision.branch_labels:
            raise BranchError(
                f"revision {revision.revision} starts the branch but its branch_labels do not name {name!r}"
            )
        if downs - ours:
            raise BranchError(
                f"revision {revision.revision} revises {', '.join(sorted(downs - ours))}, outside its branch"
            )
    return sorted(ours)
