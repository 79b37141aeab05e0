"""Observability: JSON logs with the request id (also in the jobs a request enqueued), the slow-request
line, Prometheus /metrics per route with access control, job metrics from the database, KPI cache
lookups, 503 when the database is unreachable, and gunicorn's workers' metrics added up."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from redis import Redis
from rq import SimpleWorker
from rq.job import Job

from kpi_core import hookimpl
from kpi_core.config import Settings
from kpi_core.declarations import JobSpec
from kpi_core.errors import ConfigError
from kpi_core.jobs import worker as worker_module
from kpi_core.jobs.context import JobContext
from kpi_core.jobs.execute import JobEnvironment
from kpi_core.jobs.rq_runner import QUEUE_NAME
from kpi_core.logs import JsonFormatter, bind, make_handler
from kpi_core.observability.metrics import KPI_CACHE_LOOKUPS
from kpi_core.plugins import load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.storage.models import JobRun
from kpi_core.storage.types import utcnow
from kpi_core.testing.fixtures import TEST_PASSWORD, TEST_SECRET
from kpi_core.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
KPI = Path(sys.executable).parent / "kpi"
METRICS_TOKEN = "metrics-token-for-the-tests-0123"
job_log = logging.getLogger("tests.observability.job")


def chatty(context: JobContext, word: str) -> dict[str, str]:
    job_log.info("job says %s", word)
    return {"said": word}


@hookimpl
def declare_jobs() -> list[JobSpec]:
    return [JobSpec(key="test.chatty", label="Logs a line", run=chatty, retries=0)]


PLUGIN = SimpleNamespace(kpi_jobs=declare_jobs)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """SQLite: what these tests check does not depend on the database, except the job metrics' SQL (both)."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return request.getfixturevalue("postgres_url")
    return sqlite_url


@pytest.fixture
def plugins(settings: Settings):
    return load_plugins(settings, extra=[("obs", PLUGIN)])


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Everything logged during the test, as the JSON lines production writes."""
    stream = io.StringIO()
    handler = make_handler("json")
    handler.setStream(stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def records(stream: io.StringIO, **match) -> list[dict]:
    parsed = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [r for r in parsed if all(r.get(key) == value for key, value in match.items())]


def metrics_text(client, **environ) -> str:
    response = client.get("/metrics", environ_base=environ)
    assert response.status_code == 200, response.data
    return response.get_data(as_text=True)


def sample(body: str, name: str, **labels: str) -> float:
    for line in body.splitlines():
        if line.startswith(name + "{") and all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# --- JSON logs --------------------------------------------------------------------------------------


def test_a_json_log_line_is_one_object_with_the_standard_fields():
    record = logging.LogRecord("kpi_core.x", logging.WARNING, __file__, 1, "hello %s", ("there",), None)
    with bind(request_id="req-12345678", user="ann"):
        line = JsonFormatter().format(record)

    payload = json.loads(line)
    assert "\n" not in line
    assert payload["level"] == "WARNING" and payload["logger"] == "kpi_core.x"
    assert payload["message"] == "hello there"
    assert (payload["request_id"], payload["user"]) == ("req-12345678", "ann")
    assert payload["ts"].endswith("+00:00")


def test_every_request_logs_one_access_line_with_route_status_duration_and_user(client, admin_headers, log_lines):
    response = client.get("/api/v1/teams/4242", headers={**admin_headers, "X-Request-ID": "abc-request-0001"})

    assert response.status_code == 404
    (line,) = records(log_lines, logger="kpi_core.access", request_id="abc-request-0001")
    assert line["method"] == "GET" and line["path"] == "/api/v1/teams/4242"
    assert line["route"] == "/api/v1/teams/<int:team_id>"
    assert line["status"] == 404 and line["user"] == "admin"
    assert isinstance(line["duration_ms"], float)


def test_records_logged_while_serving_carry_the_request_id(client, log_lines):
    client.get("/api/v1/teams", headers={"X-Request-ID": "abc-request-0002"})

    assert records(log_lines, request_id="abc-request-0002")
    assert not records(log_lines, logger="kpi_core.access", request_id=None)


def test_a_request_slower_than_the_threshold_is_logged_as_slow(settings, database, plugins, log_lines):
    app = create_app(replace(settings, slow_request_ms=20), database=database, plugins=plugins)
    app.add_url_rule("/test/slow", "slow", lambda: (time.sleep(0.05), "done")[1])
    client = app.test_client()

    client.get("/test/slow", headers={"X-Request-ID": "slow-request-01"})
    client.get("/healthz", headers={"X-Request-ID": "fast-request-01"})

    (slow,) = records(log_lines, logger="kpi_core.slow")
    assert slow["level"] == "WARNING" and slow["request_id"] == "slow-request-01"
    assert slow["duration_ms"] >= 50 and "KPI_SLOW_REQUEST_MS=20" in slow["message"]


def test_the_request_id_reaches_the_log_of_an_in_process_job(client, admin_headers, log_lines):
    response = client.post(
        "/api/v1/job-runs",
        json={"job_key": "test.chatty", "params": {"word": "hi"}},
        headers={**admin_headers, "X-Request-ID": "enqueue-request-01"},
    )
    assert response.status_code == 202, response.json

    deadline = time.monotonic() + 10
    while not records(log_lines, logger="tests.observability.job") and time.monotonic() < deadline:
        time.sleep(0.05)
    (line,) = records(log_lines, logger="tests.observability.job")
    assert line["request_id"] == "enqueue-request-01" and line["user"] == "admin"


def test_the_request_id_reaches_the_log_of_an_rq_job_through_its_meta(
    settings, database, plugins, redis_url, make_user, log_lines
):
    rq_settings = replace(settings, redis_url=redis_url)
    app = create_app(rq_settings, database=database, plugins=plugins)
    client = app.test_client()
    make_user("admin", username="boss")
    token = client.post("/api/v1/auth/login", json={"username": "boss", "password": TEST_PASSWORD})
    headers = {"Authorization": f"Bearer {token.json['access_token']}", "X-Request-ID": "rq-request-0001"}

    response = client.post(
        "/api/v1/job-runs", json={"job_key": "test.chatty", "params": {"word": "yo"}}, headers=headers
    )
    assert response.status_code == 202, response.json
    connection = Redis.from_url(redis_url)
    with database.session(write=False) as session:
        dispatch_id = session.get(JobRun, response.json["id"]).dispatch_id
    assert Job.fetch(dispatch_id, connection=connection).meta["request_id"] == "rq-request-0001"
    worker_module.install_environment(JobEnvironment(rq_settings, database, plugins))
    try:
        SimpleWorker([QUEUE_NAME], connection=connection).work(burst=True)
    finally:
        worker_module._environment = None
        connection.close()

    (line,) = records(log_lines, logger="tests.observability.job")
    assert (line["request_id"], line["user"]) == ("rq-request-0001", "boss")
    assert records(log_lines, logger="kpi_core.jobs.worker", request_id="rq-request-0001")


# --- /metrics -------------------------------------------------------------------------------------------


def test_metrics_count_requests_per_route_rule_not_per_path(client, admin_headers):
    before = metrics_text(client)
    for team in (101, 102, 103):
        client.get(f"/api/v1/teams/{team}", headers=admin_headers)
    body = metrics_text(client)

    labels = {"method": "GET", "route": "/api/v1/teams/<int:team_id>", "status": "404"}
    assert sample(body, "kpi_http_requests_total", **labels) - sample(before, "kpi_http_requests_total", **labels) == 3
    assert "/api/v1/teams/101" not in body
    histogram = {"method": "GET", "route": "/api/v1/teams/<int:team_id>"}
    assert sample(body, "kpi_http_request_duration_seconds_count", **histogram) >= 3


def test_unknown_paths_share_one_series(client):
    client.get(f"/no/such/{uuid.uuid4().hex}")

    body = metrics_text(client)
    assert sample(body, "kpi_http_requests_total", route="<unmatched>", status="404") >= 1


def test_kpi_cache_lookups_are_exposed_by_result(client):
    before = sample(metrics_text(client), "kpi_cache_lookups_total", result="hit")
    KPI_CACHE_LOOKUPS.labels(result="hit").inc()
    KPI_CACHE_LOOKUPS.labels(result="miss").inc()

    body = metrics_text(client)
    assert sample(body, "kpi_cache_lookups_total", result="hit") == before + 1
    assert sample(body, "kpi_cache_lookups_total", result="miss") >= 1


def test_metrics_are_refused_to_an_address_outside_the_allowed_networks(client):
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})

    assert response.status_code == 403
    assert "KPI_METRICS_ALLOW" in response.json["message"]


def test_metrics_are_served_to_an_allowed_network(settings, database, plugins):
    app = create_app(replace(settings, metrics_allow=("10.0.0.0/8",)), database=database, plugins=plugins)

    assert app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert app.test_client().get("/metrics").status_code == 403  # loopback is no longer listed


def test_the_metrics_token_opens_metrics_from_anywhere_and_a_wrong_one_does_not(settings, database, plugins):
    app = create_app(replace(settings, metrics_token=METRICS_TOKEN), database=database, plugins=plugins)
    client = app.test_client()
    outside = {"REMOTE_ADDR": "203.0.113.9"}

    good = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, environ_base=outside)
    bad = client.get("/metrics", headers={"Authorization": "Bearer wrong-token-wrong-token"}, environ_base=outside)

    assert good.status_code == 200 and "kpi_http_requests_total" in good.get_data(as_text=True)
    assert bad.status_code == 403


def test_behind_a_trusted_proxy_the_client_address_decides(settings, database, plugins):
    app = create_app(replace(settings, proxy_hops=1), database=database, plugins=plugins)
    forwarded = {"X-Forwarded-For": "203.0.113.9"}

    assert app.test_client().get("/metrics", headers=forwarded).status_code == 403


@pytest.mark.parametrize(
    "database_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_job_metrics_count_runs_by_status_and_bucket_finished_durations(client, database):
    now = utcnow()
    with database.session() as session:
        for seconds in (0.5, 3, 30):
            session.add(
                JobRun(
                    job_key="core.backup",
                    status="finished",
                    backend="rq",
                    dispatch_id=uuid.uuid4().hex,
                    started_at=now - timedelta(seconds=seconds),
                    finished_at=now,
                )
            )
        session.add(JobRun(job_key="core.backup", status="failed", backend="rq", dispatch_id=uuid.uuid4().hex))

    body = metrics_text(client)

    assert sample(body, "kpi_job_runs", job_key="core.backup", status="finished") == 3
    assert sample(body, "kpi_job_runs", job_key="core.backup", status="failed") == 1
    assert sample(body, "kpi_job_run_duration_seconds_bucket", job_key="core.backup", le="1.0") == 1
    assert sample(body, "kpi_job_run_duration_seconds_bucket", job_key="core.backup", le="5.0") == 2
    assert sample(body, "kpi_job_run_duration_seconds_bucket", job_key="core.backup", le="+Inf") == 3
    assert sample(body, "kpi_job_run_duration_seconds_count", job_key="core.backup") == 3
    assert sample(body, "kpi_job_run_duration_seconds_sum", job_key="core.backup") == pytest.approx(33.5, abs=0.05)


# --- the database unreachable ----------------------------------------------------------------------------


def test_an_unreachable_database_answers_503_with_retry_after_in_the_error_shape(tmp_path):
    settings = Settings.from_env({}, data_dir=tmp_path, secret_key=TEST_SECRET)
    app = create_app(settings, database=Database("postgresql+psycopg://nobody:hunter2@127.0.0.1:1/x"))

    response = app.test_client().post("/api/v1/auth/login", json={"username": "ann", "password": "whatever-123"})

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json["code"] == 503 and "database" in response.json["message"]
    assert response.json["request_id"]
    assert "hunter2" not in response.get_data(as_text=True)


def test_metrics_still_answer_while_the_database_is_down(tmp_path):
    settings = Settings.from_env({}, data_dir=tmp_path, secret_key=TEST_SECRET)
    app = create_app(settings, database=Database("postgresql+psycopg://nobody@127.0.0.1:1/x"))

    body = metrics_text(app.test_client())

    assert "kpi_http_requests_total" in body and "kpi_job_runs{" not in body


# --- settings ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("KPI_LOG_FORMAT", "xml"),
        ("KPI_METRICS_ALLOW", "not-a-network"),
        ("KPI_METRICS_TOKEN", "short"),
        ("KPI_SLOW_REQUEST_MS", "-1"),
        ("KPI_WEB_WORKERS", "-2"),
        ("KPI_PROXY_HOPS", "-1"),
    ],
)
def test_invalid_observability_settings_are_refused_naming_the_variable(variable, raw):
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env({variable: raw})


# --- gunicorn: several worker processes, one /metrics -----------------------------------------------------


@pytest.mark.slow
def test_gunicorn_workers_add_up_their_metrics_and_log_json(tmp_path, sqlite_url):
    database = Database(sqlite_url)
    upgrade(database.engine)
    database.dispose()
    port = _free_port()
    environ = {name: value for name, value in os.environ.items() if not name.startswith(("KPI_", "PROMETHEUS_"))}
    environ.update(KPI_DATABASE_URL=sqlite_url, KPI_SECRET_KEY=TEST_SECRET, KPI_DATA_DIR=str(tmp_path),
                   KPI_LOG_FORMAT="json")  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(KPI), "serve", "--port", str(port), "--workers", "2"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environ,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base, server)
        with httpx.Client(base_url=base, timeout=10) as http:
            # New connections each time, so gunicorn's two workers both answer some.
            for _ in range(30):
                assert http.get("/healthz", headers={"Connection": "close"}).status_code == 200
            body = http.get("/metrics").text
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert sample(body, "kpi_http_requests_total", route="/healthz", status="200") == 30
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    pids = {line["message"].split("pid: ")[1].rstrip(")") for line in lines if "Booting worker" in line["message"]}
    assert len(pids) == 2
    assert len([line for line in lines if line["logger"] == "kpi_core.access" and line["path"] == "/healthz"]) == 30


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, "kpi serve --workers 2 exited"
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("kpi serve --workers 2 did not become ready")
