"""A real server for the reliability tests: gunicorn's pre-forked workers on a loopback port.

The app is built in each worker by the app factory from ``KPI_*`` variables, as in production
(gthread workers, several threads each). The tests talk to it over HTTP only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kpi_core.accounts.users import NewUser, create_user
from kpi_core.storage.db import Database
from kpi_core.testing.fixtures import TEST_PASSWORD, TEST_SECRET

GUNICORN = Path(sys.executable).with_name("gunicorn")
APP_FACTORY = "kpi_core.web.app:create_app()"
START_TIMEOUT_SECONDS = 180  # each worker imports and builds the app; slow on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A running gunicorn master and its workers."""

    url: str
    process: subprocess.Popen
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            # Quick shutdown: every client has had its answer; a graceful stop would wait for idle
            # keep-alive connections.
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_server(
    database_url: str, data_dir: Path, *, workers: int = 4, threads: int = 4, extra_env: dict[str, str] | None = None
) -> Server:
    """Start gunicorn on a free loopback port and wait until /healthz answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = data_dir / "gunicorn.log"
    metrics_dir = data_dir / "metrics"
    metrics_dir.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "KPI_DATABASE_URL": database_url,
        "KPI_SECRET_KEY": TEST_SECRET,
        "KPI_DATA_DIR": str(data_dir),
        "KPI_LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        **(extra_env or {}),
    }
    command = [
        str(GUNICORN),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--timeout",
        "60",
        "--log-level",
        "warning",
        APP_FACTORY,
    ]
    with log.open("wb") as handle:
        process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{server.log_text()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"gunicorn did not answer /healthz within {START_TIMEOUT_SECONDS} s:\n{server.log_text()}")


@pytest.fixture(scope="session")
def start_gunicorn():
    """:func:`start_server`, for fixtures of a wider scope than :func:`serve`'s."""
    return start_server


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    """``serve(database_url, workers=4)`` -> a running :class:`Server`, stopped after the test."""
    servers: list[Server] = []

    def start(database_url: str, **kwargs) -> Server:
        server = start_server(database_url, tmp_path / f"server{len(servers)}", **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def add_user(database: Database):
    """``add_user(username, role, **NewUser fields)``: a user with TEST_PASSWORD, written straight
    to the database the server reads."""

    def add(username: str, role: str, **kwargs) -> int:
        with database.session() as session:
            return create_user(session, NewUser(username=username, password=TEST_PASSWORD, role=role, **kwargs)).id

    return add


@pytest.fixture
def http_login():
    """``http_login(base_url, username)`` -> Authorization headers, logged in over HTTP."""

    def login(base_url: str, username: str, password: str = TEST_PASSWORD) -> dict[str, str]:
        response = httpx.post(f"{base_url}/api/v1/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return login
