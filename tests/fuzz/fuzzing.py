"""What the API fuzzing modules share: one app per module on a small organisation, its schemathesis
schema, fresh credentials per role, the checks, the failure text and the figures line.

The fixtures override the function-scoped ones of :mod:`kpi_core.testing.fixtures` for the module
that imports them (the pattern of :mod:`kpi_core.testing.module_app`)::

    from .fuzzing import app, client, database, database_url, figures, headers_for, schema, settings_  # noqa: F401
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
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
from kpi_core.storage.models import Customer, Team, Technician
from kpi_core.testing.fixtures import TEST_SECRET
from kpi_core.web.access import PERMISSION_EXTENSION, PUBLIC
from kpi_core.web.state import EXTENSION_KEY

USER_NUMBERS = itertools.count(1)
SPREADSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTTP_METHODS = ("get", "put", "post", "patch", "delete")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
"""The checks of every fuzzed answer: no 5xx, documented status, content type, headers and body,
and invalid input rejected."""
# Beyond those: valid input is not refused for its form (400; a 422 for a rule no schema can
# express, such as an end before its start, and a 428 or 412 for a missing or stale If-Match are the
# documented answers to valid-looking input), and an operation that needs a token refuses a request
# without one. The random-seed and the coverage runs use these.
STATELESS_CHECKS = [*CHECKS, positive_data_acceptance, ignored_auth]
ACCEPTED_VALID_INPUT = ["2xx", "3xx", "401", "403", "404", "409", "412", "422", "428"]


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


def allowed(role: str, permission: str) -> bool:
    return permission == PUBLIC or permission in ROLE_PERMISSIONS[role]


@dataclass
class Figures:
    """What the fuzzing did, printed at the end of the module."""

    seed: int | None = None
    # The line's opening words; None: "API fuzzing with seed N" (or "with a fixed seed").
    title: str | None = None
    operations: set[tuple[str, str]] = field(default_factory=set)
    runs: int = 0
    cases: int = 0
    scenarios: int = 0
    steps: int = 0
    linked: int = 0
    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds_by_operation: dict[str, float] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    def count(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def note(self, label: str, number: int = 1) -> None:
        """Count something the line should name beside the cases, e.g. a kind of probe."""
        self.notes[label] = self.notes.get(label, 0) + number

    def took(self, label: str, seconds: float) -> None:
        self.seconds_by_operation[label] = self.seconds_by_operation.get(label, 0.0) + seconds

    def line(self) -> str:
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items()))
        seeded = "with a fixed seed" if self.seed is None else f"with seed {self.seed}"
        title = self.title or f"API fuzzing {seeded}"
        stateful = (
            f", {self.scenarios} stateful scenarios of {self.steps} calls ({self.linked} following a link)"
            if self.scenarios
            else ""
        )
        timing = f" in {self.seconds:.0f} s" if self.seconds else ""
        slowest = sorted(self.seconds_by_operation.items(), key=lambda item: -item[1])[:3]
        spent = "; slowest: " + ", ".join(f"{label} {seconds:.0f} s" for label, seconds in slowest) if slowest else ""
        noted = "; " + ", ".join(f"{label}: {number}" for label, number in self.notes.items()) if self.notes else ""
        return (
            f"{title}: {len(self.operations)} operations, {self.runs} runs (operation x role), "
            f"{self.cases} cases{stateful}{timing}, {len(self.failures)} failures (statuses {statuses}){noted}{spent}"
        )


def show(request: pytest.FixtureRequest, text: str) -> None:
    """Print past pytest's output capture, so every run shows it (also with -q and on success)."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n{text}")


def describe(case, response, group: FailureGroup) -> str:
    titles = "; ".join(sorted({f"{failure.title}: {failure.message[:200]}" for failure in group.exceptions}))
    body = response.text[:300].replace("\n", " ")
    return (
        f"{case.operation.label}: {titles} -> {response.status_code} {body}\n"
        f"    headers={case.headers} path={case.path_parameters} query={case.query} body={case.body!r:.300}"
    )


# --- one app, one schema and one small organisation for the module ----------------------


@pytest.fixture(scope="module")
def database_url(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'kpi.sqlite3'}"


@pytest.fixture(scope="module")
def settings_(tmp_path_factory, database_url: str) -> Settings:
    # Uncompressed: schemathesis replays a call as the other peer over WSGI with the first call's
    # Accept-Encoding and reads the body undecoded (compression has its own tests: test_kpi_etag.py).
    return Settings.from_env(
        {},
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=database_url,
        secret_key=TEST_SECRET,
        compress=False,
        # A fuzzed webhook endpoint may be a public address: nothing a fuzzer makes ever leaves the machine.
        disabled_plugins=("notify_webhook",),
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


def load_schema(app: Flask, config: schemathesis.Config | None = None):
    """The app's own document, called in-process (WSGI); ``config``: e.g. the identities to sign in as."""
    # Import bodies: schemathesis has no serializer of its own for JSON Lines and spreadsheets, and
    # would leave those bodies out; they go as the text or the bytes generated.
    schemathesis.serializer.alias("application/x-ndjson", "text/plain")
    schemathesis.serializer.alias(SPREADSHEET, "application/octet-stream")
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app, config=config)
    # The test sends each role's bearer token itself; unknown query parameters are ignored by
    # design (webargs excludes them), so they are not "invalid input" to be rejected.
    schema.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)
    schema.config.checks.positive_data_acceptance.expected_statuses = ACCEPTED_VALID_INPUT
    return schema


@pytest.fixture(scope="module")
def schema(app: Flask):
    return load_schema(app)


@pytest.fixture(scope="module")
def fuzz_seed() -> int | None:
    """The module's seed, shown in the figures; None: Hypothesis derandomised (a fixed seed)."""
    return None


@pytest.fixture(scope="module")
def figures(request: pytest.FixtureRequest, fuzz_seed: int | None) -> Iterator[Figures]:
    figures = Figures(seed=fuzz_seed)
    yield figures
    show(request, figures.line())


@pytest.fixture
def headers_for(app: Flask, make_user, login):
    """``headers_for(role)``: a fresh user of that role (its own login, untouched by earlier cases).

    Fuzzing changes data: an admin's cases may disable users or reset passwords, and failed
    logins fill the throttle. Each operation therefore starts with new credentials.
    """

    def make(role: str) -> dict[str, str]:
        app.extensions[EXTENSION_KEY].authenticator.throttle.clear()
        username = f"fuzz-{role}-{next(USER_NUMBERS)}"
        with app.extensions[EXTENSION_KEY].database.session() as session:
            # An earlier manager's or admin's random calls may have renamed or deleted North.
            north = session.scalar(select(Team.id).where(Team.name == "North"))
            if north is None:
                team = Team(name="North")
                session.add(team)
                session.flush()
                north = team.id
        if role == "technician":
            # One user per technician: each technician user gets a technician of its own in North.
            with app.extensions[EXTENSION_KEY].database.session() as session:
                session.add(Technician(external_ref=username, name=username, team_id=north))
            make_user(role, username=username, technician_ref=username)
        elif role == "manager":
            make_user(role, username=username, teams=("North",))
        else:
            make_user(role, username=username)
        return login(username)

    return make
