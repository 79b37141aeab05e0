"""Every filter and form lists GET /api/v1/teams: a manager is offered only the teams they manage,
a technician only their own, an admin every team (issue #16)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kpi_core.storage.models import Team, Technician

URL = "/api/v1/teams"


@pytest.fixture
def company(database, make_user) -> SimpleNamespace:
    with database.session() as session:
        north, south, east = Team(name="North"), Team(name="South"), Team(name="East")
        session.add_all([north, south, east])
        session.flush()
        session.add(Technician(external_ref="T1", name="Tina", team_id=south.id))
        ids = SimpleNamespace(north=north.id, south=south.id, east=east.id)
    make_user("manager", username="mona", teams=("North", "East"))
    make_user("technician", username="tina", technician_ref="T1")
    return ids


def names(client, headers) -> list[str]:
    response = client.get(URL, headers=headers)
    assert response.status_code == 200, response.json
    return [team["name"] for team in response.json]


def test_a_manager_is_offered_only_the_teams_they_manage(client, login, company):
    assert names(client, login("mona")) == ["East", "North"]


def test_a_technician_is_offered_only_their_own_team(client, login, company):
    assert names(client, login("tina")) == ["South"]


def test_an_admin_is_offered_every_team(client, admin_headers, company):
    assert names(client, admin_headers) == ["East", "North", "South"]


def test_another_teams_record_reads_as_missing_to_a_manager(client, login, company):
    mona = login("mona")

    outside = client.get(f"{URL}/{company.south}", headers=mona)
    missing = client.get(f"{URL}/9999", headers=mona)

    assert outside.status_code == missing.status_code == 404
    assert outside.json["message"].replace(str(company.south), "ID") == missing.json["message"].replace("9999", "ID")
    assert client.get(f"{URL}/{company.north}", headers=mona).status_code == 200
