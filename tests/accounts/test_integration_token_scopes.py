"""The scope matrix: every operation of the OpenAPI document, called with integration tokens.

A token may do only what its scope names: an operation whose permission the
scope leaves out answers 403 naming that permission, a revoked or expired
token answers 401, and neither writes anything (the use itself is kept). A
token given exactly the operation's permission is let through; a manager
token is still bounded by its role. The operations are enumerated as in
tests/test_permissions_matrix.py, from the app's own OpenAPI document.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import MetaData, select

from kpi_core.accounts.permissions import PERMISSIONS, ROLE_PERMISSIONS
from kpi_core.accounts.token_scopes import PERSONAL, grantable
from kpi_core.storage.models import Customer, Feedback, IntegrationTokenUse, Job, Team, Technician
from kpi_core.storage.types import utcnow
from kpi_core.web.access import PERMISSION_EXTENSION, PUBLIC
from tests.test_permissions_matrix import BODY_METHODS, OPERATIONS

GUARDED = [
    (method, path, operation[PERMISSION_EXTENSION])
    for method, path, operation in OPERATIONS
    if operation.get(PERMISSION_EXTENSION) != PUBLIC
]
GUARDED_IDS = [f"{method} {path}" for method, path, _permission in GUARDED]
# Rows that a refused request may leave: the record of its use, and the token's last use.
USE_LOG = {"integration_token_uses"}
TOKEN_TABLE = "integration_tokens"


@pytest.fixture(scope="module")
def tables(database) -> MetaData:
    """Every table of the database (the plugins' included), read from the database itself."""
    metadata = MetaData()
    metadata.reflect(database.engine)
    return metadata


@pytest.fixture
def contents(database, tables):
    """``contents()`` -> every row of every table, but the token uses and the tokens' last use."""

    def read() -> dict[str, list[str]]:
        found = {}
        with database.engine.connect() as connection:
            for table in tables.sorted_tables:
                if table.name in USE_LOG:
                    continue
                columns = [column for column in table.columns if column.name != "last_used_at"]
                found[table.name] = sorted(repr(tuple(row)) for row in connection.execute(select(*columns)))
        return found

    return read


@pytest.fixture
def records(database, make_user) -> dict[str, Any]:
    """A record of each kind a path names, so a refused change or delete has something to spare."""
    admin_id = make_user("admin", username="owner")
    now = utcnow()
    with database.session() as session:
        team = Team(name="North")
        session.add(team)
        session.flush()
        technician = Technician(external_ref="T-1", name="Tess Fixit", team_id=team.id)
        customer = Customer(external_ref="C-1", name="Ada Client")
        session.add_all([technician, customer])
        session.flush()
        job = Job(
            external_ref="J-1",
            technician_id=technician.id,
            customer_id=customer.id,
            category="plumbing",
            status="completed",
            scheduled_start=now,
            completed_at=now,
        )
        session.add(job)
        session.flush()
        feedback = Feedback(job_id=job.id, rating=5, received_at=now)
        session.add(feedback)
        session.flush()
        return {
            "user_id": admin_id,
            "team_id": team.id,
            "technician_id": technician.id,
            "customer_id": customer.id,
            "job_id": job.id,
            "feedback_id": feedback.id,
            "metric_key": "quality.first_time_fix_rate",
            "key": "quality.first_time_fix_rate",
        }


def call(client, method: str, path: str, token: str, records: dict[str, Any], token_id: int):
    values = {**records, "token_id": token_id}
    for name in [part[1:-1] for part in path.split("/") if part.startswith("{")]:
        path = path.replace(f"{{{name}}}", str(values.get(name, records["user_id"])))
    body = {"json": {}} if method in BODY_METHODS else {}
    return client.open(path, method=method, headers={"Authorization": f"Bearer {token}"}, **body)


def uses(database, token_id: int) -> list[tuple[str, int]]:
    with database.session(write=False) as session:
        rows = session.execute(
            select(IntegrationTokenUse.permission, IntegrationTokenUse.status).where(
                IntegrationTokenUse.token_id == token_id
            )
        )
        return [tuple(row) for row in rows]


def test_every_guarded_operation_is_in_the_matrix():
    assert len(GUARDED) >= 80
    assert {permission for _method, _path, permission in GUARDED} <= set(PERMISSIONS)


@pytest.mark.parametrize(("method", "path", "permission"), GUARDED, ids=GUARDED_IDS)
def test_a_token_whose_scope_lacks_the_permission_is_refused_and_writes_nothing(
    client, database, make_token, records, contents, method, path, permission
):
    # Everything an admin token may be given, but this operation's permission.
    token, token_id = make_token(sorted(grantable("admin") - {permission}))
    before = contents()

    response = call(client, method, path, token, records, token_id)

    assert response.status_code == 403, response.json
    if permission in PERSONAL:
        assert response.json["message"].startswith("An integration token cannot do this")
    else:
        assert permission in response.json["message"]
        assert PERMISSIONS[permission] in response.json["message"]
        assert response.json["errors"] == {"headers": {"Authorization": [f"the token's scope lacks {permission}"]}}
    assert contents() == before
    assert uses(database, token_id) == [(permission, 403)]


@pytest.mark.parametrize(
    ("method", "path", "permission"),
    [case for case in GUARDED if case[2] not in PERSONAL],
    ids=[label for label, case in zip(GUARDED_IDS, GUARDED, strict=True) if case[2] not in PERSONAL],
)
def test_a_token_whose_scope_names_the_permission_is_let_through(
    client, database, make_token, records, method, path, permission
):
    token, token_id = make_token([permission])

    response = call(client, method, path, token, records, token_id)

    assert response.status_code not in {401, 403}, response.json
    assert response.status_code < 500, response.get_data(as_text=True)
    assert uses(database, token_id) == [(permission, response.status_code)]


@pytest.mark.parametrize("state", ["revoked", "expired"])
@pytest.mark.parametrize(("method", "path", "permission"), GUARDED, ids=GUARDED_IDS)
def test_a_revoked_or_expired_token_is_401_and_writes_nothing(
    client, database, make_token, records, contents, method, path, permission, state
):
    token, token_id = make_token(sorted(grantable("admin")), **{state: True})
    before = contents()

    response = call(client, method, path, token, records, token_id)

    assert response.status_code == 401, response.json
    assert state in response.json["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert contents() == before
    assert uses(database, token_id) == [(permission, 401)]


@pytest.mark.parametrize(("method", "path", "permission"), GUARDED, ids=GUARDED_IDS)
def test_a_manager_token_with_its_whole_role_is_still_bounded_by_the_role(
    client, make_token, records, contents, method, path, permission
):
    token, token_id = make_token(sorted(grantable("manager")), role="manager", teams=["North"])
    before = contents()

    response = call(client, method, path, token, records, token_id)

    assert response.status_code < 500, response.get_data(as_text=True)
    if permission in grantable("manager"):
        assert response.status_code not in {401, 403}, response.json
    else:
        assert response.status_code == 403, response.json
        assert contents() == before
        if permission not in ROLE_PERMISSIONS["manager"]:
            assert "Your role (manager) cannot do this" in response.json["message"]
