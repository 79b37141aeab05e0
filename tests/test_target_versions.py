"""Targets with effective dates (issue #21, point 1): every change is a new version valid from a day,
each period is judged against the version in force on its first day, the history lists every version,
a revert is a version too, and every change is audited with before and after."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import column as col
from sqlalchemy import func, insert, select, table

from kpi_core.storage.db import Database
from kpi_core.storage.migrate import upgrade
from kpi_core.storage.models import AuditEntry, Job, KpiTarget, Technician
from kpi_core.web.state import EXTENSION_KEY

URL = "/api/v1/targets"
BUDGET = "timeliness.on_budget_rate"  # higher is better; default green 0.85, amber 0.70
SPRING = {"kpi": BUDGET, "group_by": "company", "period": "month", "start": "2026-01-01", "end": "2026-05-01"}
ON_BUDGET = {1: (3, 4), 2: (2, 4), 3: (3, 4), 4: (2, 4)}
"""Per month of 2026: (jobs on budget, jobs) -> 75 %, 50 %, 75 %, 50 %."""


@pytest.fixture
def settings(settings):
    return replace(settings, status_min_sample=1, timezone="America/New_York")


@pytest.fixture
def now(app):
    """The app's clock, frozen at a set instant (``now(datetime)``)."""

    def set_clock(instant: datetime) -> None:
        app.extensions[EXTENSION_KEY].clock = lambda: instant

    set_clock(datetime(2026, 6, 15, 12, tzinfo=UTC))
    return set_clock


@pytest.fixture
def spring(database) -> None:
    """One technician's jobs, January to April 2026, on budget as ON_BUDGET says (60 of 60 minutes on
    budget, 90 of 60 over)."""
    with database.session() as session:
        technician = Technician(external_ref="T1", name="Ada")
        session.add(technician)
        session.flush()
        for month, (good, total) in ON_BUDGET.items():
            for number in range(total):
                started = datetime(2026, month, 10 + number, 14, tzinfo=UTC)
                minutes = 60 if number < good else 90
                session.add(
                    Job(
                        external_ref=f"J-{month}-{number}", technician_id=technician.id, category="plumbing",
                        status="completed", estimated_minutes=60, started_at=started,
                        completed_at=started + timedelta(minutes=minutes),
                    )
                )  # fmt: skip


def put(client, headers, body: dict, *, etag: str | None = None, team: int | None = None, metric: str = BUDGET):
    path = f"{URL}/{metric}" if team is None else f"{URL}/{metric}/teams/{team}"
    return client.put(path, json=body, headers={**headers, **({"If-Match": etag} if etag else {})})


def statuses(client, headers) -> list[tuple[str, float, str]]:
    response = client.get("/api/v1/kpis/values", query_string=SPRING, headers=headers)
    assert response.status_code == 200, response.json
    return [(row["period_start"], row["value"], row["status"]) for row in response.json]


def history(client, headers, **query) -> list[dict]:
    response = client.get(f"{URL}/{BUDGET}/history", query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def test_a_target_changed_mid_year_judges_earlier_months_by_the_old_target(client, admin_headers, spring, now):
    # The plugin's default (green 85 %, amber 70 %) from the beginning; from March, green 70 % and amber 50 %.
    response = put(client, admin_headers, {"green": 0.7, "amber": 0.5, "weight": 1, "valid_from": "2026-03-01"})
    assert response.status_code == 201, response.json

    # By hand: January 75 % is amber (70 <= 75 < 85), February 50 % red (< 70); March 75 % green (>= 70)
    # and April 50 % amber (50 <= 50 < 70) by the new target.
    assert statuses(client, admin_headers) == [
        ("2026-01-01", 0.75, "amber"),
        ("2026-02-01", 0.5, "red"),
        ("2026-03-01", 0.75, "green"),
        ("2026-04-01", 0.5, "amber"),
    ]


def test_a_period_is_judged_by_the_version_in_force_on_its_first_day(client, admin_headers, spring, now):
    put(client, admin_headers, {"green": 0.7, "amber": 0.5, "weight": 1, "valid_from": "2026-02-02"})

    # February began under the default: only March on is judged by the version from 2 February.
    assert [status for *_, status in statuses(client, admin_headers)] == ["amber", "red", "green", "amber"]


def test_a_new_version_keeps_the_old_one_in_the_history(client, admin_headers, spring, now):
    first = put(client, admin_headers, {"green": 0.9, "amber": 0.8, "weight": 2, "valid_from": "2026-01-01"})
    second = put(
        client, admin_headers, {"green": 0.7, "amber": 0.5, "weight": 1, "valid_from": "2026-03-01"},
        etag=first.json["etag"],
    )  # fmt: skip
    assert second.status_code == 200, second.json

    listed = history(client, admin_headers)
    assert [(v["valid_from"], v["green"], v["amber"], v["in_force"], v["created_by"]) for v in listed] == [
        ("2026-03-01", 0.7, 0.5, True, "admin"),
        ("2026-01-01", 0.9, 0.8, False, "admin"),
    ]
    company = client.get(URL, query_string={"metric": BUDGET, "on": "2026-02-15"}, headers=admin_headers).json
    assert (company[0]["company"]["green"], company[0]["company"]["valid_from"]) == (0.9, "2026-01-01")


def test_a_version_starts_today_in_the_company_time_zone_by_default(client, admin_headers, spring, now):
    now(datetime(2026, 5, 1, 2, tzinfo=UTC))  # still 30 April in New York

    response = put(client, admin_headers, {"green": 0.7, "amber": 0.5, "weight": 1})

    assert response.json["valid_from"] == "2026-04-30"
    assert [status for *_, status in statuses(client, admin_headers)] == ["amber", "red", "amber", "red"]


def test_two_versions_from_one_day_the_later_takes_the_day(client, admin_headers, spring, now):
    typo = put(client, admin_headers, {"green": 0.07, "amber": 0.05, "weight": 1, "valid_from": "2026-03-01"})
    fixed = put(
        client, admin_headers, {"green": 0.7, "amber": 0.5, "weight": 1, "valid_from": "2026-03-01"},
        etag=typo.json["etag"],
    )  # fmt: skip

    assert fixed.status_code == 200, fixed.json
    assert [(v["green"], v["replaced"], v["in_force"]) for v in history(client, admin_headers)] == [
        (0.7, False, True),
        (0.07, True, False),
    ]
    assert statuses(client, admin_headers)[2][2] == "green"


def test_revert_adds_a_version_equal_to_the_older_one(client, admin_headers, spring, now, database):
    first = put(client, admin_headers, {"green": 0.7, "amber": 0.5, "weight": 1, "valid_from": "2026-01-01"})
    second = put(
        client, admin_headers, {"green": 0.95, "amber": 0.9, "weight": 3, "valid_from": "2026-03-01"},
        etag=first.json["etag"],
    )  # fmt: skip
    older = first.json["version_id"]

    path = f"{URL}/{BUDGET}/versions/{older}/revert"
    assert client.post(path, json={"valid_from": "2026-04-01"}, headers=admin_headers).status_code == 428
    assert client.post(path, json={}, headers={**admin_headers, "If-Match": first.json["etag"]}).status_code == 412
    response = client.post(
        path, json={"valid_from": "2026-04-01"}, headers={**admin_headers, "If-Match": second.json["etag"]}
    )

    assert response.status_code == 201, response.json
    assert (response.json["green"], response.json["amber"], response.json["weight"]) == (0.7, 0.5, 1)
    assert (response.json["reverts_id"], response.json["valid_from"]) == (older, "2026-04-01")
    assert [v["valid_from"] for v in history(client, admin_headers)] == ["2026-04-01", "2026-03-01", "2026-01-01"]
    # March is judged by the version between; April by the reverted one again.
    assert [status for *_, status in statuses(client, admin_headers)] == ["green", "amber", "red", "amber"]
    with database.session() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).one()
    assert (entry.action, entry.entity, entry.changes["green"], entry.changes["reverts_id"]) == (
        "revert", "target", [0.95, 0.7], [None, older],
    )  # fmt: skip


def test_every_change_is_audited_with_before_and_after(client, admin_headers, spring, now, database):
    first = put(client, admin_headers, {"green": 0.7, "amber": 0.5, "weight": 1, "valid_from": "2026-01-01"})
    put(
        client, admin_headers, {"green": 0.8, "amber": 0.5, "weight": 1, "valid_from": "2026-03-01"},
        etag=first.json["etag"],
    )  # fmt: skip

    with database.session() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.entity == "target").order_by(AuditEntry.id))
        trail = [(entry.action, entry.changes.get("green"), entry.changes.get("valid_from")) for entry in entries]
    assert trail == [
        ("create", [None, 0.7], [None, "2026-01-01"]),
        ("update", [0.7, 0.8], ["2026-01-01", "2026-03-01"]),
    ]


def test_removing_a_target_is_a_version_that_falls_back_to_the_default(client, admin_headers, spring, now):
    stored = put(client, admin_headers, {"green": 0.7, "amber": 0.5, "weight": 1, "valid_from": "2026-01-01"})

    response = client.delete(
        f"{URL}/{BUDGET}",
        query_string={"valid_from": "2026-03-01"},
        headers={**admin_headers, "If-Match": stored.json["etag"]},
    )

    assert response.status_code == 204
    assert [v["removed"] for v in history(client, admin_headers)] == [True, False]
    # January and February by the stored version, March and April by the plugin's default again.
    assert [status for *_, status in statuses(client, admin_headers)] == ["green", "amber", "amber", "red"]


# --- bad input ------------------------------------------------------------------------------------


def test_a_version_from_before_the_first_job_is_refused(client, admin_headers, spring, now, database):
    with database.session() as session:
        before = session.scalar(select(func.count()).select_from(KpiTarget))

    response = put(client, admin_headers, {"green": 0.7, "amber": 0.5, "weight": 1, "valid_from": "2025-12-31"})

    assert response.status_code == 422, response.json
    assert "2026-01-01, the first day of the month of the first job (2026-01-10)" in str(response.json["errors"])
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(KpiTarget)) == before


def test_any_day_is_accepted_before_there_are_jobs(client, admin_headers, now):
    assert (
        put(client, admin_headers, {"green": 0.7, "amber": 0.5, "weight": 1, "valid_from": "2020-01-01"}).status_code
        == 201
    )


def test_reverting_a_version_of_another_metric_answers_404(client, admin_headers, spring, now):
    stored = put(client, admin_headers, {"green": 0.7, "amber": 0.5, "weight": 1, "valid_from": "2026-01-01"})

    response = client.post(
        f"{URL}/quality.first_time_fix_rate/versions/{stored.json['version_id']}/revert",
        json={}, headers={**admin_headers, "If-Match": stored.json["etag"]},
    )  # fmt: skip

    assert response.status_code == 404


def test_the_history_of_an_unknown_metric_is_refused(client, admin_headers):
    assert client.get(f"{URL}/quality.nope/history", headers=admin_headers).status_code == 422


# --- the migration ---------------------------------------------------------------------------------


@pytest.fixture
def at_0014(database_url: str) -> Iterator[Database]:
    """A database at revision 0014 with a company target and a team override, as that schema stored them."""
    database = Database(database_url)
    upgrade(database.engine, "0014")
    stamps = {"created_at": datetime(2026, 1, 1, tzinfo=UTC), "updated_at": datetime(2026, 1, 1, tzinfo=UTC)}
    teams = table("teams", col("id"), col("name"), col("created_at"), col("updated_at"))
    targets = table(
        "targets", col("metric_key"), col("team_id"), col("green"), col("amber"), col("weight"),
        col("created_at"), col("updated_at"),
    )  # fmt: skip
    with database.engine.begin() as connection:
        connection.execute(insert(teams), [{"id": 1, "name": "North", **stamps}])
        connection.execute(
            insert(targets),
            [
                {"metric_key": BUDGET, "team_id": None, "green": 0.8, "amber": 0.6, "weight": 2, **stamps},
                {"metric_key": BUDGET, "team_id": 1, "green": 0.9, "amber": 0.7, "weight": 1, **stamps},
            ],
        )
    yield database
    database.dispose()


def test_existing_targets_become_versions_valid_from_the_beginning(at_0014, plugins):
    from kpi_core.records.targets import target_book

    upgrade(at_0014.engine, "0015")

    with at_0014.session() as session:
        rows = session.scalars(select(KpiTarget).order_by(KpiTarget.id)).all()
        assert [(row.team_id, row.valid_from, row.removed, row.green) for row in rows] == [
            (None, None, False, 0.8),
            (1, None, False, 0.9),
        ]
        book = target_book(session, plugins)
    assert book.at(BUDGET, None, date(1990, 1, 1)).green == 0.8
    assert book.at(BUDGET, 1, date(2026, 12, 1)).green == 0.9
