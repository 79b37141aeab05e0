"""Schemathesis fuzzes every operation of the app's own OpenAPI document, in-process (WSGI),
authenticated as each role: no 5xx, and every answer matches its documented status codes,
headers, content type and schema; invalid input is rejected with a 4xx.

Fixed seed (Hypothesis ``derandomize``) and a bounded number of cases per operation, so a CI
run is repeatable and takes a few minutes. Operations added to the app later are included
automatically: the cases are collected from the document. The figures (operations, cases,
failures) are printed at the end of the module.
"""

from __future__ import annotations

import contextlib
import itertools
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from kpi_core.accounts.permissions import ROLE_PERMISSIONS
from kpi_core.config import Settings
from kpi_core.plugins import load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.storage.models import ROLES, Customer, Team, Technician
from kpi_core.testing.fixtures import TEST_SECRET
from kpi_core.web.access import PERMISSION_EXTENSION, PUBLIC
from kpi_core.web.state import EXTENSION_KEY

USER_NUMBERS = itertools.count(1)
HTTP_METHODS = ("get", "put", "post", "patch", "delete")
# Cases per generation mode (valid, then invalid input) for an operation the role may call;
# a forbidden one answers 403 before reading its input, so a couple of cases show that.
ALLOWED_CASES = 12
FORBIDDEN_CASES = 2
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def openapi_operations() -> list[tuple[str, str, str]]:
    """(method, path, permission) of every operation, from an app built at collection time."""
    from kpi_core.web.app import create_app

    with tempfile.TemporaryDirectory() as data_dir:
        config = Settings.from_env({}, data_dir=Path(data_dir), database_url="sqlite://", secret_key=TEST_SECRET)
        document = create_app(config).test_client().get("/api/openapi.json").json
    return [
        (method.upper(), path, operation.get(PERMISSION_EXTENSION, ""))
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


OPERATIONS = openapi_operations()
CASES = [
    pytest.param(role, method, path, permission, id=f"{method} {path} as {role}")
    for role in ROLES
    for method, path, permission in OPERATIONS
]


@dataclass
class Figures:
    """What the fuzzing did, printed at the end of the module."""

    operations: set[tuple[str, str]] = field(default_factory=set)
    runs: int = 0
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def line(self) -> str:
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items()))
        return (
            f"API fuzzing: {len(self.operations)} operations, {self.runs} runs (operation x role), "
            f"{self.cases} cases, {len(self.failures)} failures (statuses {statuses})"
        )


# --- one app, one schema and one small organisation for the module ----------------------


@pytest.fixture(scope="module")
def database_url(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'kpi.sqlite3'}"


@pytest.fixture(scope="module")
def settings_(tmp_path_factory, database_url: str) -> Settings:
    return Settings.from_env(
        {}, data_dir=tmp_path_factory.mktemp("data"), database_url=database_url, secret_key=TEST_SECRET
    )


@pytest.fixture(scope="module")
def database(settings_: Settings) -> Iterator[Database]:
    database = Database(settings_.effective_database_url)
    upgrade(database.engine)
    with database.session() as session:
        north = Team(name="North")
        session.add_all([north, Team(name="South")])
        session.flush()
        session.add_all(
            [Technician(external_ref=f"T-{n}", name=f"Tech {n}", team_id=north.id) for n in range(1, 4)]
            + [Customer(external_ref="C-1", name="Ada Customer")]
        )
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def app(settings_: Settings, database: Database) -> Flask:
    from kpi_core.web.app import create_app

    return create_app(settings_, database=database, plugins=load_plugins(settings_))


@pytest.fixture(scope="module")
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module")
def schema(app: Flask):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    # The test sends each role's bearer token itself; unknown query parameters are ignored by
    # design (webargs excludes them), so they are not "invalid input" to be rejected.
    schema.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)
    return schema


@pytest.fixture(scope="module")
def figures(request: pytest.FixtureRequest) -> Iterator[Figures]:
    figures = Figures()
    yield figures
    # Printed past pytest's output capture, so every run shows it (also with -q and on success).
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n{figures.line()}")


@pytest.fixture
def headers_for(app: Flask, make_user, login):
    """``headers_for(role)``: a fresh user of that role (its own login, untouched by earlier cases).

    Fuzzing changes data: an admin's cases may disable users or reset passwords, and failed
    logins fill the throttle. Each operation therefore starts with new credentials.
    """

    def make(role: str) -> dict[str, str]:
        app.extensions[EXTENSION_KEY].authenticator.throttle.clear()
        username = f"fuzz-{role}-{next(USER_NUMBERS)}"
        if role == "technician":
            # One user per technician: each technician user gets a technician of its own in North.
            with app.extensions[EXTENSION_KEY].database.session() as session:
                north = session.scalar(select(Team.id).where(Team.name == "North"))
                session.add(Technician(external_ref=username, name=username, team_id=north))
            make_user(role, username=username, technician_ref=username)
        elif role == "manager":
            make_user(role, username=username, teams=("North",))
        else:
            make_user(role, username=username)
        return login(username)

    return make


def allowed(role: str, permission: str) -> bool:
    return permission == PUBLIC or permission in ROLE_PERMISSIONS[role]


def describe(case, response, group: FailureGroup) -> str:
    titles = "; ".join(sorted({f"{failure.title}: {failure.message[:200]}" for failure in group.exceptions}))
    body = response.text[:300].replace("\n", " ")
    return (
        f"{case.operation.label}: {titles} -> {response.status_code} {body}\n"
        f"    headers={case.headers} path={case.path_parameters} query={case.query} body={case.body!r:.300}"
    )


@pytest.mark.slow
@pytest.mark.parametrize(("role", "method", "path", "permission"), CASES)
def test_operation_answers_fuzzed_input_as_documented(schema, figures, headers_for, role, method, path, permission):
    operation = schema[path][method]
    headers = headers_for(role)
    count = ALLOWED_CASES if allowed(role, permission) else FORBIDDEN_CASES
    modes = [schemathesis.GenerationMode.POSITIVE]
    if allowed(role, permission):
        modes.append(schemathesis.GenerationMode.NEGATIVE)
    found: list[str] = []
    figures.operations.add((method, path))
    figures.runs += 1

    for mode in modes:

        @settings(
            max_examples=count,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def exercise(case) -> None:
            figures.cases += 1
            response = case.call(headers=headers)
            figures.statuses[response.status_code] = figures.statuses.get(response.status_code, 0) + 1
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except FailureGroup as group:
                found.append(describe(case, response, group))

        # Unsatisfiable: nothing to negate (no parameters, no body); the valid cases cover it.
        with contextlib.suppress(Unsatisfiable):
            exercise()

    figures.failures.extend(found)
    assert not found, "\n".join(found)
