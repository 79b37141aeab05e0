"""Crews in the jobs API (issue #18, point 1): a job has one or more technicians, each a lead or a
helper with a share of the credit. POST and PATCH take ``technicians``, every job answers them,
each bad crew is a 422 naming the field with nothing written, changes are audited and bump the
job's months, and whoever sees a member of the crew sees the job while only those who see its lead
change it. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event, func, select

from kpi_core.storage.models import AuditEntry, Job, JobAssignment, KpiDataVersion, Team, Technician

JOBS = "/api/v1/jobs"
MARCH = {"status": "completed", "completed_at": "2026-03-02T10:00:00Z"}


@pytest.fixture
def world(database, make_user) -> SimpleNamespace:
    """North: Nora (n1, user nora) and Ned (n2, user ned), managed by mona. South: Sam (s1), managed by sol."""
    with database.session() as session:
        north, south = Team(name="North"), Team(name="South")
        session.add_all([north, south])
        session.flush()
        people = {
            "n1": Technician(external_ref="T-N1", name="Nora", team_id=north.id),
            "n2": Technician(external_ref="T-N2", name="Ned", team_id=north.id),
            "s1": Technician(external_ref="T-S1", name="Sam", team_id=south.id),
        }
        session.add_all(people.values())
        session.flush()
        ids = SimpleNamespace(north=north.id, south=south.id, **{key: person.id for key, person in people.items()})
    make_user("manager", username="mona", teams=("North",))
    make_user("manager", username="sol", teams=("South",))
    make_user("technician", username="nora", technician_ref="T-N1")
    make_user("technician", username="ned", technician_ref="T-N2")
    return ids


@pytest.fixture
def as_(world, login, admin_headers):
    """``as_("mona")``: the headers of a user of the world (``as_("admin")`` the admin's)."""
    cache: dict[str, dict[str, str]] = {"admin": admin_headers}

    def headers(username: str) -> dict[str, str]:
        if username not in cache:
            cache[username] = login(username)
        return cache[username]

    return headers


@pytest.fixture
def create(client, as_, world):
    """``create(crew, who="admin", **values)``: POST a job with ``technicians=crew`` (items
    ``(key, role, share)``, or a bare key) and return the response."""
    refs = itertools.count(1)

    def post(crew: list[Any] | None = None, who: str = "admin", **values: Any):
        body = {"external_ref": f"J-{next(refs)}", "category": "plumbing", **MARCH, **values}
        if crew is not None:
            body["technicians"] = members(world, crew)
        return client.post(JOBS, json=body, headers=as_(who))

    return post


def members(world: SimpleNamespace, crew: list[Any]) -> list[dict[str, Any]]:
    """``[("n1", "lead", 0.6), "n2"]`` as the API's ``technicians`` (role and share left out when None)."""
    items = []
    for member in crew:
        key, role, share = (*member, None, None)[:3] if isinstance(member, tuple) else (member, None, None)
        item: dict[str, Any] = {"technician_id": getattr(world, key) if isinstance(key, str) else key}
        if role is not None:
            item["role"] = role
        if share is not None:
            item["share"] = share
        items.append(item)
    return items


def crew(job: dict[str, Any]) -> list[tuple[str, str, float]]:
    """The answered crew as (name, role, share rounded to 4 places)."""
    return [(member["technician"], member["role"], round(member["share"], 4)) for member in job["technicians"]]


def patch(client, headers: dict[str, str], job_id: int, body: dict[str, Any]):
    etag = client.get(f"{JOBS}/{job_id}", headers=headers).headers["ETag"]
    return client.patch(f"{JOBS}/{job_id}", json=body, headers={**headers, "If-Match": etag})


def stored(database) -> dict[str, Any]:
    """What a refused request must leave as it was: jobs, crews (every row) and audit entries."""
    with database.session(write=False) as session:
        rows = session.execute(
            select(JobAssignment.job_id, JobAssignment.technician_id, JobAssignment.role, JobAssignment.share)
        ).all()
        return {
            "jobs": session.execute(select(Job.id, Job.technician_id, Job.updated_at)).all(),
            "crews": sorted(tuple(row) for row in rows),
            "audit": session.scalar(select(func.count(AuditEntry.id))),
        }


def last_audit(database) -> AuditEntry:
    with database.session(write=False) as session:
        return session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).one()


def errors(response) -> dict[str, Any]:
    assert response.status_code == 422, response.json
    return response.json["errors"]["json"]


# --- reading and writing a crew ------------------------------------------------------------------


def test_job_of_one_technician_has_them_as_its_sole_lead(create, world):
    job = create(technician_id=world.n1).json

    assert job["technician_id"] == world.n1
    assert job["technicians"] == [{"technician_id": world.n1, "technician": "Nora", "role": "lead", "share": 1.0}]


def test_crew_without_shares_splits_the_credit_equally_and_the_lead_is_the_technician(create, world):
    job = create([("n2", "helper"), ("n1", "lead"), "s1"]).json

    assert job["technician_id"] == world.n1
    assert crew(job) == [("Nora", "lead", 0.3333), ("Ned", "helper", 0.3333), ("Sam", "helper", 0.3333)]
    assert sum(member["share"] for member in job["technicians"]) == pytest.approx(1)


def test_sole_member_without_a_role_leads(create, world):
    job = create(["n2"]).json

    assert (job["technician_id"], crew(job)) == (world.n2, [("Ned", "lead", 1.0)])


def test_crew_keeps_the_shares_given(create):
    job = create([("n2", "helper", 0.4), ("n1", "lead", 0.6)]).json

    assert crew(job) == [("Nora", "lead", 0.6), ("Ned", "helper", 0.4)]


def test_members_without_a_share_split_what_the_others_leave(create):
    job = create([("n1", "lead", 0.5), "n2", "s1"]).json

    assert crew(job) == [("Nora", "lead", 0.5), ("Ned", "helper", 0.25), ("Sam", "helper", 0.25)]


def test_technician_id_given_with_the_crew_may_name_its_lead(create, world):
    response = create([("n1", "lead"), "n2"], technician_id=world.n1)

    assert response.status_code == 201, response.json


def test_crew_is_answered_by_id_and_in_the_list(client, as_, create):
    job = create([("n1", "lead", 0.6), ("n2", "helper", 0.4)]).json

    by_id = client.get(f"{JOBS}/{job['id']}", headers=as_("admin")).json
    listed = client.get(JOBS, headers=as_("admin")).json

    assert by_id["technicians"] == job["technicians"] == listed[0]["technicians"]


def test_patch_replaces_the_crew(client, as_, create, world):
    job = create(technician_id=world.n1).json

    response = patch(
        client, as_("admin"), job["id"], {"technicians": members(world, [("n1", "lead", 0.7), ("n2", None, 0.3)])}
    )

    assert response.status_code == 200, response.json
    assert response.json["technician_id"] == world.n1
    assert crew(response.json) == [("Nora", "lead", 0.7), ("Ned", "helper", 0.3)]
    assert crew(client.get(f"{JOBS}/{job['id']}", headers=as_("admin")).json) == crew(response.json)


def test_patch_with_a_new_lead_makes_them_the_technician(client, as_, create, world):
    job = create([("n1", "lead"), "n2"]).json

    response = patch(client, as_("admin"), job["id"], {"technicians": members(world, [("n2", "lead"), "n1"])})

    assert response.status_code == 200, response.json
    assert response.json["technician_id"] == world.n2
    assert crew(response.json) == [("Ned", "lead", 0.5), ("Nora", "helper", 0.5)]


def test_patch_can_take_a_helper_off_the_crew(client, as_, create, world):
    job = create([("n1", "lead"), "n2", "s1"]).json

    response = patch(client, as_("admin"), job["id"], {"technicians": members(world, ["n1"])})

    assert crew(response.json) == [("Nora", "lead", 1.0)]


def test_new_technician_id_alone_leads_the_crew_as_it_is(client, as_, create, world):
    job = create([("n1", "lead", 0.6), ("n2", "helper", 0.4)]).json

    response = patch(client, as_("admin"), job["id"], {"technician_id": world.n2})

    assert response.status_code == 200, response.json
    assert crew(response.json) == [("Ned", "lead", 0.4), ("Nora", "helper", 0.6)]


def test_patch_of_other_fields_keeps_the_crew(client, as_, create):
    job = create([("n1", "lead", 0.6), ("n2", "helper", 0.4)]).json

    response = patch(client, as_("admin"), job["id"], {"estimated_minutes": 30})

    assert response.json["technicians"] == job["technicians"]


def test_deleting_a_job_deletes_its_crew(client, as_, create, database):
    job = create([("n1", "lead"), "n2"]).json
    etag = client.get(f"{JOBS}/{job['id']}", headers=as_("admin")).headers["ETag"]

    assert client.delete(f"{JOBS}/{job['id']}", headers={**as_("admin"), "If-Match": etag}).status_code == 204
    assert stored(database)["crews"] == []


# --- bad crews: 422 naming the field, nothing written --------------------------------------------

BAD_CREWS = [
    pytest.param([("n1", "lead", 0.6), ("n2", None, 0.5)], "technicians", "the shares sum to 1.1", id="sum-above-1"),
    pytest.param([("n1", "lead", 0.3), ("n2", None, 0.3)], "technicians", "the shares sum to 0.6", id="sum-below-1"),
    pytest.param(["n1", "n2"], "technicians", "no technician is the lead", id="no-lead"),
    pytest.param([("n1", "helper")], "technicians", "no technician is the lead", id="sole-helper"),
    pytest.param(
        [("n1", "lead"), ("n2", "lead")], "technicians[1].role", "only one technician can lead a job", id="two-leads"
    ),
    pytest.param(
        [("n1", "lead"), 999_999], "technicians[1].technician_id", "no technician with id 999999", id="unknown"
    ),
    pytest.param([("n1", "lead"), "n2", "n1"], "technicians[2].technician_id", "Nora is listed twice", id="twice"),
    pytest.param(
        [("n1", "lead"), ("n2", None, 0)], "technicians[1].share", "Ned's share must be above 0", id="share-0"
    ),
    pytest.param(
        [("n1", "lead", 1.5)], "technicians[0].share", "Nora's share must be above 0 and at most 1", id="above-1"
    ),
    pytest.param(
        [("n1", "lead", -0.5), ("n2", None, 1.5)], "technicians[0].share", "share must be above 0", id="negative"
    ),
    pytest.param([("n1", "lead", 1), "n2"], "technicians", "leaving nothing for the others", id="nothing-left"),
    pytest.param([], "technicians", "a job needs at least one technician", id="empty"),
]


@pytest.mark.parametrize(("given", "field", "message"), BAD_CREWS)
def test_bad_crew_on_create_is_422_naming_the_field_and_writes_nothing(create, database, given, field, message):
    before = stored(database)

    found = errors(create(given))

    assert list(found) == [field]
    assert message in found[field][0]
    assert stored(database) == before


@pytest.mark.parametrize(("given", "field", "message"), BAD_CREWS)
def test_bad_crew_on_change_is_422_naming_the_field_and_writes_nothing(
    client, as_, create, database, world, given, field, message
):
    job = create([("n1", "lead", 0.5), ("s1", "helper", 0.5)]).json
    before = stored(database)

    found = errors(patch(client, as_("admin"), job["id"], {"technicians": members(world, given)}))

    assert list(found) == [field]
    assert message in found[field][0]
    assert stored(database) == before


def test_technician_id_other_than_the_lead_is_422_naming_it(create, database, world):
    before = stored(database)

    found = errors(create([("n1", "lead"), "n2"], technician_id=world.n2))

    assert list(found) == ["technician_id"]
    assert "is not the lead of the crew given in technicians (Nora" in found["technician_id"][0]
    assert stored(database) == before


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"technician_id": "x"}, "technician_id"),
        ({"role": "boss"}, "role"),
        ({"share": "half"}, "share"),
        ({"share": 10**400}, "share"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_member_of_the_wrong_shape_is_422_naming_its_field(client, as_, database, world, item, field):
    body = {"external_ref": "J-1", "category": "plumbing", "technicians": [{"technician_id": world.n1, **item}]}
    before = stored(database)

    found = errors(client.post(JOBS, json=body, headers=as_("admin")))

    assert list(found["technicians"]["0"]) == [field]
    assert stored(database) == before


def test_a_crew_of_more_than_20_is_422(client, as_, world):
    body = {"external_ref": "J-1", "category": "x", "technicians": [{"technician_id": n} for n in range(1, 22)]}

    assert list(errors(client.post(JOBS, json=body, headers=as_("admin")))) == ["technicians"]


def test_a_job_without_technician_id_or_crew_names_technician_id_beside_the_other_missing_fields(client, as_, world):
    found = errors(client.post(JOBS, json={}, headers=as_("admin")))

    assert {"external_ref", "category", "technician_id"} <= set(found)
    assert "technicians" in found["technician_id"][0]


# --- audit and data versions --------------------------------------------------------------------


def test_creation_is_audited_with_its_crew(create, database, world):
    create([("n1", "lead", 0.6), ("n2", "helper", 0.4)])

    entry = last_audit(database)
    assert (entry.action, entry.entity) == ("create", "job")
    assert entry.changes["technicians"] == [
        None,
        [
            {"technician_id": world.n1, "role": "lead", "share": 0.6},
            {"technician_id": world.n2, "role": "helper", "share": 0.4},
        ],
    ]


def test_crew_change_is_audited_with_the_crew_before_and_after(client, as_, create, database, world):
    job = create(technician_id=world.n1).json

    patch(client, as_("mona"), job["id"], {"technicians": members(world, [("n2", "lead"), "n1"])})

    entry = last_audit(database)
    assert (entry.action, entry.entity, entry.entity_id, entry.username) == ("update", "job", str(job["id"]), "mona")
    assert entry.changes == {
        "technician_id": [world.n1, world.n2],
        "technicians": [
            [{"technician_id": world.n1, "role": "lead", "share": 1.0}],
            [
                {"technician_id": world.n2, "role": "lead", "share": 0.5},
                {"technician_id": world.n1, "role": "helper", "share": 0.5},
            ],
        ],
    }


def test_the_same_crew_again_writes_no_audit_entry(client, as_, create, database, world):
    job = create([("n1", "lead", 0.6), ("n2", "helper", 0.4)]).json
    before = stored(database)

    response = patch(
        client, as_("admin"), job["id"], {"technicians": members(world, [("n2", None, 0.4), ("n1", "lead", 0.6)])}
    )

    assert response.status_code == 200
    assert stored(database) == before


def test_crew_change_bumps_the_data_versions_of_the_jobs_months(client, as_, create, database, world):
    job = create(technician_id=world.n1).json

    def march() -> int:
        with database.session(write=False) as session:
            return session.scalar(select(KpiDataVersion.version).where(KpiDataVersion.month == "2026-03")) or 0

    before = march()
    patch(client, as_("admin"), job["id"], {"technicians": members(world, [("n1", "lead"), "n2"])})

    assert march() == before + 1


def test_crew_change_changes_the_etag(client, as_, create, world):
    job = create(technician_id=world.n1).json
    etag = client.get(f"{JOBS}/{job['id']}", headers=as_("admin")).headers["ETag"]

    patch(client, as_("admin"), job["id"], {"technicians": members(world, [("n1", "lead"), "n2"])})

    assert client.get(f"{JOBS}/{job['id']}", headers=as_("admin")).headers["ETag"] != etag


# --- who sees a crew's job, and who changes it ---------------------------------------------------


@pytest.fixture
def helped(create, world) -> dict[str, Any]:
    """A South job: Sam (s1) leads, Nora (n1, North) helps."""
    response = create([("s1", "lead", 0.7), ("n1", "helper", 0.3)])
    assert response.status_code == 201, response.json
    return response.json


def listed(client, headers: dict[str, str], **query: Any) -> list[int]:
    response = client.get(JOBS, query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return [job["id"] for job in response.json]


def test_technician_sees_a_job_they_help_on_in_the_list_and_by_id(client, as_, helped):
    assert listed(client, as_("nora")) == [helped["id"]]
    response = client.get(f"{JOBS}/{helped['id']}", headers=as_("nora"))
    assert response.status_code == 200
    assert crew(response.json) == [("Sam", "lead", 0.7), ("Nora", "helper", 0.3)]


def test_another_technician_of_the_helpers_team_does_not_see_it(client, as_, helped):
    assert listed(client, as_("ned")) == []
    assert client.get(f"{JOBS}/{helped['id']}", headers=as_("ned")).status_code == 404


def test_managers_of_the_helpers_team_and_of_the_leads_team_both_see_it(client, as_, helped):
    for manager in ("mona", "sol"):
        assert listed(client, as_(manager)) == [helped["id"]]
        assert client.get(f"{JOBS}/{helped['id']}", headers=as_(manager)).status_code == 200


def test_filters_match_any_member_of_the_crew(client, as_, helped, create, world):
    other = create(technician_id=world.n2).json

    assert listed(client, as_("admin"), technician=world.n1) == [helped["id"]]
    assert listed(client, as_("admin"), technician=world.s1) == [helped["id"]]
    assert sorted(listed(client, as_("admin"), team=world.north)) == sorted([helped["id"], other["id"]])
    assert listed(client, as_("admin"), team=world.south) == [helped["id"]]
    assert listed(client, as_("mona"), technician=world.s1) == [helped["id"]]


def test_manager_of_the_helpers_team_may_not_change_or_delete_it(client, as_, helped, database):
    url = f"{JOBS}/{helped['id']}"
    etag = client.get(url, headers=as_("mona")).headers["ETag"]
    before = stored(database)

    changed = client.patch(url, json={"estimated_minutes": 5}, headers={**as_("mona"), "If-Match": etag})
    deleted = client.delete(url, headers={**as_("mona"), "If-Match": etag})

    assert (changed.status_code, deleted.status_code) == (403, 403)
    assert "only a manager of the lead technician's team" in changed.json["message"]
    assert stored(database) == before


def test_manager_of_the_leads_team_changes_it_and_the_other_teams_helper_may_stay(client, as_, helped, world):
    response = patch(
        client, as_("sol"), helped["id"], {"technicians": members(world, [("s1", "lead", 0.5), ("n1", None, 0.5)])}
    )

    assert response.status_code == 200, response.json
    assert crew(response.json) == [("Sam", "lead", 0.5), ("Nora", "helper", 0.5)]


def test_manager_may_not_hand_the_lead_to_another_teams_helper(client, as_, helped, database, world):
    as_("sol")  # logged in before: a login is audited
    before = stored(database)

    found = errors(patch(client, as_("sol"), helped["id"], {"technicians": members(world, [("n1", "lead"), "s1"])}))

    assert found == {
        "technicians[0].role": ["Nora cannot lead this job: the lead must be one of your teams' technicians"]
    }
    assert stored(database) == before


def test_another_teams_technician_in_a_new_crew_reads_as_no_such_technician(client, as_, create, database, world):
    def refused(technician_id: int) -> dict[str, Any]:
        return errors(create([("n1", "lead"), ("n2", None), (technician_id, None)], who="mona"))

    outside, missing = refused(world.s1), refused(999_999)

    assert outside == {
        "technicians[2].technician_id": [f"no technician with id {world.s1} among your teams' technicians"]
    }
    assert missing == {"technicians[2].technician_id": ["no technician with id 999999 among your teams' technicians"]}


def test_manager_builds_a_crew_of_their_teams(create, world):
    response = create([("n2", "lead"), "n1"], who="mona")

    assert response.status_code == 201, response.json
    assert crew(response.json) == [("Ned", "lead", 0.5), ("Nora", "helper", 0.5)]


def test_technicians_may_not_change_a_crew(client, as_, helped, world):
    response = patch(client, as_("nora"), helped["id"], {"technicians": members(world, ["n1"])})

    assert response.status_code == 403


# --- one query for a page of crews ---------------------------------------------------------------


def test_the_list_reads_crews_and_names_in_a_fixed_number_of_queries(client, as_, create, database, world):
    def statements_for_the_list() -> int:
        seen: list[str] = []

        def count(_conn, _cursor, statement, *_args) -> None:
            seen.append(statement)

        event.listen(database.engine, "before_cursor_execute", count)
        try:
            assert client.get(JOBS, headers=as_("admin")).status_code == 200
        finally:
            event.remove(database.engine, "before_cursor_execute", count)
        return len(seen)

    create([("n1", "lead"), "n2"])
    few = statements_for_the_list()
    for _ in range(5):
        create([("n1", "lead"), "n2", "s1"])

    assert statements_for_the_list() == few
