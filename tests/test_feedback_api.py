"""/api/v1/feedback: one customer feedback per job, seen by whoever may see the job."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from kpi_core.accounts.scope import UNSCOPED
from kpi_core.audit.trail import Actor
from kpi_core.records import feedback as feedback_records
from kpi_core.storage.models import AuditEntry, Feedback, Job, Team, Technician
from kpi_core.web.app import create_app

FEEDBACK = "/api/v1/feedback"


@pytest.fixture
def world(database) -> SimpleNamespace:
    """Teams North (technicians n1, n2) and South (s1), one completed job each: jn1, jn2, js1."""
    with database.session() as session:
        north, south = Team(name="North"), Team(name="South")
        session.add_all([north, south])
        session.flush()
        techs = {
            "n1": Technician(external_ref="T-N1", name="Nora", team_id=north.id),
            "n2": Technician(external_ref="T-N2", name="Ned", team_id=north.id),
            "s1": Technician(external_ref="T-S1", name="Sam", team_id=south.id),
        }
        session.add_all(techs.values())
        session.flush()
        jobs = {
            f"j{key}": Job(external_ref=f"J-{key}", technician_id=tech.id, category="hvac", status="completed")
            for key, tech in techs.items()
        }
        session.add_all(jobs.values())
        session.flush()
        ids = {key: row.id for key, row in {**techs, **jobs}.items()}
        return SimpleNamespace(north=north.id, south=south.id, **ids)


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
def make_job(database, world):
    """``make_job(technician="n1")`` -> the id of a new completed job."""
    refs = itertools.count(1)

    def make(technician: str = "n1") -> int:
        with database.session() as session:
            job = Job(
                external_ref=f"X-{next(refs)}",
                technician_id=getattr(world, technician),
                category="hvac",
                status="completed",
            )
            session.add(job)
            session.flush()
            return job.id

    return make


@pytest.fixture
def make_feedback(client, admin_headers, world):
    """``make_feedback(job="jn1", **fields)`` records feedback as an admin and returns its JSON."""

    def make(job: str | int = "jn1", **values: Any) -> dict[str, Any]:
        job_id = getattr(world, job) if isinstance(job, str) else job
        body = {"job_id": job_id, "rating": 4, "received_at": "2026-03-02T12:00:00Z", **values}
        response = client.post(FEEDBACK, json=body, headers=admin_headers)
        assert response.status_code == 201, response.json
        return response.json

    return make


def with_etag(client, feedback_id: int, headers: dict[str, str]) -> dict[str, str]:
    response = client.get(f"{FEEDBACK}/{feedback_id}", headers=headers)
    assert response.status_code == 200, response.json
    return {**headers, "If-Match": response.headers["ETag"]}


def job_ids(response) -> list[int]:
    assert response.status_code == 200, response.json
    return [item["job_id"] for item in response.json]


def stored(database) -> tuple[int, int]:
    """(feedback, audit entries) stored now."""
    with database.session() as session:
        return session.scalar(select(func.count(Feedback.id))), session.scalar(select(func.count(AuditEntry.id)))


# --- create and read --------------------------------------------------------------


def test_recorded_feedback_is_answered_and_readable(client, admin_headers, make_feedback, world):
    created = make_feedback(rating=5, nps=9, comment="Quick and tidy")

    response = client.get(f"{FEEDBACK}/{created['id']}", headers=admin_headers)

    assert response.status_code == 200
    assert response.json == created
    assert (created["job_id"], created["rating"], created["nps"]) == (world.jn1, 5, 9)
    assert created["received_at"] == "2026-03-02T12:00:00+00:00"
    assert response.headers["ETag"]


def test_nps_and_comment_are_optional(make_feedback):
    created = make_feedback()

    assert (created["nps"], created["comment"]) == (None, None)


def test_second_feedback_for_a_job_is_409_naming_job_id(client, admin_headers, make_feedback, world, database):
    make_feedback("jn1")
    before = stored(database)

    response = client.post(
        FEEDBACK, json={"job_id": world.jn1, "rating": 1, "received_at": "2026-03-03T12:00:00Z"}, headers=admin_headers
    )

    assert response.status_code == 409
    assert "job_id" in response.json["errors"]["json"]
    assert stored(database) == before


def test_unknown_feedback_is_404(client, admin_headers, world):
    assert client.get(f"{FEEDBACK}/999", headers=admin_headers).status_code == 404


INVALID_BODIES = [
    ("rating", {"rating": 0}),
    ("rating", {"rating": 6}),
    ("rating", {"rating": 4.5}),
    ("rating", {"rating": "5"}),
    ("rating", {"rating": None}),
    ("nps", {"nps": -1}),
    ("nps", {"nps": 11}),
    ("comment", {"comment": "x" * 2001}),
    ("comment", {"comment": 7}),
    ("received_at", {"received_at": "yesterday"}),
    ("received_at", {"received_at": None}),
    ("job_id", {"job_id": 9999}),
    ("job_id", {"job_id": 0}),
    ("job_id", {"job_id": None}),
    ("sentiment", {"sentiment": "happy"}),
]


@pytest.mark.parametrize(
    ("field", "values"), INVALID_BODIES, ids=[f"{field}-{i}" for i, (field, _) in enumerate(INVALID_BODIES)]
)
def test_invalid_feedback_is_422_naming_the_field_and_writes_nothing(
    client, admin_headers, world, database, field, values
):
    before = stored(database)
    body = {"job_id": world.jn1, "rating": 4, "received_at": "2026-03-02T12:00:00Z", **values}

    response = client.post(FEEDBACK, json=body, headers=admin_headers)

    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]
    assert stored(database) == before


def test_required_fields_are_named_when_missing(client, admin_headers, world):
    response = client.post(FEEDBACK, json={}, headers=admin_headers)

    assert response.status_code == 422
    assert {"job_id", "rating", "received_at"} <= set(response.json["errors"]["json"])


# --- update and delete ---------------------------------------------------------------


def test_patch_changes_only_the_given_fields(client, admin_headers, make_feedback):
    created = make_feedback(rating=2, comment="Late")

    response = client.patch(
        f"{FEEDBACK}/{created['id']}", json={"rating": 3}, headers=with_etag(client, created["id"], admin_headers)
    )

    assert response.status_code == 200, response.json
    assert response.json == {**created, "rating": 3, "updated_at": response.json["updated_at"]}


def test_patch_cannot_move_feedback_to_another_job(client, admin_headers, make_feedback, world):
    created = make_feedback()

    response = client.patch(
        f"{FEEDBACK}/{created['id']}",
        json={"job_id": world.jn2},
        headers=with_etag(client, created["id"], admin_headers),
    )

    assert response.status_code == 422
    assert "job_id" in response.json["errors"]["json"]


def test_patch_with_an_invalid_value_is_422(client, admin_headers, make_feedback):
    created = make_feedback()

    response = client.patch(
        f"{FEEDBACK}/{created['id']}", json={"nps": 12}, headers=with_etag(client, created["id"], admin_headers)
    )

    assert response.status_code == 422
    assert "nps" in response.json["errors"]["json"]


def test_patch_without_if_match_is_428(client, admin_headers, make_feedback):
    created = make_feedback()

    assert client.patch(f"{FEEDBACK}/{created['id']}", json={"rating": 1}, headers=admin_headers).status_code == 428


def test_second_of_two_concurrent_updates_is_412(client, admin_headers, manager_headers, make_feedback):
    created = make_feedback()
    seen_by_admin = with_etag(client, created["id"], admin_headers)
    seen_by_manager = with_etag(client, created["id"], manager_headers)

    first = client.patch(f"{FEEDBACK}/{created['id']}", json={"rating": 1}, headers=seen_by_admin)
    second = client.patch(f"{FEEDBACK}/{created['id']}", json={"rating": 5}, headers=seen_by_manager)

    assert (first.status_code, second.status_code) == (200, 412)


def test_delete_needs_if_match_and_removes_the_feedback(client, admin_headers, make_feedback, database):
    created = make_feedback()

    assert client.delete(f"{FEEDBACK}/{created['id']}", headers=admin_headers).status_code == 428
    response = client.delete(f"{FEEDBACK}/{created['id']}", headers=with_etag(client, created["id"], admin_headers))

    assert response.status_code == 204
    assert stored(database)[0] == 0


# --- scope ---------------------------------------------------------------------------


def test_technician_lists_only_feedback_on_their_own_jobs(client, tech_headers, make_feedback, world):
    for job in ("jn1", "jn2", "js1"):
        make_feedback(job)

    assert job_ids(client.get(FEEDBACK, headers=tech_headers)) == [world.jn1]


def test_technician_gets_404_for_feedback_on_someone_elses_job(client, tech_headers, make_feedback):
    created = make_feedback("jn2")

    assert client.get(f"{FEEDBACK}/{created['id']}", headers=tech_headers).status_code == 404


def test_technician_may_not_record_feedback(client, tech_headers, world):
    body = {"job_id": world.jn1, "rating": 5, "received_at": "2026-03-02T12:00:00Z"}

    assert client.post(FEEDBACK, json=body, headers=tech_headers).status_code == 403


def test_manager_lists_only_their_teams_feedback(client, manager_headers, make_feedback, world):
    for job in ("jn1", "jn2", "js1"):
        make_feedback(job)

    listed = client.get(f"{FEEDBACK}?sort=received_at", headers=manager_headers)

    assert sorted(job_ids(listed)) == sorted([world.jn1, world.jn2])


def test_manager_gets_404_for_another_teams_feedback(client, manager_headers, make_feedback):
    created = make_feedback("js1")

    assert client.get(f"{FEEDBACK}/{created['id']}", headers=manager_headers).status_code == 404


def test_manager_records_feedback_on_their_teams_job(client, manager_headers, world):
    body = {"job_id": world.jn2, "rating": 5, "received_at": "2026-03-02T12:00:00Z"}

    assert client.post(FEEDBACK, json=body, headers=manager_headers).status_code == 201


def test_manager_recording_feedback_on_another_teams_job_is_422_naming_job_id(client, manager_headers, world, database):
    before = stored(database)
    body = {"job_id": world.js1, "rating": 5, "received_at": "2026-03-02T12:00:00Z"}

    response = client.post(FEEDBACK, json=body, headers=manager_headers)

    assert response.status_code == 422
    assert "job_id" in response.json["errors"]["json"]
    assert stored(database) == before


# --- listing ---------------------------------------------------------------------------


def test_list_filters_by_technician_team_job_and_rating(client, admin_headers, make_feedback, world):
    make_feedback("jn1", rating=5)
    make_feedback("jn2", rating=2)
    make_feedback("js1", rating=5)

    def listed(query: str) -> list[int]:
        return sorted(job_ids(client.get(f"{FEEDBACK}?{query}", headers=admin_headers)))

    assert listed(f"technician={world.n2}") == [world.jn2]
    assert listed(f"team={world.north}") == sorted([world.jn1, world.jn2])
    assert listed(f"job={world.js1}") == [world.js1]
    assert listed("rating=5") == sorted([world.jn1, world.js1])


def test_list_by_received_at_includes_from_and_excludes_to(client, admin_headers, make_feedback, make_job):
    early, first, last = make_job(), make_job(), make_job()
    make_feedback(early, received_at="2026-02-28T23:59:59Z")
    make_feedback(first, received_at="2026-03-01T00:00:00Z")
    make_feedback(last, received_at="2026-04-01T00:00:00Z")

    response = client.get(f"{FEEDBACK}?from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z", headers=admin_headers)

    assert job_ids(response) == [first]


def test_list_is_newest_first_by_default(client, admin_headers, make_feedback, make_job):
    older, newer = make_job(), make_job()
    make_feedback(older, received_at="2026-03-01T10:00:00Z")
    make_feedback(newer, received_at="2026-03-05T10:00:00Z")

    assert job_ids(client.get(FEEDBACK, headers=admin_headers)) == [newer, older]


def test_date_range_ending_before_it_starts_is_422_naming_to(client, admin_headers, world):
    response = client.get(f"{FEEDBACK}?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", headers=admin_headers)

    assert response.status_code == 422
    assert "to" in response.json["errors"]["query"]


def test_list_is_paginated(client, admin_headers, make_feedback):
    for job in ("jn1", "jn2", "js1"):
        make_feedback(job)

    response = client.get(f"{FEEDBACK}?page_size=2", headers=admin_headers)

    assert len(response.json) == 2
    assert '"total": 3' in response.headers["X-Pagination"]


# --- time zones and audit ---------------------------------------------------------------


def test_naive_received_at_is_read_in_the_company_zone(settings, database, plugins, admin_headers, world):
    app = create_app(dataclasses.replace(settings, timezone="America/Chicago"), database=database, plugins=plugins)
    body = {"job_id": world.jn1, "rating": 4, "received_at": "2026-07-01T08:30:00"}

    response = app.test_client().post(FEEDBACK, json=body, headers=admin_headers)

    assert response.status_code == 201, response.json
    assert response.json["received_at"] == "2026-07-01T13:30:00+00:00"  # CDT is UTC-5


def test_create_update_and_delete_are_each_audited(client, admin_headers, make_feedback, database):
    created = make_feedback(rating=3)
    path = f"{FEEDBACK}/{created['id']}"
    client.patch(path, json={"rating": 4}, headers=with_etag(client, created["id"], admin_headers))
    client.delete(path, headers=with_etag(client, created["id"], admin_headers))

    with database.session() as session:
        query = select(AuditEntry).where(AuditEntry.entity == "feedback", AuditEntry.entity_id == str(created["id"]))
        entries = list(session.scalars(query.order_by(AuditEntry.id)))

    assert [entry.action for entry in entries] == ["create", "update", "delete"]
    assert entries[1].changes == {"rating": [3, 4]}


# --- the service, as imports use it ------------------------------------------------------


def test_upsert_for_a_job_creates_then_leaves_unchanged_then_updates(database, world):
    actor = Actor.system("test")
    values = {"job_id": world.jn1, "rating": 4, "received_at": datetime(2026, 3, 2, tzinfo=UTC)}
    with database.session() as session:
        outcomes = [feedback_records.upsert_feedback_for_job(session, UNSCOPED, actor, values)[1]]
        outcomes.append(feedback_records.upsert_feedback_for_job(session, UNSCOPED, actor, values)[1])
        item, outcome = feedback_records.upsert_feedback_for_job(session, UNSCOPED, actor, {**values, "rating": 2})
        outcomes.append(outcome)

    assert outcomes == ["created", "unchanged", "updated"]
    assert item.rating == 2
