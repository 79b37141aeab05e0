"""Passwords: argon2id hashes, the policy (NIST SP 800-63B: length after NFKC, a list of common and
breached passwords, no composition rules), and bounded input (huge passwords and usernames answer
422 naming the field, quickly, without ever being hashed)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from sqlalchemy import select

import kpi_core.accounts.auth as auth_module
import kpi_core.accounts.passwords as passwords_module
import kpi_core.accounts.users as users_module
from kpi_core.accounts.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    PasswordRejected,
    check_policy,
    common_passwords,
    hash_password,
    verify_password,
)
from kpi_core.storage.models import User
from kpi_core.testing.fixtures import TEST_PASSWORD

ONE_MEGABYTE = "p" * (1024 * 1024)
GOOD_PASSWORD = "plumbing-under-pressure-9"
TOO_SHORT = f"Choose a password of at least {MIN_LENGTH} characters"
ONLY_SPACES = "Choose a password with letters, numbers or symbols in it, not only spaces or invisible characters"
CONTROL = "Remove the control characters, such as tabs or line breaks, from the password"
REPEATS = "Choose a password that is not one character repeated or a run such as 123456"
COMMON = "This password is too common and easy to guess."
USERNAME = "Choose a password that is different from the username"
WEAK_EXAMPLES = [
    pytest.param(" " * 12, ONLY_SPACES, id="twelve-spaces"),
    pytest.param("\u200b" * 12, ONLY_SPACES, id="twelve-zero-width-spaces"),
    pytest.param("\x01" * 12, CONTROL, id="twelve-control-characters"),
    pytest.param("aaaaaaaaaaaa", REPEATS, id="one-character-repeated"),
    pytest.param("123456789012 ", REPEATS, id="a-run-of-digits-and-a-space"),
]


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


def test_policy_accepts_a_passphrase_of_plain_words():
    check_policy("tin roof rusted over the van", username="mandy")


def test_policy_accepts_the_minimum_length():
    check_policy("plumb-a-sink", username="mandy")


def test_minimum_length_is_12():
    assert MIN_LENGTH == 12


def test_policy_sets_no_composition_rules():
    # No digit, no capital, no symbol: length is what counts.
    check_policy("gutters and downpipes", username="mandy")


def test_policy_refuses_one_character_short_with_a_plain_message():
    with pytest.raises(PasswordRejected) as raised:
        check_policy("plumb-a-sin", username="mandy")

    assert str(raised.value) == TOO_SHORT


def test_policy_refuses_an_overlong_password():
    with pytest.raises(PasswordRejected, match="at most"):
        check_policy("x" * (MAX_LENGTH + 1), username="mandy")


@pytest.mark.parametrize(("password", "message"), WEAK_EXAMPLES)
def test_policy_refuses_each_weak_example_saying_why(password, message):
    with pytest.raises(PasswordRejected) as raised:
        check_policy(password, username="mandy")

    assert str(raised.value) == message


@pytest.mark.parametrize(
    "password", ["abababababab", "abcabcabcabc", "passpasspass", "abcdefghijklm", "987654321098", "zzzzzzzzzzzzzzzz"]
)
def test_policy_refuses_short_blocks_repeated_and_runs(password):
    with pytest.raises(PasswordRejected) as raised:
        check_policy(password, username="mandy")

    assert str(raised.value) == REPEATS


def test_characters_are_counted_after_nfkc_normalisation():
    # Each ligature "\ufb01" is one character typed and two ("fi") after NFKC: 11 become 14.
    ligatures = "\ufb01ne-\ufb01sh-\ufb01ve"
    # "e" + combining acute accent is two characters typed and one ("\u00e9") after NFKC: 13 become 11.
    combining = "re\u0301sume\u0301-file"
    assert len(ligatures) == 11 and len(combining) == 13

    check_policy(ligatures, username="mandy")
    with pytest.raises(PasswordRejected) as raised:
        check_policy(combining, username="mandy")
    assert str(raised.value) == TOO_SHORT


def test_a_control_character_anywhere_is_refused():
    with pytest.raises(PasswordRejected) as raised:
        check_policy("plumbing-under\tpressure", username="mandy")

    assert str(raised.value) == CONTROL


@pytest.mark.parametrize(
    "password",
    ["dispatcher-mandy", "Dispatcher-Mandy", " dispatcher-mandy ", "dispatcher-mandy-2026!", "\uff44ispatcher-mandy"],
)
def test_policy_refuses_the_username(password):
    with pytest.raises(PasswordRejected) as raised:
        check_policy(password, username="dispatcher-mandy")

    assert str(raised.value) == USERNAME


def test_the_common_list_is_a_real_breach_list_shipped_with_a_package():
    listed = common_passwords()

    assert len(listed) > 20_000
    assert {"123456", "password", "qwerty", "iloveyou", "trustno1"} <= listed


def test_every_long_password_of_the_shipped_list_is_refused_as_common():
    long_enough = sorted(word for word in common_passwords() if len(word) >= MIN_LENGTH)
    accepted = []
    for word in long_enough:
        try:
            check_policy(word, username="mandy")
        except PasswordRejected as exc:
            assert str(exc).startswith(COMMON) or str(exc) == REPEATS, (word, str(exc))
        else:
            accepted.append(word)

    assert len(long_enough) > 100
    assert accepted == []


@pytest.mark.parametrize(
    "password",
    ["password1234", "Password1234", " PASSWORD1234 ", "qwertyuiop12", "dragon123456", "superman!2026", "football1234"],
)
def test_policy_refuses_a_common_password_in_any_case_with_digits_or_symbols_around_it(password):
    with pytest.raises(PasswordRejected) as raised:
        check_policy(password, username="mandy")

    assert str(raised.value).startswith(COMMON)


def test_the_common_list_is_loaded_on_first_use_not_at_import():
    script = (
        "import sys; from kpi_core.accounts import passwords; before = 'zxcvbn' in sys.modules; "
        "passwords.check_policy('plumbing-under-pressure-9', username='mandy'); print(before, 'zxcvbn' in sys.modules)"
    )
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()

    assert shown == ["False", "True"]


def test_the_common_list_is_loaded_once():
    assert common_passwords() is common_passwords()


def test_the_same_password_in_another_unicode_form_verifies():
    stored = hash_password("caf\u00e9-au-lait-noir")

    assert verify_password(stored, "caf\u0065\u0301-au-lait-noir") is True


def test_a_hash_of_a_password_as_typed_before_normalisation_still_verifies():
    typed = "\ufb01ne-\ufb01sh-\ufb01ve-\ufb01ve"
    stored = passwords_module._hasher.hash(typed)  # as hashes were made before passwords were normalised

    assert verify_password(stored, typed) is True


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


@pytest.mark.parametrize(("password", "message"), [*WEAK_EXAMPLES, pytest.param("password1234", COMMON, id="common")])
def test_create_user_with_each_weak_example_answers_422_saying_why(create, password, message):
    response = create(password=password)

    assert_422_naming(response, "password")
    assert response.json["errors"]["json"]["password"][0].startswith(message)


@pytest.mark.parametrize(("password", "message"), [*WEAK_EXAMPLES, pytest.param("Password1234", COMMON, id="common")])
def test_change_password_to_each_weak_example_answers_422_naming_new_password(client, mandy, login, password, message):
    response = client.post(
        "/api/v1/auth/password",
        json={"current_password": TEST_PASSWORD, "new_password": password},
        headers=login("mandy"),
    )

    assert_422_naming(response, "new_password")
    assert response.json["errors"]["json"]["new_password"][0].startswith(message)


def test_change_password_to_a_good_passphrase_works(client, mandy, login):
    response = client.post(
        "/api/v1/auth/password",
        json={"current_password": TEST_PASSWORD, "new_password": "tin roof rusted over the van"},
        headers=login("mandy"),
    )

    assert response.status_code == 200, response.json


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
