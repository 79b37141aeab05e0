"""Under each crew credit rule the engine equals a plain-Python reference on random crews (issue #18).

Random jobs in one month, each with a random crew of one to three of four technicians in two teams
(a random lead, random or equal shares), a rating or none, and a return visit or none. First-time
fix (a rate) and the average rating (a mean) per technician, per team and for the company, under
``each``, ``share`` and ``lead``, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from kpi_core.kpis.crews import CREDIT_RULES
from kpi_core.kpis.engine import compute_values
from kpi_core.kpis.query import KpiQuery
from kpi_core.storage.models import Feedback, Job, JobAssignment, Team, Technician

FTF, RATING = "quality.first_time_fix_rate", "quality.avg_customer_rating"
TEAM_OF = (0, 0, 0, 1)
"""Technician index -> team index: three in the first team, one in the second."""
START, END = date(2026, 1, 1), date(2026, 2, 1)

crew = st.lists(st.integers(0, 3), min_size=1, max_size=3, unique=True).flatmap(
    lambda members: st.tuples(
        st.just(members),
        st.integers(0, len(members) - 1),
        st.none() | st.lists(st.integers(1, 9), min_size=len(members), max_size=len(members)),
    )
)
jobs = st.lists(
    st.fixed_dictionaries(
        {
            "crew": crew,
            "completed": st.booleans(),
            "rating": st.none() | st.integers(1, 5),
            "callback": st.sampled_from((None, "completed", "cancelled")),
        }
    ),
    min_size=1,
    max_size=12,
)


def settled(spec: tuple) -> list[tuple[int, str, float]]:
    """(technician index, role, share) of a generated crew: weights normalised, or equal."""
    members, lead, weights = spec
    weights = weights or [1] * len(members)
    total = sum(weights)
    return [
        (member, "lead" if index == lead else "helper", weight / total)
        for index, (member, weight) in enumerate(zip(members, weights, strict=True))
    ]


def reference(specs: list[dict], rule: str, group_of) -> dict[tuple[str, object], tuple[float, float]]:
    """{(kpi, group): (numerator, denominator)}, crediting each job by ``rule``, a group at most once a job."""
    sums: dict[tuple[str, object], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for spec in specs:
        contributions = {
            FTF: (float(spec["completed"] and spec["callback"] != "completed"), float(spec["completed"])),
            RATING: (
                float(spec["rating"]) if spec["completed"] and spec["rating"] else 0.0,
                float(spec["completed"] and spec["rating"] is not None),
            ),
        }
        credit: dict[object, float] = defaultdict(float)
        for member, role, share in settled(spec["crew"]):
            if rule == "lead" and role != "lead":
                continue
            group = group_of(member)
            credit[group] = credit[group] + share if rule == "share" else 1.0
        for group, weight in credit.items():
            for kpi, (numerator, denominator) in contributions.items():
                cell = sums[(kpi, group)]
                if denominator > 0:
                    cell[0] += numerator * weight
                    cell[1] += denominator * weight
    return {key: (numerator, denominator) for key, (numerator, denominator) in sums.items()}


def store(database, specs: list[dict]) -> list[int]:
    with database.session() as session:
        for model in (Feedback, JobAssignment, Job, Technician, Team):
            session.execute(delete(model))
        teams = [Team(name="North"), Team(name="South")]
        session.add_all(teams)
        session.flush()
        people = [
            Technician(external_ref=f"T{index}", name=f"T{index}", team_id=teams[team].id)
            for index, team in enumerate(TEAM_OF)
        ]
        session.add_all(people)
        session.flush()
        for number, spec in enumerate(specs):
            members = settled(spec["crew"])
            done = datetime(2026, 1, 2 + number, 12, tzinfo=UTC)
            job = Job(
                external_ref=f"J{number}",
                technician_id=next(people[m].id for m, role, _ in members if role == "lead"),
                category="plumbing",
                status="completed" if spec["completed"] else "scheduled",
                scheduled_start=done - timedelta(hours=2),
                completed_at=done if spec["completed"] else None,
                assignments=[JobAssignment(technician_id=people[m].id, role=r, share=s) for m, r, s in members],
            )
            session.add(job)
            session.flush()
            if spec["rating"] is not None:
                session.add(Feedback(job_id=job.id, rating=spec["rating"], received_at=done))
            if spec["callback"] is not None:
                visit = done + timedelta(days=2)
                session.add(
                    Job(
                        external_ref=f"C{number}",
                        technician_id=job.technician_id,
                        category="plumbing",
                        status=spec["callback"],
                        scheduled_start=visit,
                        completed_at=visit if spec["callback"] == "completed" else None,
                        callback_of_id=job.id,
                    )
                )
        session.flush()
        return [person.id for person in people], [team.id for team in teams]


def engine_cells(database, plugins, rule: str, group_by: str) -> dict[tuple[str, str], tuple[float, float]]:
    query = KpiQuery(start=START, end=END, kpis=(FTF, RATING), group_by=group_by, credit=rule)
    with database.session(write=False) as session:
        rows = compute_values(session, plugins, query, zone=UTC, target_for=lambda *_: None)
    # Groups with no sample (denominator 0) are rows too; the reference has them only when credited.
    return {(row.kpi, row.group_id): (row.numerator, row.denominator) for row in rows if row.denominator > 0}


def assert_close(actual: dict, expected: dict) -> None:
    expected = {key: value for key, value in expected.items() if value[1] > 0}
    assert set(actual) == set(expected)
    for key, (numerator, denominator) in expected.items():
        assert actual[key] == (pytest.approx(numerator, abs=1e-9), pytest.approx(denominator, abs=1e-9)), key


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=jobs)
def test_every_rule_equals_the_reference_for_technicians_teams_and_the_company(database, plugins, specs):
    people, teams = store(database, specs)
    for rule in CREDIT_RULES:
        for group_by, group_of in (
            ("technician", lambda member: str(people[member])),
            ("team", lambda member: str(teams[TEAM_OF[member]])),
            ("company", lambda member: "company"),
        ):
            assert_close(engine_cells(database, plugins, rule, group_by), reference(specs, rule, group_of))
