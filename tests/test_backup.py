"""Backups on SQLite and on a real PostgreSQL: consistent while the app writes, checked against
their manifest, restorable (keeping what they replace), and corruption is caught before it does harm.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, inspect, select, table, text

from kpi_core.audit.trail import Actor
from kpi_core.cli import cli
from kpi_core.jobs.execute import JobEnvironment
from kpi_core.jobs.inprocess import InProcessRunner
from kpi_core.storage.backup import (
    BackupCorrupt,
    BackupRefused,
    create_backup,
    list_backups,
    manifest_path,
    restore_backup,
    sha256,
    verify_backup,
)
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import head_revisions
from kpi_core.storage.models import Customer, Team

NAME = re.compile(r"^kpi-\d{8}T\d{6}_\d{6}Z\.(sqlite3|dump)$")


def table_counts(database: Database) -> dict[str, int]:
    with database.engine.connect() as connection:
        names = sorted(inspect(connection).get_table_names())
        return {name: connection.scalar(select(func.count()).select_from(table(name))) for name in names}


def team_names(database: Database) -> set[str]:
    with database.session(write=False) as session:
        return set(session.scalars(select(Team.name)))


def add_team(database: Database, name: str) -> None:
    with database.session() as session:
        session.add(Team(name=name))


class Writer(threading.Thread):
    """The app at work: each transaction adds a team and a customer, so a consistent copy has as many of each."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.database = Database(url)
        self.stop = threading.Event()
        self.written = 0

    def run(self) -> None:
        while not self.stop.is_set():
            tag = uuid.uuid4().hex[:12]
            with self.database.session() as session:
                session.add_all([Team(name=f"team-{tag}"), Customer(external_ref=f"C-{tag}", name=f"Customer {tag}")])
            self.written += 1

    def wait_for(self, rows: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.written < rows:
            assert self.is_alive() and time.monotonic() < deadline, "the writer stalled"
            time.sleep(0.01)

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=30)
        self.database.dispose()


def test_a_backup_is_named_by_its_utc_time_and_described_by_its_manifest(settings, database):
    add_team(database, "North")

    manifest = create_backup(settings, database.engine)

    assert manifest.path.parent == settings.data_dir / "backups"
    assert NAME.match(manifest.path.name)
    assert manifest.sha256 == sha256(manifest.path)
    assert manifest.schema_revisions == sorted(head_revisions(database.engine))
    assert manifest.row_counts["teams"] == 1
    assert manifest.dialect == database.engine.dialect.name
    assert verify_backup(manifest.path).file == manifest.file


def test_a_backup_taken_while_the_app_writes_restores_to_a_consistent_database(settings, database):
    writer = Writer(settings.effective_database_url)
    writer.start()
    try:
        writer.wait_for(20)
        manifest = create_backup(settings, database.engine)
        written_at_backup = writer.written
        writer.wait_for(written_at_backup + 20)  # the writes went on during and after the backup
    finally:
        writer.finish()
    assert table_counts(database)["teams"] > manifest.row_counts["teams"]

    restore_backup(settings, database.engine, manifest.path)

    restored = table_counts(database)
    assert restored == manifest.row_counts
    assert restored["teams"] == restored["customers"] > 0  # no transaction half in the copy


def test_verify_catches_a_corrupted_backup_and_restore_refuses_it(settings, database):
    add_team(database, "North")
    manifest = create_backup(settings, database.engine)
    data = bytearray(manifest.path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(byte ^ 0xFF for byte in data[middle : middle + 16])
    manifest.path.write_bytes(bytes(data))
    add_team(database, "South")

    with pytest.raises(BackupCorrupt, match="is corrupt: its SHA-256 is"):
        verify_backup(manifest.path)
    with pytest.raises(BackupCorrupt):
        restore_backup(settings, database.engine, manifest.path)
    assert team_names(database) == {"North", "South"}


def test_a_backup_without_its_manifest_cannot_be_verified(settings, database):
    manifest = create_backup(settings, database.engine)
    manifest_path(manifest.path).unlink()

    with pytest.raises(BackupCorrupt, match="no manifest"):
        verify_backup(manifest.path)


def test_restore_refuses_a_backup_of_a_newer_schema(settings, database):
    (head,) = head_revisions(database.engine, locations=())  # the core's (plugins' branches have their own rows)
    with database.session() as session:
        session.execute(
            text("UPDATE alembic_version SET version_num = '9999_future' WHERE version_num = :head"), {"head": head}
        )
    manifest = create_backup(settings, database.engine)
    with database.session() as session:
        session.execute(
            text("UPDATE alembic_version SET version_num = :head WHERE version_num = '9999_future'"), {"head": head}
        )
    add_team(database, "Kept")

    with pytest.raises(BackupRefused, match="9999_future"):
        restore_backup(settings, database.engine, manifest.path)
    assert team_names(database) == {"Kept"}


def test_restore_keeps_the_database_it_replaces_as_a_backup(settings, database):
    add_team(database, "Before")
    manifest = create_backup(settings, database.engine)
    add_team(database, "After")

    kept = restore_backup(settings, database.engine, manifest.path)

    assert team_names(database) == {"Before"}
    assert kept.path.name.startswith("pre-restore-")
    assert verify_backup(kept.path).row_counts["teams"] == 2
    restore_backup(settings, database.engine, kept.path)
    assert team_names(database) == {"Before", "After"}


def test_only_the_newest_backups_are_kept(settings, database):
    made = [create_backup(settings, database.engine, keep=3).file for _ in range(5)]

    kept = [manifest.file for manifest in list_backups(settings)]

    assert kept == made[-3:]
    assert len(list((settings.data_dir / "backups").iterdir())) == 6  # three copies, three manifests


def test_the_core_backup_job_backs_up_through_the_job_runner(settings, database, plugins):
    runner = InProcessRunner(JobEnvironment(settings, database, plugins))
    try:
        run_id = runner.enqueue("core.backup", requested_by=Actor.system("test"))
        deadline = time.monotonic() + 60
        while (run := runner.get_run(run_id)).status not in ("finished", "failed") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        runner.shutdown()

    assert run.status == "finished", run.error
    assert verify_backup(settings.data_dir / "backups" / run.result["file"]).sha256 == run.result["sha256"]


# --- the command ----------------------------------------------------------------------


@pytest.fixture
def kpi(settings, database, monkeypatch):
    """``kpi(*args)`` runs the command against this test's database."""
    for name in [name for name in os.environ if name.startswith("KPI_")]:
        monkeypatch.delenv(name)
    env = {"KPI_DATA_DIR": str(settings.data_dir), "KPI_DATABASE_URL": settings.effective_database_url}

    def run(*args: str, input: str | None = None):
        return CliRunner().invoke(cli, list(args), env=env, input=input, prog_name="kpi")

    return run


def test_kpi_backup_create_list_verify_and_restore(kpi, database):
    add_team(database, "Before")
    created = kpi("backup", "create")
    assert created.exit_code == 0, created.output
    path = Path(created.output.split("Backup written: ")[1].splitlines()[0])
    add_team(database, "After")

    listed = kpi("backup", "list")
    verified = kpi("backup", "verify", str(path))
    restored = kpi("backup", "restore", "--yes", str(path))

    assert path.name in listed.output
    assert (verified.exit_code, verified.output.startswith("OK: ")) == (0, True)
    assert restored.exit_code == 0, restored.output
    assert "is kept as" in restored.output
    assert team_names(database) == {"Before"}


def test_kpi_backup_verify_reports_corruption_in_one_line(kpi, settings, database):
    path = create_backup(settings, database.engine).path
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))

    result = kpi("backup", "verify", str(path))

    assert result.exit_code == 1
    [line] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert "is corrupt" in line
    assert "Traceback" not in result.output


def test_kpi_backup_restore_asks_before_replacing_the_database(kpi, settings, database):
    path = create_backup(settings, database.engine).path
    add_team(database, "After")

    result = kpi("backup", "restore", str(path), input="n\n")

    assert result.exit_code == 1
    assert "Aborted" in result.output
    assert team_names(database) == {"After"}
