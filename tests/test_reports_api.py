"""/api/v1/reports: request -> poll -> download, the same numbers as /api/v1/kpis/values,
validation naming fields, who sees which runs, safe file names, report schedules, and RQ.

One app per module (building it costs more than most tests); each test starts from
empty tables. Reports render on the app's in-process runner, except the RQ test,
which runs them through a real Redis and an RQ worker.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import func, select

from kpi_core.config import Settings
from kpi_core.jobs import worker as worker_module
from kpi_core.jobs.execute import JobEnvironment
from kpi_core.jobs.rq_runner import QUEUE_NAME
from kpi_core.jobs.scheduler import Scheduler
from kpi_core.plugins import load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.storage.models import AuditEntry, Base, Feedback, Job, JobRun, ReportFile, ReportRun, Team, Technician
from kpi_core.storage.types import utcnow
from kpi_core.testing.fixtures import TEST_SECRET
from kpi_core.web.app import create_app
from kpi_core.web.jobs_runs_api import RUNNER_KEY
from kpi_core.web.state import EXTENSION_KEY

FTF = "quality.first_time_fix_rate"
RATING = "quality.avg_customer_rating"
RANGE = {"start": "2026-01-01", "end": "2026-03-01"}
DONE = ("finished", "failed")
FAKE_DISPATCH = "not-dispatched"
"""The dispatch id of job runs a test adds by hand: nothing ever runs them."""


# --- one app for the module -----------------------------------------------------------------


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('reports') / 'kpi.sqlite3'}"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    data_dir = tmp_path_factory.mktemp("data")
    return Settings.from_env({}, data_dir=data_dir, database_url=database_url, secret_key=TEST_SECRET)


@pytest.fixture(scope="module")
def database(settings: Settings) -> Iterator[Database]:
    database = Database(settings.effective_database_url)
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def plugins(settings: Settings):
    return load_plugins(settings)


@pytest.fixture(scope="module")
def app(settings: Settings, database: Database, plugins) -> Iterator[Flask]:
    app = create_app(settings, database=database, plugins=plugins)
    yield app
    app.extensions[RUNNER_KEY].shutdown(wait=True)


@pytest.fixture(scope="module")
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(autouse=True)
def fresh_state(app: Flask, database: Database) -> Iterator[None]:
    """Empty tables for each test; afterwards, the reports it started are let finish (ids are reused)."""
    with database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    app.extensions[EXTENSION_KEY].authenticator.throttle.clear()
    yield
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with database.session(write=False) as session:
            active = (
                select(func.count())
                .select_from(JobRun)
                .where(JobRun.status.in_(("queued", "running")), JobRun.dispatch_id != FAKE_DISPATCH)
            )
            if not session.scalar(active):
                return
        time.sleep(0.1)


@pytest.fixture
def crew(database: Database) -> dict[str, int]:
    """North: Ada (3 jobs, 1 callback) and Bob (2); South: Cy (1). January and February 2026."""
    with database.session() as session:
        north, south = Team(name="North"), Team(name="South")
        session.add_all([north, south])
        session.flush()
        ada = Technician(external_ref="T-ADA", name="Ada Lovelace", team_id=north.id)
        bob = Technician(external_ref="T-BOB", name="Bob Builder", team_id=north.id)
        cy = Technician(external_ref="T-CY", name="Cy Young", team_id=south.id)
        session.add_all([ada, bob, cy])
        session.flush()
        plan = [(ada, 1, 5, 5), (ada, 1, 9, 4), (ada, 2, 3, 3), (bob, 1, 12, 2), (bob, 2, 20, None), (cy, 2, 2, 5)]
        jobs = []
        for number, (tech, month, day, rating) in enumerate(plan):
            done = datetime(2026, month, day, 15, tzinfo=UTC)
            job = Job(
                external_ref=f"J-{number}",
                technician_id=tech.id,
                category="plumbing",
                status="completed",
                completed_at=done,
            )
            session.add(job)
            session.flush()
            jobs.append(job)
            if rating is not None:
                session.add(Feedback(job_id=job.id, rating=rating, received_at=done))
        # Ada's first January job needed a return visit: not a first-time fix.
        session.add(
            Job(
                external_ref="J-callback",
                technician_id=ada.id,
                category="plumbing",
                status="scheduled",
                scheduled_start=datetime(2026, 1, 20, 9, tzinfo=UTC),
                callback_of_id=jobs[0].id,
            )
        )
        return {"north": north.id, "south": south.id, "ada": ada.id, "bob": bob.id, "cy": cy.id}


@pytest.fixture
def manager_headers(make_user, login, crew) -> dict[str, str]:
    make_user("manager", username="north_manager", teams=("North",))
    return login("north_manager")


def request_report(client, headers, **body):
    return client.post("/api/v1/reports", json={"format": "csv", **RANGE, **body}, headers=headers)


def wait_for(client, headers, location: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = client.get(location, headers=headers).json
        if state["status"] in DONE:
            return state
        assert time.monotonic() < deadline, f"the report did not finish: {state}"
        time.sleep(0.1)


def finished_report(client, headers, **body) -> tuple[dict, bytes]:
    response = request_report(client, headers, **body)
    assert response.status_code == 202, response.json
    state = wait_for(client, headers, response.headers["Location"])
    assert state["status"] == "finished", state
    download = client.get(state["download_url"], headers=headers)
    assert download.status_code == 200
    return state, download.data


def api_values(client, headers, **params) -> dict[tuple[str, str, str], dict]:
    response = client.get("/api/v1/kpis/values", query_string={**RANGE, **params}, headers=headers)
    assert response.status_code == 200, response.json
    return {(row["group_id"], row["period_start"], row["kpi"]): row for row in response.json}


# --- request, poll, download ----------------------------------------------------------------------


def test_post_answers_202_with_the_queued_run_and_its_location(client, admin_headers, crew):
    response = request_report(client, admin_headers, title="January", kpis=[FTF])

    assert response.status_code == 202
    assert response.headers["Location"].endswith(f"/api/v1/reports/{response.json['id']}")
    assert response.json["status"] in {"queued", "running", "finished"}
    assert response.json["spec"]["kpis"] == [FTF]
    assert response.json["spec"]["filters"] == {"team": [], "technician": [], "category": []}
    assert response.json["job_run_id"] is not None


def test_a_csv_report_holds_the_numbers_the_values_api_gives(client, admin_headers, crew):
    state, content = finished_report(client, admin_headers, group_by="technician", kpis=[FTF, RATING])

    assert state["media_type"] == "text/csv; charset=utf-8"
    assert (state["progress"], state["eta_seconds"], state["size_bytes"]) == (100, 0, len(content))
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    expected = api_values(client, admin_headers, group_by="technician", kpi=[FTF, RATING])
    assert len(rows) == len(expected) > 0
    for row in rows:
        api = expected[(row["group_id"], row["period_start"], row["kpi"])]
        assert float(row["numerator"]) == api["numerator"]
        assert float(row["denominator"]) == api["denominator"]
        if api["value"] is None:
            assert row["value"] == ""  # missing is empty, never 0
        elif row["unit"] == "%":  # a rate, as a percentage rounded to one decimal
            assert float(row["value"]) == round(api["value"] * 100, 1)
        else:  # a mean, rounded to two decimals
            assert float(row["value"]) == round(api["value"], 2)
        assert row["status"] == (api["status"] or "")


def test_the_download_has_the_media_type_a_safe_name_and_the_stored_checksum(client, admin_headers, crew, database):
    state, content = finished_report(client, admin_headers, title="Q1 review", kpis=[FTF])
    download = client.get(state["download_url"], headers=admin_headers)

    assert download.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert download.headers["Content-Disposition"] == (
        "attachment; filename=\"Q1 review.csv\"; filename*=UTF-8''Q1%20review.csv"
    )
    with database.session(write=False) as session:
        stored = session.get(ReportFile, state["id"])
        assert stored.content == content
        assert download.headers["ETag"] == f'"{stored.sha256}"'


def pdf_text(content: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed (Debian package poppler-utils)")
    path = tmp_path / "report.pdf"
    path.write_bytes(content)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_a_pdf_report_shows_the_values_api_numbers_for_company_teams_and_technicians(
    client, admin_headers, crew, tmp_path
):
    state, content = finished_report(client, admin_headers, format="pdf", title="Winter review", kpis=[FTF, RATING])

    assert (state["media_type"], content[:5]) == ("application/pdf", b"%PDF-")
    text = pdf_text(content, tmp_path)
    assert "Winter review" in text
    for name in ("Ada Lovelace", "Bob Builder", "Cy Young", "North", "South"):
        assert name in text
    company = api_values(client, admin_headers, group_by="company", kpi=[FTF, RATING])
    # January's company first-time fix rate and rating as the API gives them, as the PDF prints them.
    january_ftf = company[("company", "2026-01-01", FTF)]["value"]
    january_rating = company[("company", "2026-01-01", RATING)]["value"]
    assert f"{january_ftf * 100:.1f}%" in text
    assert f"{january_rating:.1f}" in text


# --- progress and state -------------------------------------------------------------------------


def add_run(database, *, owner: int | None, status: str, progress: int = 0, started_ago: float | None = None) -> int:
    """A report run whose job run is in ``status`` (nothing runs it): to look at a run mid-way."""
    with database.session() as session:
        now = utcnow()
        job = JobRun(
            job_key="core.report",
            params={},
            status=status,
            progress=progress,
            message="rendering the PDF report" if status == "running" else None,
            attempts=1 if status != "queued" else 0,
            max_attempts=3,
            backend="inprocess",
            dispatch_id=FAKE_DISPATCH,
            created_at=now,
            started_at=now - timedelta(seconds=started_ago) if started_ago is not None else None,
            error="RuntimeError: boom" if status == "failed" else None,
            traceback="Traceback (most recent call last): ..." if status == "failed" else None,
            finished_at=now if status == "failed" else None,
        )
        session.add(job)
        session.flush()
        run = ReportRun(
            requested_by_id=owner,
            format="pdf",
            title="Mid-way",
            spec={"format": "pdf"},
            status="queued",
            created_at=now,
            job_run_id=job.id,
        )
        session.add(run)
        session.flush()
        return run.id


def test_a_running_report_shows_progress_message_and_an_eta_from_its_pace(client, admin_headers, database):
    report_id = add_run(database, owner=None, status="running", progress=40, started_ago=20)

    state = client.get(f"/api/v1/reports/{report_id}", headers=admin_headers).json

    assert (state["status"], state["progress"], state["message"]) == ("running", 40, "rendering the PDF report")
    assert 29 <= state["eta_seconds"] <= 32  # 20 s for 40%: about 30 s for the other 60%
    assert state["download_url"] is None


def test_a_queued_report_has_no_eta_and_cannot_be_downloaded_yet(client, admin_headers, database):
    report_id = add_run(database, owner=None, status="queued")

    state = client.get(f"/api/v1/reports/{report_id}", headers=admin_headers).json
    download = client.get(f"/api/v1/reports/{report_id}/download", headers=admin_headers)

    assert (state["status"], state["eta_seconds"]) == ("queued", None)
    assert download.status_code == 409
    assert "queued" in download.json["message"]


def test_a_failed_report_shows_its_error_and_the_traceback_to_admins_only(
    client, admin_headers, manager_headers, database
):
    owner = client.get("/api/v1/auth/me", headers=manager_headers).json["id"]
    report_id = add_run(database, owner=owner, status="failed")

    as_admin = client.get(f"/api/v1/reports/{report_id}", headers=admin_headers).json
    as_owner = client.get(f"/api/v1/reports/{report_id}", headers=manager_headers).json

    assert as_admin["error"] == as_owner["error"] == "RuntimeError: boom"
    assert as_admin["traceback"].startswith("Traceback")
    assert as_owner["traceback"] is None
    assert client.get(f"/api/v1/reports/{report_id}/download", headers=manager_headers).status_code == 409


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"format": "xls"}, "format", "available: csv, csv_wide, pdf"),
        ({"kpis": ["quality.nope"]}, "kpis", "unknown KPI 'quality.nope'"),
        ({"start": "2026-03-01", "end": "2026-03-01"}, "end", "must be after start"),
        ({"period": "day", "start": "2020-01-01", "end": "2026-01-01"}, "end", "at most 1000"),
        ({"group_by": "planet"}, "group_by", "Must be one of"),
        ({"filters": {"team": [999]}}, "filters.team", "no team with id 999"),
        ({"filters": {"technician": [999]}}, "filters.technician", "no technician with id 999"),
        ({"start": None}, "start", "is required"),
        ({"last_periods": 2}, "last_periods", "not both"),
        ({"title": "   "}, "title", "non-empty"),
        ({"colour": "red"}, "colour", "Unknown field"),
    ],
)
def test_bad_input_is_422_naming_the_field(client, admin_headers, crew, body, field, says):
    payload = {"format": "csv", **RANGE, **body}
    payload = {name: value for name, value in payload.items() if value is not None}

    response = client.post("/api/v1/reports", json=payload, headers=admin_headers)

    assert response.status_code == 422, response.json
    messages = response.json["errors"]["json"][field]
    assert says in " ".join(messages if isinstance(messages, list) else [str(messages)])


def test_nothing_is_recorded_for_a_refused_request(client, admin_headers, database):
    client.post("/api/v1/reports", json={"format": "xls", **RANGE}, headers=admin_headers)

    with database.session(write=False) as session:
        assert session.scalar(select(func.count()).select_from(ReportRun)) == 0
        assert session.scalar(select(func.count()).select_from(JobRun)) == 0


def test_a_manager_cannot_filter_on_a_team_they_do_not_manage(client, manager_headers, crew):
    response = request_report(client, manager_headers, filters={"team": [crew["south"]]})

    assert response.status_code == 422
    assert "filters.team" in response.json["errors"]["json"]


def test_last_periods_resolves_to_the_complete_periods_before_today(client, admin_headers):
    payload = {"format": "csv", "period": "month", "last_periods": 2}
    response = client.post("/api/v1/reports", json=payload, headers=admin_headers)

    assert response.status_code == 202, response.json
    this_month = date.today().replace(day=1)
    assert response.json["spec"]["end"] == this_month.isoformat()
    assert response.json["spec"]["start"] < this_month.isoformat()


# --- who sees which runs ---------------------------------------------------------------------


def test_a_manager_s_report_holds_only_their_teams(client, manager_headers, crew):
    _state, content = finished_report(client, manager_headers, group_by="technician", kpis=[FTF])

    labels = {row["group_label"] for row in csv.DictReader(io.StringIO(content.decode("utf-8-sig")))}
    assert labels == {"Ada Lovelace", "Bob Builder"}


def test_admins_list_every_run_and_others_only_their_own(client, admin_headers, manager_headers, database, crew):
    owner = client.get("/api/v1/auth/me", headers=manager_headers).json["id"]
    mine = add_run(database, owner=owner, status="queued")
    theirs = add_run(database, owner=None, status="queued")

    assert {run["id"] for run in client.get("/api/v1/reports", headers=admin_headers).json} == {mine, theirs}
    listed = client.get("/api/v1/reports", headers=manager_headers)
    assert [run["id"] for run in listed.json] == [mine]
    assert "X-Pagination" in listed.headers


def test_someone_else_s_run_is_404_to_a_manager_and_technicians_get_403(
    client, manager_headers, make_user, login, database
):
    other = add_run(database, owner=None, status="failed")
    make_user("technician", username="tech", technician_ref="T-ADA")
    technician = login("tech")

    for path in (f"/api/v1/reports/{other}", f"/api/v1/reports/{other}/download"):
        assert client.get(path, headers=manager_headers).status_code == 404
    assert client.delete(f"/api/v1/reports/{other}", headers=manager_headers).status_code == 404
    assert client.get("/api/v1/reports", headers=technician).status_code == 403
    assert client.get(f"/api/v1/reports/{other}", headers=technician).status_code == 403
    assert request_report(client, technician).status_code == 403


# --- delete -------------------------------------------------------------------------------------


def test_delete_removes_the_run_and_its_file_with_an_audit_entry(client, admin_headers, crew, database):
    state, _content = finished_report(client, admin_headers, kpis=[FTF])

    response = client.delete(f"/api/v1/reports/{state['id']}", headers=admin_headers)

    assert response.status_code == 204
    assert client.get(f"/api/v1/reports/{state['id']}", headers=admin_headers).status_code == 404
    with database.session(write=False) as session:
        assert session.get(ReportFile, state["id"]) is None
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.entity == "report_run")).all()
        assert actions == ["create", "delete"]


# --- file names ------------------------------------------------------------------------------


def test_a_hostile_title_gives_a_harmless_download_name(client, admin_headers, crew):
    state, _content = finished_report(client, admin_headers, title="../../etc/passwd\r\nX: y", kpis=[FTF])
    download = client.get(state["download_url"], headers=admin_headers)

    disposition = download.headers["Content-Disposition"]
    assert "X" not in download.headers  # no header smuggled in
    assert "\r" not in disposition and "\n" not in disposition
    assert "/" not in state["file_name"] and not state["file_name"].startswith(".")
    assert (
        disposition == "attachment; filename=\"_.._etc_passwd X_ y.csv\"; filename*=UTF-8''_.._etc_passwd%20X_%20y.csv"
    )


def test_a_unicode_title_downloads_under_its_own_name_with_an_ascii_fallback(client, admin_headers, crew):
    state, _content = finished_report(client, admin_headers, title="Ünïcode report", kpis=[FTF])
    download = client.get(state["download_url"], headers=admin_headers)

    assert state["file_name"] == "Ünïcode report.csv"
    assert download.headers["Content-Disposition"] == (
        "attachment; filename=\"Unicode report.csv\"; filename*=UTF-8''%C3%9Cn%C3%AFcode%20report.csv"
    )


# --- report schedules --------------------------------------------------------------------------


def test_a_report_schedule_s_spec_is_checked_when_it_is_saved(client, admin_headers):
    body = {"name": "Monthly", "kind": "report", "cron": "0 6 1 * *", "report_spec": {"format": "xls"}}

    response = client.post("/api/v1/schedules", json=body, headers=admin_headers)

    assert response.status_code == 422
    assert "available: csv, csv_wide, pdf" in response.json["errors"]["json"]["report_spec.format"][0]


def test_a_report_schedule_fires_a_report_run_like_the_api(client, admin_headers, app, crew, database):
    spec = {"format": "csv", "title": "Monthly", "kpis": [FTF], "period": "month", "last_periods": 1}
    body = {"name": "Monthly", "kind": "report", "cron": "0 6 1 * *", "report_spec": spec}
    created = client.post("/api/v1/schedules", json=body, headers=admin_headers)
    assert created.status_code == 201, created.json
    scheduler = Scheduler(app.extensions[RUNNER_KEY])

    fired = scheduler.tick(now=utcnow() + timedelta(days=32))

    assert len(fired) == 1
    listed = client.get("/api/v1/reports", headers=admin_headers).json
    assert [(run["title"], run["job_run_id"], run["requested_by_id"]) for run in listed] == [
        ("Monthly", fired[0].run_id, None)
    ]
    state = wait_for(client, admin_headers, f"/api/v1/reports/{listed[0]['id']}")
    assert state["status"] == "finished"
    with database.session(write=False) as session:
        assert session.get(JobRun, fired[0].run_id).schedule_id == created.json["id"]


def test_a_scheduled_month_to_date_report_is_labelled_so_far_and_marks_what_can_still_change(
    client, admin_headers, app, crew, database, settings, tmp_path
):
    # One job done now: this month's only first-time fix, its callback window open (issue #17).
    with database.session() as session:
        job = Job(external_ref="J-now", technician_id=crew["ada"], category="plumbing", status="completed",
                  completed_at=utcnow())  # fmt: skip
        session.add(job)
        session.flush()
        session.add(Feedback(job_id=job.id, rating=5, received_at=utcnow()))
    spec = {"format": "pdf", "title": "This month", "kpis": [FTF, RATING], "period": "month", "range": "month_to_date"}
    body = {"name": "Month so far", "kind": "report", "cron": "0 6 * * *", "report_spec": spec}
    assert client.post("/api/v1/schedules", json=body, headers=admin_headers).status_code == 201

    fired = Scheduler(app.extensions[RUNNER_KEY]).tick(now=utcnow() + timedelta(days=2))

    assert len(fired) == 1
    [run] = client.get("/api/v1/reports", headers=admin_headers).json
    today = utcnow().astimezone(settings.zone).date()  # the company's day, which month_to_date is resolved on
    assert (run["spec"]["start"], run["spec"]["end"]) == (
        today.replace(day=1).isoformat(),
        (today + timedelta(days=1)).isoformat(),
    )
    state = wait_for(client, admin_headers, f"/api/v1/reports/{run['id']}")
    assert state["status"] == "finished", state
    text = " ".join(pdf_text(client.get(state["download_url"], headers=admin_headers).data, tmp_path).split())
    assert f"{today.day} {today:%b %Y} so far" in text  # the range, on the cover and in every footer
    assert f"{today:%b %Y} so far" in text  # the month's column
    assert "too few jobs" in text  # one rating
    assert "No value yet: the outcome of 1 job is not known yet, so they are not counted" in text


# --- through Redis and an RQ worker ------------------------------------------------------------


@pytest.fixture
def rq_app(settings, database, plugins, redis_url) -> Iterator[Flask]:
    own = Settings.from_env({}, **{**settings.__dict__, "redis_url": redis_url})
    worker_module.install_environment(JobEnvironment(own, database, plugins))
    yield create_app(own, database=database, plugins=plugins)
    worker_module._environment = None


def test_a_report_goes_through_redis_and_an_rq_worker(rq_app, redis_url, make_user, crew):
    client = rq_app.test_client()
    make_user("admin", username="rq_admin")
    token = client.post("/api/v1/auth/login", json={"username": "rq_admin", "password": "correct-horse-staple-42"})
    headers = {"Authorization": f"Bearer {token.json['access_token']}"}
    response = request_report(client, headers, kpis=[FTF], group_by="team")
    assert response.status_code == 202
    assert client.get(response.headers["Location"], headers=headers).json["status"] == "queued"
    connection = Redis.from_url(redis_url)

    SimpleWorker([QUEUE_NAME], connection=connection).work(burst=True, with_scheduler=True)

    state = wait_for(client, headers, response.headers["Location"], timeout=10)
    assert state["status"] == "finished", state
    rows = list(
        csv.DictReader(io.StringIO(client.get(state["download_url"], headers=headers).data.decode("utf-8-sig")))
    )
    expected = api_values(client, headers, group_by="team", kpi=[FTF])
    assert {(r["group_id"], r["period_start"], r["kpi"]): float(r["numerator"]) for r in rows} == {
        key: row["numerator"] for key, row in expected.items()
    }
    connection.close()
