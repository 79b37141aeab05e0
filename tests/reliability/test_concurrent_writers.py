"""Twenty clients write at once to the app under gunicorn (several worker processes), on SQLite
and on PostgreSQL: afterwards every acknowledged write is in the database exactly once, nothing
unacknowledged is, no request got a 5xx (SQLite's "database is locked" never reaches a client),
and the audit trail holds one entry per change, its hash chain intact.

Each client logs in as its own manager and, for a bounded time, creates evaluations, edits its
own drafts (GET for the ETag, PATCH with If-Match) and imports small job files. Every import
also carries rows of a few shared job references that all clients import: idempotent imports
racing on the same new job (and the same new customer) must still create it once.
"""

from __future__ import annotations

import csv
import io
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import func, select

from kpi_core.audit.trail import verify_chain
from kpi_core.storage.db import Database
from kpi_core.storage.models import AuditEntry, Customer, Evaluation, Job, Team, Technician

CLIENTS = 20
RUN_SECONDS = 25
WORKERS = 4
TECHNICIANS = 10
SHARED_REFS = 6
PERIOD = {"period_start": "2026-10-01", "period_end": "2026-10-31"}
RATING = "quality.workmanship"


@dataclass
class Ledger:
    """What the server acknowledged (2xx) to the clients, and everything that went wrong."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    created: dict[int, int] = field(default_factory=dict)  # evaluation id -> technician id
    last_rating: dict[int, int] = field(default_factory=dict)  # evaluation id -> acknowledged answer
    updates: int = 0
    imported_refs: set[str] = field(default_factory=set)
    imports: list[dict] = field(default_factory=list)
    unacknowledged_refs: set[str] = field(default_factory=set)
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    slowest: float = 0.0


def job_rows(refs: list[str], customer_ref: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["external_ref", "technician_ref", "customer_ref", "customer_name", "category", "status",
                     "scheduled_start", "scheduled_end", "completed_at", "estimated_minutes", "revenue"])  # fmt: skip
    for ref in refs:
        # Shared rows are the same in every file, so whichever import comes first creates them.
        technician = f"T-{sum(map(ord, ref)) % TECHNICIANS + 1}"
        customer = "C-shared" if ref.startswith("S-") else customer_ref
        times = ["2026-10-05T09:00:00Z", "2026-10-05T11:00:00Z", "2026-10-05T10:30:00Z"]
        writer.writerow(
            [ref, technician, customer, f"Customer {customer}", "plumbing", "completed", *times, "90", "120"]
        )
    return out.getvalue()


class Writer(threading.Thread):
    """One client: its own login, its own drafts, its own job references (plus the shared ones)."""

    def __init__(
        self, number: int, headers: dict, base_url: str, technician_ids: list[int], ledger: Ledger, deadline: float
    ):
        super().__init__(name=f"writer-{number}")
        self.number = number
        self.headers = headers
        self.client = httpx.Client(base_url=base_url, timeout=120)
        self.technician_ids = technician_ids
        self.ledger = ledger
        self.deadline = deadline
        self.random = random.Random(number)
        self.mine: list[int] = []
        self.sequence = 0

    def run(self) -> None:
        try:
            self.client.headers.update(self.headers)
            while time.monotonic() < self.deadline:
                action = self.random.choices([self.create, self.update, self.import_jobs], weights=[4, 3, 3])[0]
                if action == self.update and not self.mine:
                    action = self.create
                action()
        except Exception as exc:  # a transport error is a failure too: record it, never hide it
            with self.ledger.lock:
                self.ledger.errors.append(f"{self.name}: {type(exc).__name__}: {exc}")
        finally:
            self.client.close()

    def send(self, method: str, url: str, **kwargs) -> httpx.Response:
        began = time.monotonic()
        response = self.client.request(method, url, **kwargs)
        seconds = time.monotonic() - began
        with self.ledger.lock:
            self.ledger.requests += 1
            self.ledger.slowest = max(self.ledger.slowest, seconds)
            self.ledger.statuses[response.status_code] += 1
            if response.status_code >= 500 or "database is locked" in response.text:
                self.ledger.errors.append(
                    f"{method} {url} -> {response.status_code} after {seconds:.1f} s: {response.text[:300]}"
                )
        return response

    def create(self) -> None:
        technician_id = self.random.choice(self.technician_ids)
        response = self.send("POST", "/api/v1/evaluations", json={"technician_id": technician_id, **PERIOD})
        if response.status_code == 201:
            evaluation_id = response.json()["id"]
            self.mine.append(evaluation_id)
            with self.ledger.lock:
                self.ledger.created[evaluation_id] = technician_id
        else:
            self.unexpected("create", response)

    def update(self) -> None:
        evaluation_id = self.random.choice(self.mine)
        current = self.send("GET", f"/api/v1/evaluations/{evaluation_id}")
        if current.status_code != 200:
            self.unexpected("read", current)
            return
        # A different answer each time, so every acknowledged update is a change the audit records.
        rating = self.random.choice([n for n in range(1, 6) if n != current.json()["answers"].get(RATING)])
        response = self.send(
            "PATCH",
            f"/api/v1/evaluations/{evaluation_id}",
            json={"answers": {RATING: rating}},
            headers={"If-Match": current.headers["ETag"]},
        )
        if response.status_code == 200:
            with self.ledger.lock:
                self.ledger.last_rating[evaluation_id] = rating
                self.ledger.updates += 1
        else:
            self.unexpected("update", response)

    def import_jobs(self) -> None:
        self.sequence += 1
        own = [f"W{self.number}-{self.sequence}-{n}" for n in range(3)]
        shared = self.random.sample([f"S-{n}" for n in range(SHARED_REFS)], 2)
        body = job_rows(own + shared, customer_ref=f"C-{self.number}")
        response = self.send("POST", "/api/v1/imports/jobs", content=body, headers={"Content-Type": "text/csv"})
        with self.ledger.lock:
            if response.status_code == 200:
                self.ledger.imported_refs.update(own + shared)
                self.ledger.imports.append(response.json())
            else:
                self.ledger.unacknowledged_refs.update(own)
        if response.status_code != 200:
            self.unexpected("import", response)

    def unexpected(self, what: str, response: httpx.Response) -> None:
        with self.ledger.lock:
            self.ledger.errors.append(f"{self.name} {what}: {response.status_code} {response.text[:300]}")


def seed(database: Database, add_user) -> list[int]:
    """Team North with technicians T-1..T-10 and one manager of North per client."""
    with database.session() as session:
        north = Team(name="North")
        session.add(north)
        session.flush()
        technicians = [
            Technician(external_ref=f"T-{n}", name=f"Tech {n}", team_id=north.id) for n in range(1, TECHNICIANS + 1)
        ]
        session.add_all(technicians)
        session.flush()
        ids = [technician.id for technician in technicians]
    for number in range(CLIENTS):
        add_user(f"writer{number}", "manager", team_names=("North",))
    return ids


def run_writers(base_url: str, technician_ids: list[int], http_login) -> tuple[Ledger, float]:
    ledger = Ledger()
    logins = [http_login(base_url, f"writer{n}") for n in range(CLIENTS)]
    started = time.monotonic()
    writers = [Writer(n, logins[n], base_url, technician_ids, ledger, started + RUN_SECONDS) for n in range(CLIENTS)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=RUN_SECONDS + 180)
    assert not any(writer.is_alive() for writer in writers), "a client never finished"
    return ledger, time.monotonic() - started


@pytest.mark.slow
def test_concurrent_writers_lose_nothing_and_duplicate_nothing(database, settings, serve, add_user, http_login, capsys):
    technician_ids = seed(database, add_user)
    began = time.monotonic()
    server = serve(settings.effective_database_url, workers=WORKERS)
    print(f"server up in {time.monotonic() - began:.1f} s")

    ledger, elapsed = run_writers(server.url, technician_ids, http_login)
    began = time.monotonic()
    server.stop()
    print(f"server stopped in {time.monotonic() - began:.1f} s")

    engine = database.engine.dialect.name
    with capsys.disabled():
        print(
            f"\nconcurrent writers on {engine}: {CLIENTS} clients x {elapsed:.1f} s, {ledger.requests} requests "
            f"({ledger.requests / elapsed:.0f}/s): {len(ledger.created)} evaluations created, {ledger.updates} "
            f"updated, {len(ledger.imports)} imports ({len(ledger.imported_refs)} job refs); slowest "
            f"{ledger.slowest:.1f} s; statuses {dict(sorted(ledger.statuses.items()))}; errors {len(ledger.errors)}"
        )
    problems = [line for line in server.log_text().splitlines() if "database" in line or "Error" in line]
    assert not ledger.errors, "\n".join(ledger.errors[:20] + problems[:20])
    assert "database is locked" not in server.log_text()
    assert len(ledger.created) > CLIENTS and ledger.updates > CLIENTS and len(ledger.imports) > CLIENTS

    with database.session(write=False) as session:
        # Evaluations: exactly the acknowledged ones, each with its last acknowledged answer.
        stored = {row.id: row for row in session.scalars(select(Evaluation))}
        assert set(stored) == set(ledger.created)
        assert {key: stored[key].technician_id for key in ledger.created} == ledger.created
        assert {key: stored[key].answers.get(RATING) for key in ledger.last_rating} == ledger.last_rating

        # Jobs: every acknowledged reference once, nothing from a file that was not acknowledged.
        refs = Counter(session.scalars(select(Job.external_ref)))
        assert set(refs) == ledger.imported_refs
        assert max(refs.values()) == 1
        assert not ledger.unacknowledged_refs & set(refs)
        shared_customers = session.scalar(select(func.count()).where(Customer.external_ref == "C-shared"))
        assert shared_customers == 1

        # Audit: one entry per change, and the chain still verifies.
        audit = Counter(session.execute(select(AuditEntry.entity, AuditEntry.action)).all())
        assert audit[("evaluation", "create")] == len(ledger.created)
        assert audit[("evaluation", "update")] == ledger.updates
        changed_imports = [report for report in ledger.imports if report["created"] or report["updated"]]
        assert audit[("jobs", "import")] == len(changed_imports)
        import_entries = session.scalars(
            select(AuditEntry.changes).where(AuditEntry.entity == "jobs", AuditEntry.action == "import")
        )
        # Entries store each field as [before, after]; an import's "created" is its after.
        audited_created = sum(changes["created"][1] for changes in import_entries)
        assert audited_created == sum(report["created"] for report in ledger.imports) == len(refs)
        check = verify_chain(session)
        assert check.ok, check
