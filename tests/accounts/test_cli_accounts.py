"""`kpi users ...`: create (password from a prompt or stdin, never an argument), list,
disable and reset-password; errors are one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from kpi_core.cli import cli
from kpi_core.storage.models import Team, Technician, User
from kpi_core.testing.fixtures import TEST_PASSWORD, TEST_SECRET

PASSWORD = "plumbing-under-pressure-9"


# --- one app for the module ------------------------------------------------------
# Building the app (its OpenAPI document) costs more than most tests here, so the module shares
# one and every test starts from empty tables instead (`fresh_state`).


@pytest.fixture
def kpi(database, database_url):
    """``kpi("users", "list", input=...)`` runs the command line against the test database."""

    def run(*args: str, input: str | None = None):
        env = {"KPI_DATABASE_URL": database_url, "KPI_SECRET_KEY": TEST_SECRET}
        return CliRunner().invoke(cli, list(args), input=input, env=env)

    return run


@pytest.fixture
def stored_user(database):
    def find(username: str) -> User | None:
        with database.session(write=False) as session:
            return session.scalar(select(User).where(User.username == username))

    return find


@pytest.fixture
def log_in(client):
    def do(username: str, password: str):
        return client.post("/api/v1/auth/login", json={"username": username, "password": password})

    return do


def assert_one_line_error(result, *words: str) -> None:
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for word in words:
        assert word in errors[0]


# --- create -------------------------------------------------------------------------------------


def test_create_reads_the_password_from_stdin(kpi, log_in):
    result = kpi(
        "users", "create", "--username", "mandy", "--role", "manager", "--password-stdin", input=PASSWORD + "\n"
    )

    assert result.exit_code == 0, result.output
    assert "mandy" in result.output
    assert log_in("mandy", PASSWORD).status_code == 200


def test_create_prompts_for_the_password_twice(kpi, log_in):
    result = kpi("users", "create", "--username", "mandy", "--role", "manager", input=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert log_in("mandy", PASSWORD).status_code == 200


def test_create_never_echoes_the_password(kpi):
    result = kpi("users", "create", "--username", "mandy", "--role", "manager", input=f"{PASSWORD}\n{PASSWORD}\n")

    assert PASSWORD not in result.output


def test_create_refuses_mismatched_prompted_passwords(kpi, stored_user):
    result = kpi("users", "create", "--username", "mandy", "--role", "manager", input=f"{PASSWORD}\nsomething-else-9\n")

    assert result.exit_code != 0
    assert stored_user("mandy") is None


def test_create_has_no_password_option(kpi, stored_user):
    result = kpi("users", "create", "--username", "mandy", "--role", "manager", "--password", PASSWORD)

    assert result.exit_code == 2
    assert "--password" in result.output
    assert stored_user("mandy") is None


def test_create_technician_linked_to_a_record(kpi, database, stored_user):
    with database.session() as session:
        session.add(Technician(external_ref="T-1", name="Tess Fixit"))

    result = kpi(
        "users", "create", "--username", "tess", "--role", "technician", "--technician", "T-1", "--password-stdin",
        input=PASSWORD + "\n",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert stored_user("tess").technician_id is not None


def test_create_manager_of_teams(kpi, database, client):
    with database.session() as session:
        session.add_all([Team(name="North"), Team(name="South")])

    result = kpi(
        "users", "create", "--username", "mandy", "--role", "manager", "--team", "North", "--team", "South",
        "--password-stdin", input=PASSWORD + "\n",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    with database.session(write=False) as session:
        from kpi_core.accounts.users import managed_team_names

        user = session.scalar(select(User).where(User.username == "mandy"))
        assert sorted(managed_team_names(session, user.id)) == ["North", "South"]


def test_create_stores_an_argon2id_hash(kpi, stored_user):
    kpi("users", "create", "--username", "mandy", "--role", "manager", "--password-stdin", input=PASSWORD + "\n")

    assert stored_user("mandy").password_hash.startswith("$argon2id$")


def test_create_with_a_weak_password_is_one_line_and_creates_nobody(kpi, stored_user):
    result = kpi("users", "create", "--username", "mandy", "--role", "manager", "--password-stdin", input="short\n")

    assert_one_line_error(result, "password")
    assert stored_user("mandy") is None


def test_create_with_a_common_password_is_refused(kpi, stored_user):
    result = kpi(
        "users", "create", "--username", "mandy", "--role", "manager", "--password-stdin", input="password1234\n"
    )

    assert_one_line_error(result, "password")


def test_create_with_a_bad_role_is_refused_naming_it(kpi, stored_user):
    result = kpi("users", "create", "--username", "mandy", "--role", "owner", "--password-stdin", input=PASSWORD + "\n")

    assert_one_line_error(result, "role")
    assert stored_user("mandy") is None


def test_create_with_a_taken_username_is_one_line(kpi, make_user):
    make_user("manager", username="mandy")

    result = kpi(
        "users", "create", "--username", "mandy", "--role", "manager", "--password-stdin", input=PASSWORD + "\n"
    )

    assert_one_line_error(result, "username", "taken")


def test_create_technician_with_an_unknown_record_is_one_line(kpi):
    result = kpi(
        "users", "create", "--username", "tess", "--role", "technician", "--technician", "T-404", "--password-stdin",
        input=PASSWORD + "\n",
    )  # fmt: skip

    assert_one_line_error(result, "T-404")


def test_create_is_audited_as_the_command_line(kpi, database):
    from kpi_core.storage.models import AuditEntry

    kpi("users", "create", "--username", "mandy", "--role", "manager", "--password-stdin", input=PASSWORD + "\n")

    with database.session(write=False) as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (entry.action, entry.user_id) == ("create", None)
    assert entry.username.startswith("cli:")


# --- list ----------------------------------------------------------------------------------------


def test_list_shows_each_user_with_role_and_state(kpi, make_user):
    make_user("admin", username="alice")
    make_user("manager", username="mandy")
    kpi("users", "disable", "mandy")

    result = kpi("users", "list")

    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines()}
    assert "admin" in lines["alice"] and "active" in lines["alice"]
    assert "manager" in lines["mandy"] and "disabled" in lines["mandy"]


def test_list_never_shows_password_hashes(kpi, make_user):
    make_user("admin", username="alice")

    assert "$argon2" not in kpi("users", "list").output


# --- disable -----------------------------------------------------------------------------------------


def test_disable_stops_the_user_logging_in(kpi, make_user, log_in):
    make_user("manager", username="mandy")

    result = kpi("users", "disable", "mandy")

    assert result.exit_code == 0, result.output
    assert log_in("mandy", TEST_PASSWORD).status_code == 401


def test_disable_stops_the_users_tokens(kpi, make_user, login, client):
    make_user("manager", username="mandy")
    headers = login("mandy")

    kpi("users", "disable", "mandy")

    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_disable_an_unknown_user_is_one_line(kpi):
    assert_one_line_error(kpi("users", "disable", "nobody"), "nobody")


# --- reset-password ------------------------------------------------------------------------------------


def temporary_password_in(output: str) -> str:
    line = next(line for line in output.splitlines() if line.startswith("Temporary password"))
    return line.rsplit(": ", 1)[1].strip()


def test_reset_password_prints_a_temporary_password_that_logs_in(kpi, make_user, log_in):
    make_user("manager", username="mandy")

    result = kpi("users", "reset-password", "mandy")

    assert result.exit_code == 0, result.output
    assert log_in("mandy", temporary_password_in(result.output)).status_code == 200


def test_login_with_the_temporary_password_must_change_it(kpi, make_user, log_in, client):
    make_user("manager", username="mandy")
    temporary = temporary_password_in(kpi("users", "reset-password", "mandy").output)

    token = log_in("mandy", temporary).json["access_token"]

    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json
    assert me["must_change_password"] is True


def test_reset_password_makes_the_old_password_useless(kpi, make_user, log_in):
    make_user("manager", username="mandy")

    kpi("users", "reset-password", "mandy")

    assert log_in("mandy", TEST_PASSWORD).status_code == 401


def test_reset_password_of_an_unknown_user_is_one_line(kpi):
    assert_one_line_error(kpi("users", "reset-password", "nobody"), "nobody")
