"""Plugin settings: declared by plugins, changed by admins through the API, read by the KPIs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from kpi_core.declarations import DeclarationError, Setting
from kpi_core.storage.models import AuditEntry, Job, KpiDataVersion, PluginSetting, Technician

WINDOW = "quality.callback_window_days"
FTF = "quality.first_time_fix_rate"
JANUARY = {"kpi": FTF, "start": "2026-01-01", "end": "2026-02-01"}
URL = "/api/v1/plugins/settings"


@pytest.fixture
def callback_after_ten_days(database) -> None:
    """One January job with a callback scheduled ten days after its completion."""
    done = datetime(2026, 1, 10, 15, tzinfo=UTC)
    with database.session() as session:
        technician = Technician(external_ref="T1", name="Ada")
        session.add(technician)
        session.flush()
        original = Job(
            external_ref="J1", technician_id=technician.id, category="plumbing", status="completed", completed_at=done
        )
        session.add(original)
        session.flush()
        session.add(
            Job(
                external_ref="J2",
                technician_id=technician.id,
                category="plumbing",
                status="scheduled",
                scheduled_start=done + timedelta(days=10),
                callback_of_id=original.id,
            )
        )


def ftf_value(client, headers) -> float:
    response = client.get("/api/v1/kpis/values", query_string=JANUARY, headers=headers)
    assert response.status_code == 200, response.json
    (row,) = response.json
    return row["value"]


def test_settings_are_listed_with_their_defaults(client, admin_headers) -> None:
    response = client.get(URL, headers=admin_headers)
    assert response.status_code == 200
    by_key = {item["key"]: item for item in response.json}
    assert {WINDOW, "timeliness.arrival_grace_minutes", "timeliness.budget_tolerance"} <= set(by_key)
    window = by_key[WINDOW]
    assert window["plugin"] == "kpi_quality"
    assert (window["value"], window["default"], window["source"], window["unit"]) == (30, 30, "default", "days")
    assert (window["minimum"], window["maximum"], window["type"]) == (1, 365, "integer")


def test_changing_the_callback_window_changes_the_kpi_and_is_audited(
    client, admin_headers, database, callback_after_ten_days
) -> None:
    assert ftf_value(client, admin_headers) == 0.0  # a callback within 30 days: not fixed first time

    response = client.put(f"{URL}/{WINDOW}", json={"value": 7}, headers=admin_headers)
    assert response.status_code == 200, response.json
    assert (response.json["value"], response.json["source"]) == (7, "stored")
    assert ftf_value(client, admin_headers) == 1.0  # the callback came after the 7-day window

    with database.session() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.entity == "plugin_setting")).all()
        assert [entry.action for entry in entries] == ["create"]
        assert entries[0].changes["value"] == [None, 7]

    response = client.delete(f"{URL}/{WINDOW}", headers=admin_headers)
    assert (response.status_code, response.json["value"], response.json["source"]) == (200, 30, "default")
    assert ftf_value(client, admin_headers) == 0.0


def test_the_drilldown_uses_the_setting_too(client, admin_headers, callback_after_ten_days) -> None:
    client.put(f"{URL}/{WINDOW}", json={"value": 7}, headers=admin_headers)
    response = client.get(
        f"/api/v1/kpis/{FTF}/drilldown",
        query_string={"period": "month", "period_start": "2026-01-01"},
        headers=admin_headers,
    )
    assert response.status_code == 200
    rows = {row["external_ref"]: row for row in response.json}
    # The 7-day window closed before the callback: J1 was fixed first time; the callback
    # itself is listed as left out (not completed), never counted.
    assert (rows["J1"]["numerator"], rows["J1"]["denominator"], rows["J1"]["outcome"]) == (1.0, 1.0, "numerator")
    assert (rows["J2"]["numerator"], rows["J2"]["denominator"], rows["J2"]["outcome"]) == (0.0, 0.0, "excluded")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "at least 1"),
        (366, "at most 365"),
        (7.5, "whole number"),
        ("7", "whole number"),
        (True, "whole number"),
        (None, "value"),
    ],
)
def test_bad_values_are_refused_naming_the_field(client, admin_headers, database, value, message) -> None:
    response = client.put(f"{URL}/{WINDOW}", json={"value": value}, headers=admin_headers)
    assert response.status_code == 422, response.json
    assert "value" in str(response.json["errors"])
    assert message in str(response.json)
    with database.session() as session:
        changes = select(func.count()).select_from(AuditEntry).where(AuditEntry.entity == "plugin_setting")
        assert session.scalar(changes) == 0
        assert session.scalar(select(func.count()).select_from(PluginSetting)) == 0


def test_unknown_setting_is_404(client, admin_headers) -> None:
    assert client.put(f"{URL}/quality.nope", json={"value": 1}, headers=admin_headers).status_code == 404
    assert client.get(f"{URL}/quality.nope", headers=admin_headers).status_code == 404


def test_only_admins_change_settings(client, make_user, login, callback_after_ten_days) -> None:
    make_user("manager", username="mia")
    manager = login("mia")
    assert client.get(URL, headers=manager).status_code == 200
    assert client.put(f"{URL}/{WINDOW}", json={"value": 7}, headers=manager).status_code == 403
    make_user("technician", username="tom", technician_ref="T1")
    technician = login("tom")
    assert client.get(URL, headers=technician).status_code == 403


def test_a_change_bumps_every_data_version(client, admin_headers, database) -> None:
    client.put(f"{URL}/{WINDOW}", json={"value": 7}, headers=admin_headers)
    with database.session() as session:
        assert session.get(KpiDataVersion, "*").version == 1


def test_a_stored_value_that_no_longer_fits_falls_back_to_the_default(client, admin_headers, database) -> None:
    with database.session() as session:
        session.add(PluginSetting(plugin="quality", name="callback_window_days", value=9999))
    response = client.get(f"{URL}/{WINDOW}", headers=admin_headers)
    assert (response.json["value"], response.json["source"]) == (30, "default")
    assert "9999" in response.json["problem"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "integer", "default": "x"}, "default 'x' is invalid"),
        ({"type": "choice", "default": "a"}, "needs choices"),
        ({"type": "colour", "default": 1}, "type must be one of"),
        ({"type": "number", "default": 5, "maximum": 4}, "at most 4"),
    ],
)
def test_malformed_setting_declarations_name_the_problem(fields, message) -> None:
    with pytest.raises(DeclarationError, match=message):
        Setting(key="demo.thing", label="Thing", **fields)


def test_choice_and_boolean_settings_parse() -> None:
    choice = Setting(key="demo.mode", label="Mode", type="choice", default="a", choices=("a", "b"))
    assert choice.parse("b") == "b"
    flag = Setting(key="demo.flag", label="Flag", type="boolean", default=False)
    assert flag.parse(True) is True
    assert choice.name == "mode"
