"""Access and refresh tokens: lifetime, key ids and rotation, and what a forged,
altered, expired or misused token gets (401 with a Bearer challenge, never more)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

import kpi_core.accounts.tokens as tokens_module
from kpi_core.accounts.auth import AuthFailed
from kpi_core.accounts.tokens import ALGORITHM, TokenInvalid, TokenSigner, key_id
from kpi_core.config import Settings
from kpi_core.errors import ConfigError
from kpi_core.storage.models import User
from kpi_core.testing.fixtures import TEST_PASSWORD, TEST_SECRET
from kpi_core.web.state import EXTENSION_KEY

FORMER_SECRET = "the-key-we-signed-with-until-last-month-0123456789"
UNLISTED_SECRET = "a-key-this-server-has-never-been-configured-with-42"
ERROR_KEYS = {"code", "status", "message", "request_id"}
ME = "/api/v1/auth/me"
REFRESH = "/api/v1/auth/refresh"


# --- helpers -----------------------------------------------------------------


def b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def segment(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def header_of(token: str) -> dict:
    return segment(token, 0)


def claims_of(token: str) -> dict:
    return segment(token, 1)


def resign(token: str, secret: str, *, kid: str | None = None, alg: str = ALGORITHM, **changes) -> str:
    """The token's claims (with ``changes``) signed again with ``secret``."""
    header = {"alg": alg, "kid": kid if kid is not None else key_id(secret)}
    return jwt.encode(header, {**claims_of(token), **changes}, OctKey.import_key(secret), algorithms=[alg])


def issued_in_the_past(signer: TokenSigner, seconds_ago: int, *args, **kwargs) -> str:
    """A token the signer issued ``seconds_ago`` (only the token module's clock is moved)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tokens_module, "time", SimpleNamespace(time=lambda: time.time() - seconds_ago))
        return signer.issue(*args, **kwargs)


def signer_for(secret: str, **overrides) -> TokenSigner:
    return TokenSigner(Settings.from_env({}, secret_key=secret, **overrides))


# --- tampered tokens, one factory per attack ------------------------------------


def alg_none(token: str, signer: TokenSigner) -> str:
    return f"{b64url({'alg': 'none', 'typ': 'JWT', 'kid': signer.kid})}.{token.split('.')[1]}."


def alg_none_without_kid(token: str, signer: TokenSigner) -> str:
    return f"{b64url({'alg': 'none'})}.{token.split('.')[1]}."


def wrong_key_same_kid(token: str, signer: TokenSigner) -> str:
    return resign(token, UNLISTED_SECRET, kid=signer.kid)


def unknown_kid(token: str, signer: TokenSigner) -> str:
    return resign(token, UNLISTED_SECRET)


def other_algorithm_right_key(token: str, signer: TokenSigner) -> str:
    return resign(token, TEST_SECRET, kid=signer.kid, alg="HS512")


def role_edited_without_resigning(token: str, signer: TokenSigner) -> str:
    header, _payload, signature = token.split(".")
    return f"{header}.{b64url({**claims_of(token), 'role': 'admin'})}.{signature}"


def subject_edited_without_resigning(token: str, signer: TokenSigner) -> str:
    header, _payload, signature = token.split(".")
    claims = claims_of(token)
    return f"{header}.{b64url({**claims, 'sub': str(int(claims['sub']) + 1)})}.{signature}"


def expiry_extended_without_resigning(token: str, signer: TokenSigner) -> str:
    header, _payload, signature = token.split(".")
    claims = claims_of(token)
    return f"{header}.{b64url({**claims, 'exp': claims['exp'] + 86400})}.{signature}"


def signature_stripped(token: str, signer: TokenSigner) -> str:
    return token.rsplit(".", 1)[0] + "."


def not_a_jwt(token: str, signer: TokenSigner) -> str:
    return "not-a-token"


TAMPERINGS: dict[str, Callable[[str, TokenSigner], str]] = {
    "alg-none": alg_none,
    "alg-none-without-kid": alg_none_without_kid,
    "wrong-key-same-kid": wrong_key_same_kid,
    "unknown-kid": unknown_kid,
    "other-algorithm-right-key": other_algorithm_right_key,
    "role-edited": role_edited_without_resigning,
    "sub-edited": subject_edited_without_resigning,
    "exp-extended": expiry_extended_without_resigning,
    "signature-stripped": signature_stripped,
    "not-a-jwt": not_a_jwt,
}


# --- the signer on its own (no database) ------------------------------------------


@pytest.fixture
def signer() -> TokenSigner:
    return signer_for(TEST_SECRET)


def test_access_token_lives_at_most_15_minutes(signer):
    claims = claims_of(signer.issue(1, "access", role="admin"))

    assert 0 < claims["exp"] - claims["iat"] <= 15 * 60


def test_access_token_lifetime_cannot_be_configured_above_15_minutes():
    with pytest.raises(ConfigError, match="KPI_ACCESS_TOKEN_MINUTES"):
        Settings.from_env({}, secret_key=TEST_SECRET, access_token_minutes=16)


def test_token_header_names_its_algorithm_and_key_id(signer):
    header = header_of(signer.issue(1, "access"))

    assert header["alg"] == "HS256"
    assert header["kid"] == key_id(TEST_SECRET)


def test_key_id_does_not_reveal_the_key():
    assert TEST_SECRET not in key_id(TEST_SECRET)
    assert key_id(TEST_SECRET) != key_id(FORMER_SECRET)


def test_an_untampered_token_verifies(signer):
    claims = signer.verify(signer.issue(7, "access", role="manager"), "access")

    assert (claims.user_id, claims.type, claims.role) == (7, "access", "manager")


@pytest.mark.parametrize("tamper", TAMPERINGS.values(), ids=TAMPERINGS.keys())
def test_signer_refuses_a_tampered_token(signer, tamper):
    token = signer.issue(1, "access", role="technician")

    with pytest.raises(TokenInvalid):
        signer.verify(tamper(token, signer), "access")


def test_signer_refuses_an_expired_token(signer):
    token = issued_in_the_past(signer, 16 * 60, 1, "access")

    with pytest.raises(TokenInvalid):
        signer.verify(token, "access")


def test_signer_refuses_a_refresh_token_as_an_access_token(signer):
    with pytest.raises(TokenInvalid):
        signer.verify(signer.issue(1, "refresh"), "access")


def test_signer_refuses_an_access_token_as_a_refresh_token(signer):
    with pytest.raises(TokenInvalid):
        signer.verify(signer.issue(1, "access"), "refresh")


def test_signer_refuses_an_oversized_token(signer):
    with pytest.raises(TokenInvalid):
        signer.verify("x" * 100_000, "access")


def test_token_signed_with_a_previous_key_still_verifies():
    old_token = signer_for(FORMER_SECRET).issue(3, "access")
    rotated = signer_for(TEST_SECRET, previous_secret_keys=(FORMER_SECRET,))

    assert rotated.verify(old_token, "access").user_id == 3
    assert header_of(old_token)["kid"] == key_id(FORMER_SECRET)


def test_after_rotation_new_tokens_carry_the_current_key_id():
    rotated = signer_for(TEST_SECRET, previous_secret_keys=(FORMER_SECRET,))

    assert header_of(rotated.issue(3, "access"))["kid"] == key_id(TEST_SECRET)


def test_token_of_a_key_no_longer_listed_is_refused():
    old_token = signer_for(FORMER_SECRET).issue(3, "access")

    with pytest.raises(TokenInvalid):
        signer_for(TEST_SECRET).verify(old_token, "access")


# --- one app for the module ------------------------------------------------------
# Building the app (its OpenAPI document) costs more than most tests here, so the module shares
# one and every test starts from empty tables instead (`fresh_state`).
# The app is mid key rotation: FORMER_SECRET is still accepted. Token checks do not depend on
# the database engine, so these run on SQLite only.


@pytest.fixture(scope="module")
def settings_overrides() -> dict:
    return {"previous_secret_keys": (FORMER_SECRET,)}


@pytest.fixture
def app_signer(settings) -> TokenSigner:
    return TokenSigner(settings)


@pytest.fixture
def user_id(make_user) -> int:
    return make_user("manager", username="mandy")


@pytest.fixture
def pair(app_signer, user_id) -> dict:
    """A token pair as a login would give it, without paying for a password check."""
    refresh = app_signer.issue(user_id, "refresh")
    access = app_signer.issue(user_id, "access", family=claims_of(refresh)["fam"], role="manager")
    return {"access_token": access, "refresh_token": refresh}


@pytest.fixture
def login_answer(client, user_id) -> dict:
    response = client.post("/api/v1/auth/login", json={"username": "mandy", "password": TEST_PASSWORD})
    assert response.status_code == 200, response.json
    return response.json


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_challenged(response) -> dict:
    """401, a Bearer challenge, and the one error shape."""
    assert response.status_code == 401, response.json
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.mimetype == "application/json"
    body = response.json
    assert ERROR_KEYS <= set(body) <= ERROR_KEYS | {"errors"}
    assert body["code"] == 401
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def test_login_answers_short_lived_tokens_whose_header_carries_the_current_kid(login_answer):
    claims = claims_of(login_answer["access_token"])

    assert header_of(login_answer["access_token"])["kid"] == key_id(TEST_SECRET)
    assert header_of(login_answer["refresh_token"])["kid"] == key_id(TEST_SECRET)
    assert claims["exp"] - claims["iat"] <= 15 * 60
    assert 0 < login_answer["expires_in"] <= 15 * 60


def test_the_untampered_access_token_is_accepted(client, pair):
    assert client.get(ME, headers=bearer(pair["access_token"])).status_code == 200


@pytest.mark.parametrize("tamper", TAMPERINGS.values(), ids=TAMPERINGS.keys())
def test_tampered_access_token_answers_401(client, pair, app_signer, tamper):
    response = client.get(ME, headers=bearer(tamper(pair["access_token"], app_signer)))

    assert_challenged(response)


@pytest.mark.parametrize("tamper", TAMPERINGS.values(), ids=TAMPERINGS.keys())
def test_tampered_refresh_token_answers_401(client, pair, app_signer, tamper):
    response = client.post(REFRESH, json={"refresh_token": tamper(pair["refresh_token"], app_signer)})

    assert_challenged(response)


def test_tampered_tokens_all_get_the_same_answer(client, pair, app_signer):
    bodies = []
    for tamper in TAMPERINGS.values():
        body = client.get(ME, headers=bearer(tamper(pair["access_token"], app_signer))).json
        bodies.append({key: value for key, value in body.items() if key != "request_id"})

    assert all(body == bodies[0] for body in bodies)


def test_expired_access_token_answers_401(client, app_signer, user_id):
    token = issued_in_the_past(app_signer, 16 * 60, user_id, "access", role="manager")

    assert_challenged(client.get(ME, headers=bearer(token)))


def test_expired_refresh_token_answers_401(client, app_signer, user_id, settings):
    token = issued_in_the_past(app_signer, settings.refresh_token_days * 86400 + 60, user_id, "refresh")

    assert_challenged(client.post(REFRESH, json={"refresh_token": token}))


def test_refresh_token_used_as_access_token_answers_401(client, pair):
    assert_challenged(client.get(ME, headers=bearer(pair["refresh_token"])))


def test_access_token_used_as_refresh_token_answers_401(client, pair):
    assert_challenged(client.post(REFRESH, json={"refresh_token": pair["access_token"]}))


def test_missing_token_answers_401(client):
    assert_challenged(client.get(ME))


@pytest.mark.parametrize("header", ["Basic bWFuZHk6cHc=", "Bearer", "Bearer   ", "token-without-scheme"])
def test_malformed_authorization_header_answers_401(client, header):
    assert_challenged(client.get(ME, headers={"Authorization": header}))


def test_token_for_a_user_that_does_not_exist_answers_401(client, app_signer, user_id):
    assert_challenged(client.get(ME, headers=bearer(app_signer.issue(user_id + 1000, "access"))))


def test_token_signed_with_a_previous_key_is_accepted_by_the_api(client, user_id):
    old_token = signer_for(FORMER_SECRET).issue(user_id, "access", role="manager")

    response = client.get(ME, headers=bearer(old_token))

    assert response.status_code == 200
    assert response.json["id"] == user_id
    assert header_of(old_token)["kid"] == key_id(FORMER_SECRET)


def test_refresh_token_signed_with_a_previous_key_rotates_onto_the_current_key(client, user_id):
    old_refresh = signer_for(FORMER_SECRET).issue(user_id, "refresh")

    response = client.post(REFRESH, json={"refresh_token": old_refresh})

    assert response.status_code == 200
    assert header_of(response.json["access_token"])["kid"] == key_id(TEST_SECRET)
    assert header_of(response.json["refresh_token"])["kid"] == key_id(TEST_SECRET)


def test_token_signed_with_an_unlisted_key_is_refused_by_the_api(client, user_id):
    token = signer_for(UNLISTED_SECRET).issue(user_id, "access", role="manager")

    assert_challenged(client.get(ME, headers=bearer(token)))


# --- tokens issued before a password reset, disable or password change ---------------------------


@pytest.fixture
def authenticator(app):
    return app.extensions[EXTENSION_KEY].authenticator


def issued_at(signer: TokenSigner, instant: float, user_id: int) -> str:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tokens_module, "time", SimpleNamespace(time=lambda: instant))
        return signer.issue(user_id, "access")


def accepted_after_reset_at(authenticator, database, user_id: int, reset: float, token: str) -> bool:
    with database.session() as session:
        session.get(User, user_id).tokens_valid_after = datetime.fromtimestamp(reset, UTC)
        session.flush()
        try:
            authenticator.authenticate(session, token)
        except AuthFailed:
            return False
        return True


def test_token_issued_earlier_in_the_same_second_as_a_reset_is_refused(authenticator, app_signer, database, user_id):
    second = float(int(time.time()))
    token = issued_at(app_signer, second + 0.100, user_id)

    assert not accepted_after_reset_at(authenticator, database, user_id, second + 0.500, token)


def test_token_issued_later_in_the_same_second_as_a_reset_is_accepted(authenticator, app_signer, database, user_id):
    second = float(int(time.time()))
    token = issued_at(app_signer, second + 0.600, user_id)

    assert accepted_after_reset_at(authenticator, database, user_id, second + 0.500, token)
