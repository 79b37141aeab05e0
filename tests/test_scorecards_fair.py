"""Scorecards fair by job mix (issue #17): a technician who does mostly hard jobs is judged against
the rate their mix of job categories would give at the company's rates, computed here by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from kpi_core.storage.models import Job, Technician

FTF = "quality.first_time_fix_rate"
JUNE = {"kpi": FTF, "period": "month", "start": "2026-06-01", "end": "2026-07-01", "min_sample": 2}
SETTING = "/api/v1/plugins/settings/core.rank_by_job_mix"


@pytest.fixture
def settings(settings):
    """Small crews: every value gets a status here."""
    return replace(settings, status_min_sample=1)


@pytest.fixture
def mixes(database) -> None:
    """June. Ann: 4 HVAC jobs, 1 called back (3/4). Ben: 4 electrical jobs, none called back (4/4).
    Cat: 2 HVAC jobs, 1 called back, and 2 electrical jobs (3/4).

    The company: HVAC 4 of 6 fixed first time (2/3), electrical 6 of 6 (1), all 10 of 12 (5/6).
    Expected from each mix: Ann 2/3; Ben 1; Cat (2 x 2/3 + 2 x 1) / 4 = 5/6.
    Ratio observed / expected: Ann 9/8, Ben 1, Cat 9/10. Adjusted (ratio x 5/6): Ann 15/16, Ben 5/6, Cat 3/4.
    """
    refs = iter(range(1, 1000))
    with database.session() as session:
        people = {name: Technician(external_ref=name, name=name) for name in ("Ann", "Ben", "Cat")}
        session.add_all(people.values())
        session.flush()

        def job(who: str, day: int, category: str, callback: bool = False) -> None:
            done = datetime(2026, 6, day, 14, tzinfo=UTC)
            row = Job(
                external_ref=f"J{next(refs)}",
                technician_id=people[who].id,
                category=category,
                status="completed",
                completed_at=done,
            )
            session.add(row)
            session.flush()
            if callback:
                session.add(
                    Job(
                        external_ref=f"J{next(refs)}",
                        technician_id=people[who].id,
                        category=category,
                        status="scheduled",
                        scheduled_start=done + timedelta(days=3),
                        callback_of_id=row.id,
                    )
                )

        for day, callback in ((2, True), (3, False), (4, False), (5, False)):
            job("Ann", day, "hvac", callback)
        for day in (2, 3, 4, 5):
            job("Ben", day, "electrical")
        job("Cat", 2, "hvac", callback=True)
        job("Cat", 3, "hvac")
        job("Cat", 4, "electrical")
        job("Cat", 5, "electrical")


def scorecards(client, headers, **changes) -> dict:
    response = client.get("/api/v1/scorecards", query_string={**JUNE, **changes}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def ftf_of(body: dict) -> dict[str, dict]:
    return {
        row["technician"]: {**next(part for part in row["contributions"] if part["kpi"] == FTF), "score": row["score"]}
        for row in body["technicians"]
    }


def test_as_observed_the_technician_with_easy_jobs_ranks_first(client, admin_headers, mixes) -> None:
    body = scorecards(client, admin_headers, adjust="none")
    assert body["adjust"] is None
    parts = ftf_of(body)
    assert {name: part["value"] for name, part in parts.items()} == {"Ann": 0.75, "Ben": 1.0, "Cat": 0.75}
    assert {name: part["rank"] for name, part in parts.items()} == {"Ann": 2, "Ben": 1, "Cat": 2}
    assert all(part["expected"] is None and part["adjusted"] is None for part in parts.values())


def test_fair_by_job_mix_ranks_on_the_rate_expected_from_each_mix(client, admin_headers, mixes) -> None:
    body = scorecards(client, admin_headers, adjust="category")
    assert body["adjust"] == "category"
    parts = ftf_of(body)
    expected = {"Ann": 2 / 3, "Ben": 1.0, "Cat": 5 / 6}
    ratio = {"Ann": 9 / 8, "Ben": 1.0, "Cat": 9 / 10}
    adjusted = {"Ann": 15 / 16, "Ben": 5 / 6, "Cat": 3 / 4}
    for name, part in parts.items():
        assert part["value"] == pytest.approx({"Ann": 0.75, "Ben": 1.0, "Cat": 0.75}[name])  # observed, beside
        assert part["expected"] == pytest.approx(expected[name]), name
        assert part["ratio"] == pytest.approx(ratio[name]), name
        assert part["adjusted"] == pytest.approx(adjusted[name]), name
    assert {name: part["rank"] for name, part in parts.items()} == {"Ann": 1, "Ben": 2, "Cat": 3}
    # Points and colours follow the adjusted value (targets: green 0.9, amber 0.8).
    assert (parts["Ann"]["status"], parts["Ann"]["points"]) == ("green", 100.0)
    assert parts["Ben"]["status"] == "amber"
    assert parts["Ben"]["points"] == pytest.approx(50 + 50 * (5 / 6 - 0.8) / 0.1)
    assert parts["Cat"]["status"] == "red"
    assert [row["technician"] for row in body["technicians"]] == ["Ann", "Ben", "Cat"]


def test_the_admins_setting_makes_fair_ranking_the_default(client, admin_headers, mixes) -> None:
    assert scorecards(client, admin_headers)["adjust"] is None  # the setting's default: as observed
    response = client.put(SETTING, json={"value": True}, headers=admin_headers)
    assert response.status_code == 200, response.json
    fair = scorecards(client, admin_headers)
    assert fair["adjust"] == "category"
    assert ftf_of(fair)["Ann"]["adjusted"] == pytest.approx(15 / 16)
    # One view can still ask for the observed ranking.
    assert scorecards(client, admin_headers, adjust="none")["adjust"] is None


def test_a_cached_fair_answer_equals_a_fresh_one(client, admin_headers, mixes) -> None:
    first = client.get("/api/v1/scorecards", query_string={**JUNE, "adjust": "category"}, headers=admin_headers)
    again = client.get("/api/v1/scorecards", query_string={**JUNE, "adjust": "category"}, headers=admin_headers)
    assert again.headers.get("X-KPI-Cache") == "hit"
    assert again.json == first.json


def test_an_unknown_adjustment_is_refused_naming_the_parameter(client, admin_headers, mixes) -> None:
    response = client.get("/api/v1/scorecards", query_string={**JUNE, "adjust": "team"}, headers=admin_headers)
    assert response.status_code == 422
    assert "adjust" in response.json["errors"]["query"]
