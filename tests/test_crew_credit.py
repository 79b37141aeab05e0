"""How job KPIs credit a crew (issue #18): each rule computed by hand for a three-person team.

Team North is Ann, Ben and Cat; team South is Dan. In January 2026 (first-time fix, callbacks
long settled):

====  ==========================  ===========  =====================
Job   Crew (share)                Callback     Fix?
====  ==========================  ===========  =====================
J1    Ann (1)                     none         yes
J2    Ann lead .5, Ben .5         C2 (Ann)     no
J3    Ben lead .6, Cat .4         none         yes
J4    Cat lead .5, Dan .5         C4 (Dan)     no
====  ==========================  ===========  =====================

C2 and C4 are return visits, so they are in no first-time-fix sample themselves. J2 and J4 are
callbacks on crew jobs: each counts against the original job's crew under the rule in force.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from kpi_core.accounts.permissions import Principal
from kpi_core.accounts.scope import Scope
from kpi_core.kpis.engine import compute_values
from kpi_core.kpis.query import KpiQuery
from kpi_core.storage.models import Job, JobAssignment, Team, Technician

FTF = "quality.first_time_fix_rate"
JANUARY, FEBRUARY = date(2026, 1, 1), date(2026, 2, 1)


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)


@pytest.fixture
def crews(database):
    """The four jobs and two callbacks of the module docstring; returns {name: technician id} and team ids."""
    with database.session() as session:
        north, south = Team(name="North"), Team(name="South")
        session.add_all([north, south])
        session.flush()
        people = {
            name: Technician(external_ref=name.upper(), name=name, team_id=team.id)
            for name, team in (("Ann", north), ("Ben", north), ("Cat", north), ("Dan", south))
        }
        session.add_all(people.values())
        session.flush()
        ids = {name: person.id for name, person in people.items()}

        def job(ref: str, crew: list[tuple[str, str, float]], day: int, callback_of: Job | None = None) -> Job:
            lead = next(name for name, role, _ in crew if role == "lead")
            row = Job(
                external_ref=ref,
                technician_id=ids[lead],
                category="plumbing",
                status="completed",
                scheduled_start=at(day, 9),
                completed_at=at(day, 11),
                callback_of_id=callback_of.id if callback_of else None,
                assignments=[
                    JobAssignment(technician_id=ids[name], role=role, share=share) for name, role, share in crew
                ],
            )
            session.add(row)
            session.flush()
            return row

        job("J1", [("Ann", "lead", 1.0)], 3)
        j2 = job("J2", [("Ann", "lead", 0.5), ("Ben", "helper", 0.5)], 5)
        job("J3", [("Ben", "lead", 0.6), ("Cat", "helper", 0.4)], 7)
        j4 = job("J4", [("Cat", "lead", 0.5), ("Dan", "helper", 0.5)], 9)
        job("C2", [("Ann", "lead", 1.0)], 12, callback_of=j2)
        job("C4", [("Dan", "lead", 1.0)], 14, callback_of=j4)
        return ids, {"North": north.id, "South": south.id}


def cells(database, plugins, rule: str, group_by: str, scope: Scope | None = None) -> dict[str, tuple[float, float]]:
    query = KpiQuery(start=JANUARY, end=FEBRUARY, kpis=(FTF,), group_by=group_by, credit=rule)
    with database.session(write=False) as session:
        rows = compute_values(session, plugins, query, zone=UTC, target_for=lambda *_: None, **(
            {"scope": scope} if scope else {}
        ))  # fmt: skip
    return {row.group_label: (round(row.numerator, 9), round(row.denominator, 9)) for row in rows}


EXPECTED = {
    "each": {
        "technician": {"Ann": (1, 2), "Ben": (1, 2), "Cat": (1, 2), "Dan": (0, 1)},
        # A job two North members worked counts once for North; J4 counts once for each team.
        "team": {"North": (2, 4), "South": (0, 1)},
    },
    "share": {
        "technician": {"Ann": (1, 1.5), "Ben": (0.6, 1.1), "Cat": (0.4, 0.9), "Dan": (0, 0.5)},
        "team": {"North": (2, 3.5), "South": (0, 0.5)},
    },
    "lead": {
        # Dan leads only C4, a return visit: a row with no sample.
        "technician": {"Ann": (1, 2), "Ben": (1, 1), "Cat": (0, 1), "Dan": (0, 0)},
        "team": {"North": (2, 4), "South": (0, 0)},
    },
}


@pytest.mark.parametrize("rule", ["each", "share", "lead"])
def test_each_rule_by_hand_for_technicians_teams_and_the_company(database, plugins, crews, rule):
    assert cells(database, plugins, rule, "technician") == EXPECTED[rule]["technician"]
    assert cells(database, plugins, rule, "team") == EXPECTED[rule]["team"]
    # The company counts every job once, whichever the rule: J1 and J3 fixed of four.
    assert cells(database, plugins, rule, "company") == {"Company": (2, 4)}


def test_a_technicians_own_jobs_and_a_managers_teams_follow_the_rule(database, plugins, crews):
    ids, teams = crews
    ben = Scope(Principal(user_id=1, username="ben", role="technician", technician_id=ids["Ben"]))
    south_manager = Scope(
        Principal(user_id=2, username="boss", role="manager", managed_team_ids=frozenset({teams["South"]}))
    )
    assert cells(database, plugins, "each", "company", ben) == {"Your own jobs": (1, 2)}
    assert cells(database, plugins, "share", "company", ben) == {"Your own jobs": (0.6, 1.1)}
    assert cells(database, plugins, "lead", "company", ben) == {"Your own jobs": (1, 1)}
    # South's manager sees Dan's half of J4, not the whole job.
    assert cells(database, plugins, "share", "company", south_manager) == {"Your teams": (0, 0.5)}
    assert cells(database, plugins, "each", "company", south_manager) == {"Your teams": (0, 1)}


def test_filters_by_technician_and_team_credit_the_crews_members(database, plugins, crews):
    ids, teams = crews
    from kpi_core.kpis.query import Filters

    def company(rule: str, filters: Filters) -> tuple[float, float]:
        query = KpiQuery(start=JANUARY, end=FEBRUARY, kpis=(FTF,), credit=rule, filters=filters)
        with database.session(write=False) as session:
            (row,) = compute_values(session, plugins, query, zone=UTC, target_for=lambda *_: None)
        return round(row.numerator, 9), round(row.denominator, 9)

    assert company("each", Filters(technicians=(ids["Cat"],))) == (1, 2)
    assert company("share", Filters(technicians=(ids["Cat"], ids["Dan"]))) == (0.4, 1.4)
    assert company("share", Filters(teams=(teams["South"],))) == (0, 0.5)
    assert company("lead", Filters(teams=(teams["South"],))) == (0, 0)


def test_the_setting_changes_the_api_answer_and_the_drilldown_lists_the_crew(client, admin_headers, crews):
    ids, _ = crews
    params = {"kpi": FTF, "group_by": "technician", "start": "2026-01-01", "end": "2026-02-01"}

    def ben() -> dict:
        rows = client.get("/api/v1/kpis/values", query_string=params, headers=admin_headers).get_json()
        return next(row for row in rows if row["group_label"] == "Ben")

    assert (ben()["numerator"], ben()["denominator"]) == (1, 2)  # each, the default
    response = client.put("/api/v1/plugins/settings/core.crew_credit", json={"value": "share"}, headers=admin_headers)
    assert response.status_code == 200, response.get_json()
    assert (ben()["numerator"], pytest.approx(ben()["denominator"])) == (pytest.approx(0.6), pytest.approx(1.1))

    facts = client.get(
        f"/api/v1/kpis/{FTF}/drilldown",
        query_string={
            "group_by": "technician",
            "group_id": ids["Ben"],
            "period": "month",
            "period_start": "2026-01-01",
        },
        headers=admin_headers,
    ).get_json()
    by_ref = {fact["external_ref"]: fact for fact in facts}
    assert set(by_ref) == {"J2", "J3"}
    assert by_ref["J3"]["share"] == pytest.approx(0.6) and by_ref["J3"]["numerator"] == pytest.approx(0.6)
    assert by_ref["J2"]["technician"] == "Ann"  # the lead names the job
    assert [(m["technician"], m["role"], m["share"]) for m in by_ref["J2"]["crew"]] == [
        ("Ann", "lead", 0.5),
        ("Ben", "helper", 0.5),
    ]
    assert sum(fact["denominator"] for fact in facts) == pytest.approx(ben()["denominator"])

    bad = client.put("/api/v1/plugins/settings/core.crew_credit", json={"value": "half"}, headers=admin_headers)
    assert bad.status_code == 422


def test_every_job_written_through_the_orm_has_its_technician_as_lead(database, crews):
    with database.session(write=False) as session:
        crewless = session.scalars(
            select(Job.external_ref).where(~Job.assignments.any(JobAssignment.technician_id == Job.technician_id))
        ).all()
    assert crewless == []
