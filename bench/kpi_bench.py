"""Time the dashboard query on SQLite, cold and warm, beside DuckDB (the near-limit reference) and a naive ORM loop.

Builds JOBS jobs (default 1,000,000) for TECHNICIANS technicians in teams over
YEARS years into a SQLite file migrated by ``kpi_core.storage.migrate.upgrade``,
then times "the dashboard query": every KPI of the loaded plugins x technician
x month over the last year of data (``kpi_core.kpis.engine.compute_values``),

- cold: a fresh process per run (empty SQLite page cache and statement caches;
  the OS file cache stays warm), and a fresh connection in this process;
- warm: ``kpi_core.kpis.service.kpi_values`` (the API's cached entry point)
  asked the same query again (in-memory cache, and Redis with ``--redis``);
- DuckDB: a hand-written SQL of the same 8 KPIs over the same rows (exported
  from the SQLite file once, not timed: DuckDB's sqlite extension cannot be
  downloaded here), months cut in the company time zone by DuckDB's ICU;
- naive: Job objects loaded with the ORM and summed in Python (the toy).

All three must agree on every (KPI, technician, month) numerator and
denominator; the script prints mismatches and exits 1 if there are any.
``--crews`` (default 0.2) of the jobs have a helper beside their lead
(``job_assignments``, issue #18); under the default crew credit rule
(``each``) the job counts fully for both, and DuckDB and the naive loop
credit it so too.
Goals (issue 5, "Speed"): cold within 3x of DuckDB, warm under 50 ms.

    .venv/bin/python bench/kpi_bench.py [--jobs N] [--technicians N] [--years N] [--seed N] [--crews SHARE]
        [--repeat N] [--db PATH] [--redis URL] [--zone ZONE] [--rebuild] [--explain] [--quick]
        [--database postgresql://...]

The built database (and its DuckDB copy) is kept under var/bench/, keyed by
seed and size, so a re-run skips building; ``--db`` puts it elsewhere.
``--database URL`` (issue #19) writes the same rows into a PostgreSQL database
with COPY and times the engine there beside DuckDB (bench/kpi_bench_pg.py).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import platform
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
from kpi_quality.plugin import CALLBACK_WINDOW_DAYS
from kpi_timeliness.plugin import ARRIVAL_GRACE_MINUTES, BUDGET_TOLERANCE
from sqlalchemy import and_, event, insert, or_, select
from sqlalchemy.dialects import sqlite as sqlite_dialect

from kpi_core.accounts.scope import UNSCOPED
from kpi_core.audit.trail import Actor
from kpi_core.config import Settings
from kpi_core.kpis.cache import MemoryCache, RedisCache
from kpi_core.kpis.closing import close_month
from kpi_core.kpis.crews import DEFAULT_RULE
from kpi_core.kpis.definitions import resolve_metrics
from kpi_core.kpis.engine import compute_values, sums_statement
from kpi_core.kpis.honest import Honesty
from kpi_core.kpis.periods import local_midnight
from kpi_core.kpis.persisted import TieredCache, persisted_sums
from kpi_core.kpis.query import KpiQuery, validate_grid
from kpi_core.kpis.segments import local_months
from kpi_core.kpis.service import kpi_values, scorecards_answer
from kpi_core.kpis.stats import DEFAULT_STATUS_MIN_SAMPLE
from kpi_core.plugins import PluginHost, load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import current_revisions, head_revisions, upgrade
from kpi_core.storage.models import Base, Evaluation, Feedback, Job, JobAssignment
from kpi_core.storage.types import utcnow

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / "var" / "bench"
GENERATOR = 2
"""Bumped when the generated data changes, so cached files of an older generator are rebuilt."""
FIRST_YEAR = 2023
DASHBOARD_PLUGINS = ("kpi_quality", "kpi_timeliness")
BATCH = 50_000
CATEGORIES = ("plumbing", "electrical", "hvac", "carpentry", "painting", "appliances")
ESTIMATES = (30, 45, 60, 60, 90, 90, 120, 180, 240)
RATINGS = (1, 2, 3, 4, 5)
RATING_WEIGHTS = (4, 5, 11, 30, 50)
STAMP = "2026-01-01 00:00:00.000000"
"""created_at / updated_at of every generated row."""

Cells = dict[tuple[str, int, date], tuple[float, float]]
"""{(kpi, technician id, month): (numerator, denominator)} for every cell with a sample."""
Target = Path | str
"""What the engine runs on: the built SQLite file, or a database URL (``--database``, bench/kpi_bench_pg.py)."""


def target_of(text: str) -> Target:
    """A URL stays a URL (``Path`` would fold its ``//``); anything else is the SQLite file."""
    return text if "://" in text else Path(text)


def open_database(target: Target) -> Database:
    return Database(target if isinstance(target, str) else f"sqlite:///{target}")


def answer_ref(body: bytes, target: Target) -> str:
    """What a child process hands back to be compared with an answer: its hash on SQLite; on a server
    (a URL) a file holding it, to be compared number by number (see :func:`same_body`)."""
    if not isinstance(target, str):
        return hashlib.sha256(body).hexdigest()
    with tempfile.NamedTemporaryFile(prefix="kpi-bench-answer-", suffix=".json", delete=False) as handle:
        handle.write(body)
    return handle.name


def matches(ref: str, body: bytes, target: Target) -> bool:
    """Whether an :func:`answer_ref` is of the same answer as ``body`` (a file it names is removed)."""
    if not isinstance(target, str):
        return ref == hashlib.sha256(body).hexdigest()
    try:
        return same_body(Path(ref).read_bytes(), body, target)
    finally:
        Path(ref).unlink(missing_ok=True)


def same_body(one: bytes, other: bytes, target: Target) -> bool:
    """The same answer: byte for byte on SQLite; on a server, numbers within 1e-9 of each other, since
    PostgreSQL adds a month's floats in the order its plan reads the rows (in parallel, any order), so the
    same facts can sum to values apart in their last bits. A value that lands on a target's threshold can
    then be judged on either side of it: a row whose numbers agree but whose status (and certainty) differ
    is counted in THRESHOLD_FLIPS (printed with the figures), not a mismatch."""
    if not isinstance(target, str):
        return one == other
    first, second = json.loads(one), json.loads(other)
    if not isinstance(first, list) or not isinstance(second, list) or len(first) != len(second):
        return _close(first, second)
    for row, again in zip(first, second, strict=True):
        if _close(row, again):
            continue
        if not (isinstance(row, dict) and isinstance(again, dict) and row.keys() == again.keys()):
            return False
        if any(not _close(row[key], again[key]) for key in row if key not in JUDGED):
            return False
        THRESHOLD_FLIPS.append((row.get("kpi"), row.get("group_id"), row.get("period_start")))
    return True


JUDGED = ("status", "certain")
"""A row's fields that judge its value against the target's thresholds."""
THRESHOLD_FLIPS: list[tuple[Any, Any, Any]] = []
"""Rows (KPI, group, period) whose equal-within-1e-9 values were judged on both sides of a threshold."""


def _close(one: Any, other: Any) -> bool:
    if isinstance(one, float) or isinstance(other, float):
        numbers = isinstance(one, int | float) and isinstance(other, int | float)
        return numbers and math.isclose(one, other, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(one, list):
        return isinstance(other, list) and len(one) == len(other) and all(map(_close, one, other))
    if isinstance(one, dict):
        return isinstance(other, dict) and one.keys() == other.keys() and all(_close(one[k], other[k]) for k in one)
    return one == other


# ---------------------------------------------------------------- building the data


class Stamps:
    """Epoch seconds -> the text SQLAlchemy stores a UTC DateTime as on SQLite (fast: days are cached)."""

    def __init__(self) -> None:
        self.days: dict[int, str] = {}

    def __call__(self, seconds: int | None) -> str | None:
        if seconds is None:
            return None
        day, rest = divmod(seconds, 86400)
        prefix = self.days.get(day)
        if prefix is None:
            prefix = self.days[day] = (date(1970, 1, 1) + timedelta(days=day)).isoformat()
        hours, rest = divmod(rest, 3600)
        return f"{prefix} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}.000000"


def _driver_insert(table: Any, columns: list[str]) -> str:
    """A Core INSERT compiled for SQLite; rows go to the driver's executemany as tuples of stored values."""
    statement = insert(table).values({name: None for name in columns})
    return str(statement.compile(dialect=sqlite_dialect.dialect()))


class Inserter:
    """Writes rows of one table in big executemany batches (bind processing skipped: values are pre-stored),
    or hands them to the connection's ``write_rows(table, columns, rows)`` where it has one (COPY into
    PostgreSQL: kpi_bench_pg.py)."""

    def __init__(self, connection: Any, table: str, columns: list[str], batch: int = BATCH) -> None:
        self.connection = connection
        self.table, self.columns = table, columns
        self.batch = batch
        self.sql = _driver_insert(Base.metadata.tables[table], columns)
        self.rows: list[tuple[Any, ...]] = []
        self.count = 0

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            if hasattr(self.connection, "write_rows"):
                self.connection.write_rows(self.table, self.columns, self.rows)
            else:
                self.connection.exec_driver_sql(self.sql, self.rows)
            self.count += len(self.rows)
            self.rows = []


JOB_COLUMNS = [
    "id", "external_ref", "technician_id", "customer_id", "category", "status", "scheduled_start", "scheduled_end",
    "arrived_at", "started_at", "completed_at", "estimated_minutes", "revenue", "callback_of_id",
    "created_at", "updated_at",
]  # fmt: skip
FEEDBACK_COLUMNS = ["job_id", "rating", "nps", "comment", "received_at", "created_at", "updated_at"]
CREW_COLUMNS = ["job_id", "technician_id", "role", "share"]
CREW_SHARE = 0.2
"""The share of jobs with a helper beside their lead, unless ``--crews`` says otherwise."""
EVALUATION_COLUMNS = [
    "id", "technician_id", "period_start", "period_end", "form_version", "form_snapshot", "answers", "score",
    "status", "revision", "supersedes_id", "submitted_at", "created_at", "updated_at",
]  # fmt: skip


def build_database(
    path: Path, jobs: int, technicians: int, years: int, seed: int, zone: ZoneInfo, crews: float = CREW_SHARE
) -> None:
    """A fresh, migrated SQLite file at ``path`` with the generated people, jobs (and their crews),
    feedback and evaluations."""
    database = Database(f"sqlite:///{path}")
    upgrade(database.engine)
    rng = random.Random(seed)
    with database.engine.begin() as connection:
        # Big enough to keep the indexes in memory until the commit: otherwise pages spill to the WAL again and again.
        connection.exec_driver_sql("PRAGMA cache_size = -1000000")
        _people(connection, technicians)
        _jobs(connection, rng, jobs, technicians, years, zone, _Crews(seed, technicians, crews))
        _evaluations(connection, rng, technicians, years)
    database.dispose()


def _people(connection: Any, technicians: int) -> None:
    teams = Inserter(connection, "teams", ["id", "name", "created_at", "updated_at"])
    team_count = max(1, technicians // 20)
    for team in range(1, team_count + 1):
        teams.add((team, f"Team {team:02d}", STAMP, STAMP))
    teams.flush()
    people = Inserter(
        connection, "technicians", ["id", "external_ref", "name", "team_id", "active", "created_at", "updated_at"]
    )
    for tech in range(1, technicians + 1):
        # A few technicians without a team, as in real companies.
        team = None if tech % 97 == 0 else (tech - 1) % team_count + 1
        people.add((tech, f"T{tech:04d}", f"Technician {tech:04d}", team, 1, STAMP, STAMP))
    people.flush()
    customers = Inserter(connection, "customers", ["id", "external_ref", "name", "created_at", "updated_at"])
    for customer in range(1, 5001):
        customers.add((customer, f"C{customer}", f"Customer {customer}", STAMP, STAMP))
    customers.flush()


class _Crews:
    """Each job's crew: its technician alone, or with a helper of the same team on ``share`` of the jobs.

    Drawn from a generator of their own, so the jobs are the same whatever the share.
    """

    def __init__(self, seed: int, technicians: int, share: float) -> None:
        self.rng = random.Random(seed + 1)
        self.technicians = technicians
        self.teams = max(1, technicians // 20)
        self.share = share

    def rows(self, job_id: int, lead: int) -> list[tuple[Any, ...]]:
        rand = self.rng.random
        if self.technicians < 2 or rand() >= self.share:
            return [(job_id, lead, "lead", 1.0)]
        # Another technician of the lead's team (technicians n and n + teams share one; see _people).
        mates = [tech for tech in range((lead - 1) % self.teams + 1, self.technicians + 1, self.teams) if tech != lead]
        helper = mates[int(rand() * len(mates))] if mates else lead % self.technicians + 1
        lead_share = 0.6 if rand() < 0.3 else 0.5
        return [(job_id, lead, "lead", lead_share), (job_id, helper, "helper", round(1 - lead_share, 2))]


def _jobs(
    connection: Any, rng: random.Random, count: int, technicians: int, years: int, zone: ZoneInfo, crews: _Crews
) -> None:
    """Jobs in time order: completed, scheduled, cancelled; ~8% callbacks; feedback for ~40% of jobs; crews."""
    stamp = Stamps()
    first, last = date(FIRST_YEAR, 1, 1), date(FIRST_YEAR + years, 1, 1)
    days = (last - first).days
    midnights = [int(local_midnight(first + timedelta(days=d), zone).timestamp()) for d in range(days + 1)]
    recent: list[deque[tuple[int, int]]] = [deque() for _ in range(technicians + 1)]
    jobs = Inserter(connection, "jobs", JOB_COLUMNS)
    # Feedback rows refer to jobs: they are written after each batch of jobs, never before.
    feedback = Inserter(connection, "feedback", FEEDBACK_COLUMNS, batch=count + 1)
    assignments = Inserter(connection, "job_assignments", CREW_COLUMNS, batch=2 * count + 1)
    rand, randint, gauss = rng.random, rng.randint, rng.gauss
    for job_id in range(1, count + 1):
        day = (job_id - 1) * days // count
        tech = randint(1, technicians)
        # Mostly working hours, some evening call-outs: those fall into the next UTC day (and month).
        local_minute = randint(7 * 60, 17 * 60) if rand() < 0.93 else randint(17 * 60, 23 * 60 + 59)
        scheduled = midnights[day] + local_minute * 60
        estimate = ESTIMATES[randint(0, len(ESTIMATES) - 1)] if rand() < 0.96 else (None if rand() < 0.7 else 0)
        window_end = None if rand() < 0.05 else scheduled + ((estimate or 60) + randint(0, 120)) * 60
        roll = rand()
        if day >= days - 14:
            status = "scheduled" if roll < 0.7 else "completed" if roll < 0.95 else "cancelled"
        else:
            status = "cancelled" if roll < 0.08 else "scheduled" if roll < 0.11 else "completed"
        callback_of = None
        history = recent[tech]
        while history and history[0][1] < scheduled - 45 * 86400:
            history.popleft()
        if history and rand() < 0.08:
            # A callback of one of the technician's jobs completed in the last 45 days (some beyond 30).
            callback_of = history[randint(0, len(history) - 1)][0]
        arrived = started = completed = None
        if status != "cancelled" or rand() < 0.2:
            roll = rand()
            if roll < 0.02:
                delay = ARRIVAL_GRACE_MINUTES * 60  # exactly at the end of the grace period: still on time
            elif roll < 0.95:
                delay = int(gauss(240, 900))
            else:
                delay = None if roll < 0.98 else randint(3600, 4 * 3600)
            arrived = None if delay is None or (status == "scheduled" and rand() < 0.8) else scheduled + delay
        if status == "completed":
            began = arrived if arrived is not None else scheduled
            started = None if rand() < 0.03 else began + randint(0, 600)
            worked = int(60 * (estimate or 60) * math.exp(gauss(0, 0.3)))
            if estimate and rand() < 0.01:
                worked = int(60 * estimate * (1 + BUDGET_TOLERANCE))  # exactly at the tolerance: on budget
            completed = None if rand() < 0.005 else (started or began) + worked
            if completed is not None and callback_of is None:
                history.append((job_id, completed))
        jobs.add((
            job_id, f"J{job_id:07d}", tech, randint(1, 5000), CATEGORIES[job_id % len(CATEGORIES)], status,
            stamp(scheduled), stamp(window_end), stamp(arrived), stamp(started), stamp(completed), estimate,
            round(40 + 4 * (estimate or 30) * rand(), 2), callback_of, STAMP, STAMP,
        ))  # fmt: skip
        for member in crews.rows(job_id, tech):
            assignments.add(member)
        if (completed is not None and rand() < 0.45) or rand() < 0.01:
            rating = rng.choices(RATINGS, RATING_WEIGHTS)[0]
            received = (completed or scheduled) + randint(3600, 5 * 86400)
            feedback.add((job_id, rating, None, None, stamp(received), STAMP, STAMP))
        if not jobs.rows:  # the batch of jobs was just written
            feedback.flush()
            assignments.flush()
    jobs.flush()
    feedback.flush()
    assignments.flush()


def _evaluations(connection: Any, rng: random.Random, technicians: int, years: int) -> None:
    """One evaluation per technician and month; some drafts, some without a score, ~5% revised."""
    evaluations = Inserter(connection, "evaluations", EVALUATION_COLUMNS)
    next_id = 1
    for month in range(12 * years):
        start = date(FIRST_YEAR + month // 12, month % 12 + 1, 1)
        end = date(FIRST_YEAR + (month + 1) // 12, (month + 1) % 12 + 1, 1) - timedelta(days=1)
        for tech in range(1, technicians + 1):
            roll = rng.random()
            status = "draft" if roll < 0.1 else "submitted" if roll < 0.6 else "acknowledged"
            score = None if rng.random() < 0.03 else round(rng.uniform(40, 100), 1)
            base = (next_id, tech, start.isoformat(), end.isoformat(), "v1", "[]", "{}", score, status, 1, None)
            evaluations.add((*base, None if status == "draft" else STAMP, STAMP, STAMP))
            if rng.random() < 0.05:
                # A revision: a submitted one replaces the original, a draft one does not yet.
                revised = "submitted" if rng.random() < 0.7 else "draft"
                evaluations.add((
                    next_id + 1, tech, start.isoformat(), end.isoformat(), "v1", "[]", "{}",
                    round(rng.uniform(40, 100), 1), revised, 2, next_id, None, STAMP, STAMP,
                ))  # fmt: skip
                next_id += 1
            next_id += 1
    evaluations.flush()


def data_key(args: argparse.Namespace) -> str:
    """Names the generated data: the same key, the same rows."""
    return (
        f"kpi-s{args.seed}-j{args.jobs}-t{args.technicians}-y{args.years}-c{args.crews:g}-g{GENERATOR}-"
        f"{args.zone.replace('/', '_')}"
    )


def prepare(args: argparse.Namespace, zone: ZoneInfo) -> tuple[Path, Path]:
    """The SQLite file and its DuckDB copy: reused when built with the same parameters, else built now."""
    key = data_key(args)
    path = Path(args.db) if args.db else CACHE_DIR / f"{key}.sqlite3"
    marker, copy = path.with_name(path.name + ".bench.json"), path.with_name(path.name + ".duckdb")
    wanted = {"key": key}
    if path.exists() and not marker.exists():
        sys.exit(f"{path} exists and was not built by kpi_bench.py: give another --db")
    fresh = path.exists() and json.loads(marker.read_text()) == wanted and copy.exists()
    if fresh:
        database = Database(f"sqlite:///{path}")
        fresh = current_revisions(database.engine) == head_revisions(database.engine)
        database.dispose()
    if fresh and not args.rebuild:
        print(f"data: reusing {path}")
        return path, copy
    for stale in (path, copy, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    build_database(path, args.jobs, args.technicians, args.years, args.seed, zone, args.crews)
    built = time.perf_counter() - began
    began = time.perf_counter()
    export_to_duckdb(path, copy)
    print(
        f"data: built {path} in {built:.1f} s ({path.stat().st_size / 1e6:.0f} MB); "
        f"DuckDB copy in {time.perf_counter() - began:.1f} s (not timed below)"
    )
    marker.write_text(json.dumps(wanted))
    return path, copy


# ---------------------------------------------------------------- DuckDB: the same data, the same KPIs

DUCK_TABLES = {
    "jobs": {
        "id": "BIGINT", "technician_id": "BIGINT", "status": "VARCHAR", "scheduled_start": "TIMESTAMP",
        "scheduled_end": "TIMESTAMP", "arrived_at": "TIMESTAMP", "started_at": "TIMESTAMP",
        "completed_at": "TIMESTAMP", "estimated_minutes": "INTEGER", "callback_of_id": "BIGINT",
    },
    "feedback": {"job_id": "BIGINT", "rating": "INTEGER"},
    "job_assignments": {"job_id": "BIGINT", "technician_id": "BIGINT"},
    "evaluations": {
        "id": "BIGINT", "technician_id": "BIGINT", "period_end": "DATE", "score": "DOUBLE", "status": "VARCHAR",
        "supersedes_id": "BIGINT",
    },
}  # fmt: skip


def export_to_duckdb(path: Path, target: Path) -> None:
    """Copy the KPI columns of the SQLite file into a DuckDB file, through CSV (timestamps stay UTC)."""
    source = sqlite3.connect(path)
    duck = duckdb.connect(str(target))
    duck.execute("SET TimeZone = 'UTC'")
    with tempfile.TemporaryDirectory() as folder:
        for table, columns in DUCK_TABLES.items():
            csv_path = Path(folder) / f"{table}.csv"
            with csv_path.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerows(source.execute(f"SELECT {', '.join(columns)} FROM {table}"))  # noqa: S608 - our names
            duck_table_from_csv(duck, table, columns, csv_path)
    duck.close()
    source.close()


def duck_table_from_csv(duck: Any, table: str, columns: dict[str, str], csv_path: Path) -> None:
    """A DuckDB table of a headerless CSV file of ``columns``; timestamps in it are naive UTC, empty is NULL."""
    types = ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items())
    # Naive UTC text -> TIMESTAMPTZ with the session in UTC: the same instants.
    casts = ", ".join(
        f"{name}::TIMESTAMPTZ AS {name}" if kind == "TIMESTAMP" else name for name, kind in columns.items()
    )
    duck.execute(
        f"CREATE TABLE {table} AS SELECT {casts} FROM read_csv('{csv_path}', header = false, "  # noqa: S608
        f"columns = {{{types}}}, nullstr = '')"
    )  # the names and the file are ours: no input reaches this SQL


def duckdb_sql(start: date, end: date, zone: str) -> str:
    """The 8 KPIs per technician and month, written from the plugins' definitions (not from the engine).

    A job counts fully for every technician on its crew (the default crew credit rule, ``each``).
    """
    window = CALLBACK_WINDOW_DAYS * 86400
    grace = ARRIVAL_GRACE_MINUTES * 60
    budget = f"{(1 + BUDGET_TOLERANCE) * 60!r}::DOUBLE"  # the same double the plugin's expression binds
    low = f"timezone('{zone}', TIMESTAMP '{start} 00:00:00')"
    high = f"timezone('{zone}', TIMESTAMP '{end} 00:00:00')"

    def month(column: str) -> str:
        inside = f"j.{column} >= {low} AND j.{column} < {high}"
        return f"CASE WHEN {inside} THEN date_trunc('month', timezone('{zone}', j.{column}))::DATE END"

    def flag(condition: str) -> str:
        return f"CASE WHEN {condition} THEN 1 ELSE 0 END"

    # (kpi, month column, numerator, denominator) over the facts below.
    kpis = [
        ("quality.first_time_fix_rate", "cm", flag("original AND NOT called_back"), flag("original")),
        ("quality.avg_customer_rating", "cm", "CASE WHEN rated THEN rating ELSE 0 END", flag("rated")),
        ("quality.complaint_rate", "cm", flag("rated AND rating <= 2"), flag("rated")),
        ("timeliness.on_time_arrival_rate", "sm", flag(f"arrival AND delay <= {grace}"), flag("arrival")),
        ("timeliness.avg_arrival_delay_min", "sm", "CASE WHEN arrival AND delay > 0 THEN delay / 60.0 ELSE 0 END",
         flag("arrival")),
        ("timeliness.on_budget_rate", "cm", flag(f"budgeted AND worked <= {budget} * estimated_minutes"),
         flag("budgeted")),
        ("timeliness.within_window_rate", "cm", flag("windowed AND completed_at <= scheduled_end"), flag("windowed")),
    ]  # fmt: skip
    # Built from our constants and the plugins' settings only: no input reaches this SQL.
    per_kpi = "\nUNION ALL\n".join(
        f"SELECT '{key}' AS kpi, technician_id, {column} AS month, sum({num}) AS num, sum({den}) AS den "  # noqa: S608
        f"FROM facts WHERE {column} IS NOT NULL GROUP BY ALL HAVING sum({den}) > 0"
        for key, column, num, den in kpis
    )
    return f"""
WITH first_callback AS (
    -- "a callback scheduled within the window exists" == "the earliest one is within it"
    SELECT callback_of_id AS original_id, min(epoch(scheduled_start)) AS first_at
    FROM jobs WHERE callback_of_id IS NOT NULL AND status <> 'cancelled' GROUP BY ALL
), base AS (
    SELECT a.technician_id, j.completed_at, j.scheduled_end, j.estimated_minutes, f.rating,
        {month("completed_at")} AS cm, {month("scheduled_start")} AS sm,
        coalesce(j.status = 'completed' AND j.completed_at IS NOT NULL, false) AS completed,
        coalesce(j.status <> 'cancelled' AND j.arrived_at IS NOT NULL AND j.scheduled_start IS NOT NULL, false)
            AS arrival,
        epoch(j.arrived_at) - epoch(j.scheduled_start) AS delay,
        epoch(j.completed_at) - epoch(j.started_at) AS worked,
        j.callback_of_id IS NULL AS is_original, j.started_at,
        coalesce(c.first_at - epoch(j.completed_at) <= {window}, false) AS called_back
    FROM jobs j JOIN job_assignments a ON a.job_id = j.id
        LEFT JOIN feedback f ON f.job_id = j.id LEFT JOIN first_callback c ON c.original_id = j.id
    WHERE (j.completed_at >= {low} AND j.completed_at < {high})
       OR (j.scheduled_start >= {low} AND j.scheduled_start < {high})
), facts AS (
    SELECT *, completed AND is_original AS original,
        completed AND rating IS NOT NULL AS rated,
        coalesce(completed AND started_at IS NOT NULL AND estimated_minutes > 0, false) AS budgeted,
        completed AND scheduled_end IS NOT NULL AS windowed
    FROM base
), counted_evaluations AS (
    SELECT e.technician_id, date_trunc('month', e.period_end)::DATE AS month, e.score
    FROM evaluations e
    WHERE e.period_end >= DATE '{start}' AND e.period_end < DATE '{end}'
      AND e.status IN ('submitted', 'acknowledged') AND e.score IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM evaluations n WHERE n.supersedes_id = e.id
                      AND n.status IN ('submitted', 'acknowledged'))
)
{per_kpi}
UNION ALL
SELECT 'quality.evaluation_score', technician_id, month, sum(score), count(*) FROM counted_evaluations GROUP BY ALL
"""  # noqa: S608


def duckdb_cells(connection: Any, sql: str) -> Cells:
    return {
        (kpi, int(tech), month): (float(num), float(den))
        for kpi, tech, month, num, den in connection.sql(sql).fetchall()
    }


# ---------------------------------------------------------------- the engine, cold and warm


def settings_for(folder: Path, zone: str) -> Settings:
    return Settings.from_env({}, data_dir=folder, secret_key="b" * 40, timezone=zone)


def engine_cells(values: Iterable[Any]) -> Cells:
    return {(v.kpi, int(v.group_id), v.period_start): (v.numerator, v.denominator) for v in values if v.denominator > 0}


def dashboard_query(plugins: PluginHost, start: date, end: date) -> KpiQuery:
    """Every KPI of the quality and timeliness plugins (not of other plugins installed) x technician x month."""
    kpis = tuple(key for key in sorted(plugins.metrics) if plugins.owner_of("kpi_metrics", key) in DASHBOARD_PLUGINS)
    return KpiQuery(start, end, kpis=kpis, group_by="technician", period="month")


def time_engine(path: Target, plugins: PluginHost, query: KpiQuery, zone: ZoneInfo) -> tuple[float, list[Any]]:
    """One call on a new engine (so a new connection with an empty page cache)."""
    database = open_database(path)
    try:
        began = time.perf_counter()
        with database.session(write=False) as session:
            values = compute_values(session, plugins, query, zone=zone)
        return time.perf_counter() - began, values
    finally:
        database.dispose()


def cold_child(args: argparse.Namespace) -> None:
    """Run in a fresh process: print the seconds of the first dashboard query as JSON (``--app``: through
    the app's path, see :func:`time_app_cold`)."""
    with tempfile.TemporaryDirectory() as folder:
        plugins = load_plugins(settings_for(Path(folder), args.zone))
        start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
        query = replace(dashboard_query(plugins, start, end), credit=args.credit)
        timing = time_app_cold if args.app else time_engine
        seconds, values = timing(target_of(args.db), plugins, query, ZoneInfo(args.zone))
    print(json.dumps({"seconds": seconds, "values": len(values)}))


def time_app_cold(path: Target, plugins: PluginHost, query: KpiQuery, zone: ZoneInfo) -> tuple[float, list[Any]]:
    """The dashboard query as the API answers it when no month is summed anywhere (after a setting change
    every month's key is new, so the persisted sums miss as the memory does): every month computed, on as
    many connections as kpi_core/kpis/scans.py gives it, then the answer's JSON built."""
    database = open_database(path)
    try:
        began = time.perf_counter()
        with database.session(write=False) as session:
            answer = kpi_values(session, plugins, query, zone=zone, sums=MemoryCache(max_bytes=2**34))
        seconds = time.perf_counter() - began
        if answer.months_computed != answer.months_total:
            sys.exit(f"the app's cold path read cached months: {answer.months_computed} of {answer.months_total}")
        return seconds, answer.dicts()
    finally:
        database.dispose()


def cold_in_fresh_process(
    path: Target, start: date, end: date, zone: str, credit: str = DEFAULT_RULE, *, app: bool = False
) -> float:
    command = [sys.executable, __file__, "--cold-child", "--db", str(path), "--zone", zone]
    command += ["--start", start.isoformat(), "--end", end.isoformat(), "--credit", credit, *(["--app"] if app else [])]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=1800)  # noqa: S603 - ourselves
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def time_warm(path: Target, plugins: PluginHost, query: KpiQuery, zone: ZoneInfo, repeat: int, redis: str) -> list[str]:
    """The cached entry point asked the same query again, per cache: a new session per call, as per request."""
    caches: list[tuple[str, Any]] = [("in-memory", MemoryCache())]
    if redis:
        caches.append(("Redis", RedisCache(redis)))
    lines = []
    database = open_database(path)
    for kind, cache in caches:
        answers, times = [], []
        for _ in range(repeat + 1):
            began = time.perf_counter()
            with database.session(write=False) as session:
                answers.append(kpi_values(session, plugins, query, zone=zone, cache=cache))
            times.append(time.perf_counter() - began)
        if answers[0].cached or not all(answer.cached for answer in answers[1:]):
            sys.exit(f"the {kind} cache did not answer the repeated query: {[a.cached for a in answers]}")
        if engine_cells(answers[-1].rows()) != engine_cells(answers[0].rows()):
            sys.exit(f"the {kind} cache's answer differs from the computed one")
        warm = statistics.median(times[1:]) * 1000
        lines.append(
            f"SQLite warm, {kind} cache: first call {times[0]:.3f} s (computes and stores), then median "
            f"{warm:.1f} ms (min {min(times[1:]) * 1000:.1f}, max {max(times[1:]) * 1000:.1f}) over {repeat}; "
            f"{len(answers[-1].body) / 1e6:.1f} MB of JSON; goal < 50 ms {'met' if warm < 50 else 'NOT met'}"
        )
    database.dispose()
    return lines


RESTART_QUESTIONS = {
    "dashboard query": (None, None),
    "KPI cards (company, compare=previous)": ("company", Honesty(compare=("previous",))),
}
"""What a restarted process is first asked (issue #19): the technician grid above, and the dashboard's cards."""


def restart_answers(path: Target, plugins: PluginHost, query: KpiQuery, zone: ZoneInfo) -> dict[str, Any]:
    """Each RESTART_QUESTIONS answer through the persisted tier on a new engine and an empty memory cache."""
    database = open_database(path)
    answers = {}
    try:
        sums = TieredCache(MemoryCache(), persisted_sums(database.engine), 86400)
        for name, (group_by, honesty) in RESTART_QUESTIONS.items():
            asked = replace(query, group_by=group_by) if group_by else query
            began = time.perf_counter()
            with database.session(write=False) as session:
                answer = kpi_values(session, plugins, asked, zone=zone, cache=MemoryCache(), sums=sums, honesty=honesty)
            answers[name] = (time.perf_counter() - began, answer)
        persisted_sums(database.engine).flush()
    finally:
        database.dispose()
    return answers


def restart_child(args: argparse.Namespace) -> None:
    """Run in a fresh process (no Redis, nothing in memory): print each first answer's seconds and months."""
    with tempfile.TemporaryDirectory() as folder:
        plugins = load_plugins(settings_for(Path(folder), args.zone))
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    target = target_of(args.db)
    answers = restart_answers(target, plugins, dashboard_query(plugins, start, end), ZoneInfo(args.zone))
    seen = {
        name: [seconds, a.months_persisted, a.months_total, a.months_computed, answer_ref(a.body, target)]
        for name, (seconds, a) in answers.items()
    }
    print(json.dumps(seen))


def time_restart(
    path: Target, plugins: PluginHost, query: KpiQuery, zone: ZoneInfo, repeat: int
) -> tuple[float, list[str]]:
    """The first dashboard after a restart without Redis (issue #19): the month sums persisted in the database
    by an earlier process (filled here first), a fresh process per run with an empty memory cache. Each answer
    must read every month from the database and equal a fresh scan. Goal: <= 100 ms. Returns the dashboard
    query's median and the lines to print."""
    restart_answers(path, plugins, query, zone)  # what the app (or its refresh job) persisted earlier
    database = open_database(path)
    try:
        scans = {}
        for name, (group_by, honesty) in RESTART_QUESTIONS.items():
            asked = replace(query, group_by=group_by) if group_by else query
            with database.session(write=False) as session:
                scans[name] = kpi_values(session, plugins, asked, zone=zone, honesty=honesty).body
    finally:
        database.dispose()
    command = [sys.executable, __file__, "--restart-child", "--db", str(path), "--zone", zone.key]
    command += ["--start", query.start.isoformat(), "--end", query.end.isoformat()]
    runs = []
    for _ in range(repeat):
        done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=1800)  # noqa: S603
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    lines, medians = [], []
    for name in RESTART_QUESTIONS:
        seen = [run[name] for run in runs]
        expected = [[persisted, persisted, 0] for _, persisted, *_ in seen]
        same = [matches(row[4], scans[name], path) for row in seen]
        if [row[1:4] for row in seen] != expected or not all(same):
            sys.exit(f"after a restart, {name}: every month must come from the database and equal a scan: {seen}")
        times = [seconds for seconds, *_ in seen]
        medians.append(statistics.median(times))
        lines.append(
            f"SQLite first dashboard after a restart, no Redis, persisted sums, {name}: median "
            f"{medians[-1] * 1000:.0f} ms (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}) over {repeat} "
            f"fresh processes; {seen[0][1]} of {seen[0][2]} months read from the database; goal <= 100 ms "
            f"{'met' if medians[-1] <= 0.1 else 'NOT met'}"
        )
    return medians[0], lines


CLOSE_GOAL_SECONDS = 10.0
CLOSED_GOAL_RATIO = 1.2


class JobScans:
    """Counts the statements an engine runs that read the jobs table (a closed month must read none)."""

    def __init__(self, engine: Any) -> None:
        self.count, self.engine = 0, engine
        event.listen(engine, "before_cursor_execute", self._seen)

    def stop(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.count += bool(re.search(r"\b(FROM|JOIN)\s+jobs\b", statement, re.IGNORECASE))


def time_closed(path: Target, plugins: PluginHost, query: KpiQuery, zone: ZoneInfo, repeat: int) -> list[str]:
    """Closing months and answering them from their snapshots (issue #21), on two copies of the data (closing
    writes): one left open, one whose every month of the year is closed (each close timed; goal: under 10 s).
    Then, in turns so that the machine's load falls on both alike: the open year from warm month sums (its
    answer cache cold), and the closed year with every cache cold, answered from the snapshots, which must
    read no job (counted), compute no month and equal the open answer; goal: within 1.2x. Last, both from a
    warm answer cache."""
    with tempfile.TemporaryDirectory() as folder:
        databases = {}
        for name in ("open", "closed"):
            copy = Path(folder) / f"{name}.sqlite3"
            with sqlite3.connect(path) as source, sqlite3.connect(copy) as target:
                source.backup(target)
            databases[name] = open_database(copy)
            upgrade(databases[name].engine)
        try:
            return _closed_lines(databases["open"], databases["closed"], plugins, query, zone, repeat)
        finally:
            for database in databases.values():
                database.dispose()


def _closed_lines(
    opened: Database, closed: Database, plugins: PluginHost, query: KpiQuery, zone: ZoneInfo, repeat: int
) -> list[str]:
    def ask(database: Database, cache: MemoryCache, sums: MemoryCache) -> Any:
        with database.session(write=False) as session:
            return timed(lambda: kpi_values(session, plugins, query, zone=zone, cache=cache, sums=sums))

    sums = MemoryCache()
    _, reference = ask(opened, MemoryCache(), sums)
    closes = []
    for month in local_months(query.start, query.end):
        with closed.session() as session:
            seconds, _row = timed(
                lambda month=month: close_month(
                    session, plugins, Actor.system("bench"), month, zone=zone, now=utcnow(),
                    status_min_sample=DEFAULT_STATUS_MIN_SAMPLE,
                )
            )  # fmt: skip
        closes.append(seconds)
    scans = JobScans(closed.engine)
    times: dict[str, list[float]] = {"warm sums": [], "snapshots": [], "open hit": [], "closed hit": []}
    answer = reference
    for _ in range(repeat):
        seconds, warm = ask(opened, MemoryCache(), sums)
        times["warm sums"].append(seconds)
        seconds, answer = ask(closed, MemoryCache(), MemoryCache())
        times["snapshots"].append(seconds)
        if warm.months_computed or warm.body != reference.body:
            sys.exit("the open year from warm month sums must compute nothing and equal its first answer")
    rows = answer.dicts()
    if not rows or not all(row["closed"] for row in rows) or answer.months_computed:
        sys.exit(f"closed months: every row must be closed and no month computed ({answer.months_computed})")
    # Sums of minutes are floats, added in another order month by month: equal to 1e-9, as elsewhere here.
    differ = mismatches("snapshots", engine_cells(answer.rows()), "open", engine_cells(reference.rows()))
    if differ:
        sys.exit("closed months: the snapshots' answer differs from the open one:\n" + "\n".join(differ[:20]))
    if scans.count:
        sys.exit(f"closed months: {scans.count} statements read the jobs table")
    scans.stop()  # its hook would slow the closed database's warm answers below
    hits = {"open hit": (opened, MemoryCache()), "closed hit": (closed, MemoryCache())}
    for database, cache in hits.values():
        ask(database, cache, MemoryCache())
    for _ in range(repeat):
        for name, (database, cache) in hits.items():
            seconds, found = ask(database, cache, MemoryCache())
            times[name].append(seconds)
            assert found.cached
    median = {name: statistics.median(values) for name, values in times.items()}
    ratio = median["snapshots"] / median["warm sums"]
    worst = max(closes)
    return [
        f"closing a month (a snapshot of every KPI x technician, team and company): median "
        f"{statistics.median(closes):.2f} s, slowest {worst:.2f} s over {len(closes)} months; goal < "
        f"{CLOSE_GOAL_SECONDS:g} s {'met' if worst < CLOSE_GOAL_SECONDS else 'NOT met'}",
        f"a year of closed months from the snapshots, every cache cold: median {median['snapshots']:.3f} s (min "
        f"{min(times['snapshots']):.3f}) over {repeat}; statements reading jobs: {scans.count}; months computed: "
        f"{answer.months_computed} of {answer.months_total}; {len(rows):,} rows, equal to the open year's (to 1e-9)",
        f"the same year open, from warm month sums (answer cache cold), in turns with it: median "
        f"{median['warm sums']:.3f} s (min {min(times['warm sums']):.3f}); snapshots/warm {ratio:.2f}x, goal <= "
        f"{CLOSED_GOAL_RATIO}x {'met' if ratio <= CLOSED_GOAL_RATIO else 'NOT met'}",
        f"from a warm answer cache: the closed year median {median['closed hit'] * 1000:.1f} ms, the open year "
        f"{median['open hit'] * 1000:.1f} ms ({median['closed hit'] / median['open hit']:.2f}x)",
    ]


HONEST = Honesty(compare=("previous", "year_ago"), adjust="category")
"""The honest dashboard query's extras (issue #17): both comparisons and the job-mix adjustment."""


def time_honest(path: Target, plugins: PluginHost, query: KpiQuery, zone: ZoneInfo, repeat: int) -> list[str]:
    """The dashboard query through the API's entry point with ``compare=previous,year_ago`` and
    ``adjust=category`` beside the plain one: cold (a new connection and an empty cache each run) and warm
    (asked again). Goals: cold at most 2x the plain query's, warm under 50 ms."""
    database = open_database(path)
    cold: dict[str, list[float]] = {"plain": [], "honest": []}
    try:
        for _ in range(repeat):
            for kind, honesty in (("plain", None), ("honest", HONEST)):
                database.dispose()
                began = time.perf_counter()
                with database.session(write=False) as session:
                    kpi_values(session, plugins, query, zone=zone, cache=MemoryCache(), honesty=honesty)
                cold[kind].append(time.perf_counter() - began)
        cache, times, answer = MemoryCache(), [], None
        for _ in range(repeat + 1):
            began = time.perf_counter()
            with database.session(write=False) as session:
                answer = kpi_values(session, plugins, query, zone=zone, cache=cache, honesty=HONEST)
            times.append(time.perf_counter() - began)
    finally:
        database.dispose()
    plain, honest = statistics.median(cold["plain"]), statistics.median(cold["honest"])
    warm = statistics.median(times[1:]) * 1000
    assert answer is not None and answer.cached
    return [
        f"honest dashboard query (compare=previous,year_ago, adjust=category), cold (new connection, empty cache): "
        f"median {honest:.3f} s against {plain:.3f} s plain = {honest / plain:.2f}x, goal <= 2x "
        f"{'met' if honest <= 2 * plain else 'NOT met'}",
        f"honest dashboard query warm: median {warm:.1f} ms over {repeat}; {len(answer.body) / 1e6:.1f} MB of JSON; "
        f"goal < 50 ms {'met' if warm < 50 else 'NOT met'}",
    ]


def time_after_change(
    path: Target, plugins: PluginHost, query: KpiQuery, zone: ZoneInfo, repeat: int
) -> tuple[float, list[str]]:
    """The cached entry points after a change to the last month of the range: what the dashboard query and
    the leaderboard's scorecards cost after each import into the open month. The change is made and undone
    (two commits), so the facts stay the same and so must the answers; the data versions of that month move
    on, so its sums are computed again while the other months' come from the cache. Returns the dashboard
    query's median and the lines to print."""
    database = open_database(path)
    asks: dict[str, Callable[[Any, MemoryCache], Any]] = {
        "dashboard query": lambda session, cache: kpi_values(session, plugins, query, zone=zone, cache=cache),
        "scorecards (and the year before)": lambda session, cache: scorecards_answer(
            session, plugins, start=query.start, end=query.end, period="month", zone=zone, kpis=query.kpis,
            cache=cache,
        ),
    }  # fmt: skip
    late_in_range = Job.completed_at >= local_midnight(query.end - timedelta(days=15), zone)
    lines, medians = [], []
    for name, ask in asks.items():
        cache = MemoryCache()
        with database.session(write=False) as session:
            before = ask(session, cache)
        times, computed = [], set()
        for _ in range(repeat):
            for delta in (1, -1):
                with database.session() as session:
                    job = session.scalars(
                        select(Job).where(late_in_range, Job.estimated_minutes > 0).order_by(Job.id).limit(1)
                    ).one()
                    job.estimated_minutes += delta
            began = time.perf_counter()
            with database.session(write=False) as session:
                answer = ask(session, cache)
            times.append(time.perf_counter() - began)
            computed.add(f"{answer.months_computed} of {answer.months_total}")
            if answer.cached or not same_body(answer.body, before.body, path):
                sys.exit(f"{name}: after a change undone, the answer must be computed again and equal the first")
        medians.append(statistics.median(times))
        lines.append(
            f"SQLite after a change to one month, {name}: median {medians[-1]:.3f} s (min {min(times):.3f}, "
            f"max {max(times):.3f}) over {repeat}; months computed again: {', '.join(sorted(computed))} "
            f"(the others' sums were cached; {before.months_computed} months computed the first time)"
        )
    database.dispose()
    return medians[0], lines


# ---------------------------------------------------------------- the toy: the ORM and a Python loop


def naive_cells(path: Path, start: date, end: date, zone: ZoneInfo) -> Cells:
    """Every KPI summed in Python over Job objects loaded with the ORM (what the engine must never do);
    a job counts fully for each technician on its crew (the default crew credit rule)."""
    low, high = local_midnight(start, zone), local_midnight(end, zone)
    database = Database(f"sqlite:///{path}")
    with database.session(write=False) as session:
        in_range = or_(
            and_(Job.completed_at >= low, Job.completed_at < high),
            and_(Job.scheduled_start >= low, Job.scheduled_start < high),
        )
        callbacks: dict[int, list[Job]] = defaultdict(list)
        for callback in session.scalars(select(Job).where(Job.callback_of_id.is_not(None))):
            callbacks[callback.callback_of_id].append(callback)
        crews: dict[int, list[int]] = defaultdict(list)
        members = select(JobAssignment.job_id, JobAssignment.technician_id).join(Job, Job.id == JobAssignment.job_id)
        for job_id, technician_id in session.execute(members.where(in_range)):
            crews[job_id].append(technician_id)
        rows = session.execute(select(Job, Feedback).outerjoin(Feedback, Feedback.job_id == Job.id).where(in_range))
        sums: dict[tuple[str, int, date], list[float]] = defaultdict(lambda: [0.0, 0.0])
        for job, feedback in rows:
            for kpi, placed, numerator, denominator in _job_facts(job, feedback, callbacks[job.id]):
                if placed is not None and low <= placed < high and denominator:
                    for technician_id in crews[job.id]:
                        cell = sums[(kpi, technician_id, placed.astimezone(zone).date().replace(day=1))]
                        cell[0] += numerator
                        cell[1] += denominator
        evaluations = session.scalars(
            select(Evaluation).where(Evaluation.period_end >= start, Evaluation.period_end < end)
        )
        superseded = {
            revision.supersedes_id
            for revision in session.scalars(select(Evaluation).where(Evaluation.supersedes_id.is_not(None)))
            if revision.status in ("submitted", "acknowledged")
        }
        for evaluation in evaluations:
            submitted = evaluation.status in ("submitted", "acknowledged") and evaluation.score is not None
            if submitted and evaluation.id not in superseded:
                month = evaluation.period_end.replace(day=1)
                cell = sums[("quality.evaluation_score", evaluation.technician_id, month)]
                cell[0] += evaluation.score
                cell[1] += 1
    database.dispose()
    return {key: (numerator, denominator) for key, (numerator, denominator) in sums.items()}


def _job_facts(job: Job, feedback: Feedback | None, callbacks: list[Job]) -> list[tuple[str, Any, float, float]]:
    completed = job.status == "completed" and job.completed_at is not None
    original = completed and job.callback_of_id is None
    called_back = original and any(
        callback.status != "cancelled"
        and callback.scheduled_start is not None
        and (callback.scheduled_start - job.completed_at).total_seconds() <= CALLBACK_WINDOW_DAYS * 86400
        for callback in callbacks
    )
    rating = feedback.rating if feedback is not None else None
    rated = completed and rating is not None
    arrival = job.status != "cancelled" and job.arrived_at is not None and job.scheduled_start is not None
    delay = (job.arrived_at - job.scheduled_start).total_seconds() if arrival else 0.0
    budgeted = completed and job.started_at is not None and (job.estimated_minutes or 0) > 0
    on_budget = budgeted and (job.completed_at - job.started_at).total_seconds() <= (
        (1 + BUDGET_TOLERANCE) * 60 * job.estimated_minutes
    )
    windowed = completed and job.scheduled_end is not None
    done, scheduled = job.completed_at, job.scheduled_start
    return [
        ("quality.first_time_fix_rate", done, float(original and not called_back), float(original)),
        ("quality.avg_customer_rating", done, float(rating) if rated else 0.0, float(rated)),
        ("quality.complaint_rate", done, float(rated and rating <= 2), float(rated)),
        ("timeliness.on_time_arrival_rate", scheduled, float(arrival and delay <= ARRIVAL_GRACE_MINUTES * 60),
         float(arrival)),
        ("timeliness.avg_arrival_delay_min", scheduled, max(delay, 0.0) / 60.0, float(arrival)),
        ("timeliness.on_budget_rate", done, float(on_budget), float(budgeted)),
        ("timeliness.within_window_rate", done, float(windowed and job.completed_at <= job.scheduled_end),
         float(windowed)),
    ]  # fmt: skip


# ---------------------------------------------------------------- comparing and reporting


def mismatches(name: str, cells: Cells, reference_name: str, reference: Cells) -> list[str]:
    """Every (kpi, technician, month) whose numerator or denominator differs between two answers."""
    found = []
    for key in sorted(cells.keys() | reference.keys()):
        ours, theirs = cells.get(key), reference.get(key)
        if ours is None or theirs is None or ours[1] != theirs[1] or not math.isclose(ours[0], theirs[0], rel_tol=1e-9):
            found.append(f"  {key[0]} technician {key[1]} {key[2]:%Y-%m}: {name} {ours} != {reference_name} {theirs}")
    return found


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"DuckDB {duckdb.__version__}, {platform.system()} {platform.release()}"
    )


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = function()
    return time.perf_counter() - began, result


def explain(path: Path, plugins: PluginHost, query: KpiQuery, zone: ZoneInfo) -> None:
    """Print the engine's statement and SQLite's plan for it."""
    statement = sums_statement(resolve_metrics(plugins, query.kpis), query, validate_grid(query, zone), scope=UNSCOPED)
    sql = str(statement.compile(dialect=sqlite_dialect.dialect(), compile_kwargs={"literal_binds": True}))
    print(f"-- the engine's statement ({len(sql):,} characters)\n{sql}\n-- EXPLAIN QUERY PLAN")
    with sqlite3.connect(path) as connection:
        for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}"):
            print("  ", row)


def run(args: argparse.Namespace) -> int:
    zone = ZoneInfo(args.zone)
    print(f"machine: {machine()}; load average {load()}")
    print(
        f"data: {args.jobs:,} jobs ({args.crews:.0%} with a helper), {args.technicians} technicians, "
        f"{args.years} years from {FIRST_YEAR}, seed {args.seed}"
    )
    path, copy = prepare(args, zone)
    start, end = date(FIRST_YEAR + args.years - 1, 1, 1), date(FIRST_YEAR + args.years, 1, 1)
    with tempfile.TemporaryDirectory() as folder:
        plugins = load_plugins(settings_for(Path(folder), args.zone))
    query = dashboard_query(plugins, start, end)
    print(f"query: {len(query.kpis)} KPIs x technician x month, {start} to {end} ({args.zone}); repeat {args.repeat}")
    if args.explain:
        explain(path, plugins, query, zone)

    processes = [cold_in_fresh_process(path, start, end, args.zone) for _ in range(args.repeat)]
    connections, values = [], []
    for _ in range(args.repeat):
        seconds, values = time_engine(path, plugins, query, zone)
        connections.append(seconds)
    cold = statistics.median(processes)
    print(f"SQLite cold, fresh process:    first {processes[0]:.3f} s, median {cold:.3f} s  ({len(values):,} values)")
    print(f"SQLite cold, fresh connection: first {connections[0]:.3f} s, median {statistics.median(connections):.3f} s")
    app_cold = statistics.median(
        cold_in_fresh_process(path, start, end, args.zone, app=True) for _ in range(args.repeat)
    )
    print(
        f"SQLite cold through the app (no month summed, as after a setting change), fresh process: median "
        f"{app_cold:.3f} s"
    )

    # Crews: the share rule joins every job to its crew's credit; lead reads jobs.technician_id alone,
    # as the query did before crews (the single-technician figure). Issue #18's goal: share <= 1.3x.
    # The rules take turns, so that a change in the machine's load falls on both alike.
    rule_times: dict[str, list[float]] = {"lead": [], "share": []}
    for _ in range(args.repeat):
        for rule, times in rule_times.items():
            times.append(cold_in_fresh_process(path, start, end, args.zone, rule))
    by_rule = {rule: statistics.median(times) for rule, times in rule_times.items()}
    crew_line = (
        f"crew credit, cold fresh process: share {by_rule['share']:.3f} s, "
        f"lead (no crew join) {by_rule['lead']:.3f} s, each {cold:.3f} s; "
        f"share/lead {by_rule['share'] / by_rule['lead']:.2f}x (goal <= 1.3x "
        f"{'met' if by_rule['share'] <= 1.3 * by_rule['lead'] else 'NOT met'})"
    )
    print(crew_line)

    warm_lines = time_warm(path, plugins, query, zone, max(args.repeat, 5), args.redis)
    changed, changed_lines = time_after_change(path, plugins, query, zone, args.repeat)
    honest_lines = time_honest(path, plugins, query, zone, args.repeat)
    restarted, restart_lines = time_restart(path, plugins, query, zone, args.repeat)
    closed_lines = time_closed(path, plugins, query, zone, args.repeat)

    duck = duckdb.connect(str(copy), read_only=True)
    duck.execute(f"SET TimeZone = 'UTC'; SET threads = {os.cpu_count() or 1}")
    sql = duckdb_sql(start, end, args.zone)
    duck_times = []
    for _ in range(args.repeat):
        seconds, duck_result = timed(lambda: duckdb_cells(duck, sql))
        duck_times.append(seconds)
    duck.execute("SET threads = 1")
    single = statistics.median(timed(lambda: duckdb_cells(duck, sql))[0] for _ in range(args.repeat))
    duck.close()
    reference = statistics.median(duck_times)
    print(
        f"DuckDB ({os.cpu_count()} threads):  first {duck_times[0]:.3f} s, median {reference:.3f} s; "
        f"1 thread median {single:.3f} s"
    )

    naive_seconds, naive = timed(lambda: naive_cells(path, start, end, zone))
    print(f"naive ORM loop: {naive_seconds:.2f} s (once)")

    engine = engine_cells(values)
    problems = mismatches("engine", engine, "DuckDB", duck_result) + mismatches("naive", naive, "DuckDB", duck_result)
    for line in warm_lines + changed_lines + honest_lines + restart_lines + closed_lines:
        print(line)
    print(f"after a restart (persisted sums), dashboard query/DuckDB: {restarted / reference:.1f}x")
    print(
        f"cold through the app/DuckDB: {app_cold / reference:.1f}x, goal <= 5x "
        f"{'met' if app_cold <= 5 * reference else 'NOT met'}"
    )
    ratio = cold / reference
    print(
        f"ratios: cold/DuckDB {ratio:.1f}x (1 thread: {cold / single:.1f}x), goal <= 3x "
        f"{'met' if ratio <= 3 else 'NOT met'}; after a one-month change/DuckDB {changed / reference:.1f}x; "
        f"naive/cold {naive_seconds / cold:.1f}x"
    )
    print(f"load average at the end: {load()}")
    if problems:
        print(f"MISMATCH: {len(problems)} cells differ", *problems[:40], sep="\n")
        return 1
    print(f"agree: engine, DuckDB and the naive loop give the same {len(engine):,} (kpi, technician, month) cells")
    return 0


def run_closed(args: argparse.Namespace) -> int:
    """``--closed``: closing months and answering them from snapshots only (on a copy of the data)."""
    zone = ZoneInfo(args.zone)
    print(f"machine: {machine()}; load average {load()}")
    # Built data of an older schema is fine: the copy timed is migrated (time_closed).
    built = Path(args.db) if args.db else CACHE_DIR / f"{data_key(args)}.sqlite3"
    path = built if built.with_name(built.name + ".bench.json").exists() else prepare(args, zone)[0]
    start, end = date(FIRST_YEAR + args.years - 1, 1, 1), date(FIRST_YEAR + args.years, 1, 1)
    with tempfile.TemporaryDirectory() as folder:
        plugins = load_plugins(settings_for(Path(folder), args.zone))
    query = dashboard_query(plugins, start, end)
    print(f"data: {path}; query: {len(query.kpis)} KPIs x technician x month, {start} to {end}; repeat {args.repeat}")
    for line in time_closed(path, plugins, query, zone, args.repeat):
        print(line)
    print(f"load average at the end: {load()}")
    return 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--technicians", type=int, default=500)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--crews", type=float, default=CREW_SHARE, help="share of jobs with a helper (0 to 1)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each timed query (the median is reported)")
    parser.add_argument("--db", help="the SQLite file to build or reuse (default: under var/bench/)")
    parser.add_argument(
        "--database", help="a PostgreSQL URL: copy the built data there and time the engine on it (kpi_bench_pg.py)"
    )
    parser.add_argument("--redis", default="", help="Redis URL: also time the warm query with the Redis cache")
    parser.add_argument("--zone", default="America/New_York", help="the company time zone (months are cut in it)")
    parser.add_argument("--rebuild", action="store_true", help="build the data even if a cached file fits")
    parser.add_argument("--explain", action="store_true", help="print the engine's SQL and SQLite's query plan")
    parser.add_argument("--quick", action="store_true", help="20,000 jobs, 40 technicians, 2 runs (for the test)")
    parser.add_argument(
        "--closed", action="store_true", help="time only closing months and answering them from snapshots (issue #21)"
    )
    parser.add_argument("--cold-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--app", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--restart-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--credit", default=DEFAULT_RULE, help=argparse.SUPPRESS)
    parser.add_argument("--start", help=argparse.SUPPRESS)
    parser.add_argument("--end", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.technicians, args.repeat = 20_000, 40, 2
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.cold_child:
        cold_child(args)
        return 0
    if args.restart_child:
        restart_child(args)
        return 0
    if args.closed:
        return run_closed(args)
    if args.database:
        from kpi_bench_pg import run_postgres  # beside this file; loaded only for PostgreSQL runs

        return run_postgres(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
