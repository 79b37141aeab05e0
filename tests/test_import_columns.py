"""The import page's help from the API: each import's columns described in words, and a template CSV
that can be filled in and imported as it is."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from kpi_core.imports.feedback import FEEDBACK_COLUMNS
from kpi_core.imports.jobs import JOB_COLUMNS
from kpi_core.storage.models import Job, Technician

KINDS = {"jobs": JOB_COLUMNS, "feedback": FEEDBACK_COLUMNS}


@pytest.mark.parametrize("kind", KINDS)
def test_the_columns_of_each_import_are_listed_in_order_with_type_and_example(client, admin_headers, kind):
    response = client.get(f"/api/v1/imports/{kind}/columns", headers=admin_headers)

    assert response.status_code == 200
    assert [column["name"] for column in response.json] == list(KINDS[kind])
    for column in response.json:
        assert set(column) == {"name", "label", "type", "required", "example", "description"}
        assert column["type"] and column["description"][0].isupper()
    required = {column["name"] for column in response.json if column["required"]}
    assert required == ({"external_ref", "category", "status"} if kind == "jobs" else
                        {"job_ref", "rating", "received_at"})  # fmt: skip
    if kind == "jobs":  # every job needs one of the two: its technician, or its crew (issue #18)
        described = {column["name"]: column["description"] for column in response.json}
        assert "this or the crew column" in described["technician_ref"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_template_is_a_csv_download_with_every_column_and_an_example_row(client, admin_headers, kind):
    response = client.get(f"/api/v1/imports/{kind}/template.csv", headers=admin_headers)

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{kind}-import-template.csv"'
    assert response.data.startswith(b"\xef\xbb\xbf")  # Excel reads it as UTF-8
    header, example = csv.reader(io.StringIO(response.data.decode("utf-8-sig")))
    assert header == list(KINDS[kind])
    assert len(example) == len(header) and example[0]


def test_the_jobs_template_imports_as_it_is(client, admin_headers, database):
    template = client.get("/api/v1/imports/jobs/template.csv", headers=admin_headers).data

    response = client.post(
        "/api/v1/imports/jobs",
        data=template,
        query_string={"create_technicians": 1},
        headers={**admin_headers, "Content-Type": "text/csv"},
    )

    assert response.status_code == 200, response.json
    assert response.json["created"] == 1
    with database.session() as session:
        job = session.scalars(select(Job)).one()
        assert (job.external_ref, str(job.revenue)) == ("JOB-1001", "262.80")
        assert session.scalars(select(Technician.external_ref)).all() == ["T-01"]


def test_an_unknown_technician_is_explained_in_the_words_of_the_import_page(client, admin_headers):
    template = client.get("/api/v1/imports/jobs/template.csv", headers=admin_headers).data

    response = client.post("/api/v1/imports/jobs", data=template, headers={**admin_headers, "Content-Type": "text/csv"})

    assert response.status_code == 422
    [error] = response.json["errors"]["rows"]
    assert error["message"] == (
        "no technician 'T-01' on file; choose “Create technicians that are not on file yet” to add them"
    )
    assert "create_technicians" not in response.json["message"] + error["message"]


@pytest.mark.parametrize("path", ["/api/v1/imports/jobs/columns", "/api/v1/imports/jobs/template.csv"])
def test_technicians_may_not_read_the_import_help(client, make_user, login, database, path):
    with database.session() as session:
        session.add(Technician(external_ref="T-1", name="Tess Tech"))
    make_user("technician", username="tess", technician_ref="T-1")

    assert client.get(path, headers=login("tess")).status_code == 403


def test_the_openapi_document_describes_the_template_as_csv(client):
    paths = client.get("/api/openapi.json").json["paths"]

    template = paths["/api/v1/imports/jobs/template.csv"]["get"]
    assert "text/csv" in template["responses"]["200"]["content"]
    assert paths["/api/v1/imports/feedback/columns"]["get"]["operationId"] == "listFeedbackImportColumns"


def test_an_import_answers_the_company_days_its_jobs_are_scheduled_on(client, admin_headers, database):
    header = "external_ref,technician_ref,category,status,scheduled_start\n"
    rows = "A-1,T-9,hvac,scheduled,2026-03-02T23:30:00-06:00\nA-2,T-9,hvac,scheduled,2026-02-27T08:00:00Z\n"

    response = client.post(
        "/api/v1/imports/jobs",
        data=header + rows,
        query_string={"create_technicians": 1},
        headers={**admin_headers, "Content-Type": "text/csv"},
    )

    assert response.status_code == 200, response.json
    # 23:30 in Chicago is 05:30 UTC the next day: the company here keeps its days in UTC.
    assert (response.json["first_scheduled"], response.json["last_scheduled"]) == ("2026-02-27", "2026-03-03")
