"""Jobs from any CSV or XLSX file through a column mapping (issue #18, point 3).

A mapping fills each job field from a column, a fixed value, a value map, a
date joined with a time, or a time minus a duration in minutes, with its own
date formats and time zone. The mapped rows go through the jobs importer, so
an import is all or nothing, idempotent, and its errors name the source
file's rows and columns. Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from kpi_core.storage.models import Customer, Job, Technician

URL = "/api/v1/imports/jobs"

# --- factories ------------------------------------------------------------------------

EVERY_KIND = {
    "fields": {
        "external_ref": {"kind": "column", "column": "Job #"},
        "technician_ref": {"kind": "column", "column": "tech"},  # names match ignoring case
        "customer_ref": {"kind": "column", "column": "Client ID"},
        "customer_name": {"kind": "column", "column": "Client"},
        "category": {"kind": "fixed", "value": "plumbing"},
        "status": {"kind": "value_map", "column": "State",
                   "values": {"complete": "completed", "pro_canceled": "cancelled"}},
        "scheduled_start": {"kind": "date_time", "column": "Day", "time_column": "Slot"},
        "scheduled_end": {"kind": "column", "column": "Window End"},
        "completed_at": {"kind": "column", "column": "Done"},
        "started_at": {"kind": "minus_minutes", "base": "completed_at", "column": "Minutes"},
        "revenue": {"kind": "column", "column": "Total"},
    },
    "timezone": "America/Chicago",
    "datetime_format": "%d.%m.%Y %H:%M",
    "date_format": "%d.%m.%Y",
    "time_format": "%I:%M %p",
}  # fmt: skip
HEADER = ["Job #", "Tech", "Client ID", "Client", "State", "Day", "Slot", "Window End", "Done", "Minutes", "Total"]


def row(ref: str = "J1", **cells: str) -> dict[str, str]:
    """A row of the source file of EVERY_KIND (a job on Monday 2 March 2026, Chicago time)."""
    values = {
        "Job #": ref, "Tech": "T1", "Client ID": "C1", "Client": "Ann Smith", "State": "Complete",
        "Day": "02.03.2026", "Slot": "09:00 AM", "Window End": "02.03.2026 11:00", "Done": "02.03.2026 10:45",
        "Minutes": "90", "Total": "150.50",
    }  # fmt: skip
    return values | {name.replace("_", " "): value for name, value in cells.items()}


def csv_file(rows: list[dict[str, str]], header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def form(content: bytes, mapping: dict | None = EVERY_KIND, name: str = "jobs.csv") -> dict:
    data: dict = {"file": (io.BytesIO(content), name)}
    if mapping is not None:
        data["mapping"] = json.dumps(mapping)
    return data


def stored(database) -> dict[str, dict]:
    with database.session(write=False) as session:
        return {
            job.external_ref: {
                "technician": session.get(Technician, job.technician_id).external_ref,
                "customer": (session.get(Customer, job.customer_id).name if job.customer_id else None),
                "category": job.category,
                "status": job.status,
                "scheduled_start": job.scheduled_start,
                "scheduled_end": job.scheduled_end,
                "started_at": job.started_at,
                "completed_at": job.completed_at,
                "revenue": job.revenue,
            }
            for job in session.scalars(select(Job))
        }


def job_count(database) -> int:
    with database.session(write=False) as session:
        return session.scalar(select(func.count()).select_from(Job))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture
def crew(database) -> None:
    with database.session() as session:
        session.add_all([Technician(external_ref="T1", name="Tess One"), Technician(external_ref="T2", name="Tom Two")])


@pytest.fixture
def send(client, admin_headers, crew):
    """``send(form_data, url=URL, **query)``: a multipart upload as an admin."""

    def post(data: dict, url: str = URL, **query):
        return client.post(url, data=data, query_string=query, headers=admin_headers)

    return post


# --- every kind of rule, computed by hand ------------------------------------------------------


def test_a_mapping_with_every_kind_of_rule_imports_the_values_computed_by_hand(send, database):
    # J2 is on Monday 9 March, after Chicago moved to daylight time (UTC-5; before it, UTC-6).
    second = row("J2", Tech="T2", State="pro_canceled", Day="09.03.2026", Slot="01:30 PM",
                 Window_End="09.03.2026 15:00", Done="", Minutes="", Total="")  # fmt: skip

    response = send(form(csv_file([row("J1"), second])))

    assert response.status_code == 200, response.json
    assert (response.json["created"], response.json["updated"]) == (2, 0)
    jobs = stored(database)
    assert jobs["J1"] == {
        "technician": "T1",
        "customer": "Ann Smith",
        "category": "plumbing",  # fixed
        "status": "completed",  # "Complete" through the value map, ignoring case
        "scheduled_start": utc(2026, 3, 2, 15, 0),  # 02.03.2026 + 09:00 AM in Chicago (UTC-6)
        "scheduled_end": utc(2026, 3, 2, 17, 0),
        "completed_at": utc(2026, 3, 2, 16, 45),
        "started_at": utc(2026, 3, 2, 15, 15),  # 10:45 minus 90 minutes
        "revenue": Decimal("150.50"),
    }
    assert jobs["J2"]["status"] == "cancelled"
    assert jobs["J2"]["scheduled_start"] == utc(2026, 3, 9, 18, 30)  # 01:30 PM in Chicago (UTC-5)
    assert jobs["J2"]["scheduled_end"] == utc(2026, 3, 9, 20, 0)
    assert (jobs["J2"]["started_at"], jobs["J2"]["completed_at"], jobs["J2"]["revenue"]) == (None, None, None)


def test_a_value_the_value_map_does_not_name_is_checked_as_it_is(send, database):
    response = send(form(csv_file([row("J1", State="on hold")])))

    assert response.status_code == 422
    (error,) = response.json["errors"]["rows"]
    assert (error["row"], error["column"]) == (2, "State")
    assert "must be one of scheduled, completed, cancelled" in error["message"]
    assert job_count(database) == 0


def test_importing_the_same_mapped_file_again_changes_nothing(send, database):
    content = csv_file([row("J1"), row("J2")])
    assert send(form(content)).status_code == 200

    again = send(form(content))

    assert again.status_code == 200, again.json
    assert (again.json["created"], again.json["updated"], again.json["unchanged"]) == (0, 0, 2)


# --- bad input: a 422 naming the row and the file's column, nothing written ------------------------------


def test_a_date_that_does_not_fit_the_declared_format_names_its_row_and_column(send, database):
    response = send(form(csv_file([row("J1"), row("J2", Day="2026-03-02")])))

    assert response.status_code == 422
    (error,) = response.json["errors"]["rows"]
    assert error == {"row": 3, "column": "Day", "message": "'2026-03-02' is not a date like 02.03.2026"}
    assert job_count(database) == 0


def test_a_duration_that_is_not_a_number_of_minutes_names_its_column(send, database):
    response = send(form(csv_file([row("J1", Minutes="1h30")])))

    assert response.status_code == 422
    assert response.json["errors"]["rows"] == [
        {"row": 2, "column": "Minutes", "message": "'1h30' is not a number of minutes, like 95"}
    ]


def test_the_importers_own_errors_name_the_files_columns(send, database):
    response = send(form(csv_file([row("J1", Done="", Minutes=""), row("J2", Tech="T9")])))

    assert response.status_code == 422
    errors = {(error["row"], error["column"]): error["message"] for error in response.json["errors"]["rows"]}
    assert errors[(2, "Done")] == "is required when State is completed"
    assert errors[(3, "Tech")].startswith("no technician 'T9' on file")


def test_a_column_the_mapping_reads_but_the_file_lacks_is_one_error_naming_it(send, database):
    header = [name for name in HEADER if name not in ("Minutes", "Slot")]

    response = send(form(csv_file([row("J1")], header)))

    assert response.status_code == 422
    assert response.json["errors"]["missing_columns"] == ["Slot", "Minutes"]
    message = response.json["message"]
    assert "the file has no columns “Slot” (for Booked start); “Minutes” (for Work started)" in message
    assert job_count(database) == 0


def test_a_mapping_that_leaves_a_required_field_unfilled_is_refused_naming_it(send, database):
    mapping = {**EVERY_KIND, "fields": {k: v for k, v in EVERY_KIND["fields"].items() if k != "technician_ref"}}

    response = send(form(csv_file([row("J1")]), mapping))

    assert response.status_code == 422
    assert response.json["errors"] == {
        "form": {"mapping.fields.technician_ref": ["choose where Technician comes from: every job needs it"]}
    }


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"timezone": "Mars/Olympus"}, "mapping.timezone"),
        ({"datetime_format": "dd.mm.yyyy"}, "mapping.datetime_format"),
        ({"fields": {"status": {"kind": "guess", "column": "State"}}}, "mapping.fields.status"),
        ({"fields": {"status": {"column": "State"}}}, "mapping.fields.status.kind"),
        ({"fields": {"external_ref": {"kind": "date_time", "column": "Day", "time_column": "Slot"}}},
         "mapping.fields.external_ref"),
    ],
)  # fmt: skip
def test_a_malformed_mapping_is_refused_naming_the_part_at_fault(send, database, change, path):
    mapping = {**EVERY_KIND, **change}
    if "fields" in change:
        mapping["fields"] = {**EVERY_KIND["fields"], **change["fields"]}

    response = send(form(csv_file([row("J1")]), mapping))

    assert response.status_code == 422, response.json
    assert list(response.json["errors"]["form"]) == [path]
    assert job_count(database) == 0


# --- preview, description ------------------------------------------------------------------------


def test_the_preview_shows_the_first_rows_as_imported_with_their_errors_and_writes_nothing(send, database):
    content = csv_file([row("J1"), row("J2", Day="31.02.2026"), row("J3"), row("J4")])

    response = send(form(content), url=f"{URL}/preview", rows=3)

    assert response.status_code == 200, response.json
    preview = response.json
    assert [shown["row"] for shown in preview["rows"]] == [2, 3, 4]
    first = preview["rows"][0]["values"]
    assert (first["external_ref"], first["status"], first["category"]) == ("J1", "completed", "plumbing")
    assert first["started_at"] == "2026-03-02T15:15:00+00:00"
    assert preview["errors"] == [{"row": 3, "column": "Day", "message": "'31.02.2026' is not a date like 02.03.2026"}]
    assert preview["error_count"] == 1
    assert preview["columns"]["started_at"] == "Done minus Minutes"
    assert preview["columns"]["scheduled_start"] == "Day + Slot"
    assert job_count(database) == 0


def test_the_description_lists_columns_with_samples_and_proposes_a_mapping_by_their_names(send, database):
    header = ["Invoice Number", "Employee", "Customer", "Job Type", "Job Status", "Date", "Finished", "On Job Duration"]
    rows = [
        dict(zip(header, values, strict=True))
        for values in (
            ["1001", "T1", "Ann", "plumbing", "Complete rated", "03/02/2026 09:00 AM", "03/02/2026 10:30 AM", "80"],
            ["1002", "T2", "Bob", "hvac", "Pro canceled", "03/03/2026 01:00 PM", "", ""],
        )
    ]

    response = send({"file": (io.BytesIO(csv_file(rows, header)), "export.csv")}, url=f"{URL}/describe")

    assert response.status_code == 200, response.json
    described = response.json
    assert described["columns"][0] == {"name": "Invoice Number", "samples": ["1001", "1002"]}
    assert described["columns"][6] == {"name": "Finished", "samples": ["03/02/2026 10:30 AM"]}
    fields = described["proposal"]["fields"]
    assert fields["external_ref"] == {"kind": "column", "column": "Invoice Number"}
    assert fields["technician_ref"] == {"kind": "column", "column": "Employee"}
    assert fields["category"] == {"kind": "column", "column": "Job Type"}
    assert fields["status"] == {
        "kind": "value_map",
        "column": "Job Status",
        "values": {"Complete rated": "completed", "Pro canceled": "cancelled"},
    }
    assert fields["started_at"] == {"kind": "minus_minutes", "base": "completed_at", "column": "On Job Duration"}
    assert described["proposal"]["datetime_format"] == "%m/%d/%Y %I:%M %p"
    assert {"key": "housecall_pro.job_report", "missing": ["Tags", "Status", "End Time", "Finished Time"]} in (
        described["presets"]
    )


def test_columns_are_described_with_labels_in_words(client, admin_headers):
    response = client.get(f"{URL}/columns", headers=admin_headers)

    labels = {column["name"]: column["label"] for column in response.json}
    assert labels["external_ref"] == "Job reference"
    assert labels["completed_at"] == "Work finished"
