"""/api/v1/jobs: create, read, change, delete and list jobs, scoped to what each role may see,
with every validation rule, ETag concurrency, company-zone timestamps and an audit entry per change."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from kpi_core.accounts.scope import UNSCOPED
from kpi_core.audit.trail import Actor
from kpi_core.errors import Invalid
from kpi_core.records import jobs
from kpi_core.storage.models import AuditEntry, Customer, Feedback, Job, Team, Technician
from kpi_core.storage.types import utcnow
from kpi_core.web.app import create_app

JOBS = "/api/v1/jobs"


@pytest.fixture
def world(database) -> SimpleNamespace:
    """Teams North and South; technicians n1, n2 (North) and s1 (South); one customer."""
    with database.session() as session:
        north, south = Team(name="North"), Team(name="South")
        session.add_all([north, south])
        session.flush()
        techs = {
            "n1": Technician(external_ref="T-N1", name="Nora", team_id=north.id),
            "n2": Technician(external_ref="T-N2", name="Ned", team_id=north.id),
            "s1": Technician(external_ref="T-S1", name="Sam", team_id=south.id),
        }
        customer = Customer(external_ref="C-1", name="Ada Lovelace")
        session.add_all([*techs.values(), customer])
        session.flush()
        return SimpleNamespace(
            north=north.id, south=south.id, customer=customer.id, **{key: t.id for key, t in techs.items()}
        )


@pytest.fixture
def manager_headers(world, make_user, login) -> dict[str, str]:
    make_user("manager", username="north-manager", teams=("North",))
    return login("north-manager")


@pytest.fixture
def tech_headers(world, make_user, login) -> dict[str, str]:
    """Nora (n1), a technician."""
    make_user("technician", username="nora", technician_ref="T-N1")
    return login("nora")


@pytest.fixture
def make_job(client, admin_headers, world):
    """``make_job(technician="n1", **fields)`` creates a job as an admin and returns its JSON."""
    refs = itertools.count(1)

    def make(technician: str = "n1", **values: Any) -> dict[str, Any]:
        body = {"external_ref": f"J-{next(refs)}", "technician_id": getattr(world, technician), "category": "plumbing"}
        response = client.post(JOBS, json={**body, **values}, headers=admin_headers)
        assert response.status_code == 201, response.json
        return response.json

    return make


@pytest.fixture
def counts(database):
    """``counts()`` -> (jobs, audit entries) stored now."""

    def count() -> tuple[int, int]:
        with database.session() as session:
            return session.scalar(select(func.count(Job.id))), session.scalar(select(func.count(AuditEntry.id)))

    return count


def refs(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [job["external_ref"] for job in response.json]


def etag_of(client, job_id: int, headers: dict[str, str]) -> str:
    response = client.get(f"{JOBS}/{job_id}", headers=headers)
    assert response.status_code == 200, response.json
    return response.headers["ETag"]


def patch(client, job_id: int, body: dict[str, Any], headers: dict[str, str]):
    return client.patch(
        f"{JOBS}/{job_id}", json=body, headers={**headers, "If-Match": etag_of(client, job_id, headers)}
    )


def audit_entries(database, entity: str, entity_id: int) -> list[AuditEntry]:
    with database.session() as session:
        query = select(AuditEntry).where(AuditEntry.entity == entity, AuditEntry.entity_id == str(entity_id))
        return list(session.scalars(query.order_by(AuditEntry.id)))


# --- create and read --------------------------------------------------------------


def test_created_job_is_answered_with_every_field(make_job, world):
    job = make_job(
        customer_id=world.customer,
        status="completed",
        scheduled_start="2026-03-02T09:00:00+00:00",
        scheduled_end="2026-03-02T11:00:00+00:00",
        arrived_at="2026-03-02T09:05:00Z",
        started_at="2026-03-02T09:10:00Z",
        completed_at="2026-03-02T10:40:00Z",
        estimated_minutes=90,
        revenue="125.5",
    )

    assert job["id"] > 0
    assert job["technician_id"] == world.n1
    assert job["customer_id"] == world.customer
    assert job["completed_at"] == "2026-03-02T10:40:00+00:00"
    assert job["estimated_minutes"] == 90
    assert job["revenue"] == "125.50"
    assert job["callback_of_id"] is None


def test_revenue_given_as_a_json_number_is_answered_as_a_string(make_job):
    assert make_job(revenue=80)["revenue"] == "80.00"


def test_new_job_is_scheduled_unless_told_otherwise(make_job):
    assert make_job()["status"] == "scheduled"


def test_category_is_stored_lower_case(make_job):
    assert make_job(category="  Plumbing ")["category"] == "plumbing"


def test_get_answers_the_job_with_an_etag(client, admin_headers, make_job):
    job = make_job()

    response = client.get(f"{JOBS}/{job['id']}", headers=admin_headers)

    assert response.status_code == 200
    assert response.json == job
    assert response.headers["ETag"]


def test_unknown_job_is_404(client, admin_headers, world):
    assert client.get(f"{JOBS}/999", headers=admin_headers).status_code == 404


def test_duplicate_external_ref_is_409_naming_it(client, admin_headers, make_job, world):
    make_job(external_ref="J-SAME")

    response = client.post(
        JOBS, json={"external_ref": "J-SAME", "technician_id": world.n1, "category": "hvac"}, headers=admin_headers
    )

    assert response.status_code == 409
    assert "external_ref" in response.json["errors"]["json"]


def test_cancelled_job_may_keep_the_times_it_reached(make_job):
    job = make_job(status="cancelled", started_at="2026-03-02T09:00:00Z", completed_at="2026-03-02T09:20:00Z")

    assert job["status"] == "cancelled"


def test_callback_refers_to_the_job_it_reworks(make_job):
    original = make_job()

    assert make_job(callback_of_id=original["id"])["callback_of_id"] == original["id"]


def test_unauthenticated_request_is_401(client, world):
    assert client.get(JOBS).status_code == 401


# --- update and delete ---------------------------------------------------------------


def test_patch_changes_only_the_given_fields(client, admin_headers, make_job):
    job = make_job(estimated_minutes=60)

    response = patch(client, job["id"], {"estimated_minutes": 45}, admin_headers)

    assert response.status_code == 200, response.json
    assert response.json == {**job, "estimated_minutes": 45, "updated_at": response.json["updated_at"]}


def test_patch_to_another_jobs_external_ref_is_409(client, admin_headers, make_job):
    make_job(external_ref="J-TAKEN")
    job = make_job()

    response = patch(client, job["id"], {"external_ref": "J-TAKEN"}, admin_headers)

    assert response.status_code == 409
    assert "external_ref" in response.json["errors"]["json"]


def test_patch_checks_the_job_as_a_whole(client, admin_headers, make_job):
    job = make_job()

    response = patch(client, job["id"], {"status": "completed"}, admin_headers)

    assert response.status_code == 422
    assert "completed_at" in response.json["errors"]["json"]


def test_patch_cannot_null_a_required_field(client, admin_headers, make_job):
    job = make_job()

    response = patch(client, job["id"], {"category": None}, admin_headers)

    assert response.status_code == 422
    assert "category" in response.json["errors"]["json"]


def test_job_cannot_be_a_callback_of_itself(client, admin_headers, make_job):
    job = make_job()

    response = patch(client, job["id"], {"callback_of_id": job["id"]}, admin_headers)

    assert response.status_code == 422
    assert "callback_of_id" in response.json["errors"]["json"]


def test_delete_removes_the_job_and_its_feedback(client, admin_headers, make_job, database):
    job = make_job(status="completed", completed_at="2026-03-02T10:00:00Z")
    with database.session() as session:
        session.add(Feedback(job_id=job["id"], rating=5, received_at=utcnow()))

    response = client.delete(
        f"{JOBS}/{job['id']}", headers={**admin_headers, "If-Match": etag_of(client, job["id"], admin_headers)}
    )

    assert response.status_code == 204
    assert client.get(f"{JOBS}/{job['id']}", headers=admin_headers).status_code == 404
    with database.session() as session:
        assert session.scalar(select(func.count(Feedback.id))) == 0
        deleted = session.scalars(select(AuditEntry.entity).where(AuditEntry.action == "delete")).all()
    assert sorted(deleted) == ["feedback", "job"]


def test_delete_is_refused_while_a_callback_refers_to_the_job(client, admin_headers, make_job):
    original = make_job()
    make_job(callback_of_id=original["id"])

    response = client.delete(
        f"{JOBS}/{original['id']}",
        headers={**admin_headers, "If-Match": etag_of(client, original["id"], admin_headers)},
    )

    assert response.status_code == 409
    assert "job" in response.json["errors"]["json"]


# --- ETags ---------------------------------------------------------------------------


def test_second_of_two_concurrent_updates_is_412(client, admin_headers, manager_headers, make_job):
    job = make_job()
    seen_by_admin = etag_of(client, job["id"], admin_headers)
    seen_by_manager = etag_of(client, job["id"], manager_headers)
    assert seen_by_admin == seen_by_manager

    first = client.patch(
        f"{JOBS}/{job['id']}", json={"estimated_minutes": 30}, headers={**admin_headers, "If-Match": seen_by_admin}
    )
    second = client.patch(
        f"{JOBS}/{job['id']}", json={"estimated_minutes": 50}, headers={**manager_headers, "If-Match": seen_by_manager}
    )

    assert first.status_code == 200
    assert second.status_code == 412
    assert client.get(f"{JOBS}/{job['id']}", headers=admin_headers).json["estimated_minutes"] == 30


def test_patch_without_if_match_is_428(client, admin_headers, make_job):
    job = make_job()

    response = client.patch(f"{JOBS}/{job['id']}", json={"estimated_minutes": 30}, headers=admin_headers)

    assert response.status_code == 428


def test_delete_without_if_match_is_428(client, admin_headers, make_job):
    job = make_job()

    assert client.delete(f"{JOBS}/{job['id']}", headers=admin_headers).status_code == 428


# --- validation: every rule answers 422 naming its field, and writes nothing ---------

INVALID_BODIES = [
    ("status", {"status": "done"}),
    ("estimated_minutes", {"estimated_minutes": -1}),
    ("estimated_minutes", {"estimated_minutes": 100_001}),
    ("estimated_minutes", {"estimated_minutes": 1.5}),
    ("estimated_minutes", {"estimated_minutes": "30"}),
    ("revenue", {"revenue": "-0.01"}),
    ("revenue", {"revenue": "12.345"}),
    ("revenue", {"revenue": "a lot"}),
    ("revenue", {"revenue": "10000000000.00"}),
    ("external_ref", {"external_ref": ""}),
    ("external_ref", {"external_ref": "x" * 65}),
    ("category", {"category": ""}),
    ("category", {"category": "c" * 65}),
    ("technician_id", {"technician_id": None}),
    ("technician_id", {"technician_id": "nora"}),
    ("technician_id", {"technician_id": 9999}),
    ("customer_id", {"customer_id": 9999}),
    ("customer_id", {"customer_id": 0}),
    ("callback_of_id", {"callback_of_id": 9999}),
    ("scheduled_start", {"scheduled_start": "next tuesday"}),
    ("completed_at", {"completed_at": 1772445600}),
    ("colour", {"colour": "red"}),
    ("scheduled_end", {"scheduled_start": "2026-03-02T10:00:00Z", "scheduled_end": "2026-03-02T09:00:00Z"}),
    ("started_at", {"arrived_at": "2026-03-02T10:00:00Z", "started_at": "2026-03-02T09:59:00Z"}),
    ("completed_at", {"started_at": "2026-03-02T10:00:00Z", "completed_at": "2026-03-02T09:00:00Z"}),
    ("completed_at", {"status": "completed"}),
    ("status", {"status": "scheduled", "completed_at": "2026-03-02T10:00:00Z"}),
]


@pytest.mark.parametrize(
    ("field", "values"), INVALID_BODIES, ids=[f"{field}-{i}" for i, (field, _) in enumerate(INVALID_BODIES)]
)
def test_invalid_job_is_422_naming_the_field_and_writes_nothing(client, admin_headers, world, counts, field, values):
    before = counts()
    body = {"external_ref": "J-1", "technician_id": world.n1, "category": "plumbing", **values}

    response = client.post(JOBS, json=body, headers=admin_headers)

    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]
    assert counts() == before


def test_required_fields_are_named_when_missing(client, admin_headers, world):
    response = client.post(JOBS, json={}, headers=admin_headers)

    assert response.status_code == 422
    assert {"external_ref", "technician_id", "category"} <= set(response.json["errors"]["json"])


# --- scope: technicians their own jobs, managers their teams' ------------------------


def test_technician_lists_only_their_own_jobs(client, tech_headers, make_job):
    make_job("n1", external_ref="MINE")
    make_job("n2", external_ref="TEAMMATE")
    make_job("s1", external_ref="OTHER-TEAM")

    assert refs(client.get(JOBS, headers=tech_headers)) == ["MINE"]


def test_technician_reads_their_own_job(client, tech_headers, make_job):
    job = make_job("n1")

    assert client.get(f"{JOBS}/{job['id']}", headers=tech_headers).status_code == 200


def test_technician_gets_404_for_someone_elses_job(client, tech_headers, make_job):
    job = make_job("n2")

    assert client.get(f"{JOBS}/{job['id']}", headers=tech_headers).status_code == 404


def test_technician_may_not_create_jobs(client, tech_headers, world):
    body = {"external_ref": "J-1", "technician_id": world.n1, "category": "plumbing"}

    assert client.post(JOBS, json=body, headers=tech_headers).status_code == 403


def test_manager_lists_only_their_teams_jobs(client, manager_headers, make_job):
    make_job("n1", external_ref="N1")
    make_job("n2", external_ref="N2")
    make_job("s1", external_ref="S1")

    assert refs(client.get(f"{JOBS}?sort=external_ref", headers=manager_headers)) == ["N1", "N2"]


def test_manager_gets_404_for_another_teams_job(client, manager_headers, make_job):
    job = make_job("s1")

    assert client.get(f"{JOBS}/{job['id']}", headers=manager_headers).status_code == 404


def test_manager_creates_a_job_for_their_teams_technician(client, manager_headers, world):
    body = {"external_ref": "J-1", "technician_id": world.n2, "category": "hvac"}

    assert client.post(JOBS, json=body, headers=manager_headers).status_code == 201


def test_manager_creating_a_job_outside_their_teams_is_422_naming_technician_id(client, manager_headers, world, counts):
    before = counts()
    body = {"external_ref": "J-1", "technician_id": world.s1, "category": "hvac"}

    response = client.post(JOBS, json=body, headers=manager_headers)

    assert response.status_code == 422
    assert "technician_id" in response.json["errors"]["json"]
    assert counts() == before


def test_manager_moving_a_job_outside_their_teams_is_422_naming_technician_id(client, manager_headers, make_job, world):
    job = make_job("n1")

    response = patch(client, job["id"], {"technician_id": world.s1}, manager_headers)

    assert response.status_code == 422
    assert "technician_id" in response.json["errors"]["json"]


def test_manager_cannot_link_a_callback_to_another_teams_job(client, manager_headers, make_job):
    theirs = make_job("s1")
    ours = make_job("n1")

    response = patch(client, ours["id"], {"callback_of_id": theirs["id"]}, manager_headers)

    assert response.status_code == 422
    assert "callback_of_id" in response.json["errors"]["json"]


def test_manager_may_change_a_job_whose_original_is_outside_their_teams(client, manager_headers, make_job):
    # An admin linked it; the manager's own change must not fail on a reference they did not touch.
    ours = make_job("n1", callback_of_id=make_job("s1")["id"])

    assert patch(client, ours["id"], {"estimated_minutes": 20}, manager_headers).status_code == 200


def test_manager_gets_404_changing_another_teams_job(client, manager_headers, admin_headers, make_job):
    job = make_job("s1")
    etag = etag_of(client, job["id"], admin_headers)

    response = client.patch(
        f"{JOBS}/{job['id']}", json={"estimated_minutes": 5}, headers={**manager_headers, "If-Match": etag}
    )

    assert response.status_code == 404


# --- listing: filters, date ranges, sorting, pages -----------------------------------


def test_list_filters_by_technician_team_status_category_and_customer(client, admin_headers, make_job, world):
    make_job("n1", external_ref="A", category="hvac", customer_id=world.customer)
    make_job("n2", external_ref="B", status="cancelled")
    make_job("s1", external_ref="C", category="hvac")

    def listed(query: str) -> list[str]:
        return refs(client.get(f"{JOBS}?sort=external_ref&{query}", headers=admin_headers))

    assert listed(f"technician={world.n2}") == ["B"]
    assert listed(f"team={world.north}") == ["A", "B"]
    assert listed("status=cancelled") == ["B"]
    assert listed("category=HVAC") == ["A", "C"]
    assert listed(f"customer={world.customer}") == ["A"]


def test_date_range_includes_from_and_excludes_to(client, admin_headers, make_job):
    for ref, start in (
        ("BEFORE", "2026-02-28T23:59:59Z"),
        ("FIRST", "2026-03-01T00:00:00Z"),
        ("END", "2026-04-01T00:00:00Z"),
    ):
        make_job(external_ref=ref, scheduled_start=start)

    response = client.get(f"{JOBS}?from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z", headers=admin_headers)

    assert refs(response) == ["FIRST"]


def test_date_range_applies_to_the_chosen_timestamp(client, admin_headers, make_job):
    make_job(
        external_ref="DONE-IN-MARCH",
        status="completed",
        scheduled_start="2026-02-27T09:00:00Z",
        completed_at="2026-03-02T09:00:00Z",
    )
    make_job(external_ref="SCHEDULED-IN-MARCH", scheduled_start="2026-03-03T09:00:00Z")
    march = "from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z"

    assert refs(client.get(f"{JOBS}?date_field=completed_at&{march}", headers=admin_headers)) == ["DONE-IN-MARCH"]
    assert refs(client.get(f"{JOBS}?{march}", headers=admin_headers)) == ["SCHEDULED-IN-MARCH"]


def test_date_range_ending_before_it_starts_is_422_naming_to(client, admin_headers, world):
    response = client.get(f"{JOBS}?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", headers=admin_headers)

    assert response.status_code == 422
    assert "to" in response.json["errors"]["query"]


def test_unknown_date_field_is_422(client, admin_headers, world):
    response = client.get(f"{JOBS}?date_field=arrived_at", headers=admin_headers)

    assert response.status_code == 422
    assert "date_field" in response.json["errors"]["query"]


def test_list_sorts_descending_with_a_minus(client, admin_headers, make_job):
    for ref, day in (("A", 3), ("B", 1), ("C", 2)):
        make_job(external_ref=ref, scheduled_start=f"2026-03-0{day}T09:00:00Z")

    assert refs(client.get(f"{JOBS}?sort=-scheduled_start", headers=admin_headers)) == ["A", "C", "B"]
    assert refs(client.get(f"{JOBS}?sort=scheduled_start", headers=admin_headers)) == ["B", "C", "A"]


def test_list_is_paginated(client, admin_headers, make_job):
    for _ in range(3):
        make_job()

    response = client.get(f"{JOBS}?page=2&page_size=2&sort=external_ref", headers=admin_headers)

    assert response.status_code == 200
    assert len(response.json) == 1
    assert '"total": 3' in response.headers["X-Pagination"]


# --- time zones -----------------------------------------------------------------------


@pytest.fixture
def chicago_client(settings, database, plugins):
    """The app of a company in America/Chicago (UTC-6 in winter), on the same database."""
    app = create_app(dataclasses.replace(settings, timezone="America/Chicago"), database=database, plugins=plugins)
    return app.test_client()


def test_naive_timestamp_is_read_in_the_company_zone_and_answered_with_its_offset(chicago_client, admin_headers, world):
    body = {"external_ref": "J-1", "technician_id": world.n1, "category": "hvac", "scheduled_start": "2026-03-02T09:00"}

    response = chicago_client.post(JOBS, json=body, headers=admin_headers)

    assert response.status_code == 201, response.json
    assert response.json["scheduled_start"] == "2026-03-02T15:00:00+00:00"


def test_timestamp_with_a_zone_keeps_its_instant(chicago_client, admin_headers, world):
    body = {"external_ref": "J-1", "technician_id": world.n1, "category": "hvac"}
    body["scheduled_start"] = "2026-03-02T09:00:00+01:00"

    response = chicago_client.post(JOBS, json=body, headers=admin_headers)

    assert response.json["scheduled_start"] == "2026-03-02T08:00:00+00:00"


def test_naive_date_range_is_read_in_the_company_zone(chicago_client, admin_headers, make_job):
    make_job(external_ref="LATE-EVENING", scheduled_start="2026-03-02T03:00:00Z")  # 21:00 on 1 March in Chicago

    listed = chicago_client.get(f"{JOBS}?from=2026-03-01T00:00:00&to=2026-03-02T00:00:00", headers=admin_headers)

    assert refs(listed) == ["LATE-EVENING"]


# --- audit -------------------------------------------------------------------------


def test_create_update_and_delete_are_each_audited(client, admin_headers, make_job, database):
    job = make_job(estimated_minutes=60)
    patch(client, job["id"], {"estimated_minutes": 45}, admin_headers)
    client.delete(
        f"{JOBS}/{job['id']}", headers={**admin_headers, "If-Match": etag_of(client, job["id"], admin_headers)}
    )

    entries = audit_entries(database, "job", job["id"])

    assert [entry.action for entry in entries] == ["create", "update", "delete"]
    assert entries[0].username == "admin"
    assert entries[1].changes == {"estimated_minutes": [60, 45]}


def test_patch_that_changes_nothing_writes_no_audit_entry(client, admin_headers, make_job, database):
    job = make_job(estimated_minutes=60)

    patch(client, job["id"], {"estimated_minutes": 60}, admin_headers)

    assert [entry.action for entry in audit_entries(database, "job", job["id"])] == ["create"]


# --- the service, as imports use it -------------------------------------------------


def test_upsert_by_ref_creates_then_leaves_unchanged_then_updates(database, world):
    actor = Actor.system("test")
    values = {"external_ref": "IMP-1", "technician_id": world.n1, "category": "Painting", "estimated_minutes": 30}
    with database.session() as session:
        outcomes = [jobs.upsert_job_by_ref(session, UNSCOPED, actor, values)[1]]
        outcomes.append(jobs.upsert_job_by_ref(session, UNSCOPED, actor, values)[1])
        job, outcome = jobs.upsert_job_by_ref(session, UNSCOPED, actor, {**values, "estimated_minutes": 40})
        outcomes.append(outcome)

    assert outcomes == ["created", "unchanged", "updated"]
    assert (job.category, job.estimated_minutes) == ("painting", 40)


def test_validate_job_values_refuses_a_naive_timestamp(database, world):
    naive = datetime(2026, 3, 2, 9, 0)
    values = {"external_ref": "J-1", "technician_id": world.n1, "category": "hvac", "status": "scheduled"}

    with database.session() as session, pytest.raises(Invalid) as raised:
        jobs.validate_job_values(session, UNSCOPED, {**values, "scheduled_start": naive})

    assert raised.value.field == "scheduled_start"
