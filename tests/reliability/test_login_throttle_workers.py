"""The login throttle holds across gunicorn's worker processes: with no Redis (the counts in the
database, SQLite and PostgreSQL) and with a real Redis.

Counted in each process's memory, four workers once let 17 wrong passwords through before the
first 429 instead of 5 (issue #15). Here wrong passwords arrive all at once, over many
connections that gunicorn spreads over its workers: exactly KPI_LOGIN_ATTEMPTS of them are
checked (401), every other one answers 429 with Retry-After. The guessing pair (username and
client address) stays throttled even for the right password, while the owner logs in from
another address and the guesser's address can still log in to other accounts.

The server trusts one proxy hop (KPI_PROXY_HOPS=1), so each request says its client address in
X-Forwarded-For, as nginx would. The access log names the worker (pid) behind each answer, so
the test can tell that several workers answered.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kpi_core.accounts.users import NewUser, create_user
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.testing.fixtures import TEST_PASSWORD, database_engines

WORKERS = 4
ALLOWED = 5  # the default KPI_LOGIN_ATTEMPTS
WINDOW_SECONDS = 15 * 60  # the default KPI_LOGIN_WINDOW_MINUTES
AT_ONCE = 24
WRONG = "not-the-password-at-all"
LOGIN = "/api/v1/auth/login"
HEALTH = "/healthz"
START_TIMEOUT_SECONDS = 180

pytestmark = pytest.mark.slow


def deployments() -> list:
    """The database store on every engine under test, and Redis (on the first engine)."""
    cases = []
    for index, engine in enumerate(database_engines()):
        name, marks = (engine, ()) if isinstance(engine, str) else (engine.values[0], engine.marks)
        cases.append(pytest.param((name, "database"), id=f"{name}-no-redis", marks=marks))
        if index == 0:
            cases.append(pytest.param((name, "redis"), id=f"{name}-redis", marks=marks))
    return cases


@dataclass
class Deployment:
    url: str
    database: Database
    access_log: Path

    def add_user(self, username: str) -> None:
        with self.database.session() as session:
            create_user(session, NewUser(username=username, password=TEST_PASSWORD, role="manager"))

    def login(self, username: str, password: str, client: str) -> httpx.Response:
        return httpx.post(
            f"{self.url}{LOGIN}",
            json={"username": username, "password": password},
            headers={"X-Forwarded-For": client},
            timeout=120,
        )

    def worker_pids(self, path: str) -> set[str]:
        """The workers that answered requests for ``path``, from the access log."""
        lines = self.access_log.read_text().splitlines() if self.access_log.exists() else []
        return {line.split()[0] for line in lines if line.endswith(f" {path}")}

    def wait_for_every_worker(self) -> None:
        # /healthz answers once one worker is up; the others may still be building the app.
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while len(self.worker_pids(HEALTH)) < WORKERS:
            assert time.monotonic() < deadline, f"only {len(self.worker_pids(HEALTH))} workers answered"
            all_at_once(WORKERS * 2, lambda: httpx.get(f"{self.url}{HEALTH}", timeout=60))


@pytest.fixture(scope="module", params=deployments())
def deployment(request, tmp_path_factory, start_gunicorn) -> Iterator[Deployment]:
    engine, store = request.param
    databases = request.getfixturevalue("postgres_databases") if engine == "postgresql" else None
    url = databases.create() if databases else f"sqlite:///{tmp_path_factory.mktemp('db') / 'kpi.sqlite3'}"
    database = Database(url)
    upgrade(database.engine)
    data_dir = tmp_path_factory.mktemp("server")
    access_log = data_dir / "access.log"
    env = {
        "KPI_PROXY_HOPS": "1",
        # The access log names the worker (pid) that answered each request.
        "GUNICORN_CMD_ARGS": f"--access-logfile {access_log} --access-logformat '%(p)s %(s)s %(U)s'",
    }
    if store == "redis":
        env["KPI_REDIS_URL"] = request.getfixturevalue("redis_server_url")
    # One thread per worker: a worker busy with one attempt accepts no other, so attempts that
    # arrive together are answered by several workers (a gthread worker with threads to spare
    # may take them all).
    server = start_gunicorn(url, data_dir, workers=WORKERS, threads=1, extra_env=env)
    deployment = Deployment(server.url, database, access_log)
    deployment.wait_for_every_worker()
    yield deployment
    server.stop()
    database.dispose()
    if databases:
        databases.drop(url)


def all_at_once(count: int, send) -> list[httpx.Response]:
    """``send()`` from ``count`` threads released together, each on its own connection."""
    start = threading.Barrier(count)
    responses: list[httpx.Response] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            start.wait()
            response = send()
            with lock:
                responses.append(response)
        except BaseException as exc:  # a transport error fails the test below, never silently
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert len(responses) == count
    return responses


def assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["code"] == 429 and body["status"] == "Too Many Requests", body
    assert "too many failed logins" in body["message"]
    assert 0 < int(response.headers["Retry-After"]) <= WINDOW_SECONDS


def test_exactly_the_allowed_failures_get_through_across_workers(deployment):
    deployment.add_user("target")

    responses = all_at_once(AT_ONCE, lambda: deployment.login("target", WRONG, client="203.0.113.7"))

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {401: ALLOWED, 429: AT_ONCE - ALLOWED}, statuses
    for response in responses:
        if response.status_code == 429:
            assert_throttled(response)
    assert len(deployment.worker_pids(LOGIN)) > 1, "the attempts were not spread over several workers"


def test_the_guessing_pair_stays_throttled_even_for_the_right_password(deployment):
    deployment.add_user("guessed")
    for _ in range(ALLOWED):
        assert deployment.login("guessed", WRONG, client="203.0.113.8").status_code == 401

    assert_throttled(deployment.login("guessed", TEST_PASSWORD, client="203.0.113.8"))


def test_the_owner_logs_in_from_another_address_while_the_guessing_pair_is_throttled(deployment):
    deployment.add_user("owner")
    all_at_once(AT_ONCE, lambda: deployment.login("owner", WRONG, client="203.0.113.9"))

    assert deployment.login("owner", TEST_PASSWORD, client="198.51.100.20").status_code == 200
    assert_throttled(deployment.login("owner", TEST_PASSWORD, client="203.0.113.9"))


def test_the_guessers_address_still_logs_in_to_other_accounts(deployment):
    deployment.add_user("victim")
    deployment.add_user("colleague")
    for _ in range(ALLOWED):
        deployment.login("victim", WRONG, client="203.0.113.10")

    assert_throttled(deployment.login("victim", TEST_PASSWORD, client="203.0.113.10"))
    assert deployment.login("colleague", TEST_PASSWORD, client="203.0.113.10").status_code == 200
