"""Backups: a consistent copy of the database plus a manifest, verified before any restore.

A backup is two files in ``<data dir>/backups``: the copy, named with the
UTC time it was taken (``kpi-20261125T021500_123456Z.sqlite3`` on SQLite,
``....dump`` in pg_dump's custom format on PostgreSQL), and
``<copy>.json``, its manifest: SHA-256 of the copy, schema revision and
the row count of every table *in the copy*. Both copies are snapshots,
taken while the app keeps writing: SQLite's online backup API copies every
page in one step under one read transaction, and pg_dump runs in a
snapshot exported by the transaction that counted the rows.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, inspect, select, table, text
from sqlalchemy.engine import URL, Engine

import kpi_core
from kpi_core.config import Settings
from kpi_core.errors import KpiError

PREFIX = "kpi-"
PRE_RESTORE_PREFIX = "pre-restore-"
EXTENSIONS = {"sqlite": ".sqlite3", "postgresql": ".dump"}


class BackupError(KpiError):
    """A backup cannot be made, read or restored; the message says why."""


class BackupCorrupt(BackupError):
    """The backup does not match its manifest, or does not open."""


class BackupRefused(BackupError):
    """The backup is sound but must not be restored here (newer schema, other database kind)."""


@dataclass
class Manifest:
    """What a backup holds, written beside it as ``<file>.json``."""

    file: str
    created_at: str
    dialect: str
    size: int
    sha256: str
    schema_revisions: list[str]
    row_counts: dict[str, int]
    kpi_core_version: str = kpi_core.__version__
    format_version: int = 1
    path: Path | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("path")
        return json.dumps(data, indent=2, sort_keys=True)


def backup_dir(settings: Settings) -> Path:
    return settings.data_dir / "backups"


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _counts(connection: Connection | sqlite3.Connection, tables: Sequence[str]) -> dict[str, int]:
    if isinstance(connection, sqlite3.Connection):
        quoted = {name: name.replace('"', '""') for name in tables}  # names read from sqlite_master
        return {name: connection.execute(f'SELECT count(*) FROM "{quoted[name]}"').fetchone()[0] for name in tables}  # noqa: S608
    return {name: connection.scalar(select(func.count()).select_from(table(name))) or 0 for name in tables}


def _sqlite_tables(connection: sqlite3.Connection) -> list[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return sorted(name for (name,) in rows)


def _revisions(counts_source: Any, tables: Sequence[str]) -> list[str]:
    if "alembic_version" not in tables:
        return []
    if isinstance(counts_source, sqlite3.Connection):
        return sorted(row[0] for row in counts_source.execute("SELECT version_num FROM alembic_version"))
    return sorted(counts_source.scalars(text("SELECT version_num FROM alembic_version")))


def _new_file(directory: Path, prefix: str, dialect: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S_%fZ")
    return directory / f"{prefix}{stamp}{EXTENSIONS[dialect]}"


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def create_backup(settings: Settings, engine: Engine, *, prefix: str = PREFIX, keep: int | None = None) -> Manifest:
    """Take a backup now; then, given ``keep``, delete all but the ``keep`` newest regular backups."""
    dialect = engine.dialect.name
    if dialect not in EXTENSIONS:
        raise BackupError(f"backups of {dialect} databases are not supported")
    directory = backup_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    target = _new_file(directory, prefix, dialect)
    partial = target.with_name(target.name + ".partial")
    created_at = datetime.now(UTC).isoformat()
    try:
        if dialect == "sqlite":
            revisions, counts = _sqlite_copy(_sqlite_path(engine), partial)
        else:
            revisions, counts = _pg_dump(engine, partial)
        manifest = Manifest(
            file=target.name,
            created_at=created_at,
            dialect=dialect,
            size=partial.stat().st_size,
            sha256=sha256(partial),
            schema_revisions=revisions,
            row_counts=counts,
            path=target,
        )
        os.replace(partial, target)
        _write_atomically(manifest_path(target), manifest.to_json())
    finally:
        partial.unlink(missing_ok=True)
    if keep is not None:
        prune(settings, keep)
    return manifest


def _write_atomically(path: Path, content: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(content)
    os.replace(partial, path)


def _sqlite_copy(source: Path, target: Path) -> tuple[list[str], dict[str, int]]:
    if not source.exists():
        raise BackupError(f"there is no database at {source} to back up")
    live = sqlite3.connect(source, timeout=15)
    copy = sqlite3.connect(target)
    try:
        # pages=-1: one step, so one read transaction: a snapshot, however busy the writers are.
        live.backup(copy, pages=-1)
        # A self-contained single file (no -wal beside it), so the checksum covers everything.
        copy.execute("PRAGMA journal_mode=DELETE")
        tables = _sqlite_tables(copy)
        return _revisions(copy, tables), _counts(copy, tables)
    finally:
        copy.close()
        live.close()


def _pg_dump(engine: Engine, target: Path) -> tuple[list[str], dict[str, int]]:
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            # The first statement fixes this transaction's snapshot; pg_dump then reads that same snapshot.
            snapshot = connection.scalar(text("SELECT pg_export_snapshot()"))
            tables = sorted(inspect(connection).get_table_names())
            counts = _counts(connection, tables)
            revisions = _revisions(connection, tables)
            _pg_tool("pg_dump", engine.url, "--format=custom", f"--snapshot={snapshot}", f"--file={target}")
    return revisions, counts


def read_manifest(path: Path) -> Manifest:
    sidecar = manifest_path(path)
    if not sidecar.exists():
        raise BackupCorrupt(f"{path.name} has no manifest ({sidecar.name}); it cannot be verified")
    try:
        data = json.loads(sidecar.read_text())
        return Manifest(**data, path=path)
    except (ValueError, TypeError) as exc:
        raise BackupCorrupt(f"the manifest {sidecar.name} is unreadable: {exc}") from None


def verify_backup(path: Path) -> Manifest:
    """Check the copy against its manifest and that it opens; raise :class:`BackupCorrupt` if not."""
    manifest = read_manifest(path)
    if not path.exists():
        raise BackupCorrupt(f"{path.name} is missing")
    actual = sha256(path)
    if actual != manifest.sha256:
        raise BackupCorrupt(
            f"{path.name} is corrupt: its SHA-256 is {actual} but the manifest recorded {manifest.sha256}"
        )
    if manifest.dialect == "sqlite":
        _verify_sqlite(path, manifest)
    else:
        try:
            _pg_tool("pg_restore", None, "--list", str(path))
        except BackupError as exc:
            raise BackupCorrupt(f"{path.name} does not open as a pg_dump archive: {exc}") from None
    return manifest


def _verify_sqlite(path: Path, manifest: Manifest) -> None:
    try:
        copy = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
            counts = _counts(copy, _sqlite_tables(copy))
        finally:
            copy.close()
    except sqlite3.DatabaseError as exc:
        raise BackupCorrupt(f"{path.name} does not open as a SQLite database: {exc}") from None
    if problems != ["ok"]:
        raise BackupCorrupt(f"{path.name} fails SQLite's integrity check: {'; '.join(problems[:3])}")
    if counts != manifest.row_counts:
        raise BackupCorrupt(f"{path.name} holds other row counts than its manifest records")


def restore_backup(settings: Settings, engine: Engine, path: Path) -> Manifest | None:
    """Replace the database with a verified backup; returns the backup kept of the database it replaced."""
    from alembic.script import ScriptDirectory  # here: the built-in backup job must not load Alembic

    from kpi_core.storage.migrate import alembic_config

    manifest = verify_backup(path)
    if manifest.dialect != engine.dialect.name:
        raise BackupRefused(f"{path.name} is a {manifest.dialect} backup; this database is {engine.dialect.name}")
    script = ScriptDirectory.from_config(alembic_config(engine))
    known = {revision.revision for revision in script.walk_revisions()}
    unknown = sorted(set(manifest.schema_revisions) - known)
    if unknown:
        raise BackupRefused(
            f"{path.name} has schema revision {', '.join(unknown)}, newer than this version of kpi-core "
            f"knows ({', '.join(sorted(script.get_heads()))}): restore it with the version that made it"
        )
    replaces = manifest.dialect != "sqlite" or _sqlite_path(engine).exists()
    kept = create_backup(settings, engine, prefix=PRE_RESTORE_PREFIX) if replaces else None
    engine.dispose()
    if manifest.dialect == "sqlite":
        backup = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        live = sqlite3.connect(_sqlite_path(engine), timeout=15)
        try:
            # Page by page under the live database's write lock: other connections see old or new, never a mix.
            backup.backup(live, pages=-1)
        finally:
            live.close()
            backup.close()
    else:
        pg_restore_args = ("--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction")
        _pg_tool("pg_restore", engine.url, *pg_restore_args, "--exit-on-error", str(path))
    engine.dispose()
    return kept


def list_backups(settings: Settings) -> list[Manifest]:
    """Backups in the backup folder with a readable manifest, oldest first."""
    directory = backup_dir(settings)
    found = []
    for sidecar in sorted(directory.glob("*.json")) if directory.exists() else []:
        try:
            found.append(read_manifest(sidecar.with_name(sidecar.name.removesuffix(".json"))))
        except BackupCorrupt:
            continue
    return sorted(found, key=lambda manifest: manifest.created_at)


def prune(settings: Settings, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest regular backups (pre-restore copies are left alone)."""
    regular = [manifest for manifest in list_backups(settings) if manifest.file.startswith(PREFIX)]
    deleted = []
    for manifest in regular[: max(0, len(regular) - keep)]:
        assert manifest.path is not None
        manifest.path.unlink(missing_ok=True)
        manifest_path(manifest.path).unlink(missing_ok=True)
        deleted.append(manifest.path)
    return deleted


def _pg_binary(name: str) -> str:
    # The newest installed version: pg_dump refuses servers newer than itself.
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[4]))
    found = versions[-1] if versions else shutil.which(name)
    if not found:
        raise BackupError(f"{name} is not installed (Debian package: postgresql-client)")
    return found


def _pg_tool(name: str, url: URL | None, *args: str) -> str:
    """Run pg_dump or pg_restore; the password goes in the environment, never on the command line."""
    command = [_pg_binary(name), *args]
    env = dict(os.environ)
    if url is not None:
        if url.password:
            env["PGPASSWORD"] = str(url.password)
        libpq = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
        command.append(f"--dbname={libpq}")
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603 - argv, no shell
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise BackupError(f"{name} failed: {message[-1] if message else f'exit status {result.returncode}'}")
    return result.stdout
