"""Mixed load (issue #19): clients importing, editing and reading KPIs and job lists at once against
``kpi serve --workers N``, on SQLite and on PostgreSQL; latency per kind, errors and lost writes.

    .venv/bin/python bench/mixed_load.py [--seconds 60] [--clients 30] [--workers 4]
        [--engines sqlite,postgresql] [--postgres URL] [--data-dir DIR] [--server-env KPI_NAME=VALUE ...]

Each engine gets the demo company (as ``kpi demo`` seeds it: 25 technicians, ~23,000 jobs over 18
months), ``kpi serve --workers N`` (gunicorn, no Redis: each worker's memory cache in front of the
sums persisted in the database, as on one machine) on a free loopback port, and ``--clients``
threads, each with its own keep-alive connection, that for ``--seconds`` pick at random:

- KPI read (40 %): the default dashboard's requests, the six whole months before this one (KPI
  cards by company with ``compare=previous``, the technician grid), or this month so far (cards);
- list read (30 %): a 50-job page of the jobs list, all jobs or one technician's;
- edit (20 %): GET a job of the client's own (no two clients share one), PATCH its
  ``estimated_minutes`` with the ETag in ``If-Match``;
- import (10 %): a CSV of 10 new jobs in this month through ``POST /api/v1/imports/jobs``.

Afterwards the database is read directly: every acknowledged import's jobs must be there with the
values sent, every edited job must hold the last acknowledged value (a write the server answered
with 2xx and the database does not hold is a lost write). An error is any answer other than 2xx,
or a dropped connection. It prints p50/p95/p99 per kind for each engine side by side, with the load
average before and after. Goals: KPI and list reads p95 <= 2 s, 0 errors, 0 lost writes.

PostgreSQL: ``--postgres URL`` (a database of its own, seeded when empty), else a throw-away server
started as the tests start one (kpi_core/testing/postgres.py). SQLite: a file in ``--data-dir``
(kept and reused), else in a temporary directory.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from kpi_core.accounts.passwords import hash_password
from kpi_core.accounts.users import NewUser, create_user
from kpi_core.config import Settings
from kpi_core.demo.seed import seed_if_empty
from kpi_core.plugins import load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.storage.models import Job, Technician, User

KPI = Path(sys.executable).with_name("kpi")
SECRET = secrets.token_urlsafe(48)
USERNAME = "mixed-load-admin"
PASSWORD = secrets.token_urlsafe(18)
KINDS = ("KPI read", "list read", "edit", "import")
WEIGHTS = (40, 30, 20, 10)
IMPORT_ROWS = 10
JOBS_PER_CLIENT = 40
READ_GOAL_SECONDS = 2.0


# ---------------------------------------------------------------- the data and the server


def prepare(url: str, data_dir: Path) -> tuple[Settings, dict[str, Any]]:
    """The demo company in the database at ``url`` (seeded if empty), a bench admin, and what the
    clients need: the technicians' references and the jobs each client may edit."""
    settings = Settings.from_env({}, data_dir=data_dir, secret_key=SECRET, database_url=url)
    database = Database(url)
    upgrade(database.engine)
    began = time.monotonic()
    summary = seed_if_empty(database, load_plugins(settings), settings)
    if summary.seeded:
        print(f"  seeded the demo company in {time.monotonic() - began:.0f} s: {summary.describe()}")
    with database.session() as session:
        user = session.scalar(select(User).where(User.username == USERNAME))
        if user is None:
            create_user(session, NewUser(username=USERNAME, password=PASSWORD, role="admin"))
        else:
            user.password_hash = hash_password(PASSWORD)
    with database.session(write=False) as session:
        technicians = session.execute(select(Technician.id, Technician.external_ref).order_by(Technician.id)).all()
        # Completed jobs of the last two months with an estimate: editing one moves a recent month's KPIs.
        recent = datetime.now(settings.zone) - timedelta(days=60)
        editable = session.scalars(
            select(Job.id)
            .where(Job.status == "completed", Job.completed_at >= recent, Job.estimated_minutes > 0)
            .order_by(Job.id)
        ).all()
    database.dispose()
    return settings, {"technicians": technicians, "editable": list(editable)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def kpi_serve(settings: Settings, workers: int, log: Path, extra: dict[str, str]) -> Iterator[str]:
    """``kpi serve --workers N`` on a free loopback port, without Redis; yields its base URL."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("KPI_")} | extra
    env.update(
        {
            "KPI_DATABASE_URL": settings.database_url,
            "KPI_SECRET_KEY": SECRET,
            "KPI_DATA_DIR": str(settings.data_dir),
            "KPI_HOST": "127.0.0.1",
            "KPI_PORT": str(port),
            "KPI_LOG_LEVEL": "WARNING",
        }
    )
    with log.open("wb") as handle:
        command = [str(KPI), "serve", "--workers", str(workers)]
        process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise SystemExit(f"kpi serve exited:\n{log.read_text()}")
            try:
                if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"kpi serve did not start:\n{log.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


# ---------------------------------------------------------------- the clients


@dataclass
class Ledger:
    """What the server acknowledged (2xx), every latency by kind, and everything that went wrong."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: list[str] = field(default_factory=list)
    imported: dict[str, int] = field(default_factory=dict)  # external_ref -> estimated_minutes sent
    edited: dict[int, int] = field(default_factory=dict)  # job id -> last acknowledged estimated_minutes
    uncertain: set[int] = field(default_factory=set)  # jobs whose last PATCH got no answer


class Client(threading.Thread):
    def __init__(self, number: int, base_url: str, token: str, world: dict[str, Any], ledger: Ledger, run: str):
        super().__init__(name=f"client-{number}", daemon=True)
        self.number, self.ledger, self.run_id = number, ledger, run
        self.client = httpx.Client(base_url=base_url, timeout=120, headers={"Authorization": f"Bearer {token}"})
        self.random = random.Random(number)
        self.technicians = world["technicians"]
        self.mine = world["editable"][number :: world["clients"]][:JOBS_PER_CLIENT]
        self.zone, self.today = world["zone"], world["today"]
        self.deadline = 0.0
        self.sequence = 0

    def run(self) -> None:
        try:
            while time.monotonic() < self.deadline:
                kind = self.random.choices(KINDS, WEIGHTS)[0]
                {"KPI read": self.kpi_read, "list read": self.list_read, "edit": self.edit, "import": self.import_jobs}[
                    kind
                ]()
        finally:
            self.client.close()

    def send(self, kind: str, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        began = time.monotonic()
        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            self.failed(kind, f"{method} {url}: {type(exc).__name__}: {exc}")
            return None
        seconds = time.monotonic() - began
        if not response.is_success:
            self.failed(kind, f"{method} {url} -> {response.status_code}: {response.text[:200]}")
        elif kind:
            with self.ledger.lock:
                self.ledger.latencies[kind].append(seconds)
        return response

    def failed(self, kind: str, what: str) -> None:
        with self.ledger.lock:
            self.ledger.errors[kind or "edit"] += 1
            if len(self.ledger.samples) < 20:
                self.ledger.samples.append(what)

    def kpi_read(self) -> None:
        self.kpi_read_as(self.random.random())

    def kpi_read_as(self, roll: float) -> None:
        this_month = self.today.replace(day=1)
        if roll < 0.7:  # the default dashboard: the six whole months before this one
            six = date(this_month.year - (this_month.month <= 6), (this_month.month - 7) % 12 + 1, 1)
            window = {"period": "month", "start": six.isoformat(), "end": this_month.isoformat()}
            group = {"group_by": "company", "compare": "previous"} if roll < 0.35 else {"group_by": "technician"}
        else:  # this month so far, compared with the same days of the month before
            tomorrow = self.today + timedelta(days=1)
            window = {"period": "month", "start": this_month.isoformat(), "end": tomorrow.isoformat()}
            group = {"group_by": "company", "compare": "previous"}
        self.send("KPI read", "GET", "/api/v1/kpis/values", params={**window, **group})

    def list_read(self) -> None:
        params: dict[str, Any] = {"page_size": 50}
        if self.random.random() < 0.5:
            params["technician"] = self.random.choice(self.technicians)[0]
        self.send("list read", "GET", "/api/v1/jobs", params=params)

    def edit(self) -> None:
        if not self.mine:
            return self.list_read()
        job_id = self.random.choice(self.mine)
        current = self.send("", "GET", f"/api/v1/jobs/{job_id}")
        if current is None or not current.is_success:
            return None
        minutes = self.random.choice(
            [m for m in (30, 45, 60, 90, 120, 180) if m != current.json()["estimated_minutes"]]
        )
        response = self.send(
            "edit",
            "PATCH",
            f"/api/v1/jobs/{job_id}",
            json={"estimated_minutes": minutes},
            headers={"If-Match": current.headers["ETag"]},
        )
        with self.ledger.lock:
            if response is None:
                self.ledger.uncertain.add(job_id)
            elif response.is_success:
                self.ledger.edited[job_id] = minutes
                self.ledger.uncertain.discard(job_id)
        return None

    def import_jobs(self) -> None:
        self.sequence += 1
        rows = {f"MIX-{self.run_id}-{self.number}-{self.sequence}-{n}": 30 + 15 * n for n in range(IMPORT_ROWS)}
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(
            [
                "external_ref",
                "technician_ref",
                "customer_ref",
                "customer_name",
                "category",
                "status",
                "scheduled_start",
                "scheduled_end",
                "arrived_at",
                "started_at",
                "completed_at",
                "estimated_minutes",
                "revenue",
            ]
        )
        day = self.today.replace(day=1) + timedelta(days=self.random.randrange(max(1, self.today.day)))
        for n, (ref, minutes) in enumerate(rows.items()):
            start = datetime(day.year, day.month, day.day, 8 + n % 9, 0, tzinfo=self.zone)
            times = [start, start + timedelta(hours=2), start + timedelta(minutes=7), start + timedelta(minutes=10)]
            done = start + timedelta(minutes=10 + minutes)
            writer.writerow(
                [
                    ref,
                    self.random.choice(self.technicians)[1],
                    f"MIX-C{self.number}",
                    f"Mixed load {self.number}",
                    "plumbing",
                    "completed",
                    *(t.isoformat() for t in times),
                    done.isoformat(),
                    minutes,
                    "150.00",
                ]
            )
        response = self.send(
            "import", "POST", "/api/v1/imports/jobs", content=buffer.getvalue(), headers={"Content-Type": "text/csv"}
        )
        if response is not None and response.is_success:
            with self.ledger.lock:
                self.ledger.imported.update(rows)


def run_clients(base_url: str, world: dict[str, Any], clients: int, seconds: float) -> tuple[Ledger, float]:
    login = httpx.post(f"{base_url}/api/v1/auth/login", json={"username": USERNAME, "password": PASSWORD}, timeout=60)
    login.raise_for_status()
    token = login.json()["access_token"]
    ledger = Ledger()
    run = secrets.token_hex(3)
    threads = [Client(number, base_url, token, world, ledger, run) for number in range(clients)]
    # Each read once before the clock starts, not timed: a running site's dashboard answers are already
    # computed (the refresh after each write keeps them so); what is measured is what writes cost them.
    warm = threads[0]
    for roll in (0.1, 0.5, 0.9):
        warm.random = random.Random(roll)
        warm.kpi_read_as(roll)
    warm.list_read()
    warm.random = random.Random(0)
    with ledger.lock:
        ledger.latencies.clear()
    began = time.monotonic()
    for thread in threads:
        thread.deadline = began + seconds
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 300)
    if any(thread.is_alive() for thread in threads):
        ledger.samples.append("a client was still waiting for an answer 5 minutes after the end")
    return ledger, time.monotonic() - began


def lost_writes(url: str, ledger: Ledger) -> list[str]:
    """Every acknowledged write the database does not hold as acknowledged."""
    database = Database(url)
    lost = []
    try:
        with database.session(write=False) as session:
            refs = list(ledger.imported)
            stored: dict[str, int | None] = {}
            for start in range(0, len(refs), 500):
                chunk = refs[start : start + 500]
                query = select(Job.external_ref, Job.estimated_minutes).where(Job.external_ref.in_(chunk))
                stored.update(dict(session.execute(query).all()))
            lost += [
                f"imported {ref}: {stored.get(ref)} != {sent}"
                for ref, sent in ledger.imported.items()
                if stored.get(ref) != sent
            ]
            ids = [job_id for job_id in ledger.edited if job_id not in ledger.uncertain]
            values = dict(session.execute(select(Job.id, Job.estimated_minutes).where(Job.id.in_(ids))).all())
            lost += [
                f"job {job_id}: {values.get(job_id)} != {ledger.edited[job_id]}"
                for job_id in ids
                if values.get(job_id) != ledger.edited[job_id]
            ]
    finally:
        database.dispose()
    return lost


# ---------------------------------------------------------------- one engine, then all of them


def percentile(values: list[float], share: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def measure(engine: str, url: str, data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    print(f"{engine}: preparing {url.split('@')[-1]}")
    settings, world = prepare(url, data_dir)
    world.update(clients=args.clients, zone=settings.zone, today=datetime.now(settings.zone).date())
    extra = dict(setting.split("=", 1) for setting in args.server_env)
    with kpi_serve(settings, args.workers, data_dir / f"serve-{engine}.log", extra) as base_url:
        load_before = os.getloadavg()
        ledger, elapsed = run_clients(base_url, world, args.clients, args.seconds)
        load_after = os.getloadavg()
    lost = lost_writes(url, ledger)
    print(
        f"{engine}: {sum(len(v) for v in ledger.latencies.values()):,} answered in {elapsed:.0f} s; "
        f"load average {load_before[0]:.1f} -> {load_after[0]:.1f}"
    )
    for sample in ledger.samples[:10]:
        print(f"  error: {sample}")
    for line in lost[:10]:
        print(f"  LOST: {line}")
    return {"ledger": ledger, "lost": lost, "elapsed": elapsed, "load": (load_before, load_after)}


def report(results: dict[str, dict[str, Any]]) -> bool:
    engines = list(results)
    print(f"\n{'kind':<10}" + "".join(f"{engine:>44}" for engine in engines))
    print(f"{'':<10}" + "".join(f"{'n':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>9}" for _ in engines))
    met = True
    for kind in KINDS:
        line = f"{kind:<10}"
        for engine in engines:
            ledger = results[engine]["ledger"]
            values = ledger.latencies.get(kind, [])
            p95 = percentile(values, 0.95)
            if kind.endswith("read") and not p95 <= READ_GOAL_SECONDS:
                met = False
            line += (
                f"{len(values):>8}{percentile(values, 0.5) * 1000:>9.0f}{p95 * 1000:>9.0f}"
                f"{percentile(values, 0.99) * 1000:>9.0f}{ledger.errors.get(kind, 0):>9}"
            )
        print(line)
    for engine in engines:
        result = results[engine]
        ledger, (before, after) = result["ledger"], result["load"]
        errors = sum(ledger.errors.values())
        met = met and errors == 0 and not result["lost"]
        print(
            f"{engine}: {errors} errors; {len(ledger.imported):,} imported jobs and {len(ledger.edited):,} edited jobs "
            f"acknowledged, {len(result['lost'])} lost ({len(ledger.uncertain)} edits without an answer not "
            f"checked); load average {before[0]:.2f} {before[1]:.2f} -> {after[0]:.2f} {after[1]:.2f}"
        )
    print(
        f"goals (KPI and list reads p95 <= {READ_GOAL_SECONDS:g} s, 0 errors, 0 lost writes): "
        f"{'met' if met else 'NOT met'}"
    )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--workers", type=int, default=4, help="kpi serve --workers (gunicorn worker processes)")
    parser.add_argument("--engines", default="sqlite,postgresql", help="sqlite, postgresql or both (in that order)")
    parser.add_argument("--postgres", help="a PostgreSQL database URL (default: a throw-away server)")
    parser.add_argument("--data-dir", type=Path, help="keep the SQLite database (and the logs) here")
    parser.add_argument(
        "--server-env", action="append", default=[], metavar="KPI_NAME=VALUE", help="a setting for the server"
    )
    args = parser.parse_args()
    engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    print(
        f"{os.cpu_count()} CPUs; {args.clients} clients for {args.seconds:g} s against kpi serve --workers "
        f"{args.workers}; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    results = {}
    with tempfile.TemporaryDirectory(prefix="kpi-mixed-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        for engine in engines:
            if engine == "sqlite":
                url = f"sqlite:///{data_dir / 'mixed.sqlite3'}"
                results[engine] = measure(engine, url, data_dir, args)
            elif engine == "postgresql":
                with postgres(args.postgres) as url:
                    results[engine] = measure(engine, url, data_dir, args)
            else:
                parser.error(f"unknown engine {engine!r}: sqlite or postgresql")
    return 0 if report(results) else 1


@contextmanager
def postgres(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from kpi_core.testing.postgres import Databases, PostgresServer  # only without --postgres

    server = PostgresServer().start()
    databases = Databases(server.url)
    try:
        yield databases.create()
    finally:
        databases.dispose()
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
