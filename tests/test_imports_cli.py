"""`kpi import jobs FILE` and `kpi import feedback FILE`: the imports from the command line.

The command reads its database from KPI_DATABASE_URL: the ``database`` fixture's
migrated database (SQLite and PostgreSQL). It prints a summary, or each row
error and exit status 1 with nothing written.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from kpi_core.cli import cli
from kpi_core.config import documented_settings
from kpi_core.storage.models import AuditEntry, Customer, Feedback, Job, Technician

SECRET = "cli-import-secret-key-0123456789abcdefgh"  # 40 characters


# --- factories ------------------------------------------------------------------------


def job(ref: str = "J1", **overrides: str) -> dict[str, str]:
    """One valid completed job row; keyword arguments replace cells."""
    row = {
        "external_ref": ref,
        "technician_ref": "T1",
        "customer_ref": "C1",
        "customer_name": "Ann Smith",
        "category": "plumbing",
        "status": "completed",
        "started_at": "2026-03-02T09:10:00Z",
        "completed_at": "2026-03-02T10:40:00Z",
        "revenue": "150.00",
        "callback_of": "",
    }
    return {**row, **overrides}


def feedback(job_ref: str = "J1", **overrides: str) -> dict[str, str]:
    return {"job_ref": job_ref, "rating": "5", "nps": "9", "received_at": "2026-03-03T12:00:00Z", **overrides}


def csv_text(rows: list[dict]) -> str:
    """A CSV file of ``rows`` (dicts), the header from the first row's keys."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_kpi_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, _default, _doc in documented_settings():
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def technician(database) -> None:
    with database.session() as session:
        session.add(Technician(external_ref="T1", name="Tess One"))


@pytest.fixture
def kpi(database, technician, database_url: str, tmp_path: Path):
    """``kpi("import", "jobs", path)`` against the test database."""
    env = {"KPI_DATABASE_URL": database_url, "KPI_SECRET_KEY": SECRET, "KPI_DATA_DIR": str(tmp_path / "data")}

    def run(*args: str | Path) -> Result:
        return CliRunner().invoke(cli, [str(arg) for arg in args], env=env, prog_name="kpi")

    return run


@pytest.fixture
def write(tmp_path: Path):
    """``write("jobs.csv", text_or_bytes)`` -> the path of a new file."""

    def make(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    return make


def counts(database) -> dict[str, int]:
    with database.session(write=False) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (Job, Customer, Technician, Feedback, AuditEntry)
        }


def assert_ok(result: Result) -> None:
    assert result.exit_code == 0, result.output
    assert result.exception is None, result.exception


def assert_fails(result: Result) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output


# --- jobs -----------------------------------------------------------------------------


def test_import_jobs_writes_the_file_and_prints_a_summary(kpi, write, database):
    path = write("jobs.csv", csv_text([job("J1"), job("J2", callback_of="J1")]))

    result = kpi("import", "jobs", path)

    assert_ok(result)
    assert "2 rows: 2 were created, 0 were updated, 0 unchanged" in result.output
    with database.session(write=False) as session:
        links = dict(session.execute(select(Job.external_ref, Job.callback_of_id)).all())
        first_id = session.scalar(select(Job.id).where(Job.external_ref == "J1"))
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "import"))
    assert links == {"J1": None, "J2": first_id}
    assert entry.entity == "jobs"


def test_import_shows_a_progress_bar(kpi, write):
    result = kpi("import", "jobs", write("jobs.csv", csv_text([job("J1")])))

    assert_ok(result)
    assert "Importing jobs" in result.output


def test_importing_the_same_file_again_changes_nothing(kpi, write, database):
    path = write("jobs.csv", csv_text([job("J1"), job("J2")]))
    assert_ok(kpi("import", "jobs", path))
    before = counts(database)

    result = kpi("import", "jobs", path)

    assert_ok(result)
    assert "2 rows: 0 were created, 0 were updated, 2 unchanged" in result.output
    assert counts(database) == before


def test_a_changed_row_is_updated(kpi, write):
    assert_ok(kpi("import", "jobs", write("jobs.csv", csv_text([job("J1"), job("J2")]))))

    result = kpi("import", "jobs", write("changed.csv", csv_text([job("J1"), job("J2", status="cancelled")])))

    assert_ok(result)
    assert "0 were created, 1 were updated, 1 unchanged" in result.output


def test_json_lines_file_is_imported(kpi, write):
    path = write("jobs.jsonl", "".join(json.dumps(row) + "\n" for row in [job("J1"), job("J2")]))

    result = kpi("import", "jobs", path)

    assert_ok(result)
    assert "2 were created" in result.output


def test_a_bad_file_prints_each_row_error_exits_1_and_writes_nothing(kpi, write, database):
    before = counts(database)
    rows = [job("J1"), job("J2", status="done"), job("J3", technician_ref="T99"), job("J4")]

    result = kpi("import", "jobs", write("jobs.csv", csv_text(rows)))

    assert_fails(result)
    assert "row 3, status: must be one of scheduled, completed, cancelled" in result.output
    assert "row 4, technician_ref: no technician 'T99'" in result.output
    assert "2 errors in 4 rows: nothing was imported" in result.output
    assert counts(database) == before


def test_more_errors_than_are_listed_are_counted(kpi, write, database):
    rows = [job(f"J{n}", revenue="-1") for n in range(1500)]

    result = kpi("import", "jobs", write("jobs.csv", csv_text(rows)))

    assert_fails(result)
    assert result.output.count("revenue: must be an amount") == 1000
    assert "... and 500 more errors" in result.output
    assert counts(database)["jobs"] == 0


def test_dry_run_prints_the_counts_and_writes_nothing(kpi, write, database):
    before = counts(database)

    result = kpi("import", "jobs", "--dry-run", write("jobs.csv", csv_text([job("J1"), job("J2", callback_of="J1")])))

    assert_ok(result)
    assert "2 rows: 2 would be created, 0 would be updated, 0 unchanged (dry run: nothing written)" in result.output
    assert counts(database) == before


def test_create_technicians_creates_unknown_technicians(kpi, write, database):
    path = write("jobs.csv", csv_text([job("J1", technician_ref="T77")]))
    assert_fails(kpi("import", "jobs", path))

    assert_ok(kpi("import", "jobs", "--create-technicians", path))

    with database.session(write=False) as session:
        assert session.scalar(select(Technician.name).where(Technician.external_ref == "T77")) == "T77"


def test_a_file_that_is_not_utf8_is_one_error_line_naming_it(kpi, write, database):
    path = write("jobs.csv", csv_text([job("J1", customer_name="Zoë")]).encode("latin-1"))

    result = kpi("import", "jobs", path)

    assert_fails(result)
    [line] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert str(path) in line
    assert "not valid UTF-8" in line
    assert counts(database)["jobs"] == 0


def test_a_file_of_an_unknown_type_is_one_error_line(kpi, write):
    result = kpi("import", "jobs", write("jobs.txt", csv_text([job("J1")])))

    assert_fails(result)
    [line] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert "*.csv, *.xlsx or *.jsonl" in line


def test_a_missing_file_is_a_usage_error(kpi, tmp_path):
    result = kpi("import", "jobs", tmp_path / "nowhere.csv")

    assert result.exit_code == 2
    assert "does not exist" in result.output


# --- feedback -------------------------------------------------------------------------


@pytest.fixture
def stored_jobs(kpi, write) -> None:
    assert_ok(kpi("import", "jobs", write("jobs.csv", csv_text([job("J1"), job("J2")]))))


def test_import_feedback_writes_the_file_and_prints_a_summary(kpi, write, stored_jobs, database):
    result = kpi("import", "feedback", write("feedback.csv", csv_text([feedback("J1"), feedback("J2", rating="3")])))

    assert_ok(result)
    assert "Importing feedback" in result.output
    assert "2 rows: 2 were created, 0 were updated, 0 unchanged" in result.output
    assert counts(database)["feedback"] == 2


def test_importing_feedback_again_replaces_it(kpi, write, stored_jobs, database):
    assert_ok(kpi("import", "feedback", write("one.csv", csv_text([feedback("J1"), feedback("J2")]))))

    result = kpi("import", "feedback", write("two.csv", csv_text([feedback("J1", rating="1"), feedback("J2")])))

    assert_ok(result)
    assert "0 were created, 1 were updated, 1 unchanged" in result.output
    with database.session(write=False) as session:
        assert sorted(session.scalars(select(Feedback.rating))) == [1, 5]


def test_a_bad_feedback_file_prints_each_row_error_and_writes_nothing(kpi, write, stored_jobs, database):
    rows = [feedback("J1"), feedback("J9"), feedback("J2", nps="12")]

    result = kpi("import", "feedback", write("feedback.csv", csv_text(rows)))

    assert_fails(result)
    assert "row 3, job_ref: no job 'J9'" in result.output
    assert "row 4, nps: must be between 0 and 10" in result.output
    assert counts(database)["feedback"] == 0


def test_feedback_dry_run_writes_nothing(kpi, write, stored_jobs, database):
    result = kpi("import", "feedback", "--dry-run", write("feedback.csv", csv_text([feedback("J1")])))

    assert_ok(result)
    assert "1 would be created" in result.output
    assert counts(database)["feedback"] == 0


# --- what follows an import -------------------------------------------------------------


def test_an_import_from_the_command_line_is_an_event_and_starts_the_alerts_job_like_the_apis(
    kpi, write, database, alerts_after_imports
):
    from kpi_core.audit.trail import Actor
    from kpi_core.notify import webhooks
    from kpi_core.storage.models import JobRun, NotificationMessage

    with database.session() as session:
        data = {"name": "Ops", "url": "http://127.0.0.1:9/never", "events": ["import.finished"], "secret": "s" * 20}
        webhooks.create_endpoint(session, Actor.system("test"), data, allow_private=True)

    dry = kpi("import", "jobs", write("dry.csv", csv_text([job("J0")])), "--dry-run")
    done = kpi("import", "jobs", write("jobs.csv", csv_text([job("J1"), job("J2")])))

    assert_ok(dry)
    assert_ok(done)
    assert "Checking the alert rules on the new facts" in done.output
    with database.session(write=False) as session:
        events = session.scalars(select(NotificationMessage).where(NotificationMessage.event == "import.finished"))
        (event,) = events.all()
        runs = session.execute(select(JobRun.job_key, JobRun.status)).all()
    assert {key: event.payload["data"][key] for key in ("kind", "rows", "created")} == {
        "kind": "jobs", "rows": 2, "created": 2,
    }  # fmt: skip
    # No Redis here: the alerts run went to the command's own runner, which waited for it.
    assert runs == [("notify.alerts", "finished")]
