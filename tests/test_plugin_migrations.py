"""Plugin tables: a plugin ships its own Alembic branch, applied with the core's, and may be uninstalled.

The fixture branch (tests/fixtures/migrating_plugin/versions) belongs to a
plugin named ``fixture_visits``: it depends on core revision 0001 and creates
``fixture_visits`` in two steps. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from kpi_core import hookimpl
from kpi_core.cli import cli
from kpi_core.config import Settings
from kpi_core.errors import SchemaOutOfDate
from kpi_core.plugins import PluginHost, load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import head_revisions, schema_state, upgrade
from kpi_core.storage.models import Technician
from kpi_core.testing.fixtures import TEST_SECRET

BRANCH = Path(__file__).parent / "fixtures" / "migrating_plugin" / "versions"
PLUGIN = "fixture_visits"
REVISIONS = ["fixture_visits_0001", "fixture_visits_0002"]


class MigratingPlugin:
    """A plugin whose only contribution is its migrations in ``location``."""

    def __init__(self, location: Path | str | None) -> None:
        self.location = location

    @hookimpl
    def kpi_migrations(self) -> Path | str | None:
        return self.location


@pytest.fixture
def engine(database: Database) -> Any:
    """A database at the core's heads (a copy of the session's migrated template)."""
    return database.engine


@pytest.fixture
def plain_settings(tmp_path: Path) -> Settings:
    """Settings without a database: plugins load without one."""
    return Settings.from_env({}, data_dir=tmp_path / "data", secret_key=TEST_SECRET)


@pytest.fixture
def host_with(plain_settings: Settings) -> Callable[..., PluginHost]:
    """``host_with(location)``: every installed plugin plus fixture_visits with its branch at ``location``."""

    def make(location: Path | str | None = BRANCH, name: str = PLUGIN) -> PluginHost:
        return load_plugins(plain_settings, extra=[(name, MigratingPlugin(location))])

    return make


def tables(engine: Any) -> set[str]:
    return set(inspect(engine).get_table_names())


def recorded(engine: Any) -> set[str]:
    with engine.connect() as connection:
        return {row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))}


# --- declaring the branch ---------------------------------------------------------------------


def test_a_plugin_with_migrations_lists_its_revisions_and_directory(host_with):
    host = host_with()

    assert host.plugins[PLUGIN].contributes["kpi_migrations"] == REVISIONS
    assert host.migrations[PLUGIN] == BRANCH.resolve()
    assert BRANCH.resolve() in host.migration_locations


def test_a_plugin_without_migrations_adds_no_location(host_with):
    host = host_with(None)

    assert PLUGIN in host.plugins
    assert PLUGIN not in host.migrations


def write_branch(
    directory: Path, *, down: str | None = None, labels: str = f"({PLUGIN!r},)", rev: str = "bad_1"
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{rev}.py").write_text(
        textwrap.dedent(
            f"""
            revision = {rev!r}
            down_revision = {down!r}
            branch_labels = {labels}
            depends_on = "0001"

            def upgrade():
                pass
            """
        )
    )
    return directory


@pytest.mark.parametrize(
    ("make_branch", "reason"),
    [
        (lambda d: d / "missing", "which is not a directory"),
        (lambda d: (d.mkdir(), d)[1], "holds no revision scripts"),
        (lambda d: write_branch(d, down="0001"), "has down_revision 0001 of kpi-core"),
        (lambda d: write_branch(d, labels="None"), "branch_labels do not name 'fixture_visits'"),
        (lambda d: write_branch(d, down="elsewhere_1"), "do not load"),
        (lambda d: write_branch(d, rev="0002", down=None), "reuse a revision id"),
    ],
    ids=["not-a-directory", "empty", "revises-core", "unlabelled", "unknown-parent", "core-id"],
)
def test_a_malformed_branch_is_the_plugins_load_error_and_the_rest_load(host_with, tmp_path, make_branch, reason):
    location = make_branch(tmp_path / "branch")

    host = host_with(location)

    assert PLUGIN not in host.plugins
    [problem] = [problem for problem in host.problems if problem.name == PLUGIN]
    assert problem.stage == "migrations"
    assert reason in problem.reason
    assert "kpi_quality" in host.plugins
    assert PLUGIN not in host.migrations


def test_two_plugins_may_not_share_a_revision_id(plain_settings):
    host = load_plugins(plain_settings, extra=[(PLUGIN, MigratingPlugin(BRANCH)), ("copycat", MigratingPlugin(BRANCH))])

    [problem] = [problem for problem in host.problems if problem.name == "copycat"]
    assert problem.stage in {"migrations", "duplicate"}
    assert "copycat" not in host.plugins


# --- applying it ------------------------------------------------------------------------------


def test_upgrade_applies_the_plugins_branch_with_the_cores(engine, host_with):
    locations = host_with().migration_locations

    upgrade(engine, locations=locations)

    assert {"jobs", "technicians", "fixture_visits"} <= tables(engine)
    assert "notes" in {column["name"] for column in inspect(engine).get_columns("fixture_visits")}
    assert recorded(engine) == head_revisions(engine) | {"fixture_visits_0002"}
    assert schema_state(engine, locations).is_current


def test_a_plugin_installed_later_makes_the_schema_out_of_date_until_upgraded(engine, host_with):
    upgrade(engine)
    locations = host_with().migration_locations

    state = schema_state(engine, locations)

    assert not state.is_current
    assert "fixture_visits_0002" in state.heads - state.current
    assert "run `kpi db upgrade`" in state.describe()
    upgrade(engine, locations=locations)
    assert schema_state(engine, locations).is_current


def test_a_partly_applied_branch_is_completed(engine, host_with):
    locations = host_with().migration_locations
    upgrade(engine, revision="fixture_visits_0001", locations=locations)
    assert "notes" not in {column["name"] for column in inspect(engine).get_columns("fixture_visits")}

    upgrade(engine, locations=locations)

    assert "notes" in {column["name"] for column in inspect(engine).get_columns("fixture_visits")}


# --- uninstalling it --------------------------------------------------------------------------


@pytest.fixture
def uninstalled(engine, host_with) -> Any:
    """A database upgraded with the plugin, whose plugin is then gone: only the core's scripts are known."""
    upgrade(engine, locations=host_with().migration_locations)
    with Session(engine) as session, session.begin():
        technician = Technician(external_ref="T-1", name="Ada")
        session.add(technician)
        session.flush()
        session.execute(
            text("INSERT INTO fixture_visits (technician_id, day) VALUES (:id, :day)"),
            {"id": technician.id, "day": date(2026, 1, 5)},
        )
    return engine


def test_after_uninstalling_the_schema_is_current_ignoring_the_plugins_revision(uninstalled):
    state = schema_state(uninstalled)

    assert state.is_current
    assert state.orphans == {"fixture_visits_0002"}
    assert "ignoring fixture_visits_0002, recorded by a plugin that is not installed" in state.describe()


def test_after_uninstalling_upgrade_still_works_and_keeps_the_plugins_revision_and_data(uninstalled):
    upgrade(uninstalled)

    assert "fixture_visits_0002" in recorded(uninstalled)
    with uninstalled.connect() as connection:
        assert connection.execute(select(text("day")).select_from(text("fixture_visits"))).scalar_one() is not None


def test_reinstalling_finds_the_branch_where_it_was_left(uninstalled, host_with):
    locations = host_with().migration_locations
    upgrade(uninstalled)

    upgrade(uninstalled, locations=locations)

    assert schema_state(uninstalled, locations).is_current
    assert recorded(uninstalled) >= {"fixture_visits_0002"}


# --- the command line -------------------------------------------------------------------------


@pytest.fixture
def run_kpi(monkeypatch: pytest.MonkeyPatch, settings: Settings, host_with) -> Callable[..., Any]:
    """Runs `kpi ...` in-process with fixture_visits installed, on this test's database."""
    monkeypatch.setenv("KPI_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("KPI_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("KPI_SECRET_KEY", settings.secret_key)
    monkeypatch.setattr("kpi_core.cli._plugins", lambda _settings: host_with())

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return run


def test_kpi_db_upgrade_applies_the_installed_plugins_migrations(run_kpi, engine):
    result = run_kpi("db", "upgrade")

    assert result.exit_code == 0, result.output
    assert "schema is current" in result.output
    assert "fixture_visits_0002" in result.output
    assert "fixture_visits" in tables(engine)


def test_kpi_db_current_fails_while_a_plugins_migrations_are_pending(run_kpi, engine):
    upgrade(engine)

    result = run_kpi("db", "current")

    assert result.exit_code == 1
    assert "run `kpi db upgrade`" in result.output


def test_kpi_serve_refuses_while_a_plugins_migrations_are_pending(run_kpi, engine, settings):
    from kpi_core.cli import _serve

    upgrade(engine)

    with pytest.raises(SchemaOutOfDate, match="fixture_visits_0002"):
        _serve(settings)


def test_kpi_db_downgrade_removes_a_plugins_tables_before_it_is_uninstalled(run_kpi, engine):
    assert run_kpi("db", "upgrade").exit_code == 0

    result = run_kpi("db", "downgrade", f"{PLUGIN}@base")

    assert result.exit_code == 0, result.output
    assert "fixture_visits" not in tables(engine)
    assert "jobs" in tables(engine)
    assert not {"fixture_visits_0001", "fixture_visits_0002"} & recorded(engine)


def test_by_default_upgrade_applies_every_installed_plugins_branch(engine):
    # kpi_productivity is installed in this workspace and ships productivity_shifts.
    upgrade(engine)

    assert "productivity_shifts" in tables(engine)
    assert "productivity_0002" in recorded(engine)


# --- honest messages (issue #22, point 7) ------------------------------------------------------


def test_kpi_db_upgrade_lists_what_it_applied(run_kpi, engine):
    upgrade(engine)

    result = run_kpi("db", "upgrade")

    assert result.exit_code == 0, result.output
    [applied] = [line for line in result.output.splitlines() if line.startswith("applied: ")]
    assert applied.startswith("applied: fixture_visits_0001 (")
    assert "fixture_visits_0002 (" in applied


def test_kpi_db_upgrade_says_when_there_is_nothing_to_apply(run_kpi):
    assert run_kpi("db", "upgrade").exit_code == 0

    assert "nothing to apply" in run_kpi("db", "upgrade").output


def test_kpi_db_downgrade_reports_what_it_reverted_and_no_upgrade_advice_as_success(run_kpi, engine):
    assert run_kpi("db", "upgrade").exit_code == 0

    result = run_kpi("db", "downgrade", f"{PLUGIN}@base")

    assert result.exit_code == 0, result.output
    assert result.output.startswith("reverted: fixture_visits_0001 (")
    assert "fixture_visits_0002 (" in result.output.splitlines()[0]
    assert "run `kpi db upgrade`" not in result.output


def test_a_disabled_plugins_revision_is_reported_as_disabled(engine, monkeypatch: pytest.MonkeyPatch):
    # kpi_productivity is installed in this workspace; its branch stays recorded when it is disabled.
    from kpi_core.plugins import disabled_revisions

    upgrade(engine)
    state = schema_state(engine, [], disabled_revisions(["kpi_productivity"]))

    assert "recorded by plugin kpi_productivity, which is disabled" in state.describe()
    assert "not installed" not in state.describe()


# --- constraint names (issue #22, point 5) -----------------------------------------------------


def check_names(engine: Any, table: str) -> set[str]:
    return {check["name"] for check in inspect(engine).get_check_constraints(table)}


def test_a_plugins_check_constraint_is_prefixed_once_whether_or_not_its_author_wrote_the_prefix(engine, tmp_path):
    branch = tmp_path / "branch"
    branch.mkdir()
    (branch / "checks_1.py").write_text(
        textwrap.dedent(
            """
            import sqlalchemy as sa
            from alembic import op

            revision = "checks_1"
            down_revision = None
            branch_labels = ("checks",)
            depends_on = "0001"

            def upgrade():
                op.create_table(
                    "checks_visits",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("minutes", sa.Integer(), nullable=False),
                    sa.CheckConstraint("minutes > 0", name="minutes_positive"),
                    sa.CheckConstraint("minutes < 1440", name="ck_checks_visits_minutes_within_a_day"),
                    sa.CheckConstraint("minutes <> 7", name=op.f("ck_checks_visits_not_seven")),
                )
            """
        )
    )

    upgrade(engine, locations=[branch])

    assert check_names(engine, "checks_visits") == {
        "ck_checks_visits_minutes_positive",
        "ck_checks_visits_minutes_within_a_day",
        "ck_checks_visits_not_seven",
    }


def test_the_bundled_productivity_shifts_check_is_named_once(engine):
    assert check_names(engine, "productivity_shifts") == {"ck_productivity_shifts_ends_after_start"}


def test_productivity_0002_renames_the_doubled_check_name_of_an_older_database(engine):
    from kpi_core.storage.migrate import downgrade

    single = "ck_productivity_shifts_ends_after_start"
    doubled = "ck_productivity_shifts_ck_productivity_shifts_ends_after_start"
    downgrade(engine, "productivity_0001")
    with engine.begin() as connection:  # as productivity_0001 named it before the convention was fixed
        if engine.dialect.name == "sqlite":
            query = "SELECT sql FROM sqlite_master WHERE name = 'productivity_shifts'"
            sql = connection.exec_driver_sql(query).scalar()
            connection.exec_driver_sql("PRAGMA writable_schema = ON")
            connection.execute(
                text("UPDATE sqlite_master SET sql = :sql WHERE name = 'productivity_shifts'"),
                {"sql": sql.replace(single, doubled)},
            )
            connection.exec_driver_sql("PRAGMA writable_schema = OFF")
        else:
            connection.exec_driver_sql(f"ALTER TABLE productivity_shifts RENAME CONSTRAINT {single} TO {doubled}")
    engine.dispose()
    assert check_names(engine, "productivity_shifts") == {doubled}

    upgrade(engine)

    assert check_names(engine, "productivity_shifts") == {single}
    assert "productivity_0002" in recorded(engine)
    assert inspect(engine).get_foreign_keys("productivity_shifts")[0]["options"].get("ondelete") == "CASCADE"
