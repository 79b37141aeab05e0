"""The production topology with real processes (deploy/local_cluster.py): PostgreSQL, Redis,
two gunicorn instances behind nginx, two RQ workers and one scheduler, driven over HTTP.

The tests share one cluster and run in file order: the later ones break parts of it (kill an
app instance and a worker mid-run, restart Redis, stop PostgreSQL) and check that requests keep
succeeding or fail with a clear 503, that nothing written is lost, and that the interrupted
report still finishes. A worker killed with its job is noticed by RQ once the job's heartbeat
expires (up to 90 s) and the job is retried 30 s later, so the module takes about three minutes.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.topology, pytest.mark.slow]

REQUIRED = {"nginx": "nginx", "redis-server": "redis-server"}
JOB_COUNT = 12
MARCH = {"start": "2026-03-01", "end": "2026-04-01"}


def _load_cluster_module() -> Any:
    spec = importlib.util.spec_from_file_location("local_cluster", REPO / "deploy" / "local_cluster.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["local_cluster"] = module
    spec.loader.exec_module(module)
    return module


local_cluster = _load_cluster_module()


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    for binary, package in REQUIRED.items():
        if not (shutil.which(binary) or Path("/usr/sbin", binary).exists() or Path("/usr/bin", binary).exists()):
            _missing(f"{binary} is not installed (Debian package: {package})")
    root = tmp_path_factory.mktemp("cluster")
    try:
        # One gunicorn worker per instance: the test is about instances; test_observability covers
        # several workers per instance. Fewer processes start faster on a 2-core machine.
        running = local_cluster.Cluster(root, gunicorn_workers=1).start()
    except local_cluster.ClusterError as exc:
        _missing(str(exc))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def token(cluster: Any) -> str:
    response = httpx.post(
        cluster.url + "/api/v1/auth/login",
        json={"username": local_cluster.ADMIN, "password": cluster.admin_password},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def client(base_url: str, token: str, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}", **headers}, timeout=30)


def eventually(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll until ``check`` returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def jobs_csv(prefix: str, count: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["external_ref", "technician_ref", "customer_ref", "customer_name", "category", "status",
                     "scheduled_start", "scheduled_end", "arrived_at", "started_at", "completed_at",
                     "estimated_minutes", "revenue", "callback_of"])  # fmt: skip
    for n in range(count):
        day = 2 + n % 20
        writer.writerow([f"{prefix}{n}", f"T{n % 3}", f"C{n}", f"Customer {n}", "plumbing", "completed",
                         f"2026-03-{day:02d}T09:00:00Z", f"2026-03-{day:02d}T11:00:00Z",
                         f"2026-03-{day:02d}T09:05:00Z", f"2026-03-{day:02d}T09:10:00Z",
                         f"2026-03-{day:02d}T10:40:00Z", "90", "150.00", ""])  # fmt: skip
    return out.getvalue()


def import_jobs(http: httpx.Client, prefix: str, count: int = JOB_COUNT) -> httpx.Response:
    return http.post(
        "/api/v1/imports/jobs",
        params={"create_technicians": 1},
        content=jobs_csv(prefix, count),
        headers={"Content-Type": "text/csv"},
    )


def company_sample(http: httpx.Client) -> float:
    """The largest sample behind any company KPI value in March: the number of jobs it counts."""
    response = http.get("/api/v1/kpis/values", params={**MARCH, "group_by": "company", "period": "month"})
    assert response.status_code == 200, response.text
    return max(row["denominator"] for row in response.json())


def json_lines(text_: str) -> list[dict[str, Any]]:
    records = []
    for line in text_.splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


def metric_total(body: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in body.splitlines():
        if not line.startswith(name + "{"):
            continue
        wanted = all(f'{key}="{value}"' in line for key, value in labels.items())
        if wanted:
            total += float(line.rsplit(" ", 1)[1])
    return total


def reports_available(http: httpx.Client) -> bool:
    return "/api/v1/reports" in http.get("/api/openapi.json").json()["paths"]


def start_slow_work(http: httpx.Client, request_id: str) -> tuple[str, int]:
    """Request a report (or, before reports exist, a backup job); returns (kind, id to poll)."""
    headers = {"X-Request-ID": request_id}
    if reports_available(http):
        response = http.post("/api/v1/reports", json={"format": "csv", **MARCH}, headers=headers)
        assert response.status_code == 202, response.text
        return "reports", response.json()["id"]
    response = http.post("/api/v1/job-runs", json={"job_key": "core.backup"}, headers=headers)
    assert response.status_code == 202, response.text
    return "job-runs", response.json()["id"]


def status_of(http: httpx.Client, kind: str, ident: int) -> dict[str, Any]:
    response = http.get(f"/api/v1/{kind}/{ident}")
    assert response.status_code == 200, response.text
    return response.json()


def run_of(http: httpx.Client, kind: str, ident: int) -> dict[str, Any]:
    state = status_of(http, kind, ident)
    run_id = state["job_run_id"] if kind == "reports" else ident
    return status_of(http, "job-runs", run_id) if run_id else {}


def worker_of(cluster: Any, run: dict[str, Any]) -> Any:
    """The worker process (of ours) whose work horse ran ``run`` (``worker`` is host:pid:rq)."""
    pid = int((run.get("worker") or "x:0:").split(":")[1])
    for name in ("worker1", "worker2"):
        if cluster.processes[name].owns(pid):
            return cluster.processes[name]
    return None


# --- the topology working ------------------------------------------------------------------------


def test_login_through_nginx_gives_a_token_every_instance_accepts(cluster, token):
    for index in range(cluster.app_instances):
        with client(cluster.instance_url(index), token) as http:
            assert http.get("/api/v1/auth/me").status_code == 200


def test_nginx_spreads_requests_over_both_instances(cluster, token):
    with client(cluster.url, token) as http:
        for _ in range(20):
            assert http.get("/api/v1/teams").status_code == 200
    for index in range(cluster.app_instances):
        body = httpx.get(cluster.instance_url(index) + "/metrics", timeout=10).text
        assert metric_total(body, "kpi_http_requests_total", route="/api/v1/teams", status="200") > 0, index


def test_jobs_imported_through_one_instance_are_read_through_the_other(cluster, token):
    with client(cluster.instance_url(0), token) as first, client(cluster.instance_url(1), token) as second:
        response = import_jobs(first, "A")
        assert response.status_code == 200, response.text

        assert company_sample(second) == JOB_COUNT


def test_a_report_is_made_by_a_worker_whose_logs_carry_the_request_id(cluster, token):
    request_id = f"topology-{uuid.uuid4().hex[:12]}"
    with client(cluster.url, token) as http:
        kind, ident = start_slow_work(http, request_id)
        eventually(lambda: status_of(http, kind, ident)["status"] == "finished", 90, f"{kind} {ident} to finish")
        run_id = run_of(http, kind, ident)["id"]

    tagged = {name: records_of(cluster, name, request_id=request_id) for name in ("worker1", "worker2")}
    (ran_it,) = [name for name, records in tagged.items() if records]
    assert any(r["message"] == f"run {run_id}: attempt finished" for r in tagged[ran_it])
    app_records = records_of(cluster, "app1", request_id=request_id) + records_of(
        cluster, "app2", request_id=request_id
    )
    assert any(r.get("status") == 202 and r.get("method") == "POST" for r in app_records)


def records_of(cluster: Any, name: str, **match: Any) -> list[dict[str, Any]]:
    """The JSON log records of process ``name`` whose fields include ``match``."""
    records = json_lines(cluster.log_text(name))
    return [r for r in records if all(r.get(key) == value for key, value in match.items())]


def test_a_backup_is_taken_and_verifies(cluster):
    created = cluster.kpi("backup", "create")
    path = created.split("Backup written: ", 1)[1].splitlines()[0].strip()

    assert "OK:" in cluster.kpi("backup", "verify", path)


def test_job_metrics_count_the_runs_from_the_database(cluster):
    body = httpx.get(cluster.instance_url(1) + "/metrics", timeout=10).text

    assert metric_total(body, "kpi_job_runs", status="finished") >= 1
    assert "kpi_job_run_duration_seconds_bucket" in body


# --- faults --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def interrupted(cluster, token) -> dict[str, Any]:
    """A report whose worker was killed mid-run, with one app instance killed too.

    A lock held on report_files keeps the report in the middle of its work until both are dead.
    """
    with report_files_locked(cluster):
        with client(cluster.url, token) as http:
            kind, ident = start_slow_work(http, f"interrupted-{uuid.uuid4().hex[:8]}")
            run = running_on_a_worker(cluster, http, kind, ident)
        victim = worker_of(cluster, run)
        victim.kill()
        cluster.processes["app1"].kill()
        killed_at = time.monotonic()
    return {"kind": kind, "id": ident, "run": run, "victim": victim.name, "killed_at": killed_at}


@contextmanager
def report_files_locked(cluster: Any) -> Iterator[None]:
    """A report started meanwhile waits in the middle of its work until the block ends."""
    engine = create_engine(cluster.database_url)
    lock = engine.connect()
    lock.begin()
    lock.execute(text("LOCK TABLE report_files IN ACCESS EXCLUSIVE MODE"))
    try:
        yield
    finally:
        lock.rollback()
        lock.close()
        engine.dispose()


def running_on_a_worker(cluster: Any, http: httpx.Client, kind: str, ident: int) -> dict[str, Any]:
    return eventually(
        lambda: (r := run_of(http, kind, ident)).get("status") == "running" and worker_of(cluster, r) and r,
        60,
        "the work to be running on a worker",
    )


def test_requests_keep_succeeding_through_nginx_with_one_instance_and_one_worker_killed(cluster, token, interrupted):
    with client(cluster.url, token) as http:
        statuses = [http.get("/api/v1/teams").status_code for _ in range(20)]
        statuses.append(import_jobs(http, "B").status_code)

    assert statuses == [200] * 21
    assert not cluster.processes["app1"].running()


def test_postgresql_briefly_unavailable_answers_a_clear_503_and_recovers_without_restart(cluster, token, interrupted):
    with client(cluster.url, token) as http:
        before = company_sample(http)
        cluster.postgres.stop()
        try:
            during = http.get("/api/v1/kpis/values", params={**MARCH, "group_by": "company"})
            refused_write = import_jobs(http, "C")
        finally:
            cluster.postgres.start()
        after = eventually(lambda: _sample_or_none(http), 30, "the app to reach PostgreSQL again")
        assert import_jobs(http, "C").status_code == 200

        assert during.status_code == 503, during.text
        assert during.json()["code"] == 503 and "database" in during.json()["message"]
        assert int(during.headers["Retry-After"]) > 0
        assert refused_write.status_code == 503
        assert after == before == 2 * JOB_COUNT  # A and B, nothing lost; nothing of the refused import
        assert company_sample(http) == 3 * JOB_COUNT


def _sample_or_none(http: httpx.Client) -> float | None:
    response = http.get("/api/v1/kpis/values", params={**MARCH, "group_by": "company", "period": "month"})
    if response.status_code != 200:
        return None
    return max(row["denominator"] for row in response.json())


def test_redis_restarted_loses_no_queued_work_and_jobs_run_again(cluster, token, interrupted):
    # A job that finishes while Redis is down: RQ's own worker quit for good on the lost connection.
    with client(cluster.url, token) as http:
        with report_files_locked(cluster):
            kind, ident = start_slow_work(http, f"redis-restart-{uuid.uuid4().hex[:8]}")
            worker = worker_of(cluster, running_on_a_worker(cluster, http, kind, ident))
            cluster.stop_redis()
        eventually(lambda: status_of(http, kind, ident)["status"] == "finished", 60, f"{kind} {ident} to finish")
    cluster.start_redis()
    with client(cluster.url, token) as http:
        response = eventually(
            lambda: (
                (r := http.post("/api/v1/job-runs", json={"job_key": "core.refresh_statistics"})).status_code == 202
                and r
            ),
            30,
            "the queue to take jobs again",
        )
        run_id = response.json()["id"]
        eventually(lambda: status_of(http, "job-runs", run_id)["status"] == "finished", 60, "the job to run")
    assert worker.running(), f"{worker.name} quit when Redis went away: see {worker.log}"


def test_the_interrupted_report_finishes_on_the_surviving_worker(cluster, token, interrupted):
    with client(cluster.url, token) as http:
        kind, ident = interrupted["kind"], interrupted["id"]
        # RQ notices the dead worker's job when its heartbeat expires (<= 90 s), retries it 30 s later.
        eventually(lambda: status_of(http, kind, ident)["status"] == "finished", 180, f"{kind} {ident} to finish")
        run = run_of(http, kind, ident)

    assert run["attempts"] >= 2
    survivor = "worker2" if interrupted["victim"] == "worker1" else "worker1"
    assert records_of(cluster, survivor, message=f"run {run['id']}: attempt finished")
