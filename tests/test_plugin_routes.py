"""A third-party plugin's routes, permission and file-taking job (issue #22, points 1 to 3).

The fixture plugin (tests/fixtures/thirdparty_plugin) is built and installed as a
real distribution, found through its entry point: its operations live under
/api/v1/plugins/fixture_cancellations, behind the host's login, permissions,
scoping, audit trail and error shape.
"""

from __future__ import annotations

import importlib
import io
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from kpi_core import hookimpl
from kpi_core.config import Settings
from kpi_core.declarations import Permission
from kpi_core.plugins import PluginHost, load_plugins
from kpi_core.routes import requires
from kpi_core.storage.db import Database
from kpi_core.storage.models import AuditEntry, Job, JobRun, Team, Technician

FIXTURE_PROJECT = Path(__file__).parent / "fixtures" / "thirdparty_plugin"
PREFIX = "/api/v1/plugins/fixture_cancellations"
PLUGIN = "fixture_cancellations"


@pytest.fixture(scope="session")
def fixture_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("routes-plugin-site")
    command = [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index"]
    command += ["--no-cache-dir", "--disable-pip-version-check", "--quiet", "--target", str(target)]
    result = subprocess.run([*command, str(FIXTURE_PROJECT)], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return target


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def plugins(settings: Settings, fixture_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginHost]:
    """The installed plugins plus the fixture distribution, on sys.path for this test only."""
    monkeypatch.syspath_prepend(str(fixture_site))
    importlib.invalidate_caches()
    host = load_plugins(settings)
    assert PLUGIN in host.plugins, host.problems
    yield host


@pytest.fixture
def people(database: Database, make_user: Any, login: Any) -> dict[str, Any]:
    """Two teams of one technician each, with a job each; a manager of North; headers of each role."""
    with database.session() as session:
        north, south = Team(name="North"), Team(name="South")
        session.add_all([north, south])
        session.flush()
        ann = Technician(external_ref="T-ANN", name="Ann", team_id=north.id)
        bob = Technician(external_ref="T-BOB", name="Bob", team_id=south.id)
        session.add_all([ann, bob])
        session.flush()
        session.add_all(
            [
                Job(external_ref="J-ANN", technician_id=ann.id, category="plumbing", status="scheduled"),
                Job(external_ref="J-BOB", technician_id=bob.id, category="plumbing", status="scheduled"),
            ]
        )
        ids = {"ann": ann.id, "bob": bob.id}
    make_user("admin", username="admin")
    make_user("manager", username="north", teams=("North",))
    make_user("technician", username="ann", technician_ref="T-ANN")
    return ids | {role: login(name) for role, name in (("admin", "admin"), ("manager", "north"), ("technician", "ann"))}


def status_of(database: Database, ref: str) -> str:
    with database.session(write=False) as session:
        return session.scalar(select(Job.status).where(Job.external_ref == ref))


# --- routes ---------------------------------------------------------------------------------


def test_plugin_operations_are_in_the_openapi_document_under_the_plugins_prefix_and_tag(client: FlaskClient):
    document = client.get("/api/openapi.json").json

    cancel = document["paths"][f"{PREFIX}/jobs/{{external_ref}}/cancel"]["post"]
    assert cancel["tags"] == [f"plugin-{PLUGIN}"]
    assert cancel["x-permission"] == "fixture.cancel_jobs"
    assert cancel["security"] == [{"bearerAuth": []}]
    assert document["paths"][f"{PREFIX}/ping"]["get"]["x-permission"] == "public"
    assert f"plugin-{PLUGIN}" in {tag["name"] for tag in document["tags"]}


def test_plugin_operations_refuse_a_caller_without_a_login_in_the_one_error_shape(client: FlaskClient, people: Any):
    answer = client.get(f"{PREFIX}/technicians")

    assert answer.status_code == 401
    assert set(answer.json) >= {"code", "status", "message", "request_id"}
    assert "Bearer" in answer.headers["WWW-Authenticate"]


def test_a_public_plugin_operation_needs_no_login(client: FlaskClient):
    assert client.get(f"{PREFIX}/ping").json == {"ok": True}


@pytest.mark.parametrize(("role", "seen"), [("technician", ["ann"]), ("manager", ["ann"]), ("admin", ["ann", "bob"])])
def test_plugin_operations_see_only_the_callers_scope(client: FlaskClient, people: Any, role: str, seen: list[str]):
    answer = client.get(f"{PREFIX}/technicians", headers=people[role])

    assert answer.status_code == 200, answer.json
    assert [row["id"] for row in answer.json] == [people[name] for name in seen]


def test_a_plugin_operation_that_changes_data_is_audited(client: FlaskClient, people: Any, database: Database):
    answer = client.post(f"{PREFIX}/jobs/J-ANN/cancel", headers=people["manager"])

    assert answer.status_code == 200, answer.json
    assert status_of(database, "J-ANN") == "cancelled"
    with database.session(write=False) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "fixture.job_cancelled")).one()
    assert (entry.username, entry.entity, entry.changes) == ("north", "job", {"status": ["scheduled", "cancelled"]})


def test_a_record_outside_the_callers_scope_is_not_found(client: FlaskClient, people: Any, database: Database):
    answer = client.post(f"{PREFIX}/jobs/J-BOB/cancel", headers=people["manager"])

    assert answer.status_code == 404
    assert status_of(database, "J-BOB") == "scheduled"


escaping_blp = Blueprint("escape", __name__, url_prefix="/api/v1/jobs")


@escaping_blp.route("/mine")
class Mine(MethodView):
    @requires(escaping_blp, "jobs.read")
    def get(self) -> dict[str, str]:
        return {}


unguarded_blp = Blueprint("unguarded", __name__)


@unguarded_blp.route("/open")
class Open(MethodView):
    def get(self) -> dict[str, str]:
        return {}


class Escaping:
    """A plugin whose blueprint names a prefix of the core's."""

    @hookimpl
    def kpi_routes(self) -> list[Blueprint]:
        return [escaping_blp]


class Unguarded:
    """A plugin with an operation that names no rule."""

    @hookimpl
    def kpi_routes(self) -> list[Blueprint]:
        return [unguarded_blp]


def test_a_route_outside_the_plugins_prefix_is_refused_as_a_load_error(settings: Settings):
    host = load_plugins(settings, extra=[("escape", Escaping())])

    [problem] = [problem for problem in host.problems if problem.name == "escape"]
    assert problem.stage == "routes"
    assert "outside the plugin's prefix /api/v1/plugins/escape" in problem.reason
    assert "escape" not in host.plugins and "escape" not in host.routes


def test_an_operation_without_a_rule_is_refused_as_a_load_error(settings: Settings):
    host = load_plugins(settings, extra=[("unguarded", Unguarded())])

    [problem] = [problem for problem in host.problems if problem.name == "unguarded"]
    assert "GET /api/v1/plugins/unguarded/open has no rule" in problem.reason


# --- permissions ----------------------------------------------------------------------------


def test_a_plugin_permission_is_granted_to_managers_by_default(client: FlaskClient, people: Any):
    listed = {row["key"]: row for row in client.get("/api/v1/permissions", headers=people["admin"]).json}

    assert listed["fixture.cancel_jobs"] | {"label": ""} == {
        "key": "fixture.cancel_jobs",
        "label": "",
        "plugin": PLUGIN,
        "roles": ["admin", "manager"],
        "default_roles": ["admin", "manager"],
        "editable": True,
    }
    assert listed["jobs.read"]["editable"] is False
    assert client.post(f"{PREFIX}/jobs/J-ANN/cancel", headers=people["technician"]).status_code == 403


def test_an_admin_takes_a_plugin_permission_from_managers(client: FlaskClient, people: Any, database: Database):
    changed = client.put("/api/v1/permissions/fixture.cancel_jobs", json={"roles": ["admin"]}, headers=people["admin"])

    assert changed.status_code == 200, changed.json
    assert changed.json["roles"] == ["admin"]
    assert client.post(f"{PREFIX}/jobs/J-ANN/cancel", headers=people["manager"]).status_code == 403
    with database.session(write=False) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "permission.roles_set")).one()
    assert entry.changes == {"roles": [["admin", "manager"], ["admin"]]}


def test_the_cores_permissions_cannot_be_changed(client: FlaskClient, people: Any):
    answer = client.put("/api/v1/permissions/jobs.read", json={"roles": ["admin"]}, headers=people["admin"])

    assert answer.status_code == 409


def test_a_plugin_permission_in_the_cores_namespace_is_a_load_error(settings: Settings):
    class Grabbing:
        @hookimpl
        def kpi_permissions(self) -> list[Permission]:
            return [Permission("jobs.delete_all", "Delete every job")]

    host = load_plugins(settings, extra=[("grabbing", Grabbing())])

    [problem] = [problem for problem in host.problems if problem.name == "grabbing"]
    assert "core's namespace 'jobs'" in problem.reason


# --- a job that takes a file ----------------------------------------------------------------


def wait_for_run(client: FlaskClient, headers: dict[str, str], run_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        run = client.get(f"/api/v1/job-runs/{run_id}", headers=headers)
        assert run.status_code == 200, run.json
        if run.json["status"] in ("finished", "failed") or time.monotonic() > deadline:
            return run.json
        time.sleep(0.05)


def start(client: FlaskClient, headers: dict[str, str], csv_text: str | None) -> Any:
    form: dict[str, Any] = {"job_key": "fixture.import_cancellations", "params": "{}"}
    if csv_text is not None:
        form["file"] = (io.BytesIO(csv_text.encode()), "cancelled.csv", "text/csv")
    return client.post("/api/v1/job-runs", data=form, headers=headers, content_type="multipart/form-data")


def test_a_job_is_fed_a_multipart_file_by_a_role_with_its_permission(
    client: FlaskClient, people: Any, database: Database
):
    started = start(client, people["manager"], "Job\nJ-ANN\n")

    assert started.status_code == 202, started.json
    assert started.json["params"] == {}
    run = wait_for_run(client, people["manager"], started.json["id"])
    assert (run["status"], run["result"]) == ("finished", {"cancelled": 1, "file": "cancelled.csv"})
    assert status_of(database, "J-ANN") == "cancelled"
    with database.session(write=False) as session:
        upload = session.get(JobRun, started.json["id"]).upload
    assert (upload["name"], upload["media_type"], upload["size"]) == ("cancelled.csv", "text/csv", len("Job\nJ-ANN\n"))


def test_a_job_that_raises_fails_its_run_with_the_message(client: FlaskClient, people: Any):
    started = start(client, people["admin"], "Job\nJ-NOPE\n")

    run = wait_for_run(client, people["admin"], started.json["id"])
    assert (run["status"], run["error"]) == ("failed", "ValueError: row 2: there is no job J-NOPE")


def test_a_job_that_takes_a_file_is_refused_without_one(client: FlaskClient, people: Any):
    answer = start(client, people["admin"], None)

    assert answer.status_code == 422
    assert "takes a file" in answer.json["message"] or "file" in str(answer.json.get("errors"))


def test_a_role_without_the_jobs_permission_cannot_start_it(client: FlaskClient, people: Any):
    assert start(client, people["technician"], "Job\nJ-ANN\n").status_code == 403


def test_the_declared_jobs_say_which_take_a_file_and_their_permission(client: FlaskClient, people: Any):
    jobs = {job["key"]: job for job in client.get("/api/v1/background-jobs", headers=people["admin"]).json}

    assert (jobs["fixture.import_cancellations"]["takes_file"], jobs["fixture.import_cancellations"]["permission"]) == (
        True,
        "fixture.cancel_jobs",
    )
