"""A corpus of malformed and hostile input: every item gets a clear 4xx in the one JSON error shape,
naming the field or the row where there is one, and changes nothing (row counts of every table and
the audit trail are the same before and after). Text that merely looks dangerous (SQL, script,
spreadsheet formulas) is data: stored and answered verbatim as JSON, never executed.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import func, inspect, select

from kpi_core.reports.filenames import content_disposition, safe_file_name
from kpi_core.storage.models import Base, Customer, Job, Team, Technician

IMPORT_JOBS = "/api/v1/imports/jobs"
HEADER = (
    "external_ref,technician_ref,customer_ref,customer_name,category,status,"
    "scheduled_start,scheduled_end,completed_at,estimated_minutes,revenue"
)
MB = 1024 * 1024
HOSTILE_TEXT = [
    "x'); DROP TABLE jobs; --",
    "1 OR 1=1; SELECT * FROM users",
    '<script>alert("x")</script>',
    '"><img src=x onerror=alert(1)>',
    "{{7*7}} ${7*7} %s %n",
]


def row(ref: str = "J1", **cells: str) -> str:
    values = {
        "external_ref": ref,
        "technician_ref": "T1",
        "customer_ref": "C1",
        "customer_name": "Ann Smith",
        "category": "plumbing",
        "status": "completed",
        "scheduled_start": "2026-03-02T09:00:00Z",
        "scheduled_end": "2026-03-02T11:00:00Z",
        "completed_at": "2026-03-02T10:30:00Z",
        "estimated_minutes": "90",
        "revenue": "150.00",
        **cells,
    }
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values.values())
    return out.getvalue()


def csv_file(*rows: str, line_end: str = "\n") -> str:
    return HEADER + line_end + "".join(rows)


@pytest.fixture
def org(database) -> dict[str, int]:
    """Team North, technician T1 in it, and one stored job J0 (so there is data to leave alone)."""
    with database.session() as session:
        north = Team(name="North")
        session.add(north)
        session.flush()
        technician = Technician(external_ref="T1", name="Tina", team_id=north.id)
        session.add(technician)
        session.flush()
        return {"team": north.id, "technician": technician.id}


@pytest.fixture
def admin(client, admin_headers, org) -> dict[str, str]:
    response = client.post(IMPORT_JOBS, data=csv_file(row("J0")), headers={**admin_headers, "Content-Type": "text/csv"})
    assert response.status_code == 200, response.json
    return admin_headers


@pytest.fixture
def unchanged(database):
    """``with unchanged():`` asserts every table's row count (audit trail included) is the same after."""

    def counts() -> dict[str, int]:
        with database.engine.connect() as connection:
            tables = [table for table in Base.metadata.sorted_tables if inspect(connection).has_table(table.name)]
            return {table.name: connection.scalar(select(func.count()).select_from(table)) for table in tables}

    class Unchanged:
        def __enter__(self):
            self.before = counts()

        def __exit__(self, *exc_info):
            if exc_info[0] is None:
                assert counts() == self.before

    return Unchanged


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    body = response.json
    assert body["code"] == status and body["status"] and body["message"] and body["request_id"]
    return body


def assert_row_error(response, row_number: int, column: str | None) -> None:
    body = assert_error_shape(response, 422)
    assert {"row": row_number, "column": column} in [
        {"row": error["row"], "column": error["column"]} for error in body["errors"]["rows"]
    ], body


def post_csv(client, headers, body: str | bytes, content_type: str = "text/csv"):
    return client.post(IMPORT_JOBS, data=body, headers={**headers, "Content-Type": content_type})


class Stream(io.RawIOBase):
    """``size`` bytes of a valid-looking CSV, made while read (never held in memory)."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.line = row("J-big").encode()
        self.head = (HEADER + "\n").encode()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.remaining <= 0:
            return 0
        chunk = (self.head or self.line * (len(buffer) // len(self.line) + 1))[: min(len(buffer), self.remaining)]
        self.head = b""
        buffer[: len(chunk)] = chunk
        self.remaining -= len(chunk)
        return len(chunk)


# --- files to the import endpoints ------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "text"),
    [("utf-16", "Zoë Ångström"), ("utf-16-le", "Zoë"), ("latin-1", "Zoë Müller"), ("cp1252", "Zoë “quoted”")],
)
def test_a_file_in_another_encoding_is_rejected_whole(client, admin, unchanged, encoding, text):
    body = csv_file(row("J1", customer_name=text), row("J2")).encode(encoding)

    with unchanged():
        response = post_csv(client, admin, body)

    body = assert_error_shape(response, 422)
    assert "UTF-8" in body["message"] and "file" in body["errors"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_100_mb_file_is_refused_with_413_before_it_is_read(client, admin, unchanged, settings):
    size = 100 * MB
    assert size > settings.max_content_length

    with unchanged():
        response = client.post(
            IMPORT_JOBS,
            headers={**admin, "Content-Type": "text/csv"},
            environ_overrides={"wsgi.input": io.BufferedReader(Stream(size)), "CONTENT_LENGTH": str(size)},
        )

    assert_error_shape(response, 413)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_100_mb_upload_without_a_length_is_cut_off_at_the_limit_with_413(client, admin, unchanged):
    # Chunked transfer: no Content-Length, so the limit is enforced while the body is read,
    # after the first rows have been parsed: they must be rolled back.
    with unchanged():
        response = client.post(
            IMPORT_JOBS,
            headers={**admin, "Content-Type": "text/csv", "Transfer-Encoding": "chunked"},
            environ_overrides={
                "wsgi.input": io.BufferedReader(Stream(100 * MB)),
                "wsgi.input_terminated": True,
                "CONTENT_LENGTH": "",
            },
        )

    assert_error_shape(response, 413)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_million_columns_in_the_header_is_rejected(client, admin, unchanged):
    body = HEADER + "".join(f",c{n}" for n in range(1_000_000)) + "\n" + row("J1")

    with unchanged():
        response = post_csv(client, admin, body)

    body = assert_error_shape(response, 422)
    assert "1000011 columns" in body["message"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_million_cells_in_a_row_is_rejected_naming_the_row(client, admin, unchanged):
    with unchanged():
        response = post_csv(client, admin, csv_file(row("J1"), "J2" + ",x" * 1_000_000 + "\n"))

    assert_row_error(response, 3, None)


def test_a_nul_byte_in_the_header_is_rejected(client, admin, unchanged):
    with unchanged():
        response = post_csv(client, admin, "external_ref\x00,technician_ref\n" + row("J1"))

    body = assert_error_shape(response, 422)
    assert "NUL" in body["message"]


def test_a_nul_byte_in_a_row_is_rejected_naming_the_row(client, admin, unchanged):
    with unchanged():
        response = post_csv(client, admin, csv_file(row("J1"), row("J2", customer_name="Ann\x00Smith")))

    assert_row_error(response, 3, None)


def test_a_nul_in_a_json_lines_cell_is_rejected_naming_row_and_column(client, admin, unchanged):
    line = {"external_ref": "J1", "technician_ref": "T1", "category": "plumbing", "customer_name": "A\u0000B"}
    with unchanged():
        response = post_csv(client, admin, json.dumps(line) + "\n", "application/x-ndjson")

    assert_row_error(response, 1, "customer_name")


@pytest.mark.parametrize(
    ("column", "formula"),
    [
        ("revenue", "=1+1"),
        ("estimated_minutes", "=SUM(A1:A9)"),
        ("completed_at", '=HYPERLINK("http://evil.example","x")'),
        ("status", "@cmd"),
    ],
)
def test_a_formula_in_a_typed_column_is_rejected_naming_row_and_column(client, admin, unchanged, column, formula):
    with unchanged():
        response = post_csv(client, admin, csv_file(row("J1"), row("J2", **{column: formula})))

    assert_row_error(response, 3, column)


def test_a_formula_in_a_text_column_is_kept_as_text(client, admin, database):
    # Names are free text: the CSV reports neutralise formulas on the way out (reports_csv/cells.py).
    formula = '=HYPERLINK("http://evil.example","click")'
    response = post_csv(client, admin, csv_file(row("J1", customer_ref="C9", customer_name=formula)))

    assert response.status_code == 200, response.json
    with database.session(write=False) as session:
        assert session.scalar(select(Customer.name).where(Customer.external_ref == "C9")) == formula


def test_mixed_line_endings_read_as_the_same_rows(client, admin):
    mixed = HEADER + "\r\n" + row("J1") + row("J2").replace("\n", "\r\n") + row("J3")
    assert post_csv(client, admin, mixed).json == {
        "kind": "jobs", "dry_run": False, "rows": 3, "created": 3, "updated": 0, "unchanged": 0,
        "first_scheduled": "2026-03-02", "last_scheduled": "2026-03-02",
    }  # fmt: skip

    again = post_csv(client, admin, csv_file(row("J1"), row("J2"), row("J3")))

    assert again.json["unchanged"] == 3


def test_a_lone_carriage_return_inside_a_row_is_rejected_naming_the_rows(client, admin, unchanged):
    broken = row("J1").replace("Ann Smith", "Ann\rSmith")

    with unchanged():
        response = post_csv(client, admin, csv_file(broken))

    assert_row_error(response, 2, None)


def test_a_reference_twice_in_one_file_is_rejected_naming_the_second_row(client, admin, unchanged):
    with unchanged():
        response = post_csv(client, admin, csv_file(row("J1"), row("J2"), row("J1")))

    assert_row_error(response, 4, "external_ref")


@pytest.mark.parametrize("name", ["../../../etc/passwd.csv", "..\\..\\boot.ini.csv", "/tmp/x.csv", "a\x00b.csv"])
def test_path_tricks_in_an_upload_name_only_pick_the_format(client, admin, name):
    data = {"file": (io.BytesIO(csv_file(row("J1")).encode()), name)}

    response = client.post(IMPORT_JOBS, data=data, headers=admin, content_type="multipart/form-data")

    assert response.status_code == 200, response.json
    assert response.json["created"] == 1


def test_an_upload_named_like_an_executable_is_rejected(client, admin, unchanged):
    data = {
        "file": (
            io.BytesIO(
                csv_file(row("J1")).encode(),
            ),
            "../../payload.exe",
            "application/octet-stream",
        )
    }

    with unchanged():
        response = client.post(IMPORT_JOBS, data=data, headers=admin, content_type="multipart/form-data")

    body = assert_error_shape(response, 422)
    assert "unsupported content type" in body["message"] and "file" in body["errors"]


# --- another team's references (tests/scoping/test_scope_oracle.py has the full comparisons) ------


@pytest.fixture
def north_manager(client, admin, org, database, make_user, login) -> dict[str, str]:
    """A manager of North, after admin has stored team South with technician S-T and its job S-J."""
    with database.session() as session:
        south = Team(name="South")
        session.add(south)
        session.flush()
        session.add(Technician(external_ref="S-T", name="Sam", team_id=south.id))
    response = post_csv(client, admin, csv_file(row("S-J", technician_ref="S-T")))
    assert response.status_code == 200, response.json
    make_user("manager", username="nora", teams=("North",))
    return login("nora")


@pytest.mark.parametrize(
    ("cells", "column", "message"),
    [
        ({"technician_ref": "S-T"}, "technician_ref", "no technician 'S-T' among your teams' technicians"),
        ({"external_ref": "S-J"}, "external_ref", "is already in use; choose another"),
    ],
)
def test_a_row_naming_another_teams_record_says_no_more_than_a_missing_or_taken_one(
    client, north_manager, unchanged, database, cells, column, message
):
    with database.session(write=False) as session:
        south_job = session.execute(select(Job.technician_id, Job.updated_at).where(Job.external_ref == "S-J")).one()

    with unchanged():
        response = post_csv(client, north_manager, csv_file(row("J1"), row(**{"ref": "J2", **cells})))

    assert_row_error(response, 3, column)
    assert [error["message"] for error in response.json["errors"]["rows"]] == [message]
    with database.session(write=False) as session:
        assert session.execute(select(Job.technician_id, Job.updated_at).where(Job.external_ref == "S-J")).one() == (
            south_job
        )


def test_a_new_job_with_another_teams_reference_is_409_without_saying_whose(client, north_manager, org, unchanged):
    body = {"external_ref": "S-J", "technician_id": org["technician"], "category": "plumbing"}

    with unchanged():
        response = client.post("/api/v1/jobs", json=body, headers=north_manager)

    answer = assert_error_shape(response, 409)
    assert answer["errors"] == {"json": {"external_ref": ["is already in use; choose another"]}}


# --- JSON bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_oversized_json_body_is_refused_with_413(client, admin, unchanged, settings):
    body = json.dumps({"name": "x" * (settings.max_content_length + MB)})

    with unchanged():
        response = client.post("/api/v1/teams", data=body, headers={**admin, "Content-Type": "application/json"})

    assert_error_shape(response, 413)


@pytest.mark.parametrize(
    ("url", "nested"),
    [
        ("/api/v1/teams", '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        ("/api/v1/evaluations", '{"answers": ' + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "}"),
        ("/api/v1/auth/login", "[" * 200_000),
    ],
)
def test_deeply_nested_json_is_a_bad_request(client, admin, unchanged, url, nested):
    with unchanged():
        response = client.post(url, data=nested, headers={**admin, "Content-Type": "application/json"})

    body = assert_error_shape(response, 400)
    assert "json" in body["errors"]


@pytest.mark.parametrize("depth", [300, 700])
def test_json_nested_just_under_the_decoders_limit_is_rejected_naming_the_field(client, admin, unchanged, depth):
    # It decodes, so every later check (schemas, the NUL check) must cope with it without recursing.
    nested = '{"name": ' + "[" * depth + "]" * depth + "}"

    with unchanged():
        response = client.post("/api/v1/teams", data=nested, headers={**admin, "Content-Type": "application/json"})

    body = assert_error_shape(response, 422)
    assert "name" in body["errors"]["json"]


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/v1/teams", {"name": "North\x00East"}, "name"),
        ("/api/v1/technicians", {"external_ref": "T\x009", "name": "Nul"}, "external_ref"),
        ("/api/v1/customers", {"external_ref": "C1", "name": "A\x00"}, "name"),
        ("/api/v1/auth/login", {"username": "admin\x00", "password": "x"}, "username"),
    ],
)
def test_a_nul_character_in_json_text_is_rejected_naming_the_field(client, admin, unchanged, url, body, field):
    # PostgreSQL cannot store NUL in text: without this check the driver's error was a 500 there.
    with unchanged():
        response = client.post(url, json=body, headers=admin)

    answer = assert_error_shape(response, 422)
    assert field in answer["errors"]["json"], answer


# --- text that looks like code is data ------------------------------------------------------


def creations(org: dict[str, int], text: str) -> list[tuple[str, dict, dict]]:
    """(collection URL, body, the text fields as they must be answered) for the records with free text."""
    short = text[:60]
    return [
        ("/api/v1/teams", {"name": text}, {"name": text}),
        (
            "/api/v1/technicians",
            {"external_ref": short, "name": text, "team_id": org["team"]},
            {"external_ref": short, "name": text},
        ),
        ("/api/v1/customers", {"external_ref": short, "name": text}, {"external_ref": short, "name": text}),
        (
            "/api/v1/jobs",
            {"external_ref": short, "technician_id": org["technician"], "category": short},
            # Categories are kept in lower case by design, so "Plumbing" and "plumbing" group together.
            {"external_ref": short, "category": short.lower()},
        ),
    ]


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_sql_and_script_in_text_fields_are_stored_and_answered_verbatim(client, admin, org, database, text):
    for url, body, expected in creations(org, text):
        created = client.post(url, json=body, headers=admin)
        assert created.status_code == 201, (url, created.json)

        fetched = client.get(f"{url}/{created.json['id']}", headers=admin)

        assert fetched.status_code == 200
        assert fetched.mimetype == "application/json"
        assert fetched.headers["X-Content-Type-Options"] == "nosniff"
        assert {name: fetched.json[name] for name in expected} == expected
    with database.session(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 2  # J0 and this one: nothing dropped
        assert session.scalar(select(Team.name).where(Team.name == text)) == text


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_sql_and_script_in_query_filters_are_only_matched_as_text(client, admin, text):
    for url in ("/api/v1/teams?name=", "/api/v1/customers?q=", "/api/v1/technicians?q="):
        response = client.get(url + text.replace("#", "%23").replace("&", "%26"), headers=admin)

        assert response.status_code == 200, response.json
        assert response.json == []


# --- download names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    ["../../etc/passwd", "..\\..\\windows\\system32", "/abs/path", "CON", ".hidden", "a\r\nSet-Cookie: x=1", "a\x00b"],
)
def test_path_tricks_in_a_report_title_give_a_plain_download_name(title):
    name = safe_file_name(title, "csv")
    header = content_disposition(name)

    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert name.endswith(".csv") and name.lower() != "con.csv"
    assert "\r" not in header and "\n" not in header and "\x00" not in header
