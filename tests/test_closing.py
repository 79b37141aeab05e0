"""Closing a period (issue #21, point 3): a closed month is answered from its snapshot; a late change
to its facts shows as a restatement beside the closed value until the month is closed again; a report
of it made again later is the same, byte for byte in the CSV; scoped callers see only what they may."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from kpi_core.accounts.scope import UNSCOPED
from kpi_core.jobs.context import JobContext
from kpi_core.kpis import closing
from kpi_core.reports.build import build_report_data
from kpi_core.reports.spec import parse_spec
from kpi_core.storage.models import AuditEntry, Job, KpiSnapshot, PeriodClose, Team, Technician
from kpi_core.web.state import EXTENSION_KEY

BUDGET = "timeliness.on_budget_rate"  # higher is better; default green 0.85, amber 0.70
MARCH = {"kpi": BUDGET, "period": "month", "start": "2026-03-01", "end": "2026-04-01"}
CLOSE = "/api/v1/periods/2026-03/close"
NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)


@pytest.fixture
def settings(settings):
    return replace(settings, status_min_sample=1)


@pytest.fixture
def now(app):
    def set_clock(instant: datetime) -> None:
        app.extensions[EXTENSION_KEY].clock = lambda: instant

    set_clock(NOW)
    return set_clock


class Facts:
    def __init__(self, database) -> None:
        self.database = database
        self.count = 0

    def job(self, technician: int, day: date, *, on_budget: bool) -> None:
        """A completed March job of 60 estimated minutes: 60 minutes on budget, 90 over."""
        self.count += 1
        started = datetime(day.year, day.month, day.day, 14, tzinfo=UTC)
        with self.database.session() as session:
            session.add(
                Job(
                    external_ref=f"J{self.count}", technician_id=technician, category="plumbing", status="completed",
                    estimated_minutes=60, started_at=started,
                    completed_at=started + timedelta(minutes=60 if on_budget else 90),
                )
            )  # fmt: skip


@pytest.fixture
def crew(database) -> dict[str, int]:
    """North: Ada (3 of 4 on budget in March) and Bob (1 of 2); South: Cy (2 of 2)."""
    with database.session() as session:
        north, south = Team(name="North"), Team(name="South")
        session.add_all([north, south])
        session.flush()
        people = {
            key: Technician(external_ref=key, name=name, team_id=team.id)
            for key, name, team in (("ada", "Ada", north), ("bob", "Bob", north), ("cy", "Cy", south))
        }
        session.add_all(people.values())
        session.flush()
        ids = {key: person.id for key, person in people.items()} | {"north": north.id, "south": south.id}
    facts = Facts(database)
    for technician, flags in (("ada", (1, 1, 1, 0)), ("bob", (1, 0)), ("cy", (1, 1))):
        for number, flag in enumerate(flags):
            facts.job(ids[technician], date(2026, 3, 2 + number), on_budget=bool(flag))
    ids["facts"] = facts  # type: ignore[assignment]
    return ids


def values(client, headers, **params) -> list[dict]:
    response = client.get("/api/v1/kpis/values", query_string={**MARCH, **params}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def by_group(rows: list[dict]) -> dict[str, dict]:
    return {row["group_label"]: row for row in rows}


def test_closing_a_month_keeps_its_values_and_marks_them_closed(client, admin_headers, crew, now, database):
    before = by_group(values(client, admin_headers, group_by="technician"))

    response = client.post(CLOSE, json={}, headers=admin_headers)

    assert response.status_code == 201, response.json
    assert (response.json["month"], response.json["closes"], response.json["closed_by"]) == ("2026-03", 1, "admin")
    with database.session(write=False) as session:
        stored = session.scalars(select(KpiSnapshot).where(KpiSnapshot.kpi == BUDGET)).all()
    # Ada, Bob, Cy; North, South; the company
    assert sorted(row.group_by for row in stored) == [
        "company",
        "team",
        "team",
        "technician",
        "technician",
        "technician",
    ]
    assert response.json["rows"] % 6 == 0
    after = by_group(values(client, admin_headers, group_by="technician"))
    for name in ("Ada", "Bob", "Cy"):
        assert after[name]["closed"] is True and after[name]["restated"] is None
        assert (after[name]["value"], after[name]["status"]) == (before[name]["value"], before[name]["status"])
        assert after[name]["fingerprint"] == before[name]["fingerprint"]
    assert (after["Ada"]["value"], after["Ada"]["status"]) == (0.75, "amber")
    company = values(client, admin_headers, group_by="company")[0]
    assert (company["value"], company["denominator"], company["closed"]) == (0.75, 8, True)


def test_a_late_import_shows_a_restatement_until_the_month_is_closed_again(client, admin_headers, crew, now, database):
    client.post(CLOSE, json={}, headers=admin_headers)

    crew["facts"].job(crew["ada"], date(2026, 3, 20), on_budget=False)  # a late job: Ada 3 of 5, 60 %

    ada = by_group(values(client, admin_headers, group_by="technician"))["Ada"]
    assert (ada["value"], ada["denominator"], ada["status"], ada["closed"]) == (0.75, 4, "amber", True)
    assert ada["restated"] == {
        "value": 0.6, "numerator": 3.0, "denominator": 5.0, "pending": 0.0, "status": "red",
        "change": pytest.approx(-0.15), "fingerprint": ada["fingerprint"],
    }  # fmt: skip
    cy = by_group(values(client, admin_headers, group_by="technician"))["Cy"]
    assert cy["restated"] is None  # nothing of Cy's changed
    company = values(client, admin_headers, group_by="company")[0]
    assert (company["value"], company["restated"]["value"]) == (0.75, pytest.approx(6 / 9))

    again = client.post(CLOSE, json={"reclose": True}, headers=admin_headers)

    assert again.status_code == 201, again.json
    assert again.json["closes"] == 2
    ada = by_group(values(client, admin_headers, group_by="technician"))["Ada"]
    assert (ada["value"], ada["status"], ada["closed"], ada["restated"]) == (0.6, "red", True, None)
    with database.session() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).one()
    key = f"{BUDGET} technician {crew['ada']}"
    assert (entry.action, entry.entity, entry.entity_id, entry.changes[key]) == (
        "reclose", "period", "2026-03-01", [0.75, 0.6],
    )  # fmt: skip


def test_a_closed_month_whose_facts_did_not_change_is_answered_without_computing_it(
    client, admin_headers, crew, now, database
):
    client.post(CLOSE, json={}, headers=admin_headers)

    response = client.get(
        "/api/v1/kpis/values", query_string={**MARCH, "group_by": "technician"}, headers=admin_headers
    )

    assert response.headers["X-KPI-Months-Computed"] == "0/1"
    assert all(row["closed"] for row in response.json)


def test_a_setting_change_restates_a_closed_month(client, admin_headers, crew, now):
    client.post(CLOSE, json={}, headers=admin_headers)

    changed = client.put(
        "/api/v1/plugins/settings/timeliness.budget_tolerance", json={"value": 0.6}, headers=admin_headers
    )
    assert changed.status_code == 200, changed.json

    ada = by_group(values(client, admin_headers, group_by="technician"))["Ada"]
    assert (ada["value"], ada["restated"]["value"]) == (0.75, 1.0)  # 90 minutes is within 60 % over
    assert ada["restated"]["fingerprint"] != ada["fingerprint"]


# --- bad input ----------------------------------------------------------------------------------------


def test_a_month_that_has_not_ended_cannot_be_closed(client, admin_headers, crew, now, database):
    now(datetime(2026, 3, 31, 12, tzinfo=UTC))

    response = client.post(CLOSE, json={}, headers=admin_headers)

    assert response.status_code == 409, response.json
    assert "has not ended yet" in str(response.json)
    with database.session() as session:
        assert session.scalars(select(PeriodClose)).all() == []


def test_a_closed_month_is_closed_again_only_with_reclose(client, admin_headers, crew, now, database):
    client.post(CLOSE, json={}, headers=admin_headers)

    response = client.post(CLOSE, json={}, headers=admin_headers)

    assert response.status_code == 409, response.json
    assert "reclose" in response.json["errors"]["json"]
    with database.session() as session:
        assert len(session.scalars(select(PeriodClose)).all()) == 1


@pytest.mark.parametrize("month", ["2026-3", "March", "2026-13", "2026-03-01"])
def test_a_month_that_is_not_yyyy_mm_is_refused(client, admin_headers, now, month):
    response = client.post(f"/api/v1/periods/{month}/close", json={}, headers=admin_headers)

    assert response.status_code == 422, response.json
    assert "month" in response.json["errors"]["path"]


def test_only_admins_close_months(client, make_user, login, crew, now):
    make_user("manager", username="mandy", teams=("North",))

    assert client.post(CLOSE, json={}, headers=login("mandy")).status_code == 403
    assert client.get("/api/v1/periods", headers=login("mandy")).status_code == 200


def test_a_target_version_that_would_change_a_closed_month_is_refused(client, admin_headers, crew, now):
    client.post(CLOSE, json={}, headers=admin_headers)

    body = {"green": 0.5, "amber": 0.4, "weight": 1}
    refused = client.put(f"/api/v1/targets/{BUDGET}", json={**body, "valid_from": "2026-03-01"}, headers=admin_headers)
    assert refused.status_code == 409, refused.json
    assert "March 2026 is closed" in refused.json["errors"]["json"]["valid_from"][0]
    assert "2026-04-01 or later" in refused.json["errors"]["json"]["valid_from"][0]
    accepted = client.put(f"/api/v1/targets/{BUDGET}", json={**body, "valid_from": "2026-03-02"}, headers=admin_headers)
    assert accepted.status_code == 201, accepted.json  # in force from a day no closed month begins on


# --- who sees what ------------------------------------------------------------------------------------


def test_a_technician_sees_their_own_closed_row_and_never_the_company_snapshot(
    client, admin_headers, make_user, login, crew, now
):
    make_user("technician", username="ada", technician_ref="ada")
    client.post(CLOSE, json={}, headers=admin_headers)
    crew["facts"].job(crew["bob"], date(2026, 3, 21), on_budget=False)
    ada = login("ada")

    own = values(client, ada, group_by="technician")
    company = values(client, ada, group_by="company")
    team = values(client, ada, group_by="team")

    assert [(row["group_label"], row["closed"]) for row in own] == [("Ada", True)]
    assert [(row["group_label"], row["value"], row["closed"]) for row in company] == [("Your own jobs", 0.75, False)]
    assert [(row["value"], row["closed"]) for row in team] == [(0.75, False)]  # her own jobs in North, not North's


def test_a_manager_sees_closed_rows_of_their_teams_only(client, admin_headers, make_user, login, crew, now):
    make_user("manager", username="mandy", teams=("North",))
    client.post(CLOSE, json={}, headers=admin_headers)
    mandy = login("mandy")

    teams = values(client, mandy, group_by="team")
    technicians = values(client, mandy, group_by="technician")

    assert [(row["group_label"], row["value"], row["closed"]) for row in teams] == [
        ("North", pytest.approx(4 / 6), True)
    ]
    assert sorted(row["group_label"] for row in technicians) == ["Ada", "Bob"]
    assert values(client, mandy, group_by="company")[0]["closed"] is False


def test_closed_months_are_listed(client, admin_headers, crew, now):
    client.post(CLOSE, json={}, headers=admin_headers)

    listed = client.get("/api/v1/periods", headers=admin_headers).json

    assert [(item["month"], item["closes"], item["settled"], item["automatic"]) for item in listed] == [
        ("2026-03", 1, True, False)
    ]
    assert BUDGET in listed[0]["fingerprints"]


# --- reports ------------------------------------------------------------------------------------------


def csv_of(database, plugins, settings, generated_at: datetime) -> bytes:
    spec = parse_spec(
        {"format": "csv", "start": "2026-03-01", "end": "2026-04-01", "period": "month", "group_by": "technician"},
        plugins, settings.zone, today=generated_at.date(),
    )  # fmt: skip
    with database.session(write=False) as session:
        data = build_report_data(
            session, plugins, spec, zone=settings.zone, scope=UNSCOPED, generated_at=generated_at,
            status_min_sample=settings.status_min_sample,
        )  # fmt: skip
    stream = io.BytesIO()
    plugins.report_formats["csv"].render(data, stream)
    return stream.getvalue()


def test_a_csv_report_of_a_closed_month_made_again_later_is_the_same(
    client, admin_headers, crew, now, database, plugins, settings
):
    client.post(CLOSE, json={}, headers=admin_headers)
    first = csv_of(database, plugins, settings, NOW)

    crew["facts"].job(crew["ada"], date(2026, 3, 20), on_budget=False)
    client.put("/api/v1/plugins/settings/timeliness.budget_tolerance", json={"value": 0.3}, headers=admin_headers)
    later = csv_of(database, plugins, settings, NOW + timedelta(days=40))

    assert later == first
    assert b",true," in first and b"0.75" not in first.split(b"\r\n")[0]
    header = first.decode("utf-8-sig").split("\r\n")[0].split(",")
    assert header[-2:] == ["closed", "fingerprint"]


# --- the automatic close ------------------------------------------------------------------------------


def test_the_automatic_close_closes_months_once_their_callbacks_have_settled(
    client, admin_headers, crew, database, plugins, settings, monkeypatch
):
    for key, value in (("core.close_months", True), ("core.close_after_days", 0)):
        response = client.put(f"/api/v1/plugins/settings/{key}", json={"value": value}, headers=admin_headers)
        assert response.status_code == 200, response.json

    with database.session(write=False) as session:
        # The callback window (30 days) after 31 March has not passed on 15 April; it has on 1 May.
        assert closing.months_due(session, plugins, zone=settings.zone, now=datetime(2026, 4, 15, tzinfo=UTC)) == []
        assert closing.months_due(session, plugins, zone=settings.zone, now=datetime(2026, 5, 2, tzinfo=UTC)) == [
            date(2026, 3, 1)
        ]
    monkeypatch.setattr(closing, "utcnow", lambda: datetime(2026, 5, 2, tzinfo=UTC))
    result = closing.close_due_months(JobContext(engine=database.engine, settings=settings, plugins=plugins))

    assert result["closed"] == ["2026-03"]
    with database.session(write=False) as session:
        closes = session.scalars(select(PeriodClose)).all()
        assert [(row.month, row.automatic, row.closed_by_id, row.settled) for row in closes] == [
            (date(2026, 3, 1), True, None, True)
        ]
        assert session.scalars(select(KpiSnapshot).limit(1)).first() is not None


def test_the_automatic_close_is_off_by_default(database, plugins, settings, crew):
    with database.session(write=False) as session:
        assert closing.months_due(session, plugins, zone=settings.zone, now=datetime(2026, 9, 1, tzinfo=UTC)) == []
