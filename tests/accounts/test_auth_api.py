"""/api/v1/auth: logging in, rotating refresh tokens, logging out, and what disabling a user,
an admin's password reset and a user's own password change do to tokens."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kpi_core.storage.models import AuditEntry
from kpi_core.testing.fixtures import TEST_PASSWORD

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"
PASSWORD = "/api/v1/auth/password"
NEW_PASSWORD = "a-brand-new-passphrase-77"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_401(response) -> None:
    assert response.status_code == 401, response.json
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json["code"] == 401


@pytest.fixture
def log_in(client):
    """``log_in(username, password)`` -> the whole login answer (both tokens)."""

    def do(username: str, password: str = TEST_PASSWORD) -> dict:
        response = client.post(LOGIN, json={"username": username, "password": password})
        assert response.status_code == 200, response.json
        return response.json

    return do


@pytest.fixture
def manager_id(make_user) -> int:
    return make_user("manager", username="mandy")


@pytest.fixture
def session_of(client):
    """Whether a token pair still works: (access accepted, refresh accepted)."""

    def check(pair: dict) -> tuple[bool, bool]:
        access_ok = client.get(ME, headers=bearer(pair["access_token"])).status_code == 200
        refresh_ok = client.post(REFRESH, json={"refresh_token": pair["refresh_token"]}).status_code == 200
        return access_ok, refresh_ok

    return check


# --- logging in -------------------------------------------------------------------


def test_login_answers_a_bearer_token_pair(client, manager_id, log_in):
    pair = log_in("mandy")

    assert pair["token_type"] == "Bearer"
    assert pair["access_token"] and pair["refresh_token"]
    assert client.get(ME, headers=bearer(pair["access_token"])).json["username"] == "mandy"


def test_wrong_password_answers_401(client, manager_id):
    assert_401(client.post(LOGIN, json={"username": "mandy", "password": "not-the-password-at-all"}))


def test_me_answers_the_account_behind_the_token(client, manager_id, log_in):
    body = client.get(ME, headers=bearer(log_in("mandy")["access_token"])).json

    assert body["id"] == manager_id
    assert body["role"] == "manager"
    assert "password_hash" not in body


# --- refresh rotation ---------------------------------------------------------------


def test_refresh_answers_a_new_refresh_token(client, manager_id, log_in):
    first = log_in("mandy")

    second = client.post(REFRESH, json={"refresh_token": first["refresh_token"]}).json

    assert second["refresh_token"] != first["refresh_token"]
    assert client.get(ME, headers=bearer(second["access_token"])).status_code == 200


def test_each_new_refresh_token_refreshes_once_more(client, manager_id, log_in):
    token = log_in("mandy")["refresh_token"]
    for _ in range(3):
        response = client.post(REFRESH, json={"refresh_token": token})
        assert response.status_code == 200
        token = response.json["refresh_token"]


def test_a_used_refresh_token_answers_401(client, manager_id, log_in):
    used = log_in("mandy")["refresh_token"]
    client.post(REFRESH, json={"refresh_token": used})

    assert_401(client.post(REFRESH, json={"refresh_token": used}))


def test_reusing_a_refresh_token_revokes_the_newest_refresh_token(client, manager_id, log_in):
    first = log_in("mandy")
    newest = client.post(REFRESH, json={"refresh_token": first["refresh_token"]}).json
    client.post(REFRESH, json={"refresh_token": first["refresh_token"]})

    assert_401(client.post(REFRESH, json={"refresh_token": newest["refresh_token"]}))


def test_reusing_a_refresh_token_revokes_the_familys_access_tokens(client, manager_id, log_in):
    first = log_in("mandy")
    newest = client.post(REFRESH, json={"refresh_token": first["refresh_token"]}).json
    client.post(REFRESH, json={"refresh_token": first["refresh_token"]})

    assert_401(client.get(ME, headers=bearer(newest["access_token"])))
    assert_401(client.get(ME, headers=bearer(first["access_token"])))


def test_reusing_a_refresh_token_leaves_the_users_other_logins_working(client, manager_id, log_in, session_of):
    other_device = log_in("mandy")
    first = log_in("mandy")
    client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    client.post(REFRESH, json={"refresh_token": first["refresh_token"]})

    assert session_of(other_device) == (True, True)


def test_reusing_a_refresh_token_is_audited(client, manager_id, log_in, database):
    first = log_in("mandy")
    client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    client.post(REFRESH, json={"refresh_token": first["refresh_token"]})

    with database.session(write=False) as session:
        actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == str(manager_id))))
    assert "revoke_family" in actions


# --- logging out --------------------------------------------------------------------


def test_logout_answers_204(client, manager_id, log_in):
    response = client.post(LOGOUT, headers=bearer(log_in("mandy")["access_token"]))

    assert response.status_code == 204


def test_logout_revokes_that_logins_tokens(client, manager_id, log_in, session_of):
    pair = log_in("mandy")
    client.post(LOGOUT, headers=bearer(pair["access_token"]))

    assert session_of(pair) == (False, False)


def test_logout_revokes_tokens_refreshed_from_that_login(client, manager_id, log_in):
    pair = log_in("mandy")
    refreshed = client.post(REFRESH, json={"refresh_token": pair["refresh_token"]}).json
    client.post(LOGOUT, headers=bearer(pair["access_token"]))

    assert_401(client.get(ME, headers=bearer(refreshed["access_token"])))
    assert_401(client.post(REFRESH, json={"refresh_token": refreshed["refresh_token"]}))


def test_logout_leaves_other_logins_working(client, manager_id, log_in, session_of):
    other_device = log_in("mandy")
    client.post(LOGOUT, headers=bearer(log_in("mandy")["access_token"]))

    assert session_of(other_device) == (True, True)


# --- disabled users -----------------------------------------------------------------


@pytest.fixture
def disable(client, admin_headers):
    def do(user_id: int, disabled: bool = True) -> None:
        etag = client.get(f"/api/v1/users/{user_id}", headers=admin_headers).headers["ETag"]
        response = client.patch(
            f"/api/v1/users/{user_id}", json={"disabled": disabled}, headers={**admin_headers, "If-Match": etag}
        )
        assert response.status_code == 200, response.json

    return do


def test_disabled_user_cannot_log_in(client, manager_id, disable):
    disable(manager_id)

    assert_401(client.post(LOGIN, json={"username": "mandy", "password": TEST_PASSWORD}))


def test_disabled_user_gets_the_same_answer_as_a_wrong_password(client, manager_id, disable):
    disable(manager_id)

    disabled = client.post(LOGIN, json={"username": "mandy", "password": TEST_PASSWORD}).json
    wrong = client.post(LOGIN, json={"username": "mandy", "password": "not-the-password-at-all"}).json

    assert disabled["message"] == wrong["message"]


def test_disabling_a_user_stops_their_existing_tokens(manager_id, log_in, disable, session_of):
    pair = log_in("mandy")
    disable(manager_id)

    assert session_of(pair) == (False, False)


def test_enabling_a_user_again_lets_them_log_in(manager_id, log_in, disable):
    disable(manager_id)
    disable(manager_id, disabled=False)

    assert log_in("mandy")["access_token"]


# --- admin password reset -------------------------------------------------------------


@pytest.fixture
def reset(client, admin_headers):
    """``reset(user_id)`` -> the temporary password an admin was shown."""

    def do(user_id: int) -> str:
        response = client.post(f"/api/v1/users/{user_id}/reset-password", headers=admin_headers)
        assert response.status_code == 200, response.json
        assert response.json["must_change_password"] is True
        return response.json["temporary_password"]

    return do


def test_reset_password_stops_the_users_existing_tokens(manager_id, log_in, reset, session_of):
    pair = log_in("mandy")
    reset(manager_id)

    assert session_of(pair) == (False, False)


def test_reset_password_makes_the_old_password_useless(client, manager_id, reset):
    reset(manager_id)

    assert_401(client.post(LOGIN, json={"username": "mandy", "password": TEST_PASSWORD}))


def test_temporary_password_logs_in_with_must_change_password(client, manager_id, log_in, reset):
    pair = log_in("mandy", reset(manager_id))

    assert client.get(ME, headers=bearer(pair["access_token"])).json["must_change_password"] is True


@pytest.mark.parametrize(("method", "path"), [("get", "/api/v1/plugins"), ("get", "/api/v1/users")])
def test_until_changed_every_other_operation_answers_403(client, manager_id, log_in, reset, method, path):
    pair = log_in("mandy", reset(manager_id))

    response = getattr(client, method)(path, headers=bearer(pair["access_token"]))

    assert response.status_code == 403
    assert "Change your temporary password first" in response.json["message"]


def test_until_changed_logging_out_is_allowed(client, manager_id, log_in, reset):
    pair = log_in("mandy", reset(manager_id))

    assert client.post(LOGOUT, headers=bearer(pair["access_token"])).status_code == 204


def test_after_changing_the_temporary_password_the_user_works_normally(client, manager_id, log_in, reset):
    temporary = reset(manager_id)
    pair = log_in("mandy", temporary)

    changed = client.post(
        PASSWORD,
        json={"current_password": temporary, "new_password": NEW_PASSWORD},
        headers=bearer(pair["access_token"]),
    )

    assert changed.status_code == 200
    fresh = bearer(changed.json["access_token"])
    assert client.get("/api/v1/plugins", headers=fresh).status_code == 200
    assert client.get(ME, headers=fresh).json["must_change_password"] is False
    assert log_in("mandy", NEW_PASSWORD)["access_token"]


# --- changing one's own password --------------------------------------------------------


@pytest.fixture
def change_password(client):
    def do(pair: dict, current: str, new: str):
        return client.post(
            PASSWORD, json={"current_password": current, "new_password": new}, headers=bearer(pair["access_token"])
        )

    return do


def test_change_password_with_a_wrong_current_password_answers_422_naming_it(manager_id, log_in, change_password):
    response = change_password(log_in("mandy"), "not-my-password-at-all", NEW_PASSWORD)

    assert response.status_code == 422
    assert list(response.json["errors"]["json"]) == ["current_password"]


def test_change_password_with_a_wrong_current_password_keeps_the_old_one(manager_id, log_in, change_password):
    change_password(log_in("mandy"), "not-my-password-at-all", NEW_PASSWORD)

    assert log_in("mandy", TEST_PASSWORD)["access_token"]


def test_change_password_to_a_weak_one_answers_422_naming_new_password(manager_id, log_in, change_password):
    response = change_password(log_in("mandy"), TEST_PASSWORD, "short")

    assert response.status_code == 422
    assert list(response.json["errors"]["json"]) == ["new_password"]


def test_change_password_to_the_same_one_answers_422_naming_new_password(manager_id, log_in, change_password):
    response = change_password(log_in("mandy"), TEST_PASSWORD, TEST_PASSWORD)

    assert response.status_code == 422
    assert list(response.json["errors"]["json"]) == ["new_password"]


def test_change_password_replaces_the_password(client, manager_id, log_in, change_password):
    assert change_password(log_in("mandy"), TEST_PASSWORD, NEW_PASSWORD).status_code == 200

    assert_401(client.post(LOGIN, json={"username": "mandy", "password": TEST_PASSWORD}))
    assert log_in("mandy", NEW_PASSWORD)["access_token"]


def test_change_password_stops_the_users_other_tokens(manager_id, log_in, change_password, session_of):
    other_device = log_in("mandy")
    change_password(log_in("mandy"), TEST_PASSWORD, NEW_PASSWORD)

    assert session_of(other_device) == (False, False)


def test_change_password_answers_a_working_pair_for_this_login(manager_id, log_in, change_password, session_of):
    answer = change_password(log_in("mandy"), TEST_PASSWORD, NEW_PASSWORD).json

    assert session_of(answer) == (True, True)


def test_change_password_needs_a_token(client):
    response = client.post(PASSWORD, json={"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD})

    assert_401(response)
