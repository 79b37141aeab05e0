"""Reports in words: formats listed by their labels, and a manager's report titled with their teams."""

from __future__ import annotations

import pytest

from kpi_core.storage.models import Team

RANGE = {"start": "2026-01-01", "end": "2026-03-01"}


@pytest.fixture
def north(database) -> int:
    with database.session() as session:
        team, other = Team(name="North"), Team(name="South")
        session.add_all([team, other])
        session.flush()
        return team.id


def test_the_formats_are_listed_with_the_labels_a_form_offers(client, admin_headers):
    response = client.get("/api/v1/reports/formats", headers=admin_headers)

    assert response.status_code == 200
    formats = {item["key"]: item for item in response.json}
    assert formats["pdf"]["label"] == "PDF report"
    assert formats["csv"]["label"] == "Spreadsheet (CSV), one row per value"
    assert formats["csv_wide"]["label"] == "Spreadsheet (CSV), one column per KPI"
    assert formats["pdf"] | {"label": ""} == {
        "key": "pdf",
        "label": "",
        "media_type": "application/pdf",
        "file_extension": "pdf",
        "plugin": "reports_pdf",
    }
    assert all("_" not in item["label"] for item in response.json)


def test_a_managers_report_left_untitled_is_titled_with_their_team(client, make_user, login, north):
    make_user("manager", username="mona", teams=("North",))

    response = client.post("/api/v1/reports", json={"format": "csv", **RANGE}, headers=login("mona"))

    assert response.status_code == 202, response.json
    assert response.json["title"] == "North team KPI report"
    assert response.json["spec"]["title"] == "North team KPI report"


def test_a_title_the_manager_typed_is_kept(client, make_user, login, north):
    make_user("manager", username="mona", teams=("North",))

    response = client.post("/api/v1/reports", json={"format": "csv", "title": "March", **RANGE}, headers=login("mona"))

    assert response.json["title"] == "March"


def test_the_companys_report_keeps_the_plain_title(client, admin_headers, north):
    response = client.post("/api/v1/reports", json={"format": "csv", **RANGE}, headers=admin_headers)

    assert response.json["title"] == "KPI report"
