"""The Housecall Pro preset on a sample file that follows Housecall Pro's published column reference.

housecall_pro_job_report.csv has the columns of "Exported Report Breakdown"
(Invoice Number, Created At, Date, End Time, Travel/On Job/Total Duration,
Customer, First/Last Name, Email, Company, phones, Customer Tags, Address and
its parts) and the employee, tags, status and finished time, with made-up
customers. Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import import_presets.housecall_pro as housecall_pro
import pytest
from sqlalchemy import select

from kpi_core.config import Settings
from kpi_core.plugins import load_plugins
from kpi_core.storage.models import Customer, Job, Technician

SAMPLE = Path(__file__).parent / "housecall_pro_job_report.csv"
KEY = "housecall_pro.job_report"
URL = "/api/v1/imports/jobs"


def upload(content: bytes) -> dict:
    return {"file": (io.BytesIO(content), "Jobs report.csv")}


@pytest.fixture
def send(client, admin_headers):
    def post(content: bytes, url: str = URL, **query):
        query = {"preset": KEY, "create_technicians": "true", **query}
        return client.post(url, data=upload(content), query_string=query, headers=admin_headers)

    return post


def test_the_preset_is_declared_through_the_plugins_entry_point(tmp_path):
    host = load_plugins(Settings.from_env({}, data_dir=tmp_path, secret_key="x" * 40))

    assert host.owner_of("kpi_import_presets", KEY) == "import_presets"
    assert host.import_presets[KEY].label == "Housecall Pro: job report export"


def test_the_preset_cites_its_source_in_its_docstring():
    preset = housecall_pro.job_report()

    assert preset.source == "https://help.housecallpro.com/en/articles/2999685-exported-report-breakdown"
    assert preset.source in housecall_pro.__doc__
    for column in ("Invoice Number", "Date", "End Time", "On Job Duration", "Customer"):
        assert f'"{column}"' in housecall_pro.__doc__


def test_the_sample_export_is_imported_as_computed_by_hand(send, database):
    response = send(SAMPLE.read_bytes())

    assert response.status_code == 200, response.json
    assert response.json["created"] == 5
    with database.session(write=False) as session:
        jobs = {job.external_ref: job for job in session.scalars(select(Job))}
        first = jobs["1041"]
        assert session.get(Technician, first.technician_id).name == "Dana Reyes"
        assert session.get(Customer, first.customer_id).name == "Maria Lopez"
        assert session.get(Customer, jobs["1042-2"].customer_id).name == "Oak Street Apartments"
    assert (first.status, first.category) == ("completed", "plumbing")
    assert first.scheduled_start == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # "Date", company time (UTC)
    assert first.scheduled_end == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)  # "End Time"
    assert first.completed_at == datetime(2026, 3, 2, 10, 50, tzinfo=UTC)  # "Finished Time"
    assert first.started_at == datetime(2026, 3, 2, 9, 15, tzinfo=UTC)  # 10:50 minus 95 minutes "On Job Duration"
    assert jobs["1042-1"].started_at == datetime(2026, 3, 3, 13, 15, tzinfo=UTC)  # 2:15 PM minus 60
    assert jobs["1042-2"].status == "completed"  # complete_rated
    assert (jobs["1043"].status, jobs["1043"].started_at, jobs["1043"].completed_at) == ("cancelled", None, None)
    assert jobs["1044"].status == "scheduled"


def test_the_same_export_again_changes_nothing(send):
    assert send(SAMPLE.read_bytes()).status_code == 200

    again = send(SAMPLE.read_bytes())

    assert (again.json["created"], again.json["updated"], again.json["unchanged"]) == (0, 0, 5)


def test_an_export_without_a_column_the_preset_reads_is_one_error_naming_it(send, database):
    rows = list(csv.reader(io.StringIO(SAMPLE.read_text())))
    dropped = rows[0].index("On Job Duration")
    out = io.StringIO()
    csv.writer(out).writerows([cell for i, cell in enumerate(row) if i != dropped] for row in rows)

    response = send(out.getvalue().encode())

    assert response.status_code == 422
    assert response.json["errors"]["missing_columns"] == ["On Job Duration"]
    assert (
        "the file has no column “On Job Duration” (for Work started), which the mapping reads"
        in (response.json["message"])
    )
    with database.session(write=False) as session:
        assert session.scalars(select(Job)).first() is None


def test_the_preview_shows_the_export_as_it_would_be_imported(send, database):
    response = send(SAMPLE.read_bytes(), url=f"{URL}/preview", rows=2)

    assert response.status_code == 200, response.json
    first = response.json["rows"][0]["values"]
    assert (first["external_ref"], first["technician_ref"], first["started_at"]) == (
        "1041",
        "Dana Reyes",
        "2026-03-02T09:15:00+00:00",
    )
    assert response.json["errors"] == []
    assert response.json["columns"]["started_at"] == "Finished Time minus On Job Duration"
