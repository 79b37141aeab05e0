"""Definition versions and fingerprints (issue #21, point 2): every Metric declares a version; a metric's
fingerprint is a hash of its key, its version and the plugin settings it reads; GET /api/v1/kpis shows
the current one and every KPI row names the one it was computed with."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from kpi_core.declarations import DeclarationError, Metric
from kpi_core.kpis.fingerprints import fingerprint, fingerprints, settings_read
from kpi_core.storage.models import Job, Technician

FTF = "quality.first_time_fix_rate"  # reads the setting callback_window_days
RATING = "quality.avg_customer_rating"  # reads no setting
ON_TIME = "timeliness.on_time_arrival_rate"  # reads arrival_grace_minutes


def current(client, headers) -> dict[str, str]:
    response = client.get("/api/v1/kpis", headers=headers)
    assert response.status_code == 200, response.json
    return {item["key"]: item["fingerprint"] for item in response.json}


def test_a_metric_declares_version_1_by_default(plugins):
    assert {metric.version for metric in plugins.metrics.values()} == {1}


@pytest.mark.parametrize("version", [0, -1, True, 1.5, "2", 1_000_001])
def test_a_version_that_is_not_a_whole_number_from_1_is_refused(plugins, version):
    with pytest.raises(DeclarationError, match="version must be a whole number"):
        replace(plugins.metrics[RATING], version=version)


def test_a_metric_version_bump_changes_its_fingerprint_and_no_other(client, admin_headers, plugins):
    before = current(client, admin_headers)

    plugins.metrics[FTF] = replace(plugins.metrics[FTF], version=2)  # as a plugin release that changes it
    after = current(client, admin_headers)

    assert after[FTF] != before[FTF]
    assert {key: value for key, value in after.items() if key != FTF} == {
        key: value for key, value in before.items() if key != FTF
    }
    listed = {item["key"]: item["version"] for item in client.get("/api/v1/kpis", headers=admin_headers).json}
    assert listed[FTF] == 2


def test_a_setting_change_changes_the_fingerprint_of_the_kpis_that_read_it(client, admin_headers):
    before = current(client, admin_headers)

    response = client.put(
        "/api/v1/plugins/settings/quality.callback_window_days", json={"value": 14}, headers=admin_headers
    )
    assert response.status_code == 200, response.json
    after = current(client, admin_headers)

    assert after[FTF] != before[FTF]
    assert (after[RATING], after[ON_TIME]) == (before[RATING], before[ON_TIME])  # they do not read it


def test_setting_a_value_back_gives_the_fingerprint_back(client, admin_headers):
    before = current(client, admin_headers)
    path = "/api/v1/plugins/settings/quality.callback_window_days"
    client.put(path, json={"value": 14}, headers=admin_headers)
    client.put(path, json={"value": 30}, headers=admin_headers)

    assert current(client, admin_headers)[FTF] == before[FTF]


def test_the_crew_credit_rule_changes_every_jobs_kpis_fingerprint(client, admin_headers, plugins):
    before = current(client, admin_headers)

    client.put("/api/v1/plugins/settings/core.crew_credit", json={"value": "share"}, headers=admin_headers)
    after = current(client, admin_headers)

    changed = {key for key in before if before[key] != after[key]}
    assert changed == {key for key, metric in plugins.metrics.items() if metric.source == "jobs"}


def test_settings_read_are_found_by_building_the_metric(plugins):
    assert settings_read(plugins.metrics[FTF], {"callback_window_days": 30}, plugins) == {"callback_window_days"}
    assert settings_read(plugins.metrics[RATING], {}, plugins) == set()


def test_a_fingerprint_is_the_same_for_the_same_definition(plugins):
    metric: Metric = plugins.metrics[FTF]

    assert fingerprint(metric, {"callback_window_days": 30}) == fingerprint(metric, {"callback_window_days": 30})
    assert fingerprint(metric, {"callback_window_days": 30}) != fingerprint(metric, {"callback_window_days": 31})
    # A setting the metric does not read leaves it alone.
    assert fingerprint(metric, {"callback_window_days": 30}) == fingerprint(
        metric, {"callback_window_days": 30, "complaint_max_rating": 2}
    )
    assert len(fingerprints(plugins, {})) == len(plugins.metrics)


def test_every_kpi_row_names_the_fingerprint_it_was_computed_with(client, admin_headers, database):
    with database.session() as session:
        technician = Technician(external_ref="T1", name="Ada")
        session.add(technician)
        session.flush()
        session.add(
            Job(
                external_ref="J1", technician_id=technician.id, category="plumbing", status="completed",
                completed_at=datetime(2026, 1, 5, 12, tzinfo=UTC),
            )
        )  # fmt: skip
    prints = current(client, admin_headers)

    rows = client.get(
        "/api/v1/kpis/values", query_string={"start": "2026-01-01", "end": "2026-02-01"}, headers=admin_headers
    ).json

    assert rows and all(row["fingerprint"] == prints[row["kpi"]] for row in rows)
