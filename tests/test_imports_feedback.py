"""POST /api/v1/imports/feedback: one feedback per job (by job_ref), importing again replaces it.

Each test runs on SQLite and on PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from kpi_core.storage.models import AuditEntry, Feedback, Job, Team, Technician
from kpi_core.web.app import create_app

URL = "/api/v1/imports/feedback"
CSV = "text/csv"
JSONL = "application/x-ndjson"


# --- factories ------------------------------------------------------------------------


def feedback(job_ref: str = "J1", **overrides: str) -> dict[str, str]:
    """One valid feedback row; keyword arguments replace cells."""
    row = {
        "job_ref": job_ref,
        "rating": "5",
        "nps": "9",
        "comment": "Quick and tidy",
        "received_at": "2026-03-03T12:00:00Z",
    }
    return {**row, **overrides}


def csv_text(rows: list[dict], *, delimiter: str = ",", line_end: str = "\n", bom: bool = False) -> str:
    """A CSV file of ``rows`` (dicts), the header from the first row's keys."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=delimiter, lineterminator=line_end)
    writer.writeheader()
    writer.writerows(rows)
    return ("\ufeff" if bom else "") + out.getvalue()


def jsonl_text(rows: list[dict]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture
def stored_jobs(database) -> None:
    """Jobs J1-J3 of technician T1 (team North) and S1 of T3 (team South)."""
    with database.session() as session:
        north, south = Team(name="North"), Team(name="South")
        session.add_all([north, south])
        session.flush()
        t1 = Technician(external_ref="T1", name="Tess One", team_id=north.id)
        t3 = Technician(external_ref="T3", name="Tia Three", team_id=south.id)
        session.add_all([t1, t3])
        session.flush()
        completed = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
        for ref, technician in [("J1", t1), ("J2", t1), ("J3", t1), ("S1", t3)]:
            session.add(
                Job(
                    external_ref=ref,
                    technician_id=technician.id,
                    category="plumbing",
                    status="completed",
                    completed_at=completed,
                )
            )


@pytest.fixture
def post(client, admin_headers, stored_jobs):
    """``post(body, content_type=..., headers=..., **query)``: send a file as the request body (admin)."""

    def send(body: str | bytes, *, content_type: str = CSV, headers: dict | None = None, **query):
        data = body.encode() if isinstance(body, str) else body
        return client.post(
            URL, data=data, query_string=query, headers={**(headers or admin_headers), "Content-Type": content_type}
        )

    return send


def stored(database) -> dict[str, Feedback]:
    with database.session(write=False) as session:
        rows = session.execute(select(Job.external_ref, Feedback).join(Feedback, Feedback.job_id == Job.id))
        return {ref: item for ref, item in rows}


def feedback_count(database) -> int:
    with database.session(write=False) as session:
        return session.scalar(select(func.count()).select_from(Feedback))


def import_audits(database) -> list[AuditEntry]:
    with database.session(write=False) as session:
        query = select(AuditEntry).where(AuditEntry.action == "import", AuditEntry.entity == "feedback")
        return list(session.scalars(query.order_by(AuditEntry.id)))


def result(response) -> tuple[int, int, int]:
    assert response.status_code == 200, response.json
    return response.json["created"], response.json["updated"], response.json["unchanged"]


def row_errors(response) -> list[tuple[int, str | None, str]]:
    assert response.status_code == 422, response.json
    return [(error["row"], error["column"], error["message"]) for error in response.json["errors"]["rows"]]


def assert_file_rejected(response, *phrases: str) -> None:
    assert response.status_code == 422, response.json
    [message] = response.json["errors"]["file"]["file"]
    for phrase in phrases:
        assert phrase in message


# --- formats --------------------------------------------------------------------------


def test_csv_body_creates_feedback_with_its_values(post, database):
    response = post(csv_text([feedback("J1"), feedback("J2", rating="2", nps="", comment="")]))

    assert result(response) == (2, 0, 0)
    items = stored(database)
    assert (items["J1"].rating, items["J1"].nps, items["J1"].comment) == (5, 9, "Quick and tidy")
    assert items["J1"].received_at == datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
    assert (items["J2"].rating, items["J2"].nps, items["J2"].comment) == (2, None, None)


def test_utf8_bom_semicolons_and_crlf_are_read(post, database):
    body = csv_text([feedback("J1", comment="Très bien, merci")], delimiter=";", line_end="\r\n", bom=True)

    assert result(post(body.encode("utf-8"))) == (1, 0, 0)
    assert stored(database)["J1"].comment == "Très bien, merci"


def test_quoted_comment_keeps_embedded_separators_quotes_and_newlines(post, database):
    comment = 'Fixed the tap; then the "other" tap,\r\ntoo.\nWould book again'
    rows = [feedback("J1", comment=comment), feedback("J2")]

    response = post(csv_text(rows, line_end="\r\n"))

    assert result(response) == (2, 0, 0)
    assert stored(database)["J1"].comment == comment


def test_jsonl_body_creates_feedback(post, database):
    rows = [
        {"job_ref": "J1", "rating": 4, "nps": 7, "received_at": "2026-03-03T12:00:00+01:00"},
        {"job_ref": "J2", "rating": 1, "nps": None, "comment": "Late\nand rude", "received_at": "2026-03-04"},
    ]

    assert result(post(jsonl_text(rows), content_type=JSONL)) == (2, 0, 0)
    items = stored(database)
    assert (items["J1"].rating, items["J1"].received_at) == (4, datetime(2026, 3, 3, 11, 0, tzinfo=UTC))
    assert (items["J2"].nps, items["J2"].comment) == (None, "Late\nand rude")


@pytest.mark.parametrize(
    ("text", "name"),
    [(csv_text([feedback("J1")]), "feedback.csv"), (jsonl_text([feedback("J1")]), "feedback.jsonl")],
    ids=["csv", "jsonl"],
)
def test_multipart_upload_in_the_field_file_is_imported(client, admin_headers, stored_jobs, text, name):
    response = client.post(URL, data={"file": (io.BytesIO(text.encode()), name)}, headers=admin_headers)

    assert result(response) == (1, 0, 0)


def test_multipart_without_the_file_field_is_422_naming_file(client, admin_headers, stored_jobs):
    response = client.post(URL, data={"feedback": "J1,5"}, headers=admin_headers, content_type="multipart/form-data")

    assert response.status_code == 422, response.json
    assert response.json["errors"]["files"] == {"file": ["Missing data for required field."]}


def test_wrong_content_type_is_422(post):
    assert_file_rejected(post(csv_text([feedback()]), content_type="application/json"), "unsupported content type")


@pytest.mark.parametrize("content_type", [CSV, JSONL])
def test_empty_file_is_422(post, content_type):
    assert_file_rejected(post(b"", content_type=content_type), "empty")


def test_non_utf8_file_is_422_naming_the_file(post, database):
    latin1 = csv_text([feedback("J1", comment="Très bien")]).encode("latin-1")

    assert_file_rejected(post(latin1), "not valid UTF-8")
    assert feedback_count(database) == 0


def test_file_with_nul_bytes_is_422(post, database):
    response = post(csv_text([feedback("J1"), feedback("J2")]).encode().replace(b"tidy", b"ti\x00dy"))

    assert response.status_code == 422, response.json
    assert feedback_count(database) == 0


def test_unknown_columns_reject_the_file_naming_them(post):
    rows = [{**feedback("J1"), "sentiment": "happy"}]

    assert_file_rejected(post(csv_text(rows)), "unknown columns: sentiment")


def test_body_over_the_configured_limit_is_413(settings, database, plugins, admin_headers, stored_jobs):
    client = create_app(replace(settings, max_content_length=1000), database=database, plugins=plugins).test_client()
    body = csv_text([feedback(f"J{n}") for n in range(60)]).encode()[:2000]

    response = client.post(URL, data=body, headers={**admin_headers, "Content-Type": CSV})

    assert response.status_code == 413, response.json
    assert feedback_count(database) == 0


# --- idempotence and replacement ------------------------------------------------------


def test_importing_the_same_file_twice_changes_nothing_the_second_time(post, database):
    body = csv_text([feedback("J1"), feedback("J2", nps="", comment="")])
    assert result(post(body)) == (2, 0, 0)
    before = {ref: (item.id, item.updated_at) for ref, item in stored(database).items()}

    assert result(post(body)) == (0, 0, 2)

    assert {ref: (item.id, item.updated_at) for ref, item in stored(database).items()} == before
    assert len(import_audits(database)) == 1


def test_importing_again_replaces_the_feedback_of_a_job(post, database):
    assert result(post(csv_text([feedback("J1"), feedback("J2")]))) == (2, 0, 0)

    response = post(csv_text([feedback("J1", rating="2", comment="Came back: still leaking"), feedback("J2")]))

    assert result(response) == (0, 1, 1)
    items = stored(database)
    assert (items["J1"].rating, items["J1"].comment) == (2, "Came back: still leaking")
    assert feedback_count(database) == 2
    assert len(import_audits(database)) == 2


def test_dry_run_answers_the_counts_and_writes_nothing(post, database):
    assert result(post(csv_text([feedback("J1"), feedback("J2")]))) == (2, 0, 0)
    before = {ref: (item.rating, item.updated_at) for ref, item in stored(database).items()}

    response = post(csv_text([feedback("J1"), feedback("J2", rating="1"), feedback("J3")]), dry_run=1)

    assert result(response) == (1, 1, 1)
    assert response.json["dry_run"] is True
    assert {ref: (item.rating, item.updated_at) for ref, item in stored(database).items()} == before
    assert len(import_audits(database)) == 1


# --- all or nothing -------------------------------------------------------------------


def test_a_file_with_one_invalid_row_writes_nothing_and_lists_every_error(post, database):
    rows = [feedback("J1"), feedback("J2", rating="9", nps="11"), feedback("NOPE"), feedback("J3")]

    response = post(csv_text(rows))

    assert row_errors(response) == [
        (3, "rating", "must be between 1 and 5"),
        (3, "nps", "must be between 0 and 10"),
        (4, "job_ref", "no job 'NOPE'"),
    ]
    assert response.json["errors"]["error_count"] == 3
    assert feedback_count(database) == 0


def test_an_invalid_file_leaves_stored_feedback_as_it_was(post, database):
    assert result(post(csv_text([feedback("J1")]))) == (1, 0, 0)

    assert post(csv_text([feedback("J1", rating="1"), feedback("J2", rating="")])).status_code == 422

    assert stored(database)["J1"].rating == 5


def test_errors_list_the_first_1000_rows_and_count_them_all(post, database):
    rows = [feedback(f"J{n}", rating="0") for n in range(1500)]

    response = post(csv_text(rows))

    assert len(response.json["errors"]["rows"]) == 1000
    assert response.json["errors"]["error_count"] == 1500


def test_feedback_for_an_unknown_job_is_a_row_error(post):
    assert row_errors(post(csv_text([feedback("J9")]))) == [(2, "job_ref", "no job 'J9'")]


def test_two_rows_for_one_job_is_an_error_naming_the_first_row(post, database):
    response = post(csv_text([feedback("J1"), feedback("J2"), feedback("J1", rating="3")]))

    assert row_errors(response) == [(4, "job_ref", "feedback for 'J1' already on row 2")]
    assert feedback_count(database) == 0


@pytest.mark.parametrize(
    ("cells", "column", "message"),
    [
        ({"job_ref": ""}, "job_ref", "is required"),
        ({"rating": ""}, "rating", "is required"),
        ({"rating": "0"}, "rating", "must be between 1 and 5"),
        ({"rating": "6"}, "rating", "must be between 1 and 5"),
        ({"rating": "4.5"}, "rating", "is not a whole number"),
        ({"rating": "five"}, "rating", "is not a whole number"),
        ({"nps": "-1"}, "nps", "must be between 0 and 10"),
        ({"nps": "11"}, "nps", "must be between 0 and 10"),
        ({"received_at": ""}, "received_at", "is required"),
        ({"received_at": "last week"}, "received_at", "is not an ISO 8601 date and time"),
        ({"comment": "x" * 2001}, "comment", "must be at most 2000 characters"),
        ({"comment": "bell\x07"}, "comment", "must not contain control characters"),
    ],
)
def test_each_validation_rule_is_a_row_error_naming_the_column(post, database, cells, column, message):
    [(row, error_column, error_message)] = row_errors(post(csv_text([feedback("J1"), {**feedback("J2"), **cells}])))

    assert (row, error_column) == (3, column)
    assert message in error_message
    assert feedback_count(database) == 0


def test_a_required_column_missing_from_the_header_is_an_error_naming_it(post):
    rows = [{"job_ref": "J1", "nps": "9", "received_at": "2026-03-03T12:00:00Z"}]

    assert row_errors(post(csv_text(rows))) == [(2, "rating", "is required")]


def test_naive_received_at_is_read_in_the_company_time_zone(settings, database, plugins, admin_headers, stored_jobs):
    chicago = create_app(replace(settings, timezone="America/Chicago"), database=database, plugins=plugins)
    body = csv_text([feedback("J1", received_at="2026-03-03T12:00:00")])

    response = chicago.test_client().post(URL, data=body, headers={**admin_headers, "Content-Type": CSV})

    assert result(response) == (1, 0, 0)
    assert stored(database)["J1"].received_at == datetime(2026, 3, 3, 18, 0, tzinfo=UTC)


# --- who may import what --------------------------------------------------------------


@pytest.fixture
def manager_headers(make_user, login, stored_jobs) -> dict[str, str]:
    make_user("manager", username="mona", teams=("North",))
    return login("mona")


def test_manager_imports_feedback_on_their_teams_jobs(post, manager_headers):
    assert result(post(csv_text([feedback("J1"), feedback("J2")]), headers=manager_headers)) == (2, 0, 0)


def test_manager_importing_feedback_on_another_teams_job_gets_a_row_error(post, manager_headers, database):
    response = post(csv_text([feedback("J1"), feedback("S1")]), headers=manager_headers)

    assert row_errors(response) == [(3, "job_ref", "no job 'S1'")]
    assert feedback_count(database) == 0


def test_technician_may_not_import(client, make_user, login, stored_jobs):
    make_user("technician", username="tess", technician_ref="T1")

    response = client.post(URL, data=csv_text([feedback("J1")]), headers={**login("tess"), "Content-Type": CSV})

    assert response.status_code == 403, response.json


# --- audit ----------------------------------------------------------------------------


def test_each_effective_import_writes_one_audit_entry(post, database):
    body = csv_text([feedback("J1"), feedback("J2")])

    assert result(post(body)) == (2, 0, 0)
    assert result(post(body)) == (0, 0, 2)
    assert result(post(body, dry_run=1)) == (0, 0, 2)
    assert post(csv_text([feedback("J1", rating="")])).status_code == 422

    [entry] = import_audits(database)
    assert {name: new for name, (_old, new) in entry.changes.items()} == {"rows": 2, "created": 2, "updated": 0}
    assert entry.username == "admin"
