"""Jobs from XLSX workbooks (issue #18, point 3): the sheet to read, date cells, and formulas.

A workbook with several sheets is read once a sheet is chosen (the error lists
them); a formula counts as the value the workbook saved with it, and one saved
without a value is an error naming its row and column; a workbook that
unpacks too large is refused. Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import func, select

from kpi_core.imports import sources
from kpi_core.storage.models import Job, Technician

URL = "/api/v1/imports/jobs"
MAPPING = {
    "fields": {
        "external_ref": {"kind": "column", "column": "Job"},
        "technician_ref": {"kind": "column", "column": "Tech"},
        "category": {"kind": "fixed", "value": "hvac"},
        "status": {"kind": "fixed", "value": "completed"},
        "scheduled_start": {"kind": "date_time", "column": "Day", "time_column": "Time"},
        "completed_at": {"kind": "column", "column": "Finished"},
        "started_at": {"kind": "minus_minutes", "base": "completed_at", "column": "Minutes"},
        "revenue": {"kind": "column", "column": "Total"},
    }
}
HEADER = ["Job", "Tech", "Day", "Time", "Finished", "Minutes", "Price", "Total"]


def workbook(rows: list[list], *, sheets: tuple[str, ...] = ("Jobs",), header: list[str] = HEADER) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = sheets[0]
    sheet.append(header)
    for values in rows:
        sheet.append(values)
    for name in sheets[1:]:
        book.create_sheet(name).append(["Notes"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def with_saved_values(content: bytes, values: dict[str, str]) -> bytes:
    """The workbook with the given cells' formulas saved with a value, as Excel saves them."""
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            data = source.read(member)
            if member.filename == "xl/worksheets/sheet1.xml":
                for cell, value in values.items():
                    data = re.sub(
                        rf'(<c r="{cell}"[^>]*><f>[^<]*</f>)<v ?/>'.encode(), rb"\1<v>" + value.encode() + b"</v>", data
                    )
            target.writestr(member, data)
    return out.getvalue()


def a_row(ref: str = "J1", total: object = "=G2*1.1") -> list:
    return [ref, "T1", datetime(2026, 3, 2), "09:30", datetime(2026, 3, 2, 11, 0), 75, 100, total]


def form(content: bytes, mapping: dict | None = MAPPING) -> dict:
    data: dict = {"file": (io.BytesIO(content), "jobs.xlsx")}
    if mapping is not None:
        data["mapping"] = json.dumps(mapping)
    return data


def job_count(database) -> int:
    with database.session(write=False) as session:
        return session.scalar(select(func.count()).select_from(Job))


@pytest.fixture
def send(client, admin_headers, database):
    with database.session() as session:
        session.add(Technician(external_ref="T1", name="Tess One"))

    def post(data: dict, url: str = URL, **query):
        return client.post(url, data=data, query_string=query, headers=admin_headers)

    return post


def test_date_cells_numbers_and_saved_formula_values_are_imported(send, database):
    content = with_saved_values(workbook([a_row("J1", total="=G2*1.1")]), {"H2": "110"})

    response = send(form(content))

    assert response.status_code == 200, response.json
    with database.session(write=False) as session:
        job = session.scalars(select(Job)).one()
        assert job.scheduled_start == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)  # date cell + "09:30"
        assert job.completed_at == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)  # a date-and-time cell
        assert job.started_at == datetime(2026, 3, 2, 9, 45, tzinfo=UTC)  # minus the number 75
        assert job.revenue == Decimal("110.00")  # the formula's saved value


def test_a_formula_saved_without_a_value_is_an_error_naming_its_row_and_column(send, database):
    response = send(form(workbook([a_row("J1", total=150), a_row("J2", total="=G3*1.1")])))

    assert response.status_code == 422
    (error,) = response.json["errors"]["rows"]
    assert (error["row"], error["column"]) == (3, "Total")
    assert error["message"].startswith("holds the formula =G3*1.1 without a saved value")
    assert job_count(database) == 0


def test_a_formula_in_a_column_the_mapping_does_not_read_is_no_error(send, database):
    content = workbook([[*a_row("J1", total=150)[:6], "=1+1", 150]])

    response = send(form(content))

    assert response.status_code == 200, response.json


def test_a_workbook_with_several_sheets_and_none_chosen_is_refused_listing_them(send, database):
    content = workbook([a_row("J1", total=150)], sheets=("Jobs", "Notes"))

    response = send(form(content))

    assert response.status_code == 422
    assert response.json["errors"]["sheets"] == ["Jobs", "Notes"]
    assert "the workbook has 2 sheets (“Jobs”, “Notes”): choose the one to import" in response.json["message"]
    assert job_count(database) == 0


def test_the_chosen_sheet_is_read(send, database):
    content = workbook([a_row("J1", total=150)], sheets=("Jobs", "Notes"))

    response = send(form(content), sheet="Jobs")

    assert response.status_code == 200, response.json
    assert response.json["created"] == 1


def test_a_sheet_the_workbook_does_not_have_is_refused_naming_its_sheets(send, database):
    response = send(form(workbook([a_row("J1", total=150)])), sheet="Summary")

    assert response.status_code == 422
    assert "the workbook has no sheet “Summary”; its sheets are “Jobs”" in response.json["message"]


def test_the_description_of_a_workbook_with_several_sheets_lists_them_to_choose(send, database):
    content = workbook([a_row("J1", total=150)], sheets=("Jobs", "Notes"))

    described = send({"file": (io.BytesIO(content), "jobs.xlsx")}, url=f"{URL}/describe")
    chosen = send({"file": (io.BytesIO(content), "jobs.xlsx")}, url=f"{URL}/describe", sheet="Jobs")

    assert described.status_code == 200, described.json
    assert (described.json["sheets"], described.json["sheet"], described.json["columns"]) == (
        ["Jobs", "Notes"],
        None,
        [],
    )
    assert chosen.json["sheet"] == "Jobs"
    assert chosen.json["columns"][2] == {"name": "Day", "samples": ["2026-03-02T00:00:00"]}


def test_a_workbook_in_the_imports_own_columns_needs_no_mapping(send, database):
    header = ["external_ref", "technician_ref", "category", "status", "completed_at"]
    content = workbook([["J1", "T1", "plumbing", "completed", datetime(2026, 3, 2, 10)]], header=header)

    response = send(form(content, mapping=None))

    assert response.status_code == 200, response.json
    assert response.json["created"] == 1


def test_a_workbook_that_unpacks_beyond_the_limit_is_refused(send, database, monkeypatch):
    monkeypatch.setattr(sources, "XLSX_MAX_UNPACKED", 4096)

    response = send(form(workbook([a_row(f"J{n}", total=150) for n in range(200)])))

    assert response.status_code == 422
    assert "the workbook unpacks to" in response.json["message"]
    assert job_count(database) == 0


def test_a_file_that_is_not_a_workbook_is_refused_in_words(send, database):
    response = send(form(b"\xd0\xcf\x11\xe0 an old .xls file"))

    assert response.status_code == 422
    assert "not an XLSX workbook" in response.json["message"]
