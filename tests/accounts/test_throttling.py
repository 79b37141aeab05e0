"""Failed-login throttling per username and per client IP, and no user enumeration."""

from __future__ import annotations

import time
from types import SimpleNamespace

import limits.storage.memory
import limits.strategies
import pytest

import kpi_core.accounts.auth as auth_module
import kpi_core.accounts.throttle as throttle_module
from kpi_core.accounts.passwords import hash_password
from kpi_core.config import Settings
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.testing.fixtures import TEST_PASSWORD
from kpi_core.web.app import create_app

LOGIN = "/api/v1/auth/login"
WRONG = "not-the-password-at-all"
ATTEMPTS = 5  # the default KPI_LOGIN_ATTEMPTS
WINDOW = 15 * 60  # the default KPI_LOGIN_WINDOW_MINUTES, in seconds


@pytest.fixture(autouse=True)
def dummy_hash_at_test_cost(monkeypatch):
    """The hash checked for unknown usernames, made with the session's (cheap) hasher.

    In production it costs what a real user's hash costs; under the test hasher the one made
    at import would be many times dearer than every user's, and slow these tests down.
    """
    monkeypatch.setattr(auth_module, "_DUMMY_HASH", hash_password("handyman-kpi-timing-equaliser"))


class ShiftedClock:
    """``time.time()`` plus an offset that a test can advance."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock(monkeypatch) -> ShiftedClock:
    """Moves time forward for the throttle only.

    The window is kept by ``limits`` (its in-memory storage and moving-window
    strategy) and Retry-After is computed in kpi_core.accounts.throttle; each
    reads the clock through its module's ``time``. Replacing that name in just
    those modules moves the throttle's clock without waiting 15 minutes, and
    without touching the global ``time.time`` that token expiry, the database
    and pytest itself rely on (a shorter KPI_LOGIN_WINDOW_MINUTES would still
    mean waiting a real minute).
    """
    shifted = ShiftedClock()
    for module in (limits.storage.memory, limits.strategies, throttle_module):
        monkeypatch.setattr(module, "time", SimpleNamespace(time=shifted.time))
    return shifted


# --- one app for the module ------------------------------------------------------
# Building the app (its OpenAPI document) costs more than most tests here, so the module shares
# one and every test starts from empty tables instead (`fresh_state`).


@pytest.fixture
def mandy(make_user) -> int:
    return make_user("manager", username="mandy")


@pytest.fixture
def attempt(client):
    """``attempt(username, password, ip=...)`` -> the login response, from that client address."""

    def do(username: str, password: str, ip: str = "10.0.0.9", **headers: str):
        return client.post(
            LOGIN,
            json={"username": username, "password": password},
            environ_base={"REMOTE_ADDR": ip},
            headers=headers,
        )

    return do


def fail(attempt, username: str, times: int = ATTEMPTS, ip: str = "10.0.0.9", **headers: str) -> None:
    for _ in range(times):
        assert attempt(username, WRONG, ip=ip, **headers).status_code == 401


def assert_throttled(response) -> int:
    """429 in the error shape with a sane Retry-After; returns its seconds."""
    assert response.status_code == 429, response.json
    assert response.json["code"] == 429
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit()
    assert 0 < int(retry_after) <= WINDOW
    return int(retry_after)


# --- per username -------------------------------------------------------------------------


def test_four_failures_still_allow_the_right_password(attempt, mandy):
    fail(attempt, "mandy", times=ATTEMPTS - 1)

    assert attempt("mandy", TEST_PASSWORD).status_code == 200


def test_five_failures_for_one_username_throttle_even_the_right_password(attempt, mandy):
    # From different addresses, so only the username's count can be what throttles.
    for number in range(ATTEMPTS):
        fail(attempt, "mandy", times=1, ip=f"10.0.1.{number}")

    assert_throttled(attempt("mandy", TEST_PASSWORD, ip="10.0.2.1"))


def test_username_throttle_ignores_case_and_surrounding_space(attempt, mandy):
    for number, variant in enumerate(["mandy", "MANDY", " Mandy", "mandy ", "mAnDy"]):
        fail(attempt, variant, times=1, ip=f"10.0.1.{number}")

    assert_throttled(attempt("mandy", TEST_PASSWORD, ip="10.0.2.1"))


def test_throttling_one_username_leaves_others_alone(attempt, mandy, make_user):
    make_user("manager", username="other")
    for number in range(ATTEMPTS):
        fail(attempt, "mandy", times=1, ip=f"10.0.1.{number}")

    assert attempt("other", TEST_PASSWORD, ip="10.0.2.1").status_code == 200


def test_an_unknown_username_is_throttled_like_a_known_one(attempt):
    for number in range(ATTEMPTS):
        fail(attempt, "nobody", times=1, ip=f"10.0.1.{number}")

    assert_throttled(attempt("nobody", WRONG, ip="10.0.2.1"))


def test_a_successful_login_clears_the_usernames_failures(attempt, mandy):
    # Each batch from its own address: the per-IP count is not cleared by a success.
    fail(attempt, "mandy", times=ATTEMPTS - 1, ip="10.0.1.1")
    assert attempt("mandy", TEST_PASSWORD, ip="10.0.1.2").status_code == 200
    fail(attempt, "mandy", times=ATTEMPTS - 1, ip="10.0.1.3")

    assert attempt("mandy", TEST_PASSWORD, ip="10.0.1.4").status_code == 200


def test_retry_after_counts_down_the_window(attempt, mandy, clock):
    fail(attempt, "mandy")
    first = assert_throttled(attempt("mandy", TEST_PASSWORD))
    clock.advance(5 * 60)

    later = assert_throttled(attempt("mandy", TEST_PASSWORD))

    assert later <= first - 5 * 60 + 1


def test_login_works_again_once_the_window_has_passed(attempt, mandy, clock):
    fail(attempt, "mandy")
    assert_throttled(attempt("mandy", TEST_PASSWORD))

    clock.advance(WINDOW + 1)

    assert attempt("mandy", TEST_PASSWORD).status_code == 200


def test_login_is_still_throttled_just_before_the_window_has_passed(attempt, mandy, clock):
    fail(attempt, "mandy")

    clock.advance(WINDOW - 30)

    assert_throttled(attempt("mandy", TEST_PASSWORD))


def test_throttled_attempts_are_not_checked_against_the_password(attempt, mandy, monkeypatch):
    fail(attempt, "mandy")
    calls = []
    monkeypatch.setattr(auth_module, "verify_password", lambda *args: calls.append(args) or True)

    assert_throttled(attempt("mandy", TEST_PASSWORD))
    assert calls == []


# --- per client address -------------------------------------------------------------------


def test_five_failures_from_one_ip_throttle_every_username_from_it(attempt, mandy):
    for number in range(ATTEMPTS):
        fail(attempt, f"guess{number}", times=1, ip="10.0.0.9")

    assert_throttled(attempt("mandy", TEST_PASSWORD, ip="10.0.0.9"))


def test_throttling_one_ip_leaves_other_ips_alone(attempt, mandy):
    for number in range(ATTEMPTS):
        fail(attempt, f"guess{number}", times=1, ip="10.0.0.9")

    assert attempt("mandy", TEST_PASSWORD, ip="10.0.0.10").status_code == 200


def test_x_forwarded_for_does_not_escape_the_ip_throttle(attempt, mandy):
    for number in range(ATTEMPTS):
        fail(attempt, f"guess{number}", times=1, ip="10.0.0.9", **{"X-Forwarded-For": f"203.0.113.{number}"})

    response = attempt("mandy", TEST_PASSWORD, ip="10.0.0.9", **{"X-Forwarded-For": "198.51.100.77"})

    assert_throttled(response)


def test_x_forwarded_for_cannot_frame_another_ip(attempt, mandy):
    for number in range(ATTEMPTS):
        fail(attempt, f"guess{number}", times=1, ip="10.0.0.66", **{"X-Forwarded-For": "10.0.0.9"})

    assert attempt("mandy", TEST_PASSWORD, ip="10.0.0.9").status_code == 200


def test_ip_throttle_lifts_once_the_window_has_passed(attempt, mandy, clock):
    for number in range(ATTEMPTS):
        fail(attempt, f"guess{number}", times=1, ip="10.0.0.9")

    clock.advance(WINDOW + 1)

    assert attempt("mandy", TEST_PASSWORD, ip="10.0.0.9").status_code == 200


# --- no enumeration -------------------------------------------------------------------------


def without_request_id(response) -> bytes:
    body = response.get_data()
    return body.replace(response.json["request_id"].encode(), b"")


def test_unknown_user_and_wrong_password_get_byte_identical_answers(attempt, mandy):
    unknown = attempt("nobody", WRONG, ip="10.0.3.1")
    wrong = attempt("mandy", WRONG, ip="10.0.3.2")

    assert unknown.status_code == wrong.status_code == 401
    assert without_request_id(unknown) == without_request_id(wrong)
    assert unknown.headers["WWW-Authenticate"] == wrong.headers["WWW-Authenticate"]


@pytest.fixture
def password_checks(monkeypatch) -> list[str]:
    """Spies on the password check at login, still running the real one."""
    checks = []
    real = auth_module.verify_password

    def spy(password_hash: str, password: str) -> bool:
        checks.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(auth_module, "verify_password", spy)
    return checks


def test_the_password_hash_is_checked_for_an_unknown_user(attempt, password_checks):
    attempt("nobody", WRONG)

    assert len(password_checks) == 1
    assert password_checks[0].startswith("$argon2id$")


def test_the_password_hash_is_checked_for_a_wrong_password(attempt, mandy, password_checks):
    attempt("mandy", WRONG)

    assert len(password_checks) == 1


def test_login_answers_503_not_500_when_the_throttle_store_is_unreachable(tmp_path):

    settings = Settings.from_env({}, data_dir=tmp_path, secret_key="r" * 40, redis_url="redis://127.0.0.1:1/0")
    database = Database(settings.effective_database_url)
    upgrade(database.engine)
    client = create_app(settings, database=database).test_client()

    response = client.post("/api/v1/auth/login", json={"username": "someone", "password": "whatever-it-is"})

    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert "Redis" in response.json["message"]
    database.dispose()
