"""/api/v1/kpis: definitions, values and drill-downs, validated and scoped."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from kpi_core.storage.models import Feedback, Job, Team, Technician
from kpi_core.web.app import create_app

FTF = "quality.first_time_fix_rate"
RATING = "quality.avg_customer_rating"
JANUARY = {"start": "2026-01-01", "end": "2026-02-01"}


def utc(day: int, hour: int = 10, month: int = 1) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


class Facts:
    """Adds teams, technicians and jobs, each committed at once."""

    def __init__(self, database) -> None:
        self.database = database
        self.refs = 0

    def add(self, row) -> int:
        with self.database.session() as session:
            session.add(row)
            session.flush()
            return row.id

    def technician(self, name: str, team: int | None = None) -> int:
        self.refs += 1
        return self.add(Technician(external_ref=name, name=name, team_id=team))

    def job(self, technician: int, completed_at: datetime, *, callback: bool = False, rating: int | None = None) -> int:
        self.refs += 1
        job_id = self.add(
            Job(
                external_ref=f"J-{self.refs}",
                technician_id=technician,
                category="plumbing",
                status="completed",
                completed_at=completed_at,
            )
        )
        if callback:
            self.job_callback(technician, job_id, completed_at)
        if rating is not None:
            self.add(Feedback(job_id=job_id, rating=rating, received_at=completed_at))
        return job_id

    def job_callback(self, technician: int, original: int, when: datetime) -> None:
        self.refs += 1
        self.add(
            Job(
                external_ref=f"J-{self.refs}",
                technician_id=technician,
                category="plumbing",
                status="scheduled",
                scheduled_start=when,
                callback_of_id=original,
            )
        )


@pytest.fixture
def crew(database) -> dict[str, int]:
    """North: Ada (1 of 1 fixed) and Bob (1 of 3); South: Cy (0 of 1). All in January."""
    facts = Facts(database)
    north, south = facts.add(Team(name="North")), facts.add(Team(name="South"))
    ada, bob, cy = facts.technician("Ada", north), facts.technician("Bob", north), facts.technician("Cy", south)
    facts.job(ada, utc(5), rating=5)
    facts.job(bob, utc(6))
    facts.job(bob, utc(7), callback=True)
    facts.job(bob, utc(8), callback=True)
    facts.job(cy, utc(9), callback=True, rating=1)
    return {"north": north, "south": south, "ada": ada, "bob": bob, "cy": cy}


def fingerprint_of(client, headers, key: str) -> str:
    return {item["key"]: item["fingerprint"] for item in client.get("/api/v1/kpis", headers=headers).json}[key]


def get_values(client, headers, **params):
    return client.get("/api/v1/kpis/values", query_string={**JANUARY, **params}, headers=headers)


def drill(client, headers, key: str = FTF, **params):
    params = {"period_start": "2026-01-01", **params}
    return client.get(f"/api/v1/kpis/{key}/drilldown", query_string=params, headers=headers)


# --- definitions ---------------------------------------------------------------------------


def test_definitions_list_every_kpi_with_its_plugin_and_default_target(client, admin_headers, plugins):
    response = client.get("/api/v1/kpis", headers=admin_headers)

    assert response.status_code == 200
    listed = {item["key"]: item for item in response.json}
    assert set(listed) == set(plugins.metrics)
    assert listed[FTF]["plugin"] == "kpi_quality"
    assert listed[FTF]["default_target"] == {"green": 0.9, "amber": 0.8, "weight": 2.0}
    assert listed["timeliness.on_time_arrival_rate"]["plugin"] == "kpi_timeliness"
    assert set(listed[FTF]) == {
        "key", "label", "description", "formula", "unit", "direction", "kind", "source", "plugin", "default_target",
        "empty_hint", "version", "fingerprint",
    }  # fmt: skip
    assert listed[FTF]["version"] == 1
    assert len(listed[FTF]["fingerprint"]) == 16


def test_definitions_need_a_token(client):
    assert client.get("/api/v1/kpis").status_code == 401


# --- values --------------------------------------------------------------------------------


def test_values_rows_carry_value_sample_interval_and_status(client, admin_headers, crew):
    response = get_values(client, admin_headers, kpi=FTF, group_by="team", period="month")

    assert response.status_code == 200, response.json
    north = response.json[0]
    assert north == {
        "kpi": FTF,
        "group_id": str(crew["north"]),
        "group_label": "North",
        "period_start": "2026-01-01",
        "value": 0.5,
        "numerator": 2.0,
        "denominator": 4.0,
        "ci_low": pytest.approx(0.15, abs=0.01),
        "ci_high": pytest.approx(0.85, abs=0.01),
        # 4 jobs are fewer than KPI_STATUS_MIN_SAMPLE (10): no colour on so small a sample.
        "status": "insufficient",
        "period_end": "2026-02-01",
        "complete": True,
        "provisional": False,
        "pending": 0.0,
        "certain": None,
        "fingerprint": fingerprint_of(client, admin_headers, FTF),
        "closed": False,
    }


def test_values_of_several_kpis_are_answered_in_the_order_asked(client, admin_headers, crew):
    response = get_values(client, admin_headers, kpi=[RATING, FTF], group_by="company")

    assert [(row["kpi"], row["group_label"]) for row in response.json] == [(RATING, "Company"), (FTF, "Company")]
    assert response.json[0]["value"] == 3.0
    assert response.json[0]["ci_low"] is None


def test_values_default_to_every_kpi(client, admin_headers, plugins, crew):
    response = get_values(client, admin_headers, group_by="technician")

    # No evaluations were made: the evaluation KPI has no facts, hence no rows.
    assert {row["kpi"] for row in response.json} == set(plugins.metrics) - {"quality.evaluation_score"}


def test_values_filter_by_repeated_technicians(client, admin_headers, crew):
    response = get_values(client, admin_headers, kpi=FTF, group_by="technician", technician=[crew["ada"], crew["cy"]])

    assert [row["group_label"] for row in response.json] == ["Ada", "Cy"]


def test_a_group_without_sample_answers_null_not_zero(client, admin_headers, crew):
    response = get_values(client, admin_headers, kpi=RATING, group_by="technician")

    bob = next(row for row in response.json if row["group_label"] == "Bob")
    assert (bob["value"], bob["denominator"], bob["status"]) == (None, 0.0, None)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kpi": "quality.unknown"}, "kpi"),
        ({"end": "2026-01-01"}, "end"),
        ({"end": "2025-06-01"}, "end"),
        ({"period": "day", "start": "2020-01-01", "end": "2026-01-01"}, "end"),
        ({"group_by": "customer"}, "group_by"),
        ({"period": "fortnight"}, "period"),
        ({"start": "yesterday"}, "start"),
        ({"team": "north"}, "team"),
    ],
)
def test_bad_values_queries_are_refused_naming_the_field(client, admin_headers, params, field):
    response = get_values(client, admin_headers, **params)

    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["query"]


def test_values_need_start_and_end(client, admin_headers):
    response = client.get("/api/v1/kpis/values", headers=admin_headers)

    assert response.status_code == 422
    assert {"start", "end"} <= set(response.json["errors"]["query"])


# --- scope ---------------------------------------------------------------------------------


def test_a_technician_gets_only_their_own_values(client, make_user, login, crew):
    make_user("technician", username="bob", technician_ref="Bob")
    headers = login("bob")

    by_technician = get_values(client, headers, kpi=FTF, group_by="technician").json
    (company,) = get_values(client, headers, kpi=FTF, group_by="company").json

    assert [row["group_label"] for row in by_technician] == ["Bob"]
    assert (company["numerator"], company["denominator"]) == (1.0, 3.0)
    # Their own numbers are never labelled as the company's.
    assert company["group_label"] == "Your own jobs"


def test_a_technician_filtering_on_another_technician_gets_nothing(client, make_user, login, crew):
    make_user("technician", username="bob", technician_ref="Bob")

    response = get_values(client, login("bob"), kpi=FTF, group_by="technician", technician=crew["ada"])

    assert response.status_code == 200
    assert response.json == []


def test_a_manager_gets_only_their_teams_values(client, make_user, login, crew):
    make_user("manager", username="north-boss", teams=("North",))

    by_team = get_values(client, login("north-boss"), kpi=FTF, group_by="team").json

    assert [(row["group_label"], row["numerator"], row["denominator"]) for row in by_team] == [("North", 2.0, 4.0)]
    (company,) = get_values(client, login("north-boss"), kpi=FTF, group_by="company").json
    assert (company["group_label"], company["denominator"]) == ("Your teams", 4.0)


# --- drill-down ----------------------------------------------------------------------------


def test_drilldown_contributions_add_up_to_the_value_over_all_pages(client, admin_headers, crew):
    (value,) = get_values(client, admin_headers, kpi=FTF, group_by="team", team=crew["north"]).json
    listed, page = [], 1
    while True:
        response = drill(client, admin_headers, group_by="team", group_id=value["group_id"], page=page, page_size=3)
        assert response.status_code == 200, response.json
        listed += response.json
        pagination = json.loads(response.headers["X-Pagination"])
        if page >= pagination["total_pages"]:
            break
        page += 1

    # 4 completed jobs and Bob's 2 return visits (booked, not completed: left out)
    assert pagination["total"] == 6
    assert [row["reason"] for row in listed if row["outcome"] == "excluded"] == ["not_completed", "not_completed"]
    assert sum(row["numerator"] for row in listed) == value["numerator"]
    assert sum(row["denominator"] for row in listed) == value["denominator"]


def test_drilldown_lists_each_counted_job_with_its_contribution(client, admin_headers, crew):
    response = drill(client, admin_headers, group_by="technician", group_id=str(crew["ada"]))

    (row,) = response.json
    assert row["technician"] == "Ada" and row["technician_id"] == crew["ada"]
    assert (row["external_ref"], row["category"], row["status"]) == ("J-4", "plumbing", "completed")
    assert row["completed_at"] == "2026-01-05T10:00:00+00:00"
    assert (row["numerator"], row["denominator"]) == (1.0, 1.0)


def test_drilldown_lists_facts_outside_the_sample_as_left_out_with_their_reason(client, admin_headers, crew):
    counted = drill(client, admin_headers, RATING, group_by="company", outcome="numerator")
    everything = drill(client, admin_headers, RATING, group_by="company")

    assert [row["rating"] for row in counted.json] == [5, 1]
    reasons = sorted((row["reason"], row["reason_label"]) for row in everything.json if row["outcome"] == "excluded")
    assert reasons == [("no_feedback", "No customer feedback")] * 3 + [("not_completed", "Not completed")] * 3
    assert {(row["numerator"], row["denominator"]) for row in everything.json if row["outcome"] == "excluded"} == {
        (0.0, 0.0)
    }


def test_drilldown_of_an_unknown_kpi_is_404(client, admin_headers):
    assert drill(client, admin_headers, "quality.unknown").status_code == 404


def test_a_technician_drilling_into_another_technicians_group_gets_404(client, make_user, login, crew):
    make_user("technician", username="bob", technician_ref="Bob")
    headers = login("bob")

    assert drill(client, headers, group_by="technician", group_id=str(crew["ada"])).status_code == 404
    assert drill(client, headers, group_by="technician", group_id=str(crew["bob"])).status_code == 200


def test_a_manager_drilling_into_another_team_gets_404(client, make_user, login, crew):
    make_user("manager", username="north-boss", teams=("North",))
    headers = login("north-boss")

    assert drill(client, headers, group_by="team", group_id=str(crew["south"])).status_code == 404
    assert drill(client, headers, group_by="technician", group_id=str(crew["cy"])).status_code == 404
    counted = drill(client, headers, group_by="team", group_id=str(crew["north"]), outcome="numerator")
    assert (
        len(counted.json)
        + len(drill(client, headers, group_by="team", group_id=str(crew["north"]), outcome="denominator_only").json)
        == 4
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"group_by": "technician"}, "group_id"),
        ({"group_by": "technician", "group_id": "ada"}, "group_id"),
        ({"period_start": "2026-01-02"}, "period_start"),
        ({"period_start": None}, "period_start"),
    ],
)
def test_bad_drilldown_queries_are_refused_naming_the_field(client, admin_headers, params, field):
    query = {key: value for key, value in {"period_start": "2026-01-01", **params}.items() if value is not None}

    response = client.get(f"/api/v1/kpis/{FTF}/drilldown", query_string=query, headers=admin_headers)

    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["query"]


# --- the company's time zone -------------------------------------------------------------------


@pytest.fixture
def new_york_client(settings, database, plugins):
    app = create_app(dataclasses.replace(settings, timezone="America/New_York"), database=database, plugins=plugins)
    return app.test_client()


def test_months_are_cut_in_the_company_time_zone(new_york_client, database, admin_headers):
    facts = Facts(database)
    ada = facts.technician("Ada")
    late_march = datetime(2026, 3, 31, 23, 30, tzinfo=ZoneInfo("America/New_York"))  # 2026-04-01 03:30 UTC
    facts.job(ada, late_march)

    response = get_values(new_york_client, admin_headers, kpi=FTF, start="2026-03-01", end="2026-05-01")
    drilled = drill(new_york_client, admin_headers, group_by="company", period_start="2026-03-01")

    assert [(row["period_start"], row["denominator"]) for row in response.json] == [("2026-03-01", 1.0)]
    assert [row["completed_at"] for row in drilled.json] == ["2026-04-01T03:30:00+00:00"]


# --- the documented API ------------------------------------------------------------------------


def test_the_kpi_operations_are_documented(client):
    paths = client.get("/api/openapi.json").json["paths"]
    operations = {
        "listKpis": paths["/api/v1/kpis"]["get"],
        "getKpiValues": paths["/api/v1/kpis/values"]["get"],
        "getKpiDrilldown": paths["/api/v1/kpis/{key}/drilldown"]["get"],
    }

    for operation_id, operation in operations.items():
        assert operation["operationId"] == operation_id
        assert operation["summary"] and operation["tags"] == ["kpis"]
        assert operation["x-permission"] == "kpis.read"
        assert {"401", "403"} <= set(operation["responses"])
    assert {"404", "422"} <= set(operations["getKpiDrilldown"]["responses"])
    assert "422" in operations["getKpiValues"]["responses"]
