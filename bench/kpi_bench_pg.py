"""PostgreSQL for bench/kpi_bench.py (issue #19, point 4): the same data and the same dashboard query.

``kpi_bench.py --database postgresql://USER@HOST:PORT/DB`` writes the rows kpi_bench.py's generator
makes (the same seed, the same rows as its SQLite file) into the PostgreSQL database with ``COPY``:
the database is migrated first by ``kpi_core.storage.migrate.upgrade``, its plain indexes are
dropped during the copy and made again after it, foreign-key triggers are off for the copy when the
role may do so, then ``VACUUM ANALYZE``; a comment on the database names the data, so a re-run
reuses it (``--rebuild`` builds again). The DuckDB copy is read back from the database
(``var/bench/KEY.pg.duckdb``). Then it times, beside DuckDB on the same rows:

- cold: a fresh process per run (a new server backend; PostgreSQL's shared buffers and the OS file
  cache stay as the previous run left them) and a new connection in this process;
- warm: ``kpi_values`` (the API's cached entry point) asked again, in-memory cache;
- after an import: 1,000 jobs imported into the last month through the importer
  (``kpi_core.imports.jobs.import_jobs``), then the dashboard query through the cache (the other
  months' sums are cached; the imported jobs are deleted again after each run);
- after a change to one month and after a restart from persisted sums, as kpi_bench.py times them.

The engine's answer must equal DuckDB's cell for cell. An unreachable server, or a URL that is not
PostgreSQL's, ends the run at once with one line. Settings to try go in the URL
(``?options=-c%20work_mem%3D64MB``) or on the database (``ALTER DATABASE … SET``); ``--explain``
prints the engine's statement and ``EXPLAIN (ANALYZE, BUFFERS)`` of it.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import kpi_bench as bench
import psycopg
from sqlalchemy import make_url, select
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.exc import ArgumentError

from kpi_core.accounts.scope import UNSCOPED
from kpi_core.audit.trail import Actor
from kpi_core.errors import DatabaseUnavailable
from kpi_core.imports.jobs import JOB_COLUMNS, import_jobs
from kpi_core.imports.readers import read_rows
from kpi_core.kpis.cache import MemoryCache
from kpi_core.kpis.definitions import resolve_metrics
from kpi_core.kpis.engine import sums_statement
from kpi_core.kpis.query import KpiQuery, validate_grid
from kpi_core.kpis.service import kpi_values
from kpi_core.plugins import PluginHost, load_plugins
from kpi_core.storage.db import Database, ping
from kpi_core.storage.migrate import current_revisions, head_revisions, upgrade
from kpi_core.storage.models import Job

TABLES = ("teams", "technicians", "customers", "jobs", "job_assignments", "feedback", "evaluations")
"""What kpi_bench.py writes, in an order that keeps every foreign key pointing backwards."""
MARK = "kpi_bench.py data "
"""The database comment that says the data in it was copied here by this script, and which data."""
IMPORT_ROWS = 1_000
IMPORT_PREFIX = "BENCH-IMPORT-"
SETTINGS_SHOWN = (
    "shared_buffers", "work_mem", "max_parallel_workers_per_gather", "effective_cache_size", "jit",
    "random_page_cost",
)  # fmt: skip


def fail(message: str) -> None:
    """End the run with one line on stderr (status 1)."""
    sys.exit(f"kpi_bench: {message}")


def reach(url: str) -> str:
    """The SQLAlchemy URL of a reachable PostgreSQL database, or the end of the run with one line."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        fail(f"--database {url!r} is not a database URL (postgresql://USER@HOST:PORT/DATABASE)")
    if parsed.get_backend_name() != "postgresql":
        fail(f"--database must be a PostgreSQL URL (postgresql://USER@HOST:PORT/DATABASE), not {parsed.drivername}")
    url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    database = Database(url)
    try:
        ping(database.engine)
    except DatabaseUnavailable as exc:
        fail(str(exc))
    finally:
        database.dispose()
    return url


def libpq(url: str) -> str:
    """The URL as psycopg's own connection string (no SQLAlchemy driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# ---------------------------------------------------------------- the same rows, written with COPY


class CopySink:
    """What kpi_bench.py's generator writes to: each batch of a table's rows is one ``COPY … FROM STDIN``."""

    def __init__(self, pg: psycopg.Connection) -> None:
        self.pg = pg
        self.counts: dict[str, int] = {}

    def write_rows(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        with self.pg.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # our names
            for row in rows:
                copy.write_row(row)
        self.counts[table] = self.counts.get(table, 0) + len(rows)


def prepare_postgres(url: str, args: argparse.Namespace, zone: ZoneInfo) -> Path:
    """Build the data in the database unless it holds it already; returns the DuckDB copy (made if missing)."""
    key = bench.data_key(args)
    copy = bench.CACHE_DIR / f"{key}.pg.duckdb"
    marker = copy.with_name(copy.name + ".bench.json")
    with psycopg.connect(libpq(url), autocommit=True) as pg:
        name = pg.execute("SELECT current_database()").fetchone()[0]
        comment = pg.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"
        ).fetchone()[0]
        tables = pg.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
    if comment == MARK + key and not args.rebuild:
        # Migrations written since the build are applied, as on a company's database, not built again.
        applied = not _at_head(url)
        database = Database(url)
        upgrade(database.engine)
        database.dispose()
        print(f"data: reusing PostgreSQL database {name}{' (migrated to head)' if applied else ''}")
    else:
        if tables and not (comment or "").startswith(MARK):
            fail(f"database {name} has tables kpi_bench.py did not put there: give an empty database")
        build(url, name, key, args, zone)
        copy.unlink(missing_ok=True)
    if not copy.exists() or not marker.exists() or json.loads(marker.read_text()) != {"key": key}:
        began = time.perf_counter()
        copy.unlink(missing_ok=True)
        copy.parent.mkdir(parents=True, exist_ok=True)
        export_to_duckdb(url, copy)
        marker.write_text(json.dumps({"key": key}))
        print(f"data: DuckDB copy {copy.name} in {time.perf_counter() - began:.1f} s (not timed below)")
    return copy


def build(url: str, name: str, key: str, args: argparse.Namespace, zone: ZoneInfo) -> None:
    """kpi_bench.py's generator (the same seed, the same rows) written with COPY into the migrated database;
    its plain indexes are dropped first and made again after, then VACUUM ANALYZE."""
    with psycopg.connect(libpq(url), autocommit=True) as pg:
        pg.execute("DROP SCHEMA public CASCADE")
        pg.execute("CREATE SCHEMA public")
        # Ours from here on, so a build cut short is done again by the next run.
        pg.execute(f'COMMENT ON DATABASE "{name}" IS {_literal(MARK + "(incomplete)")}')
    database = Database(url)
    upgrade(database.engine)
    database.dispose()
    began = time.perf_counter()
    with psycopg.connect(libpq(url), autocommit=True) as pg:
        pg.execute("SET TimeZone = 'UTC'")  # the generator's naive timestamps are UTC
        pg.execute("SET maintenance_work_mem = '1GB'")
        triggers = _without_foreign_key_triggers(pg)
        indexes = pg.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY(%s) "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)",
            [list(TABLES)],
        ).fetchall()
        for index, _ in indexes:
            pg.execute(f'DROP INDEX "{index}"')
        sink = CopySink(pg)
        rng = random.Random(args.seed)
        with pg.transaction():
            bench._people(sink, args.technicians)
            bench._jobs(
                sink, rng, args.jobs, args.technicians, args.years, zone,
                bench._Crews(args.seed, args.technicians, args.crews),
            )  # fmt: skip
            bench._evaluations(sink, rng, args.technicians, args.years)
        copied = time.perf_counter() - began
        for _, definition in indexes:
            pg.execute(definition)
        indexed = time.perf_counter() - began - copied
        with_ids = pg.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND column_name = 'id' AND table_name = ANY(%s)",
            [list(TABLES)],
        ).fetchall()
        for (table,) in with_ids:  # new rows (the import below) must not collide with the written ids
            pg.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # noqa: S608
        pg.execute(f"VACUUM ANALYZE {', '.join(TABLES)}")
        size = pg.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        pg.execute(f'COMMENT ON DATABASE "{name}" IS {_literal(MARK + key)}')
    print(
        f"data: built in PostgreSQL database {name} in {time.perf_counter() - began:.1f} s (generated and "
        f"COPY {copied:.1f} s{'' if triggers else ' with foreign-key triggers on'}, {len(indexes)} indexes "
        f"{indexed:.1f} s, then VACUUM ANALYZE; {size / 1e6:,.0f} MB): "
        + ", ".join(f"{table} {count:,}" for table, count in sink.counts.items())
    )


def export_to_duckdb(url: str, target: Path) -> None:
    """The KPI columns of the database in a DuckDB file, through CSV (timestamps as naive UTC)."""
    duck = duckdb.connect(str(target))
    duck.execute("SET TimeZone = 'UTC'")
    try:
        with psycopg.connect(libpq(url)) as pg, tempfile.TemporaryDirectory() as folder:
            for table, columns in bench.DUCK_TABLES.items():
                csv_path = Path(folder) / f"{table}.csv"
                selected = ", ".join(
                    f"({name} AT TIME ZONE 'UTC')" if kind == "TIMESTAMP" else name for name, kind in columns.items()
                )
                with (
                    csv_path.open("wb") as handle,
                    pg.cursor().copy(
                        f"COPY (SELECT {selected} FROM {table}) TO STDOUT (FORMAT csv)"  # noqa: S608 - our names
                    ) as rows,
                ):
                    for block in rows:
                        handle.write(block)
                bench.duck_table_from_csv(duck, table, columns, csv_path)
    finally:
        duck.close()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _at_head(url: str) -> bool:
    database = Database(url)
    try:
        return current_revisions(database.engine) == head_revisions(database.engine)
    finally:
        database.dispose()


def _without_foreign_key_triggers(pg: psycopg.Connection) -> bool:
    """Foreign keys are not checked row by row during the build (the generator writes them consistent)
    when the role may say so; otherwise they are, which is only slower."""
    try:
        pg.execute("SET session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


# ---------------------------------------------------------------- what the server does with the query


def server_settings(url: str) -> str:
    with psycopg.connect(libpq(url)) as pg:
        version = pg.execute("SHOW server_version").fetchone()[0]
        shown = [f"{name} {pg.execute(f'SHOW {name}').fetchone()[0]}" for name in SETTINGS_SHOWN]
    return f"PostgreSQL {version}; " + ", ".join(shown)


def explain(url: str, plugins: PluginHost, query: KpiQuery, zone: ZoneInfo) -> None:
    """Print the engine's statement and the server's plan with its timings, run as the engine runs it:
    with bound parameters (the planner estimates differently with literal values) on the app's
    connection settings (JIT off)."""
    statement = sums_statement(resolve_metrics(plugins, query.kpis), query, validate_grid(query, zone), scope=UNSCOPED)
    database = Database(url)
    try:
        compiled = statement.compile(dialect=database.engine.dialect, compile_kwargs={"render_postcompile": True})
        literal = statement.compile(dialect=postgresql_dialect.dialect(), compile_kwargs={"literal_binds": True})
        print(f"-- the engine's statement (values written in)\n{literal}\n-- EXPLAIN (ANALYZE, BUFFERS), values bound")
        with database.engine.connect() as connection:
            plan = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", compiled.params)
            for (line,) in plan:
                print("  ", line)
    finally:
        database.dispose()


# ---------------------------------------------------------------- after an import into the open month


def import_file(run: int, query: KpiQuery, technicians: int, zone: ZoneInfo) -> bytes:
    """IMPORT_ROWS completed jobs in the last month of the range (days 2 to 27, local working hours)."""
    month = query.end - timedelta(days=1)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(JOB_COLUMNS)
    for number in range(IMPORT_ROWS):
        day = month.replace(day=2 + number % 26)
        start = datetime(day.year, day.month, day.day, 8 + number % 9, 0, tzinfo=zone)
        writer.writerow([
            f"{IMPORT_PREFIX}{run}-{number}", f"T{1 + number * 7919 % technicians:04d}", "",
            f"C{1 + number % 5000}", "", "plumbing", "completed", start.isoformat(),
            (start + timedelta(hours=2)).isoformat(), (start + timedelta(minutes=10)).isoformat(),
            (start + timedelta(minutes=12)).isoformat(), (start + timedelta(minutes=80)).isoformat(), 60, "150.00", "",
        ])  # fmt: skip
    return buffer.getvalue().encode()


def time_after_import(
    url: str, plugins: PluginHost, query: KpiQuery, zone: ZoneInfo, repeat: int, technicians: int
) -> tuple[float, list[str]]:
    """Import IMPORT_ROWS jobs into the last month, then ask the dashboard query through the cache that
    answered it before the import (as the app would: the other months' sums are cached). Returns the
    query's median and the lines to print; the imported jobs are deleted again after each run."""
    database = Database(url)
    cache = MemoryCache()
    imports, asks, computed = [], [], set()
    try:
        with database.session(write=False) as session:
            kpi_values(session, plugins, query, zone=zone, cache=cache)
        for run in range(repeat):
            began = time.perf_counter()
            with database.session() as session:
                rows = read_rows(io.BytesIO(import_file(run, query, technicians, zone)), "csv", JOB_COLUMNS)
                report = import_jobs(session, rows, scope=UNSCOPED, actor=Actor.system("bench"), zone=zone)
                if report.created != IMPORT_ROWS:
                    fail(f"the import created {report.created} of {IMPORT_ROWS} jobs: {report.errors[:3]}")
            imports.append(time.perf_counter() - began)
            began = time.perf_counter()
            with database.session(write=False) as session:
                answer = kpi_values(session, plugins, query, zone=zone, cache=cache)
            asks.append(time.perf_counter() - began)
            computed.add(f"{answer.months_computed} of {answer.months_total}")
            with database.session() as session:  # through the ORM, so the data versions move on
                for job in session.scalars(select(Job).where(Job.external_ref.startswith(IMPORT_PREFIX))):
                    session.delete(job)
            with database.session(write=False) as session:
                kpi_values(session, plugins, query, zone=zone, cache=cache)
    finally:
        database.dispose()
    median = statistics.median(asks)
    return median, [
        f"PostgreSQL import of {IMPORT_ROWS:,} jobs into the last month: median {statistics.median(imports):.3f} s",
        f"PostgreSQL after an import into the last month, dashboard query: median {median:.3f} s "
        f"(min {min(asks):.3f}, max {max(asks):.3f}) over {repeat}; months computed again: "
        f"{', '.join(sorted(computed))}; goal <= 2 s {'met' if median <= 2 else 'NOT met'}",
    ]


# ---------------------------------------------------------------- the run


def run_postgres(args: argparse.Namespace) -> int:
    url = reach(args.database)
    zone = ZoneInfo(args.zone)
    print(f"machine: {bench.machine()}; load average {bench.load()}")
    print(f"server: {server_settings(url)}")
    print(
        f"data: {args.jobs:,} jobs ({args.crews:.0%} with a helper), {args.technicians} technicians, "
        f"{args.years} years from {bench.FIRST_YEAR}, seed {args.seed}"
    )
    copy = prepare_postgres(url, args, zone)
    start, end = date(bench.FIRST_YEAR + args.years - 1, 1, 1), date(bench.FIRST_YEAR + args.years, 1, 1)
    with tempfile.TemporaryDirectory() as folder:
        plugins = load_plugins(bench.settings_for(Path(folder), args.zone))
    query = bench.dashboard_query(plugins, start, end)
    print(f"query: {len(query.kpis)} KPIs x technician x month, {start} to {end} ({args.zone}); repeat {args.repeat}")
    if args.explain:
        explain(url, plugins, query, zone)

    processes = [bench.cold_in_fresh_process(url, start, end, args.zone) for _ in range(args.repeat)]
    connections, values = [], []
    for _ in range(args.repeat):
        seconds, values = bench.time_engine(url, plugins, query, zone)
        connections.append(seconds)
    cold = statistics.median(processes)
    print(
        f"PostgreSQL cold, fresh process:    first {processes[0]:.3f} s, median {cold:.3f} s  ({len(values):,} values)"
    )
    print(
        f"PostgreSQL cold, fresh connection: first {connections[0]:.3f} s, "
        f"median {statistics.median(connections):.3f} s"
    )
    app_cold = statistics.median(
        bench.cold_in_fresh_process(url, start, end, args.zone, app=True) for _ in range(args.repeat)
    )
    print(
        "PostgreSQL cold through the app (no month summed, as after a setting change), fresh process: "
        f"median {app_cold:.3f} s"
    )
    lines = bench.time_warm(url, plugins, query, zone, max(args.repeat, 5), "")
    imported, import_lines = time_after_import(url, plugins, query, zone, args.repeat, args.technicians)
    lines += import_lines
    changed, changed_lines = bench.time_after_change(url, plugins, query, zone, args.repeat)
    restarted, restart_lines = bench.time_restart(url, plugins, query, zone, args.repeat)
    lines += changed_lines + restart_lines

    duck = duckdb.connect(str(copy), read_only=True)
    duck.execute(f"SET TimeZone = 'UTC'; SET threads = {os.cpu_count() or 1}")
    sql = bench.duckdb_sql(start, end, args.zone)
    duck_times, reference_cells = [], {}
    for _ in range(args.repeat):
        seconds, reference_cells = bench.timed(lambda: bench.duckdb_cells(duck, sql))
        duck_times.append(seconds)
    duck.close()
    reference = statistics.median(duck_times)
    print(f"DuckDB ({os.cpu_count()} threads): first {duck_times[0]:.3f} s, median {reference:.3f} s")
    for line in lines:
        print(line.replace("SQLite ", "PostgreSQL "))
    print(
        f"ratios: PostgreSQL cold/DuckDB {cold / reference:.1f}x (goal at 1M jobs <= 3x "
        f"{'met' if cold <= 3 * reference else 'NOT met'}); after an import/DuckDB {imported / reference:.1f}x; "
        f"after a one-month change/DuckDB {changed / reference:.1f}x; after a restart/DuckDB "
        f"{restarted / reference:.1f}x; cold through the app/DuckDB {app_cold / reference:.1f}x"
    )
    print(f"load average at the end: {bench.load()}")
    engine = bench.engine_cells(values)
    problems = bench.mismatches("PostgreSQL", engine, "DuckDB", reference_cells)
    if problems:
        print(f"MISMATCH: {len(problems)} cells differ", *problems[:40], sep="\n")
        return 1
    print(f"agree: the engine on PostgreSQL and DuckDB give the same {len(engine):,} (kpi, technician, month) cells")
    if bench.THRESHOLD_FLIPS:
        print(
            f"note: {len(bench.THRESHOLD_FLIPS)} rows of answers compared above had values equal within 1e-9 judged "
            f"on both sides of a target's threshold (float sums added in another order), e.g. "
            f"{bench.THRESHOLD_FLIPS[:3]}"
        )
    return 0
