"""The `kpi` command: each failure a person can cause is one clear line, never a traceback.

Settings come from the environment (``KPI_*``), so each test passes its own.
Commands that finish quickly run in-process through click's CliRunner;
``kpi serve`` runs as a real process, with a timeout.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from kpi_core.accounts.passwords import verify_password
from kpi_core.cli import cli
from kpi_core.config import documented_settings
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.storage.models import AuditEntry, Team, Technician, User

SECRET = "cli-test-secret-key-long-enough-for-hs256-signing"
UNREACHABLE_DATABASE = "postgresql://nobody@127.0.0.1:1/x"
GOOD_PASSWORD = "tin roof, rusted: 1989"


@pytest.fixture(autouse=True)
def no_kpi_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, _default, _doc in documented_settings():
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """KPI_* settings of the command under test; tests add to it."""
    return {"KPI_DATA_DIR": str(tmp_path / "data")}


def kpi(*args: str, env: dict[str, str], input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, input=input, prog_name="kpi")


def assert_fails_in_one_line(result: Result, *phrases: str) -> None:
    """Exit status 1, no traceback, and one "Error:" line containing every phrase."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    for phrase in phrases:
        assert phrase in line


@pytest.fixture
def migrated_sqlite_url(sqlite_url: str) -> str:
    database = Database(sqlite_url)
    upgrade(database.engine)
    database.dispose()
    return sqlite_url


@pytest.fixture
def migrated(env: dict[str, str], migrated_sqlite_url: str) -> Iterator[Database]:
    """A migrated SQLite database that ``env`` points at."""
    env["KPI_DATABASE_URL"] = migrated_sqlite_url
    database = Database(migrated_sqlite_url)
    yield database
    database.dispose()


def count(database: Database, model: type) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(model))


# --- help and plugins ------------------------------------------------------------------------


def test_help_lists_the_commands(env: dict[str, str]):
    result = kpi("--help", env=env)
    assert result.exit_code == 0
    for command in ("serve", "demo", "db", "plugins", "users"):
        assert f"  {command} " in result.output


def test_version_is_the_installed_kpi_core(env: dict[str, str]):
    from importlib.metadata import version

    result = kpi("--version", env=env)
    assert result.exit_code == 0
    assert version("kpi-core") in result.output


def test_plugins_lists_each_plugin_with_its_version_and_contributions(env: dict[str, str]):
    result = kpi("plugins", env=env)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("core ") and lines[0].endswith("(built-in)")
    assert "kpi_quality 0.1.0 (kpi_quality)" in lines
    assert (
        "  kpi_metrics: "
        + ", ".join(
            [
                "quality.first_time_fix_rate",
                "quality.avg_customer_rating",
                "quality.complaint_rate",
                "quality.evaluation_score",
            ]
        )
        in lines
    )
    assert result.stderr == ""


def test_plugins_json_is_the_same_listing_for_machines(env: dict[str, str]):
    result = kpi("plugins", "--json", env=env)

    assert result.exit_code == 0
    listing = json.loads(result.stdout)
    assert listing["problems"] == []
    plugins = {plugin["name"]: plugin for plugin in listing["plugins"]}
    assert plugins["core"]["builtin"] is True
    assert plugins["kpi_timeliness"] == {
        "name": "kpi_timeliness",
        "version": "0.1.0",
        "module": "kpi_timeliness",
        "builtin": False,
        "contributes": plugins["kpi_timeliness"]["contributes"],
        "requires": "<0.2,>=0.1",
    }
    assert "timeliness.on_time_arrival_rate" in plugins["kpi_timeliness"]["contributes"]["kpi_metrics"]


def test_plugins_reports_an_unknown_disabled_plugin(env: dict[str, str]):
    result = kpi("plugins", env=env | {"KPI_DISABLED_PLUGINS": "kpi_qualty"})
    assert result.exit_code == 1
    assert "NOT LOADED kpi_qualty [config]: KPI_DISABLED_PLUGINS names 'kpi_qualty'" in result.stderr


# --- db upgrade / current --------------------------------------------------------------------


def test_db_upgrade_then_current_says_the_schema_is_current(env: dict[str, str], database_url: str):
    env["KPI_DATABASE_URL"] = database_url

    upgraded = kpi("db", "upgrade", env=env)
    current = kpi("db", "current", env=env)

    assert upgraded.exit_code == 0, upgraded.output
    assert "schema is current" in upgraded.output
    assert current.exit_code == 0, current.output
    assert "schema is current" in current.output


def test_db_upgrade_is_safe_to_run_again(env: dict[str, str], migrated: Database):
    result = kpi("db", "upgrade", env=env)
    assert result.exit_code == 0
    assert "schema is current" in result.output


def test_db_upgrade_defaults_to_sqlite_in_the_data_directory(env: dict[str, str], tmp_path: Path):
    result = kpi("db", "upgrade", env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "kpi.sqlite3").exists()


def test_db_current_on_an_empty_database_exits_1_naming_kpi_db_upgrade(env: dict[str, str], sqlite_url: str):
    result = kpi("db", "current", env=env | {"KPI_DATABASE_URL": sqlite_url})

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "run `kpi db upgrade`" in result.output


# --- clear refusals --------------------------------------------------------------------------


@pytest.mark.parametrize("command", [("db", "upgrade"), ("db", "current"), ("users", "list")], ids=" ".join)
def test_an_unreachable_database_is_one_clear_line(env: dict[str, str], command: tuple[str, ...]):
    result = kpi(*command, env=env | {"KPI_DATABASE_URL": UNREACHABLE_DATABASE})
    assert_fails_in_one_line(result, "cannot reach the database at postgresql+psycopg://nobody@127.0.0.1:1/x")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("KPI_PORT", "abc", "KPI_PORT='abc' is invalid"),
        ("KPI_PORT", "70000", "KPI_PORT=70000 must be between 1 and 65535"),
        ("KPI_TIMEZONE", "Mars/Base", "KPI_TIMEZONE='Mars/Base' is not a known IANA time zone"),
        ("KPI_STRICT_PLUGINS", "maybe", "KPI_STRICT_PLUGINS='maybe' is invalid"),
        ("KPI_LOG_LEVEL", "LOUD", "KPI_LOG_LEVEL='LOUD' must be DEBUG, INFO, WARNING or ERROR"),
        ("KPI_DATABASE_URL", "not a url", "KPI_DATABASE_URL 'not a url' is not a valid database URL"),
        ("KPI_SECRET_KEY", "short", "KPI_SECRET_KEY must be at least 32 characters"),
    ],
    ids=["port abc", "port 70000", "timezone", "strict plugins", "log level", "database url", "short secret key"],
)
def test_an_invalid_setting_is_named_in_one_line(env: dict[str, str], variable: str, value: str, message: str):
    result = kpi("db", "current", env=env | {variable: value})
    assert_fails_in_one_line(result, message)


# --- users create ----------------------------------------------------------------------------


def test_users_create_makes_a_user_from_a_password_on_stdin(env: dict[str, str], migrated: Database):
    result = kpi(
        "users", "create", "--username", "alice", "--role", "admin", "--password-stdin", env=env, input=GOOD_PASSWORD
    )

    assert result.exit_code == 0, result.output
    assert "Created admin 'alice'" in result.output
    with migrated.session() as session:
        alice = session.scalar(select(User).where(User.username == "alice"))
    assert alice.role == "admin"
    assert GOOD_PASSWORD not in alice.password_hash
    assert verify_password(alice.password_hash, GOOD_PASSWORD)


def test_users_create_links_a_technician_user_to_its_technician(env: dict[str, str], migrated: Database):
    with migrated.session() as session:
        session.add(Technician(external_ref="T-7", name="Sam Okafor"))

    result = kpi(
        "users",
        "create",
        "--username",
        "sam",
        "--role",
        "technician",
        "--technician",
        "T-7",
        "--password-stdin",
        env=env,
        input=GOOD_PASSWORD,
    )

    assert result.exit_code == 0, result.output
    with migrated.session() as session:
        sam = session.scalar(select(User).where(User.username == "sam"))
        assert sam.technician_id == session.scalar(select(Technician.id).where(Technician.external_ref == "T-7"))


@pytest.mark.parametrize(
    ("options", "password", "message"),
    [
        (("--role", "admin"), "short", "password: Choose a password of at least 12 characters"),
        (("--role", "admin"), "password1234", "password: This password is too common"),
        (("--role", "technician", "--technician", "T-404"), GOOD_PASSWORD, "technician: no technician with reference"),
        (("--role", "technician"), GOOD_PASSWORD, "technician: a technician user must be linked"),
        (("--role", "admin", "--technician", "T-404"), GOOD_PASSWORD, "technician: only technician users are linked"),
        (("--role", "manager", "--team", "Nowhere"), GOOD_PASSWORD, "team: no team named 'Nowhere'"),
        (("--role", "admin", "--team", "North"), GOOD_PASSWORD, "team: only managers manage teams"),
    ],
    ids=[
        "short password",
        "common password",
        "unknown technician",
        "technician without record",
        "admin with technician",
        "unknown team",
        "admin with team",
    ],
)
def test_users_create_rejects_bad_input_naming_the_field_and_writes_nothing(
    env: dict[str, str], migrated: Database, options: tuple[str, ...], password: str, message: str
):
    with migrated.session() as session:
        session.add(Team(name="North"))

    result = kpi("users", "create", "--username", "alice", *options, "--password-stdin", env=env, input=password)

    assert_fails_in_one_line(result, message)
    assert count(migrated, User) == 0
    assert count(migrated, AuditEntry) == 0


def test_users_create_rejects_a_taken_username(env: dict[str, str], migrated: Database):
    create = ("users", "create", "--username", "alice", "--role", "admin", "--password-stdin")
    kpi(*create, env=env, input=GOOD_PASSWORD)

    result = kpi(*create, env=env, input=GOOD_PASSWORD)

    assert_fails_in_one_line(result, "username: 'alice' is already taken")
    assert count(migrated, User) == 1


def test_users_create_rejects_an_unknown_role_before_asking_anything(env: dict[str, str], migrated: Database):
    result = kpi("users", "create", "--username", "alice", "--role", "owner", "--password-stdin", env=env, input="x")
    assert result.exit_code == 2
    assert "Invalid value for '--role'" in result.output
    assert count(migrated, User) == 0


def test_users_create_on_an_unmigrated_database_names_kpi_db_upgrade(env: dict[str, str], sqlite_url: str):
    result = kpi(
        "users",
        "create",
        "--username",
        "alice",
        "--role",
        "admin",
        "--password-stdin",
        env=env | {"KPI_DATABASE_URL": sqlite_url},
        input=GOOD_PASSWORD,
    )
    assert_fails_in_one_line(result, "run `kpi db upgrade`")


# --- kpi serve, as a real process ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_env(settings: dict[str, str]) -> dict[str, str]:
    ours = {name for name, _default, _doc in documented_settings()}
    return {name: value for name, value in os.environ.items() if name not in ours} | settings


def kpi_process(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Runs `kpi` as its own process; a server that starts instead of refusing fails the test by timeout."""
    return subprocess.run(
        [sys.executable, "-m", "kpi_core.cli", *args],
        env=process_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_process_fails_in_one_line(result: subprocess.CompletedProcess[str], *phrases: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    for phrase in phrases:
        assert phrase in line


@pytest.mark.slow
def test_serve_refuses_an_unmigrated_database_naming_kpi_db_upgrade(
    env: dict[str, str], sqlite_url: str, tmp_path: Path
):
    env |= {"KPI_DATABASE_URL": sqlite_url, "KPI_SECRET_KEY": SECRET}
    result = kpi_process("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert_process_fails_in_one_line(result, "database schema is at empty", "run `kpi db upgrade`")


@pytest.mark.slow
def test_serve_without_a_secret_key_names_kpi_secret_key(env: dict[str, str], migrated: Database, tmp_path: Path):
    result = kpi_process("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert_process_fails_in_one_line(result, "KPI_SECRET_KEY is not set", "kpi demo")


@pytest.mark.slow
def test_serve_on_a_port_in_use_says_so_in_one_line(env: dict[str, str], migrated: Database, tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = kpi_process("serve", "--port", str(port), env=env | {"KPI_SECRET_KEY": SECRET}, cwd=tmp_path)

    assert_process_fails_in_one_line(result, f"port {port} on 127.0.0.1 is already in use", "--port")


@pytest.mark.slow
def test_serve_with_an_unreachable_database_is_one_clear_line(env: dict[str, str], tmp_path: Path):
    env |= {"KPI_DATABASE_URL": UNREACHABLE_DATABASE, "KPI_SECRET_KEY": SECRET}
    result = kpi_process("serve", "--port", str(free_port()), env=env, cwd=tmp_path)
    assert_process_fails_in_one_line(result, "cannot reach the database", "127.0.0.1:1")


@pytest.mark.slow
def test_serve_with_an_invalid_port_setting_is_one_clear_line(env: dict[str, str], tmp_path: Path):
    result = kpi_process("serve", env=env | {"KPI_PORT": "abc"}, cwd=tmp_path)
    assert_process_fails_in_one_line(result, "KPI_PORT='abc' is invalid")


def wait_for_json(url: str, server: subprocess.Popen[str], *, seconds: float = 60) -> dict[str, str]:
    """GET ``url`` over real HTTP, retrying until the server answers; fail at once if it exits."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError):
            assert server.poll() is None, f"kpi serve exited with {server.returncode}"
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.slow
def test_serve_answers_healthz_over_http(env: dict[str, str], migrated: Database, tmp_path: Path):
    port = free_port()
    env |= {"KPI_SECRET_KEY": SECRET, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "kpi_core.cli", "serve", "--port", str(port)],
        env=process_env(env),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        health = wait_for_json(f"http://127.0.0.1:{port}/healthz", server)
    finally:
        server.terminate()
        stdout, stderr = server.communicate(timeout=30)

    assert health == {"status": "ok"}, stderr
    assert f"Serving on http://127.0.0.1:{port}/" in stdout
