"""Import 100,000 job rows from CSV into a fresh SQLite database; print time, rows/s and memory.

Goal (issue: the domain API): under 30 s on a 2-core machine, with flat memory
(the file is streamed and written in batches, so memory does not grow with it).

    .venv/bin/python bench/import_bench.py [ROWS] [--memory]
    .venv/bin/python bench/import_bench.py [ROWS] --mapping [--memory]

Times are measured without tracemalloc (it slows Python 4-5x); ``--memory``
adds a tracemalloc peak instead, in a run whose times are then not comparable.

``--mapping`` (issue #18: at most 1.3x the native time, flat memory) writes the
same jobs twice, in the import's own columns and as another system's export
(US dates and 12-hour times in Phoenix time, the booked start as a date and a
time column, the start of work as the finish minus a duration in minutes,
statuses in other words), imports each into its own new database (the second
through a column mapping), checks that both stored the same jobs, and prints
the two side by side with their ratio.
"""

from __future__ import annotations

import csv
import io
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from kpi_core.accounts.scope import UNSCOPED
from kpi_core.audit.trail import Actor
from kpi_core.config import Settings
from kpi_core.imports.jobs import JOB_COLUMNS, import_jobs
from kpi_core.imports.mapped import import_mapped_jobs
from kpi_core.imports.mapping_io import mapping_from_json
from kpi_core.imports.readers import read_rows
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.storage.models import Job, Technician


def write_csv(path: Path, rows: int, technicians: int) -> None:
    rng = random.Random(7)
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
                f"J{n}", f"T{n % technicians}", f"C{n % 5000}", f"Customer {n % 5000}", "plumbing", "completed",
                scheduled.isoformat(), (scheduled + timedelta(hours=3)).isoformat(), arrived.isoformat(),
                started.isoformat(), completed.isoformat(), 90, "150.00", callback,
            ])  # fmt: skip


def main(rows: int = 100_000, trace_memory: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = Settings.from_env({}, data_dir=folder, secret_key="b" * 40)
        database = Database(settings.effective_database_url)
        upgrade(database.engine)
        with database.session() as session:
            session.add_all(Technician(external_ref=f"T{n}", name=f"Tech {n}") for n in range(200))
        path = folder / "jobs.csv"
        write_csv(path, rows, 200)
        size_mb = path.stat().st_size / 1e6

        for label in ("first import", "same file again"):
            if trace_memory:
                tracemalloc.start()
            began = time.perf_counter()
            session = database.open_session(write=True)
            with path.open("rb") as raw:
                report = import_jobs(
                    session, read_rows(io.BufferedReader(raw), "csv", JOB_COLUMNS),
                    scope=UNSCOPED, actor=Actor.system("bench"), zone=settings.zone,
                )  # fmt: skip
            session.commit()
            session.close()
            elapsed = time.perf_counter() - began
            memory = ""
            if trace_memory:
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                memory = f"; peak Python memory {peak / 1e6:.1f} MB ({peak / 1e6 / size_mb:.2f}x the file)"
            assert report.ok, report.errors[:5]
            print(
                f"{label}: {rows:,} rows ({size_mb:.1f} MB) in {elapsed:.1f} s = {rows / elapsed:,.0f} rows/s; "
                f"created {report.created:,}, updated {report.updated:,}, unchanged {report.unchanged:,}{memory}"
            )
        print(f"max RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB")


PHOENIX = ZoneInfo("America/Phoenix")  # no daylight saving: wall-clock times stay in order
EXPORT_HEADER = ["Job #", "Tech", "Client ID", "Client", "Type", "Status", "Date", "Start", "End", "Arrived",
                 "Finished", "Minutes on job", "Est", "Total", "Callback"]  # fmt: skip
EXPORT_MAPPING = {
    "fields": {
        "external_ref": {"kind": "column", "column": "Job #"},
        "technician_ref": {"kind": "column", "column": "Tech"},
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
    },
    "timezone": "America/Phoenix",
    "datetime_format": "%m/%d/%Y %I:%M %p",
    "date_format": "%m/%d/%Y",
    "time_format": "%I:%M %p",
}  # fmt: skip


def write_both(native: Path, export: Path, rows: int, technicians: int) -> None:
    """The same jobs in the import's own columns (ISO, with offsets) and as another system's export."""
    rng = random.Random(7)
    start = datetime(2025, 1, 1, 8)  # Phoenix wall-clock time, to the minute
    with native.open("w", newline="", encoding="utf-8") as own, export.open("w", newline="", encoding="utf-8") as other:
        own_rows, other_rows = csv.writer(own), csv.writer(other)
        own_rows.writerow(JOB_COLUMNS)
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

            def iso(moment: datetime) -> str:
                return moment.replace(tzinfo=PHOENIX).isoformat()

            own_rows.writerow([
                f"J{n}", f"T{n % technicians}", f"C{n % 5000}", f"Customer {n % 5000}", "plumbing", "completed",
                iso(scheduled), iso(end), iso(arrived), iso(started), iso(completed), 90, "150.00", callback,
            ])  # fmt: skip
            other_rows.writerow([
                f"J{n}", f"T{n % technicians}", f"C{n % 5000}", f"Customer {n % 5000}", "plumbing", word,
                scheduled.strftime(day), scheduled.strftime(clock), end.strftime(us), arrived.strftime(us),
                completed.strftime(us), minutes, 90, "150.00", callback,
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
    common = {"scope": UNSCOPED, "actor": Actor.system("bench"), "zone": settings.zone}
    with path.open("rb") as raw:
        if mapped:
            report = import_mapped_jobs(session, io.BufferedReader(raw), "csv", mapping_from_json(EXPORT_MAPPING),
                                        **common)  # fmt: skip
        else:
            report = import_jobs(session, read_rows(io.BufferedReader(raw), "csv", JOB_COLUMNS), **common)
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
    columns = ("external_ref", "status", "scheduled_start", "scheduled_end", "arrived_at", "started_at",
               "completed_at", "estimated_minutes", "revenue", "technician_id", "callback_of_id")  # fmt: skip
    with database.session(write=False) as session:
        query = select(*(getattr(Job, name) for name in columns)).order_by(Job.external_ref)
        return [tuple(row) for row in session.execute(query)]


def compare(rows: int = 100_000, trace_memory: bool = False) -> None:
    """The same rows through the import's own columns and through a column mapping, side by side."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        native, export = folder / "native.csv", folder / "export.csv"
        write_both(native, export, rows, 200)
        sizes = {"native": native.stat().st_size / 1e6, "mapped": export.stat().st_size / 1e6}
        figures, databases = {}, {}
        for label, path in (("native", native), ("mapped", export)):
            settings, database = fresh_database(folder / label)
            figures[label] = timed_import(database, settings, path, label == "mapped", trace_memory)
            databases[label] = database
        assert stored_jobs(databases["native"]) == stored_jobs(databases["mapped"]), "the two imports differ"
        print(f"{rows:,} rows, the same jobs stored both ways ({'tracemalloc on' if trace_memory else 'no tracing'})")
        print(f"{'':28}{'native columns':>18}{'through a mapping':>20}{'ratio':>8}")
        print(f"{'file':28}{sizes['native']:>15.1f} MB{sizes['mapped']:>17.1f} MB")
        for key, name in (("wall", "wall time"), ("cpu", "CPU time")):
            native_s, mapped_s = figures["native"][key], figures["mapped"][key]
            print(f"{name:28}{native_s:>16.1f} s{mapped_s:>18.1f} s{mapped_s / native_s:>7.2f}x")
        if trace_memory:
            native_mb, mapped_mb = figures["native"]["peak"], figures["mapped"]["peak"]
            print(f"{'peak Python memory':28}{native_mb:>15.1f} MB{mapped_mb:>17.1f} MB{mapped_mb / native_mb:>7.2f}x")
        print(f"max RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB")


if __name__ == "__main__":
    arguments = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    count = int(arguments[0]) if arguments else 100_000
    if "--mapping" in sys.argv:
        compare(count, trace_memory="--memory" in sys.argv)
    else:
        main(count, trace_memory="--memory" in sys.argv)
