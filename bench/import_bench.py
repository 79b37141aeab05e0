"""Import 100,000 job rows from CSV into a fresh SQLite database; print time, rows/s and memory.

Goals: under 30 s on a 2-core machine, with flat memory (issue: the domain API);
at most 5 s of CPU, and at most 4x the CPU of a bare ``sqlite3`` ``executemany``
of the same rows measured in the same run (issue #19, point 3). The bare
``executemany`` inserts the very rows the import stored (read back from its
database: the jobs table, every column, in id order) into another new database
with the same schema, customers and technicians, the app's PRAGMAs and the page
cache the importer takes (``BULK_CACHE_KIB``), in one transaction.

    .venv/bin/python bench/import_bench.py [ROWS] [--memory]
    .venv/bin/python bench/import_bench.py [ROWS] --mapping [--memory]

Times are measured without tracemalloc (it slows Python 4-5x); ``--memory``
adds a tracemalloc peak instead, in a run whose times are then not comparable.

``--mapping`` (issue #18: at most 1.3x the native time, flat memory) writes the
same jobs twice, in the import's own columns and as another system's export
(US dates and 12-hour times in Phoenix time, the booked start as a date and a
time column, the start of work as the finish minus a duration in minutes,
statuses in other words, the crew in an "Employees" column, a plugin's job
field as "PPE checked"), imports each into its own new database (the second
through a column mapping), checks that both stored the same jobs, crews and
field values, and prints the two side by side with their ratio.

``--crews FRACTION`` (default 0.2) is the share of rows whose job two
technicians did (a lead and a helper, equal shares on most, 0.6/0.4 on some).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import resource
import sqlite3
import tempfile
import time
import tracemalloc
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from kpi_core.accounts.scope import UNSCOPED
from kpi_core.audit.trail import Actor
from kpi_core.config import Settings
from kpi_core.declarations import JobField
from kpi_core.imports.jobs import JOB_COLUMNS, import_jobs
from kpi_core.imports.mapped import import_mapped_jobs
from kpi_core.imports.mapping_io import mapping_from_json
from kpi_core.imports.readers import read_rows
from kpi_core.storage.bulk import BULK_CACHE_KIB
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.storage.models import Job, JobAssignment, JobFieldValue, Technician

PPE = JobField("bench.ppe_checked", "PPE checked", "boolean")
JOB_FIELDS = {PPE.key: PPE}
"""The plugin job field the mapped case fills (declared here as a plugin would declare it)."""
CREW_SHARE = 0.2


def crew_cells(n: int, technicians: int, rng: random.Random, crews: float) -> tuple[str, str]:
    """Row ``n``'s technician_ref and technicians cells: the lead alone, or on ``crews`` of the rows a lead
    and a helper (0.6/0.4 on every third such crew, else equal shares)."""
    lead = f"T{n % technicians}"
    if rng.random() >= crews:
        return lead, ""
    helper = f"T{(n + 1 + rng.randrange(technicians - 1)) % technicians}"
    return lead, f"{lead}:lead:0.6;{helper}:helper:0.4" if n % 3 == 0 else f"{lead}:lead;{helper}"


def write_csv(path: Path, rows: int, technicians: int, crews: float = CREW_SHARE) -> None:
    rng, crew_rng = random.Random(7), random.Random(8)
    start = datetime(2025, 1, 1, 8, tzinfo=UTC)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(JOB_COLUMNS)
        for n in range(rows):
            scheduled = start + timedelta(minutes=37 * n)
            arrived = scheduled + timedelta(minutes=rng.randint(-10, 40))
            started = arrived + timedelta(minutes=5)
            completed = started + timedelta(minutes=rng.randint(30, 180))
            callback = f"J{n - rng.randint(1, 50)}" if n > 50 and rng.random() < 0.05 else ""
            writer.writerow([
                f"J{n}", *crew_cells(n, technicians, crew_rng, crews), f"C{n % 5000}", f"Customer {n % 5000}",
                "plumbing", "completed",
                scheduled.isoformat(), (scheduled + timedelta(hours=3)).isoformat(), arrived.isoformat(),
                started.isoformat(), completed.isoformat(), 90, "150.00", callback,
            ])  # fmt: skip


def main(rows: int = 100_000, trace_memory: bool = False, crews: float = CREW_SHARE) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings, database = fresh_database(folder / "import")
        path = folder / "jobs.csv"
        write_csv(path, rows, 200, crews)
        size_mb = path.stat().st_size / 1e6
        print(f"{rows:,} rows ({size_mb:.1f} MB CSV, {crews:.0%} with a crew); load average {load()}")
        first = {}
        for label in ("first import", "same file again"):
            if trace_memory:
                tracemalloc.start()
            began, cpu = time.perf_counter(), time.process_time()
            session = database.open_session(write=True)
            with path.open("rb") as raw:
                report = import_jobs(
                    session, read_rows(io.BufferedReader(raw), "csv", JOB_COLUMNS),
                    scope=UNSCOPED, actor=Actor.system("bench"), zone=settings.zone,
                )  # fmt: skip
            session.commit()
            session.close()
            figures = {"wall": time.perf_counter() - began, "cpu": time.process_time() - cpu}
            memory = ""
            if trace_memory:
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                memory = f"; peak Python memory {peak / 1e6:.1f} MB ({peak / 1e6 / size_mb:.2f}x the file)"
            assert report.ok, report.errors[:5]
            first = first or figures
            print(
                f"{label}: {figures['wall']:.1f} s wall = {rows / figures['wall']:,.0f} rows/s, "
                f"{figures['cpu']:.2f} s CPU; created {report.created:,}, updated {report.updated:,}, "
                f"unchanged {report.unchanged:,}{memory}"
            )
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
        print(f"max RSS of the process after the imports: {rss:.0f} MB")
        if not trace_memory:
            bare = bare_executemany(database, folder / "bare")
            ratio = first["cpu"] / bare["cpu"]
            print(
                f"bare sqlite3 executemany of the same {bare['rows']:,} jobs rows: {bare['wall']:.1f} s wall, "
                f"{bare['cpu']:.2f} s CPU"
            )
            print(
                f"first import: {first['cpu']:.2f} s CPU (goal at 100,000 rows: at most 5 s), "
                f"{ratio:.2f}x the bare executemany's CPU (goal: at most 4x); load average {load()}"
            )


def bare_executemany(source: Database, folder: Path) -> dict:
    """Insert the jobs ``source`` stored, every column as stored, into a new database with the same schema,
    technicians and customers, with one ``sqlite3`` ``executemany`` in one transaction: the floor an
    importer of the same rows could reach. Only the executemany and its commit are timed."""
    _, target = fresh_database(folder)
    target_path = target.engine.url.database
    target.dispose()
    columns = ", ".join(column.name for column in Job.__table__.columns)
    with closing(sqlite3.connect(source.engine.url.database)) as stored:
        jobs = stored.execute(f"SELECT {columns} FROM jobs ORDER BY id").fetchall()  # noqa: S608
        customers = stored.execute("SELECT id, external_ref, name, created_at, updated_at FROM customers").fetchall()
    connection = sqlite3.connect(target_path, isolation_level=None)
    # As the app's connections, with the page cache an import takes (kpi_core/storage/bulk.py).
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL", f"cache_size=-{BULK_CACHE_KIB}"):
        connection.execute(f"PRAGMA {pragma}")
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany("INSERT INTO customers (id, external_ref, name, created_at, updated_at) "
                           "VALUES (?, ?, ?, ?, ?)", customers)  # fmt: skip
    connection.execute("COMMIT")
    marks = ", ".join("?" for _ in Job.__table__.columns)
    began, cpu = time.perf_counter(), time.process_time()
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany(f"INSERT INTO jobs ({columns}) VALUES ({marks})", jobs)  # noqa: S608
    connection.execute("COMMIT")
    figures = {"wall": time.perf_counter() - began, "cpu": time.process_time() - cpu, "rows": len(jobs)}
    connection.close()
    return figures


PHOENIX = ZoneInfo("America/Phoenix")  # no daylight saving: wall-clock times stay in order
EXPORT_HEADER = ["Job #", "Employees", "Client ID", "Client", "Type", "Status", "Date", "Start", "End", "Arrived",
                 "Finished", "Minutes on job", "Est", "Total", "Callback", "PPE checked"]  # fmt: skip
EXPORT_MAPPING = {
    "fields": {
        "external_ref": {"kind": "column", "column": "Job #"},
        "technicians": {"kind": "column", "column": "Employees"},
        "customer_ref": {"kind": "column", "column": "Client ID"},
        "customer_name": {"kind": "column", "column": "Client"},
        "category": {"kind": "column", "column": "Type"},
        "status": {"kind": "value_map", "column": "Status",
                   "values": {"Complete": "completed", "Done": "completed", "Pro canceled": "cancelled"}},
        "scheduled_start": {"kind": "date_time", "column": "Date", "time_column": "Start"},
        "scheduled_end": {"kind": "column", "column": "End"},
        "arrived_at": {"kind": "column", "column": "Arrived"},
        "completed_at": {"kind": "column", "column": "Finished"},
        "started_at": {"kind": "minus_minutes", "base": "completed_at", "column": "Minutes on job"},
        "estimated_minutes": {"kind": "column", "column": "Est"},
        "revenue": {"kind": "column", "column": "Total"},
        "callback_of": {"kind": "column", "column": "Callback"},
        PPE.key: {"kind": "column", "column": "PPE checked"},
    },
    "timezone": "America/Phoenix",
    "datetime_format": "%m/%d/%Y %I:%M %p",
    "date_format": "%m/%d/%Y",
    "time_format": "%I:%M %p",
}  # fmt: skip


def write_both(native: Path, export: Path, rows: int, technicians: int, crews: float = CREW_SHARE) -> None:
    """The same jobs in the import's own columns (ISO, with offsets) and as another system's export."""
    rng, crew_rng = random.Random(7), random.Random(8)
    start = datetime(2025, 1, 1, 8)  # Phoenix wall-clock time, to the minute
    with native.open("w", newline="", encoding="utf-8") as own, export.open("w", newline="", encoding="utf-8") as other:
        own_rows, other_rows = csv.writer(own), csv.writer(other)
        own_rows.writerow([*JOB_COLUMNS, PPE.key])
        other_rows.writerow(EXPORT_HEADER)
        us, day, clock = EXPORT_MAPPING["datetime_format"], EXPORT_MAPPING["date_format"], EXPORT_MAPPING["time_format"]
        for n in range(rows):
            scheduled = start + timedelta(minutes=37 * n)
            end = scheduled + timedelta(hours=3)
            arrived = scheduled + timedelta(minutes=rng.randint(-10, 40))
            minutes = rng.randint(30, 180)
            completed = arrived + timedelta(minutes=5 + minutes)
            started = completed - timedelta(minutes=minutes)
            callback = f"J{n - rng.randint(1, 50)}" if n > 50 and rng.random() < 0.05 else ""
            word = ("Complete", "Done")[n % 2]
            technician, crew = crew_cells(n, technicians, crew_rng, crews)
            checked = n % 4 != 0

            def iso(moment: datetime) -> str:
                return moment.replace(tzinfo=PHOENIX).isoformat()

            own_rows.writerow([
                f"J{n}", technician, crew, f"C{n % 5000}", f"Customer {n % 5000}", "plumbing", "completed",
                iso(scheduled), iso(end), iso(arrived), iso(started), iso(completed), 90, "150.00", callback,
                "yes" if checked else "no",
            ])  # fmt: skip
            other_rows.writerow([
                f"J{n}", crew or technician, f"C{n % 5000}", f"Customer {n % 5000}", "plumbing", word,
                scheduled.strftime(day), scheduled.strftime(clock), end.strftime(us), arrived.strftime(us),
                completed.strftime(us), minutes, 90, "150.00", callback, "Yes" if checked else "No",
            ])  # fmt: skip


def fresh_database(folder: Path) -> tuple[Settings, Database]:
    folder.mkdir()
    settings = Settings.from_env({}, data_dir=folder, secret_key="b" * 40)
    database = Database(settings.effective_database_url)
    upgrade(database.engine)
    with database.session() as session:
        session.add_all(Technician(external_ref=f"T{n}", name=f"Tech {n}") for n in range(200))
    return settings, database


def timed_import(database: Database, settings: Settings, path: Path, mapped: bool, trace_memory: bool) -> dict:
    if trace_memory:
        tracemalloc.start()
    began, cpu = time.perf_counter(), time.process_time()
    session = database.open_session(write=True)
    common = {"scope": UNSCOPED, "actor": Actor.system("bench"), "zone": settings.zone, "job_fields": JOB_FIELDS}
    with path.open("rb") as raw:
        if mapped:
            report = import_mapped_jobs(session, io.BufferedReader(raw), "csv", mapping_from_json(EXPORT_MAPPING),
                                        **common)  # fmt: skip
        else:
            rows = read_rows(io.BufferedReader(raw), "csv", (*JOB_COLUMNS, *JOB_FIELDS))
            report = import_jobs(session, rows, **common)
    session.commit()
    session.close()
    figures = {"wall": time.perf_counter() - began, "cpu": time.process_time() - cpu, "peak": 0.0}
    if trace_memory:
        figures["peak"] = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    assert report.ok, report.errors[:5]
    assert report.created == report.rows, report.describe()
    return figures


def stored_jobs(database: Database) -> list[tuple]:
    """Every job's columns, then its crew and its field values, as stored."""
    columns = ("external_ref", "status", "scheduled_start", "scheduled_end", "arrived_at", "started_at",
               "completed_at", "estimated_minutes", "revenue", "technician_id", "callback_of_id")  # fmt: skip
    with database.session(write=False) as session:
        query = select(*(getattr(Job, name) for name in columns)).order_by(Job.external_ref)
        jobs = [tuple(row) for row in session.execute(query)]
        crews = select(Job.external_ref, JobAssignment.technician_id, JobAssignment.role, JobAssignment.share).join(
            JobAssignment, JobAssignment.job_id == Job.id
        )
        fields = select(Job.external_ref, JobFieldValue.key, JobFieldValue.boolean_value).join(
            JobFieldValue, JobFieldValue.job_id == Job.id
        )
        return [*jobs, *sorted(map(tuple, session.execute(crews))), *sorted(map(tuple, session.execute(fields)))]


def crew_count(database: Database) -> tuple[int, int]:
    """(jobs with a helper, crew rows)."""
    with database.session(write=False) as session:
        rows = session.scalar(select(func.count()).select_from(JobAssignment))
        helped = session.scalar(select(func.count()).where(JobAssignment.role == "helper"))
    return helped, rows


def compare(rows: int = 100_000, trace_memory: bool = False, crews: float = CREW_SHARE) -> None:
    """The same rows through the import's own columns and through a column mapping, side by side."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        native, export = folder / "native.csv", folder / "export.csv"
        write_both(native, export, rows, 200, crews)
        sizes = {"native": native.stat().st_size / 1e6, "mapped": export.stat().st_size / 1e6}
        figures, databases = {}, {}
        for label, path in (("native", native), ("mapped", export)):
            settings, database = fresh_database(folder / label)
            figures[label] = timed_import(database, settings, path, label == "mapped", trace_memory)
            databases[label] = database
        assert stored_jobs(databases["native"]) == stored_jobs(databases["mapped"]), "the two imports differ"
        helped, crew_rows = crew_count(databases["mapped"])
        print(
            f"{rows:,} rows, the same jobs, crews and job field stored both ways "
            f"({'tracemalloc on' if trace_memory else 'no tracing'}); {helped:,} jobs with a helper "
            f"({helped / rows:.0%}), {crew_rows:,} crew rows; load average {load()}"
        )
        print(f"{'':28}{'native columns':>18}{'through a mapping':>20}{'ratio':>8}")
        print(f"{'file':28}{sizes['native']:>15.1f} MB{sizes['mapped']:>17.1f} MB")
        for key, name in (("wall", "wall time"), ("cpu", "CPU time")):
            native_s, mapped_s = figures["native"][key], figures["mapped"][key]
            print(f"{name:28}{native_s:>16.1f} s{mapped_s:>18.1f} s{mapped_s / native_s:>7.2f}x")
        if trace_memory:
            native_mb, mapped_mb = figures["native"]["peak"], figures["mapped"]["peak"]
            print(f"{'peak Python memory':28}{native_mb:>15.1f} MB{mapped_mb:>17.1f} MB{mapped_mb / native_mb:>7.2f}x")
        print(f"max RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB")


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", type=int, nargs="?", default=100_000)
    parser.add_argument("--mapping", action="store_true", help="native columns beside a column mapping")
    parser.add_argument("--memory", action="store_true", help="trace Python memory (times then not comparable)")
    parser.add_argument("--crews", type=float, default=CREW_SHARE, help="share of rows with a two-person crew")
    args = parser.parse_args()
    (compare if args.mapping else main)(args.rows, trace_memory=args.memory, crews=args.crews)
