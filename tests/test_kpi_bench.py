"""bench/kpi_bench.py keeps working: its quick mode builds data, times every engine and cross-checks their numbers."""

from __future__ import annotations

import importlib.util
import re
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parent.parent / "bench" / "kpi_bench.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kpi_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_mode_times_sqlite_duckdb_and_the_orm_loop_and_they_agree(tmp_path: Path, redis_url: str) -> None:
    command = [sys.executable, str(BENCH), "--quick", "--db", str(tmp_path / "bench.sqlite3"), "--redis", redis_url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for line in (
        "SQLite cold, fresh process:",
        "SQLite cold, fresh connection:",
        "SQLite cold through the app (no month summed",
        "cold through the app/DuckDB:",
        "SQLite warm, in-memory cache:",
        "SQLite warm, Redis cache:",
        "SQLite after a change to one month, dashboard query:",
        "SQLite after a change to one month, scorecards",
        "DuckDB (",
        "naive ORM loop:",
        "ratios: cold/DuckDB",
        "closing a month (a snapshot of every KPI",
        "a year of closed months from the snapshots, every cache cold:",
        "statements reading jobs: 0; months computed: 0 of 12",
    ):
        assert line in output, output
    agreed = re.search(r"agree: engine, DuckDB and the naive loop give the same ([\d,]+) ", output)
    assert agreed, output
    # 40 technicians x 12 months x 8 KPIs, less the few cells without a sample.
    assert int(agreed.group(1).replace(",", "")) > 0.9 * 40 * 12 * 8


def test_any_differing_numerator_denominator_or_missing_cell_is_a_mismatch() -> None:
    bench = load_bench()
    january, february = date(2025, 1, 1), date(2025, 2, 1)
    reference = {
        ("quality.complaint_rate", 1, january): (2.0, 10.0),
        ("timeliness.avg_arrival_delay_min", 1, january): (123.45, 7.0),
        ("quality.evaluation_score", 2, february): (81.5, 1.0),
    }
    assert bench.mismatches("engine", dict(reference), "DuckDB", reference) == []
    # Float sums may differ in their last bits only.
    close = {**reference, ("timeliness.avg_arrival_delay_min", 1, january): (123.45 + 1e-12, 7.0)}
    assert bench.mismatches("engine", close, "DuckDB", reference) == []

    changed = {
        ("quality.complaint_rate", 1, january): (3.0, 10.0),
        ("timeliness.avg_arrival_delay_min", 1, january): (123.45, 8.0),
    }
    found = bench.mismatches("engine", changed, "DuckDB", reference)
    assert len(found) == 3
    assert any("quality.complaint_rate technician 1 2025-01" in line for line in found)
    assert any("timeliness.avg_arrival_delay_min" in line for line in found)
    assert any("quality.evaluation_score technician 2 2025-02: engine None" in line for line in found)


def test_answers_on_a_server_may_differ_in_last_bits_and_in_a_status_at_a_threshold_only() -> None:
    bench = load_bench()
    row = {"kpi": "timeliness.avg_arrival_delay_min", "group_id": "7", "period_start": "2025-08-01", "value": 10.0,
           "numerator": 70.0, "denominator": 7.0, "status": "green", "certain": None}  # fmt: skip
    body = bench.json.dumps([row]).encode()
    url, sqlite_file = "postgresql://bench@127.0.0.1/kpi", Path("bench.sqlite3")
    flipped = {**row, "value": 10.000000000000002, "numerator": 70.00000000000001, "status": "amber"}
    assert bench.same_body(body, bench.json.dumps([flipped]).encode(), url)
    assert bench.THRESHOLD_FLIPS == [("timeliness.avg_arrival_delay_min", "7", "2025-08-01")]
    # Byte for byte on SQLite; on a server another number, another key or another row is a mismatch.
    assert not bench.same_body(body, bench.json.dumps([flipped]).encode(), sqlite_file)
    for other in ({**row, "numerator": 71.0, "status": "amber"}, {**row, "pending": 1.0}, {**row, "group_id": "8"}):
        assert not bench.same_body(body, bench.json.dumps([other]).encode(), url)
    assert not bench.same_body(body, bench.json.dumps([row, row]).encode(), url)


def test_an_unreachable_postgresql_url_ends_the_run_with_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://bench:secret@127.0.0.1:{port}/nowhere"
    database = tmp_path / "bench.sqlite3"
    command = [sys.executable, str(BENCH), "--quick", "--db", str(database), "--database", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        f"kpi_bench: cannot reach the database at postgresql+psycopg://bench:***@127.0.0.1:{port}/nowhere: "
    )
    assert "secret" not in lines[0]
    assert not database.exists()  # nothing was built first
