"""Failed-login throttling slows the guessing, not the owner: per username and client address (the
pair), per username from every address (doubling waits), per address for every username (high
enough for an office behind one shared address); and no user enumeration.

The module runs once per database engine and once per store: the database (no Redis) and Redis.
tests/reliability/test_login_throttle_workers.py proves the counts hold across gunicorn workers.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

import kpi_core.accounts.auth as auth_module
import kpi_core.accounts.throttle as throttle_module
from kpi_core.accounts.passwords import hash_password
from kpi_core.accounts.throttle import History, ThrottlePolicy, client_key
from kpi_core.config import Settings
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.storage.models import LoginFailure
from kpi_core.testing.fixtures import TEST_PASSWORD
from kpi_core.web.app import create_app
from kpi_core.web.state import EXTENSION_KEY

LOGIN = "/api/v1/auth/login"
WRONG = "not-the-password-at-all"
PAIR_ATTEMPTS = 5  # the default KPI_LOGIN_ATTEMPTS
USER_ATTEMPTS = 20  # the default KPI_LOGIN_USER_ATTEMPTS
IP_ATTEMPTS = 100  # the default KPI_LOGIN_IP_ATTEMPTS
WINDOW = 15 * 60  # the default KPI_LOGIN_WINDOW_MINUTES, in seconds


@pytest.fixture(scope="module", params=["database", "redis"])
def settings_overrides(request) -> dict:
    """The store of the module's app: the database (KPI_REDIS_URL empty), or a real Redis."""
    if request.param == "redis":
        return {"redis_url": request.getfixturevalue("redis_server_url")}
    return {}


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

    The throttle reads the clock once per attempt, through its module's ``time``, and both
    stores keep and compare the times it hands them. Replacing that one name moves the
    throttle's clock without waiting 15 minutes, and without touching the global
    ``time.time`` that token expiry, the database and pytest itself rely on.
    """
    shifted = ShiftedClock()
    monkeypatch.setattr(throttle_module, "time", SimpleNamespace(time=shifted.time))
    return shifted


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


def fail(attempt, username: str, times: int = PAIR_ATTEMPTS, ip: str = "10.0.0.9", **headers: str) -> None:
    for _ in range(times):
        response = attempt(username, WRONG, ip=ip, **headers)
        assert response.status_code == 401, response.json


def fail_from_many_addresses(attempt, username: str, times: int) -> None:
    for number in range(times):
        fail(attempt, username, times=1, ip=f"10.1.{number // 250}.{number % 250}")


def assert_throttled(response) -> int:
    """429 in the error shape with a sane Retry-After; returns its seconds."""
    assert response.status_code == 429, response.json
    assert response.json["code"] == 429
    assert "too many failed logins" in response.json["message"]
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit()
    assert 0 < int(retry_after) <= WINDOW
    return int(retry_after)


# --- per username and client address (the pair) ----------------------------------------


def test_four_failures_still_allow_the_right_password(attempt, mandy):
    fail(attempt, "mandy", times=PAIR_ATTEMPTS - 1)

    assert attempt("mandy", TEST_PASSWORD).status_code == 200


def test_five_failures_from_one_address_throttle_that_pair_even_with_the_right_password(attempt, mandy):
    fail(attempt, "mandy")

    assert_throttled(attempt("mandy", TEST_PASSWORD))


def test_the_owner_logs_in_from_another_address_while_the_guessing_pair_is_throttled(attempt, mandy):
    fail(attempt, "mandy", ip="203.0.113.7")
    assert_throttled(attempt("mandy", WRONG, ip="203.0.113.7"))

    assert attempt("mandy", TEST_PASSWORD, ip="198.51.100.20").status_code == 200
    assert_throttled(attempt("mandy", TEST_PASSWORD, ip="203.0.113.7"))


def test_the_pair_throttle_ignores_username_case_and_surrounding_space(attempt, mandy):
    for variant in ["mandy", "MANDY", " Mandy", "mandy ", "mAnDy"]:
        fail(attempt, variant, times=1)

    assert_throttled(attempt("mandy", TEST_PASSWORD))


def test_a_throttled_pair_leaves_other_usernames_from_its_address_alone(attempt, mandy, make_user):
    make_user("manager", username="other")
    fail(attempt, "mandy")

    assert attempt("other", TEST_PASSWORD).status_code == 200


def test_an_unknown_username_is_throttled_like_a_known_one(attempt):
    fail(attempt, "nobody")

    assert_throttled(attempt("nobody", WRONG))


def test_a_successful_login_forgives_its_pairs_failures(attempt, mandy):
    fail(attempt, "mandy", times=PAIR_ATTEMPTS - 1)
    assert attempt("mandy", TEST_PASSWORD).status_code == 200
    fail(attempt, "mandy", times=PAIR_ATTEMPTS - 1)

    assert attempt("mandy", TEST_PASSWORD).status_code == 200


def test_addresses_of_one_ipv6_64_network_count_as_one_client(attempt, mandy):
    for host in range(PAIR_ATTEMPTS):
        fail(attempt, "mandy", times=1, ip=f"2001:db8:0:1::{host + 1:x}")

    assert_throttled(attempt("mandy", TEST_PASSWORD, ip="2001:db8:0:1:ffff::1"))
    assert attempt("mandy", TEST_PASSWORD, ip="2001:db8:0:2::1").status_code == 200


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


def test_throttled_attempts_do_not_extend_the_wait(attempt, mandy, clock):
    fail(attempt, "mandy")
    for _ in range(10):
        assert_throttled(attempt("mandy", WRONG))

    clock.advance(WINDOW + 1)

    assert attempt("mandy", TEST_PASSWORD).status_code == 200


# --- per username, from every address ------------------------------------------------------


def test_failures_from_many_addresses_below_the_user_limit_leave_the_owner_alone(attempt, mandy):
    fail_from_many_addresses(attempt, "mandy", USER_ATTEMPTS - 1)

    assert attempt("mandy", TEST_PASSWORD, ip="198.51.100.20").status_code == 200


def test_at_the_user_limit_each_attempt_waits_a_second_first(attempt, mandy, clock):
    fail_from_many_addresses(attempt, "mandy", USER_ATTEMPTS)

    assert assert_throttled(attempt("mandy", TEST_PASSWORD, ip="198.51.100.20")) == 1
    clock.advance(1.01)
    assert attempt("mandy", TEST_PASSWORD, ip="198.51.100.20").status_code == 200


def test_each_further_failure_doubles_the_usernames_wait(attempt, mandy, clock):
    fail_from_many_addresses(attempt, "mandy", USER_ATTEMPTS)
    waits = []
    for number in range(4):
        wait = assert_throttled(attempt("mandy", WRONG, ip=f"10.2.0.{number}"))
        waits.append(wait)
        clock.advance(wait + 0.01)
        fail(attempt, "mandy", times=1, ip=f"10.2.0.{number}")

    assert waits == [1, 2, 4, 8]


def test_a_usernames_wait_leaves_other_usernames_alone(attempt, mandy, make_user):
    make_user("manager", username="other")
    fail_from_many_addresses(attempt, "mandy", USER_ATTEMPTS)

    assert attempt("other", TEST_PASSWORD, ip="10.1.0.1").status_code == 200


# --- per client address, for every username ----------------------------------------------


def test_an_office_behind_one_address_keeps_logging_in_after_many_mistakes(attempt, mandy):
    for number in range(IP_ATTEMPTS - 1):
        fail(attempt, f"colleague{number}", times=1, ip="192.0.2.50")

    assert attempt("mandy", TEST_PASSWORD, ip="192.0.2.50").status_code == 200


def test_the_ip_limit_throttles_every_username_from_that_address(attempt, mandy):
    for number in range(IP_ATTEMPTS):
        fail(attempt, f"guess{number}", times=1, ip="10.0.0.9")

    assert_throttled(attempt("mandy", TEST_PASSWORD, ip="10.0.0.9"))
    assert attempt("mandy", TEST_PASSWORD, ip="10.0.0.10").status_code == 200


def test_x_forwarded_for_does_not_escape_the_pair_throttle(attempt, mandy):
    for number in range(PAIR_ATTEMPTS):
        fail(attempt, "mandy", times=1, ip="10.0.0.9", **{"X-Forwarded-For": f"203.0.113.{number}"})

    response = attempt("mandy", TEST_PASSWORD, ip="10.0.0.9", **{"X-Forwarded-For": "198.51.100.77"})

    assert_throttled(response)


def test_x_forwarded_for_cannot_frame_another_ip(attempt, mandy):
    fail(attempt, "mandy", ip="10.0.0.66", **{"X-Forwarded-For": "10.0.0.9"})

    assert attempt("mandy", TEST_PASSWORD, ip="10.0.0.9").status_code == 200


# --- the stores keep nothing for ever -------------------------------------------------------


def test_counts_older_than_the_window_do_not_stay_behind(app, attempt, database, clock, settings):
    fail(attempt, "mandy", times=3)
    clock.advance(WINDOW + 1)

    fail(attempt, "someone-else", times=1, ip="10.9.9.9")

    if settings.redis_url:
        # Redis: every set of counts expires by itself a second after the window.
        client = app.extensions[EXTENSION_KEY].authenticator.throttle.store.client
        keys = list(client.scan_iter("kpi-login:*"))
        assert keys
        assert all(0 < client.ttl(key) <= WINDOW + 1 for key in keys)
    else:
        # The database: the next attempt, whoever makes it, deletes what has left the window.
        with database.session(write=False) as session:
            assert session.scalar(select(func.count()).where(LoginFailure.username == "mandy")) == 0
            assert session.scalar(select(func.count()).select_from(LoginFailure)) == 1


# --- the policy on its own ----------------------------------------------------------------


def test_the_policy_waits_for_the_oldest_pair_failure_to_leave_the_window():
    policy = ThrottlePolicy(pair_attempts=2, user_attempts=10, client_attempts=10, window_seconds=100)

    wait = policy.retry_after(History(pair=[10.0, 20.0], user=[10.0, 20.0], client=[10.0, 20.0]), now=50.0)

    assert wait == 60


def test_the_policy_lets_an_attempt_through_below_every_limit():
    policy = ThrottlePolicy(pair_attempts=2, user_attempts=10, client_attempts=10, window_seconds=100)

    assert policy.retry_after(History(pair=[10.0], user=[10.0], client=[10.0]), now=50.0) is None


def test_the_usernames_wait_never_exceeds_the_window():
    policy = ThrottlePolicy(pair_attempts=100, user_attempts=1, client_attempts=100, window_seconds=100)
    times = [50.0 + number for number in range(40)]

    assert policy.retry_after(History(pair=[], user=times, client=[]), now=90.0) == 100 + 89 - 90


@pytest.mark.parametrize(
    ("ip", "key"),
    [
        ("10.0.0.9", "10.0.0.9"),
        ("2001:db8::1", "2001:db8::/64"),
        ("::ffff:10.0.0.9", "10.0.0.9"),
        (None, "unknown"),
        ("not an address", "unknown"),
    ],
)
def test_client_keys(ip, key):
    assert client_key(ip) == key


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
