"""`kpi import jobs FILE --mapping NAME` (and --preset, --sheet): mapped imports from the command line.

The command reads the saved mapping from the database (KPI_DATABASE_URL: the
``database`` fixture's, SQLite and PostgreSQL), prints a summary or each row
error in the file's own terms, and writes nothing when any row is wrong.
"""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from kpi_core.audit.trail import Actor
from kpi_core.cli import cli
from kpi_core.config import documented_settings
from kpi_core.imports.mapping_io import mapping_from_json
from kpi_core.imports.saved import create_saved
from kpi_core.storage.models import Job, Technician

SECRET = "cli-import-secret-key-0123456789abcdefgh"
MAPPING = {
    "fields": {
        "external_ref": {"kind": "column", "column": "Ticket"},
        "technician_ref": {"kind": "column", "column": "Tech"},
        "category": {"kind": "fixed", "value": "plumbing"},
        "status": {"kind": "value_map", "column": "State", "values": {"closed": "completed"}},
        "completed_at": {"kind": "date_time", "column": "Closed on", "time_column": "At"},
    },
    "date_format": "%m/%d/%Y",
    "time_format": "%I:%M %p",
}
SAMPLE = Path(__file__).parents[1] / "plugins" / "import_presets" / "tests" / "housecall_pro_job_report.csv"


@pytest.fixture(autouse=True)
def no_kpi_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, _default, _doc in documented_settings():
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def kpi(database, database_url: str, tmp_path: Path):
    with database.session() as session:
        session.add(Technician(external_ref="T1", name="Tess One"))
        create_saved(session, Actor.system("test"), "Ticket export", mapping_from_json(MAPPING))
    env = {"KPI_DATABASE_URL": database_url, "KPI_SECRET_KEY": SECRET, "KPI_DATA_DIR": str(tmp_path / "data")}

    def run(*args: str | Path) -> Result:
        return CliRunner().invoke(cli, [str(arg) for arg in args], env=env, prog_name="kpi")

    return run


def jobs(database) -> dict[str, Job]:
    with database.session(write=False) as session:
        return {job.external_ref: job for job in session.scalars(select(Job))}


def test_a_file_is_imported_through_the_mapping_saved_under_its_name(kpi, database, tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_text("Ticket,Tech,State,Closed on,At\nK-1,T1,Closed,03/02/2026,04:15 PM\n")

    result = kpi("import", "jobs", path, "--mapping", "Ticket export")

    assert result.exit_code == 0, result.output
    assert "1 rows: 1 were created, 0 were updated, 0 unchanged" in result.output
    job = jobs(database)["K-1"]
    assert (job.status, job.category, job.completed_at.isoformat()) == (
        "completed",
        "plumbing",
        "2026-03-02T16:15:00+00:00",
    )


def test_row_errors_name_the_files_rows_and_columns_and_nothing_is_written(kpi, database, tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_text("Ticket,Tech,State,Closed on,At\nK-1,T1,Closed,03/02/2026,16h15\n")

    result = kpi("import", "jobs", path, "--mapping", "Ticket export")

    assert result.exit_code == 1
    assert "row 2, At: '16h15' is not a time of day like 02:30 PM" in result.output
    assert jobs(database) == {}


def test_an_unknown_saved_mapping_is_named_in_one_line(kpi, tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_text("Ticket\nK-1\n")

    result = kpi("import", "jobs", path, "--mapping", "Nobody's")

    assert result.exit_code == 1
    assert "Error: --mapping: no saved mapping is named “Nobody's”" in result.output


def test_a_plugins_preset_reads_its_export(kpi, database):
    result = kpi("import", "jobs", SAMPLE, "--preset", "housecall_pro.job_report", "--create-technicians")

    assert result.exit_code == 0, result.output
    assert "5 rows: 5 were created" in result.output
    assert jobs(database)["1042-2"].technician_id is not None


def test_a_workbook_sheet_is_chosen_with_sheet(kpi, database, tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "Summary"
    tickets = book.create_sheet("Tickets")
    tickets.append(["Ticket", "Tech", "State", "Closed on", "At"])
    tickets.append(["K-9", "T1", "closed", "03/05/2026", "09:00 AM"])
    out = io.BytesIO()
    book.save(out)
    path = tmp_path / "tickets.xlsx"
    path.write_bytes(out.getvalue())

    refused = kpi("import", "jobs", path, "--mapping", "Ticket export")
    imported = kpi("import", "jobs", path, "--mapping", "Ticket export", "--sheet", "Tickets")

    assert refused.exit_code == 1
    assert "the workbook has 2 sheets (“Summary”, “Tickets”): choose the one to import" in refused.output
    assert imported.exit_code == 0, imported.output
    assert "K-9" in jobs(database)
