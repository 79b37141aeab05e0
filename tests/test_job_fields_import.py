"""Plugins' job fields in jobs imports (issue #18, point 5): a column named by each field's key, in
CSV and JSON Lines or through a column mapping, checked against the declaration, all or nothing.

Each test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from kpi_core import hookimpl
from kpi_core.config import Settings
from kpi_core.declarations import JobField
from kpi_core.plugins import load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.models import Job, JobFieldValue, KpiDataVersion, Technician
from kpi_core.web.app import create_app

URL = "/api/v1/imports/jobs"
HEADER = "external_ref,technician_ref,category,status,completed_at"


class Safety:
    @hookimpl
    def kpi_job_fields(self) -> list[JobField]:
        return [
            JobField("safety.ppe_checked", "PPE checked", "boolean"),
            JobField("safety.crew_size", "Crew size", "integer", minimum=1, maximum=6),
            JobField("safety.distance_km", "Distance driven", "number", minimum=0),
            JobField("safety.risk", "Risk level", "choice", choices=("low", "medium", "high")),
            JobField("safety.notes", "Safety notes", "text"),
        ]


@pytest.fixture
def app(settings: Settings, database: Database) -> Flask:
    plugins = load_plugins(settings, extra=[("safety", Safety())])
    assert plugins.problems == []
    return create_app(settings, database=database, plugins=plugins)


@pytest.fixture
def post(client, admin_headers, database):
    """``post(text, name="jobs.csv", **form_or_query)``: upload a file as an admin (technician T1 on file)."""
    with database.session() as session:
        session.add(Technician(external_ref="T1", name="Tess One"))

    def send(text: str, name: str = "jobs.csv", *, mapping: dict | None = None, **query: Any):
        data: dict[str, Any] = {"file": (io.BytesIO(text.encode()), name)}
        if mapping is not None:
            data["mapping"] = json.dumps(mapping)
        return client.post(URL, data=data, query_string=query, headers=admin_headers)

    return send


def csv_of(extra: str, *rows: str) -> str:
    """A CSV with the core columns, then ``extra`` columns; each row gives its job's cells after J<n>'s."""
    lines = [f"{HEADER},{extra}"]
    for n, cells in enumerate(rows, start=1):
        lines.append(f"J{n},T1,plumbing,completed,2026-03-0{n}T10:00:00Z,{cells}")
    return "\n".join(lines) + "\n"


def values(database: Database) -> dict[tuple[str, str], Any]:
    with database.session(write=False) as session:
        rows = session.execute(
            select(Job.external_ref, JobFieldValue).join(JobFieldValue, Job.id == JobFieldValue.job_id)
        )
        return {(ref, row.key): row.value for ref, row in rows}


def written(database: Database) -> tuple[int, dict[tuple[str, str], Any], dict[str, int]]:
    """(jobs, field values, data versions): everything an import writes that these tests look at."""
    with database.session(write=False) as session:
        jobs = session.scalar(select(func.count()).select_from(Job))
        versions = {row.month: row.version for row in session.scalars(select(KpiDataVersion))}
    return jobs, values(database), versions


def test_a_csv_import_stores_each_job_field_typed(post, database):
    text = csv_of(
        "safety.ppe_checked,safety.crew_size,safety.distance_km,safety.risk,safety.notes",
        "yes,2,12.5,High,Ladder tied off",
        "No,1,0,low,",
    )

    response = post(text)

    assert response.status_code == 200, response.json
    assert values(database) == {
        ("J1", "safety.ppe_checked"): True,
        ("J1", "safety.crew_size"): 2,
        ("J1", "safety.distance_km"): 12.5,
        ("J1", "safety.risk"): "high",
        ("J1", "safety.notes"): "Ladder tied off",
        ("J2", "safety.ppe_checked"): False,
        ("J2", "safety.crew_size"): 1,
        ("J2", "safety.distance_km"): 0.0,
        ("J2", "safety.risk"): "low",
    }


def test_a_json_lines_import_takes_job_fields_as_keys(post, database):
    line = {"external_ref": "J1", "technician_ref": "T1", "category": "plumbing", "status": "scheduled"}
    text = json.dumps({**line, "safety.ppe_checked": True, "safety.crew_size": 3}) + "\n"

    response = post(text, "jobs.jsonl")

    assert response.status_code == 200, response.json
    assert values(database) == {("J1", "safety.ppe_checked"): True, ("J1", "safety.crew_size"): 3}


def test_an_unknown_extra_column_is_422_naming_it_and_nothing_is_written(post, database):
    before = written(database)

    response = post(csv_of("safety.ppe_checked,safety.helmet", "yes,yes"))

    assert response.status_code == 422
    (message,) = response.json["errors"]["file"]["file"]
    assert message.startswith("unknown columns: safety.helmet; expected external_ref")
    assert "safety.ppe_checked" in message  # among the columns expected
    assert written(database) == before


def test_an_unknown_key_in_json_lines_is_a_row_error_naming_it(post, database):
    line = {"external_ref": "J1", "technician_ref": "T1", "category": "plumbing", "safety.helmet": True}

    response = post(json.dumps(line) + "\n", "jobs.jsonl")

    assert response.status_code == 422
    assert response.json["errors"]["rows"] == [{"row": 1, "column": None, "message": "unknown fields: safety.helmet"}]
    assert written(database)[:2] == (0, {})


@pytest.mark.parametrize(
    ("column", "good", "bad", "message"),
    [
        ("safety.ppe_checked", "yes", "maybe", "'maybe' is not yes or no: write true, false, yes, no, 1 or 0"),
        ("safety.crew_size", "1", "two", "'two' is not a whole number, like 12"),
        ("safety.crew_size", "6", "7", "must be at most 6"),
        ("safety.distance_km", "0.5", "-3", "must be at least 0"),
        ("safety.risk", "Medium", "extreme", "must be one of low, medium, high"),
    ],
    ids=["boolean", "integer", "above maximum", "below minimum", "choice"],
)
def test_a_bad_cell_is_422_naming_its_row_and_column_and_nothing_is_written(
    post, database, column: str, good: str, bad: str, message: str
):
    post(csv_of("safety.crew_size", "2"))
    before = written(database)

    response = post(csv_of(column, good, bad))

    assert response.status_code == 422
    assert response.json["errors"]["rows"] == [{"row": 3, "column": column, "message": message}]
    assert written(database) == before


def test_importing_again_changes_only_what_changed_and_bumps_those_jobs_months(post, database):
    post(csv_of("safety.ppe_checked,safety.crew_size", "yes,2", "no,3"))
    before = written(database)[2]

    same = post(csv_of("safety.ppe_checked,safety.crew_size", "yes,2", "no,3"))
    assert (same.json["updated"], same.json["unchanged"]) == (0, 2)
    assert written(database)[2] == before
    changed = post(csv_of("safety.ppe_checked,safety.crew_size", "yes,2", "yes,"))

    assert changed.status_code == 200, changed.json
    assert (changed.json["updated"], changed.json["unchanged"]) == (1, 1)
    assert values(database) == {
        ("J1", "safety.ppe_checked"): True,
        ("J1", "safety.crew_size"): 2,
        ("J2", "safety.ppe_checked"): True,  # changed; its empty crew size cell removed the value
    }
    assert written(database)[2]["2026-03"] == before["2026-03"] + 1


def test_a_file_without_a_fields_column_leaves_its_values_as_stored(post, database):
    post(csv_of("safety.ppe_checked,safety.crew_size", "yes,2"))

    response = post(csv_of("safety.crew_size", "4"))

    assert response.status_code == 200, response.json
    assert values(database) == {("J1", "safety.ppe_checked"): True, ("J1", "safety.crew_size"): 4}


def test_a_required_field_is_required_in_every_row(settings, database, client, admin_headers):
    class Strict:
        @hookimpl
        def kpi_job_fields(self) -> list[JobField]:
            return [JobField("strict.permit", "Permit number", "text", required=True)]

    app = create_app(settings, database=database, plugins=load_plugins(settings, extra=[("strict", Strict())]))
    with database.session() as session:
        session.add(Technician(external_ref="T1", name="Tess One"))
    text = csv_of("strict.permit", "P-1", "")

    response = app.test_client().post(
        URL, data={"file": (io.BytesIO(text.encode()), "jobs.csv")}, headers=admin_headers
    )

    assert response.status_code == 422
    assert response.json["errors"]["rows"] == [{"row": 3, "column": "strict.permit", "message": "is required"}]


# --- through a column mapping ------------------------------------------------------------------

EXPORT = "Job,Tech,Trade,Done,PPE?,Crew,Notes\nE1,T1,plumbing,2026-03-02T10:00:00Z,Y,2,whatever\n"
MAPPING = {
    "fields": {
        "external_ref": {"kind": "column", "column": "Job"},
        "technician_ref": {"kind": "column", "column": "Tech"},
        "category": {"kind": "column", "column": "Trade"},
        "status": {"kind": "fixed", "value": "completed"},
        "completed_at": {"kind": "column", "column": "Done"},
        "safety.ppe_checked": {"kind": "value_map", "column": "PPE?", "values": {"Y": "yes", "N": "no"}},
        "safety.crew_size": {"kind": "column", "column": "Crew"},
    }
}


def test_a_mapping_fills_job_fields_and_ignores_the_columns_it_does_not_read(post, database):
    response = post(EXPORT, "export.csv", mapping=MAPPING)

    assert response.status_code == 200, response.json
    assert values(database) == {("E1", "safety.ppe_checked"): True, ("E1", "safety.crew_size"): 2}


def test_a_mapped_bad_cell_is_named_by_the_files_column(post, database):
    response = post(EXPORT.replace(",2,whatever", ",9,whatever"), "export.csv", mapping=MAPPING)

    assert response.status_code == 422
    assert response.json["errors"]["rows"] == [{"row": 2, "column": "Crew", "message": "must be at most 6"}]
    assert written(database)[:2] == (0, {})


def test_a_mapping_naming_an_unknown_job_field_is_422_naming_it(post, database):
    mapping = {"fields": {**MAPPING["fields"], "safety.helmet": {"kind": "column", "column": "Notes"}}}

    response = post(EXPORT, "export.csv", mapping=mapping)

    assert response.status_code == 422
    (message,) = response.json["errors"]["form"]["mapping.fields.safety.helmet"]
    assert message.startswith("is not a field of a jobs import; the fields are external_ref")
    assert written(database)[:2] == (0, {})


def test_a_mapping_with_job_fields_can_be_saved(client, admin_headers):
    response = client.post(
        "/api/v1/imports/mappings", json={"name": "Export", "mapping": MAPPING}, headers=admin_headers
    )

    assert response.status_code == 201, response.json
    assert response.json["mapping"]["fields"]["safety.crew_size"] == {"kind": "column", "column": "Crew"}


def test_the_mapping_page_is_offered_the_job_fields_with_their_labels(client, admin_headers):
    response = client.get("/api/v1/imports/jobs/columns", headers=admin_headers)

    assert response.status_code == 200
    listed = {column["name"]: column for column in response.json}
    assert listed["safety.crew_size"] == {
        "name": "safety.crew_size",
        "label": "Crew size",
        "type": "Whole number, 1 to 6",
        "required": False,
        "example": "1",
        "description": "Crew size",
    }
    assert listed["safety.risk"]["type"] == "One of: low, medium, high"
    template = client.get("/api/v1/imports/jobs/template.csv", headers=admin_headers).get_data(as_text=True)
    assert template.splitlines()[0].endswith(
        ",safety.ppe_checked,safety.crew_size,safety.distance_km,safety.risk,safety.notes"
    )


def test_a_files_description_proposes_the_job_field_its_column_is_named_for(client, admin_headers):
    text = "Job,Tech,PPE checked\nE1,T1,yes\n"

    response = client.post(
        "/api/v1/imports/jobs/describe",
        data={"file": (io.BytesIO(text.encode()), "export.csv")},
        headers=admin_headers,
    )

    assert response.status_code == 200, response.json
    assert response.json["proposal"]["fields"]["safety.ppe_checked"] == {"kind": "column", "column": "PPE checked"}
