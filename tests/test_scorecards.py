"""Scorecards: composite scores by hand, ranks, the minimum sample, the previous window, scoping."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from kpi_core.kpis.scorecards import compute_scorecards, points_of, previous_window
from kpi_core.storage.models import Feedback, Job, Team, Technician

FTF = "quality.first_time_fix_rate"
RATING = "quality.avg_customer_rating"
JUNE = {"kpi": [FTF, RATING], "period": "month", "start": "2026-06-01", "end": "2026-07-01", "min_sample": 2}


@pytest.fixture
def settings(settings):
    """These crews are small: every KPI value gets a status here (the minimum is tested on its own below)."""
    return replace(settings, status_min_sample=1)


@pytest.fixture
def crew(database) -> dict[str, int]:
    """June: Ada 2 jobs fixed first time rated 5 and 4; Bob 2 jobs, one called back, rated 4 and 4;
    Cy 1 job rated 5. May: Ada 1 job called back, rated 4."""
    refs = iter(range(1, 1000))
    with database.session() as session:
        north = Team(name="North")
        session.add(north)
        session.flush()
        people = {name: Technician(external_ref=name, name=name, team_id=north.id) for name in ("Ada", "Bob", "Cy")}
        session.add_all(people.values())
        session.flush()

        def job(who: str, day: date, rating: int, callback: bool = False) -> None:
            done = datetime(day.year, day.month, day.day, 14, tzinfo=UTC)
            row = Job(
                external_ref=f"J{next(refs)}",
                technician_id=people[who].id,
                category="plumbing",
                status="completed",
                completed_at=done,
            )
            session.add(row)
            session.flush()
            session.add(Feedback(job_id=row.id, rating=rating, received_at=done))
            if callback:
                session.add(
                    Job(
                        external_ref=f"J{next(refs)}",
                        technician_id=people[who].id,
                        category="plumbing",
                        status="scheduled",
                        scheduled_start=done + timedelta(days=3),
                        callback_of_id=row.id,
                    )
                )

        job("Ada", date(2026, 6, 3), 5)
        job("Ada", date(2026, 6, 10), 4)
        job("Bob", date(2026, 6, 4), 4, callback=True)
        job("Bob", date(2026, 6, 11), 4)
        job("Cy", date(2026, 6, 12), 5)
        job("Ada", date(2026, 5, 20), 4, callback=True)
        return {name: person.id for name, person in people.items()}


def scorecards(client, headers, **changes):
    response = client.get("/api/v1/scorecards", query_string={**JUNE, **changes}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def test_scores_ranks_and_changes_by_hand(client, admin_headers, crew) -> None:
    body = scorecards(client, admin_headers)
    assert (body["previous_start"], body["previous_end"], body["min_sample"]) == ("2026-05-01", "2026-06-01", 2)
    by_name = {row["technician"]: row for row in body["technicians"]}
    assert [row["technician"] for row in body["technicians"]] == ["Ada", "Bob", "Cy"]

    ada = by_name["Ada"]
    # FTF 2/2 = 1.0 >= green 0.9: 100 points; rating 4.5 >= green 4.5: 100 points; equal weights 2 and 2.
    assert (ada["score"], ada["rank"], ada["sample"], ada["unranked_reason"]) == (100.0, 1, 2, None)
    # May: FTF 0/1 -> 0 points, rating 4.0 = amber -> 50 points: 25.
    assert (ada["previous_score"], ada["change"]) == (25.0, 75.0)
    assert {c["kpi"]: c["contribution"] for c in ada["contributions"]} == {FTF: 50.0, RATING: 50.0}

    bob = by_name["Bob"]
    # FTF 1/2 = 0.5 below amber 0.8: 50 * 0.5 / 0.8 = 31.25 points; rating 4.0 = amber: 50. Mean: 40.625.
    assert bob["score"] == pytest.approx(40.625, abs=0.01)
    assert (bob["rank"], bob["previous_score"], bob["change"]) == (2, None, None)
    ftf = next(c for c in bob["contributions"] if c["kpi"] == FTF)
    assert (ftf["value"], ftf["status"], ftf["points"], ftf["sample"]) == (0.5, "red", 31.25, 2.0)

    cy = by_name["Cy"]
    assert (cy["score"], cy["rank"], cy["sample"]) == (100.0, None, 1)
    assert cy["unranked_reason"] == "only 1 completed job in the period; 2 needed"


def test_the_default_minimum_sample_leaves_everyone_unranked(client, admin_headers, crew) -> None:
    body = scorecards(client, admin_headers, min_sample=None)
    assert body["min_sample"] == 10
    assert all(row["rank"] is None and "10 needed" in row["unranked_reason"] for row in body["technicians"])


def test_equal_scores_share_a_rank(client, admin_headers, crew) -> None:
    body = scorecards(client, admin_headers, min_sample=1)
    assert [(row["technician"], row["rank"]) for row in body["technicians"]] == [("Ada", 1), ("Cy", 1), ("Bob", 3)]


def test_a_technician_sees_only_their_own_scorecard(client, make_user, login, crew) -> None:
    make_user("technician", username="bob", technician_ref="Bob")
    body = scorecards(client, login("bob"))
    assert [row["technician"] for row in body["technicians"]] == ["Bob"]


def test_a_manager_sees_their_teams(client, make_user, login, crew) -> None:
    make_user("manager", username="mia", teams=())
    assert scorecards(client, login("mia"))["technicians"] == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"end": "2026-06-01"}, "end"), ({"min_sample": -1}, "min_sample"), ({"kpi": ["nope.kpi"]}, "kpi")],
)
def test_bad_queries_name_the_field(client, admin_headers, changes, field) -> None:
    response = client.get("/api/v1/scorecards", query_string={**JUNE, **changes}, headers=admin_headers)
    assert response.status_code == 422
    assert field in str(response.json["errors"])


@pytest.mark.parametrize(
    ("start", "end", "period", "expected"),
    [
        (date(2026, 6, 1), date(2026, 7, 1), "month", (date(2026, 5, 1), date(2026, 6, 1))),
        (date(2026, 1, 1), date(2026, 7, 1), "month", (date(2025, 7, 1), date(2026, 1, 1))),
        (date(2026, 4, 1), date(2026, 7, 1), "quarter", (date(2026, 1, 1), date(2026, 4, 1))),
        (date(2026, 6, 1), date(2026, 6, 15), "week", (date(2026, 5, 18), date(2026, 6, 1))),
        # Within one month: the same days of the month before (issue #17: the same elapsed part).
        (date(2026, 6, 10), date(2026, 6, 20), "month", (date(2026, 5, 10), date(2026, 5, 20))),
        (date(2026, 12, 1), date(2026, 12, 5), "month", (date(2026, 11, 1), date(2026, 11, 5))),
    ],
)
def test_previous_window(start, end, period, expected) -> None:
    assert previous_window(start, end, period) == expected


@pytest.mark.parametrize(
    ("value", "direction", "expected"),
    [
        (0.95, "higher", 100.0),
        (0.85, "higher", 75.0),
        (0.4, "higher", 25.0),
        (5, "lower", 100.0),
        (15, "lower", 75.0),
        (40, "lower", 25.0),
        (None, "higher", None),
    ],
)
def test_points(value, direction, expected) -> None:
    target = SimpleNamespace(green=0.9, amber=0.8) if direction == "higher" else SimpleNamespace(green=10, amber=20)
    points = points_of(value, target, direction)
    assert points == (None if expected is None else pytest.approx(expected))


def test_scorecards_are_cached_until_the_data_or_the_roster_changes(client, admin_headers, database, crew) -> None:
    def ask() -> tuple[str, list[str]]:
        response = client.get("/api/v1/scorecards", query_string=JUNE, headers=admin_headers)
        assert response.status_code == 200
        return response.headers["X-KPI-Cache"], [row["technician"] for row in response.json["technicians"]]

    assert ask() == ("miss", ["Ada", "Bob", "Cy"])
    assert ask() == ("hit", ["Ada", "Bob", "Cy"])
    with database.session() as session:
        session.add(Technician(external_ref="Dee", name="Dee"))
    assert ask() == ("miss", ["Ada", "Bob", "Cy", "Dee"])
    with database.session() as session:  # a May job changes the previous window, so Ada's change
        session.get(Job, 1).completed_at = datetime(2026, 5, 2, 14, tzinfo=UTC)
    assert ask()[0] == "miss"


def test_a_change_to_one_month_computes_that_month_again_only(
    client, admin_headers, database, plugins, settings, crew
) -> None:
    window = {**JUNE, "start": "2026-05-01", "end": "2026-07-01"}  # and March-April before it

    def ask() -> tuple[str, str, dict]:
        response = client.get("/api/v1/scorecards", query_string=window, headers=admin_headers)
        assert response.status_code == 200, response.json
        return response.headers["X-KPI-Cache"], response.headers["X-KPI-Months-Computed"], response.json

    assert ask()[:2] == ("miss", "6/6")  # technicians over both windows, teams over June
    assert ask()[:2] == ("hit", "0/6")
    with database.session() as session:  # Cy's June job is rated 1 instead of 5
        job = session.scalars(select(Job).where(Job.technician_id == crew["Cy"])).one()
        session.scalars(select(Feedback).where(Feedback.job_id == job.id)).one().rating = 1
    state, months, body = ask()
    assert (state, months) == ("miss", "2/6")  # June (technicians, teams); the rest from the cache
    with database.session(write=False) as session:
        expected = compute_scorecards(
            session, plugins, start=date(2026, 5, 1), end=date(2026, 7, 1), period="month", zone=settings.zone,
            kpis=JUNE["kpi"], min_sample=2, status_min_sample=settings.status_min_sample,
        )  # fmt: skip
    assert body == json.loads(json.dumps(asdict(expected), default=str))


# --- ranks among peers ---------------------------------------------------------------


@pytest.fixture
def two_teams(database, crew) -> dict[str, int]:
    """The crew (North) and Dan of South: 2 June jobs, one called back, rated 5 and 5."""
    with database.session() as session:
        south = Team(name="South")
        session.add(south)
        session.flush()
        dan = Technician(external_ref="Dan", name="Dan", team_id=south.id)
        session.add(dan)
        session.flush()
        for day, ref in ((5, "D1"), (6, "D2")):
            done = datetime(2026, 6, day, 14, tzinfo=UTC)
            job = Job(
                external_ref=ref, technician_id=dan.id, category="plumbing", status="completed", completed_at=done
            )
            session.add(job)
            session.flush()
            session.add(Feedback(job_id=job.id, rating=5, received_at=done))
        session.add(
            Job(
                external_ref="D3",
                technician_id=dan.id,
                category="plumbing",
                status="scheduled",
                scheduled_start=datetime(2026, 6, 8, 14, tzinfo=UTC),
                callback_of_id=session.scalar(select(Job.id).where(Job.external_ref == "D1")),
            )
        )
        return {**crew, "Dan": dan.id, "south": south.id}


def test_a_technician_is_ranked_among_team_and_company_without_seeing_them(client, make_user, login, two_teams):
    make_user("technician", username="bob", technician_ref="Bob")

    body = scorecards(client, login("bob"))

    # Scores: Ada 100, Dan (FTF 0.5: 31.25; rating 5: 100) 65.63, Bob 40.63; Cy unranked (1 job).
    [bob] = body["technicians"]
    assert bob["technician"] == "Bob"
    assert bob["rank"] == 1  # among the technicians listed: only Bob
    assert bob["peers"] == {"team": {"rank": 2, "of": 2}, "company": {"rank": 3, "of": 3}}
    text = json.dumps(body)
    assert "Ada" not in text and "Dan" not in text and "Cy" not in text


def test_kpi_ranks_among_peers_follow_the_kpi_and_its_direction(client, admin_headers, two_teams):
    body = scorecards(client, admin_headers)
    by_name = {row["technician"]: row for row in body["technicians"]}

    def part(name: str, kpi: str) -> dict:
        return next(c for c in by_name[name]["contributions"] if c["kpi"] == kpi)

    # Rating: Dan 5.0 first, Ada 4.5, Bob 4.0; Cy (1 job) has a value but is not ranked.
    assert [part(name, RATING)["rank"] for name in ("Dan", "Ada", "Bob", "Cy")] == [1, 2, 3, None]
    assert part("Bob", RATING)["peers"] == {"team": {"rank": 2, "of": 2}, "company": {"rank": 3, "of": 3}}
    assert part("Dan", RATING)["peers"]["team"] == {"rank": 1, "of": 1}
    # First-time fix: Ada 1.0, then Bob and Dan share 0.5.
    assert [part(name, FTF)["rank"] for name in ("Ada", "Bob", "Dan")] == [1, 2, 2]


def test_a_manager_sees_company_ranks_of_their_team_only(client, make_user, login, two_teams):
    make_user("manager", username="sam", teams=("South",))

    body = scorecards(client, login("sam"))

    [dan] = body["technicians"]
    assert (dan["technician"], dan["rank"]) == ("Dan", 1)
    assert dan["peers"] == {"team": {"rank": 1, "of": 1}, "company": {"rank": 2, "of": 3}}


def test_each_kpi_shows_its_target_and_the_teams_pooled_value(client, admin_headers, two_teams):
    body = scorecards(client, admin_headers)
    ada = next(row for row in body["technicians"] if row["technician"] == "Ada")
    ftf = next(c for c in ada["contributions"] if c["kpi"] == FTF)

    assert ftf["target"] == {"green": 0.9, "amber": 0.8}
    # North pooled: Ada 2/2, Bob 1/2, Cy 1/1 -> 4/5, not the mean of the three rates.
    assert ftf["team_value"] == pytest.approx(0.8)


def test_a_technician_gets_the_team_value_only_from_three_technicians(client, make_user, login, two_teams):
    make_user("technician", username="bob", technician_ref="Bob")
    make_user("technician", username="dan", technician_ref="Dan")

    [bob] = scorecards(client, login("bob"))["technicians"]
    [dan] = scorecards(client, login("dan"))["technicians"]

    assert {c["kpi"]: c["team_value"] for c in bob["contributions"]} == {FTF: pytest.approx(0.8), RATING: 4.4}
    # Dan is alone in South: the team's value would be his own, and with two it would tell the other's.
    assert {c["kpi"]: c["team_value"] for c in dan["contributions"]} == {FTF: None, RATING: None}


def test_team_and_technician_filters_narrow_the_list_not_the_peers(client, admin_headers, two_teams):
    body = scorecards(client, admin_headers, team=two_teams["south"])

    [dan] = body["technicians"]
    assert dan["peers"]["company"] == {"rank": 2, "of": 3}


def test_a_kpi_on_too_few_facts_is_neither_coloured_nor_scored(database, plugins, settings, crew) -> None:
    """June with at least 2 facts needed for a status: Cy's one job gives FTF and rating values but no
    colour and no points, so Cy has no score; Ada's two jobs are enough and score as before."""
    with database.session(write=False) as session:
        cards = compute_scorecards(
            session, plugins, start=date(2026, 6, 1), end=date(2026, 7, 1), zone=settings.zone,
            kpis=[FTF, RATING], min_sample=1, status_min_sample=2,
        )  # fmt: skip
    by_name = {row.technician: row for row in cards.technicians}
    cy = by_name["Cy"]
    assert [(part.value, part.status, part.points) for part in cy.contributions] == [
        (1.0, "insufficient", None),
        (5.0, "insufficient", None),
    ]
    assert (cy.score, cy.rank) == (None, None)
    assert by_name["Ada"].score == 100.0
