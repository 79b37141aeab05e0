"""An integrator's path: generate a Python client from our OpenAPI document and use it over real HTTP.

openapi-python-client turns /api/openapi.json into a package; the test imports
it and, against the app served by waitress on a loopback port, logs in,
creates a team and a technician, imports jobs and reads them back.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from kpi_core.testing.fixtures import TEST_PASSWORD

JOBS_CSV = (
    "external_ref,technician_ref,category,status,scheduled_start,started_at,completed_at,estimated_minutes,callback_of\n"
    "GC-1,GEN-T1,plumbing,completed,2026-05-04T09:00:00Z,2026-05-04T09:10:00Z,2026-05-04T10:00:00Z,60,\n"
    "GC-2,GEN-T1,plumbing,completed,2026-05-10T09:00:00Z,2026-05-10T09:05:00Z,2026-05-10T09:40:00Z,30,GC-1\n"
)


@pytest.fixture
def live_server(app) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Werkzeug's threaded server stops cleanly with shutdown(); the test needs no more.
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def generated_client(client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(client.get("/api/openapi.json").json))
    generator = Path(sys.executable).with_name("openapi-python-client")
    env = {**os.environ, "PATH": f"{generator.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [str(generator), "generate", "--path", str(document), "--meta", "none",
         "--output-path", str(tmp_path / "kpi_client")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module("kpi_client")


def test_generated_client_logs_in_creates_imports_and_reads_back(generated_client, live_server, make_user):
    make_user("admin", username="integrator")
    kpi = generated_client
    from kpi_client.api.auth import login
    from kpi_client.api.imports import import_jobs
    from kpi_client.api.jobs import list_jobs
    from kpi_client.api.teams import create_team
    from kpi_client.api.technicians import create_technician
    from kpi_client.models import ListJobsSort, Login, TeamIn, TechnicianIn

    anonymous = kpi.Client(base_url=live_server)
    tokens = login.sync(client=anonymous, body=Login(username="integrator", password=TEST_PASSWORD))
    assert tokens.token_type == "Bearer"
    authed = kpi.AuthenticatedClient(base_url=live_server, token=tokens.access_token)

    team = create_team.sync(client=authed, body=TeamIn(name="Generated"))
    assert team.name == "Generated"
    technician = create_technician.sync(
        client=authed, body=TechnicianIn(external_ref="GEN-T1", name="Gen Tech", team_id=team.id)
    )
    assert technician.team_id == team.id

    # The import takes a raw CSV body; the generated client sends it through its httpx client.
    response = authed.get_httpx_client().post(
        "/api/v1/imports/jobs", content=JOBS_CSV.encode(), headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 2
    assert import_jobs is not None  # the operation is in the client too

    jobs = list_jobs.sync(client=authed, technician=technician.id, sort=ListJobsSort.EXTERNAL_REF)
    assert [job.external_ref for job in jobs] == ["GC-1", "GC-2"]
    assert jobs[1].callback_of_id == jobs[0].id
