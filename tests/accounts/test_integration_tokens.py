"""Integration tokens (issue #18): made by admins with a role, scope and expiry, shown once, stored
hashed, listed with their last use, revocable at once, every use kept; accepted as a Bearer token."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from kpi_core.storage.models import (
    AuditEntry,
    IntegrationToken,
    IntegrationTokenUse,
    Team,
    Technician,
    User,
)
from kpi_core.storage.types import utcnow

URL = "/api/v1/integration-tokens"


@pytest.fixture
def admin(make_user, login) -> dict[str, str]:
    make_user("admin", username="owner")
    return login("owner")


@pytest.fixture
def teams(database) -> dict[str, int]:
    """Teams North and South, each with one technician (T-N and T-S)."""
    with database.session() as session:
        north, south = Team(name="North"), Team(name="South")
        session.add_all([north, south])
        session.flush()
        session.add_all(
            [
                Technician(external_ref="T-N", name="Nia North", team_id=north.id),
                Technician(external_ref="T-S", name="Sam South", team_id=south.id),
            ]
        )
        return {"North": north.id, "South": south.id}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make(client, admin, **body):
    body = {"name": "Nightly job import", "role": "admin", "preset": "imports", **body}
    return client.post(URL, json=body, headers=admin)


def count(database, model) -> int:
    with database.session(write=False) as session:
        return session.scalar(select(func.count()).select_from(model))


def audit(database, **where) -> list[AuditEntry]:
    with database.session(write=False) as session:
        statement = select(AuditEntry).filter_by(**where).order_by(AuditEntry.id)
        return list(session.scalars(statement))


# --- making, listing, revoking ---------------------------------------------------------


def test_an_admin_makes_a_token_and_is_shown_it_once(client, admin):
    response = make(client, admin)

    assert response.status_code == 201, response.json
    made = response.json
    assert made["token"].startswith(f"kpi_{made['prefix']}_")
    assert len(made["token"]) >= 50
    assert made | {"token": None} == made | {
        "token": None,
        "name": "Nightly job import",
        "role": "admin",
        "scope": ["imports.run"],
        "preset": "imports",
        "status": "active",
        "teams": [],
        "created_by": "owner",
        "last_used_at": None,
        "revoked_at": None,
        "username": f"token:{made['prefix']}",
    }
    listed = client.get(URL, headers=admin)
    one = client.get(f"{URL}/{made['id']}", headers=admin)
    for answer in (listed, one):
        assert answer.status_code == 200
        assert made["token"] not in answer.get_data(as_text=True)
        assert made["token"].split("_", 2)[2] not in answer.get_data(as_text=True)
    assert "token" not in one.json
    assert [row["prefix"] for row in listed.json] == [made["prefix"]]


def test_the_token_is_stored_only_as_its_sha256_hash(client, admin, database):
    made = make(client, admin).json
    secret = made["token"].split("_", 2)[2]

    with database.session(write=False) as session:
        row = session.get(IntegrationToken, made["id"])
        user = session.get(User, row.user_id)
        stored = [str(getattr(row, column.key)) for column in IntegrationToken.__table__.columns]
        stored += [str(getattr(user, column.key)) for column in User.__table__.columns]

    assert row.secret_hash == hashlib.sha256(made["token"].encode()).hexdigest()
    assert not [value for value in stored if secret in value]


def test_a_token_expires_in_90_days_unless_told(client, admin):
    made = make(client, admin).json

    created, expires = (made[name] for name in ("created_at", "expires_at"))
    assert datetime.fromisoformat(expires) - datetime.fromisoformat(created) == timedelta(days=90)


def test_a_token_is_accepted_as_a_bearer_token(client, admin):
    token = make(client, admin, preset="read_kpis").json["token"]

    response = client.get("/api/v1/kpis", headers=bearer(token))

    assert response.status_code == 200, response.json


def test_the_list_shows_the_last_use(client, admin):
    made = make(client, admin).json
    before = utcnow()

    client.get("/api/v1/imports/jobs/columns", headers=bearer(made["token"]))

    listed = client.get(URL, headers=admin).json[0]
    assert listed["last_used_at"] is not None
    assert datetime.fromisoformat(listed["last_used_at"]) >= before


def test_revoking_stops_the_token_at_once(client, admin):
    made = make(client, admin).json
    assert client.get("/api/v1/imports/jobs/columns", headers=bearer(made["token"])).status_code == 200

    revoked = client.delete(f"{URL}/{made['id']}", headers=admin)
    response = client.get("/api/v1/imports/jobs/columns", headers=bearer(made["token"]))

    assert revoked.status_code == 200
    assert revoked.json["status"] == "revoked"
    assert revoked.json["revoked_by"] == "owner"
    assert response.status_code == 401
    assert "revoked" in response.json["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_stays_listed_and_revoking_it_again_changes_nothing(client, admin, database):
    made = make(client, admin).json
    first = client.delete(f"{URL}/{made['id']}", headers=admin).json

    again = client.delete(f"{URL}/{made['id']}", headers=admin)

    assert again.status_code == 200
    assert again.json["revoked_at"] == first["revoked_at"]
    assert [row["status"] for row in client.get(URL, headers=admin).json] == ["revoked"]
    assert len(audit(database, entity="integration_token", action="revoke")) == 1


def test_an_expired_token_is_refused_with_401(client, make_token):
    token, _token_id = make_token(preset="imports", expired=True)

    response = client.get("/api/v1/imports/jobs/columns", headers=bearer(token))

    assert response.status_code == 401
    assert "expired" in response.json["message"]


@pytest.mark.parametrize(
    "alter",
    [
        pytest.param(lambda text: text[:-1] + ("A" if text[-1] != "A" else "B"), id="secret changed"),
        pytest.param(lambda text: "kpi_000000000000_" + text.split("_", 2)[2], id="unknown prefix"),
        pytest.param(lambda text: text.rsplit("_", 1)[0] if text.count("_") > 2 else "kpi_", id="secret cut"),
        pytest.param(lambda _text: "kpi_", id="empty"),
    ],
)
def test_an_unknown_or_altered_token_is_refused_and_its_use_not_pinned_on_a_token(client, database, make_token, alter):
    token, _token_id = make_token(preset="imports")

    response = client.get("/api/v1/imports/jobs/columns", headers=bearer(alter(token)))

    assert response.status_code == 401
    assert response.json["message"] == "invalid integration token"
    assert count(database, IntegrationTokenUse) == 0


def test_a_token_beyond_its_scope_is_403_naming_the_permission_and_writes_nothing(client, database, make_token):
    token, _token_id = make_token(preset="imports")

    response = client.post("/api/v1/teams", json={"name": "East"}, headers=bearer(token))

    assert response.status_code == 403
    assert '"Create, rename and delete teams" (permission teams.manage)' in response.json["message"]
    assert count(database, Team) == 0


# --- every use is kept ---------------------------------------------------------------------


def test_every_use_is_kept_with_its_operation_answer_and_time(client, admin, database):
    made = make(client, admin).json
    token = bearer(made["token"])

    allowed = client.get("/api/v1/imports/jobs/columns", headers=token)
    refused = client.get("/api/v1/jobs", headers=token)
    client.delete(f"{URL}/{made['id']}", headers=admin)
    after = client.get("/api/v1/imports/jobs/columns", headers=token)

    listed = client.get(f"{URL}/{made['id']}/uses", headers=admin)
    assert listed.status_code == 200
    assert [(use["method"], use["path"], use["permission"], use["status"]) for use in listed.json] == [
        ("GET", "/api/v1/imports/jobs/columns", "imports.run", 401),
        ("GET", "/api/v1/jobs", "jobs.read", 403),
        ("GET", "/api/v1/imports/jobs/columns", "imports.run", 200),
    ]
    assert [use["request_id"] for use in listed.json] == [
        answer.headers["X-Request-ID"] for answer in (after, refused, allowed)
    ]
    assert all(use["at"] and use["ip"] for use in listed.json)


def test_changes_made_with_a_token_are_audited_under_the_token(client, admin, database):
    made = make(client, admin, preset="sync_records").json

    created = client.post(
        "/api/v1/customers", json={"external_ref": "C-9", "name": "Ada Client"}, headers=bearer(made["token"])
    )

    assert created.status_code == 201, created.json
    [entry] = audit(database, entity="customer", action="create")
    assert entry.username == f"token:{made['prefix']}"
    with database.session(write=False) as session:
        assert entry.user_id == session.get(IntegrationToken, made["id"]).user_id


def test_making_and_revoking_a_token_are_audited_without_its_secret(client, admin, database):
    made = make(client, admin, preset="read_kpis").json
    client.delete(f"{URL}/{made['id']}", headers=admin)

    entries = audit(database, entity="integration_token", entity_id=str(made["id"]))

    assert [(entry.action, entry.username) for entry in entries] == [("create", "owner"), ("revoke", "owner")]
    assert entries[0].changes["scope"] == [
        None,
        ["kpis.read", "reports.read", "targets.read", "teams.read", "technicians.read"],
    ]
    assert entries[0].changes["prefix"] == [None, made["prefix"]]
    secret = made["token"].split("_", 2)[2]
    assert not [entry for entry in entries if secret in str(entry.changes) or "secret_hash" in entry.changes]


# --- roles and teams -------------------------------------------------------------------------


def test_a_manager_token_sees_only_its_teams(client, admin, teams):
    made = make(client, admin, role="manager", teams=["North"], preset="read_kpis").json

    listed = client.get("/api/v1/technicians", headers=bearer(made["token"]))

    assert made["teams"] == ["North"]
    assert listed.status_code == 200
    assert [row["external_ref"] for row in listed.json] == ["T-N"]


def test_a_manager_token_with_every_permission_of_its_role_cannot_do_an_admins_work(client, admin, teams):
    token = make(client, admin, role="manager", teams=["North"], preset="read_only").json["token"]

    response = client.get("/api/v1/users", headers=bearer(token))

    assert response.status_code == 403
    assert "Your role (manager) cannot do this" in response.json["message"]


def test_no_token_makes_or_revokes_tokens(client, admin, make_token):
    token, token_id = make_token(preset="read_only")

    listed = client.get(URL, headers=bearer(token))
    revoked = client.delete(f"{URL}/{token_id}", headers=bearer(token))

    assert (listed.status_code, revoked.status_code) == (403, 403)
    assert "tokens are created and revoked by an admin who is logged in" in revoked.json["message"]


def test_a_token_cannot_log_in_and_is_not_one_of_the_users(client, admin, database):
    made = make(client, admin).json
    with database.session(write=False) as session:
        user_id = session.get(IntegrationToken, made["id"]).user_id

    login = client.post("/api/v1/auth/login", json={"username": made["username"], "password": made["token"]})
    users = client.get("/api/v1/users", headers=admin)
    one = client.get(f"/api/v1/users/{user_id}", headers=admin)
    reset = client.post(f"/api/v1/users/{user_id}/reset-password", headers=admin)

    assert login.status_code == 401
    assert [user["username"] for user in users.json] == ["owner"]
    assert (one.status_code, reset.status_code) == (404, 404)


def test_a_person_cannot_take_a_token_username(client, admin):
    response = client.post(
        "/api/v1/users",
        json={"username": "token:abc123abc123", "password": "correct-horse-staple-42", "role": "admin"},
        headers=admin,
    )

    assert response.status_code == 422
    assert "username" in response.json["errors"]["json"]


def test_two_active_tokens_cannot_share_a_name(client, admin):
    make(client, admin)

    response = make(client, admin)

    assert response.status_code == 409
    assert "name" in response.json["errors"]["json"]


def test_the_scopes_offer_presets_in_words_and_each_permission_a_token_may_have(client, admin):
    scopes = client.get(f"{URL}/scopes", headers=admin).json

    imports = next(preset for preset in scopes["presets"] if preset["key"] == "imports")
    assert imports["label"] == "Import jobs and feedback"
    assert imports["permissions"] == {"admin": ["imports.run"], "manager": ["imports.run"]}
    offered = {permission["key"]: permission["roles"] for permission in scopes["permissions"]}
    assert offered["users.manage"] == ["admin"]
    assert offered["jobs.read"] == ["admin", "manager"]
    assert "account.self" not in offered
    assert "integration_tokens.manage" not in offered


# --- bad input: a 422 naming the field, nothing made ----------------------------------------------

BAD_INPUT = [
    pytest.param({"name": None}, "name", id="missing name"),
    pytest.param({"name": "   "}, "name", id="blank name"),
    pytest.param({"preset": None, "scope": ["jobs.read", "jobs.fly"]}, "scope", id="unknown permission"),
    pytest.param(
        {"role": "manager", "teams": ["North"], "preset": None, "scope": ["users.manage"]},
        "scope",
        id="permission beyond the role",
    ),
    pytest.param({"preset": None, "scope": ["account.self"]}, "scope", id="a person's permission"),
    pytest.param({"preset": None, "scope": ["integration_tokens.manage"]}, "scope", id="making tokens"),
    pytest.param({"preset": None, "scope": []}, "scope", id="empty scope"),
    pytest.param({"preset": None}, "scope", id="no scope at all"),
    pytest.param({"scope": ["jobs.read"]}, "preset", id="preset and scope both"),
    pytest.param({"preset": "everything"}, "preset", id="unknown preset"),
    pytest.param({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at", id="expiry in the past"),
    pytest.param({"expires_at": "2999-01-01T00:00:00Z"}, "expires_at", id="expiry too far"),
    pytest.param({"expires_at": "2027-01-01T00:00:00"}, "expires_at", id="expiry without a zone"),
    pytest.param({"role": "technician"}, "role", id="technician role"),
    pytest.param({"role": "owner"}, "role", id="unknown role"),
    pytest.param({"role": "manager"}, "teams", id="manager without teams"),
    pytest.param({"role": "manager", "teams": ["Atlantis"]}, "teams", id="unknown team"),
    pytest.param({"teams": ["North"]}, "teams", id="admin with teams"),
    pytest.param({"token": "kpi_mine"}, "token", id="choosing the token"),
]


@pytest.mark.parametrize(("change", "field"), BAD_INPUT)
def test_bad_input_is_a_422_naming_the_field_and_makes_nothing(client, admin, database, teams, change, field):
    body = {"name": "Nightly job import", "role": "admin", "preset": "imports", **change}
    body = {name: value for name, value in body.items() if value is not None}

    response = client.post(URL, json=body, headers=admin)

    assert response.status_code == 422, response.json
    assert list(response.json["errors"]["json"]) == [field]
    assert count(database, IntegrationToken) == 0
    assert count(database, User) == 1
    assert audit(database, entity="integration_token") == []


def test_the_technician_role_is_refused_saying_why(client, admin):
    response = make(client, admin, role="technician")

    assert "a technician sees only their own jobs" in response.json["errors"]["json"]["role"][0]
