"""Who may call what: docs/permissions.md matches the code, every API operation names a
permission, and every operation answers each role (and no token) as the matrix says."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from kpi_core.accounts.permissions import PERMISSIONS, ROLE_PERMISSIONS
from kpi_core.config import Settings
from kpi_core.plugins import load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.storage.models import ROLES, Base, Technician
from kpi_core.testing.fixtures import TEST_SECRET
from kpi_core.web.access import PERMISSION_EXTENSION, PUBLIC
from kpi_core.web.state import EXTENSION_KEY

DOC = Path(__file__).resolve().parents[1] / "docs" / "permissions.md"
HTTP_METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")
BODY_METHODS = {"POST", "PATCH", "PUT"}
CALLERS = (*ROLES, "anonymous")


# --- the documented matrix ------------------------------------------------------------


def documented_matrix() -> dict[str, dict[str, str]]:
    """The table under "## The matrix": {permission: {"description": ..., role: "yes"/"no"}}."""
    lines = DOC.read_text().splitlines()
    start = lines.index("## The matrix")
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    header, _rule, *body = rows
    assert [name.lower() for name in header] == ["permission", "description", *ROLES]
    return {row[0].strip("`"): dict(zip(["description", *ROLES], row[1:], strict=True)) for row in body}


def test_documented_permissions_are_the_defined_ones():
    assert sorted(documented_matrix()) == sorted(PERMISSIONS)


def test_documented_descriptions_match_the_code():
    documented = {name: row["description"] for name, row in documented_matrix().items()}

    assert documented == PERMISSIONS


@pytest.mark.parametrize("role", ROLES)
def test_documented_grants_match_the_code(role):
    documented = {name for name, row in documented_matrix().items() if row[role] == "yes"}

    assert documented == set(ROLE_PERMISSIONS[role])


def test_documented_cells_are_yes_or_no():
    cells = {row[role] for row in documented_matrix().values() for role in ROLES}

    assert cells <= {"yes", "no"}


def test_every_role_has_a_column_and_a_grant_list():
    assert set(ROLE_PERMISSIONS) == set(ROLES)


def test_roles_are_granted_only_defined_permissions():
    for granted in ROLE_PERMISSIONS.values():
        assert granted <= set(PERMISSIONS)


def test_the_doc_describes_scoping():
    text = DOC.read_text()

    assert "## Scoping" in text
    assert "404" in text


# --- every operation of the API --------------------------------------------------------


def openapi_document() -> dict:
    """The OpenAPI document of an app built at collection time (it needs no database)."""
    from kpi_core.web.app import create_app

    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings.from_env({}, data_dir=Path(data_dir), database_url="sqlite://", secret_key=TEST_SECRET)
        return create_app(settings).test_client().get("/api/openapi.json").json


def operations_of(document: dict) -> list[tuple[str, str, dict]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


OPERATIONS = operations_of(openapi_document())
OPERATION_IDS = [f"{method} {path}" for method, path, _operation in OPERATIONS]


def test_the_api_has_operations_to_check():
    assert len(OPERATIONS) >= 10


def test_the_running_app_documents_the_same_operations(client):
    live = {(method, path) for method, path, _operation in operations_of(client.get("/api/openapi.json").json)}

    assert live == {(method, path) for method, path, _operation in OPERATIONS}


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=OPERATION_IDS)
def test_operation_names_a_known_permission(method, path, operation):
    assert PERMISSION_EXTENSION in operation, f"{method} {path} has no permission rule"
    assert operation[PERMISSION_EXTENSION] in {PUBLIC, *PERMISSIONS}


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=OPERATION_IDS)
def test_operation_documents_its_security(method, path, operation):
    if operation.get(PERMISSION_EXTENSION) == PUBLIC:
        assert operation.get("security") == []
    else:
        assert operation.get("security") == [{"bearerAuth": []}]
        assert {"401", "403"} <= set(operation["responses"])


# --- and what each caller gets ------------------------------------------------------------
# Hundreds of cases, each with its own users and a fresh login, but one app and one schema for
# the module: building the app (its OpenAPI document) costs far more than a case. Each case
# starts from empty tables instead. Permission checks do not depend on the database engine,
# so the matrix runs on SQLite (the other account tests run on both engines).


@pytest.fixture(scope="module")
def database_url(module_database_url: str) -> str:
    """One database for the module, once on SQLite and once on PostgreSQL (KPI_TEST_DATABASES)."""
    return module_database_url


@pytest.fixture(scope="module")
def settings(tmp_path_factory, database_url: str) -> Settings:
    data_dir = tmp_path_factory.mktemp("data")
    return Settings.from_env({}, data_dir=data_dir, database_url=database_url, secret_key=TEST_SECRET)


@pytest.fixture(scope="module")
def database(settings: Settings) -> Iterator[Database]:
    database = Database(settings.effective_database_url)
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def app(settings: Settings, database: Database) -> Flask:
    from kpi_core.web.app import create_app

    return create_app(settings, database=database, plugins=load_plugins(settings))


@pytest.fixture(scope="module")
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def fresh_state(app: Flask, database: Database) -> None:
    """Empty tables and no failed-login counts, as if the app had just been built."""
    with database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    app.extensions[EXTENSION_KEY].authenticator.throttle.clear()


@pytest.fixture
def caller_user(database, make_user):
    """``caller_user(role)`` -> id of a user "<role>" (a technician is linked to technician T-1)."""

    def make(role: str) -> int:
        if role != "technician":
            return make_user(role, username=role)
        with database.session() as session:
            session.add(Technician(external_ref="T-1", name="Tess Fixit", email="tess@example.com"))
        return make_user(role, username=role, technician_ref="T-1")

    return make


def expected_answer(permission: str, caller: str) -> str:
    if permission == PUBLIC:
        return "allowed"
    if caller == "anonymous":
        return "401"
    return "allowed" if permission in ROLE_PERMISSIONS[caller] else "403"


def fill_path(path: str, value: int) -> str:
    return re.sub(r"\{[^}]+\}", str(value), path)


CASES = [
    pytest.param(
        method, path, operation.get(PERMISSION_EXTENSION, "missing"), caller, id=f"{method} {path} as {caller}"
    )
    for method, path, operation in OPERATIONS
    for caller in CALLERS
]


@pytest.mark.usefixtures("fresh_state")
@pytest.mark.parametrize(("method", "path", "permission", "caller"), CASES)
def test_operation_answers_the_caller_as_the_matrix_says(client, caller_user, login, method, path, permission, caller):
    assert permission in {PUBLIC, *PERMISSIONS}, f"{method} {path} has no permission rule"
    # An existing id for every path parameter: the caller's own user id (an admin's for no token).
    user_id = caller_user("admin" if caller == "anonymous" else caller)
    headers = {} if caller == "anonymous" else login(caller)
    body = {"json": {}} if method in BODY_METHODS else {}

    response = client.open(fill_path(path, user_id), method=method, headers=headers, **body)

    assert response.status_code < 500, response.get_data(as_text=True)
    expected = expected_answer(permission, caller)
    if expected == "allowed":
        assert response.status_code not in {401, 403}, response.json
    else:
        assert response.status_code == int(expected), response.json
