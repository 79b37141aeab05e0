"""The role matrix of docs/permissions.md, checked black-box over real HTTP against a running server
(gunicorn, several workers): every operation of the server's own OpenAPI document, called by each
role and without a token, answers as the documented matrix says (401 without a token, 403 without
the permission, neither with it) and never with a 5xx.

tests/test_permissions_matrix.py checks the same in-process and that the document and the code
agree; this one proves it holds for the deployed server, through its real HTTP stack.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kpi_core.config import Settings
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.storage.models import ROLES, Base, Technician
from kpi_core.testing.fixtures import TEST_SECRET
from kpi_core.web.access import PERMISSION_EXTENSION, PUBLIC

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
HTTP_METHODS = ("get", "put", "post", "patch", "delete")
BODY_METHODS = {"POST", "PATCH", "PUT"}
CALLERS = (*ROLES, "anonymous")


def documented_matrix() -> tuple[set[str], dict[str, set[str]]]:
    """(every permission, {role: permissions marked "yes"}) from the table under "## The matrix"."""
    lines = DOC.read_text().splitlines()
    rows = []
    for line in lines[lines.index("## The matrix") + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    header, _rule, *body = rows
    columns = [name.lower() for name in header]
    grants = {role: {row[0].strip("`") for row in body if row[columns.index(role)] == "yes"} for role in ROLES}
    return {row[0].strip("`") for row in body}, grants


def document_operations() -> list[tuple[str, str, str]]:
    """(method, path, permission) from the app's document, built at collection time."""
    from kpi_core.web.app import create_app

    with tempfile.TemporaryDirectory() as data_dir:
        config = Settings.from_env({}, data_dir=Path(data_dir), database_url="sqlite://", secret_key=TEST_SECRET)
        document = create_app(config).test_client().get("/api/openapi.json").json
    return operations_of(document)


def operations_of(document: dict) -> list[tuple[str, str, str]]:
    return [
        (method.upper(), path, operation.get(PERMISSION_EXTENSION, "missing"))
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


DOCUMENTED, GRANTS = documented_matrix()
OPERATIONS = document_operations()
CASES = [
    pytest.param(method, path, permission, caller, id=f"{method} {path} as {caller}")
    for method, path, permission in OPERATIONS
    for caller in CALLERS
]


def expected_answer(permission: str, caller: str) -> str:
    if permission == PUBLIC:
        return "allowed"
    if caller == "anonymous":
        return "401"
    return "allowed" if permission in GRANTS[caller] else "403"


# --- one server for the module; each case starts from empty tables ----------------------------


@pytest.fixture(scope="module")
def http_database(tmp_path_factory) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('http-matrix') / 'kpi.sqlite3'}")
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def server(http_database: Database, tmp_path_factory, start_gunicorn) -> Iterator[str]:
    running = start_gunicorn(str(http_database.engine.url), tmp_path_factory.mktemp("server"), workers=2, threads=4)
    yield running.url
    running.stop()


@pytest.fixture
def database(http_database: Database) -> Database:
    """The server's database, emptied: each case starts as if the server were new."""
    with http_database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    return http_database


@pytest.fixture
def caller_headers(database: Database, add_user, http_login, server: str):
    """``caller_headers(caller)`` -> (headers, a user id for path parameters)."""

    def make(caller: str) -> tuple[dict[str, str], int]:
        role = "admin" if caller == "anonymous" else caller
        if role == "technician":
            with database.session() as session:
                session.add(Technician(external_ref="T-1", name="Tess Fixit"))
            user_id = add_user(role, role, technician_ref="T-1")
        else:
            user_id = add_user(role, role)
        return ({} if caller == "anonymous" else http_login(server, role)), user_id

    return make


def test_the_running_server_documents_the_operations_checked(server):
    live = operations_of(httpx.get(f"{server}/api/openapi.json").json())

    assert sorted(live) == sorted(OPERATIONS)


@pytest.mark.parametrize(("method", "path", "permission", "caller"), CASES)
def test_operation_answers_each_caller_over_http_as_documented(
    server, caller_headers, method, path, permission, caller
):
    assert permission in {PUBLIC, *DOCUMENTED}, f"{method} {path}: {permission!r} is not in docs/permissions.md"
    headers, user_id = caller_headers(caller)
    url = server + re.sub(r"\{[^}]+\}", str(user_id), path)

    response = httpx.request(method, url, headers=headers, json={} if method in BODY_METHODS else None, timeout=60)

    assert response.status_code < 500, response.text
    expected = expected_answer(permission, caller)
    if expected == "allowed":
        assert response.status_code not in {401, 403}, response.text
    else:
        assert response.status_code == int(expected), response.text
        assert response.json()["code"] == int(expected)
        if expected == "401":
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
