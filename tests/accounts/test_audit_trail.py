"""The audit trail: one entry per state change with who, when, what and the field diff,
written in the change's own transaction, readable by admins only, never editable, and
its hash chain checked by `kpi audit verify`. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select, update

import kpi_core.web.users_api as users_api
from kpi_core.audit.trail import entry_hash
from kpi_core.cli import cli
from kpi_core.storage.models import AuditEntry, User
from kpi_core.testing.fixtures import TEST_PASSWORD, TEST_SECRET

AUDIT = "/api/v1/audit"
USERS = "/api/v1/users"
CLIENT_IP = "10.1.2.3"
NEW_USER = {"username": "newbie", "password": "plumbing-under-pressure-9", "role": "manager"}


# --- helpers ---------------------------------------------------------------------------------


def audit_entries(database) -> list[AuditEntry]:
    with database.session(write=False) as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def audit_count(database) -> int:
    with database.session(write=False) as session:
        return session.scalar(select(func.count()).select_from(AuditEntry))


def user_named(database, username: str) -> User | None:
    with database.session(write=False) as session:
        return session.scalar(select(User).where(User.username == username))


@pytest.fixture
def admin_id(admin_headers, database) -> int:
    return user_named(database, "admin").id


@pytest.fixture
def call(client, admin_headers):
    """``call(method, path, json=...)`` as the admin, from CLIENT_IP, with a known request id."""

    def do(method: str, path: str, headers: dict | None = None, **kwargs):
        if method == "PATCH":  # updates need the record's current ETag
            etag = client.get(path, headers=admin_headers).headers.get("ETag", '"none"')
            headers = {"If-Match": etag, **(headers or {})}
        return client.open(
            path,
            method=method,
            headers={**admin_headers, "X-Request-ID": "audit-request-0001", **(headers or {})},
            environ_base={"REMOTE_ADDR": CLIENT_IP},
            **kwargs,
        )

    return do


@pytest.fixture
def new_user(call) -> dict:
    response = call("POST", USERS, json=NEW_USER)
    assert response.status_code == 201, response.json
    return response.json


@pytest.fixture
def recorded(database):
    """``with recorded() as new: ...`` collects the entries written inside the block."""

    class Recorder:
        def __enter__(self) -> list[AuditEntry]:
            self.before = audit_count(database)
            self.new: list[AuditEntry] = []
            return self.new

        def __exit__(self, *exc_info) -> None:
            self.new.extend(audit_entries(database)[self.before :])

    return Recorder


def assert_error_shape(response, code: int) -> dict:
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.json
    assert {"code", "status", "message", "request_id"} <= set(body)
    assert body["code"] == code
    return body


# --- what an entry says ------------------------------------------------------------------------


def test_creating_a_user_writes_one_entry(call, recorded):
    with recorded() as new:
        call("POST", USERS, json=NEW_USER)

    assert [(entry.action, entry.entity) for entry in new] == [("create", "user")]


def test_entry_names_who_acted(call, recorded, admin_id):
    with recorded() as new:
        call("POST", USERS, json=NEW_USER)

    assert (new[0].user_id, new[0].username) == (admin_id, "admin")


def test_entry_names_the_entity_changed(call, recorded):
    with recorded() as new:
        created = call("POST", USERS, json=NEW_USER).json

    assert (new[0].entity, new[0].entity_id) == ("user", str(created["id"]))


def test_entry_records_when(call, recorded):
    started = datetime.now(UTC)
    with recorded() as new:
        call("POST", USERS, json=NEW_USER)

    assert started - timedelta(seconds=1) <= new[0].at <= datetime.now(UTC) + timedelta(seconds=1)


def test_entry_records_the_request_id_answered_in_x_request_id(call, recorded):
    with recorded() as new:
        response = call("POST", USERS, json=NEW_USER)

    assert new[0].request_id == response.headers["X-Request-ID"] == "audit-request-0001"


def test_entry_records_a_generated_request_id_too(call, recorded):
    with recorded() as new:
        response = call("POST", USERS, json=NEW_USER, headers={"X-Request-ID": ""})

    assert new[0].request_id == response.headers["X-Request-ID"]
    assert len(new[0].request_id) == 32


def test_entry_records_the_client_ip(call, recorded):
    with recorded() as new:
        call("POST", USERS, json=NEW_USER)

    assert new[0].ip == CLIENT_IP


def test_creation_diff_has_no_before(call, recorded):
    with recorded() as new:
        call("POST", USERS, json=NEW_USER)

    changes = new[0].changes
    assert changes["username"] == [None, "newbie"]
    assert changes["role"] == [None, "manager"]


def test_entries_never_hold_a_password_or_its_hash(call, recorded, database):
    with recorded() as new:
        created = call("POST", USERS, json=NEW_USER).json
        temporary = call("POST", f"{USERS}/{created['id']}/reset-password").json["temporary_password"]

    stored_hash = user_named(database, "newbie").password_hash
    for entry in new:
        text = str(entry.changes)
        assert "password_hash" not in text
        assert NEW_USER["password"] not in text
        assert temporary not in text
        assert stored_hash not in text


def test_update_diff_holds_only_the_changed_fields(call, new_user, recorded):
    with recorded() as new:
        call("PATCH", f"{USERS}/{new_user['id']}", json={"display_name": "Newbie N.", "role": "manager"})

    assert [entry.action for entry in new] == ["update"]
    assert new[0].changes == {"display_name": [None, "Newbie N."]}


def test_disabling_a_user_records_the_flag_before_and_after(call, new_user, recorded):
    with recorded() as new:
        call("PATCH", f"{USERS}/{new_user['id']}", json={"disabled": True})

    assert new[0].changes == {"disabled": [False, True]}


def test_reset_password_writes_one_entry_with_the_flag_before_and_after(call, recorded):
    created = call("POST", USERS, json={**NEW_USER, "must_change_password": False}).json

    with recorded() as new:
        call("POST", f"{USERS}/{created['id']}/reset-password")

    assert [(entry.action, entry.entity_id) for entry in new] == [("reset_password", str(created["id"]))]
    assert new[0].changes == {"must_change_password": [False, True]}


def test_login_writes_one_entry_for_the_user(client, make_user, recorded):
    user_id = make_user("manager", username="mandy")

    with recorded() as new:
        client.post("/api/v1/auth/login", json={"username": "mandy", "password": TEST_PASSWORD})

    assert [(entry.action, entry.user_id, entry.username) for entry in new] == [("login", user_id, "mandy")]


def test_failed_login_writes_no_entry(client, make_user, recorded):
    make_user("manager", username="mandy")

    with recorded() as new:
        client.post("/api/v1/auth/login", json={"username": "mandy", "password": "not-the-password-at-all"})

    assert new == []


def test_refresh_writes_one_entry(client, make_user, recorded):
    make_user("manager", username="mandy")
    pair = client.post("/api/v1/auth/login", json={"username": "mandy", "password": TEST_PASSWORD}).json

    with recorded() as new:
        client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})

    assert [entry.action for entry in new] == ["refresh"]


def test_logout_writes_one_entry(client, admin_headers, admin_id, recorded):
    with recorded() as new:
        client.post("/api/v1/auth/logout", headers=admin_headers)

    assert [(entry.action, entry.user_id) for entry in new] == [("logout", admin_id)]


def test_changing_ones_own_password_writes_one_entry_without_the_password(client, admin_headers, recorded):
    with recorded() as new:
        client.post(
            "/api/v1/auth/password",
            json={"current_password": TEST_PASSWORD, "new_password": "a-brand-new-passphrase-77"},
            headers=admin_headers,
        )

    assert [entry.action for entry in new] == ["change_password"]
    assert "a-brand-new-passphrase-77" not in str(new[0].changes)


def test_reads_write_no_entry(call, new_user, recorded):
    with recorded() as new:
        call("GET", USERS)
        call("GET", f"{USERS}/{new_user['id']}")
        call("GET", AUDIT)

    assert new == []


def test_each_entry_chains_to_the_previous_one(call, new_user, database):
    call("PATCH", f"{USERS}/{new_user['id']}", json={"display_name": "Newbie N."})

    entries = audit_entries(database)
    assert entries[0].prev_hash is None
    for previous, entry in itertools.pairwise(entries):
        assert entry.prev_hash == previous.hash
        assert entry.hash == entry_hash(entry)


# --- atomicity ----------------------------------------------------------------------------------


def test_rejected_creation_writes_no_entry_and_no_user(call, recorded, database):
    with recorded() as new:
        response = call("POST", USERS, json={**NEW_USER, "password": "short-pw"})

    assert response.status_code == 422
    assert new == []
    assert user_named(database, "newbie") is None


def test_update_rejected_half_way_changes_nothing(call, new_user, recorded, database):
    # display_name and role are applied before the missing technician link is noticed.
    with recorded() as new:
        response = call("PATCH", f"{USERS}/{new_user['id']}", json={"display_name": "Half", "role": "technician"})

    assert response.status_code == 422
    assert new == []
    user = user_named(database, "newbie")
    assert (user.display_name, user.role) == (None, "manager")


def test_update_with_an_unknown_field_writes_no_entry(call, new_user, recorded):
    with recorded() as new:
        response = call("PATCH", f"{USERS}/{new_user['id']}", json={"display_name": "X", "salary": 1})

    assert response.status_code == 422
    assert new == []


@pytest.fixture
def crash_after_recording(monkeypatch):
    """Makes the users API fail after the service has changed the user and recorded the entry."""

    def crash(_user):
        raise RuntimeError("failure after the audit entry was added")

    monkeypatch.setattr(users_api, "_detail", crash)


def test_failure_after_recording_answers_500_in_the_error_shape(call, crash_after_recording):
    body = assert_error_shape(call("POST", USERS, json=NEW_USER), 500)

    assert "audit entry" not in body["message"]


def test_failure_after_recording_leaves_neither_the_user_nor_the_entry(call, recorded, database, crash_after_recording):
    with recorded() as new:
        call("POST", USERS, json=NEW_USER)

    assert new == []
    assert user_named(database, "newbie") is None


def test_failed_update_after_recording_leaves_the_user_unchanged(call, new_user, recorded, database, monkeypatch):
    monkeypatch.setattr(users_api, "_detail", lambda _user: 1 / 0)

    with recorded() as new:
        response = call("PATCH", f"{USERS}/{new_user['id']}", json={"display_name": "Lost"})

    assert response.status_code == 500
    assert new == []
    assert user_named(database, "newbie").display_name is None


# --- reading the trail ---------------------------------------------------------------------------


def test_audit_is_readable_by_admins(call):
    response = call("GET", AUDIT)

    assert response.status_code == 200
    assert {"action", "entity", "entity_id", "changes", "user_id", "username", "at", "request_id", "ip"} <= set(
        response.json[0]
    )


def test_audit_is_refused_to_managers(client, make_user, login):
    make_user("manager", username="mandy")

    assert client.get(AUDIT, headers=login("mandy")).status_code == 403


def test_audit_is_refused_without_a_token(client):
    assert client.get(AUDIT).status_code == 401


def test_audit_lists_newest_first(call, new_user):
    ids = [entry["id"] for entry in call("GET", AUDIT).json]

    assert ids == sorted(ids, reverse=True)


def test_audit_filters_by_user(client, call, make_user, login):
    make_user("manager", username="mandy")
    login("mandy")

    entries = call("GET", AUDIT, query_string={"user": "mandy"}).json

    assert entries and {entry["username"] for entry in entries} == {"mandy"}


def test_audit_filters_by_entity_and_id(call, new_user):
    call("POST", USERS, json={**NEW_USER, "username": "second"})

    entries = call("GET", AUDIT, query_string={"entity": "user", "entity_id": str(new_user["id"])}).json

    assert [entry["action"] for entry in entries] == ["create"]


def test_audit_filters_by_an_unknown_entity_to_nothing(call, new_user):
    assert call("GET", AUDIT, query_string={"entity": "spaceship"}).json == []


@pytest.fixture
def three_creations(call) -> list[dict]:
    """The audit entries of three user creations, oldest first."""
    for name in ("first", "second", "third"):
        call("POST", USERS, json={**NEW_USER, "username": name})
    return list(reversed(call("GET", AUDIT, query_string={"action": "create", "entity": "user"}).json))[-3:]


def test_audit_since_includes_the_given_instant_and_later(call, three_creations):
    middle = three_creations[1]

    entries = call("GET", AUDIT, query_string={"since": middle["at"], "action": "create"}).json

    assert {entry["id"] for entry in entries} == {three_creations[1]["id"], three_creations[2]["id"]}


def test_audit_until_excludes_the_given_instant(call, three_creations):
    middle = three_creations[1]

    entries = call("GET", AUDIT, query_string={"until": middle["at"], "action": "create"}).json

    ids = {entry["id"] for entry in entries}
    assert three_creations[0]["id"] in ids
    assert ids.isdisjoint({three_creations[1]["id"], three_creations[2]["id"]})


def test_audit_time_filters_respect_the_zone(call, three_creations):
    middle = datetime.fromisoformat(three_creations[1]["at"])
    in_new_york_winter = middle.astimezone(timezone(timedelta(hours=-5))).isoformat()

    entries = call("GET", AUDIT, query_string={"since": in_new_york_winter, "action": "create"}).json

    assert {entry["id"] for entry in entries} == {three_creations[1]["id"], three_creations[2]["id"]}


def test_audit_refuses_a_time_without_a_zone_naming_it(call):
    response = call("GET", AUDIT, query_string={"since": "2026-01-01T00:00:00"})

    assert response.status_code == 422
    assert "since" in response.json["errors"]["query"]


def test_audit_is_paginated_with_x_pagination(call, three_creations):
    response = call("GET", AUDIT, query_string={"page": 1, "page_size": 2})

    assert len(response.json) == 2
    assert "X-Pagination" in response.headers
    assert '"total"' in response.headers["X-Pagination"]


def test_audit_second_page_continues_the_first(call, three_creations):
    first = call("GET", AUDIT, query_string={"page": 1, "page_size": 2}).json
    second = call("GET", AUDIT, query_string={"page": 2, "page_size": 2}).json

    assert second and second[0]["id"] < first[-1]["id"]


# --- nothing edits or deletes it ---------------------------------------------------------------------


def test_openapi_offers_no_way_to_change_audit_entries(client):
    paths = client.get("/api/openapi.json").json["paths"]

    audit_methods = {method for path, item in paths.items() if path.startswith(AUDIT) for method in item}
    assert audit_methods & {"put", "patch", "delete", "post"} == set()


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH"])
def test_changing_an_audit_entry_answers_404_or_405_in_the_error_shape(call, method):
    response = call(method, f"{AUDIT}/1", json={})

    assert response.status_code in {404, 405}
    assert_error_shape(response, response.status_code)


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH", "POST"])
def test_changing_the_audit_collection_answers_405_in_the_error_shape(call, method):
    assert_error_shape(call(method, AUDIT, json={}), 405)


# --- kpi audit verify ----------------------------------------------------------------------------------


@pytest.fixture
def verify(database_url):
    def run():
        env = {"KPI_DATABASE_URL": database_url, "KPI_SECRET_KEY": TEST_SECRET}
        return CliRunner().invoke(cli, ["audit", "verify"], env=env)

    return run


@pytest.fixture
def six_entries(call, database) -> list[int]:
    for name in ("first", "second", "third", "fourth"):
        call("POST", USERS, json={**NEW_USER, "username": name})
    ids = [entry.id for entry in audit_entries(database)]
    assert len(ids) == 6  # the admin's creation and login, and four creations
    return ids


def test_verify_reports_an_intact_trail(six_entries, verify):
    result = verify()

    assert result.exit_code == 0, result.output
    assert "intact" in result.output
    assert "6 entries" in result.output


def test_verify_reports_an_empty_trail_as_intact(database, verify):
    result = verify()

    assert result.exit_code == 0, result.output


def test_verify_names_an_edited_entry(six_entries, verify, database):
    edited = six_entries[2]
    with database.engine.begin() as connection:
        connection.execute(
            update(AuditEntry.__table__).where(AuditEntry.__table__.c.id == edited).values(action="delete")
        )

    result = verify()

    assert result.exit_code == 1
    assert f"entry {edited}" in result.output
    assert "Traceback" not in result.output


def test_verify_names_an_entry_whose_diff_was_edited(six_entries, verify, database):
    edited = six_entries[1]
    with database.engine.begin() as connection:
        connection.execute(
            update(AuditEntry.__table__)
            .where(AuditEntry.__table__.c.id == edited)
            .values(changes={"role": [None, "admin"]})
        )

    result = verify()

    assert result.exit_code == 1
    assert f"entry {edited}" in result.output


def test_verify_names_where_an_entry_was_deleted_from_the_middle(six_entries, verify, database):
    removed, following = six_entries[2], six_entries[3]
    with database.engine.begin() as connection:
        connection.execute(delete(AuditEntry.__table__).where(AuditEntry.__table__.c.id == removed))

    result = verify()

    assert result.exit_code == 1
    assert f"entry {following}" in result.output
    assert "removed" in result.output
