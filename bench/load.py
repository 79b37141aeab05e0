"""Load on loopback: requests per second and latency percentiles of the API's busiest reads and of
login, against gunicorn serving the demo company on SQLite; and, as the ceiling, a bare Flask
hello-world under the same server settings and the same client.

    .venv/bin/python bench/load.py [--seconds 10] [--concurrency 16] [--workers 2] [--threads 4]
                                   [--data-dir DIR]

Each scenario runs ``--concurrency`` asyncio clients (httpx, keep-alive) for ``--seconds`` after a
short warm-up; every figure is printed with its ratio to the hello-world ceiling. ``--data-dir``
reuses (or keeps) the seeded demo database, which otherwise is made in a temporary directory
(seeding 18 months of the demo company takes a minute or two). Loopback only, bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import httpx
from flask import Flask
from sqlalchemy import select

BENCH_DIR = Path(__file__).resolve().parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
SECRET = secrets.token_urlsafe(48)
USERNAME = "bench-admin"
PASSWORD = secrets.token_urlsafe(18)  # set afresh on every run, also on a kept database
WARM_UP_SECONDS = 2.0


def hello_app() -> Flask:
    """The ceiling: the least a Flask app can do per request (gunicorn factory ``load:hello_app()``)."""
    app = Flask("hello")
    app.add_url_rule("/hello", "hello", lambda: {"hello": "world"})
    return app


# --- the servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(app: str, workers: int, threads: int, env: dict[str, str], log: Path, ready: str) -> Iterator[str]:
    """gunicorn (gthread workers, as deployed) on a free loopback port; yields its base URL."""
    port = free_port()
    command = [
        str(GUNICORN), "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "gthread",
        "--threads", str(threads), "--timeout", "60", "--log-level", "warning", "--pythonpath", str(BENCH_DIR), app,
    ]  # fmt: skip
    with log.open("wb") as handle:
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                raise SystemExit(f"gunicorn exited:\n{log.read_text()}")
            try:
                if httpx.get(url + ready, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not start:\n{log.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def prepare_database(data_dir: Path) -> str:
    """The demo company in ``data_dir`` (seeded once) and a bench admin; returns the database URL."""
    from kpi_core.accounts.passwords import hash_password
    from kpi_core.accounts.users import NewUser, create_user
    from kpi_core.config import Settings
    from kpi_core.demo.seed import seed_if_empty
    from kpi_core.plugins import load_plugins
    from kpi_core.storage.db import Database
    from kpi_core.storage.migrate import upgrade
    from kpi_core.storage.models import User

    settings = Settings.from_env({}, data_dir=data_dir, secret_key=SECRET)
    database = Database(settings.effective_database_url)
    upgrade(database.engine)
    began = time.monotonic()
    summary = seed_if_empty(database, load_plugins(settings), settings)
    if summary.seeded:
        print(f"seeded the demo company in {time.monotonic() - began:.0f} s: {summary.describe()}")
    with database.session() as session:
        user = session.scalar(select(User).where(User.username == USERNAME))
        if user is None:
            create_user(session, NewUser(username=USERNAME, password=PASSWORD, role="admin"))
        else:
            user.password_hash = hash_password(PASSWORD)
    database.dispose()
    return settings.effective_database_url


# --- the client -------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, share: float) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[round(share * 100) - 1]


Request = Callable[[httpx.AsyncClient], "asyncio.Future[httpx.Response]"]


async def measure(name: str, base_url: str, request: Request, seconds: float, concurrency: int) -> Result:
    """``concurrency`` clients send ``request`` back to back; latencies after the warm-up count."""
    result = Result(name, seconds)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as client:
        start = time.monotonic()
        measure_from, stop = start + WARM_UP_SECONDS, start + WARM_UP_SECONDS + seconds

        async def one_client() -> None:
            while (now := time.monotonic()) < stop:
                try:
                    response = await request(client)
                    ok = response.is_success
                except httpx.TransportError as exc:  # a dropped connection counts, and is reported
                    ok = False
                    result.failures.append(f"{type(exc).__name__}: {exc}")
                done = time.monotonic()
                if now >= measure_from:
                    if ok:
                        result.latencies.append(done - now)
                    else:
                        result.errors += 1

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return result


def scenarios(token: str, has_scorecards: bool, today: date) -> dict[str, Request]:
    auth = {"Authorization": f"Bearer {token}"}
    # The last twelve whole months: the dashboard's KPI query (every KPI x technician x month).
    end = today.replace(day=1)
    start = end.replace(year=end.year - 1)
    window = {"period": "month", "start": start.isoformat(), "end": (end - timedelta(days=1)).isoformat()}
    found: dict[str, Request] = {
        "KPI values (all KPIs x technician x month, 1 year)": lambda c: c.get(
            "/api/v1/kpis/values", params={**window, "group_by": "technician"}, headers=auth
        ),
        "job list page (50 jobs)": lambda c: c.get("/api/v1/jobs", params={"page_size": 50}, headers=auth),
        "login (argon2id at production cost)": lambda c: c.post(
            "/api/v1/auth/login", json={"username": USERNAME, "password": PASSWORD}
        ),
    }
    if has_scorecards:
        scorecard = {"period": "month", "start": start.isoformat(), "end": end.isoformat()}
        found["scorecard (1 year, month)"] = lambda c: c.get("/api/v1/scorecards", params=scorecard, headers=auth)
    return found


def machine_notes() -> str:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, load average {load}"
    )


def print_table(results: list[Result], ceiling: Result) -> None:
    print(f"\n{'scenario':<52} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6} {'of ceiling':>10}")
    for result in [ceiling, *results]:
        print(
            f"{result.name:<52} {result.rate:>8.1f} {result.percentile(0.5) * 1000:>8.1f} "
            f"{result.percentile(0.95) * 1000:>8.1f} {result.percentile(0.99) * 1000:>8.1f} {result.errors:>6} "
            f"{result.rate / ceiling.rate:>10.1%}"
        )


async def run(args: argparse.Namespace, app_url: str, hello_url: str) -> None:
    async def hello(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/hello")

    login = httpx.post(f"{app_url}/api/v1/auth/login", json={"username": USERNAME, "password": PASSWORD}, timeout=60)
    login.raise_for_status()
    document = httpx.get(f"{app_url}/api/openapi.json", timeout=60).json()
    print(f"before: {machine_notes()}")
    ceiling = await measure("hello world (bare Flask, same server)", hello_url, hello, args.seconds, args.concurrency)
    results = []
    for name, request in scenarios(
        login.json()["access_token"], "/api/v1/scorecards" in document["paths"], date.today()
    ).items():
        results.append(await measure(name, app_url, request, args.seconds, args.concurrency))
    print_table(results, ceiling)
    print(f"after: {machine_notes()}")
    for result in [ceiling, *results]:
        if result.failures:
            print(f"{result.name}: {len(result.failures)} dropped connections, first: {result.failures[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per scenario")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (both servers)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (both servers)")
    parser.add_argument("--data-dir", type=Path, help="keep the seeded demo database here (reused when present)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kpi-load-") as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        logs = data_dir if args.data_dir else Path(tmp)
        database_url = prepare_database(data_dir)
        env = {
            "KPI_DATABASE_URL": database_url,
            "KPI_SECRET_KEY": SECRET,
            "KPI_DATA_DIR": str(data_dir),
            "KPI_LOG_LEVEL": "WARNING",
            "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(dir=tmp),
        }
        settings = (args.workers, args.threads)
        print(f"gunicorn: {settings[0]} gthread workers x {settings[1]} threads; {args.concurrency} clients; loopback")
        with (
            gunicorn("kpi_core.web.app:create_app()", *settings, env, logs / "app.log", "/healthz") as app_url,
            gunicorn("load:hello_app()", *settings, {}, logs / "hello.log", "/hello") as hello_url,
        ):
            asyncio.run(run(args, app_url, hello_url))


if __name__ == "__main__":
    main()
