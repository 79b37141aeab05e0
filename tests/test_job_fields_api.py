"""kpi_job_fields (issue #18, point 5): plugins declare extra per-job fields; the jobs API reads and
writes them under ``fields``, checked against the declarations; metric builders read them through
the MetricContext.

The third-party fixture plugin (tests/fixtures/thirdparty_plugin) declares ``fixture.ppe_checked``
and a KPI that reads it, ``fixture.ppe_checked_rate``; an inline plugin here declares one field of
every type. Each test that touches the database runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import io
import math
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from kpi_core import hookimpl
from kpi_core.config import Settings
from kpi_core.declarations import DeclarationError, JobField, JobFieldValueError
from kpi_core.plugins import load_plugins
from kpi_core.storage.db import Database
from kpi_core.storage.models import AuditEntry, Job, JobFieldValue, KpiDataVersion, Technician
from kpi_core.web.app import create_app
from tests.test_dashboard_api import thirdparty_plugin

JOBS = "/api/v1/jobs"
RISKS = ("low", "medium", "high")


class Safety:
    """A plugin with a job field of every type."""

    @hookimpl
    def kpi_job_fields(self) -> list[JobField]:
        return [
            JobField("safety.crew_size", "Crew size", "integer", minimum=1, maximum=6),
            JobField("safety.distance_km", "Distance driven", "number", minimum=0, help_text="Kilometres"),
            JobField("safety.notes", "Safety notes", "text"),
            JobField("safety.risk", "Risk level", "choice", choices=RISKS),
        ]


@pytest.fixture
def app(settings: Settings, database: Database) -> Flask:
    plugins = load_plugins(settings, extra=[("fixture_cancellations", thirdparty_plugin()), ("safety", Safety())])
    assert plugins.problems == []
    return create_app(settings, database=database, plugins=plugins)


@pytest.fixture
def technician(database: Database) -> int:
    with database.session() as session:
        row = Technician(external_ref="T1", name="Tess One")
        session.add(row)
        session.flush()
        return row.id


@pytest.fixture
def create(client, admin_headers, technician):
    """``create(ref, **body)``: POST a completed job in March 2026 and return the response."""

    def post(ref: str = "J1", **body: Any):
        job = {
            "external_ref": ref,
            "technician_id": technician,
            "category": "plumbing",
            "status": "completed",
            "completed_at": "2026-03-02T10:00:00Z",
        }
        return client.post(JOBS, json={**job, **body}, headers=admin_headers)

    return post


def stored_values(database: Database) -> dict[tuple[int, str], Any]:
    with database.session(write=False) as session:
        return {(row.job_id, row.key): row.value for row in session.scalars(select(JobFieldValue))}


def job_count(database: Database) -> int:
    with database.session(write=False) as session:
        return session.scalar(select(func.count()).select_from(Job))


def versions(database: Database) -> dict[str, int]:
    with database.session(write=False) as session:
        return {row.month: row.version for row in session.scalars(select(KpiDataVersion))}


def patch(client, headers, job_id: int, body: dict[str, Any]):
    etag = client.get(f"{JOBS}/{job_id}", headers=headers).headers["ETag"]
    return client.patch(f"{JOBS}/{job_id}", json=body, headers={**headers, "If-Match": etag})


# --- declarations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"key": "ppe_checked"}, "namespaced"),
        ({"label": " "}, "label"),
        ({"type": "date"}, "type must be one of boolean, integer, number, text, choice"),
        ({"type": "choice"}, "a choice field needs a tuple of distinct choices"),
        ({"type": "choice", "choices": ("a", "a")}, "distinct choices"),
        ({"choices": ("a", "b")}, "only choice fields take choices"),
        ({"minimum": 1}, "only integer and number fields take minimum and maximum"),
        ({"type": "integer", "minimum": 5, "maximum": 1}, "minimum must not be above maximum"),
        ({"type": "number", "maximum": math.inf}, "finite numbers"),
        ({"key": "safety." + "x" * 120}, "at most 120 characters"),
    ],
)
def test_a_malformed_job_field_is_a_declaration_error_naming_it(arguments: dict[str, Any], message: str):
    declared = {"key": "safety.ppe_checked", "label": "PPE checked", "type": "boolean", **arguments}

    with pytest.raises(DeclarationError, match=message):
        JobField(**declared)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (JobField("s.flag", "Flag", "boolean"), False, False),
        (JobField("s.count", "Count", "integer", minimum=0), 3.0, 3),
        (JobField("s.km", "Km", "number"), 2, 2.0),
        (JobField("s.risk", "Risk", "choice", choices=RISKS), "high", "high"),
        (JobField("s.notes", "Notes", "text"), "Gloves worn", "Gloves worn"),
    ],
)
def test_parse_gives_a_value_of_the_fields_type(field: JobField, value: Any, expected: Any):
    parsed = field.parse(value)

    assert parsed == expected and type(parsed) is type(expected)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (JobField("s.flag", "Flag", "boolean"), "yes", "must be true or false"),
        (JobField("s.count", "Count", "integer", maximum=6), 2.5, "must be a whole number"),
        (JobField("s.count", "Count", "integer", maximum=6), True, "must be a whole number"),
        (JobField("s.count", "Count", "integer", maximum=6), 7, "must be at most 6"),
        (JobField("s.count", "Count", "integer"), 2**60, "must be between"),
        (JobField("s.km", "Km", "number", minimum=0), -0.5, "must be at least 0"),
        (JobField("s.km", "Km", "number"), math.nan, "must be a finite number"),
        (JobField("s.risk", "Risk", "choice", choices=RISKS), "High", "must be one of low, medium, high"),
        (JobField("s.notes", "Notes", "text"), 5, "must be text"),
        (JobField("s.notes", "Notes", "text"), "x" * 1001, "at most 1,000 characters"),
    ],
)
def test_parse_refuses_a_value_that_does_not_suit_the_declaration(field: JobField, value: Any, message: str):
    with pytest.raises(JobFieldValueError, match=message):
        field.parse(value)


def test_a_job_field_key_another_plugin_declared_is_the_later_plugins_load_error(settings):
    class Copycat:
        @hookimpl
        def kpi_job_fields(self) -> list[JobField]:
            return [JobField("fixture.ppe_checked", "PPE", "text")]

    host = load_plugins(settings, extra=[("fixture_cancellations", thirdparty_plugin()), ("copycat", Copycat())])

    assert host.owner_of("kpi_job_fields", "fixture.ppe_checked") == "fixture_cancellations"
    (problem,) = [problem for problem in host.problems if problem.name == "copycat"]
    assert problem.stage == "duplicate"
    assert "'fixture.ppe_checked' is already declared by plugin 'fixture_cancellations'" in problem.reason


# --- the jobs API ------------------------------------------------------------------------------


def test_the_job_fields_are_listed_with_their_declarations_and_plugins(client, admin_headers):
    response = client.get(f"{JOBS}/fields", headers=admin_headers)

    assert response.status_code == 200
    listed = {field["key"]: field for field in response.json}
    assert listed["fixture.ppe_checked"] == {
        "key": "fixture.ppe_checked",
        "label": "PPE checked",
        "type": "boolean",
        "required": False,
        "minimum": None,
        "maximum": None,
        "choices": [],
        "help_text": "The technician checked their protective equipment before starting the job.",
        "plugin": "fixture_cancellations",
    }
    assert (listed["safety.crew_size"]["minimum"], listed["safety.crew_size"]["maximum"]) == (1, 6)
    assert listed["safety.risk"]["choices"] == list(RISKS)


def test_a_job_is_created_and_read_with_its_fields_typed(client, admin_headers, create):
    fields = {
        "fixture.ppe_checked": True,
        "safety.crew_size": 2,
        "safety.distance_km": 12.5,
        "safety.notes": "Ladder tied off",
        "safety.risk": "medium",
    }

    created = create(fields=fields)

    assert created.status_code == 201, created.json
    assert created.json["fields"] == fields
    read = client.get(f"{JOBS}/{created.json['id']}", headers=admin_headers).json
    assert read["fields"] == fields
    (listed,) = client.get(JOBS, headers=admin_headers).json
    assert listed["fields"] == fields


def test_a_job_without_field_values_has_empty_fields(create):
    assert create().json["fields"] == {}


def test_a_change_sets_the_fields_it_names_removes_nulls_and_keeps_the_others(client, admin_headers, create, database):
    job = create(fields={"fixture.ppe_checked": False, "safety.crew_size": 3, "safety.notes": "Wet floor"}).json

    response = patch(client, admin_headers, job["id"], {"fields": {"fixture.ppe_checked": True, "safety.notes": None}})

    assert response.status_code == 200, response.json
    assert response.json["fields"] == {"fixture.ppe_checked": True, "safety.crew_size": 3}
    assert stored_values(database) == {(job["id"], "fixture.ppe_checked"): True, (job["id"], "safety.crew_size"): 3}


def test_a_field_change_is_audited_as_an_update_of_the_job(client, admin_headers, create, database):
    job = create(fields={"safety.risk": "low"}).json

    patch(client, admin_headers, job["id"], {"fields": {"safety.risk": "high"}})

    with database.session(write=False) as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).one()
    assert (entry.action, entry.entity, entry.entity_id) == ("update", "job", str(job["id"]))
    assert entry.changes == {"fields": [{"safety.risk": "low"}, {"safety.risk": "high"}]}


def test_a_field_change_bumps_the_data_versions_of_the_jobs_months(client, admin_headers, create, database):
    job = create(fields={"fixture.ppe_checked": False}).json
    before = versions(database)

    patch(client, admin_headers, job["id"], {"fields": {"fixture.ppe_checked": True}})

    assert versions(database)["2026-03"] == before["2026-03"] + 1


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        ({"safety.helmet": True}, "fields.safety.helmet", "'safety.helmet' is not a job field; the job fields are"),
        ({"fixture.ppe_checked": "yes"}, "fields.fixture.ppe_checked", "must be true or false"),
        ({"safety.crew_size": 1.5}, "fields.safety.crew_size", "must be a whole number"),
        ({"safety.crew_size": 7}, "fields.safety.crew_size", "must be at most 6"),
        ({"safety.distance_km": -1}, "fields.safety.distance_km", "must be at least 0"),
        ({"safety.risk": "extreme"}, "fields.safety.risk", "must be one of low, medium, high"),
        ({"safety.notes": ["a"]}, "fields.safety.notes", "must be text"),
    ],
    ids=["unknown key", "boolean", "integer", "above maximum", "below minimum", "choice", "text"],
)
def test_a_bad_field_is_422_naming_it_and_nothing_is_written(
    client, admin_headers, create, database, fields: dict[str, Any], path: str, message: str
):
    job = create("J0", fields={"safety.crew_size": 2}).json
    before = (job_count(database), stored_values(database), versions(database))

    created = create("J1", fields={"fixture.ppe_checked": True, **fields})
    changed = patch(client, admin_headers, job["id"], {"category": "roofing", "fields": fields})

    for response in (created, changed):
        assert response.status_code == 422, response.json
        (text,) = response.json["errors"]["json"][path]
        assert message in text
    assert (job_count(database), stored_values(database), versions(database)) == before
    assert client.get(f"{JOBS}/{job['id']}", headers=admin_headers).json["category"] == "plumbing"


def test_a_required_field_must_be_given_on_creation_and_cannot_be_removed(
    settings, database, admin_headers, technician
):
    class Strict:
        @hookimpl
        def kpi_job_fields(self) -> list[JobField]:
            return [JobField("strict.permit", "Permit number", "text", required=True)]

    plugins = load_plugins(settings, extra=[("strict", Strict())])
    client = create_app(settings, database=database, plugins=plugins).test_client()
    job = {"external_ref": "J1", "technician_id": technician, "category": "plumbing"}

    missing = client.post(JOBS, json=job, headers=admin_headers)
    created = client.post(JOBS, json={**job, "fields": {"strict.permit": "P-7"}}, headers=admin_headers)
    removed = patch(client, admin_headers, created.json["id"], {"fields": {"strict.permit": None}})

    assert missing.status_code == 422
    assert missing.json["errors"]["json"]["fields.strict.permit"] == ["Permit number is required"]
    assert created.status_code == 201 and created.json["fields"] == {"strict.permit": "P-7"}
    assert removed.status_code == 422
    assert "cannot be removed" in removed.json["errors"]["json"]["fields.strict.permit"][0]


# --- a metric that reads a job field, fed by an import -----------------------------------------

PPE_CSV = """external_ref,technician_ref,category,status,completed_at,fixture.ppe_checked
P1,T1,plumbing,completed,2026-03-02T10:00:00Z,yes
P2,T1,plumbing,completed,2026-03-03T10:00:00Z,no
P3,T1,plumbing,completed,2026-03-04T10:00:00Z,true
P4,T1,plumbing,completed,2026-03-05T10:00:00Z,
P5,T1,plumbing,cancelled,,yes
P6,T1,plumbing,completed,2026-04-02T10:00:00Z,yes
"""
"""March: four completed jobs (P1-P4), two with PPE checked (P1, P3); P4 has no value and P5 was
cancelled. April: one completed job, checked."""


def ppe_rate(client, headers) -> dict[str, tuple[float, float, float]]:
    query = {"kpi": "fixture.ppe_checked_rate", "start": "2026-03-01", "end": "2026-05-01", "period": "month"}
    response = client.get("/api/v1/kpis/values", query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return {row["period_start"]: (row["value"], row["numerator"], row["denominator"]) for row in response.json}


def import_csv(client, headers, text: str):
    return client.post("/api/v1/imports/jobs", data={"file": (io.BytesIO(text.encode()), "jobs.csv")}, headers=headers)


def test_a_third_party_metric_reads_a_job_field_fed_by_an_import(client, admin_headers, technician):
    imported = import_csv(client, admin_headers, PPE_CSV)

    assert imported.status_code == 200, imported.json
    assert ppe_rate(client, admin_headers) == {"2026-03-01": (0.5, 2, 4), "2026-04-01": (1.0, 1, 1)}


def test_a_changed_field_value_reaches_the_cached_kpi(client, admin_headers, technician):
    import_csv(client, admin_headers, PPE_CSV)
    assert ppe_rate(client, admin_headers)["2026-03-01"] == (0.5, 2, 4)  # now cached

    again = import_csv(client, admin_headers, PPE_CSV.replace(",2026-03-03T10:00:00Z,no", ",2026-03-03T10:00:00Z,yes"))

    assert again.status_code == 200, again.json
    assert (again.json["updated"], again.json["unchanged"]) == (1, 5)
    assert ppe_rate(client, admin_headers) == {"2026-03-01": (0.75, 3, 4), "2026-04-01": (1.0, 1, 1)}


# --- the list page ---------------------------------------------------------------------------------


def test_a_listed_job_is_what_reading_it_alone_gives(client, admin_headers, create, database):
    """The list page writes its rows without marshmallow's per-field calls (JobSchema.dump): each row must
    equal the job read alone (the schema's own fields), whatever it holds or leaves empty."""
    with database.session() as session:
        helper = Technician(external_ref="T2", name="Hal Helper")
        session.add(helper)
        session.flush()
        helper_id = helper.id
    lead = create("J1").json["technician_id"]
    jobs = [
        create("J1-callback", revenue="125.5", callback_of_id=client.get(JOBS, headers=admin_headers).json[0]["id"]),
        create(
            "J-crew",
            technicians=[{"technician_id": lead, "role": "lead", "share": 0.75}, {"technician_id": helper_id}],
            scheduled_start="2026-03-02T08:00:00-05:00",
            scheduled_end="2026-03-02T15:00:00Z",
            arrived_at="2026-03-02T13:05:00Z",
            started_at="2026-03-02T13:10:00Z",
            completed_at="2026-03-02T14:40:00Z",
            estimated_minutes=95,
            fields={
                "safety.crew_size": 2,
                "safety.distance_km": 12.5,
                "safety.notes": "Ladder, gloves",
                "safety.risk": "high",
                "fixture.ppe_checked": True,
            },
        ),
        create("J-bare", status="scheduled", completed_at=None, category="Electrical", revenue=0),
    ]
    assert [job.status_code for job in jobs] == [201, 201, 201], [job.json.get("errors") for job in jobs]
    listed = client.get(JOBS, query_string={"page_size": 10}, headers=admin_headers)
    assert listed.status_code == 200
    assert len(listed.json) == 4
    for row in listed.json:
        assert row == client.get(f"{JOBS}/{row['id']}", headers=admin_headers).json
    crew = next(row for row in listed.json if row["external_ref"] == "J-crew")
    assert [member["technician"] for member in crew["technicians"]] == ["Tess One", "Hal Helper"]
    assert crew["fields"]["safety.distance_km"] == 12.5 and crew["scheduled_start"] == "2026-03-02T13:00:00+00:00"
    assert next(row for row in listed.json if row["external_ref"] == "J1-callback")["revenue"] == "125.50"
