"""Passwords: argon2id hashes, the policy, and bounded input (huge passwords and usernames
answer 422 naming the field, quickly, without ever being hashed)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from sqlalchemy import select

import kpi_core.accounts.auth as auth_module
import kpi_core.accounts.users as users_module
from kpi_core.accounts.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    PasswordRejected,
    check_policy,
    hash_password,
    verify_password,
)
from kpi_core.storage.models import User
from kpi_core.testing.fixtures import TEST_PASSWORD

ONE_MEGABYTE = "p" * (1024 * 1024)
GOOD_PASSWORD = "plumbing-under-pressure-9"


# --- the policy and the hash (no database) ----------------------------------------------


def test_hash_is_argon2id():
    assert hash_password(GOOD_PASSWORD).startswith("$argon2id$")


def test_production_hashes_cost_at_least_the_owasp_minimum():
    # The test session hashes at the lowest cost (fast_password_hashing); a fresh interpreter
    # shows what the product really uses: $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$salt$hash
    produced = subprocess.run(
        [sys.executable, "-c", "from kpi_core.accounts.passwords import hash_password; print(hash_password('x'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    parameters = dict(item.split("=") for item in produced.split("$")[3].split(","))

    assert produced.startswith("$argon2id$")
    assert int(parameters["m"]) >= 19 * 1024
    assert int(parameters["t"]) >= 2


def test_hash_is_salted():
    assert hash_password(GOOD_PASSWORD) != hash_password(GOOD_PASSWORD)


def test_verify_accepts_the_right_password():
    assert verify_password(hash_password(GOOD_PASSWORD), GOOD_PASSWORD) is True


def test_verify_refuses_a_wrong_password():
    assert verify_password(hash_password(GOOD_PASSWORD), GOOD_PASSWORD + "x") is False


@pytest.mark.parametrize("stored", ["", "not-a-hash", "$argon2id$v=19$m=65536,t=3,p=4$broken"])
def test_verify_refuses_rather_than_raises_on_a_malformed_hash(stored):
    assert verify_password(stored, GOOD_PASSWORD) is False


def test_verify_refuses_an_overlong_password_without_hashing_it():
    started = time.perf_counter()

    assert verify_password(hash_password(GOOD_PASSWORD), ONE_MEGABYTE) is False
    assert time.perf_counter() - started < 5


def test_policy_accepts_a_good_password():
    check_policy(GOOD_PASSWORD, username="mandy")


def test_policy_accepts_the_minimum_length():
    check_policy("x7" * (MIN_LENGTH // 2), username="mandy")


def test_minimum_length_is_12():
    assert MIN_LENGTH == 12


def test_policy_refuses_one_character_short():
    with pytest.raises(PasswordRejected, match="at least 12"):
        check_policy("x7" * 5 + "x", username="mandy")


def test_policy_refuses_an_overlong_password():
    with pytest.raises(PasswordRejected, match="at most"):
        check_policy("x" * (MAX_LENGTH + 1), username="mandy")


@pytest.mark.parametrize("password", ["dispatcher-mandy", "Dispatcher-Mandy", " dispatcher-mandy "])
def test_policy_refuses_the_username(password):
    with pytest.raises(PasswordRejected, match="username"):
        check_policy(password, username="dispatcher-mandy")


@pytest.mark.parametrize("password", ["password1234", "Password1234", "correcthorsebatterystaple", "123456789012"])
def test_policy_refuses_a_common_password(password):
    with pytest.raises(PasswordRejected, match="common"):
        check_policy(password, username="mandy")


# --- through the API and the service ------------------------------------------------------


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    # Input bounds are checked before the database is: SQLite is enough.
    return sqlite_url


@pytest.fixture
def create(client, admin_headers):
    def do(**fields):
        body = {"username": "newbie", "password": GOOD_PASSWORD, "role": "manager", **fields}
        return client.post("/api/v1/users", json=body, headers=admin_headers)

    return do


@pytest.fixture
def never_hashed(monkeypatch):
    """Fails the test if any password is hashed or checked while it runs."""
    calls = []

    def spy(*args):
        calls.append(args)
        raise AssertionError("a password was hashed")

    monkeypatch.setattr(users_module, "hash_password", spy)
    monkeypatch.setattr(users_module, "verify_password", spy)
    monkeypatch.setattr(auth_module, "verify_password", spy)
    return calls


def assert_422_naming(response, field: str) -> None:
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]


def test_created_user_has_an_argon2id_hash(create, database):
    create()

    with database.session(write=False) as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "newbie"))
    assert stored.startswith("$argon2id$")
    assert GOOD_PASSWORD not in stored


@pytest.mark.parametrize(
    "password", ["short-pw", "newbie", "NEWBIE", "password1234"], ids=["short", "username", "username-case", "common"]
)
def test_create_user_with_a_weak_password_answers_422_naming_password(create, password):
    assert_422_naming(create(password=password), "password")


def test_create_user_with_a_weak_password_creates_nobody(create, database):
    create(password="short-pw")

    with database.session(write=False) as session:
        assert session.scalar(select(User.id).where(User.username == "newbie")) is None


def test_create_user_with_a_1mb_password_answers_422_quickly_without_hashing(create, never_hashed):
    started = time.perf_counter()

    response = create(password=ONE_MEGABYTE)

    assert_422_naming(response, "password")
    assert time.perf_counter() - started < 5
    assert never_hashed == []


def test_create_user_with_a_1mb_username_answers_422_naming_username(create, never_hashed):
    assert_422_naming(create(username="u" * (1024 * 1024)), "username")


@pytest.fixture
def mandy(make_user) -> int:
    return make_user("manager", username="mandy")


def test_login_with_a_1mb_password_answers_422_quickly_without_hashing(client, mandy, never_hashed):
    started = time.perf_counter()

    response = client.post("/api/v1/auth/login", json={"username": "mandy", "password": ONE_MEGABYTE})

    assert_422_naming(response, "password")
    assert time.perf_counter() - started < 5
    assert never_hashed == []


def test_login_with_a_1mb_username_answers_422_naming_username(client, never_hashed):
    response = client.post("/api/v1/auth/login", json={"username": "u" * (1024 * 1024), "password": TEST_PASSWORD})

    assert_422_naming(response, "username")


def test_login_with_a_password_just_over_the_limit_answers_422(client, never_hashed):
    response = client.post("/api/v1/auth/login", json={"username": "mandy", "password": "p" * (MAX_LENGTH + 1)})

    assert_422_naming(response, "password")


def test_change_password_to_1mb_answers_422_naming_new_password_without_hashing(client, mandy, login, monkeypatch):
    headers = login("mandy")
    hashed = []
    monkeypatch.setattr(users_module, "hash_password", lambda password: hashed.append(len(password)))

    response = client.post(
        "/api/v1/auth/password",
        json={"current_password": TEST_PASSWORD, "new_password": ONE_MEGABYTE},
        headers=headers,
    )

    assert_422_naming(response, "new_password")
    assert hashed == []


def test_change_password_with_a_1mb_current_password_answers_422_naming_it(client, mandy, login):
    response = client.post(
        "/api/v1/auth/password",
        json={"current_password": ONE_MEGABYTE, "new_password": GOOD_PASSWORD},
        headers=login("mandy"),
    )

    assert_422_naming(response, "current_password")


def test_service_refuses_an_overlong_username_naming_it(database):
    with database.session() as session, pytest.raises(users_module.UserRejected) as raised:
        users_module.create_user(
            session, users_module.NewUser(username="u" * 151, password=GOOD_PASSWORD, role="manager")
        )

    assert raised.value.field == "username"
