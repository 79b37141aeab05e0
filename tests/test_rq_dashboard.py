"""rq-dashboard at /admin/rq: for active admins through a short-lived cookie, only with Redis,
with a CSP of its own that admits exactly its inline scripts. Against a real redis-server."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta
from http.cookies import SimpleCookie

import pytest
from flask.testing import FlaskClient
from rq.registry import FailedJobRegistry

from kpi_core.audit.trail import Actor
from kpi_core.config import Settings
from kpi_core.jobs.rq_runner import RQRunner
from kpi_core.storage.models import User
from kpi_core.storage.types import utcnow
from kpi_core.testing.fixtures import TEST_PASSWORD, TEST_SECRET
from kpi_core.web.admin_rq import COOKIE, PREFIX
from kpi_core.web.jobs_runs_api import RUNNER_KEY


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def settings(tmp_path, database_url, redis_url) -> Settings:
    return Settings.from_env(
        {}, data_dir=tmp_path / "data", database_url=database_url, secret_key=TEST_SECRET, redis_url=redis_url
    )


def open_session(client: FlaskClient, headers: dict[str, str]):
    return client.post("/api/v1/admin/rq-session", headers=headers)


def cookie_header(response) -> SimpleCookie:
    jar = SimpleCookie()
    jar.load(response.headers["Set-Cookie"])
    return jar


@pytest.fixture
def admin_browser(client, admin_headers) -> FlaskClient:
    """The test client, holding an admin's dashboard cookie."""
    assert open_session(client, admin_headers).status_code == 200
    return client


def test_an_admin_gets_a_short_lived_strict_http_only_cookie_for_the_dashboard_only(client, admin_headers):
    response = open_session(client, admin_headers)

    assert response.status_code == 200
    assert response.json["url"] == "/admin/rq/"
    morsel = cookie_header(response)[COOKIE]
    assert morsel["path"] == PREFIX
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"
    assert int(morsel["max-age"]) <= 30 * 60
    assert not morsel["secure"]  # plain HTTP in the test; HTTPS requests get Secure


def test_the_cookie_is_secure_when_the_request_came_over_https(client, admin_headers):
    response = client.post("/api/v1/admin/rq-session", headers=admin_headers, base_url="https://kpi.example")

    assert cookie_header(response)[COOKIE]["secure"] is True


def test_the_dashboard_opens_with_the_cookie(admin_browser):
    response = admin_browser.get("/admin/rq/")

    assert response.status_code == 200
    assert b"RQ dashboard" in response.data
    assert admin_browser.get("/admin/rq").status_code in {301, 302, 308}


def test_the_dashboard_lists_the_queue_and_its_jobs(admin_browser, app):
    runner: RQRunner = app.extensions[RUNNER_KEY]
    runner.enqueue("core.refresh_statistics", requested_by=Actor.system("test"))

    queues = admin_browser.get("/admin/rq/0/data/queues.json")

    assert queues.status_code == 200
    assert {"name": "kpi", "count": 1} in [{k: q[k] for k in ("name", "count")} for q in queues.json["queues"]]


def test_without_the_cookie_the_dashboard_is_403(client, admin_headers):
    for path in ("/admin/rq/", "/admin/rq/0/data/queues.json", "/admin/rq/static/js/jquery-3.5.1.min.js"):
        response = client.get(path, headers=admin_headers)  # a bearer token is not the dashboard's way in
        assert response.status_code == 403
        assert "rq-session" in response.json["message"]


def test_a_forged_or_expired_cookie_is_403(client, admin_headers):
    client.set_cookie(COOKIE, "forged.value.here", path=PREFIX)
    assert client.get("/admin/rq/").status_code == 403

    assert open_session(client, admin_headers).status_code == 200
    assert client.get("/admin/rq/").status_code == 200
    with pytest.MonkeyPatch.context() as patch:
        # Half an hour and a minute later.
        import itsdangerous.timed

        now = itsdangerous.timed.TimestampSigner.get_timestamp
        patch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: now(self) + 31 * 60)
        assert client.get("/admin/rq/").status_code == 403


def test_a_cookie_signed_without_a_login_is_403(client, admin_browser, app):
    from itsdangerous import URLSafeTimedSerializer

    signed = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="kpi-core.rq-dashboard").dumps({"user": 1})
    client.set_cookie(COOKIE, signed, path=PREFIX)

    assert client.get("/admin/rq/").status_code == 403


@pytest.mark.parametrize("role", ["manager", "technician"])
def test_others_cannot_open_a_dashboard_session(client, make_user, login, database, role):
    if role == "technician":
        from kpi_core.storage.models import Technician

        with database.session() as session:
            session.add(Technician(external_ref="T-1", name="Tess"))
    make_user(role, username=role, technician_ref="T-1" if role == "technician" else None)

    assert open_session(client, login(role)).status_code == 403


def test_a_disabled_admin_s_cookie_stops_working_at_once(admin_browser, database):
    with database.session() as session:
        session.query(User).filter_by(username="admin").one().disabled = True

    assert admin_browser.get("/admin/rq/").status_code == 403


def test_a_demoted_admin_s_cookie_stops_working(admin_browser, database):
    with database.session() as session:
        session.query(User).filter_by(username="admin").one().role = "manager"

    assert admin_browser.get("/admin/rq/").status_code == 403


def test_revoking_the_admin_s_tokens_revokes_the_cookie(admin_browser, database):
    with database.session() as session:
        session.query(User).filter_by(username="admin").one().tokens_valid_after = utcnow() + timedelta(seconds=2)

    assert admin_browser.get("/admin/rq/").status_code == 403


# --- the cookie ends with the login ---------------------------------------------------------


@pytest.fixture
def admin_login(client, make_user) -> dict[str, str]:
    """A fresh admin's login: its token pair, and its dashboard cookie held by the test client."""
    make_user("admin", username="admin")
    pair = client.post("/api/v1/auth/login", json={"username": "admin", "password": TEST_PASSWORD}).json
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    assert open_session(client, headers).status_code == 200
    assert client.get("/admin/rq/").status_code == 200
    return {"refresh_token": pair["refresh_token"], **headers}


def bearer(login: dict[str, str]) -> dict[str, str]:
    return {"Authorization": login["Authorization"]}


def test_logging_out_ends_the_dashboard_cookie(client, admin_login):
    assert client.post("/api/v1/auth/logout", headers=bearer(admin_login)).status_code == 204

    response = client.get("/admin/rq/")
    assert response.status_code == 403
    assert "login" in response.json["message"]


def test_revoking_the_login_for_refresh_token_reuse_ends_the_dashboard_cookie(client, admin_login):
    used = {"refresh_token": admin_login["refresh_token"]}
    assert client.post("/api/v1/auth/refresh", json=used).status_code == 200
    assert client.get("/admin/rq/").status_code == 200  # a rotation is the same login
    assert client.post("/api/v1/auth/refresh", json=used).status_code == 401  # replayed: the family is revoked

    assert client.get("/admin/rq/").status_code == 403


def test_another_login_ending_leaves_this_cookie_alone(client, admin_login, login):
    other = login("admin")
    assert client.post("/api/v1/auth/logout", headers=other).status_code == 204

    assert client.get("/admin/rq/").status_code == 200


def test_an_admin_resetting_the_password_ends_the_dashboard_cookie(client, admin_login, make_user, login, database):
    make_user("admin", username="root")
    with database.session() as session:
        admin_id = session.query(User).filter_by(username="admin").one().id

    reset = client.post(f"/api/v1/users/{admin_id}/reset-password", headers=login("root"))
    assert reset.status_code == 200, reset.json

    assert client.get("/admin/rq/").status_code == 403


def test_changing_one_s_own_password_ends_the_dashboard_cookie(client, admin_login):
    change = {"current_password": TEST_PASSWORD, "new_password": "a-new-longer-passphrase-77"}
    answer = client.post("/api/v1/auth/password", headers=bearer(admin_login), json=change)
    assert answer.status_code == 200, answer.json

    assert client.get("/admin/rq/").status_code == 403
    fresh = {"Authorization": f"Bearer {answer.json['access_token']}"}
    assert open_session(client, fresh).status_code == 200
    assert client.get("/admin/rq/").status_code == 200


# --- actions only from this origin -------------------------------------------------------------


@pytest.fixture
def failed_job(app) -> FailedJobRegistry:
    """One failed job in the kpi queue; the registry it sits in."""
    runner: RQRunner = app.extensions[RUNNER_KEY]
    job = runner.queue.enqueue("builtins.print", "never run")
    registry = FailedJobRegistry(runner.queue.name, connection=runner.connection)
    runner.queue.remove(job)
    registry.add(job, exc_string="Boom")
    assert registry.count == 1
    return registry


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "none"},
        {},
    ],
    ids=[
        "foreign-origin",
        "null-origin",
        "foreign-referer",
        "cross-site-fetch",
        "same-site-fetch",
        "typed-url",
        "bare",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_action_not_shown_to_come_from_this_origin_is_refused_and_changes_nothing(
    admin_browser, failed_job, method, headers
):
    response = admin_browser.open("/admin/rq/requeue/kpi", method=method, headers=headers)

    assert response.status_code == 403
    assert "came from this site" in response.json["message"]
    assert failed_job.count == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://localhost"},
        {"Referer": "http://localhost/admin/rq/0/view/jobs"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
    ],
    ids=["origin", "referer", "fetch-metadata", "both"],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_action_from_this_origin_is_done(admin_browser, failed_job, method, headers):
    response = admin_browser.open("/admin/rq/requeue/kpi", method=method, headers=headers)

    assert response.status_code == 200
    assert response.json == {"status": "OK", "count": 1}
    assert failed_job.count == 0


def test_reads_need_no_origin(admin_browser):
    for path in (
        "/admin/rq/",
        "/admin/rq/0/view/jobs",
        "/admin/rq/0/data/queues.json",
        "/admin/rq/0/data/workers.json",
    ):
        assert admin_browser.get(path).status_code == 200, path


def test_the_dashboard_s_csp_admits_exactly_its_own_inline_scripts(admin_browser):
    response = admin_browser.get("/admin/rq/")

    policy = response.headers["Content-Security-Policy"]
    scripts = re.findall(rb"<script[^>]*>(.*?)</script>", response.data, re.DOTALL)
    inline = [body for body in scripts if body.strip()]
    assert inline
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "'unsafe-eval'" in policy  # underscore's _.template compiles with new Function
    assert "frame-ancestors 'none'" in policy
    assert response.headers["Cache-Control"] == "no-store"


def test_the_rest_of_the_app_keeps_its_strict_csp(client):
    policy = client.get("/healthz").headers["Content-Security-Policy"]

    assert "script-src 'self';" in policy
    assert "unsafe-eval" not in policy


# --- without Redis ----------------------------------------------------------------------------


@pytest.fixture
def no_redis_client(tmp_path, database, plugins) -> FlaskClient:
    from kpi_core.web.app import create_app

    own = Settings.from_env({}, data_dir=tmp_path / "plain", database_url=database.engine.url.render_as_string(False),
                            secret_key=TEST_SECRET)  # fmt: skip
    return create_app(own, database=database, plugins=plugins).test_client()


def test_without_redis_the_dashboard_is_404_saying_why(no_redis_client, make_user):
    for path in ("/admin/rq", "/admin/rq/", "/admin/rq/0/data/queues.json"):
        response = no_redis_client.get(path)
        assert response.status_code == 404
        assert "KPI_REDIS_URL" in response.json["message"]
    make_user("admin", username="root")
    token = no_redis_client.post("/api/v1/auth/login", json={"username": "root", "password": "correct-horse-staple-42"})
    headers = {"Authorization": f"Bearer {token.json['access_token']}"}
    refused = no_redis_client.post("/api/v1/admin/rq-session", headers=headers)
    assert refused.status_code == 404
    assert "KPI_REDIS_URL" in refused.json["message"]
