"""POST /api/v1/imports/jobs: jobs from CSV or JSON Lines, idempotent by external_ref, all or nothing.

Each test runs on SQLite and on PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from kpi_core.imports.report import MAX_REPORTED_ERRORS
from kpi_core.storage.models import AuditEntry, Customer, Job, Team, Technician
from kpi_core.web.app import create_app

URL = "/api/v1/imports/jobs"
CSV = "text/csv"
JSONL = "application/x-ndjson"


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
        "scheduled_start": "2026-03-02T09:00:00Z",
        "scheduled_end": "2026-03-02T11:00:00Z",
        "arrived_at": "2026-03-02T09:05:00Z",
        "started_at": "2026-03-02T09:10:00Z",
        "completed_at": "2026-03-02T10:40:00Z",
        "estimated_minutes": "90",
        "revenue": "150.00",
        "callback_of": "",
    }
    return {**row, **overrides}


def jobs(count: int, **overrides: str) -> list[dict[str, str]]:
    return [job(f"J{n}", **overrides) for n in range(1, count + 1)]


def csv_text(rows: list[dict], *, delimiter: str = ",", line_end: str = "\n", bom: bool = False) -> str:
    """A CSV file of ``rows`` (dicts), the header from the first row's keys."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=delimiter, lineterminator=line_end)
    writer.writeheader()
    writer.writerows(rows)
    return ("\ufeff" if bom else "") + out.getvalue()


def jsonl_text(rows: list[dict]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def upload(text: str | bytes, name: str = "jobs.csv") -> dict:
    data = text.encode() if isinstance(text, str) else text
    return {"file": (io.BytesIO(data), name)}


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture
def crew(database) -> None:
    """Teams North and South; technicians T1, T2 (North), T3 (South) and T4 (no team)."""
    with database.session() as session:
        north, south = Team(name="North"), Team(name="South")
        session.add_all([north, south])
        session.flush()
        session.add_all(
            [
                Technician(external_ref="T1", name="Tess One", team_id=north.id),
                Technician(external_ref="T2", name="Tom Two", team_id=north.id),
                Technician(external_ref="T3", name="Tia Three", team_id=south.id),
                Technician(external_ref="T4", name="Ted Four"),
            ]
        )


@pytest.fixture
def post(client, admin_headers, crew):
    """``post(body, content_type=..., headers=..., **query)``: send a file as the request body (admin)."""

    def send(body: str | bytes, *, content_type: str = CSV, headers: dict | None = None, url: str = URL, **query):
        data = body.encode() if isinstance(body, str) else body
        return client.post(
            url,
            data=data,
            query_string=query,
            headers={**(headers or admin_headers), "Content-Type": content_type},
        )

    return send


@pytest.fixture
def manager_headers(make_user, login, crew) -> dict[str, str]:
    make_user("manager", username="mona", teams=("North",))
    return login("mona")


def counts(database) -> dict[str, int]:
    """Rows in every table an import writes to."""
    with database.session(write=False) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (Job, Customer, Technician, AuditEntry)
        }


def stored(database) -> dict[str, Job]:
    with database.session(write=False) as session:
        return {row.external_ref: row for row in session.scalars(select(Job))}


def technician_id(database, ref: str) -> int:
    with database.session(write=False) as session:
        return session.scalar(select(Technician.id).where(Technician.external_ref == ref))


def import_audits(database) -> list[AuditEntry]:
    with database.session(write=False) as session:
        query = select(AuditEntry).where(AuditEntry.action == "import", AuditEntry.entity == "jobs")
        return list(session.scalars(query.order_by(AuditEntry.id)))


def result(response) -> tuple[int, int, int]:
    assert response.status_code == 200, response.json
    return response.json["created"], response.json["updated"], response.json["unchanged"]


def row_errors(response) -> list[tuple[int, str | None, str]]:
    assert response.status_code == 422, response.json
    return [(error["row"], error["column"], error["message"]) for error in response.json["errors"]["rows"]]


def assert_file_rejected(response, *phrases: str) -> None:
    assert response.status_code == 422, response.json
    assert response.json["code"] == 422
    [message] = response.json["errors"]["file"]["file"]
    for phrase in phrases:
        assert phrase in message
    assert response.json["message"].startswith("file: ")


# --- formats --------------------------------------------------------------------------


def test_csv_body_creates_jobs_with_their_values(post, database):
    response = post(csv_text([job("J1"), job("J2", technician_ref="T2", customer_ref="", customer_name="")]))

    assert result(response) == (2, 0, 0)
    assert response.json["rows"] == 2
    jobs_by_ref = stored(database)
    first = jobs_by_ref["J1"]
    assert first.status == "completed"
    assert first.category == "plumbing"
    assert first.completed_at == datetime(2026, 3, 2, 10, 40, tzinfo=UTC)
    assert first.estimated_minutes == 90
    assert first.revenue == Decimal("150.00")
    assert first.callback_of_id is None
    assert jobs_by_ref["J2"].customer_id is None
    with database.session(write=False) as session:
        customer = session.scalar(select(Customer).where(Customer.external_ref == "C1"))
        assert (customer.id, customer.name) == (first.customer_id, "Ann Smith")


def test_utf8_bom_and_semicolons_are_read(post, database):
    response = post(csv_text(jobs(3, revenue="99,50"), delimiter=";", bom=True).encode("utf-8"))

    assert result(response) == (3, 0, 0)
    assert stored(database)["J1"].revenue == Decimal("99.50")


def test_crlf_line_endings_are_read(post):
    assert result(post(csv_text(jobs(3), line_end="\r\n"))) == (3, 0, 0)


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_quoted_fields_keep_embedded_separators_and_quotes(post, database, delimiter):
    name = 'Smith, Ann; "Rose" House'
    response = post(csv_text([job("J1", customer_name=name), job("J2", customer_ref="C2")], delimiter=delimiter))

    assert result(response) == (2, 0, 0)
    with database.session(write=False) as session:
        assert session.scalar(select(Customer.name).where(Customer.external_ref == "C1")) == name


def test_jsonl_body_creates_jobs_and_accepts_json_numbers_and_nulls(post, database):
    rows = [
        {**job("J1"), "estimated_minutes": 45, "revenue": 80.5, "callback_of": None},
        {"external_ref": "J2", "technician_ref": "T1", "category": "Electrical", "status": "scheduled"},
    ]
    response = post(jsonl_text(rows), content_type=JSONL)

    assert result(response) == (2, 0, 0)
    jobs_by_ref = stored(database)
    assert (jobs_by_ref["J1"].estimated_minutes, jobs_by_ref["J1"].revenue) == (45, Decimal("80.50"))
    assert (jobs_by_ref["J2"].category, jobs_by_ref["J2"].completed_at) == ("electrical", None)


@pytest.mark.parametrize(
    ("text", "name"), [(csv_text(jobs(2)), "jobs.csv"), (jsonl_text(jobs(2)), "jobs.jsonl")], ids=["csv", "jsonl"]
)
def test_multipart_upload_in_the_field_file_is_imported(client, admin_headers, crew, text, name):
    response = client.post(URL, data=upload(text, name), headers=admin_headers, content_type="multipart/form-data")

    assert result(response) == (2, 0, 0)


def test_multipart_without_the_file_field_is_422_naming_file(client, admin_headers, crew, database):
    before = counts(database)
    response = client.post(
        URL, data={"upload": (io.BytesIO(csv_text(jobs(1)).encode()), "jobs.csv")}, headers=admin_headers
    )

    assert response.status_code == 422, response.json
    assert "file" in response.json["message"]
    assert response.json["errors"]["files"] == {"file": ["Missing data for required field."]}
    assert counts(database) == before


@pytest.mark.parametrize("content_type", ["application/json", "application/octet-stream", "image/png"])
def test_wrong_content_type_is_422(post, content_type):
    response = post(csv_text(jobs(1)), content_type=content_type)

    assert_file_rejected(response, "unsupported content type", "text/csv")


def test_multipart_file_of_an_unknown_type_is_422(client, admin_headers, crew):
    response = client.post(URL, data=upload(b"\x89PNG\r\n", "photo.png"), headers=admin_headers)

    assert_file_rejected(response, "unsupported content type")


@pytest.mark.parametrize("content_type", [CSV, JSONL])
def test_empty_file_is_422(post, content_type):
    assert_file_rejected(post(b"", content_type=content_type), "empty")


@pytest.mark.parametrize(("content_type", "body"), [(CSV, csv_text(jobs(2))), (JSONL, jsonl_text(jobs(2)))])
def test_non_utf8_file_is_422_naming_the_file(post, database, content_type, body):
    before = counts(database)
    latin1 = body.replace("Ann Smith", "Zoë Müller").encode("latin-1")

    assert_file_rejected(post(latin1, content_type=content_type), "not valid UTF-8")
    assert counts(database) == before


def test_non_utf8_multipart_upload_is_422_naming_the_file(client, admin_headers, crew):
    latin1 = csv_text(jobs(1, customer_name="Zoë")).encode("latin-1")
    response = client.post(URL, data=upload(latin1), headers=admin_headers)

    assert_file_rejected(response, "not valid UTF-8")


def test_file_with_nul_bytes_is_422(post, database):
    before = counts(database)
    body = csv_text(jobs(3)).encode().replace(b"Ann Smith", b"Ann\x00Smith")

    response = post(body)

    assert response.status_code == 422, response.json
    assert "NUL" in response.json["errors"]["rows"][0]["message"]
    assert counts(database) == before


def test_unknown_csv_columns_reject_the_file_naming_them(post):
    rows = [{**job("J1"), "colour": "red", "Priority": "high"}]

    assert_file_rejected(post(csv_text(rows)), "unknown columns: colour, priority")


def test_unknown_jsonl_fields_are_an_error_naming_them(post):
    rows = [job("J1"), {**job("J2"), "colour": "red"}]

    assert row_errors(post(jsonl_text(rows), content_type=JSONL)) == [(2, None, "unknown fields: colour")]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (CSV, b"\xff\xfe\x00\x00garbage"),
        (CSV, b"\x00\x01\x02"),
        (CSV, "\ufeff".encode()),
        (CSV, b'external_ref,technician_ref\n"J1,T1\n'),
        (CSV, ("external_ref,x" + "y" * 200_000 + "\n").encode()),
        (CSV, b"external_ref\n" + b"J" * 100_000 + b"\n"),
        (JSONL, b'[{"external_ref": "J1"}]\n'),
        (JSONL, b'{"external_ref": ' + b"9" * 5000 + b"}\n"),
        (JSONL, b'{"external_ref": "J1", "scheduled_start": {"at": [1, 2]}, "revenue": NaN}\n'),
        (JSONL, b'{"external_ref": "J1", "revenue": Infinity, "estimated_minutes": 1e400}\n'),
        (JSONL, b"[" * 50_000),
        ("multipart/form-data", b"--nope\r\n"),
        ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=file\r\n\r\n"),
    ],
)
def test_malformed_files_are_422_never_5xx(post, database, content_type, body):
    before = counts(database)

    response = post(body, content_type=content_type)

    assert response.status_code == 422, response.json
    assert response.json["code"] == 422
    assert counts(database) == before


def test_body_over_the_configured_limit_is_413(settings, database, plugins, admin_headers, crew):
    client = create_app(replace(settings, max_content_length=1000), database=database, plugins=plugins).test_client()
    body = csv_text(jobs(40)).encode()[:2000]
    assert len(body) == 2000

    response = client.post(URL, data=body, headers={**admin_headers, "Content-Type": CSV})

    assert response.status_code == 413, response.json
    assert response.json["code"] == 413
    assert counts(database)["jobs"] == 0


def test_multipart_upload_over_the_configured_limit_is_413(settings, database, plugins, admin_headers, crew):
    client = create_app(replace(settings, max_content_length=1000), database=database, plugins=plugins).test_client()

    response = client.post(URL, data=upload(b"x" * 2000), headers=admin_headers)

    assert response.status_code == 413, response.json
    assert response.json["code"] == 413


# --- idempotence ----------------------------------------------------------------------


def test_importing_the_same_file_twice_changes_nothing_the_second_time(post, database):
    body = csv_text([*jobs(3), job("J4", callback_of="J1")])
    assert result(post(body)) == (4, 0, 0)
    before = stored(database)
    counts_before = counts(database)

    assert result(post(body)) == (0, 0, 4)

    after = stored(database)
    assert {ref: row.updated_at for ref, row in after.items()} == {ref: row.updated_at for ref, row in before.items()}
    assert counts(database) == counts_before
    assert len(import_audits(database)) == 1


def test_the_same_rows_as_json_lines_are_unchanged_too(post):
    assert result(post(csv_text(jobs(3)))) == (3, 0, 0)

    assert result(post(jsonl_text(jobs(3)), content_type=JSONL)) == (0, 0, 3)


def test_the_same_instant_in_another_zone_is_unchanged(post):
    assert result(post(csv_text([job("J1")]))) == (1, 0, 0)

    shifted = job("J1", completed_at="2026-03-02T11:40:00+01:00")

    assert result(post(csv_text([shifted]))) == (0, 0, 1)


def test_a_changed_row_updates_its_job_only(post, database):
    assert result(post(csv_text(jobs(3)))) == (3, 0, 0)
    before = stored(database)

    response = post(csv_text([job("J1"), job("J2", revenue="175.25", status="cancelled"), job("J3")]))

    assert result(response) == (0, 1, 2)
    after = stored(database)
    assert (after["J2"].revenue, after["J2"].status) == (Decimal("175.25"), "cancelled")
    assert after["J2"].updated_at > before["J2"].updated_at
    assert after["J1"].updated_at == before["J1"].updated_at
    assert len(import_audits(database)) == 2


def test_changing_only_the_callback_link_is_an_update(post, database):
    assert result(post(csv_text(jobs(2)))) == (2, 0, 0)

    assert result(post(csv_text([job("J1"), job("J2", callback_of="J1")]))) == (0, 1, 1)
    jobs_by_ref = stored(database)
    assert jobs_by_ref["J2"].callback_of_id == jobs_by_ref["J1"].id


def test_a_file_with_new_and_changed_rows_counts_each(post):
    assert result(post(csv_text(jobs(2)))) == (2, 0, 0)

    assert result(post(csv_text([job("J1", category="hvac"), job("J2"), job("J3")]))) == (1, 1, 1)


# --- all or nothing -------------------------------------------------------------------


def test_a_file_with_one_invalid_row_writes_nothing_and_lists_every_error(post, database):
    before = counts(database)
    rows = [job("J1"), job("J2", status="done", revenue="-3"), job("J3", technician_ref="T99"), job("J4")]

    response = post(csv_text(rows))

    assert row_errors(response) == [
        (3, "status", "must be one of scheduled, completed, cancelled"),
        (3, "revenue", "must be an amount between 0 and 9,999,999,999.99"),
        (
            4,
            "technician_ref",
            "no technician 'T99' on file; choose “Create technicians that are not on file yet” to add them",
        ),
    ]
    assert response.json["errors"]["error_count"] == 3
    assert response.json["message"] == "3 errors in 4 rows: nothing was imported"
    assert counts(database) == before


def test_an_invalid_file_does_not_touch_jobs_already_stored(post, database):
    assert result(post(csv_text(jobs(2)))) == (2, 0, 0)
    before = stored(database)

    response = post(csv_text([job("J1", revenue="1.00"), job("J2", estimated_minutes="-1")]))

    assert response.status_code == 422
    after = stored(database)
    assert [(row.revenue, row.updated_at) for row in after.values()] == [
        (row.revenue, row.updated_at) for row in before.values()
    ]


def test_errors_list_the_first_1000_rows_and_count_them_all(post, database):
    response = post(csv_text(jobs(1500, estimated_minutes="-1")))

    assert response.status_code == 422
    assert len(response.json["errors"]["rows"]) == MAX_REPORTED_ERRORS == 1000
    assert response.json["errors"]["error_count"] == 1500
    assert response.json["errors"]["rows"][0] == {
        "row": 2,
        "column": "estimated_minutes",
        "message": "must be between 0 and 100000",
    }
    assert response.json["errors"]["rows"][-1]["row"] == 1001
    assert counts(database)["jobs"] == 0


@pytest.mark.slow
def test_one_bad_row_in_the_middle_of_10000_writes_nothing(post, database):
    # Batches of 1,000 rows are written to the transaction before row 5,000 is read.
    rows = [job(f"J{n}", customer_ref=f"C{n % 50}", callback_of=f"J{n - 7}" if n > 7 else "") for n in range(10_000)]
    rows[4998] = job("J4998", status="finished")
    before = counts(database)

    response = post(csv_text(rows))

    assert row_errors(response) == [(5000, "status", "must be one of scheduled, completed, cancelled")]
    assert counts(database) == before


def test_bytes_that_are_not_utf8_after_the_first_batches_write_nothing(post, database):
    before = counts(database)
    body = csv_text(jobs(2500)).encode() + "J9999,T1,C1,Zoë,plumbing,scheduled,,,,,,,,\n".encode("latin-1")

    assert_file_rejected(post(body), "not valid UTF-8")
    assert counts(database) == before


def test_dry_run_answers_the_counts_and_writes_nothing(post, database):
    assert result(post(csv_text(jobs(2)))) == (2, 0, 0)
    before = stored(database)
    counts_before = counts(database)
    rows = [job("J1"), job("J2", status="cancelled"), job("J3", customer_ref="C9"), job("J4", callback_of="J3")]

    response = post(csv_text(rows), dry_run=1)

    assert result(response) == (2, 1, 1)
    assert response.json["dry_run"] is True
    assert counts(database) == counts_before
    assert {ref: (row.status, row.updated_at) for ref, row in stored(database).items()} == {
        ref: (row.status, row.updated_at) for ref, row in before.items()
    }


def test_dry_run_of_an_invalid_file_lists_the_errors(post, database):
    response = post(csv_text([job("J1"), job("J2", status="")]), dry_run=1)

    assert row_errors(response) == [(3, "status", "is required")]
    assert counts(database)["jobs"] == 0


# --- technicians ----------------------------------------------------------------------


def test_unknown_technician_is_a_row_error(post, database):
    response = post(csv_text([job("J1"), job("J2", technician_ref="T99")]))

    assert row_errors(response) == [
        (
            3,
            "technician_ref",
            "no technician 'T99' on file; choose “Create technicians that are not on file yet” to add them",
        )
    ]
    assert counts(database)["jobs"] == 0


def test_create_technicians_lets_an_admin_import_unknown_technicians(post, database):
    rows = [job("J1", technician_ref="T99"), job("J2", technician_ref="T99"), job("J3", technician_ref="T98")]

    assert result(post(csv_text(rows), create_technicians=1)) == (3, 0, 0)

    with database.session(write=False) as session:
        created = session.execute(
            select(Technician.id, Technician.name, Technician.team_id).where(Technician.external_ref == "T99")
        ).one()
    assert created[1:] == ("T99", None)
    assert {row.technician_id for ref, row in stored(database).items() if ref in ("J1", "J2")} == {created.id}
    assert counts(database)["technicians"] == 4 + 2


def test_dry_run_with_create_technicians_counts_and_creates_nothing(post, database):
    before = counts(database)

    response = post(
        csv_text([job("J1", technician_ref="T99"), job("J2", callback_of="J1")]), create_technicians=1, dry_run=1
    )

    assert result(response) == (2, 0, 0)
    assert counts(database) == before


def test_manager_asking_to_create_technicians_gets_a_row_error(post, manager_headers, database):
    response = post(csv_text([job("J1", technician_ref="T99")]), headers=manager_headers, create_technicians=1)

    assert row_errors(response) == [(2, "technician_ref", "no technician 'T99'; only admins create them")]
    assert counts(database)["technicians"] == 4


# --- callbacks ------------------------------------------------------------------------


def test_callback_to_an_earlier_row_links_the_jobs(post, database):
    assert result(post(csv_text([job("J1"), job("J2", callback_of="J1"), job("J3", callback_of="J2")]))) == (3, 0, 0)

    jobs_by_ref = stored(database)
    assert jobs_by_ref["J2"].callback_of_id == jobs_by_ref["J1"].id
    assert jobs_by_ref["J3"].callback_of_id == jobs_by_ref["J2"].id


def test_callback_across_a_batch_boundary_links_row_1500_to_row_10(post, database):
    rows = jobs(1499)  # rows 2 to 1,500 of the file
    rows[-1]["callback_of"] = rows[8]["external_ref"]  # row 10
    assert rows[-1]["external_ref"] == "J1499" and rows[8]["external_ref"] == "J9"

    assert result(post(csv_text(rows))) == (1499, 0, 0)

    jobs_by_ref = stored(database)
    assert jobs_by_ref["J1499"].callback_of_id == jobs_by_ref["J9"].id


def test_callback_to_an_already_stored_job_links_it(post, database):
    assert result(post(csv_text([job("J1")]))) == (1, 0, 0)

    assert result(post(csv_text([job("J2", callback_of="J1")]))) == (1, 0, 0)

    jobs_by_ref = stored(database)
    assert jobs_by_ref["J2"].callback_of_id == jobs_by_ref["J1"].id


def test_callback_to_a_later_row_of_the_same_file_is_an_error(post, database):
    response = post(csv_text([job("J1", callback_of="J2"), job("J2")]))

    assert row_errors(response) == [(2, "callback_of", "no job 'J2' stored or earlier in the file")]
    assert counts(database)["jobs"] == 0


def test_callback_to_a_row_in_a_later_batch_is_an_error(post):
    rows = jobs(1200)
    rows[10]["callback_of"] = "J1150"

    assert row_errors(post(csv_text(rows))) == [(12, "callback_of", "no job 'J1150' stored or earlier in the file")]


def test_callback_to_an_unknown_job_is_an_error(post):
    response = post(csv_text([job("J1", callback_of="NOPE")]))

    assert row_errors(response) == [(2, "callback_of", "no job 'NOPE' stored or earlier in the file")]


def test_callback_to_itself_is_an_error(post):
    response = post(csv_text([job("J1"), job("J2", callback_of="J2")]))

    assert row_errors(response) == [(3, "callback_of", "a job cannot be a callback of itself")]


def test_callback_to_itself_is_an_error_for_a_stored_job_too(post):
    assert result(post(csv_text([job("J1")]))) == (1, 0, 0)

    assert row_errors(post(csv_text([job("J1", callback_of="J1")]))) == [
        (2, "callback_of", "a job cannot be a callback of itself")
    ]


def test_duplicate_external_ref_in_one_file_is_an_error_naming_the_first_row(post, database):
    response = post(csv_text([job("J1"), job("J2"), job("J1", revenue="5")]))

    assert row_errors(response) == [(4, "external_ref", "'J1' already appears on row 2")]
    assert counts(database)["jobs"] == 0


# --- validation rules -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "column", "message"),
    [
        ({"external_ref": ""}, "external_ref", "is required"),
        ({"technician_ref": " "}, "technician_ref", "is required"),
        ({"category": ""}, "category", "is required"),
        ({"status": ""}, "status", "is required"),
        ({"status": "done"}, "status", "must be one of scheduled, completed, cancelled"),
        ({"scheduled_start": "next tuesday"}, "scheduled_start", "is not an ISO 8601 date and time"),
        ({"arrived_at": "2026-13-01T09:00:00"}, "arrived_at", "is not an ISO 8601 date and time"),
        ({"completed_at": "2026-03-02 25:00"}, "completed_at", "is not an ISO 8601 date and time"),
        (
            {"scheduled_start": "0001-01-01T00:00:00+01:00"},
            "scheduled_start",
            "must be between 1970-01-01 and 2200-12-31",
        ),
        ({"estimated_minutes": "-5"}, "estimated_minutes", "must be between 0 and 100000"),
        ({"estimated_minutes": "1.5"}, "estimated_minutes", "is not a whole number"),
        ({"estimated_minutes": "ninety"}, "estimated_minutes", "is not a whole number"),
        ({"revenue": "-0.01"}, "revenue", "must be an amount between 0 and"),
        ({"revenue": "lots"}, "revenue", "is not an amount like 125.50"),
        ({"revenue": "9999999999.995"}, "revenue", "must be an amount between 0 and"),
        ({"revenue": "NaN"}, "revenue", "must be an amount between 0 and"),
        ({"external_ref": "J" * 65}, "external_ref", "must be at most 64 characters"),
        ({"customer_name": "x" * 201}, "customer_name", "must be at most 200 characters"),
        ({"category": "plumb\x07ing"}, "category", "must not contain control characters"),
        (
            {"started_at": "2026-03-02T10:00:00Z", "completed_at": "2026-03-02T09:59:00Z"},
            "completed_at",
            "must not be before started_at",
        ),
        (
            {"scheduled_start": "2026-03-02T11:00:00Z", "scheduled_end": "2026-03-02T09:00:00Z"},
            "scheduled_end",
            "must not be before scheduled_start",
        ),
        ({"arrived_at": "2026-03-02T09:30:00Z"}, "started_at", "must not be before arrived_at"),
        ({"completed_at": ""}, "completed_at", "is required when status is completed"),
        ({"status": "scheduled"}, "status", "must be completed when completed_at is set"),
    ],
)
def test_each_validation_rule_is_a_row_error_naming_the_column(post, database, cells, column, message):
    response = post(csv_text([job("J1"), job("J2", **cells)]))

    [(row, error_column, error_message)] = row_errors(response)
    assert (row, error_column) == (3, column)
    assert message in error_message
    assert counts(database)["jobs"] == 0


def test_rules_compare_instants_not_wall_clock_times(post):
    # 10:00 in Paris is 09:00 UTC: before a start at 09:30 UTC.
    row = job("J1", started_at="2026-03-02T09:30:00Z", completed_at="2026-03-02T10:00:00+01:00")

    assert row_errors(post(csv_text([row]))) == [(2, "completed_at", "must not be before started_at")]


def test_zero_minutes_zero_revenue_and_a_cancelled_job_without_times_are_valid(post):
    rows = [
        job("J1", estimated_minutes="0", revenue="0"),
        job("J2", status="Cancelled", arrived_at="", started_at="", completed_at=""),
        job("J3", status="scheduled", arrived_at="", started_at="", completed_at="", revenue=""),
    ]

    assert result(post(csv_text(rows))) == (3, 0, 0)


def test_a_required_column_missing_from_the_header_is_an_error_naming_it(post):
    rows = [{key: value for key, value in job("J1").items() if key != "status"}]

    assert row_errors(post(csv_text(rows))) == [(2, "status", "is required")]


def test_jsonl_values_of_the_wrong_type_are_row_errors(post):
    rows = [
        {**job("J1"), "external_ref": {"id": 1}},
        {**job("J2"), "estimated_minutes": True, "revenue": [5], "scheduled_start": 20260302},
    ]

    assert row_errors(post(jsonl_text(rows), content_type=JSONL)) == [
        (1, "external_ref", "must be text"),
        (2, "scheduled_start", "must be an ISO 8601 date and time, like 2026-03-01T09:30:00-06:00"),
        (2, "estimated_minutes", "must be a whole number"),
        (2, "revenue", "[5] is not an amount like 125.50"),
    ]


def test_naive_timestamps_are_read_in_the_company_time_zone(settings, database, plugins, admin_headers, crew):
    chicago = create_app(replace(settings, timezone="America/Chicago"), database=database, plugins=plugins)
    rows = [
        job("WINTER", scheduled_start="2026-01-15T09:00:00", scheduled_end="2026-01-15T11:00", completed_at=""),
        job("SUMMER", scheduled_start="2026-07-15T09:00:00", scheduled_end="2026-07-15T11:00", completed_at=""),
        job("ZONED", scheduled_start="2026-01-15T09:00:00+01:00", scheduled_end="2026-01-15T11:00Z", completed_at=""),
    ]
    for row in rows:
        row.update(status="scheduled", arrived_at="", started_at="")

    response = chicago.test_client().post(URL, data=csv_text(rows), headers={**admin_headers, "Content-Type": CSV})

    assert result(response) == (3, 0, 0)
    jobs_by_ref = stored(database)
    assert jobs_by_ref["WINTER"].scheduled_start == datetime(2026, 1, 15, 15, 0, tzinfo=UTC)  # CST, UTC-6
    assert jobs_by_ref["WINTER"].scheduled_end == datetime(2026, 1, 15, 17, 0, tzinfo=UTC)
    assert jobs_by_ref["SUMMER"].scheduled_start == datetime(2026, 7, 15, 14, 0, tzinfo=UTC)  # CDT, UTC-5
    assert jobs_by_ref["ZONED"].scheduled_start == datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
    assert jobs_by_ref["ZONED"].scheduled_end == datetime(2026, 1, 15, 11, 0, tzinfo=UTC)


def test_naive_timestamps_are_read_as_utc_by_default(post, database):
    assert result(post(csv_text([job("J1", completed_at="2026-03-02T10:40:00")]))) == (1, 0, 0)

    assert stored(database)["J1"].completed_at == datetime(2026, 3, 2, 10, 40, tzinfo=UTC)


# --- who may import what --------------------------------------------------------------


def test_manager_imports_jobs_of_their_teams_technicians(post, manager_headers):
    rows = [job("J1", technician_ref="T1"), job("J2", technician_ref="T2")]

    assert result(post(csv_text(rows), headers=manager_headers)) == (2, 0, 0)


def test_manager_importing_a_job_for_a_technician_outside_their_teams_reads_as_no_such_technician(
    post, manager_headers, database
):
    rows = [job("J1", technician_ref="T1"), job("J2", technician_ref="T3"), job("J3", technician_ref="T4")]

    response = post(csv_text(rows), headers=manager_headers)

    assert row_errors(response) == [
        (3, "technician_ref", "no technician 'T3' among your teams' technicians"),
        (4, "technician_ref", "no technician 'T4' among your teams' technicians"),
    ]
    assert counts(database)["jobs"] == 0


def test_manager_cannot_take_over_a_stored_job_of_another_team_and_is_not_told_whose_it_is(
    post, manager_headers, database
):
    assert result(post(csv_text([job("J1", technician_ref="T3")]))) == (1, 0, 0)

    response = post(csv_text([job("J1", technician_ref="T1")]), headers=manager_headers)

    assert row_errors(response) == [(2, "external_ref", "is already in use; choose another")]
    assert stored(database)["J1"].technician_id == technician_id(database, "T3")


def test_manager_callback_to_another_teams_job_is_answered_as_if_it_did_not_exist(post, manager_headers):
    assert result(post(csv_text([job("S1", technician_ref="T3")]))) == (1, 0, 0)

    response = post(csv_text([job("J1", callback_of="S1")]), headers=manager_headers)

    assert row_errors(response) == [(2, "callback_of", "no job 'S1' stored or earlier in the file")]


def test_technician_may_not_import(client, make_user, login, crew, database):
    make_user("technician", username="tess", technician_ref="T1")
    headers = login("tess")

    response = client.post(URL, data=csv_text([job("J1")]), headers={**headers, "Content-Type": CSV})

    assert response.status_code == 403, response.json
    assert counts(database)["jobs"] == 0


def test_anonymous_import_is_401(client, crew):
    assert client.post(URL, data=csv_text([job("J1")]), headers={"Content-Type": CSV}).status_code == 401


# --- audit ----------------------------------------------------------------------------


def test_each_effective_import_writes_one_audit_entry(post, database):
    body = csv_text(jobs(3))

    assert result(post(body)) == (3, 0, 0)
    assert result(post(body)) == (0, 0, 3)
    assert result(post(body, dry_run=1)) == (0, 0, 3)
    assert post(csv_text([job("J1", status="done")])).status_code == 422
    assert result(post(csv_text([job("J1", revenue="1")]))) == (0, 1, 0)

    entries = import_audits(database)
    assert [{name: new for name, (_old, new) in entry.changes.items()} for entry in entries] == [
        {"rows": 3, "created": 3, "updated": 0, "unchanged": 0},
        {"rows": 1, "created": 0, "updated": 1, "unchanged": 0},
    ]
    assert {entry.username for entry in entries} == {"admin"}
