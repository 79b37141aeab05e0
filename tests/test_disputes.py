"""Callback disputes (issue #18): a callback counts against the original job's crew until a dispute of it
is accepted; the workflow end to end through the API, its audit entries, the first-time fix and the
drill-down's reason, bad input answered 4xx naming the field with nothing written, and who may do what.

The world: North (managed by mona) has Ada (user ada) and Bob; South (managed by sam) has Sue (user
sue). Ada completed O1 on 10 January; Bob went back on 20 January (C1, a callback of O1). O2 is Ada's
with Sue on its crew, called back by C2. P1 is a plain job of Ada's. S1 is Sue's alone, called back by
Ada (SC1). All on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from kpi_core.storage.models import AuditEntry, CallbackDispute, Job, JobAssignment, KpiDataVersion, Team, Technician

FTF = "quality.first_time_fix_rate"
JANUARY = {"start": "2026-01-01", "end": "2026-02-01"}


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)


def done(ref: str, technician: int, day: int, **extra) -> Job:
    return Job(
        external_ref=ref, technician_id=technician, category="plumbing", status="completed",
        scheduled_start=at(day, 8), completed_at=at(day), **extra,
    )  # fmt: skip


def booked(ref: str, technician: int, day: int, original: int, status: str = "scheduled") -> Job:
    return Job(
        external_ref=ref, technician_id=technician, category="plumbing", status=status,
        scheduled_start=at(day, 8), callback_of_id=original,
    )  # fmt: skip


@pytest.fixture
def world(database, make_user) -> SimpleNamespace:
    with database.session() as session:
        north, south = Team(name="North"), Team(name="South")
        session.add_all([north, south])
        session.flush()
        ada = Technician(external_ref="T-ADA", name="Ada", team_id=north.id)
        bob = Technician(external_ref="T-BOB", name="Bob", team_id=north.id)
        sue = Technician(external_ref="T-SUE", name="Sue", team_id=south.id)
        session.add_all([ada, bob, sue])
        session.flush()
        o1, p1, s1 = done("O1", ada.id, 10), done("P1", ada.id, 11), done("S1", sue.id, 12)
        o2 = done("O2", ada.id, 13)
        o2.assignments = [
            JobAssignment(technician_id=ada.id, role="lead", share=0.5),
            JobAssignment(technician_id=sue.id, role="helper", share=0.5),
        ]
        session.add_all([o1, p1, s1, o2])
        session.flush()
        c1, c2, sc1 = booked("C1", bob.id, 20, o1.id), booked("C2", bob.id, 21, o2.id), booked("SC1", ada.id, 22, s1.id)
        cancelled = booked("CX", bob.id, 23, p1.id, status="cancelled")
        session.add_all([c1, c2, sc1, cancelled])
        session.flush()
        ids = SimpleNamespace(
            north=north.id, south=south.id, ada=ada.id, bob=bob.id, sue=sue.id, o1=o1.id, o2=o2.id, p1=p1.id,
            s1=s1.id, c1=c1.id, c2=c2.id, sc1=sc1.id, cancelled=cancelled.id,
        )  # fmt: skip
    make_user("manager", username="mona", teams=("North",))
    make_user("manager", username="sam", teams=("South",))
    make_user("technician", username="ada", technician_ref="T-ADA")
    make_user("technician", username="sue", technician_ref="T-SUE")
    return ids


@pytest.fixture
def ada(world, login) -> dict[str, str]:
    return login("ada")


@pytest.fixture
def mona(world, login) -> dict[str, str]:
    return login("mona")


def dispute(client, headers, job: int, reason: str = "customer_damage", comment: str | None = "Dog chewed the pipe"):
    body = {"reason": reason, **({"comment": comment} if comment is not None else {})}
    return client.post(f"/api/v1/jobs/{job}/disputes", json=body, headers=headers)


def decide(client, headers, dispute_id: int, decision: str, note: str | None = None):
    body = {"decision": decision, **({"note": note} if note is not None else {})}
    return client.post(f"/api/v1/disputes/{dispute_id}/decision", json=body, headers=headers)


def ftf(client, headers, technician: int) -> tuple[float, float]:
    response = client.get(
        "/api/v1/kpis/values",
        query_string={**JANUARY, "kpi": FTF, "group_by": "technician", "technician": technician},
        headers=headers,
    )
    assert response.status_code == 200, response.json
    (row,) = response.json
    return row["numerator"], row["denominator"]


def drilled(client, headers, technician: int) -> dict[str, dict]:
    query = {"period_start": "2026-01-01", "group_by": "technician", "group_id": str(technician), "page_size": 100}
    response = client.get(f"/api/v1/kpis/{FTF}/drilldown", query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return {row["external_ref"]: row for row in response.json}


def audit_of(database, dispute_id: int) -> list[AuditEntry]:
    with database.session(write=False) as session:
        mine = (AuditEntry.entity == "callback_dispute", AuditEntry.entity_id == str(dispute_id))
        return list(session.scalars(select(AuditEntry).where(*mine).order_by(AuditEntry.id)))


def written(database) -> tuple[int, int]:
    """(disputes, audit entries) stored."""
    with database.engine.connect() as connection:
        return (
            connection.scalar(select(func.count()).select_from(CallbackDispute)),
            connection.scalar(select(func.count()).select_from(AuditEntry)),
        )


def january_version(database) -> int:
    with database.engine.connect() as connection:
        return connection.scalar(select(KpiDataVersion.version).where(KpiDataVersion.month == "2026-01")) or 0


# --- the workflow, end to end ------------------------------------------------------------------------


def test_an_accepted_dispute_takes_the_callback_out_of_the_first_time_fix_with_its_reason(
    client, database, world, ada, mona
):
    assert ftf(client, ada, world.ada) == (1, 3)  # O1 and O2 called back, P1 fixed
    before = drilled(client, ada, world.ada)["O1"]
    assert (before["outcome"], before["reason"]) == ("denominator_only", "called_back")

    opened = dispute(client, ada, world.c1)
    assert opened.status_code == 201, opened.json
    expected = {
        "callback_job_id": world.c1, "callback_ref": "C1", "original_job_id": world.o1, "original_ref": "O1",
        "technician": "Ada", "crew": ["Ada"], "reason": "customer_damage", "comment": "Dog chewed the pipe",
        "status": "open", "status_label": "Waiting for a manager's decision", "opened_by": "ada",
        "decided_by": None, "decided_at": None, "decision_note": None,
    }  # fmt: skip
    assert {name: opened.json[name] for name in expected} == expected
    assert ftf(client, ada, world.ada) == (1, 3), "an open dispute changes nothing yet"

    queue = client.get("/api/v1/disputes", query_string={"status": "open", "sort": "opened_at"}, headers=mona)
    assert [item["id"] for item in queue.json] == [opened.json["id"]]
    version = january_version(database)

    accepted = decide(client, mona, opened.json["id"], "accept", "The customer's dog, photo on file")
    assert accepted.status_code == 200, accepted.json
    assert (accepted.json["status"], accepted.json["decided_by"]) == ("accepted", "mona")
    assert accepted.json["decision_note"] == "The customer's dog, photo on file"

    assert january_version(database) > version, "the original's month is recomputed"
    assert ftf(client, ada, world.ada) == (2, 3)
    after = drilled(client, ada, world.ada)["O1"]
    assert (after["outcome"], after["numerator"], after["reason"]) == ("numerator", 1, "callback_disputed")
    assert "disputed" in after["reason_label"]
    assert client.get("/api/v1/disputes", query_string={"status": "open"}, headers=mona).json == []


def test_every_step_is_audited_with_who_and_what_changed(client, database, world, ada, mona):
    opened = dispute(client, ada, world.c1, "other", "The new owner moved the sink")
    decide(client, mona, opened.json["id"], "accept")

    entries = audit_of(database, opened.json["id"])

    assert [(entry.action, entry.username) for entry in entries] == [("open", "ada"), ("accept", "mona")]
    assert entries[0].changes["status"] == [None, "open"]
    assert entries[0].changes["reason"] == [None, "other"]
    assert entries[0].changes["callback_job_id"] == [None, world.c1]
    assert entries[0].changes["original_job_id"] == [None, world.o1]
    assert entries[1].changes["status"] == ["open", "accepted"]
    assert set(entries[1].changes) == {"status", "decided_by_id", "decided_at"}


def test_the_disputes_are_shown_on_the_callback_and_on_the_original_job(client, world, ada, mona):
    opened = dispute(client, ada, world.c1)
    decide(client, mona, opened.json["id"], "reject", "Bob found a loose joint: our fitting")

    for job in (world.c1, world.o1):
        listed = client.get(f"/api/v1/jobs/{job}/disputes", headers=ada)
        assert listed.status_code == 200, listed.json
        assert [(item["id"], item["status"]) for item in listed.json] == [(opened.json["id"], "rejected")]
    assert client.get(f"/api/v1/jobs/{world.p1}/disputes", headers=ada).json == []


def test_a_technicians_own_list_shows_their_disputes_and_their_state(client, world, ada, mona):
    first = dispute(client, ada, world.c1)
    decide(client, mona, first.json["id"], "accept")
    dispute(client, ada, world.c2, "part_failure", None)

    mine = client.get("/api/v1/disputes", query_string={"technician": world.ada}, headers=ada)

    assert [(item["original_ref"], item["status"]) for item in mine.json] == [("O2", "open"), ("O1", "accepted")]
    assert mine.json[0]["reason_label"] == "A part failed, not the way it was fitted"


def test_a_rejected_dispute_keeps_the_callback_counted_and_it_may_be_disputed_again(client, world, ada, mona):
    opened = dispute(client, ada, world.c1)
    rejected = decide(client, mona, opened.json["id"], "reject", "Same leak as before")

    assert rejected.json["status"] == "rejected"
    assert ftf(client, ada, world.ada) == (1, 3)
    again = dispute(client, ada, world.c1, "part_failure", "The valve maker recalled the batch")
    assert again.status_code == 201, again.json


def test_the_callbacks_of_a_job_say_whether_they_may_be_disputed(client, world, ada):
    before = client.get("/api/v1/callbacks", query_string={"original": [world.o1, world.p1]}, headers=ada)
    assert before.status_code == 200, before.json
    assert [(item["external_ref"], item["may_dispute"]) for item in before.json] == [("C1", True), ("CX", False)]

    opened = dispute(client, ada, world.c1)
    (after,) = client.get("/api/v1/callbacks", query_string={"original": world.o1}, headers=ada).json

    assert after["may_dispute"] is False
    assert [item["id"] for item in after["disputes"]] == [opened.json["id"]]


# --- bad input: 4xx naming the field, nothing written --------------------------------------------------


def test_a_dispute_of_a_job_that_is_no_callback_is_422_naming_the_job(client, database, world, ada):
    stored = written(database)

    response = dispute(client, ada, world.p1)

    assert response.status_code == 422, response.json
    assert "job_id" in response.json["errors"]["path"]
    assert "not a callback" in response.json["errors"]["path"]["job_id"][0]
    assert written(database) == stored


def test_a_second_open_dispute_of_a_callback_is_409_and_writes_nothing(client, database, world, ada, mona):
    dispute(client, ada, world.c1)
    stored = written(database)

    response = dispute(client, mona, world.c1, "new_problem", None)

    assert response.status_code == 409, response.json
    assert "open dispute" in response.json["errors"]["json"]["job_id"][0]
    assert written(database) == stored


def test_a_callback_whose_dispute_was_accepted_cannot_be_disputed_again(client, database, world, ada, mona):
    opened = dispute(client, ada, world.c1)
    decide(client, mona, opened.json["id"], "accept")
    stored = written(database)

    response = dispute(client, ada, world.c1, "new_problem", None)

    assert response.status_code == 409, response.json
    assert "accepted already" in response.json["errors"]["json"]["job_id"][0]
    assert written(database) == stored


@pytest.mark.parametrize(
    ("body", "location", "field"),
    [
        ({"reason": "bad_luck"}, "json", "reason"),
        ({}, "json", "reason"),
        ({"reason": "other"}, "json", "comment"),
        ({"reason": "other", "comment": "   "}, "json", "comment"),
        ({"reason": "new_problem", "comment": "x" * 2001}, "json", "comment"),
        ({"reason": "new_problem", "why": "no"}, "json", "why"),
    ],
)
def test_a_bad_dispute_is_422_naming_the_field(client, database, world, ada, body, location, field):
    stored = written(database)

    response = client.post(f"/api/v1/jobs/{world.c1}/disputes", json=body, headers=ada)

    assert response.status_code == 422, response.json
    assert field in response.json["errors"][location]
    assert written(database) == stored


def test_a_cancelled_callback_cannot_be_disputed(client, database, world, ada):
    stored = written(database)

    response = dispute(client, ada, world.cancelled)

    assert response.status_code == 422, response.json
    assert "cancelled" in response.json["errors"]["path"]["job_id"][0]
    assert written(database) == stored


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"decision": "maybe"}, "decision"),
        ({"decision": "reject"}, "note"),
        ({"decision": "reject", "note": " "}, "note"),
    ],
)
def test_a_bad_decision_is_422_naming_the_field(client, database, world, ada, mona, body, field):
    opened = dispute(client, ada, world.c1)
    stored = written(database)

    response = client.post(f"/api/v1/disputes/{opened.json['id']}/decision", json=body, headers=mona)

    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]
    assert written(database) == stored


def test_a_decided_dispute_stays_decided(client, database, world, ada, mona):
    opened = dispute(client, ada, world.c1)
    decide(client, mona, opened.json["id"], "accept")
    stored = written(database)

    response = decide(client, mona, opened.json["id"], "reject", "Changed my mind")

    assert response.status_code == 409, response.json
    assert "decision" in response.json["errors"]["json"]
    assert written(database) == stored


def test_the_database_refuses_a_second_open_dispute_of_a_callback(database, world):
    with database.session() as session:
        session.add(CallbackDispute(callback_job_id=world.c1, original_job_id=world.o1, reason="new_problem"))

    with pytest.raises(IntegrityError), database.session() as session:
        session.add(CallbackDispute(callback_job_id=world.c1, original_job_id=world.o1, reason="part_failure"))


# --- who may do what ----------------------------------------------------------------------------------


def test_a_technician_never_decides_a_dispute(client, world, ada):
    opened = dispute(client, ada, world.c1)

    assert decide(client, ada, opened.json["id"], "accept").status_code == 403


def test_a_technician_off_the_crew_sees_and_disputes_nothing_of_the_job(client, database, world, login):
    sue = login("sue")
    opened = dispute(client, login("ada"), world.c1)
    stored = written(database)

    assert dispute(client, sue, world.c1).status_code == 404
    assert client.get(f"/api/v1/disputes/{opened.json['id']}", headers=sue).status_code == 404
    assert client.get(f"/api/v1/jobs/{world.c1}/disputes", headers=sue).status_code == 404
    assert client.get("/api/v1/disputes", headers=sue).json == []
    assert client.get("/api/v1/callbacks", query_string={"original": world.o1}, headers=sue).json == []
    assert written(database) == stored


def test_a_manager_of_another_team_can_neither_see_nor_decide(client, database, world, ada, login):
    opened = dispute(client, ada, world.c1)
    sam = login("sam")

    assert decide(client, sam, opened.json["id"], "accept").status_code == 404
    assert client.get("/api/v1/disputes", headers=sam).json == []


def test_a_helper_on_the_crew_may_dispute_and_their_manager_decide(client, world, login):
    opened = dispute(client, login("sue"), world.c2, "new_problem", None)
    assert opened.status_code == 201, opened.json
    assert opened.json["crew"] == ["Ada", "Sue"]

    decided = decide(client, login("sam"), opened.json["id"], "accept")

    assert decided.status_code == 200, decided.json


def test_a_callback_of_another_crews_job_is_seen_but_not_disputed(client, database, world, ada):
    stored = written(database)

    response = dispute(client, ada, world.sc1)  # Ada went back to Sue's job S1

    assert response.status_code == 422, response.json
    assert "another crew's job" in response.json["errors"]["path"]["job_id"][0]
    assert written(database) == stored


def test_a_manager_may_open_a_dispute_for_their_team_and_an_admin_decide_it(client, world, mona, admin_headers):
    opened = dispute(client, mona, world.c1, "part_failure", None)
    assert (opened.status_code, opened.json["opened_by"]) == (201, "mona")

    decided = decide(client, admin_headers, opened.json["id"], "reject", "Not a part: the fitting")

    assert (decided.json["status"], decided.json["decided_by"]) == ("rejected", "admin")
