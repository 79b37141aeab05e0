"""/api/v1/users: admins create, read, change and disable accounts; bad input is refused
whole with 4xx naming the field, never 5xx."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kpi_core.storage.models import Team, Technician, User
from kpi_core.testing.fixtures import TEST_PASSWORD

USERS = "/api/v1/users"
GOOD_PASSWORD = "plumbing-under-pressure-9"


@pytest.fixture
def make_technician(database):
    def make(ref: str = "T-1", name: str = "Tess Fixit") -> int:
        with database.session() as session:
            technician = Technician(external_ref=ref, name=name)
            session.add(technician)
            session.flush()
            return technician.id

    return make


@pytest.fixture
def make_team(database):
    def make(name: str = "North") -> int:
        with database.session() as session:
            team = Team(name=name)
            session.add(team)
            session.flush()
            return team.id

    return make


@pytest.fixture
def create(client, admin_headers):
    """``create(**fields)`` POSTs a manager "newbie" with a good password, overridden by ``fields``."""

    def do(**fields):
        body = {"username": "newbie", "password": GOOD_PASSWORD, "role": "manager", **fields}
        return client.post(USERS, json=body, headers=admin_headers)

    return do


@pytest.fixture
def admin_id(admin_headers, client) -> int:
    return client.get("/api/v1/auth/me", headers=admin_headers).json["id"]


def user_count(database) -> int:
    with database.session(write=False) as session:
        return session.scalar(select(func.count()).select_from(User))


def assert_error_shape(response, code: int) -> dict:
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.json
    assert {"code", "status", "message", "request_id"} <= set(body)
    assert body["code"] == code
    return body


def assert_422_naming(response, *fields: str) -> None:
    body = assert_error_shape(response, 422)
    assert set(fields) <= set(body["errors"]["json"]), body


# --- creating -------------------------------------------------------------------------------


def test_create_answers_201_with_the_account(create):
    response = create(display_name="New Bie")

    assert response.status_code == 201
    body = response.json
    assert (body["username"], body["role"], body["display_name"]) == ("newbie", "manager", "New Bie")
    assert body["disabled"] is False


def test_create_never_answers_the_password_or_its_hash(create):
    text = create().get_data(as_text=True)

    assert GOOD_PASSWORD not in text
    assert "password_hash" not in text
    assert "$argon2" not in text


def test_created_user_must_change_the_password_by_default(create):
    assert create().json["must_change_password"] is True


def test_create_can_skip_the_forced_password_change(create):
    assert create(must_change_password=False).json["must_change_password"] is False


def test_created_user_can_log_in(client, create):
    create(must_change_password=False)

    response = client.post("/api/v1/auth/login", json={"username": "newbie", "password": GOOD_PASSWORD})

    assert response.status_code == 200


def test_create_trims_the_username(create):
    assert create(username="  newbie ").json["username"] == "newbie"


def test_create_with_a_taken_username_answers_409_naming_it(create):
    create()

    body = assert_error_shape(create(), 409)

    assert "username" in body["errors"]["json"]


def test_create_manager_of_teams(create, make_team):
    make_team("North")
    make_team("South")

    assert create(teams=["South", "North"]).json["teams"] == ["North", "South"]


def test_create_manager_of_an_unknown_team_answers_422_naming_teams(create, database):
    before = user_count(database)

    assert_422_naming(create(teams=["Atlantis"]), "teams")
    assert user_count(database) == before


def test_only_managers_manage_teams(create, make_team):
    make_team("North")

    assert_422_naming(create(role="admin", teams=["North"]), "teams")


def test_create_technician_linked_to_a_technician_record(create, make_technician):
    technician_id = make_technician("T-1")

    assert create(role="technician", technician_ref="T-1").json["technician_id"] == technician_id


def test_create_technician_without_a_technician_record_answers_422_naming_it(create):
    assert_422_naming(create(role="technician"), "technician_ref")


def test_create_technician_with_an_unknown_record_answers_422_naming_it(create):
    assert_422_naming(create(role="technician", technician_ref="T-404"), "technician_ref")


def test_a_technician_record_has_at_most_one_user(create, make_technician):
    make_technician("T-1")
    create(role="technician", technician_ref="T-1")

    assert_422_naming(create(username="second", role="technician", technician_ref="T-1"), "technician_ref")


def test_only_technicians_are_linked_to_a_technician_record(create, make_technician):
    make_technician("T-1")

    assert_422_naming(create(role="manager", technician_ref="T-1"), "technician_ref")


# --- reading ------------------------------------------------------------------------------------


def test_list_answers_every_user_by_username(client, admin_headers, make_user):
    make_user("manager", username="zed")
    make_user("manager", username="bea")

    names = [user["username"] for user in client.get(USERS, headers=admin_headers).json]

    assert names == ["admin", "bea", "zed"]


def test_list_never_shows_password_hashes(client, admin_headers):
    assert "$argon2" not in client.get(USERS, headers=admin_headers).get_data(as_text=True)


def test_get_answers_one_user_with_teams(client, admin_headers, create, make_team):
    make_team("North")
    created = create(teams=["North"]).json

    body = client.get(f"{USERS}/{created['id']}", headers=admin_headers).json

    assert (body["username"], body["teams"]) == ("newbie", ["North"])


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", ""), ("PATCH", ""), ("POST", "/reset-password")], ids=["get", "patch", "reset"]
)
def test_unknown_user_answers_404_in_the_error_shape(client, admin_headers, method, suffix):
    headers = {**admin_headers, "If-Match": '"any"'} if method == "PATCH" else admin_headers
    response = client.open(f"{USERS}/999999{suffix}", method=method, headers=headers, json={})

    assert_error_shape(response, 404)


# --- changing -----------------------------------------------------------------------------------------


@pytest.fixture
def newbie(create) -> dict:
    return create(must_change_password=False).json


@pytest.fixture
def patch(client, admin_headers):
    def do(user_id: int, **fields):
        etag = client.get(f"{USERS}/{user_id}", headers=admin_headers).headers.get("ETag", '"none"')
        return client.patch(f"{USERS}/{user_id}", json=fields, headers={**admin_headers, "If-Match": etag})

    return do


def test_patch_changes_only_the_given_fields(patch, newbie):
    body = patch(newbie["id"], display_name="Newbie N.").json

    assert (body["display_name"], body["role"], body["disabled"]) == ("Newbie N.", "manager", False)


def test_patch_with_no_fields_changes_nothing(patch, newbie):
    body = patch(newbie["id"]).json

    assert {key: body[key] for key in newbie} == newbie


def test_patch_role_to_admin(patch, newbie):
    assert patch(newbie["id"], role="admin").json["role"] == "admin"


def test_patch_role_to_technician_needs_a_technician_record(patch, newbie):
    assert_422_naming(patch(newbie["id"], role="technician"), "technician_ref")


def test_patch_role_to_technician_with_a_record(patch, newbie, make_technician):
    technician_id = make_technician("T-1")

    body = patch(newbie["id"], role="technician", technician_ref="T-1").json

    assert (body["role"], body["technician_id"]) == ("technician", technician_id)


def test_patch_teams_of_a_manager(patch, newbie, make_team):
    make_team("North")

    assert patch(newbie["id"], teams=["North"]).json["teams"] == ["North"]


def test_a_manager_who_becomes_admin_stops_managing_teams(patch, newbie, make_team):
    make_team("North")
    patch(newbie["id"], teams=["North"])

    assert patch(newbie["id"], role="admin").json["teams"] == []


def test_an_admin_cannot_disable_their_own_account(patch, admin_id):
    assert_422_naming(patch(admin_id, disabled=True), "disabled")


def test_disable_answers_the_disabled_account(patch, newbie):
    assert patch(newbie["id"], disabled=True).json["disabled"] is True


# --- bad input ----------------------------------------------------------------------------------------


def test_malformed_json_answers_400_or_422_naming_the_body(client, admin_headers, database):
    before = user_count(database)

    response = client.post(USERS, data="{bad", content_type="application/json", headers=admin_headers)

    assert response.status_code in {400, 422}
    assert_error_shape(response, response.status_code)
    assert "json" in response.json["errors"]
    assert user_count(database) == before


def test_malformed_json_on_patch_answers_400_or_422(client, admin_headers, admin_id):
    etag = client.get(f"{USERS}/{admin_id}", headers=admin_headers).headers["ETag"]
    response = client.patch(
        f"{USERS}/{admin_id}", data="{bad", content_type="application/json", headers={**admin_headers, "If-Match": etag}
    )

    assert response.status_code in {400, 422}
    assert "json" in response.json["errors"]


def test_missing_fields_answer_422_naming_each(client, admin_headers):
    response = client.post(USERS, json={}, headers=admin_headers)

    assert_422_naming(response, "username", "password", "role")


def test_unknown_fields_answer_422_naming_them(create, database):
    before = user_count(database)

    assert_422_naming(create(salary=100, is_superuser=True), "salary", "is_superuser")
    assert user_count(database) == before


def test_unknown_fields_on_patch_answer_422_naming_them(patch, newbie):
    assert_422_naming(patch(newbie["id"], password_hash="$argon2id$forged"), "password_hash")


def test_unknown_role_answers_422_naming_role(create, database):
    before = user_count(database)

    assert_422_naming(create(role="superuser"), "role")
    assert user_count(database) == before


def test_unknown_role_on_patch_answers_422_naming_role(patch, newbie):
    assert_422_naming(patch(newbie["id"], role="owner"), "role")


@pytest.mark.parametrize(
    ("fields", "culprit"),
    [
        ({"role": 5}, "role"),
        ({"username": ["a"]}, "username"),
        ({"password": None}, "password"),
        ({"teams": "North"}, "teams"),
        ({"must_change_password": "maybe"}, "must_change_password"),
        ({"display_name": "x" * 201}, "display_name"),
        ({"username": ""}, "username"),
        ({"username": "   "}, "username"),
    ],
    ids=["role-int", "username-list", "password-null", "teams-string", "flag-string", "long-name", "empty", "blank"],
)
def test_wrongly_typed_fields_answer_422_naming_them(create, fields, culprit):
    assert_422_naming(create(**fields), culprit)


@pytest.mark.parametrize("body", [[], "newbie", 42, None], ids=["list", "string", "number", "null"])
def test_a_body_that_is_not_an_object_answers_4xx_never_5xx(client, admin_headers, body):
    response = client.post(USERS, json=body, headers=admin_headers)

    assert response.status_code in {400, 422}
    assert_error_shape(response, response.status_code)


def test_a_request_without_a_body_answers_422(client, admin_headers):
    assert client.post(USERS, headers=admin_headers).status_code == 422


def test_disabling_via_patch_needs_a_boolean(patch, newbie):
    assert_422_naming(patch(newbie["id"], disabled="yes please"), "disabled")


def test_login_with_malformed_json_answers_400_or_422(client):
    response = client.post("/api/v1/auth/login", data="{bad", content_type="application/json")

    assert response.status_code in {400, 422}
    assert "json" in response.json["errors"]


def test_login_with_missing_fields_answers_422_naming_them(client):
    assert_422_naming(client.post("/api/v1/auth/login", json={}), "username", "password")


def test_login_with_unknown_fields_answers_422_naming_them(client):
    response = client.post("/api/v1/auth/login", json={"username": "a", "password": TEST_PASSWORD, "otp": "1"})

    assert_422_naming(response, "otp")


def test_patch_without_if_match_answers_428_and_with_a_stale_etag_412(client, admin_headers, admin_id):
    path = f"{USERS}/{admin_id}"
    stale = client.get(path, headers=admin_headers).headers["ETag"]
    assert client.patch(path, json={"display_name": "A"}, headers=admin_headers).status_code == 428
    assert (
        client.patch(path, json={"display_name": "A"}, headers={**admin_headers, "If-Match": stale}).status_code == 200
    )
    assert (
        client.patch(path, json={"display_name": "B"}, headers={**admin_headers, "If-Match": stale}).status_code == 412
    )
