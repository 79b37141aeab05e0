"""Import 100,000 job rows from CSV into a fresh SQLite database; print time, rows/s and memory.

Goal (issue: the domain API): under 30 s on a 2-core machine, with flat memory
(the file is streamed and written in batches, so memory does not grow with it).

    .venv/bin/python bench/import_bench.py [ROWS] [--memory]

Times are measured without tracemalloc (it slows Python 4-5x); ``--memory``
adds a tracemalloc peak instead, in a run whose times are then not comparable.
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

from kpi_core.accounts.scope import UNSCOPED
from kpi_core.audit.trail import Actor
from kpi_core.config import Settings
from kpi_core.imports.jobs import JOB_COLUMNS, import_jobs
from kpi_core.imports.readers import read_rows
from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.storage.models import Technician


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


if __name__ == "__main__":
    arguments = [arg for arg in sys.argv[1:] if arg != "--memory"]
    main(int(arguments[0]) if arguments else 100_000, trace_memory="--memory" in sys.argv)
