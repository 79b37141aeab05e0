"""Crews in jobs imports (issue #18, point 1): the ``technicians`` column beside ``technician_ref``.

``T1:lead;T2`` (equal shares) or ``T1:lead:0.6;T2:helper:0.4``, in CSV, JSON Lines (as text, or a
list of {"ref", "role", "share"}) and through a column mapping; the lead is ``jobs.technician_id``;
a bad crew is refused whole, naming its row and column, with nothing written. Each test runs on
SQLite and on PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from kpi_core.imports.crews import read_crew, with_lead
from kpi_core.records.crews import CrewMember, CrewProblem, format_crew, parse_crew, settle_crew
from kpi_core.storage.models import Customer, Job, JobAssignment, KpiDataVersion, Team, Technician

URL = "/api/v1/imports/jobs"
CSV = "text/csv"
JSONL = "application/x-ndjson"


# --- factories ------------------------------------------------------------------------


def job(ref: str = "J1", **cells: Any) -> dict[str, Any]:
    """One valid completed job row with technician_ref T1; keyword arguments replace or add cells."""
    row = {
        "external_ref": ref,
        "technician_ref": "T1",
        "category": "plumbing",
        "status": "completed",
        "scheduled_start": "2026-03-02T09:00:00Z",
        "completed_at": "2026-03-02T10:40:00Z",
    }
    return {**row, **cells}


def csv_text(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def jsonl_text(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture
def people(database) -> None:
    """Teams North (T1, T2, T5) and South (T3); T4 has no team."""
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
                Technician(external_ref="T5", name="Tina Five", team_id=north.id),
            ]
        )


@pytest.fixture
def post(client, admin_headers, people):
    """``post(body, content_type=..., headers=..., **query)``: send a file as the request body (admin)."""

    def send(body: str, *, content_type: str = CSV, headers: dict | None = None, **query: Any):
        return client.post(
            URL, data=body.encode(), query_string=query,
            headers={**(headers or admin_headers), "Content-Type": content_type},
        )  # fmt: skip

    return send


@pytest.fixture
def manager_headers(make_user, login, people) -> dict[str, str]:
    make_user("manager", username="mona", teams=("North",))
    return login("mona")


def crews(database) -> dict[str, list[tuple[str, str, float]]]:
    """Each job's crew as stored: (technician ref, role, share), the lead first."""
    query = (
        select(Job.external_ref, Technician.external_ref, JobAssignment.role, JobAssignment.share)
        .join(JobAssignment, JobAssignment.job_id == Job.id)
        .join(Technician, Technician.id == JobAssignment.technician_id)
        .order_by(Job.external_ref, JobAssignment.role.desc(), Technician.external_ref)
    )
    found: dict[str, list[tuple[str, str, float]]] = {}
    with database.session(write=False) as session:
        for ref, technician, role, share in session.execute(query):
            found.setdefault(ref, []).append((technician, role, round(share, 6)))
    return found


def leads(database) -> dict[str, str]:
    """Each job's ``technician_id`` as the technician's reference."""
    query = select(Job.external_ref, Technician.external_ref).join(Technician, Technician.id == Job.technician_id)
    with database.session(write=False) as session:
        return dict(session.execute(query).all())


def counts(database) -> dict[str, Any]:
    """Rows of every table an import writes to, and the data versions."""
    with database.session(write=False) as session:
        rows = {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (Job, JobAssignment, Customer, Technician)
        }
        rows["versions"] = {row.month: row.version for row in session.scalars(select(KpiDataVersion))}
    return rows


def result(response) -> tuple[int, int, int]:
    assert response.status_code == 200, response.json
    return response.json["created"], response.json["updated"], response.json["unchanged"]


def row_errors(response) -> list[tuple[int, str | None, str]]:
    assert response.status_code == 422, response.json
    return [(error["row"], error["column"], error["message"]) for error in response.json["errors"]["rows"]]


# --- crews in, as stored ----------------------------------------------------------------


def test_a_lead_and_a_helper_without_shares_split_the_credit_equally(post, database):
    response = post(csv_text([job("J1", technician_ref="", technicians="T1:lead;T2")]))

    assert result(response) == (1, 0, 0)
    assert crews(database) == {"J1": [("T1", "lead", 0.5), ("T2", "helper", 0.5)]}
    assert leads(database) == {"J1": "T1"}


def test_explicit_shares_are_stored_and_the_lead_is_the_jobs_technician(post, database):
    rows = [
        job("J1", technicians="T2:helper:0.4;T1:lead:0.6"),
        job("J2", technician_ref="T2", technicians="T1:helper:0.25;T2:lead;T5:helper:0.25"),
    ]

    assert result(post(csv_text(rows))) == (2, 0, 0)
    assert crews(database) == {
        "J1": [("T1", "lead", 0.6), ("T2", "helper", 0.4)],
        "J2": [("T2", "lead", 0.5), ("T1", "helper", 0.25), ("T5", "helper", 0.25)],
    }
    assert leads(database) == {"J1": "T1", "J2": "T2"}


def test_a_row_with_only_a_technician_ref_has_that_technician_as_sole_lead(post, database):
    rows = [job("J1"), job("J2", technician_ref="T2")]

    assert result(post(csv_text(rows))) == (2, 0, 0)
    assert crews(database) == {"J1": [("T1", "lead", 1.0)], "J2": [("T2", "lead", 1.0)]}


def test_one_technician_in_the_technicians_column_is_the_lead(post, database):
    assert result(post(csv_text([job("J1", technician_ref="", technicians="T2")]))) == (1, 0, 0)
    assert crews(database) == {"J1": [("T2", "lead", 1.0)]}
    assert leads(database) == {"J1": "T2"}


def test_json_lines_take_the_crew_as_text_or_as_a_list_of_objects(post, database):
    rows = [
        {**job("J1"), "technicians": "T1:lead:0.6;T2:helper:0.4"},
        {**job("J2", technician_ref=None), "technicians": [{"ref": "T2", "role": "lead"}, {"ref": "T1"}]},
        {**job("J3"), "technicians": [{"ref": "T1", "role": "lead", "share": 0.7}, "T5:helper:0.3"]},
        {**job("J4"), "technicians": None},
    ]

    assert result(post(jsonl_text(rows), content_type=JSONL)) == (4, 0, 0)
    assert crews(database) == {
        "J1": [("T1", "lead", 0.6), ("T2", "helper", 0.4)],
        "J2": [("T2", "lead", 0.5), ("T1", "helper", 0.5)],
        "J3": [("T1", "lead", 0.7), ("T5", "helper", 0.3)],
        "J4": [("T1", "lead", 1.0)],
    }


def test_an_admin_may_create_the_crews_technicians_that_are_not_on_file(post, database):
    response = post(csv_text([job("J1", technicians="T1:lead;T77")]), create_technicians=1)

    assert result(response) == (1, 0, 0)
    assert crews(database) == {"J1": [("T1", "lead", 0.5), ("T77", "helper", 0.5)]}


def test_a_dry_run_counts_crews_and_writes_nothing(post, database):
    before = counts(database)

    response = post(csv_text([job("J1", technicians="T1:lead;T2")]), dry_run=1)

    assert result(response) == (1, 0, 0)
    assert counts(database) == before


# --- re-imports ---------------------------------------------------------------------------


def test_a_changed_crew_updates_the_job_and_bumps_its_month(post, database):
    assert result(post(csv_text([job("J1", technicians="T1:lead;T2"), job("J2")]))) == (2, 0, 0)
    versions = counts(database)["versions"]

    response = post(csv_text([job("J1", technicians="T1:lead:0.7;T5:helper:0.3"), job("J2", technicians="")]))

    assert result(response) == (0, 1, 1)
    assert crews(database) == {"J1": [("T1", "lead", 0.7), ("T5", "helper", 0.3)], "J2": [("T1", "lead", 1.0)]}
    assert counts(database)["versions"]["2026-03"] == versions["2026-03"] + 1


def test_the_same_crews_again_change_nothing(post, database):
    rows = [job("J1", technicians="T1:lead;T2;T5"), job("J2", technician_ref="T2", technicians="T2:lead:0.6;T1::0.4")]
    assert result(post(csv_text(rows))) == (2, 0, 0)
    before = counts(database)

    assert result(post(csv_text(rows))) == (0, 0, 2)
    assert counts(database) == before


def test_a_file_without_the_technicians_column_keeps_a_stored_crew(post, database):
    assert result(post(csv_text([job("J1", technicians="T1:lead:0.6;T2:helper:0.4")]))) == (1, 0, 0)

    assert result(post(csv_text([job("J1")]))) == (0, 0, 1)
    assert crews(database) == {"J1": [("T1", "lead", 0.6), ("T2", "helper", 0.4)]}


def test_a_new_technician_ref_without_a_crew_becomes_the_lead_as_in_the_jobs_api(post, database):
    assert result(post(csv_text([job("J1", technicians="T1:lead:0.6;T2:helper:0.4")]))) == (1, 0, 0)

    assert result(post(csv_text([job("J1", technician_ref="T2")]))) == (0, 1, 0)  # the helper leads now
    assert crews(database) == {"J1": [("T2", "lead", 0.4), ("T1", "helper", 0.6)]}
    assert result(post(csv_text([job("J1", technician_ref="T5")]))) == (0, 1, 0)  # takes the lead's place
    assert crews(database) == {"J1": [("T5", "lead", 0.4), ("T1", "helper", 0.6)]}
    assert leads(database) == {"J1": "T5"}


def test_an_empty_technicians_cell_leaves_the_technician_ref_alone_on_the_job(post, database):
    assert result(post(csv_text([job("J1", technicians="T1:lead;T2")]))) == (1, 0, 0)

    assert result(post(csv_text([job("J1", technicians="")]))) == (0, 1, 0)
    assert crews(database) == {"J1": [("T1", "lead", 1.0)]}


# --- bad crews: refused whole, naming the row and the column --------------------------------

BAD_CREWS = {
    "shares that do not sum to 1": (
        {"technicians": "T1:lead:0.5;T2:helper:0.4"}, "technicians", "the shares sum to 0.9; they must sum to 1"),
    "unknown technician": (
        {"technicians": "T1:lead;T99"}, "technicians", "no technician 'T99' on file"),
    "lead missing": (
        {"technician_ref": "", "technicians": "T1;T2"}, "technicians", "no technician is the lead"),
    "lead doubled": (
        {"technicians": "T1:lead;T2:lead"}, "technicians", "only one technician can lead a job (T1 and T2 are"),
    "a ref listed twice": (
        {"technicians": "T1:lead;T2;T1"}, "technicians", "T1 is listed twice"),
    "bad share text": (
        {"technicians": "T1:lead:half;T2"}, "technicians", "T1's share 'half' is not a number"),
    "share above 1": (
        {"technicians": "T1:lead:1.5"}, "technicians", "T1's share must be above 0 and at most 1"),
    "unknown role": (
        {"technicians": "T1:boss;T2"}, "technicians", "T1's role 'boss' is not one of lead, helper"),
    "a share in the place of the role": (
        {"technicians": "T1:lead;T2:0.4"}, "technicians", "(a share without a role is written T2::0.4)"),
    "an empty item": (
        {"technicians": "T1:lead;;T2"}, "technicians", "item 2 has no technician"),
    "conflicting technician_ref": (
        {"technician_ref": "T2", "technicians": "T1:lead;T2"}, "technician_ref", "'T2' is not the lead of the crew"),
    "no technician at all": (
        {"technician_ref": "", "technicians": ""}, "technician_ref", "is required, or the crew in technicians"),
}  # fmt: skip


@pytest.mark.parametrize(("cells", "column", "message"), BAD_CREWS.values(), ids=BAD_CREWS.keys())
def test_a_bad_crew_is_refused_naming_its_row_and_column_and_nothing_is_written(post, database, cells, column, message):
    assert result(post(csv_text([job("J0", technicians="T1:lead;T2")]))) == (1, 0, 0)
    before = counts(database)

    response = post(csv_text([job("J0", technicians="T1:lead;T5"), job("J1", **{"technicians": "T2", **cells})]))

    [(row, named, text)] = row_errors(response)
    assert (row, named) == (3, column)
    assert message in text
    assert counts(database) == before
    assert crews(database)["J0"] == [("T1", "lead", 0.5), ("T2", "helper", 0.5)]


BAD_JSON_CREWS = {
    "an object with another key": ([{"ref": "T1", "role": "lead", "weight": 1}], "has weight; a member has only"),
    "an object without a ref": ([{"role": "lead"}, {"ref": "T2"}], "member 1 has no ref"),
    "a share as a word": ([{"ref": "T1", "role": "lead", "share": "half"}], "T1's share 'half' is not a number"),
    "a share as true": ([{"ref": "T1", "role": "lead", "share": True}], "T1's share True is not a number"),
    "a number in place of a member": ([7], "member 1 must be an object"),
    "a number in place of the crew": (7, "must be text such as T001:lead;T002"),
    "shares that do not sum to 1": ([{"ref": "T1", "role": "lead", "share": 0.3}, {"ref": "T2", "share": 0.3}],
                                    "the shares sum to 0.6"),
}  # fmt: skip


@pytest.mark.parametrize(("crew", "message"), BAD_JSON_CREWS.values(), ids=BAD_JSON_CREWS.keys())
def test_a_bad_crew_in_json_lines_is_refused_naming_its_line(post, database, crew, message):
    before = counts(database)
    rows = [{**job("J1"), "technicians": "T1"}, {**job("J2"), "technicians": crew}]

    response = post(jsonl_text(rows), content_type=JSONL)

    [(row, column, text)] = row_errors(response)
    assert (row, column) == (2, "technicians")
    assert message in text
    assert counts(database) == before


def test_every_bad_crew_of_a_file_is_reported(post, database):
    rows = [job("J1", technicians="T1;T2"), job("J2", technicians="T1:lead;T98;T99"), job("J3")]

    unknown = "on file; choose “Create technicians that are not on file yet” to add them"
    assert row_errors(post(csv_text(rows))) == [
        (2, "technicians", "no technician is the lead: mark one as lead (e.g. T001:lead;T002)"),
        (3, "technicians", f"no technician 'T98' {unknown}"),
        (3, "technicians", f"no technician 'T99' {unknown}"),
    ]
    assert counts(database)["jobs"] == 0


def test_another_teams_technician_in_a_managers_crew_reads_as_unknown(post, database, manager_headers):
    before = counts(database)

    response = post(csv_text([job("J1", technicians="T1:lead;T3")]), headers=manager_headers)

    assert row_errors(response) == [(2, "technicians", "no technician 'T3' among your teams' technicians")]
    assert counts(database) == before
    assert result(post(csv_text([job("J1", technicians="T1:lead;T2")]), headers=manager_headers)) == (1, 0, 0)


# --- through a column mapping ---------------------------------------------------------------

EXPORT = (
    "Job,Assigned employees,Type,State,Finished\n"
    "A-1,T1:lead;T2,plumbing,done,2026-03-02T10:40:00Z\n"
    "A-2,T2,hvac,done,2026-03-03T10:40:00Z\n"
)


def test_a_mapping_may_fill_the_crew_without_a_technician(client, admin_headers, people, database):
    mapping = {
        "fields": {
            "external_ref": {"kind": "column", "column": "Job"},
            "technicians": {"kind": "column", "column": "Assigned employees"},
            "category": {"kind": "column", "column": "Type"},
            "status": {"kind": "value_map", "column": "State", "values": {"done": "completed"}},
            "completed_at": {"kind": "column", "column": "Finished"},
        }
    }
    data = {"file": (io.BytesIO(EXPORT.encode()), "export.csv"), "mapping": json.dumps(mapping)}

    response = client.post(URL, data=data, headers=admin_headers)

    assert result(response) == (2, 0, 0)
    assert crews(database) == {"A-1": [("T1", "lead", 0.5), ("T2", "helper", 0.5)], "A-2": [("T2", "lead", 1.0)]}


def test_a_bad_crew_through_a_mapping_is_named_by_the_files_column(client, admin_headers, people, database):
    mapping = {
        "fields": {
            "external_ref": {"kind": "column", "column": "Job"},
            "technicians": {"kind": "column", "column": "Assigned employees"},
            "category": {"kind": "column", "column": "Type"},
            "status": {"kind": "fixed", "value": "completed"},
            "completed_at": {"kind": "column", "column": "Finished"},
        }
    }
    text = EXPORT.replace("T1:lead;T2", "T1;T2")
    data = {"file": (io.BytesIO(text.encode()), "export.csv"), "mapping": json.dumps(mapping)}

    response = client.post(URL, data=data, headers=admin_headers)

    message = "no technician is the lead: mark one as lead (e.g. T001:lead;T002)"
    assert row_errors(response) == [(2, "Assigned employees", message)]
    assert counts(database)["jobs"] == 0


def workbook(header: list[str], *rows: list[Any]) -> bytes:
    book = openpyxl.Workbook()
    for values in (header, *rows):
        book.active.append(values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_workbook_in_the_imports_own_columns_may_name_the_crew_alone(client, admin_headers, people, database):
    content = workbook(
        ["external_ref", "technicians", "category", "status", "completed_at"],
        ["J1", "T2:lead:0.75;T1:helper:0.25", "painting", "completed", datetime(2026, 3, 2, 10)],
        ["J2", "T1", "painting", "completed", datetime(2026, 3, 2, 12)],
    )

    response = client.post(URL, data={"file": (io.BytesIO(content), "jobs.xlsx")}, headers=admin_headers)

    assert result(response) == (2, 0, 0)
    assert crews(database) == {"J1": [("T2", "lead", 0.75), ("T1", "helper", 0.25)], "J2": [("T1", "lead", 1.0)]}


def test_a_workbook_without_a_technician_or_a_crew_column_is_refused_naming_the_column(client, admin_headers, people):
    content = workbook(["external_ref", "category", "status"], ["J1", "painting", "scheduled"])

    response = client.post(URL, data={"file": (io.BytesIO(content), "jobs.xlsx")}, headers=admin_headers)

    assert response.status_code == 422
    assert response.json["errors"]["missing_columns"] == ["technician_ref"]


def test_the_proposed_mapping_reads_a_crew_column_as_the_crew(client, admin_headers, people):
    for header in ("Crew", "Technicians", "Employees", "Assigned employees"):
        text = f"Job,{header},Type\nA-1,T1:lead;T2,plumbing\n"
        data = {"file": (io.BytesIO(text.encode()), "export.csv")}

        response = client.post(f"{URL}/describe", data=data, headers=admin_headers)

        assert response.status_code == 200, response.json
        assert response.json["proposal"]["fields"]["technicians"] == {"kind": "column", "column": header}
        assert "technician_ref" not in response.json["proposal"]["fields"]


def test_a_mapping_with_neither_the_technician_nor_the_crew_is_refused(client, admin_headers, people):
    mapping = {"fields": {"external_ref": {"kind": "column", "column": "Job"},
                          "category": {"kind": "column", "column": "Type"},
                          "status": {"kind": "fixed", "value": "completed"}}}  # fmt: skip
    data = {"file": (io.BytesIO(EXPORT.encode()), "export.csv"), "mapping": json.dumps(mapping)}

    response = client.post(URL, data=data, headers=admin_headers)

    assert response.status_code == 422
    assert response.json["errors"]["form"] == {
        "mapping.fields.technician_ref": ["choose where Technician comes from: every job needs it"]
    }


# --- the rules themselves ---------------------------------------------------------------------

refs = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-_.", min_size=1, max_size=12)


@st.composite
def valid_crews(draw: st.DrawFn) -> list[CrewMember[str]]:
    """A crew as a person may write it: distinct refs, one lead somewhere, some shares given or none."""
    members = draw(st.lists(refs, min_size=1, max_size=8, unique=True))
    lead = draw(st.integers(0, len(members) - 1))
    roles = ["lead" if index == lead else draw(st.sampled_from(["helper", None])) for index in range(len(members))]
    if len(members) == 1 and draw(st.booleans()):
        roles = [None]  # a crew of one leads without saying so
    if draw(st.booleans()):  # shares for all, in whole hundredths summing to 100
        cuts = sorted(draw(st.lists(st.integers(1, 99), min_size=len(members) - 1, max_size=len(members) - 1,
                                    unique=True)))  # fmt: skip
        hundredths = [high - low for low, high in zip([0, *cuts], [*cuts, 100], strict=True)]
        shares: list[float | None] = [value / 100 for value in hundredths]
    else:
        shares = [None] * len(members)
    return [CrewMember(ref, role, share) for ref, role, share in zip(members, roles, shares, strict=True)]


@settings(max_examples=300, deadline=None)
@given(valid_crews())
def test_a_settled_crew_written_out_and_read_back_is_the_same_crew(crew):
    settled = settle_crew(crew)
    again = settle_crew(parse_crew(format_crew(settled)))

    assert [(m.technician, m.role) for m in again] == [(m.technician, m.role) for m in settled]
    assert all(abs(a.share - b.share) < 1e-9 for a, b in zip(again, settled, strict=True))
    assert settled[0].role == "lead" and sum(1 for m in settled if m.role == "lead") == 1
    assert abs(sum(m.share for m in settled) - 1) < 1e-6
    assert {m.technician for m in settled} == {m.technician for m in crew}
    assert read_crew(format_crew(settled)) == again


def test_an_unreadable_crew_cell_says_why():
    with pytest.raises(CrewProblem, match="must be text such as"):
        read_crew({"ref": "T1"})
    with pytest.raises(CrewProblem, match="reference must be at most 64 characters"):
        read_crew("T" * 65)


def test_a_new_lead_swaps_with_the_old_or_takes_their_place():
    stored = ((1, "lead", 0.6), (2, "helper", 0.4))

    assert with_lead(stored, 1) == stored
    assert with_lead(stored, 2) == ((2, "lead", 0.4), (1, "helper", 0.6))
    assert with_lead(stored, 3) == ((3, "lead", 0.6), (2, "helper", 0.4))
    assert with_lead((), 3) == ((3, "lead", 1.0),)
