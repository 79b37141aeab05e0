"""No existence oracle: a record outside the caller's scope reads exactly as one that does not exist.

Each "alike" test sends the same request twice: once while the record exists in another team
(or belongs to another technician), and once after it has been deleted. Status and the whole JSON
body (but its request_id) must be the same. The one thing that cannot read as missing is a unique
reference someone else already holds: that answer is the same neutral one whoever holds it
(docs/permissions.md, "What a caller outside a record's scope sees").

Each test runs on SQLite and on PostgreSQL (one app per module and engine: conftest.py).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import delete, func, select, update

from kpi_core.storage.models import AuditEntry, Evaluation, Feedback, Job, JobAssignment, Team, Technician

JOBS = "/api/v1/jobs"
TECHNICIANS = "/api/v1/technicians"
FEEDBACK = "/api/v1/feedback"
EVALUATIONS = "/api/v1/evaluations"
IMPORT_JOBS = "/api/v1/imports/jobs"
IMPORT_FEEDBACK = "/api/v1/imports/feedback"
PERIOD = {"period_start": "2026-10-01", "period_end": "2026-10-31"}
COMPLETE = {  # every required field of the built-in plugins' evaluation form
    "quality.workmanship": 5,
    "quality.cleanliness": 4,
    "quality.communication": 3,
    "quality.safety": 4,
    "timeliness.punctuality": 2,
    "timeliness.paperwork_on_time": True,
}
TAKEN = "is already in use; choose another"


# --- the world: North (managed by mona) and South -----------------------------------------------


@pytest.fixture
def world(database, make_user) -> SimpleNamespace:
    """North: technicians T1 (user tess), T2; jobs N1 (T1), N2 (T2). South: technician T3, job S1.

    N2 and S1 have feedback. mona manages North; tess is technician T1.
    """
    with database.session() as session:
        north, south = Team(name="North"), Team(name="South")
        session.add_all([north, south])
        session.flush()
        t1, t2 = (
            Technician(external_ref="T1", name="Tess", team_id=north.id),
            Technician(external_ref="T2", name="Tom", team_id=north.id),
        )
        t3 = Technician(external_ref="T3", name="Sue", team_id=south.id)
        session.add_all([t1, t2, t3])
        session.flush()
        common = {"category": "plumbing", "status": "scheduled"}
        n1 = Job(external_ref="N1", technician_id=t1.id, **common)
        n2 = Job(external_ref="N2", technician_id=t2.id, **common)
        s1 = Job(external_ref="S1", technician_id=t3.id, **common)
        session.add_all([n1, n2, s1])
        session.flush()
        received = {"rating": 4, "received_at": datetime(2026, 3, 2, 12, tzinfo=UTC)}
        n2_feedback, s1_feedback = Feedback(job_id=n2.id, **received), Feedback(job_id=s1.id, **received)
        session.add_all([n2_feedback, s1_feedback])
        session.flush()
        ids = SimpleNamespace(
            north=north.id, south=south.id, t1=t1.id, t2=t2.id, t3=t3.id, n1=n1.id, n2=n2.id, s1=s1.id,
            n2_feedback=n2_feedback.id, s1_feedback=s1_feedback.id,
        )  # fmt: skip
    make_user("manager", username="mona", teams=("North",))
    make_user("technician", username="tess", technician_ref="T1")
    return ids


@pytest.fixture
def mona(world, login) -> dict[str, str]:
    return login("mona")


@pytest.fixture
def tess(world, login) -> dict[str, str]:
    return login("tess")


@pytest.fixture
def evaluations(client, admin_headers, world) -> SimpleNamespace:
    """A draft of T1's and a submitted evaluation of T2's."""

    def create(technician_id: int, status: str) -> int:
        body = {"technician_id": technician_id, **PERIOD, "status": status, "answers": COMPLETE}
        response = client.post(EVALUATIONS, json=body, headers=admin_headers)
        assert response.status_code == 201, response.json
        return response.json["id"]

    return SimpleNamespace(t1_draft=create(world.t1, "draft"), t2=create(world.t2, "submitted"))


def vanish(database, model, record_id: int) -> None:
    """Delete a record (and what refers to it), so the same request can be asked of one that does not exist."""
    with database.session() as session:
        if model is Technician:
            for job_id in session.scalars(select(Job.id).where(Job.technician_id == record_id)).all():
                _delete_job(session, job_id)
            # Off the crews they help on: those jobs stay, as the lead's.
            session.execute(delete(JobAssignment).where(JobAssignment.technician_id == record_id))
            session.execute(delete(Evaluation).where(Evaluation.technician_id == record_id))
        elif model is Job:
            _delete_job(session, record_id)
        session.execute(delete(model).where(model.id == record_id))


def _delete_job(session, job_id: int) -> None:
    session.execute(delete(Feedback).where(Feedback.job_id == job_id))
    session.execute(update(Job).where(Job.callback_of_id == job_id).values(callback_of_id=None))
    session.execute(delete(Job).where(Job.id == job_id))


def answer(response) -> tuple[int, dict]:
    """Status and body of an answer, without the request_id that differs every time."""
    body = dict(response.json or {})
    body.pop("request_id", None)
    return response.status_code, body


def counts(database) -> dict[str, int]:
    with database.engine.connect() as connection:
        models = (Job, Technician, Feedback, Evaluation, AuditEntry)
        return {model.__tablename__: connection.scalar(select(func.count()).select_from(model)) for model in models}


def etag(client, url: str, headers: dict[str, str]) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.json
    return response.headers["ETag"]


def patch(client, url: str, body: dict, headers: dict[str, str]):
    return client.patch(url, json=body, headers={**headers, "If-Match": etag(client, url, headers)})


# --- import files ------------------------------------------------------------------------------


def job_row(ref: str = "J1", **cells: str) -> dict[str, str]:
    row = {
        "external_ref": ref, "technician_ref": "T1", "customer_ref": "", "customer_name": "",
        "category": "plumbing", "status": "scheduled", "scheduled_start": "2026-03-02T09:00:00Z",
        "scheduled_end": "2026-03-02T11:00:00Z", "callback_of": "",
    }  # fmt: skip
    return {**row, **cells}


def feedback_row(job_ref: str) -> dict[str, str]:
    return {"job_ref": job_ref, "rating": "2", "nps": "", "comment": "late", "received_at": "2026-03-03T10:00:00Z"}


def as_file(rows: list[dict], fmt: str) -> tuple[str, str]:
    if fmt == "jsonl":
        return "".join(json.dumps(row) + "\n" for row in rows), "application/x-ndjson"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue(), "text/csv"


def send(client, url: str, rows: list[dict], fmt: str, headers: dict[str, str], **query):
    text, content_type = as_file(rows, fmt)
    return client.post(url, data=text, query_string=query, headers={**headers, "Content-Type": content_type})


FORMATS = pytest.mark.parametrize("fmt", ["csv", "jsonl"])


# --- imports ------------------------------------------------------------------------------------


@FORMATS
@pytest.mark.parametrize("create_technicians", [0, 1])
def test_import_row_for_another_teams_technician_reads_as_no_such_technician(
    client, mona, world, database, fmt, create_technicians
):
    rows = [job_row("J1"), job_row("J2", technician_ref="T3")]
    before = counts(database)

    outside = answer(send(client, IMPORT_JOBS, rows, fmt, mona, create_technicians=create_technicians))
    assert counts(database) == before
    vanish(database, Technician, world.t3)
    missing = answer(send(client, IMPORT_JOBS, rows, fmt, mona, create_technicians=create_technicians))

    assert outside[0] == 422
    assert outside == missing


@FORMATS
def test_import_row_for_a_teamless_technician_reads_as_no_such_technician(client, mona, world, database, fmt):
    # A technician without a team is outside every manager's scope, like another team's.
    with database.session() as session:
        session.add(Technician(external_ref="T4", name="Loner"))
    rows = [job_row("J1", technician_ref="T4")]

    outside = answer(send(client, IMPORT_JOBS, rows, fmt, mona))
    with database.session() as session:
        session.execute(delete(Technician).where(Technician.external_ref == "T4"))
    missing = answer(send(client, IMPORT_JOBS, rows, fmt, mona))

    assert outside[0] == 422
    assert outside == missing


@FORMATS
def test_import_row_whose_reference_another_team_holds_says_only_that_it_is_in_use(client, mona, world, database, fmt):
    with database.session(write=False) as session:
        s1_before = session.execute(select(Job.technician_id, Job.updated_at).where(Job.id == world.s1)).one()
    before = counts(database)

    response = send(client, IMPORT_JOBS, [job_row("J1"), job_row("S1")], fmt, mona)

    assert response.status_code == 422
    assert response.json["errors"]["rows"] == [{"row": 2 if fmt == "jsonl" else 3, "column": "external_ref",
                                                "message": TAKEN}]  # fmt: skip
    assert "South" not in response.json["message"] and "team" not in response.json["message"]
    assert counts(database) == before
    with database.session(write=False) as session:
        assert session.execute(select(Job.technician_id, Job.updated_at).where(Job.id == world.s1)).one() == s1_before


@FORMATS
def test_import_in_use_answer_is_the_one_the_jobs_api_gives(client, mona, world, fmt):
    imported = send(client, IMPORT_JOBS, [job_row("S1")], fmt, mona).json["errors"]["rows"][0]["message"]
    posted = client.post(JOBS, json={"external_ref": "S1", "technician_id": world.t1, "category": "x"}, headers=mona)

    assert posted.json["errors"]["json"]["external_ref"] == [imported]


@FORMATS
def test_import_callback_to_another_teams_job_reads_as_no_such_job(client, mona, world, database, fmt):
    rows = [job_row("J1", callback_of="S1")]

    outside = answer(send(client, IMPORT_JOBS, rows, fmt, mona))
    vanish(database, Job, world.s1)
    missing = answer(send(client, IMPORT_JOBS, rows, fmt, mona))

    assert outside[0] == 422
    assert outside == missing


@FORMATS
def test_feedback_import_for_another_teams_job_reads_as_no_such_job(client, mona, world, database, fmt):
    rows = [feedback_row("N1"), feedback_row("S1")]
    before = counts(database)

    outside = answer(send(client, IMPORT_FEEDBACK, rows, fmt, mona))
    assert counts(database) == before
    vanish(database, Job, world.s1)
    missing = answer(send(client, IMPORT_FEEDBACK, rows, fmt, mona))

    assert outside[0] == 422
    assert outside == missing


# --- creates and updates over the API ----------------------------------------------------------


def test_new_job_with_a_reference_another_team_holds_gets_the_answer_of_one_own_team_holds(client, mona, world):
    def post(ref: str):
        return answer(client.post(JOBS, json={"external_ref": ref, "technician_id": world.t1, "category": "x"},
                                  headers=mona))  # fmt: skip

    assert post("S1") == post("N2") == (
        409,
        {"code": 409, "status": "Conflict", "message": f"external_ref: {TAKEN}",
         "errors": {"json": {"external_ref": [TAKEN]}}},
    )  # fmt: skip


def test_job_renamed_to_a_reference_another_team_holds_gets_the_answer_of_one_own_team_holds(
    client, mona, world, database
):
    url = f"{JOBS}/{world.n1}"
    before = counts(database)

    outside = answer(patch(client, url, {"external_ref": "S1"}, mona))
    inside = answer(patch(client, url, {"external_ref": "N2"}, mona))

    assert outside == inside
    assert outside[0] == 409 and outside[1]["message"] == f"external_ref: {TAKEN}"
    assert counts(database) == before


def test_new_technician_with_a_reference_another_team_holds_gets_the_answer_of_one_own_team_holds(client, mona, world):
    def post(ref: str):
        return answer(client.post(TECHNICIANS, json={"external_ref": ref, "name": "New", "team_id": world.north},
                                  headers=mona))  # fmt: skip

    assert post("T3") == post("T2")
    assert post("T3")[0] == 409 and post("T3")[1]["errors"] == {"json": {"external_ref": [TAKEN]}}


def test_technician_renamed_to_a_reference_another_team_holds_gets_the_answer_of_one_own_team_holds(
    client, mona, world
):
    url = f"{TECHNICIANS}/{world.t1}"

    outside = answer(patch(client, url, {"external_ref": "T3"}, mona))
    inside = answer(patch(client, url, {"external_ref": "T2"}, mona))

    assert outside == inside
    assert outside[0] == 409 and outside[1]["message"] == f"external_ref: {TAKEN}"


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/customers", {"external_ref": "C1", "name": "Again"}),
        ("/api/v1/teams", {"name": "South"}),
    ],
)
def test_every_taken_unique_value_gets_the_same_neutral_answer(client, admin_headers, world, url, body):
    if url.endswith("customers"):
        assert client.post(url, json=body, headers=admin_headers).status_code == 201
    field = next(iter(body))

    response = client.post(url, json=body, headers=admin_headers)

    assert answer(response) == (
        409,
        {"code": 409, "status": "Conflict", "message": f"{field}: {TAKEN}", "errors": {"json": {field: [TAKEN]}}},
    )


def test_new_job_for_another_teams_technician_reads_as_no_such_technician(client, mona, world, database):
    body = {"external_ref": "J9", "technician_id": world.t3, "category": "x"}

    outside = answer(client.post(JOBS, json=body, headers=mona))
    vanish(database, Technician, world.t3)

    assert outside[0] == 422
    assert outside == answer(client.post(JOBS, json=body, headers=mona))


def test_job_made_a_callback_of_another_teams_job_reads_as_no_such_job(client, mona, world, database):
    url = f"{JOBS}/{world.n1}"

    outside = answer(patch(client, url, {"callback_of_id": world.s1}, mona))
    vanish(database, Job, world.s1)

    assert outside[0] == 422
    assert outside == answer(patch(client, url, {"callback_of_id": world.s1}, mona))


def test_feedback_on_another_teams_job_reads_as_no_such_job(client, mona, world, database):
    vanish(database, Feedback, world.s1_feedback)
    body = {"job_id": world.s1, "rating": 3, "received_at": "2026-03-03T10:00:00Z"}

    outside = answer(client.post(FEEDBACK, json=body, headers=mona))
    vanish(database, Job, world.s1)

    assert outside[0] == 422
    assert outside == answer(client.post(FEEDBACK, json=body, headers=mona))


def test_evaluation_of_another_teams_technician_reads_as_no_such_technician(client, mona, world, database):
    body = {"technician_id": world.t3, **PERIOD}
    before = counts(database)

    outside = answer(client.post(EVALUATIONS, json=body, headers=mona))
    assert counts(database) == before
    vanish(database, Technician, world.t3)

    assert outside[0] == 422
    assert outside == answer(client.post(EVALUATIONS, json=body, headers=mona))


def test_draft_moved_to_another_teams_technician_reads_as_no_such_technician(
    client, mona, world, database, evaluations
):
    url = f"{EVALUATIONS}/{evaluations.t1_draft}"

    outside = answer(patch(client, url, {"technician_id": world.t3}, mona))
    vanish(database, Technician, world.t3)

    assert outside[0] == 422
    assert outside == answer(patch(client, url, {"technician_id": world.t3}, mona))


@pytest.mark.parametrize(
    ("method", "path", "model", "key"),
    [
        ("get", JOBS, Job, "s1"),
        ("patch", JOBS, Job, "s1"),
        ("delete", JOBS, Job, "s1"),
        ("get", TECHNICIANS, Technician, "t3"),
        ("patch", TECHNICIANS, Technician, "t3"),
        ("get", FEEDBACK, Feedback, "s1_feedback"),
        ("patch", FEEDBACK, Feedback, "s1_feedback"),
    ],
)
def test_another_teams_record_by_id_reads_as_missing_to_a_manager(
    client, mona, world, database, method, path, model, key
):
    url = f"{path}/{getattr(world, key)}"

    def ask():
        if method == "get":
            return answer(client.get(url, headers=mona))
        # Any ETag: the record is looked up (in scope) before the precondition is checked.
        return answer(getattr(client, method)(url, json={}, headers={**mona, "If-Match": '"x"'}))

    outside = ask()
    vanish(database, model, getattr(world, key))

    assert outside[0] == 404
    assert outside == ask()


# --- crews: a job is seen through any member of its crew, changed by its lead's managers ---------


@pytest.fixture
def crew_job(world, database) -> int:
    """X1: Sue (T3, South) leads, Tom (T2, North) helps. mona sees it through Tom; tess is not on it."""
    with database.session() as session:
        job = Job(external_ref="X1", technician_id=world.t3, category="plumbing", status="scheduled")
        job.assignments = [
            JobAssignment(technician_id=world.t3, role="lead", share=0.5),
            JobAssignment(technician_id=world.t2, role="helper", share=0.5),
        ]
        session.add(job)
        session.flush()
        return job.id


def test_crew_with_another_teams_technician_reads_as_no_such_technician(client, mona, world, database):
    crew = [{"technician_id": world.t1, "role": "lead"}, {"technician_id": world.t3}]
    body = {"external_ref": "J9", "category": "x", "technicians": crew}
    before = counts(database)

    outside = answer(client.post(JOBS, json=body, headers=mona))
    assert counts(database) == before
    vanish(database, Technician, world.t3)

    assert outside[0] == 422 and list(outside[1]["errors"]["json"]) == ["technicians[1].technician_id"]
    assert outside == answer(client.post(JOBS, json=body, headers=mona))


def test_crew_change_to_another_teams_technician_reads_as_no_such_technician(client, mona, world, database):
    url = f"{JOBS}/{world.n1}"
    crew = [{"technician_id": world.t1, "role": "lead"}, {"technician_id": world.t3}]

    outside = answer(patch(client, url, {"technicians": crew}, mona))
    vanish(database, Technician, world.t3)

    assert outside[0] == 422
    assert outside == answer(patch(client, url, {"technicians": crew}, mona))


def test_a_job_one_of_the_managers_technicians_helps_on_is_seen_but_not_changed(client, mona, world, crew_job):
    url = f"{JOBS}/{crew_job}"

    seen = client.get(url, headers=mona)
    changed = client.patch(url, json={"category": "hvac"}, headers={**mona, "If-Match": seen.headers["ETag"]})

    assert seen.status_code == 200 and [m["technician_id"] for m in seen.json["technicians"]] == [world.t3, world.t2]
    assert changed.status_code == 403
    assert [
        job["external_ref"] for job in client.get(JOBS, query_string={"technician": world.t3}, headers=mona).json
    ] == ["X1"]


def test_a_crew_job_the_technician_is_not_on_reads_as_missing_to_them(client, tess, world, database, crew_job):
    url = f"{JOBS}/{crew_job}"

    outside = answer(client.get(url, headers=tess))
    listed = client.get(JOBS, headers=tess).json
    vanish(database, Job, crew_job)

    assert outside[0] == 404
    assert outside == answer(client.get(url, headers=tess))
    assert [job["external_ref"] for job in listed] == ["N1"]


# --- a technician against another technician's records ----------------------------------------


@pytest.mark.parametrize(
    ("path", "model", "key"),
    [(JOBS, Job, "n2"), (TECHNICIANS, Technician, "t2"), (FEEDBACK, Feedback, "n2_feedback")],
)
def test_another_technicians_record_reads_as_missing_to_a_technician(client, tess, world, database, path, model, key):
    url = f"{path}/{getattr(world, key)}"

    outside = answer(client.get(url, headers=tess))
    vanish(database, model, getattr(world, key))

    assert outside[0] == 404
    assert outside == answer(client.get(url, headers=tess))


def test_another_technicians_evaluation_reads_as_missing_to_a_technician(client, tess, world, database, evaluations):
    url = f"{EVALUATIONS}/{evaluations.t2}"

    outside = answer(client.get(url, headers=tess))
    vanish(database, Evaluation, evaluations.t2)

    assert outside[0] == 404
    assert outside == answer(client.get(url, headers=tess))


def test_another_technicians_kpi_drilldown_reads_as_missing_to_a_technician(client, tess, world, database):
    url = "/api/v1/kpis/quality.first_time_fix_rate/drilldown"
    query = {"group_by": "technician", "group_id": world.t2, "period": "month", "period_start": "2026-03-01"}

    outside = answer(client.get(url, query_string=query, headers=tess))
    vanish(database, Technician, world.t2)

    assert outside[0] == 404
    assert outside == answer(client.get(url, query_string=query, headers=tess))


@pytest.mark.parametrize("path", [JOBS, FEEDBACK, EVALUATIONS])
def test_filtering_on_another_technician_lists_what_a_missing_one_lists(client, tess, world, database, path):
    outside = client.get(path, query_string={"technician": world.t2}, headers=tess)
    vanish(database, Technician, world.t2)
    missing = client.get(path, query_string={"technician": world.t2}, headers=tess)

    assert (outside.status_code, outside.json) == (missing.status_code, missing.json) == (200, [])
